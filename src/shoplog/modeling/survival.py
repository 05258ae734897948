"""Kaplan-Meier curves of time to dormancy by group, and the log-rank test between groups
(statsmodels' survival functions)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def km_curves(days: np.ndarray, observed: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    """The Kaplan-Meier estimate of P(still active after t days) for each group: one row per
    group and event time (with t = 0 at 1), and the users still at risk there."""
    from statsmodels.duration.survfunc import SurvfuncRight

    days = np.asarray(days, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    groups = np.asarray(groups)
    frames = []
    for g in pd.unique(groups):
        m = groups == g
        fit = SurvfuncRight(days[m], observed[m].astype(int))
        curve = pd.DataFrame(
            {"time": fit.surv_times, "survival": fit.surv_prob, "at_risk": fit.n_risk}
        )
        start = pd.DataFrame({"time": [0.0], "survival": [1.0], "at_risk": [int(m.sum())]})
        if len(curve) and curve["time"].iloc[0] == 0:
            start = start.iloc[:0]
        frames.append(pd.concat([start, curve], ignore_index=True).assign(group=g))
    return pd.concat(frames, ignore_index=True)[["group", "time", "survival", "at_risk"]]


def survival_at(curves: pd.DataFrame, t: float) -> pd.Series:
    """Each group's Kaplan-Meier survival at ``t`` days (the step at or before it)."""
    return curves[curves["time"] <= t].groupby("group", sort=False)["survival"].last()


def logrank(days: np.ndarray, observed: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """The log-rank test that the groups share one survival curve: (chi-square, p-value)."""
    from statsmodels.duration.survfunc import survdiff

    chi2, p = survdiff(
        np.asarray(days, dtype=float),
        np.asarray(observed, dtype=int),
        np.asarray(groups).astype(str),
    )
    return float(chi2), float(p)
