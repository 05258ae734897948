"""Campaign economics: expected profit of contacting each user, the list of every
profitable contact (the campaign's decision rule), profit curves by list size, the
sensitivity to each assumption, the holdout's power and the observed lift of a list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shoplog.modeling import metrics as M


@dataclass(frozen=True)
class Campaign:
    """The assumptions of a retention campaign (money in the log's currency)."""

    contact_cost: float
    offer_cost: float
    uplift: float
    stayer_take_rate: float
    margin: float


def contact_value(
    churn: np.ndarray, value: np.ndarray, c: Campaign
) -> tuple[np.ndarray, np.ndarray]:
    """Expected profit and cost of contacting each user (Verbeke et al. 2012's structure).

    ``churn`` is P(dormant) for a forecast, or the observed 0/1 outcome for a backtest.
    A would-be churner is kept with probability ``uplift`` and then brings ``margin`` x
    ``value`` and takes the offer; a user who would have stayed anyway takes the offer
    with probability ``stayer_take_rate``; everyone contacted costs ``contact_cost``."""
    p = np.asarray(churn, dtype=float)
    v = np.asarray(value, dtype=float)
    cost = c.contact_cost + c.offer_cost * (p * c.uplift + (1 - p) * c.stayer_take_rate)
    gain = p * c.uplift * c.margin * v
    return gain - cost, cost


def _curve(n: int, steps: int, profit_at, cost_at) -> pd.DataFrame:
    """Profit, cost and ROI at ``steps`` equal shares of ``n`` users (K = 0 included)."""
    ks = np.unique(np.round(np.linspace(0, n, steps + 1)).astype(int))
    frame = pd.DataFrame(
        {"users": ks, "share": ks / n, "profit": profit_at(ks), "cost": cost_at(ks)}
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["roi"] = np.where(frame["cost"] > 0, frame["profit"] / frame["cost"], np.nan)
    return frame


def campaign_curve(
    order: np.ndarray, churn: np.ndarray, value: np.ndarray, c: Campaign, steps: int = 100
) -> pd.DataFrame:
    """Cumulative profit, cost and ROI when the first K users of ``order`` are contacted.

    ``order`` lists row positions, best first; K runs over ``steps`` equal shares."""
    profit, cost = contact_value(churn, value, c)
    cum_profit = np.concatenate([[0.0], np.cumsum(profit[order])])
    cum_cost = np.concatenate([[0.0], np.cumsum(cost[order])])
    return _curve(len(order), steps, cum_profit.__getitem__, cum_cost.__getitem__)


def random_curve(
    churn: np.ndarray, value: np.ndarray, c: Campaign, steps: int = 100
) -> pd.DataFrame:
    """The expected curve of contacting K users at random: K times the average user."""
    profit, cost = contact_value(churn, value, c)
    return _curve(len(profit), steps, lambda k: k * profit.mean(), lambda k: k * cost.mean())


def best_k(curve: pd.DataFrame) -> pd.Series:
    """The row of the curve with the highest profit (the smallest K among ties)."""
    return curve.loc[curve["profit"].idxmax()]


def ranking(score: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
    """Row positions by descending score, ties broken by user id (reproducible)."""
    frame = pd.DataFrame({"s": -np.asarray(score, dtype=float), "u": np.asarray(user_ids)})
    return frame.sort_values(["s", "u"], kind="stable").index.to_numpy()


def at_share(curve: pd.DataFrame, share: float) -> pd.Series:
    """The curve's point closest to a share of users (to compare strategies at one K)."""
    return curve.iloc[int((curve["share"] - share).abs().idxmin())]


# --- the campaign as a decision: whom to contact, what it is worth, how sure we are ------


@dataclass(frozen=True)
class Scenario:
    """A campaign that contacts every user with a positive expected contact profit, best
    first: the expected-profit threshold, the decision rule that maximises the campaign's
    expected profit (no other list of users earns more under the same assumptions)."""

    order: np.ndarray  # row positions of the listed users, highest expected profit first
    profit: float
    cost: float
    revenue_kept: float  # expected revenue of the would-be churners the campaign keeps
    revenue_at_risk: float  # P(dormant) x value summed over every scored user
    users: int  # scored users

    @property
    def listed(self) -> int:
        """How many users the list holds."""
        return len(self.order)

    @property
    def roi(self) -> float:
        """Expected profit over expected cost (0 without a campaign)."""
        return self.profit / self.cost if self.cost > 0 else 0.0

    @property
    def kept_share(self) -> float:
        """The share of the revenue at risk that the campaign is expected to keep."""
        return self.revenue_kept / self.revenue_at_risk if self.revenue_at_risk > 0 else 0.0


def scenario(
    churn: np.ndarray,
    value: np.ndarray,
    c: Campaign,
    user_ids: np.ndarray,
    fraction: float | None = None,
) -> Scenario:
    """The campaign that contacts, by descending expected contact profit, every user whose
    expected profit is positive; with ``fraction``, at most that share of users (never a
    user with a negative expected profit). Ties are broken by user id."""
    p = np.asarray(churn, dtype=float)
    v = np.asarray(value, dtype=float)
    profit, cost = contact_value(p, v, c)
    order = ranking(profit, np.asarray(user_ids))
    positive = int((profit > 0).sum())
    n = positive if fraction is None else min(positive, round(fraction * len(p)))
    picked = order[:n]
    return Scenario(
        order=picked,
        profit=float(profit[picked].sum()),
        cost=float(cost[picked].sum()),
        revenue_kept=float((p * c.uplift * v)[picked].sum()),
        revenue_at_risk=float((p * v).sum()),
        users=len(p),
    )


# the assumptions the sensitivity analysis moves, with how they read in a table
ASSUMPTIONS = {
    "uplift": "Uplift (share of contacted would-be churners kept)",
    "offer_cost": "Offer cost",
    "margin": "Margin",
    "contact_cost": "Contact cost",
    "stayer_take_rate": "Take rate of users who would stay anyway",
}
# the same, short enough for a table column or a chart's axis
ASSUMPTION_SHORT = {
    "uplift": "Uplift",
    "offer_cost": "Offer cost",
    "margin": "Margin",
    "contact_cost": "Contact cost",
    "stayer_take_rate": "Take rate of stayers",
}
SHARES = ("uplift", "stayer_take_rate", "margin")  # assumptions that cannot exceed 1


def sensitivity(
    churn: np.ndarray, value: np.ndarray, c: Campaign, user_ids: np.ndarray, spread: float
) -> pd.DataFrame:
    """One assumption at a time moved ``spread`` below and above its value (shares capped at
    1), the list chosen again each time: the campaign's expected profit and size at both
    ends, widest swing first (the rows of a tornado chart)."""
    if not 0 < spread < 1:
        raise ValueError(f"the sensitivity spread must be in (0, 1), got {spread}")
    base = scenario(churn, value, c, user_ids)
    rows = []
    for name, label in ASSUMPTIONS.items():
        value0 = getattr(c, name)
        low, high = value0 * (1 - spread), value0 * (1 + spread)
        if name in SHARES:
            high = min(high, 1.0)
        ends = {
            end: scenario(churn, value, Campaign(**{**c.__dict__, name: x}), user_ids)
            for end, x in (("low", low), ("high", high))
        }
        rows.append(
            {
                "assumption": name,
                "label": label,
                "base_value": value0,
                "low_value": low,
                "high_value": high,
                "profit_low": ends["low"].profit,
                "profit_high": ends["high"].profit,
                "listed_low": ends["low"].listed,
                "listed_high": ends["high"].listed,
                "base_profit": base.profit,
            }
        )
    out = pd.DataFrame(rows)
    out["swing"] = (out["profit_high"] - out["profit_low"]).abs()
    return out.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Holdout:
    """A randomised holdout among the listed users: its size and the power of a one-sided
    two-proportion test (level ``alpha``) to detect the assumed uplift."""

    listed: int
    control: int
    churn_rate: float  # expected dormancy of the listed users without the campaign
    treated_rate: float  # ... with it, at the assumed uplift
    alpha: float
    power: float
    control_for_power: int | None  # the smallest control group reaching ``target`` power
    target: float


def holdout_design(
    churn_listed: np.ndarray,
    uplift: float,
    fraction: float,
    alpha: float = 0.05,
    target: float = 0.8,
) -> Holdout:
    """The control group (``fraction`` of the listed users, left uncontacted) and the power
    to detect that the campaign lowers dormancy from the listed users' mean P(dormant) by
    the assumed ``uplift`` (Cohen's h, normal approximation, statsmodels)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    n = len(churn_listed)
    p0 = float(np.mean(churn_listed)) if n else 0.0
    p1 = p0 * (1 - uplift)
    control = round(fraction * n)
    analysis = NormalIndPower()
    h = proportion_effectsize(p0, p1) if n else 0.0

    def power_at(n_control: int) -> float:
        if n_control < 2 or n - n_control < 2 or h <= 0:
            return 0.0
        return float(
            analysis.power(
                h,
                nobs1=n - n_control,
                alpha=alpha,
                ratio=n_control / (n - n_control),
                alternative="larger",
            )
        )

    # power grows with the control group up to an even split: search the smallest that
    # reaches the target (None when even an even split cannot)
    needed = None
    if power_at(n // 2) >= target:
        lo, hi = 2, n // 2
        while lo < hi:
            mid = (lo + hi) // 2
            if power_at(mid) >= target:
                hi = mid
            else:
                lo = mid + 1
        needed = lo
    return Holdout(n, control, p0, p1, alpha, power_at(control), needed, target)


def list_lift(
    outcome: np.ndarray,
    lists: dict[str, np.ndarray],
    n_boot: int,
    seed: int,
    level: float = 0.95,
) -> pd.DataFrame:
    """Observed lift of each list (boolean masks over the same users): its dormancy rate
    over everyone's, with percentile intervals from resampling users (the same resamples
    for every list, so their intervals can be compared pair by pair)."""
    y = np.asarray(outcome, dtype=float)
    masks = {name: np.asarray(m, dtype=bool) for name, m in lists.items()}
    rng = np.random.default_rng(seed)
    n = len(y)
    draws: dict[str, list[np.ndarray]] = {name: [] for name in masks}
    for start in range(0, n_boot, 100):
        size = min(100, n_boot - start)
        W = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(size)])
        W = W.astype(float)
        overall = (W @ y) / W.sum(axis=1)
        for name, m in masks.items():
            with np.errstate(invalid="ignore", divide="ignore"):
                draws[name].append((W[:, m] @ y[m]) / W[:, m].sum(axis=1) / overall)
    rows = []
    for name, m in masks.items():
        rate = y[m].mean() if m.any() else np.nan
        lift = rate / y.mean() if y.mean() > 0 else np.nan
        values = np.concatenate(draws[name]) if draws[name] else np.array([])
        ci = M.percentile_interval(lift, values[np.isfinite(values)], level)
        rows.append(
            {
                "list": name,
                "users": int(m.sum()),
                "churn_rate": rate,
                "lift": lift,
                "lift_low": ci.low,
                "lift_high": ci.high,
            }
        )
    return pd.DataFrame(rows)
