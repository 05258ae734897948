"""The modelling table: one row per user x anchor with features, labels and split.

Built in the engine from the canonical log. Intermediate tables (sessioned stretches, pieces
of sessions when wanted, per user-day running totals or per-period totals, distinct items) are
staged once as engine temp tables, each holding only what the wanted features read; anchors
are then processed in batches, so peak memory follows the batch, not the whole table, and
each batch goes straight to Parquet when a path is given.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pyarrow.parquet as pq

from shoplog.config.params import Params
from shoplog.dataset import contract as C
from shoplog.dataset import features as F
from shoplog.dataset.labels import LABELS, compute_labels
from shoplog.dataset.splits import Timeline, timeline_for_params
from shoplog.events import engine

if TYPE_CHECKING:
    import pandas as pd
    from ibis.backends.duckdb import Backend as DuckDBBackend


@contextmanager
def staged(con: DuckDBBackend) -> Iterator:
    """A function that materialises an expression in the engine (a temp table, or Spark's
    cache); all dropped on exit."""
    drops: list = []

    def stage(expr: ir.Table, label: str) -> ir.Table:
        table, drop = engine.stage(con, expr, f"_shoplog_{label}_{uuid.uuid4().hex[:8]}")
        drops.append(drop)
        return table

    try:
        yield stage
    finally:
        for drop in reversed(drops):
            drop()


def log_span(events: ir.Table) -> tuple[dt.datetime, dt.datetime]:
    """First and last event time of the log."""
    import pandas as pd

    row = events.aggregate(first=events.event_time.min(), last=events.event_time.max()).execute()
    return pd.Timestamp(row["first"].iloc[0]).to_pydatetime(), pd.Timestamp(
        row["last"].iloc[0]
    ).to_pydatetime()


def timeline_for(events: ir.Table, params: Params) -> Timeline:
    """The anchors and splits the parameters give on this log."""
    first, last = log_span(events)
    return timeline_for_params(first, last, params)


@dataclass(frozen=True)
class Staged:
    """The engine tables every batch of anchors reads (``pieces`` only when session
    statistics are wanted)."""

    stretches: ir.Table
    pieces: ir.Table | None
    days: ir.Table
    items: ir.Table | None
    kinds: tuple[str, ...]
    # the window edges of the items' periods (None: the items are kept per day)
    item_edges: list[dt.datetime] | None = None
    # every user's integer key (the masks are kept by user id)
    users: ir.Table | None = None
    # ``days`` holds the totals per period of :func:`features.period_totals`, not per day
    periods: bool = False


def stage_inputs(
    stage,
    events: ir.Table,
    users: ir.Table,
    params: Params,
    anchors: Sequence[dt.datetime],
    kinds: tuple[str, ...] = tuple(F.BREADTH_KINDS),
    names: list[str] | None = None,
    labels: bool = True,
) -> Staged:
    """Sessioned stretches, pieces, running totals and distinct items of ``kinds``, each
    staged once, with ``users``' integer keys in place of their ids.

    Rows are folded before they are keyed (a join on a fraction of the rows). Daily running
    totals start where the first anchor's longest window does and hold only the totals the
    features ``names`` (all when None) are made from; pieces are staged only when those
    features include session statistics, and whole-history totals only as far as those
    features and the labels read them.
    """
    gap = params.sessions.gap_minutes
    running = F.history_inputs(F.history_names(params.features, names))
    if labels:
        running.add("last_purchase")  # repurchase churn looks back at the last purchase
    pieces_wanted = C.needs_session_pieces(params.features, names)
    lookback = params.anchors.lookback_days
    sums = C.needed_sums(params.features, lookback, names)
    totals = {total for total, _, _ in sums.values()}
    totals |= {F.RUNNING_SUMS[r] for r in running if r in F.RUNNING_SUMS}
    # fold and number only what the totals, pieces and labels read
    columns = F.stretch_columns(totals, running, pieces_wanted, labels)
    folded = keyed_events(F.fold_stretches(events, gap, columns), users)
    stretches = stage(F.sessioned_stretches(folded, gap, columns), "stretches")
    pieces = stage(F.make_pieces(stretches), "pieces") if pieces_wanted else None
    # windowed sums need only their reach; the days before it are folded into one row
    since = min(anchors) - dt.timedelta(days=C.reach_days(params.features, lookback))
    edges = F.period_edges(anchors, {o for _, near, far in sums.values() for o in (near, far)})
    if edges is None:
        daily = stage(F.day_totals(stretches, since, max(anchors), totals, running), "days")
    else:  # a few anchors: totals per period between their windows' edges
        daily = stage(F.period_totals(stretches, edges, since, totals, running), "periods")
    items, item_edges = None, None
    if kinds:
        days = params.features.distinct_window_days
        item_edges = F.item_edges(anchors, days)
        if item_edges is not None:  # one row per item, with a bit per period it was touched in
            # kept by user id: the counts per user and anchor are keyed instead, fewer rows
            items = stage(F.item_masks(events, item_edges, kinds), "items")
        else:  # too many periods for a mask: one row per item and day
            distinct = F.item_days(events, anchors, days, kinds)
            items = stage(F.next_item_day(keyed_events(distinct, users)), "items")
    return Staged(stretches, pieces, daily, items, kinds, item_edges, users, edges is not None)


def user_keys(events: ir.Table) -> ir.Table:
    """Every user id with a dense integer key in id order.

    Ids are text (19-digit ids must stay exact); grouping, sorting and joining millions
    of rows on an integer is about a third faster, and ordering by the key is ordering
    by the id.
    """
    users = events.select("user_id").distinct()
    return users.mutate(_key=ibis.row_number().over(order_by="user_id"))


def keyed_events(events: ir.Table, users: ir.Table) -> ir.Table:
    """``events`` (or any rows with ``user_id``) with the user's integer key as ``user_id``."""
    joined = events.join(users, "user_id")
    return joined.mutate(user_id=joined._key).drop("_key")


def batch_table(
    stage,
    inputs: Staged,
    anchors: Sequence[dt.datetime],
    roles: Sequence[str],
    params: Params,
    observed_end: dt.datetime,
    names: list[str] | None = None,
    labels: bool = True,
) -> ir.Table:
    """Features (all or ``names``), labels and split for the given anchors.

    Each part is materialised with ``stage`` before the next reads it: DuckDB runs the
    parts one at a time far faster than as one nested query (about 2x on 10M events).
    """
    just_anchors = stage(F.anchor_table(list(anchors)), "anchors")
    settings = params.features
    windowed = stage(
        F.windowed_features(
            inputs.days,
            inputs.pieces,
            just_anchors,
            settings,
            params.anchors.lookback_days,
            names=names,
            carry=["last_purchase"] if labels else [],
            periods=inputs.periods,
        ),
        "windowed",
    )
    breadth = None
    if inputs.items is not None:
        breadth = F.breadth_features(
            inputs.items, anchors, settings.distinct_window_days, inputs.kinds, inputs.item_edges
        )
        if inputs.item_edges is not None:
            breadth = keyed_events(breadth, inputs.users)
        breadth = stage(breadth, "breadth")
    lab = None
    if labels:
        lab = stage(
            compute_labels(
                inputs.stretches,
                windowed,
                just_anchors,
                horizon_days=params.anchors.horizon_days,
                repurchase_gap_days=params.anchors.repurchase_gap_days,
                observed_end=observed_end,
            ),
            "labels",
        )
    # not staged: the caller's query joins the ids, sorts and writes this in one pass
    table = F.finish_features(windowed, breadth, settings, names=names)
    if lab is not None:
        joined = table.join(lab, ["user_id", "anchor"], how="left")
        table = joined.select(*[table[c] for c in table.columns], *[lab[c] for c in LABELS])
    return table.mutate(
        split=table.anchor.cases(
            *[(ibis.timestamp(a), r) for a, r in zip(anchors, roles, strict=True)]
        )
    )


# Spark hands each batch's result to this process in one piece. At 10M events (456,621
# users) 12 anchors at once (2.3M rows) exhausted an 8 GB heap, 3 anchors did not: a batch
# holds as many anchors as keep users x anchors, a bound on its rows, within this budget.
SPARK_BATCH_PAIRS = 1_400_000


def spark_batch(n_users: int, n_anchors: int) -> int:
    """Anchors per batch on Spark: as many as keep ``n_users`` x anchors within
    :data:`SPARK_BATCH_PAIRS`; at least one. A small log runs in one batch: each batch is
    several Spark jobs (the CI log's 12 anchors took 28 s in batches of 3, 11 s in one)."""
    return max(1, min(n_anchors, SPARK_BATCH_PAIRS // max(n_users, 1)))


def reach_end(anchors: Sequence[dt.datetime], horizon_days: int, labels: bool) -> dt.datetime:
    """The first instant no feature or label of ``anchors`` reads: features end at their
    anchor, labels ``horizon_days`` later (anchors are midnights, horizons whole days)."""
    return max(anchors) + dt.timedelta(days=horizon_days if labels else 0)


def build_table(
    con: DuckDBBackend,
    events: ir.Table,
    anchors: Sequence[dt.datetime],
    roles: Sequence[str],
    params: Params,
    observed_end: dt.datetime,
    *,
    out_path: str | Path | None = None,
    batch_anchors: int | None = None,
    names: list[str] | None = None,
    labels: bool = True,
) -> pd.DataFrame | int:
    """Features and labels for ``anchors``: a DataFrame, or the row count written to ``out_path``.

    ``batch_anchors`` anchors are computed at a time (when None: all at once on DuckDB,
    :func:`spark_batch` on Spark); rows come sorted by anchor and user id.
    """
    # events from the end of the anchors' reach on are never read: leave them unstaged
    events = events.filter(
        events.event_time < ibis.timestamp(reach_end(anchors, params.anchors.horizon_days, labels))
    )
    kinds = tuple(
        k for k in F.BREADTH_KINDS if names is None or any(n.startswith(k + "_") for n in names)
    )
    frames: list[pd.DataFrame] = []
    parts: list[Path] = []
    with staged(con) as stage:
        users = stage(user_keys(events), "users")
        batch = batch_anchors or len(anchors)
        if not batch_anchors and engine.is_spark(con):
            batch = spark_batch(int(users.count().execute()), len(anchors))
        inputs = stage_inputs(
            stage, events, users, params, anchors, kinds, names=names, labels=labels
        )
        pairs = list(zip(anchors, roles, strict=True))
        for i, start in enumerate(range(0, len(pairs), batch)):
            chunk = pairs[start : start + batch]
            with staged(con) as batch_stage:  # this batch's parts, dropped when it is written
                keyed = batch_table(
                    batch_stage,
                    inputs,
                    [a for a, _ in chunk],
                    [r for _, r in chunk],
                    params,
                    observed_end,
                    names=names,
                    labels=labels,
                )
                named = keyed.join(users, keyed.user_id == users._key).select(
                    users.user_id, users._key, *[keyed[c] for c in keyed.columns if c != "user_id"]
                )
                expr = named.order_by(["anchor", "_key"]).drop("_key")
                if out_path is None:
                    frames.append(con.execute(expr))
                else:
                    part = Path(f"{out_path}.part{i:03d}")
                    engine.write_parquet(con, expr, part)
                    parts.append(part)
    if out_path is None:
        import pandas as pd  # only for a frame: a written table never loads pandas

        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if "anchor" in df:  # Spark hands back nanoseconds; the log's unit is microseconds
            df["anchor"] = df["anchor"].astype("datetime64[us]")
        return df.astype({"split": "string"}) if "split" in df else df
    return _concat_parts(parts, Path(out_path))


def _concat_parts(parts: list[Path], out_path: Path) -> int:
    """Stream part files into one Parquet file in order (row group by row group)."""
    if len(parts) == 1:  # one batch: the part is the file
        parts[0].replace(out_path)
        return pq.ParquetFile(out_path).metadata.num_rows
    rows = 0
    tmp = out_path.with_name(out_path.name + ".tmp")
    writer = None
    try:
        for part in parts:
            pf = pq.ParquetFile(part)
            for g in range(pf.num_row_groups):
                tbl = pf.read_row_group(g)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, tbl.schema, compression="zstd")
                writer.write_table(tbl)
                rows += tbl.num_rows
    finally:
        if writer is not None:
            writer.close()
        for part in parts:
            part.unlink(missing_ok=True)
    tmp.replace(out_path)
    return rows


def build_dataset(
    con: DuckDBBackend,
    events: ir.Table,
    params: Params,
    out_path: str | Path,
    timeline_path: str | Path,
    batch_anchors: int | None = None,
) -> Timeline:
    """The modelling table for the parameters' timeline, written to ``out_path`` (Parquet)."""
    timeline = timeline_for(events, params)
    anchors = timeline.scored
    roles = [r for r in timeline.roles if r != "embargo"]
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    build_table(
        con,
        events,
        anchors,
        roles,
        params,
        timeline.observed_end,
        out_path=out_path,
        batch_anchors=batch_anchors,
    )
    timeline.to_json(timeline_path)
    return timeline


def feature_columns(params: Params) -> list[str]:
    """The contract's feature names for these parameters."""
    return [s.name for s in C.feature_contract(params.features)]


__all__ = ["LABELS", "build_dataset", "build_table", "feature_columns", "timeline_for"]
