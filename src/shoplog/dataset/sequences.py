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

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from shoplog.dataset import features as F
from shoplog.events.engine import MONEY_SCALE
from shoplog.schema import EVENT_SHORT

# per day: events of each type, sessions opened, spend (in the log's currency)
CHANNELS = (*EVENT_SHORT.values(), "sessions", "spend")
# the day-of-week encoding added by to_tensor: a point on the unit circle
WEEKDAY_CHANNELS = ("weekday_sin", "weekday_cos")


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
        **{short: s[f"n_{short}"].sum().cast("int64") for short in EVENT_SHORT.values()},
        sessions=s.is_sess_first.sum().cast("int64"),
        spend=s.spend.sum().cast("int64"),
    )
    a = F.anchor_table(list(anchors))
    joined = daily.join(
        a, (daily.day >= a.anchor - ibis.interval(days=days)) & (daily.day < a.anchor)
    )
    before = a.anchor.delta(daily.day, unit="day")
    return joined.select(
        daily.user_id,
        a.anchor,
        day_index=(days - before).cast("int64"),
        **{c: daily[c] for c in CHANNELS if c != "spend"},
        spend=daily.spend.cast("float64") / MONEY_SCALE,
    )


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
