"""Exploratory summaries computed in the engine; each returns a small pandas table."""

from __future__ import annotations

import ibis.expr.types as ir
import pandas as pd

from shoplog.ingest import CANONICAL_COLUMNS
from shoplog.params import CANONICAL_EVENT_TYPES


def overview(events: ir.Table) -> dict[str, object]:
    """Headline counts of the canonical log: events, users, sessions, first and last event."""
    row = (
        events.aggregate(
            events=events.count(),
            users=events.user_id.nunique(),
            sessions=events[["user_id", "user_session"]].distinct().count().as_scalar(),
            first_event=events.event_time.min(),
            last_event=events.event_time.max(),
            products=events.product_id.nunique(),
        )
        .to_pandas()
        .iloc[0]
    )
    out = row.to_dict()
    span = pd.Timestamp(out["last_event"]) - pd.Timestamp(out["first_event"])
    out["span_days"] = span.total_seconds() / 86400
    return out


def events_by_type(events: ir.Table) -> pd.DataFrame:
    """Events, users and share per event type, in funnel order."""
    df = (
        events.group_by("event_type")
        .aggregate(events=events.count(), users=events.user_id.nunique())
        .to_pandas()
    )
    df["share"] = df["events"] / df["events"].sum()
    order = {t: i for i, t in enumerate(CANONICAL_EVENT_TYPES)}
    return df.sort_values("event_type", key=lambda s: s.map(order)).reset_index(drop=True)


def activity_over_time(events: ir.Table, unit: str = "D") -> pd.DataFrame:
    """Events per period and type (``unit`` "D" for days, "h" for hours), zero-filled."""
    period = events.event_time.truncate(unit).name("period")
    df = events.group_by([period, events.event_type]).aggregate(events=events.count()).to_pandas()
    wide = df.pivot_table(
        index="period", columns="event_type", values="events", fill_value=0, aggfunc="sum"
    )
    full = pd.date_range(wide.index.min(), wide.index.max(), freq=unit)
    wide = wide.reindex(full, fill_value=0)
    wide.index.name = "period"
    cols = [t for t in CANONICAL_EVENT_TYPES if t in wide.columns]
    return wide[cols].astype("int64")


def column_profile(events: ir.Table) -> pd.DataFrame:
    """Per canonical column: type, meaning, missing values and distinct values."""
    aggs = {}
    for name, _, _ in CANONICAL_COLUMNS:
        aggs[f"{name}__missing"] = events[name].isnull().sum()
        aggs[f"{name}__distinct"] = events[name].nunique()
    row = events.aggregate(total=events.count(), **aggs).to_pandas().iloc[0]
    total = int(row["total"])
    records = []
    for name, dtype, meaning in CANONICAL_COLUMNS:
        missing = int(row[f"{name}__missing"])
        records.append(
            {
                "column": name,
                "type": dtype,
                "meaning": meaning,
                "missing": missing,
                "missing_share": missing / total if total else 0.0,
                "distinct": int(row[f"{name}__distinct"]),
            }
        )
    return pd.DataFrame.from_records(records)


def choose_time_unit(span_days: float) -> str:
    """Hours for logs shorter than three days, days otherwise."""
    return "h" if span_days < 3 else "D"
