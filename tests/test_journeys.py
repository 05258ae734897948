"""Journeys: directly-follows counts, variants and Sankey links on hand-made logs, and pm4py."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoplog.behaviour import journeys
from shoplog.events import engine

T0 = dt.datetime(2020, 1, 6, 10)


def _log(rows: list[tuple]) -> pd.DataFrame:
    """(minutes after T0, user, type) -> a log with the columns journeys read."""
    return pd.DataFrame(
        {
            "event_time": [T0 + dt.timedelta(minutes=m) for m, _, _ in rows],
            "user_id": [u for _, u, _ in rows],
            "event_type": [t for _, _, t in rows],
            "category_id": "c1",
            "category_code": "shoes",
        }
    ).astype(
        {
            "event_time": "datetime64[us]",
            "user_id": "string",
            "event_type": "string",
            "category_id": "string",
            "category_code": "string",
        }
    )


HAND = [
    (0, "a", "view"),
    (1, "a", "view"),
    (2, "a", "cart"),
    (3, "a", "purchase"),  # a, session 1
    (100, "a", "view"),  # a, session 2 (99 idle minutes)
    (0, "b", "view"),
    (0, "b", "cart"),  # same second: view before cart
    (5, "b", "remove_from_cart"),
]


@pytest.fixture()
def steps():
    con = engine.connect()
    yield journeys.session_steps(con.create_table("ev", _log(HAND)), 30)
    con.disconnect()


def test_dfg_counts_and_times(steps) -> None:
    edges = journeys.dfg(steps).set_index(["source", "target"])
    counts = edges["count"].to_dict()
    assert counts == {
        ("view", "view"): 1,
        ("view", "cart"): 2,
        ("cart", "purchase"): 1,
        ("cart", "remove_from_cart"): 1,
        (journeys.START, "view"): 3,
        ("purchase", journeys.END): 1,
        ("view", journeys.END): 1,
        ("remove_from_cart", journeys.END): 1,
    }
    # view -> cart: 60 s in a's session, 0 s in b's
    assert edges.loc[("view", "cart"), "mean_seconds"] == 30.0
    assert edges.loc[("cart", "remove_from_cart"), "median_seconds"] == 300.0


def test_next_step_shares(steps) -> None:
    edges = journeys.dfg(steps)
    shares = edges.assign(share=journeys.next_step_shares).set_index(["source", "target"])["share"]
    # view is left 4 times: to view once, to cart twice, to the end once
    assert shares[("view", "cart")] == 0.5 and shares[("view", journeys.END)] == 0.25
    assert shares[("cart", "purchase")] == 0.5
    assert np.isnan(shares[(journeys.START, "view")])


def test_variants_merge_repeats_and_measure_conversion(steps) -> None:
    v = journeys.variants(steps).set_index("variant")
    assert v["sessions"].to_dict() == {
        "view → cart → purchase": 1,
        "view → cart → remove_from_cart": 1,
        "view": 1,
    }
    assert v.loc["view → cart → purchase", "conversion"] == 1.0
    assert v.loc["view", "conversion"] == 0.0
    assert v["share"].sum() == pytest.approx(1.0)


def test_sankey_links_follow_each_session_to_its_outcome(steps) -> None:
    links = journeys.sankey_links(steps, depth=2)
    got = {(r.source, r.target, r.outcome): r.sessions for r in links.itertuples()}
    bought, left = journeys.BOUGHT, journeys.LEFT
    assert got == {
        # the two sessions through view -> cart, split by how they ended
        ("1. view", "2. cart", bought): 1,
        ("1. view", "2. cart", left): 1,
        ("1. view", left, left): 1,  # a's second session
        ("2. cart", bought, bought): 1,  # cut after two steps: a bought later
        ("2. cart", left, left): 1,
    }


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, 300),
            st.sampled_from(["u1", "u2", "u3"]),
            st.sampled_from(["view", "cart", "remove_from_cart", "purchase"]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_engine_dfg_equals_pm4py(rows) -> None:
    import pm4py

    con = engine.connect()
    s = journeys.session_steps(con.create_table("ev", _log(rows)), 30)
    ours = journeys.pm4py_graph(journeys.dfg(s))
    log = journeys.sample_log(s, n_sessions=10_000, seed=1)
    con.disconnect()
    theirs = pm4py.discover_dfg(log)
    assert ours[0] == dict(theirs[0])
    assert ours[1] == dict(theirs[1]) and ours[2] == dict(theirs[2])


def test_sample_is_seeded_and_nested(steps) -> None:
    a = journeys.sample_log(steps, 2, seed=7)
    b = journeys.sample_log(steps, 2, seed=7)
    bigger = journeys.sample_log(steps, 3, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["case:concept:name"]) <= set(bigger["case:concept:name"])
    assert bigger["case:concept:name"].nunique() == 3
