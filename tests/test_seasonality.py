"""Seasonality helpers: engine series on hand-made logs, decompositions of known series."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from shoplog.behaviour.seasonality import (
    anomalies,
    cycle_position,
    daily_series,
    decompose,
    dominant_period,
    null_threshold,
    supported_periods,
    threshold_range,
    weekday_hour,
)
from shoplog.events import engine


def _events(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["event_time", "user_id", "event_type", "price"]).astype(
        {"event_time": "datetime64[us]", "user_id": "string", "event_type": "string"}
    )


def _weekly(days: int = 140, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    weekly = np.array([0, 5, 8, 6, 4, 18, 25], dtype=float)[t % 7]
    values = 100 + 0.3 * t + weekly + rng.normal(0, 1.5, days)
    return pd.Series(values, index=pd.date_range("2020-01-06", periods=days, freq="D"))


def test_daily_series_counts_users_sessions_purchases_and_revenue() -> None:
    d0 = dt.datetime(2020, 1, 1, 23, 50)
    log = _events(
        [
            (d0, "a", "view", 5.0),
            (d0 + dt.timedelta(minutes=20), "a", "purchase", 7.0),  # same session, next day
            (d0 + dt.timedelta(hours=2), "a", "view", 5.0),  # a new session on day 2
            (d0 + dt.timedelta(minutes=5), "b", "purchase", 3.0),
            (d0 + dt.timedelta(days=2, hours=1), "b", "view", 1.0),  # day 4; day 3 is empty
        ]
    )
    con = engine.connect()
    df = daily_series(con.create_table("ev", log), 30)
    con.disconnect()
    assert list(df.index.strftime("%m-%d")) == ["01-01", "01-02", "01-03", "01-04"]
    assert df["active_users"].tolist() == [2, 1, 0, 1]
    assert df["sessions"].tolist() == [2, 1, 0, 1]  # a session counts on the day it starts
    assert df["purchases"].tolist() == [1, 1, 0, 0]
    assert df["revenue"].tolist() == [3.0, 7.0, 0.0, 0.0]


def test_weekday_hour_places_each_event() -> None:
    monday_9 = dt.datetime(2020, 1, 6, 9, 15)
    log = _events(
        [
            (monday_9, "a", "view", 1.0),
            (monday_9, "b", "view", 1.0),
            (monday_9 + dt.timedelta(days=6, hours=14), "a", "cart", 1.0),  # Sunday 23h
        ]
    )
    con = engine.connect()
    grid = weekday_hour(con.create_table("ev", log))
    con.disconnect()
    assert grid.shape == (7, 24) and int(grid.to_numpy().sum()) == 3
    assert grid.loc["Mon", 9] == 2 and grid.loc["Sun", 23] == 1


def test_weekday_hour_in_the_shops_zone_moves_hours_and_days_not_counts() -> None:
    """Sunday 23:10 UTC is Monday 0:10 in Berlin (winter, +1) and Monday 4:40 in Kolkata
    (+5:30); in July, Berlin is +2. Storage stays UTC: only the grid's labels move."""
    sunday_23 = dt.datetime(2020, 1, 12, 23, 10)
    july = dt.datetime(2020, 7, 6, 9, 0)  # a Monday
    log = _events([(sunday_23, "a", "view", 1.0), (july, "b", "view", 1.0)])
    con = engine.connect()
    table = con.create_table("ev", log)
    utc, berlin, kolkata = (
        weekday_hour(table, z) for z in ("UTC", "Europe/Berlin", "Asia/Kolkata")
    )
    con.disconnect()
    assert utc.loc["Sun", 23] == 1 and utc.loc["Mon", 9] == 1
    assert berlin.loc["Mon", 0] == 1 and berlin.loc["Mon", 11] == 1
    assert kolkata.loc["Mon", 4] == 1 and kolkata.loc["Mon", 14] == 1
    assert int(berlin.to_numpy().sum()) == int(kolkata.to_numpy().sum()) == 2


def test_cycle_positions_follow_local_hours_across_a_clock_change() -> None:
    # Berlin moves from +1 to +2 at 01:00 UTC on 2020-03-29 (a Sunday)
    hours = pd.date_range("2020-03-28 22:00", periods=6, freq="h")
    assert cycle_position(hours, 24).tolist() == [22, 23, 0, 1, 2, 3]
    assert cycle_position(hours, 24, "Europe/Berlin").tolist() == [23, 0, 1, 3, 4, 5]
    assert cycle_position(hours, 168, "Europe/Berlin").tolist()[:2] == [5 * 24 + 23, 6 * 24]
    assert cycle_position(hours, 12).tolist() == [0, 1, 2, 3, 4, 5]


def test_stl_recovers_a_weekly_season_and_its_strength() -> None:
    series = _weekly()
    assert dominant_period(series, [5, 6, 7, 8, 9, 10]) == 7
    dec = decompose(series, [7])
    assert dec.seasonal_strength() > 0.9
    assert dec.trend_strength() > 0.9
    # the weekly profile it finds is the one put in (up to a constant)
    profile = dec.seasonal.groupby(np.arange(len(series)) % 7).mean()
    truth = np.array([0, 5, 8, 6, 4, 18, 25], dtype=float)
    assert np.corrcoef(profile, truth)[0, 1] > 0.99


def test_mstl_separates_daily_and_weekly_seasons() -> None:
    hours = 24 * 7 * 6
    t = np.arange(hours)
    daily = 10 * np.sin(2 * np.pi * t / 24)
    weekly = 6 * np.sin(2 * np.pi * t / 168)
    rng = np.random.default_rng(1)
    series = pd.Series(50 + daily + weekly + rng.normal(0, 1, hours))
    assert dominant_period(series, [12, 24, 36, 48]) == 24
    dec = decompose(series, [24, 168])
    assert np.corrcoef(dec.components["seasonal_24"], daily)[0, 1] > 0.95
    assert np.corrcoef(dec.components["seasonal_168"], weekly)[0, 1] > 0.9
    assert dec.seasonal_strength(24) > dec.seasonal_strength(168) > 0.5


@pytest.mark.parametrize("seed", range(4))
def test_a_spike_is_the_one_anomaly(seed: int) -> None:
    series = _weekly(seed=seed)
    spike_day = series.index[90]
    series[spike_day] += 80
    flagged = anomalies(decompose(series, [7], robust=True))
    assert list(flagged.index) == [spike_day]
    assert flagged["robust_z"].iloc[0] > 10


def _poisson_days(mean: np.ndarray, rng: np.random.Generator) -> pd.Series:
    return pd.Series(
        rng.poisson(mean).astype(float), index=pd.date_range("2019-10-01", periods=len(mean))
    )


@pytest.mark.parametrize("level", [300.0, 6.0])  # sessions-like and purchases-like counts
def test_the_calibrated_threshold_flags_noise_at_the_stated_rate(level: float) -> None:
    """The detector run on pure noise (Poisson counts around a trend and a week, nothing
    planted): with the threshold calibrated on one series' fit at a 5% false-alarm rate,
    the share of fresh noise series with any flagged day is near 5%, not above it; a
    fixed textbook cut of 3.5 flags most of them. A planted spike is still found."""
    rng = np.random.default_rng(11)
    t = np.arange(273)
    mean = level * (1 + 0.3 * np.sin(2 * np.pi * t / 7) + t / 1000)
    fit = decompose(_poisson_days(mean, rng), [7], robust=True)
    threshold = null_threshold(fit, 0.05, 200, seed=3)
    fits = [decompose(_poisson_days(mean, rng), [7], robust=True) for _ in range(300)]
    flagged = np.mean([len(anomalies(f, threshold)) > 0 for f in fits])
    assert flagged <= 0.05 + 2.5 * np.sqrt(0.05 * 0.95 / 300)  # 0.05 within sampling error
    assert flagged >= 0.003  # the threshold is not set needlessly high either
    textbook = np.mean([len(anomalies(f, 3.5)) > 0 for f in fits[:100]])
    assert textbook > 0.5
    spiked = _poisson_days(mean, rng)
    day = spiked.index[150]
    spiked[day] = mean[150] + 12 * np.sqrt(mean[150]) + 10
    found = anomalies(decompose(spiked, [7], robust=True), threshold)
    assert day in found.index
    # the same seed, the same threshold
    assert null_threshold(fit, 0.05, 200, seed=3) == threshold
    assert null_threshold(fit, 0.01, 200, seed=3) > threshold


def test_threshold_range_in_words() -> None:
    assert threshold_range([7.04, 7.01]) == "a threshold of 7.0 robust z"
    assert threshold_range([8.26, 6.8, 7.0]) == "thresholds from 6.8 to 8.3 robust z"


def test_too_short_a_series_is_refused_with_the_reason() -> None:
    ok, why = supported_periods(20, [7, 24])
    assert ok == [7]
    assert why == ["period 24 needs at least 48 points (2 cycles); the series has 20"]
    with pytest.raises(ValueError, match="period 7 needs at least 14 points"):
        decompose(pd.Series(np.arange(10.0)), [7])
