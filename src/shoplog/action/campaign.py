"""Campaign economics: expected profit of contacting each user, profit curves by list
size, and the most profitable K.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


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
