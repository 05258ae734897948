"""A dataset already in the canonical schema, read in place (``data.canonical``).

Logs that live on a cluster (billions of events, Parquet on HDFS or object storage,
partitioned by date) are not copied through this machine: the engine validates them where
they are, counts the study window and writes only two small files, the data-quality
report and a reference (``events.ref.json``) that chapters read in place of the ingested
log. Every step is an Ibis expression, so DuckDB (a local folder) and Spark (any path
Spark reads) do the same. Nothing is cleaned: a row the canonical schema does not allow
(a missing user, an unknown event type, a negative price) stops the run with the column,
the count and an example, and the fix is to ingest the log instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from shoplog.events import engine
from shoplog.events.ingest import QualityReport, finest_unit
from shoplog.events.reading import IngestError
from shoplog.events.window import window_from_days
from shoplog.files import atomic_write_json
from shoplog.schema import (
    CANONICAL_COLUMNS,
    CANONICAL_EVENT_TYPES,
    CANONICAL_NAMES,
)

if TYPE_CHECKING:
    from shoplog.config.params import Params
    from shoplog.config.paths import ProjectPaths

# Columns a dataset may be partitioned by (a date, as Hive-style folders event_date=...):
# read_events prunes folders on them, with a day of margin, whatever zone they are in
PARTITION_COLUMNS = ("event_date", "date", "dt", "day")
ID_COLUMNS = ("product_id", "category_id", "user_id", "user_session")
READ_IN_PLACE = "canonical Parquet, read in place"


class CanonicalError(IngestError):
    """The dataset is not in the canonical schema: which column, and what to do."""


def _local(location: str) -> Path | None:
    """The local path of ``location`` (a plain path or file://), or None for a remote URL."""
    if location.startswith("file://"):
        return Path(location.removeprefix("file://"))
    return None if "://" in location else Path(location)


def _remote_needs_spark(location: str) -> CanonicalError:
    return CanonicalError(
        f"{location}: DuckDB reads local datasets here; one at a remote URL is read by "
        "Spark (engine.backend: pyspark), or copy it to a local folder."
    )


def open_dataset(con: Any, location: str) -> ir.Table:
    """The dataset at ``location`` as the engine reads it: a Parquet file, or a folder of
    them (Hive partitions such as ``event_date=2020-01-01/`` become columns)."""
    local = _local(location)
    if engine.is_spark(con):
        return con.read_parquet(location)
    if local is None:
        raise _remote_needs_spark(location)
    if not local.exists():
        raise CanonicalError(f"{local}: no such file or folder (data.source, data.canonical)")
    if local.is_dir():
        return con.read_parquet(str(local / "**" / "*.parquet"), hive_partitioning=True)
    return con.read_parquet(str(local))


# each canonical column's type
_TYPES = {name: kind for name, kind, _ in CANONICAL_COLUMNS}


def canonical_columns(table: ir.Table, location: str) -> ir.Table:
    """The canonical columns of ``table`` in their canonical types: integer ids as text,
    any number as a float price, zoned times as naive UTC (the engines run in UTC). A
    missing column or one of another kind is an error naming it."""
    schema = table.schema()
    missing = [n for n in CANONICAL_NAMES if n not in schema]
    if missing:
        raise CanonicalError(
            f"{location}: the canonical dataset has no column(s) {missing} (it has "
            f"{list(schema.names)}). Write them, or ingest the log through a mapping "
            "(data.canonical: false)."
        )
    out = {}
    for name in CANONICAL_NAMES:
        col, dtype = table[name], schema[name]
        want = _TYPES[name]
        if want == "timestamp" and dtype.is_timestamp():
            out[name] = col.cast(ibis.dtype("timestamp")) if dtype.timezone else col
        elif want == "float64" and dtype.is_numeric():
            out[name] = col.cast("float64")
        elif want == "string" and (
            dtype.is_string() or (name in ID_COLUMNS and dtype.is_integer())
        ):
            out[name] = col.cast("string")
        else:
            kind = "text (or whole numbers, for ids)" if want == "string" else want
            raise CanonicalError(
                f"{location}: column {name!r} is {dtype}, the canonical schema has {kind}. "
                "Write it in the canonical type, or ingest the log (data.canonical: false)."
            )
    return table.select(**out)


def partition_column(table: ir.Table) -> str | None:
    """The date column the dataset is partitioned by, if it has one."""
    schema = table.schema()
    for name in PARTITION_COLUMNS:
        if name in schema and (schema[name].is_date() or schema[name].is_string()):
            return name
    return None


def _in_window(table: ir.Table, start: dt.date, end: dt.date, partition: str | None) -> ir.Table:
    """The rows in [start, end); folders outside a day's margin are not read at all."""
    if partition:
        col = table[partition]
        low, high = start - dt.timedelta(days=1), end + dt.timedelta(days=1)
        if table.schema()[partition].is_string():
            table = table.filter(col >= low.isoformat(), col <= high.isoformat())
        else:
            table = table.filter(col >= low, col <= high)
    begin = dt.datetime.combine(start, dt.time())
    stop = dt.datetime.combine(end, dt.time())
    return table.filter(table.event_time >= begin, table.event_time < stop)


def read_reference(con: Any, path: str | Path) -> ir.Table:
    """The log a reference names: its canonical columns in the study window."""
    ref = json.loads(Path(path).read_text())
    raw = open_dataset(con, ref["location"])
    start = dt.date.fromisoformat(ref["study_start"])
    end = dt.date.fromisoformat(ref["study_end"])
    kept = _in_window(raw, start, end, ref.get("partition_column"))
    return canonical_columns(kept, ref["location"])


@dataclass(frozen=True)
class _Scan:
    """What one pass over the whole dataset finds: its rows, the rows the canonical schema
    does not allow (count and condition, by what is wrong), the times' resolution, users."""

    rows: int
    problems: dict[str, tuple[int, ir.BooleanValue]]
    resolution: str
    users: int


def _scan(events: ir.Table) -> _Scan:
    """Count, check and measure the dataset in one aggregate (one read of a large log)."""
    t = events
    price_bad = t.price.notnull() & (t.price.isnan() | t.price.isinf())
    checks = {
        "event_time is missing": t.event_time.isnull(),
        "event_type is missing": t.event_type.isnull(),
        "user_id is missing": t.user_id.isnull(),
        "user_session is missing": t.user_session.isnull(),
        f"event_type is not one of {', '.join(CANONICAL_EVENT_TYPES)}": (
            t.event_type.notnull() & ~t.event_type.isin(CANONICAL_EVENT_TYPES)
        ),
        "price is negative": t.price.notnull() & ~price_bad & (t.price < 0),
        "price is not a finite number": price_bad,
    }
    time = t.event_time
    # counted with FILTER, not as a sum of 0/1: DuckDB 2.0 folds isnan() of a Parquet
    # column declared non-null to false inside a sum, and would miss a NaN price.
    # The resolution is judged on the UTC times (ingestion's, on the shop's zone).
    found = t.aggregate(
        rows=t.count(),
        users=t.user_id.nunique(),
        second=((time.second() > 0) | (time.millisecond() > 0)).cast("int64").mean(),
        minute=(time.minute() > 0).cast("int64").mean(),
        hour=(time.hour() > 0).cast("int64").mean(),
        **{f"c{i}": t.count(where=c) for i, c in enumerate(checks.values())},
    ).to_pyarrow()
    row = {k: v[0].as_py() for k, v in zip(found.column_names, found.columns, strict=True)}
    return _Scan(
        rows=int(row["rows"]),
        problems={
            what: (int(row[f"c{i}"] or 0), check) for i, (what, check) in enumerate(checks.items())
        },
        resolution=finest_unit([row["second"], row["minute"], row["hour"]]),
        users=int(row["users"]),
    )


def validate(events: ir.Table, location: str) -> _Scan:
    """The dataset's scan, after checking every row is canonical (else an error with the
    count and an example row)."""
    scan = _scan(events)
    bad = {what: (n, check) for what, (n, check) in scan.problems.items() if n}
    if not bad:
        return scan
    what, (n, check) = next(iter(bad.items()))
    # an aggregate again, not a filter (DuckDB 2.0 would also filter the NaN away)
    row = ibis.struct({c: events[c] for c in events.columns}).arbitrary(where=check)
    example = events.aggregate(row=row).to_pyarrow().to_pylist()[0]["row"] or {}
    others = "; ".join(f"{w}: {c:,} rows" for w, (c, _) in list(bad.items())[1:])
    raise CanonicalError(
        f"{location}: {n:,} of {scan.rows:,} rows are not canonical ({what}), e.g. "
        f"{ {k: str(v) for k, v in example.items()} }"
        + (f"; also {others}" if others else "")
        + ". A dataset read in place is not cleaned: ingest the log instead "
        "(data.canonical: false), which drops and counts such rows."
    )


def _daily(events: ir.Table) -> list[tuple[dt.date, int, dt.datetime, dt.datetime]]:
    """Rows, first and last time of each day: one small table whatever the log's size."""
    t = events
    days = t.group_by(day=t.event_time.date()).aggregate(
        rows=t.count(), first=t.event_time.min(), last=t.event_time.max()
    )
    return [
        (r["day"], int(r["rows"]), r["first"], r["last"])
        for r in days.order_by("day").to_pyarrow().to_pylist()
    ]


def _local_files(local: Path) -> list[Path]:
    if local.is_file():
        return [local]
    return sorted(p for p in local.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def _hadoop_listing(con: Any, location: str) -> list[tuple[str, int, int]]:
    """(path, size, modification time) of every file under ``location``, listed by
    Spark's own file system (HDFS, S3A, ... as the session is configured)."""
    if not engine.is_spark(con):
        raise _remote_needs_spark(location)
    session = con._session
    root = session._jvm.org.apache.hadoop.fs.Path(location)
    listing = root.getFileSystem(session._jsc.hadoopConfiguration()).listFiles(root, True)
    entries = []
    while listing.hasNext():
        status = listing.next()
        entries.append(
            (str(status.getPath().toString()), status.getLen(), status.getModificationTime())
        )
    return sorted(entries)


def source_stamp(params: Params) -> list[Any]:
    """What tells whether the dataset changed since it was described: each file's name,
    size and modification time (a remote dataset's listed through a Spark session)."""
    location = params.data.location()
    local = _local(location)
    if local is not None:
        if not local.exists():
            raise CanonicalError(f"{local}: no such file or folder (data.source)")
        return [
            (path.as_posix(), path.stat().st_size, path.stat().st_mtime_ns)
            for path in _local_files(local)
        ]
    return list(_hadoop_listing(engine.connect(params.engine), location))


def listing_fingerprint(con: Any, location: str) -> str:
    """SHA-256 of the dataset: its files' names and bytes when local; their names, sizes
    and modification times (from Spark's file system) when remote."""
    digest = hashlib.sha256()
    local = _local(location)
    if local is None:
        for entry in _hadoop_listing(con, location):
            digest.update(repr(entry).encode())
        return digest.hexdigest()
    for path in _local_files(local):
        digest.update(path.relative_to(local).as_posix().encode() if local.is_dir() else b"")
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


NOTE = (
    "The log is a canonical dataset read in place (data.canonical): its rows were "
    "validated, not cleaned. Duplicates were not looked for, and its own session ids are "
    "kept; only rows outside the study window are left out."
)


def describe(params: Params, paths: ProjectPaths, con: Any = None) -> QualityReport:
    """Validate the canonical dataset ``data.source`` in the configured engine, choose the
    study window as ingestion would, and write the data-quality report and the reference
    chapters read in place of the log (no copy of the log is made)."""
    location = params.data.location()
    own = con is None
    con = con or engine.connect(params.engine)
    try:
        raw = open_dataset(con, location)
        events = canonical_columns(raw, location)
        scan = validate(events, location)
        rows = scan.rows
        if rows == 0:
            raise CanonicalError(f"{location}: the canonical dataset has no rows.")
        days = _daily(events)
        window = window_from_days(days, params.study, scan.resolution)
        before = sum(n for day, n, _, _ in days if day < window.start)
        after = sum(n for day, n, _, _ in days if day >= window.end)
        partition = partition_column(raw)
        kept = canonical_columns(_in_window(raw, window.start, window.end, partition), location)
        if rows - before - after == 0:
            raise CanonicalError(
                f"{location}: no events in the study window [{window.start}, {window.end}); "
                f"the dataset runs from {days[0][2]} to {days[-1][3]}. Set "
                "study.start_date/end_date inside its dates, or to auto."
            )
        summary = (
            kept.aggregate(
                users=kept.user_id.nunique(),
                first=kept.event_time.min(),
                last=kept.event_time.max(),
            )
            .to_pyarrow()
            .to_pylist()[0]
        )
        sessions = kept.select("user_id", "user_session").distinct().count().to_pyarrow()
        fingerprint = listing_fingerprint(con, location)
    finally:
        if own:
            con.disconnect()
    drops = {"before_study_window": before, "after_study_window": after}
    report = QualityReport(
        source=params.data.label if "://" in location else paths.display(Path(location)),
        source_format=READ_IN_PLACE,
        rows_read=rows,
        drops=drops,
        rows_kept=rows - before - after,
        users=int(summary["users"]),
        sessions=int(sessions.as_py()),
        sessions_derived=False,
        first_event=str(summary["first"]),
        last_event=str(summary["last"]),
        study_start=str(window.start),
        study_end=str(window.end),
        study_auto=window.auto,
        set_aside=window.set_aside,
        partial_days=window.partial,
        notes=[NOTE],
        fingerprint=fingerprint,
        users_lost=scan.users - int(summary["users"]),
        duplicates_rule="keep",
        time_resolution=scan.resolution,
        read_in_place=True,
    )
    report.check_balance()
    paths.processed_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        paths.events_ref_path,
        {
            "location": location,
            "partition_column": partition,
            "study_start": str(window.start),
            "study_end": str(window.end),
            "fingerprint": fingerprint,
        },
        indent=2,
        sort_keys=True,
    )
    paths.events_path.unlink(missing_ok=True)
    report.to_json(paths.quality_path)
    return report
