"""Seasonal decomposition of activity: engine-built series, STL/MSTL, strengths, anomalies.

The daily and hourly series are computed in the engine; only one row per day or
hour reaches pandas. Decomposition uses statsmodels: STL with a weekly period on
daily series, MSTL with daily and weekly periods on the hourly series. Strengths
follow Wang, Smith and Hyndman (2006): ``F = max(0, 1 - Var(R) / Var(X + R))`` with
``X`` the trend or the seasonal component, so 0 means none and 1 all of the
variation. A decomposition needs at least two full cycles of each period;
:func:`supported_periods` says which periods a series can carry and why not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from statsmodels.tsa.seasonal import MSTL, STL

from shoplog.events.engine import as_int64, exact_sum
from shoplog.events.sessions import session_numbers

SERIES = {
    "active_users": "Active users",
    "sessions": "Sessions started",
    "purchases": "Purchase events",
    "revenue": "Revenue",
}
MIN_CYCLES = 2


def daily_series(events: ir.Table, gap_minutes: float, unit: str = "D") -> pd.DataFrame:
    """Active users, sessions started, purchase events and revenue per day (or ``unit``).

    Sessions come from the inactivity gap, as everywhere in the book; a session counts
    in the period it starts. Periods without events are present, with zeros.
    """
    period = events.event_time.truncate(unit).name("period")
    is_purchase = events.event_type == "purchase"
    df = (
        events.group_by(period)
        .aggregate(
            active_users=events.user_id.nunique(),
            purchases=as_int64(is_purchase.sum()),
            revenue=exact_sum(events.price, where=is_purchase).fill_null(0.0),
        )
        .to_pandas()
        .set_index("period")
    )
    numbered = session_numbers(events.select("user_id", "event_time"), gap_minutes)
    starts = numbered.group_by(["user_id", "session"]).aggregate(start=numbered.event_time.min())
    opened = starts.group_by(starts.start.truncate(unit).name("period")).aggregate(
        sessions=starts.count()
    )
    df = df.join(opened.to_pandas().set_index("period"), how="left").sort_index()
    if df.empty:
        return df
    full = pd.date_range(df.index.min(), df.index.max(), freq=unit)
    df = df.reindex(full).fillna(0)
    df.index.name = "period"
    return df.astype({"active_users": "int64", "sessions": "int64", "purchases": "int64"})


def to_local(index: pd.DatetimeIndex, zone: str) -> pd.DatetimeIndex:
    """Naive UTC times as the naive wall-clock times of ``zone`` (``report.timezone``), for
    showing hours of the day and weekdays as the shop lives them; storage stays UTC."""
    return pd.DatetimeIndex(index).tz_localize("UTC").tz_convert(zone).tz_localize(None)


def weekday_hour(events: ir.Table, zone: str = "UTC") -> pd.DataFrame:
    """Events per weekday (rows, Monday first) and hour of day (columns) in ``zone``,
    zero-filled. The engine counts quarter-hours (every zone's offset is a multiple of 15
    minutes, so each quarter falls in one local hour), as its clock hour and quarter (both
    engines have those; Spark has no time buckets); pandas moves them to local time."""
    hour = events.event_time.truncate("h").name("hour")
    quarter = (events.event_time.minute() // 15).name("quarter")
    df = events.group_by([hour, quarter]).aggregate(events=events.count()).to_pandas()
    starts = pd.to_datetime(df["hour"]) + pd.to_timedelta(df["quarter"].astype("int64") * 15, "min")
    local = to_local(pd.DatetimeIndex(starts), zone)
    df = pd.DataFrame({"weekday": local.day_of_week, "hour": local.hour, "events": df["events"]})
    grid = df.pivot_table(index="weekday", columns="hour", values="events", aggfunc="sum")
    grid = grid.reindex(index=range(7), columns=range(24)).fillna(0).astype("int64")
    grid.index = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    return grid


def cycle_position(index: pd.DatetimeIndex, period: int, zone: str = "UTC") -> np.ndarray:
    """Where each hour of an hourly series sits in a cycle of ``period`` hours: the local
    hour of the day (24), the hour of the week from Monday 0:00 (168), else its count."""
    local = to_local(index, zone)
    if period == 24:
        return np.asarray(local.hour)
    if period == 168:
        return np.asarray(local.day_of_week * 24 + local.hour)
    return np.arange(len(index)) % period


def supported_periods(n: int, periods: list[int]) -> tuple[list[int], list[str]]:
    """The periods a series of ``n`` points can carry (two full cycles), and why others not."""
    ok, why = [], []
    for p in periods:
        if n >= MIN_CYCLES * p:
            ok.append(p)
        else:
            why.append(
                f"period {p} needs at least {MIN_CYCLES * p} points ({MIN_CYCLES} cycles); "
                f"the series has {n}"
            )
    return ok, why


@dataclass(frozen=True)
class Decomposition:
    """Components of one series (columns: observed, trend, seasonal_<p>..., resid)."""

    components: pd.DataFrame
    periods: tuple[int, ...]

    @property
    def seasonal(self) -> pd.Series:
        """All seasonal components summed."""
        return self.components[[f"seasonal_{p}" for p in self.periods]].sum(axis=1)

    def trend_strength(self) -> float:
        """``max(0, 1 - Var(R) / Var(T + R))``."""
        c = self.components
        return _strength(c["resid"], c["trend"] + c["resid"])

    def seasonal_strength(self, period: int | None = None) -> float:
        """``max(0, 1 - Var(R) / Var(S + R))`` for one period's component (all when None)."""
        c = self.components
        s = self.seasonal if period is None else c[f"seasonal_{period}"]
        return _strength(c["resid"], s + c["resid"])


def _strength(resid: pd.Series, signal_plus_resid: pd.Series) -> float:
    denominator = float(np.var(signal_plus_resid))
    if denominator <= 0:
        return 0.0
    return max(0.0, 1.0 - float(np.var(resid)) / denominator)


def decompose(
    series: pd.Series, periods: list[int], robust: bool = True, seasonal_window: int = 13
) -> Decomposition:
    """STL for one period, MSTL for several; ``robust`` down-weights outliers such as promotions.

    ``seasonal_window`` (odd, at least 7) is STL's seasonal smoother for a single period:
    13 keeps a weekly profile steady over about three months rather than chasing noise.
    Raises ValueError when a period has fewer than two full cycles in the series.
    """
    periods = sorted(periods)
    _, why = supported_periods(len(series), periods)
    if why or not periods:
        raise ValueError("; ".join(why) or "no period given")
    values = series.astype("float64")
    if len(periods) == 1:
        res = STL(values, period=periods[0], seasonal=seasonal_window, robust=robust).fit()
        seasonal = {f"seasonal_{periods[0]}": res.seasonal}
    else:
        res = MSTL(values, periods=periods, stl_kwargs={"robust": robust}).fit()
        seasonal = {f"seasonal_{p}": res.seasonal[f"seasonal_{p}"] for p in periods}
    components = pd.DataFrame(
        {"observed": values, "trend": res.trend, **seasonal, "resid": res.resid},
        index=series.index,
    )
    return Decomposition(components, tuple(periods))


ANOMALY_THRESHOLD = 7.0


def robust_z(resid: pd.Series) -> pd.Series | None:
    """``0.6745 (r - median) / MAD`` of a remainder (Iglewicz and Hoaglin), so a promotion
    spike cannot inflate the scale it is measured against; None when the MAD is 0."""
    mad = float(np.median(np.abs(resid - resid.median())))
    if mad == 0:
        return None
    return 0.6745 * (resid - resid.median()) / mad


def anomalies(decomposition: Decomposition, threshold: float = ANOMALY_THRESHOLD) -> pd.DataFrame:
    """Points whose residual is more than ``threshold`` robust z-scores from the median.

    Choose the threshold with :func:`null_threshold`, which states how often plain noise
    would cross it: a robust STL fit shrinks ordinary residuals, so a textbook 3.5 flags
    noise in most series."""
    c = decomposition.components
    r = c["resid"]
    z = robust_z(r)
    if z is None:
        return pd.DataFrame(columns=["observed", "expected", "resid", "robust_z"])
    out = pd.DataFrame(
        {
            "observed": c["observed"],
            "expected": c["observed"] - r,
            "resid": r,
            "robust_z": z,
        }
    )
    return out[out["robust_z"].abs() > threshold].sort_values(
        "robust_z", key=np.abs, ascending=False
    )


def simulate_null(decomposition: Decomposition, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` series of plain noise around a fit's trend and season (n x length): Poisson
    counts when the observed series is whole numbers (active users, sessions, purchases),
    else Gaussian noise at the remainder's robust scale (revenue). No day is special in
    them, so every day a detector flags in them is a false alarm."""
    c = decomposition.components
    expected = (c["trend"] + decomposition.seasonal).to_numpy()
    observed = c["observed"].to_numpy()
    if np.allclose(observed, np.round(observed)) and (observed >= 0).all():
        return rng.poisson(np.clip(expected, 0, None), size=(n, len(expected))).astype(float)
    r = c["resid"]
    scale = 1.4826 * float(np.median(np.abs(r - r.median())))
    return expected + rng.normal(0.0, scale, size=(n, len(expected)))


def null_threshold(
    decomposition: Decomposition,
    false_alarm_rate: float,
    simulations: int,
    seed: int,
    robust: bool = True,
    seasonal_window: int = 13,
) -> float:
    """The robust-z threshold that plain noise crosses in at most ``false_alarm_rate`` of
    series: each of ``simulations`` noise series (:func:`simulate_null`) is decomposed as
    the real one was, and the threshold is the (1 - rate) quantile of their largest |z|.
    Calibrating on the fitted null accounts for what the robust STL does to ordinary days,
    which a fixed textbook cut does not."""
    if not 0 < false_alarm_rate < 1:
        raise ValueError(f"the false-alarm rate must be in (0, 1), got {false_alarm_rate}")
    rng = np.random.default_rng(seed)
    index = decomposition.components.index
    largest = []
    for values in simulate_null(decomposition, simulations, rng):
        fit = decompose(
            pd.Series(values, index=index), list(decomposition.periods), robust, seasonal_window
        )
        z = robust_z(fit.components["resid"])
        largest.append(0.0 if z is None else float(z.abs().max()))
    return float(np.quantile(largest, 1 - false_alarm_rate))


def threshold_range(thresholds: Iterable[float]) -> str:
    """The thresholds in words: "a threshold of 7.1 robust z" or "thresholds from 6.8 to
    8.3 robust z" (one decimal, as the table shows them)."""
    values = sorted(round(float(t), 1) for t in thresholds)
    if not values:
        raise ValueError("no threshold given")
    if values[0] == values[-1]:
        return f"a threshold of {values[0]:.1f} robust z"
    return f"thresholds from {values[0]:.1f} to {values[-1]:.1f} robust z"


def dominant_period(series: pd.Series, candidates: list[int]) -> int:
    """The candidate period with the strongest autocorrelation of the detrended series."""
    x = series.astype("float64").to_numpy()
    trend = pd.Series(x).rolling(max(candidates) * 2 + 1, center=True, min_periods=1).mean()
    x = x - trend.to_numpy()
    x = x - x.mean()
    denom = float(np.dot(x, x))
    if denom == 0:
        raise ValueError("a constant series has no period")

    def acf(lag: int) -> float:
        return float(np.dot(x[:-lag], x[lag:])) / denom

    return max(candidates, key=acf)
