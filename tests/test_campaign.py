"""The campaign as a decision: the expected-profit list, its sensitivity, the holdout's
power, the observed lift of a list, and the risk bands of the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoplog.action import campaign as C
from shoplog.action import priority

PLAN = C.Campaign(contact_cost=1, offer_cost=10, uplift=0.1, stayer_take_rate=0.2, margin=0.3)


def _users(n: int = 3000, seed: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.beta(2, 2, n), rng.gamma(1.2, 150, n), np.array([f"u{i:05d}" for i in range(n)])


def test_the_list_is_every_positive_profit_contact_best_first() -> None:
    p, v, ids = _users()
    each, cost = C.contact_value(p, v, PLAN)
    s = C.scenario(p, v, PLAN, ids)
    listed = each[s.order]
    assert s.listed == int((each > 0).sum()) > 0
    assert (listed > 0).all() and (np.diff(listed) <= 0).all()
    assert s.profit == pytest.approx(listed.sum())
    assert s.cost == pytest.approx(cost[s.order].sum())
    # no list of the same users earns more: not the priority order at any K ...
    curve = C.campaign_curve(C.ranking(p * v, ids), p, v, PLAN, steps=len(p))
    assert s.profit >= curve["profit"].max() - 1e-9
    # ... and the revenue it keeps is a share of the revenue at risk
    assert s.revenue_kept == pytest.approx((p * PLAN.uplift * v)[s.order].sum())
    assert s.revenue_at_risk == pytest.approx((p * v).sum())
    assert 0 < s.kept_share < PLAN.uplift
    # a share caps the list, never adds a loss-making contact
    assert C.scenario(p, v, PLAN, ids, fraction=0.01).listed == 30
    assert C.scenario(p, v, PLAN, ids, fraction=1.0).listed == s.listed
    # a campaign nobody profits from lists no one
    costly = C.Campaign(**{**PLAN.__dict__, "contact_cost": 1e6})
    none = C.scenario(p, v, costly, ids)
    assert none.listed == 0 and none.profit == 0 and none.roi == 0


def test_sensitivity_moves_one_assumption_at_a_time() -> None:
    p, v, ids = _users()
    table = C.sensitivity(p, v, PLAN, ids, 0.5).set_index("assumption")
    assert set(table.index) == set(C.ASSUMPTIONS)
    base = C.scenario(p, v, PLAN, ids).profit
    assert (table["base_profit"] == base).all()
    up = table.loc["uplift"]
    assert (up["low_value"], up["high_value"]) == pytest.approx((0.05, 0.15))
    assert up["profit_low"] < base < up["profit_high"]
    offer = table.loc["offer_cost"]
    assert offer["profit_low"] > base > offer["profit_high"]
    # each end is the campaign re-optimised under the moved assumption
    half = C.Campaign(**{**PLAN.__dict__, "margin": 0.15})
    assert table.loc["margin", "profit_low"] == pytest.approx(C.scenario(p, v, half, ids).profit)
    assert list(table["swing"]) == sorted(table["swing"], reverse=True)
    with pytest.raises(ValueError, match="spread"):
        C.sensitivity(p, v, PLAN, ids, 1.5)


def test_holdout_power_matches_a_simulated_trial() -> None:
    """The power statsmodels gives is the share of simulated campaigns (control dormancy
    p0, contacted p0 x (1 - uplift)) in which a one-sided two-proportion z-test at 5%
    rejects."""
    p = np.full(4000, 0.6)
    design = C.holdout_design(p, uplift=0.1, fraction=0.2)
    assert design.control == 800 and design.churn_rate == pytest.approx(0.6)
    assert design.treated_rate == pytest.approx(0.54)
    rng = np.random.default_rng(0)
    n_c, n_t = 800, 3200
    c = rng.binomial(n_c, 0.6, 20000) / n_c
    t = rng.binomial(n_t, 0.54, 20000) / n_t
    pooled = (c * n_c + t * n_t) / (n_c + n_t)
    z = (c - t) / np.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    assert design.power == pytest.approx(np.mean(z > 1.6449), abs=0.02)
    # the smallest control group reaching 80% power, and power growing with the control
    assert design.control_for_power is not None and design.control_for_power < 800
    bigger = C.holdout_design(p, uplift=0.1, fraction=0.4)
    assert bigger.power > design.power
    tiny = C.holdout_design(np.full(60, 0.6), uplift=0.1, fraction=0.2)
    assert tiny.power < 0.3 and tiny.control_for_power is None


def test_observed_lift_of_lists_with_intervals() -> None:
    rng = np.random.default_rng(1)
    n = 5000
    y = (rng.random(n) < 0.3).astype(float)
    good = y.astype(bool) & (rng.random(n) < 0.5)  # half the churners, nobody else
    random = rng.random(n) < 0.2
    lifts = C.list_lift(y, {"good": good, "random": random}, 400, 7).set_index("list")
    assert lifts.loc["good", "lift"] == pytest.approx(1 / y.mean())
    assert lifts.loc["good", "lift_low"] > 3
    r = lifts.loc["random"]
    assert r["lift"] == pytest.approx(y[random].mean() / y.mean())
    assert r["lift_low"] < 1 < r["lift_high"]
    assert lifts.loc["random", "users"] == int(random.sum())


def test_risk_bands_count_every_user_once() -> None:
    p = np.array([0.0, 0.1, 0.25, 0.49, 0.5, 0.9, 1.0])
    bands = priority.risk_bands(p, [0.25, 0.5])
    assert bands["users"].tolist() == [2, 2, 3]
    assert bands["band"].tolist() == ["0% to 25%", "25% to 50%", "50% to 100%"]
    assert priority.band_names([0.25, 0.5]) == bands["band"].tolist()
    assert priority.band_labels(np.array([0.3]), [0.25, 0.5]).tolist() == ["25% to 50%"]
    assert bands["expected_churners"].sum() == pytest.approx(p.sum())
    assert bands["share"].sum() == pytest.approx(1.0)


def test_recent_revenue_only_when_the_lookback_sees_every_spender() -> None:
    rows = pd.DataFrame({"spend_30d": [10.0, None, 5.5]})
    assert priority.recent_revenue(rows, 30, 90) == 15.5
    assert priority.recent_revenue(rows, 30, 14) is None
    assert priority.recent_revenue(rows, 14, 90) is None
