"""Daily activity sequences: equal to a pandas recount of the log, blind to everything at
or after the anchor, zero-filled and encoded by weekday."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from shoplog.config.params import load_params
from shoplog.config.paths import ProjectPaths
from shoplog.dataset.sequences import (
    CHANNELS,
    benchmarked,
    daily_activity,
    daily_means,
    named,
    read_sequences,
    to_tensor,
    wanted,
    write_sequences,
)
from shoplog.events import engine
from shoplog.events.ingest import ingest

ANCHORS = [dt.datetime(2019, 11, 4), dt.datetime(2019, 12, 2), dt.datetime(2020, 1, 20)]
DAYS = 28
GAP = 30.0
KEYS = ["anchor", "user_id", "day_index"]


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    paths = ProjectPaths(data_dir=tmp_path_factory.mktemp("sequences") / "data")
    ingest(load_params("ci"), paths)
    return pd.read_parquet(paths.events_path)


def sequences(events: pd.DataFrame, anchors: list[dt.datetime]) -> pd.DataFrame:
    con = engine.connect()
    try:
        table = con.create_table("events", events, temp=True)
        out = daily_activity(table, anchors, DAYS, GAP).to_pandas()
    finally:
        con.disconnect()
    out["anchor"] = pd.to_datetime(out["anchor"]).astype("datetime64[us]")
    return out.sort_values(KEYS).reset_index(drop=True)


def recount(events: pd.DataFrame, anchor: dt.datetime) -> pd.DataFrame:
    """The same days counted in pandas, one event at a time (sessions from the gap)."""
    ev = events.sort_values(["user_id", "event_time"]).copy()
    previous = ev.groupby("user_id")["event_time"].shift()
    ev["opens"] = previous.isna() | (ev["event_time"] - previous > pd.Timedelta(minutes=GAP))
    ev = ev[(ev["event_time"] >= anchor - dt.timedelta(days=DAYS)) & (ev["event_time"] < anchor)]
    day = ev["event_time"].dt.floor("D")
    ev["day_index"] = DAYS - (pd.Timestamp(anchor) - day).dt.days
    for kind, short in [
        ("view", "views"),
        ("cart", "carts"),
        ("remove_from_cart", "removes"),
        ("purchase", "purchases"),
    ]:
        ev[short] = ev["event_type"] == kind
    ev["spend"] = ev["price"].where(ev["event_type"] == "purchase", 0.0)
    ev["sessions"] = ev["opens"]
    out = ev.groupby(["user_id", "day_index"])[list(CHANNELS)].sum().reset_index()
    out.insert(0, "anchor", pd.Timestamp(anchor).as_unit("us"))
    return out


def test_the_engine_counts_what_pandas_counts(log: pd.DataFrame) -> None:
    # a session that starts before the first day counts on the day it opened, not again
    # on the first day
    first = pd.Timestamp(ANCHORS[0] - dt.timedelta(days=DAYS))
    owl = log.iloc[[0, 0]].assign(
        user_id="night owl",
        event_type="view",
        event_time=[first - pd.Timedelta(minutes=10), first + pd.Timedelta(minutes=10)],
    )
    log = pd.concat([log, owl], ignore_index=True)
    got = sequences(log, ANCHORS)
    want = pd.concat([recount(log, a) for a in ANCHORS]).sort_values(KEYS).reset_index(drop=True)
    assert len(got) == len(want) > 1000
    assert got["day_index"].between(0, DAYS - 1).all()
    pd.testing.assert_frame_equal(got[KEYS], want[KEYS], check_dtype=False)
    for col in CHANNELS:
        assert np.allclose(got[col], want[col], rtol=0, atol=1e-6), col
    assert got["sessions"].sum() > 0 and got["spend"].sum() > 0
    owl_day = got[(got["user_id"] == "night owl") & (got["anchor"] == ANCHORS[0])]
    assert owl_day[["day_index", "views", "sessions"]].values.tolist() == [[0, 1, 0]]


def test_events_at_or_after_the_anchor_change_nothing(log: pd.DataFrame) -> None:
    for anchor in ANCHORS[:2]:
        before = sequences(log, [anchor])
        # the whole log again, moved to start exactly at the anchor
        later = log.assign(event_time=log["event_time"] - log["event_time"].min() + anchor)
        after = sequences(pd.concat([log, later], ignore_index=True), [anchor])
        pd.testing.assert_frame_equal(before, after)


def test_the_tensor_is_zero_filled_and_knows_the_weekday(log: pd.DataFrame) -> None:
    active = sequences(log, ANCHORS)
    keys = active[["user_id", "anchor"]].drop_duplicates().iloc[::-1].reset_index(drop=True)
    # a user with no activity before the anchor gets a row of zeros
    keys = pd.concat(
        [keys, pd.DataFrame({"user_id": ["nobody"], "anchor": [pd.Timestamp(ANCHORS[0])]})],
        ignore_index=True,
    )
    x = to_tensor(active, keys, DAYS)
    assert x.shape == (len(keys), DAYS, len(CHANNELS) + 2)
    assert not x[-1, :, : len(CHANNELS)].any()
    first = active[
        (active["user_id"] == keys["user_id"][0]) & (active["anchor"] == keys["anchor"][0])
    ]
    for _, row in first.iterrows():
        assert x[0, row["day_index"], CHANNELS.index("views")] == row["views"]
    assert x[0, :, : len(CHANNELS)].sum() == pytest.approx(first[list(CHANNELS)].to_numpy().sum())
    # the last day before 2019-11-04 (a Monday) is a Sunday: weekday 6 of Monday 0
    angle = 2 * np.pi * 6 / 7
    row = len(keys) - 1
    assert x[row, -1, len(CHANNELS)] == pytest.approx(np.sin(angle))
    assert x[row, -1, len(CHANNELS) + 1] == pytest.approx(np.cos(angle))
    assert x[row, 0, len(CHANNELS)] == pytest.approx(np.sin(0.0))  # 28 days before: Monday


def test_written_sequences_read_back_the_same_and_are_checked(log: pd.DataFrame, tmp_path) -> None:
    con = engine.connect()
    try:
        table = con.create_table("events", log, temp=True)
        path = tmp_path / "sequences.parquet"
        rows = write_sequences(con, table, ANCHORS, DAYS, GAP, path)
    finally:
        con.disconnect()
    back = read_sequences(path, DAYS)
    assert back.days == DAYS and len(back.activity) == rows
    # counts are written as integers (a DuckDB sum is 128 bits wide, which Parquet holds
    # as a double unless it is cast back), as Spark writes them
    counts = [c for c in back.activity.columns if c not in (*KEYS, "user_id", "spend")]
    assert counts and all(back.activity[c].dtype == "int64" for c in counts), back.activity.dtypes
    # sorted by anchor, user and day: the same log writes the same bytes
    assert back.activity[KEYS].equals(back.activity[KEYS].sort_values(KEYS))
    want = sequences(log, ANCHORS)
    pd.testing.assert_frame_equal(
        back.activity.reset_index(drop=True), want[list(back.activity.columns)], check_dtype=False
    )
    with pytest.raises(ValueError, match="not built with 7 days"):
        read_sequences(path, 7)
    with pytest.raises(FileNotFoundError, match="features chapter"):
        read_sequences(tmp_path / "missing.parquet", DAYS)


def test_sequences_are_built_only_for_a_benchmark_with_a_sequence_model() -> None:
    assert wanted([])  # empty: every learner
    assert wanted(["LightGBM", "GRU"]) and wanted(["BiLSTM"])
    assert not wanted(["LightGBM", "logistic regression"])
    assert named(benchmarked([])) == "a GRU and a bidirectional LSTM"
    assert named(benchmarked(["LightGBM", "BiLSTM"])) == "a bidirectional LSTM"


def test_daily_means_count_rows_without_activity_as_zeros() -> None:
    anchor = pd.Timestamp("2020-01-06")
    activity = pd.DataFrame(
        {
            "user_id": ["a", "a", "b"],
            "anchor": anchor,
            "day_index": [2, 1, 2],
            **{c: [0, 0, 0] for c in CHANNELS},
        }
    )
    activity["views"] = [4, 1, 2]
    activity["purchases"] = [1, 0, 0]
    activity["sessions"] = [1, 1, 1]
    rows = pd.DataFrame({"user_id": ["a", "b", "c"], "anchor": anchor, "group": ["x", "x", "y"]})
    means = daily_means(activity, rows, 3).set_index(["group", "days_before"])
    # group x: users a and b; on the last day (index 2) a had 5 events, b 2
    assert means.loc[("x", 1), "events"] == pytest.approx(3.5)
    assert means.loc[("x", 2), "events"] == pytest.approx(0.5)
    assert means.loc[("x", 3), "events"] == 0
    assert means.loc[("x", 1), "sessions"] == pytest.approx(1.0)
    # group y has one user and no activity: zeros on every day, not missing
    assert (means.loc["y", "events"] == 0).all() and len(means.loc["y"]) == 3
