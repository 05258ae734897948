"""Daily activity sequences per user and anchor, for sequence models (GRU, LSTM).

For each anchor, the ``days`` whole days before it (the anchor is a midnight, so no event
at or after it is read), one row per active user-day: events by type, sessions opened and
spend. Sessions follow the book's inactivity gap exactly as the features do (the same
sessioned stretches), and a session opened on a day counts on that day. The engine returns
only active days; :func:`to_tensor` zero-fills the rest and adds a day-of-week encoding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from shoplog.dataset import features as F
from shoplog.events import engine
from shoplog.events.engine import MONEY_SCALE, as_int64
from shoplog.schema import EVENT_SHORT

# per day: events of each type, sessions opened, spend (in the log's currency)
CHANNELS = (*EVENT_SHORT.values(), "sessions", "spend")
# the day-of-week encoding added by to_tensor: a point on the unit circle
WEEKDAY_CHANNELS = ("weekday_sin", "weekday_cos")
# the benchmark's learners that read the sequences (modeling.sequence_models)
SEQUENCE_LEARNERS = ("GRU", "BiLSTM")
_DAY_US = 86_400_000_000


def daily_activity(
    events: ir.Table, anchors: Sequence[dt.datetime], days: int, gap_minutes: float
) -> ir.Table:
    """Columns user_id, anchor, ``day_index`` (0: ``days`` days before the anchor, ``days``
    - 1: the day before it) and :data:`CHANNELS`, for every user-day with activity."""
    first = min(anchors) - dt.timedelta(days=days)
    # a session opened on the first day depends on the event before it: read one gap more
    margin = dt.timedelta(minutes=gap_minutes)
    log = events.filter(
        (events.event_time >= ibis.timestamp(first - margin))
        & (events.event_time < ibis.timestamp(max(anchors)))
    )
    s = F.sessioned_stretches(F.fold_stretches(log, gap_minutes), gap_minutes)
    s = s.filter(s.day >= ibis.timestamp(first))
    daily = s.group_by(["user_id", "day"]).aggregate(
        **{short: as_int64(s[f"n_{short}"].sum()) for short in EVENT_SHORT.values()},
        sessions=as_int64(s.is_sess_first.sum()),
        spend=as_int64(s.spend.sum()),
    )
    a = F.anchor_table(list(anchors))
    joined = daily.join(
        a, (daily.day >= a.anchor - ibis.interval(days=days)) & (daily.day < a.anchor)
    )
    before = engine.micros_between(a.anchor, daily.day) // _DAY_US
    return joined.select(
        daily.user_id,
        a.anchor,
        day_index=(days - before).cast("int64"),
        **{c: daily[c] for c in CHANNELS if c != "spend"},
        spend=daily.spend.cast("float64") / MONEY_SCALE,
    )


# how the book names each sequence model in a sentence
SEQUENCE_NAMES = {"GRU": "a GRU", "BiLSTM": "a bidirectional LSTM"}


def benchmarked(learners: Sequence[str]) -> list[str]:
    """The sequence models a benchmark of ``learners`` has (the ``models.learners``
    parameter; empty: every learner)."""
    return [n for n in SEQUENCE_LEARNERS if not learners or n in learners]


def wanted(learners: Sequence[str]) -> bool:
    """Whether a benchmark of ``learners`` has a sequence model, so the sequences must be
    built."""
    return bool(benchmarked(learners))


def named(models: Sequence[str]) -> str:
    """The sequence ``models`` in words: "a GRU and a bidirectional LSTM"."""
    return " and ".join(SEQUENCE_NAMES[m] for m in models)


def write_sequences(
    con,
    events: ir.Table,
    anchors: Sequence[dt.datetime],
    days: int,
    gap_minutes: float,
    out_path: str | Path,
) -> int:
    """:func:`daily_activity` written to ``out_path`` (Parquet, sorted by anchor, user and
    day, so the same log gives the same bytes); the number of active user-days."""
    expr = daily_activity(events, anchors, days, gap_minutes).order_by(
        ["anchor", "user_id", "day_index"]
    )
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    engine.write_parquet(con, expr, out_path)
    return int(pq.ParquetFile(out_path).metadata.num_rows)


@dataclass(frozen=True)
class Sequences:
    """The active user-days of :func:`daily_activity` and how many days before each anchor
    they span (the ``features.sequence_days`` they were built with)."""

    activity: pd.DataFrame
    days: int


def read_sequences(path: str | Path, days: int) -> Sequences:
    """The sequences written by :func:`write_sequences` with ``days`` days."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no daily sequences; the features chapter writes them when the "
            "benchmark has a sequence model (models.learners), so run it first"
        )
    activity = pd.read_parquet(path)
    outside = activity["day_index"].lt(0) | activity["day_index"].ge(days)
    if outside.any():
        raise ValueError(
            f"{path}: {int(outside.sum())} rows have a day_index outside 0 to {days - 1}: "
            f"it was not built with {days} days (features.sequence_days); run the features "
            "chapter again"
        )
    return Sequences(activity, days)


def daily_means(activity: pd.DataFrame, rows: pd.DataFrame, days: int) -> pd.DataFrame:
    """Mean events (all types) and sessions per row on each day before the anchor, by
    ``group``: ``rows`` holds user_id, anchor and group, one row per scored user and anchor
    (a row without activity counts as zeros). Columns group, days_before (``days`` to 1),
    events, sessions."""
    kinds = list(EVENT_SHORT.values())
    found = activity.merge(rows[["user_id", "anchor", "group"]], on=["user_id", "anchor"])
    found = found.assign(events=found[kinds].sum(axis=1))
    sums = found.groupby(["group", "day_index"])[["events", "sessions"]].sum()
    sizes = rows.groupby("group").size()
    grid = pd.MultiIndex.from_product([sizes.index, range(days)], names=["group", "day_index"])
    out = sums.reindex(grid, fill_value=0).astype("float64")
    out = out.div(sizes, axis=0, level="group").reset_index()
    out.insert(1, "days_before", days - out.pop("day_index"))
    return out


def to_tensor(active: pd.DataFrame, keys: pd.DataFrame, days: int) -> np.ndarray:
    """The sequences of ``keys`` (rows of user_id, anchor, in that order) as an array of
    shape (rows, days, channels): :data:`CHANNELS` from ``active`` (zero on days without
    activity), then :data:`WEEKDAY_CHANNELS` of each day."""
    out = np.zeros((len(keys), days, len(CHANNELS) + len(WEEKDAY_CHANNELS)), dtype="float32")
    where = keys[["user_id", "anchor"]].reset_index(drop=True).rename_axis("_row").reset_index()
    found = active.merge(where, on=["user_id", "anchor"], how="inner")
    rows, steps = found["_row"].to_numpy(), found["day_index"].to_numpy()
    out[rows, steps, : len(CHANNELS)] = found[list(CHANNELS)].to_numpy(dtype="float32")
    offsets = np.arange(days) - days  # day j is (days - j) days before the anchor
    anchor_days = pd.to_datetime(keys["anchor"]).to_numpy().astype("datetime64[D]")
    weekday = ((anchor_days[:, None] + offsets[None, :]).astype("int64") + 3) % 7  # Monday 0
    angle = 2 * np.pi * weekday / 7
    out[:, :, len(CHANNELS)] = np.sin(angle)
    out[:, :, len(CHANNELS) + 1] = np.cos(angle)
    return out
