"""Small random event logs for the feature tests, and a helper that runs the engine on them."""

from __future__ import annotations

import datetime as dt
import functools

import pandas as pd
from hypothesis import strategies as st

from shoplog.config.params import Params, load_params
from shoplog.dataset import table as dataset
from shoplog.events import engine

# Three midnights as anchors, with windows short enough that their edges are often hit.
ANCHORS = [dt.datetime(2020, 1, 5), dt.datetime(2020, 1, 7), dt.datetime(2020, 1, 10)]
T0 = dt.datetime(2020, 1, 1)
END = dt.date(2020, 1, 14)
OVERRIDES = [
    "study.start_date=2020-01-01",
    "study.end_date=2020-01-14",
    "features.windows=[1, 3]",
    "features.distinct_window_days=2",
    "features.profile_window_days=3",
    "anchors.lookback_days=3",
    "anchors.horizon_days=2",
    "anchors.repurchase_gap_days=2",
    "sessions.gap_minutes=30",
]
EVENT_TYPES = ["view", "cart", "remove_from_cart", "purchase"]


def small_params() -> Params:
    return load_params("ci", OVERRIDES)


@st.composite
def event_times(draw: st.DrawFn) -> dt.datetime:
    """Times that often sit on a midnight, a second either side of it, or near the session gap."""
    day = draw(st.integers(0, 12))
    base = T0 + dt.timedelta(days=day)
    offset = draw(
        st.one_of(
            st.sampled_from([0, 1, -1, 1799, 1800, 1801, 3600, 86399]),
            st.integers(0, 86399),
        )
    )
    return base + dt.timedelta(seconds=offset, microseconds=draw(st.sampled_from([0, 500_000])))


@st.composite
def event_logs(draw: st.DrawFn, min_size: int = 1, max_size: int = 40, types=None) -> pd.DataFrame:
    """A canonical log: a few users, random times, types, items and (sometimes missing) prices."""
    n = draw(st.integers(min_size, max_size))
    rows = []
    for _ in range(n):
        rows.append(
            {
                "event_time": draw(event_times()),
                "event_type": draw(st.sampled_from(types or EVENT_TYPES)),
                "product_id": draw(st.sampled_from(["p1", "p2", "p3", "p4"])),
                "category_id": draw(st.sampled_from(["c1", "c2", "", None])),
                "category_code": None,
                "brand": draw(st.sampled_from(["b1", "b2", None])),
                "price": draw(st.one_of(st.none(), st.sampled_from([1.0, 2.5, 10.0]))),
                "user_id": draw(st.sampled_from(["u1", "u2", "u3"])),
                "user_session": None,
            }
        )
    return canonical(rows)


def canonical(rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """A DataFrame in the canonical schema's dtypes."""
    df = pd.DataFrame(rows)
    for col in (
        "event_type",
        "product_id",
        "category_id",
        "category_code",
        "brand",
        "user_id",
        "user_session",
    ):
        if col not in df:
            df[col] = None
        df[col] = df[col].astype("string")
    df["price"] = df["price"].astype("float64")
    df["event_time"] = pd.to_datetime(df["event_time"]).astype("datetime64[us]")
    return df


@functools.cache
def _connection():
    """One engine connection for all examples: connecting costs more than a tiny query."""
    return engine.connect(small_params().engine)


def engine_table(
    events: pd.DataFrame,
    params: Params,
    anchors: list[dt.datetime] | None = None,
    observed_end: dt.datetime | None = None,
    **kwargs,
) -> pd.DataFrame:
    """Features and labels computed by the engine on an in-memory log."""
    anchors = anchors or ANCHORS
    con = _connection()
    table = con.create_table("events", events, temp=True, overwrite=True)
    try:
        out = dataset.build_table(
            con,
            table,
            anchors,
            ["x"] * len(anchors),
            params,
            observed_end or dt.datetime.combine(END, dt.time()),
            **kwargs,
        )
    finally:
        con.drop_table("events", force=True)
    return out.sort_values(["anchor", "user_id"]).reset_index(drop=True)


def close_connection() -> None:
    """Close the shared connection (leaving it to interpreter exit makes the bindings warn)."""
    if _connection.cache_info().currsize:
        _connection().disconnect()
        _connection.cache_clear()
