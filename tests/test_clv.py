"""BG/NBD: the CDNOW reproduction of Fader, Hardie and Lee (2005), and the pieces behind it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shoplog.modeling import clv
from shoplog.modeling.models import bgnbd_p_alive

# Fader, Hardie and Lee (2005), "Counting your customers the easy way", on the CDNOW sample
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LL = -9582.4
CALIBRATION_END = dt.date(1997, 9, 30)


@pytest.fixture
def cdnow_summary(shared_data: Path) -> pd.DataFrame:
    path = shared_data / "cdnow" / "CDNOW_sample.txt"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    sample = clv.read_cdnow(str(path), sample=True)
    # the published summary numbers customers by their index in the sample
    return clv.transaction_summary(sample, "sample_index", "date", CALIBRATION_END)


def test_summary_from_the_raw_sample_equals_the_published_one(
    cdnow_summary: pd.DataFrame, shared_data: Path
) -> None:
    published = pd.read_csv(shared_data / "cdnow" / "cdnow_customers_summary.csv")
    assert len(cdnow_summary) == len(published) == 2357
    mine = cdnow_summary.sort_values("customer_id").reset_index(drop=True)
    theirs = published.sort_values("ID").reset_index(drop=True)
    np.testing.assert_array_equal(mine["customer_id"], theirs["ID"])
    np.testing.assert_array_equal(mine["frequency"], theirs["frequency"])
    # the published file rounds weeks to two decimals
    np.testing.assert_allclose(mine["recency"], theirs["recency"], atol=0.006)
    np.testing.assert_allclose(mine["T"], theirs["T"], atol=0.006)


def test_bgnbd_reproduces_the_published_cdnow_fit(cdnow_summary: pd.DataFrame) -> None:
    fitted = clv.fit_bgnbd(cdnow_summary)
    for name, value in PUBLISHED.items():
        assert fitted[name] == pytest.approx(value, rel=0.01), name
    assert clv.bgnbd_log_likelihood(fitted, cdnow_summary) == pytest.approx(PUBLISHED_LL, rel=0.01)
    # the published parameters are (within rounding) the maximum: nothing nearby is better
    at_published = clv.bgnbd_log_likelihood(PUBLISHED, cdnow_summary)
    assert at_published == pytest.approx(PUBLISHED_LL, abs=0.5)
    assert clv.bgnbd_log_likelihood(fitted, cdnow_summary) >= at_published - 1e-6


def test_log_likelihood_is_a_probability_of_the_observed_histories() -> None:
    # a one-customer "summary" with no repeat: P = B(a, b)/B(a, b) alpha^r / (alpha + T)^r
    params = {"r": 0.5, "alpha": 2.0, "a": 1.0, "b": 3.0}
    one = pd.DataFrame({"frequency": [0.0], "recency": [0.0], "T": [4.0]})
    assert clv.bgnbd_log_likelihood(params, one) == pytest.approx(0.5 * np.log(2.0 / 6.0))
    # P(alive) and the likelihood agree: with x > 0, the "alive" share of the likelihood
    x = pd.DataFrame({"frequency": [3.0], "recency": [2.0], "T": [5.0]})
    alive = bgnbd_p_alive(params, x)[0]
    r, alpha, a, b = 0.5, 2.0, 1.0, 3.0
    from scipy.special import betaln, gammaln

    common = gammaln(r + 3) - gammaln(r) + r * np.log(alpha)
    still = np.exp(common + betaln(a, b + 3) - betaln(a, b) - (r + 3) * np.log(alpha + 5))
    total = np.exp(clv.bgnbd_log_likelihood(params, x))
    assert alive == pytest.approx(still / total)


def test_summary_counts_same_day_purchases_once_and_ignores_the_holdout() -> None:
    tx = pd.DataFrame(
        {
            "c": ["a", "a", "a", "a", "b"],
            "t": pd.to_datetime(
                [
                    "1997-01-01 09:00",
                    "1997-01-01 18:00",
                    "1997-01-15 00:00",
                    "1997-12-01 00:00",
                    "1997-02-05 00:00",
                ]
            ),
        }
    )
    s = clv.transaction_summary(tx, "c", "t", dt.date(1997, 1, 29)).set_index("customer_id")
    assert s.loc["a", "frequency"] == 1 and s.loc["a", "recency"] == 2 and s.loc["a", "T"] == 4
    assert "b" not in s.index  # first seen after the calibration period


def test_expected_purchases_match_pymc_marketing_on_cdnow(cdnow_summary: pd.DataFrame) -> None:
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import BetaGeoModel

    data = cdnow_summary[["customer_id", "frequency", "recency", "T"]]
    model = BetaGeoModel(model_config={k: Prior("HalfFlat") for k in clv.PARAMS})
    model.fit(data, method="map", progressbar=False)
    params = {k: float(model.idata.posterior[k].mean()) for k in clv.PARAMS}
    ref = model.expected_purchases(future_t=39).mean(("chain", "draw")).to_numpy()
    np.testing.assert_allclose(clv.conditional_expected_purchases(params, data, 39.0), ref)
    t = np.array([5.0, 39.0, 78.0])
    new = model.expected_purchases_new_customer(data.head(3), t=t).mean(("chain", "draw"))
    np.testing.assert_allclose(clv.expected_repeat_purchases(params, t), new.to_numpy())


def test_expected_repeat_purchases_match_a_simulated_bgnbd_population() -> None:
    # customers buy at Poisson rate lambda ~ Gamma(r, alpha) and, after each purchase,
    # drop out with probability p ~ Beta(a, b): count repeat purchases in (0, t]
    params = {"r": 0.8, "alpha": 5.0, "a": 0.9, "b": 3.0}
    rng = np.random.default_rng(42)
    n, t = 40_000, 30.0
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    counts = np.zeros(n)
    clock = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        clock[alive] += rng.exponential(1 / lam[alive])
        bought = alive & (clock <= t)
        counts[bought] += 1
        alive = bought & (rng.random(n) >= p)
    expected = clv.expected_repeat_purchases(params, np.array([t]))[0]
    assert counts.mean() == pytest.approx(expected, abs=4 * counts.std() / np.sqrt(n))


def test_holdout_table_counts_purchase_days_after_calibration() -> None:
    tx = pd.DataFrame(
        {
            "c": ["a", "a", "a", "a", "b"],
            "t": pd.to_datetime(
                ["1997-01-01", "1997-01-15", "1997-02-03", "1997-02-03", "1997-01-20"]
            ),
        }
    )
    h = clv.holdout_table(tx, "c", "t", dt.date(1997, 1, 29), dt.date(1997, 2, 26))
    h = h.set_index("customer_id")
    assert h.loc["a", "holdout"] == 1 and h.loc["b", "holdout"] == 0
    assert h["holdout_length"].iloc[0] == 4
