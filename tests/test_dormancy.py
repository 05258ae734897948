"""Time to dormancy from the engine against a plain loop over each user's events, its link
to the churn label, and Kaplan-Meier / log-rank on known curves."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from featurelogs import (
    ANCHORS,
    END,
    _connection,
    canonical,
    close_connection,
    engine_table,
    event_logs,
    small_params,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from shoplog.dataset.dormancy import dormant_within, time_to_dormancy
from shoplog.modeling import survival

DAYS = pd.Timedelta(days=1)


@pytest.fixture(scope="module", autouse=True)
def _shared_connection():
    yield
    close_connection()


def _by_hand(times: list[pd.Timestamp], a: pd.Timestamp, h: int, end: pd.Timestamp):
    """(days, observed) straight from the definition, one user at a time."""
    after = sorted(t for t in times if t >= a)
    horizon = h * DAYS
    if not after or after[0] >= a + horizon:
        t = a
    else:
        last = next(
            e
            for e, n in zip(after, [*after[1:], None], strict=True)
            if n is None or n > e + horizon
        )
        t = last + pd.Timedelta(microseconds=1)  # just after the last event
    observed = t + horizon <= end
    return ((t - a) / DAYS if observed else (end - horizon - a) / DAYS), observed


@settings(max_examples=40, deadline=None)
@given(log=event_logs(min_size=1, max_size=40), h=st.sampled_from([1, 2, 3]))
def test_time_to_dormancy_matches_the_definition(log: pd.DataFrame, h: int) -> None:
    con = _connection()
    a = pd.Timestamp(ANCHORS[1])
    end = pd.Timestamp(dt.datetime.combine(END, dt.time()))
    users = pd.Series(sorted(log["user_id"].unique()))
    table = con.create_table("events", log, temp=True, overwrite=True)
    try:
        got = time_to_dormancy(con, table, a.to_pydatetime(), users, h, end.to_pydatetime())
    finally:
        con.drop_table("events", force=True)
    for row in got.itertuples():
        times = list(log.loc[log["user_id"] == row.user_id, "event_time"])
        days, observed = _by_hand(times, a, h, end)
        assert row.observed == observed
        assert row.days == pytest.approx(days)
        # the label of this horizon is "dormant at the anchor"
        label = dormant_within(np.array([row.next_event_days]), h, (end - a) / DAYS)[0]
        assert label == float(row.observed and row.days == 0)


def test_a_last_event_on_the_anchors_instant_is_not_day_zero() -> None:
    """Found by the property test: a user whose only event is at the anchor itself is
    active in the horizon (label 0), so they go dormant just after it, not at day 0."""
    a = ANCHORS[1]
    log = canonical([{"event_time": a, "event_type": "view", "product_id": "p1",
                      "price": None, "user_id": "u1"}])  # fmt: skip
    con = _connection()
    events = con.create_table("events", log, temp=True, overwrite=True)
    try:
        got = time_to_dormancy(
            con, events, a, pd.Series(["u1"]), 1, dt.datetime.combine(END, dt.time())
        )
    finally:
        con.drop_table("events", force=True)
    assert got["observed"].item() and 0 < got["days"].item() < 1e-9
    assert got["next_event_days"].item() == 0.0


def test_days_zero_is_the_books_churn_label() -> None:
    """On a fixed log, T = 0 exactly for the rows the feature table labels dormant."""
    rng = np.random.default_rng(5)
    rows = [
        {"event_time": dt.datetime(2020, 1, 1) + dt.timedelta(hours=float(x)),
         "event_type": "view", "product_id": "p1", "price": 1.0, "user_id": f"u{u}"}
        for u in range(12) for x in np.sort(rng.uniform(0, 24 * 12, rng.integers(1, 15)))
    ]  # fmt: skip
    log = canonical(rows)
    params = small_params()
    table = engine_table(log, params)
    a = ANCHORS[1]
    at = table[table["anchor"] == pd.Timestamp(a)].dropna(subset=["dormant"])
    con = _connection()
    events = con.create_table("events", log, temp=True, overwrite=True)
    try:
        got = time_to_dormancy(
            con,
            events,
            a,
            at["user_id"],
            params.anchors.horizon_days,
            dt.datetime.combine(END, dt.time()),
        )
    finally:
        con.drop_table("events", force=True)
    assert len(at) > 5
    np.testing.assert_array_equal((got["days"] == 0).astype(float), at["dormant"].to_numpy())


def test_a_horizon_past_the_log_is_refused_and_labels_need_the_horizon_seen() -> None:
    with pytest.raises(ValueError, match="unseen"):
        time_to_dormancy(
            _connection(),
            None,
            dt.datetime(2020, 1, 13),
            pd.Series(["u"]),
            5,
            dt.datetime(2020, 1, 14),
        )
    assert np.isnan(dormant_within(np.array([1.0, 9.0]), 30, 20.0)).all()
    assert dormant_within(np.array([1.0, 9.0, np.inf]), 5, 20.0).tolist() == [0.0, 1.0, 1.0]


def test_kaplan_meier_and_log_rank_on_known_groups() -> None:
    rng = np.random.default_rng(0)
    n = 600
    fast = rng.exponential(5, n)
    slow = rng.exponential(20, n)
    days = np.concatenate([fast, slow])
    censor = 15.0
    observed = days <= censor
    days = np.minimum(days, censor)
    groups = np.array(["fast"] * n + ["slow"] * n)
    curves = survival.km_curves(days, observed, groups)
    at10 = survival.survival_at(curves, 10.0)
    assert at10["fast"] == pytest.approx(np.exp(-10 / 5), abs=0.05)
    assert at10["slow"] == pytest.approx(np.exp(-10 / 20), abs=0.05)
    assert (curves.groupby("group")["survival"].apply(lambda s: s.is_monotonic_decreasing)).all()
    assert curves.groupby("group")["survival"].first().tolist() == [1.0, 1.0]
    chi2, p = survival.logrank(days, observed, groups)
    assert chi2 > 50 and p < 1e-6
    same = survival.logrank(days[:n], observed[:n], rng.permutation(groups[:n].size) % 2)
    assert same[1] > 0.001
