"""Exploratory summaries against hand-computed answers on small logs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoplog.behaviour import eda
from shoplog.events import engine

T0 = dt.datetime(2020, 1, 6, 10)  # a Monday


def _log(rows: list[tuple]) -> pd.DataFrame:
    """(minutes after T0, user, type[, category, brand, price]) -> a canonical-like log."""
    records = []
    for minutes, user, etype, *rest in rows:
        category, brand, price = tuple(rest) if rest else ("c1", "b1", 1.0)
        records.append(
            {
                "event_time": T0 + dt.timedelta(minutes=minutes),
                "event_type": etype,
                "product_id": "p1",
                "category_id": category,
                "category_code": None,
                "brand": brand,
                "price": price,
                "user_id": user,
            }
        )
    return pd.DataFrame.from_records(records).astype(
        {
            "event_time": "datetime64[us]",
            "event_type": "string",
            "product_id": "string",
            "category_id": "string",
            "category_code": "string",
            "brand": "string",
            "price": "float64",
            "user_id": "string",
        }
    )


@pytest.fixture()
def con():
    c = engine.connect()
    yield c
    c.disconnect()


def test_events_per_user(con) -> None:
    log = _log([(0, "a", "view"), (1, "a", "view"), (2, "b", "view"), (3, "c", "cart")])
    freq = eda.events_per_user(con.create_table("ev", log))
    assert freq.to_dict("list") == {"events": [1, 2], "users": [2, 1]}


def test_funnel_counts_nested_steps_per_session(con) -> None:
    log = _log(
        [
            (0, "a", "view", "c1", "b1", 1.0),
            (1, "a", "cart", "c1", "b1", 1.0),
            (2, "a", "purchase", "c1", "b1", 1.0),  # a's first session: all three steps
            (200, "a", "cart", "c2", "b2", 1.0),  # a's second session: cart without view
            (201, "a", "purchase", "c2", "b2", 1.0),
            (0, "b", "view", "c2", "b2", 1.0),
            (1, "b", "cart", "c1", "b1", 1.0),  # b carts another category than it viewed
        ]
    )
    t = con.create_table("ev", log)
    overall = eda.funnel(t, 30)
    # a1 reaches all three; b views and carts; a2 has no view, so it reaches no step
    assert overall["sessions"].tolist() == [2, 2, 1]
    by_cat = eda.funnel(t, 30, by="category").set_index(["group", "step"])["sessions"]
    assert by_cat.loc[("c1", "view")] == 1 and by_cat.loc[("c1", "cart")] == 1
    assert by_cat.loc[("c1", "purchase")] == 1
    # c2 was viewed by b only; a's c2 session skipped the view, so it reaches no step
    assert by_cat.loc[("c2", "view")] == 1 and by_cat.loc[("c2", "cart")] == 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, 600),
            st.sampled_from(["u1", "u2", "u3"]),
            st.sampled_from(["view", "cart", "remove_from_cart", "purchase"]),
            st.sampled_from(["c1", "c2"]),
            st.sampled_from(["b1", "b2", None]),
            st.just(1.0),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_funnel_never_increases_along_its_steps(rows) -> None:
    c = engine.connect()
    t = c.create_table("ev", _log(rows))
    for by in (None, "category", "brand"):
        df = eda.funnel(t, 30, by=by)
        for _, g in df.groupby("group"):
            assert (np.diff(g.sort_values("step")["sessions"].to_numpy()) <= 0).all()
    c.disconnect()


def test_new_and_returning_users(con) -> None:
    week = 7 * 24 * 60
    log = _log(
        [(0, "a", "view"), (week, "a", "view"), (week, "b", "view"), (3 * week, "b", "cart")]
    )
    df = eda.new_and_returning(con.create_table("ev", log), "W")
    assert df[["new", "returning"]].to_numpy().tolist() == [[1, 0], [1, 1], [0, 1]]


def test_cohort_retention_matrix(con) -> None:
    def at(month: int, user: str) -> tuple:
        minutes = (dt.datetime(2020, month, 10) - T0).total_seconds() / 60
        return (minutes, user, "view")

    # January cohort: a, b, c; a returns in February and April, b in March; d joins in March
    log = _log([at(1, "a"), at(1, "b"), at(1, "c"), at(2, "a"), at(3, "b"), at(4, "a"), at(3, "d")])
    share = eda.cohort_retention(con.create_table("ev", log))
    jan, mar = pd.Timestamp("2020-01-01"), pd.Timestamp("2020-03-01")
    assert share.attrs["sizes"].to_dict() == {jan: 3, mar: 1}
    assert share.loc[jan].tolist() == pytest.approx([1.0, 1 / 3, 1 / 3, 1 / 3])
    # March's cohort: month 1 (April) is observed and empty; months 2+ are beyond the log
    assert share.loc[mar, 0] == 1.0 and share.loc[mar, 1] == 0.0
    assert np.isnan(share.loc[mar, 2]) and np.isnan(share.loc[mar, 3])


def test_rfm_scores_rank_buyers(con) -> None:
    day = 24 * 60
    rows = [(0, "old", "purchase", "c1", "b1", 10.0)]
    rows += [(9 * day + i * 100, "loyal", "purchase", "c1", "b1", 5.0) for i in range(3)]
    rows += [(9 * day, "recent", "purchase", "c1", "b1", 50.0), (0, "browser", "view")]
    rfm = eda.rfm_table(con.create_table("ev", _log(rows)), 30)
    assert rfm["users"].sum() == 3  # buyers only
    cells = {(r.r_score, r.f_score): r for r in rfm.itertuples()}
    # "loyal" has the most orders (3 sessions) and a recent purchase
    assert max(f for _, f in cells) == cells[max(cells, key=lambda k: k[1])].f_score
    loyal = next(r for r in rfm.itertuples() if r.orders_mean == 3)
    old = next(r for r in rfm.itertuples() if r.recency_mean > 8)
    assert loyal.f_score > old.f_score and loyal.r_score > old.r_score
    assert old.monetary_mean == 10.0


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 5)), min_size=1, max_size=20))
def test_weighted_median_equals_the_median_of_the_expanded_values(pairs) -> None:
    values = [v for v, _ in pairs]
    counts = [c for _, c in pairs]
    expanded = np.repeat(values, counts)
    got = eda.weighted_median(values, counts)
    if len(expanded) == 0:
        assert np.isnan(got)
    else:
        assert got == np.median(expanded)
