"""Ingestion: any event log -> the canonical ``events.parquet``, validated, drops counted.

The work happens in the engine (DuckDB through Ibis), so a multi-GB CSV never
has to fit in pandas. The raw file is only read. Problems that mean the mapping
is wrong (a missing column, times that do not parse, unknown event names,
negative prices, an empty file) stop with an :class:`IngestError` naming the
file, the column and the fix. Rows that are legitimately unusable (malformed
lines, rows outside the study window, exact duplicates, events mapped to
``drop``, NaN or infinite prices) are dropped and counted by reason in the
data-quality report, with the users lost entirely, the times' resolution and zone.

Size: the report, its sentences and the drop steps share the staged table's columns; the
reading and the column mapping are already apart. Reading the file is
:mod:`shoplog.events.reading`; turning its columns into the
canonical ones is :mod:`shoplog.events.columns`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from shoplog.config.params import Params
from shoplog.events import synthetic
from shoplog.events.columns import (
    epoch_unit,
    refuse_inexact_ids,
    source_columns,
    staged_select,
    validate,
)
from shoplog.events.engine import connect, run_sql, sql_quote
from shoplog.events.reading import (
    IngestError,
    column_types,
    column_types_of,
    count,
    detect_format,
    malformed_examples,
    stage_raw,
)
from shoplog.events.sessions import derive_sessions
from shoplog.events.window import study_window
from shoplog.files import CorruptFileError, atomic_write_json, file_sha256, read_json
from shoplog.schema import CANONICAL_NAMES, DROP_REASONS, TIME_RESOLUTIONS

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as DuckDBBackend

    from shoplog.config.paths import ProjectPaths


@dataclass
class QualityReport:
    """What ingestion read, dropped (by reason) and kept; written as ``quality.json``."""

    source: str
    source_format: str
    rows_read: int
    drops: dict[str, int]
    rows_kept: int
    users: int
    sessions: int
    sessions_derived: bool
    first_event: str | None
    last_event: str | None
    study_start: str
    study_end: str
    malformed_examples: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # SHA-256 of the processed log's bytes: two runs on the same data show the same one
    fingerprint: str = ""
    # users whose every row was dropped (they appear nowhere in the processed log)
    users_lost: int = 0
    # how duplicates were judged ("drop": every column of the file; "drop_mapped": the
    # mapped columns; "keep"), and the kept rows that repeat another in the mapped columns
    duplicates_rule: str = "drop"
    duplicates_mapped_kept: int = 0
    # the finest unit the times vary in (second, minute, hour, day), and the zone naive
    # times were read in, with how many times had no zone of their own
    time_resolution: str = "second"
    naive_timezone: str = "UTC"
    times_without_zone: int = 0
    time_unit: str | None = None
    # the window was chosen from the log (study dates 'auto'): stray days set aside and
    # partial first or last days cut, each {"day", "rows"}
    study_auto: bool = False
    set_aside: list[dict] = field(default_factory=list)
    partial_days: list[dict] = field(default_factory=list)
    # a canonical dataset validated and read in place (data.canonical), not ingested
    read_in_place: bool = False

    def to_json(self, path: Path) -> None:
        atomic_write_json(path, asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, path: Path) -> QualityReport:
        """The report ingestion wrote (:class:`CorruptFileError` when it is not readable)."""
        raw = read_json(path, "the data-quality report")
        try:
            return cls(**raw)
        except TypeError as exc:
            raise CorruptFileError(Path(path), "the data-quality report", str(exc)) from exc

    def check_balance(self) -> None:
        """Every row read is either kept or dropped for a reason (no silent loss)."""
        if self.rows_read != self.rows_kept + sum(self.drops.values()):
            raise AssertionError(
                f"rows read {self.rows_read} != kept {self.rows_kept} + dropped "
                f"{sum(self.drops.values())}"
            )


def quality_table(report: QualityReport) -> pd.DataFrame:
    """Rows read, dropped by reason, kept: the book's data-quality table (rows add up)."""
    rows = [("Rows read", report.rows_read)]
    labels = dict(DROP_REASONS)
    if report.read_in_place:
        # nothing but the study window leaves out rows of a dataset read in place
        labels = {k: v for k, v in labels.items() if k.endswith("_study_window")}
    if report.duplicates_rule == "drop_mapped":
        labels["duplicate_row"] = "Duplicate of another row in the mapped columns"
    rows += [(f"Dropped: {label}", report.drops.get(k, 0)) for k, label in labels.items()]
    rows.append(("Rows kept", report.rows_kept))
    table = pd.DataFrame(rows, columns=["Step", "Rows"])
    table["Share of rows read"] = table["Rows"] / report.rows_read if report.rows_read else 0.0
    return table


EPOCH_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
RESOLUTION_MEANING = {
    "second": "Times are recorded to the second.",
    "minute": "Times are recorded to the minute: events within one minute have no order.",
    "hour": (
        "Times are recorded to the hour only: the order of events within an hour and the "
        "time between them are not known."
    ),
    "day": (
        "Times are recorded to the day only (every event at midnight): the hour of an event "
        "and the order of events within a day are not known."
    ),
}


def source_sentence(report: QualityReport) -> str:
    """Where the log was read from, and how it became canonical (a user's file)."""
    if report.read_in_place:
        return (
            f"The log is the canonical dataset `{report.source}`, validated and read in place "
            "(data.canonical): no column mapping, and no copy of it is made."
        )
    return (
        f"The log is read from `{report.source}` ({report.source_format.upper()}), "
        "mapped to the canonical schema below by the parameters' column mapping."
    )


def window_facts(report: QualityReport) -> list[str]:
    """How the study window was set: chosen from the log (with the days cut or set aside)
    or given in the profile."""
    last = dt.date.fromisoformat(report.study_end) - dt.timedelta(days=1)
    days = (last - dt.date.fromisoformat(report.study_start)).days + 1
    span = f"{report.study_start} to {last} ({days:,} day{'s' if days != 1 else ''})"
    if not report.study_auto:
        return [f"The study window, {span}, is set in the profile (study.start_date, end_date)."]
    facts = [f"The study window, {span}, was chosen from the log: its first to its last full day."]
    for day in report.partial_days:
        facts.append(
            f"{day['day']} holds only part of a day ({day['rows']:,} rows) and is left out, "
            "so that no daily comparison reads a partial day as a drop in activity."
        )
    if report.set_aside:
        rows = sum(d["rows"] for d in report.set_aside)
        named = ", ".join(d["day"] for d in report.set_aside[:3])
        more = f" and {len(report.set_aside) - 3} more" if len(report.set_aside) > 3 else ""
        facts.append(
            f"{rows:,} row(s) on {len(report.set_aside)} day(s) far from the rest of the log "
            f"({named}{more}) were set aside as stray dates; set study.start_date and end_date "
            "to include them."
        )
    return facts


def quality_facts(report: QualityReport) -> list[str]:
    """What the log records and what ingestion assumed, as sentences for the Data page:
    the study window, the times' resolution and zone, users lost entirely, duplicates."""
    facts = [*window_facts(report), RESOLUTION_MEANING[report.time_resolution]]
    if report.read_in_place:
        facts.append("Times are in UTC, as the canonical schema stores them.")
    elif report.time_unit:
        facts.append(f"Times are unix epoch numbers in {EPOCH_NAMES[report.time_unit]} (UTC).")
    elif report.times_without_zone:
        zone = report.naive_timezone
        converted = "" if zone.upper() in ("UTC", "ETC/UTC") else ", converted to UTC"
        in_window = report.rows_kept + report.drops.get("duplicate_row", 0)
        facts.append(
            f"{report.times_without_zone:,} of the {in_window:,} times in the study window "
            f"carry no zone and were read as {zone} time{converted} (data.mapping.timezone)."
        )
    else:
        facts.append("Every time carries its own zone; all are stored in UTC.")
    if report.users_lost:
        facts.append(
            f"{report.users_lost:,} user(s) appear only in dropped rows, so they are not in "
            "the processed log."
        )
    elif sum(report.drops.values()):
        facts.append("No user was lost: every user id read has at least one kept event.")
    if report.duplicates_rule == "drop" and report.duplicates_mapped_kept:
        facts.append(
            f"{report.duplicates_mapped_kept:,} kept row(s) repeat another in every mapped "
            "column but differ in another column of the file, so they are not duplicates "
            "(data.mapping.duplicates: drop_mapped would drop them)."
        )
    return facts


def synthetic_raw_path(params: Params, paths: ProjectPaths) -> Path:
    """Where the synthetic log for these parameters lives; the name carries the generator's hash."""
    syn = params.data.synthetic
    code = hashlib.sha256(inspect.getsource(synthetic).encode()).hexdigest()[:10]
    users = f"-users{syn.n_users}" if syn.n_users else ""
    return paths.raw_dir / f"synthetic-{syn.preset}-seed{syn.seed}{users}-{code}.parquet"


def resolve_source(params: Params, paths: ProjectPaths) -> Path:
    """The raw file to read: the user's file, or the synthetic log (generated once if absent)."""
    if params.data.is_synthetic:
        raw = synthetic_raw_path(params, paths)
        if not raw.exists():
            syn = params.data.synthetic
            synthetic.generate_events(raw, preset=syn.preset, seed=syn.seed, n_users=syn.n_users)
        return raw
    path = params.data.source_path()
    if not path.exists():
        raise IngestError(
            f"{path}: no such file. Set data.source to a CSV, CSV.gz, Parquet or Excel file "
            "(relative paths are taken from the project folder)."
        )
    return path


# share of events that must vary in a unit for the log to count as that fine
RESOLUTION_SHARE = 0.01


def time_resolution(con: DuckDBBackend, table: str, zone: str = "UTC", where: str = "true") -> str:
    """The finest unit the log's times vary in: ``second``, ``minute``, ``hour`` or ``day``.

    Judged on the times as the shop wrote them (in ``zone``), not on UTC: dates read in
    Berlin are midnights there, 22:00 or 23:00 in UTC. A unit counts when more than 1% of
    events have a non-zero part in it, so a handful of stray precise times do not make a
    date-only log look fine-grained."""
    t = f"timezone({sql_quote(zone)}, timezone('UTC', event_time))"
    shares = run_sql(
        con,
        f"SELECT avg((second({t}) > 0 OR microsecond({t}) % 1000000 > 0)::INT), "
        f"avg((minute({t}) > 0)::INT), avg((hour({t}) > 0)::INT) FROM {table} WHERE {where}",
    )[0]
    return finest_unit(shares)


def finest_unit(shares: Sequence[float | None]) -> str:
    """The resolution from the shares of times with a non-zero second (or fraction), minute
    and hour: the finest unit more than :data:`RESOLUTION_SHARE` of them vary in."""
    for unit, share in zip(TIME_RESOLUTIONS[:-1], shares, strict=True):
        if share is not None and share > RESOLUTION_SHARE:
            return unit
    return TIME_RESOLUTIONS[-1]


def _net_cancellations(con: DuckDBBackend, complete: str) -> int:
    """Flag (``_cancelled``) each purchase line that a later line of the same customer,
    product and negated quantity cancels; returns the cancellations left unmatched.

    Each cancellation takes the latest purchase at or before it, one for one; which of
    several identical lines it takes does not change the log."""
    run_sql(
        con,
        f"""CREATE OR REPLACE TEMP TABLE netted AS
        WITH c AS (
            SELECT user_id, product_id, -_quantity AS q, count(*) AS n, max(event_time) AS last
            FROM staged WHERE {complete} AND _quantity < 0 GROUP BY ALL
        ), s AS (
            SELECT x.*, c.n AS _n FROM (SELECT *, ({complete}) AS _ok FROM staged) AS x
            LEFT JOIN c ON x._ok AND x.event_type = 'purchase' AND x.user_id = c.user_id
            AND x.product_id = c.product_id AND x._quantity = c.q AND x.event_time <= c.last
        )
        SELECT * EXCLUDE (_n, _ok, _cancelled), coalesce(row_number() OVER (
            PARTITION BY user_id, product_id, _quantity, _n IS NULL
            ORDER BY event_time DESC, user_session DESC NULLS LAST, price DESC NULLS LAST,
            _time_raw DESC) <= _n, false) AS _cancelled
        FROM s""",
    )
    run_sql(con, "DROP TABLE staged")
    run_sql(con, "ALTER TABLE netted RENAME TO staged")
    cancellations = count(con, f"SELECT count(*) FROM staged WHERE {complete} AND _quantity < 0")
    return cancellations - count(con, "SELECT count(*) FROM staged WHERE _cancelled")


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def ingest(params: Params, paths: ProjectPaths, con: DuckDBBackend | None = None) -> QualityReport:
    """Read the configured log, validate it and write ``events.parquet`` and ``quality.json``.

    A local file is always ingested by DuckDB on this machine, whatever ``engine.backend``
    scans the canonical log afterwards."""
    con = con or connect(params.engine.model_copy(update={"backend": "duckdb"}))
    mapping = params.data.mapping
    path = resolve_source(params, paths)
    fmt = detect_format(path, mapping)
    malformed = stage_raw(con, path, fmt, mapping)
    types = column_types(con)
    parsed_rows = count(con, "SELECT count(*) FROM raw")
    if parsed_rows == 0:
        raise IngestError(
            f"{path}: no data rows"
            + (
                f" ({malformed} malformed line(s), e.g. {malformed_examples(con)})"
                if malformed
                else ""
            )
            + ". Check the file and data.mapping (delimiter, header)."
        )
    found = source_columns(mapping, types, path)
    if mapping.quantity and mapping.quantity not in types:
        raise IngestError(
            f"{path}: column {mapping.quantity!r} (data.mapping.quantity) is not in the file. "
            f"The file has columns {list(types)}; fix data.mapping.quantity."
        )
    if mapping.user_from_session and "user_session" not in found:
        raise IngestError(
            f"{path}: data.mapping.user_from_session needs a session column, and the file has "
            f"none (columns {list(types)}); map user_session in data.mapping.columns."
        )
    refuse_inexact_ids(con, found, types, path)
    unit = epoch_unit(con, found["event_time"], types[found["event_time"]], mapping, path)
    run_sql(
        con, "CREATE OR REPLACE TEMP TABLE staged AS " + staged_select(found, types, mapping, unit)
    )
    validate(con, found, mapping, path)

    drops = dict.fromkeys(DROP_REASONS, 0)
    drops["malformed_line"] = malformed
    drops["event_type_dropped"] = count(
        con, "SELECT count(*) FROM staged WHERE event_type = 'drop'"
    )
    incomplete = "event_time IS NULL OR user_id IS NULL OR event_type IS NULL"
    drops["incomplete_row"] = count(con, f"SELECT count(*) FROM staged WHERE {incomplete}")
    complete = f"event_type <> 'drop' AND NOT ({incomplete})"
    # NaN or infinite prices (the reader takes 'nan' and 'inf' for numbers)
    bad_price = "_unit_price IS NOT NULL AND NOT isfinite(_unit_price)"
    drops["invalid_price"] = count(
        con, f"SELECT count(*) FROM staged WHERE {complete} AND {bad_price}"
    )
    complete += f" AND NOT ({bad_price})"
    # returns and cancellations (quantity <= 0) are not events of the shop's funnel; a
    # cancellation also removes the purchase line it cancels, where that can be found
    returns = "coalesce(_quantity, 1) <= 0"
    drops["return_line"] = count(con, f"SELECT count(*) FROM staged WHERE {complete} AND {returns}")
    unmatched = _net_cancellations(con, complete) if mapping.quantity else 0
    drops["cancelled_purchase"] = count(
        con, f"SELECT count(*) FROM staged WHERE {complete} AND _cancelled"
    )
    usable = f"{complete} AND NOT ({returns}) AND NOT _cancelled"
    resolution = time_resolution(con, "staged", mapping.timezone, where=usable)
    window = study_window(con, "staged", usable, params.study, resolution)
    start = dt.datetime.combine(window.start, dt.time())
    end = dt.datetime.combine(window.end, dt.time())
    drops["before_study_window"] = count(
        con, f"SELECT count(*) FROM staged WHERE {usable} AND event_time < TIMESTAMP '{start}'"
    )
    drops["after_study_window"] = count(
        con, f"SELECT count(*) FROM staged WHERE {usable} AND event_time >= TIMESTAMP '{end}'"
    )
    in_window = f"{usable} AND event_time >= TIMESTAMP '{start}' AND event_time < TIMESTAMP '{end}'"
    canonical = ", ".join(CANONICAL_NAMES)
    source = [c for c in column_types_of(con, "staged") if c.startswith("_src")]
    # a duplicate repeats another row in every column of the file (the time as written
    # too), unless the rule says to judge on the mapped columns only
    whole = ", ".join([canonical, "_time_raw", *source])
    run_sql(
        con,
        f"CREATE OR REPLACE TEMP TABLE windowed AS SELECT {whole} FROM staged WHERE {in_window}",
    )
    n_window = count(con, "SELECT count(*) FROM windowed")
    rows = {
        "drop": f"SELECT DISTINCT {whole} FROM windowed",
        "drop_mapped": f"SELECT DISTINCT {canonical} FROM windowed",
        "keep": f"SELECT {canonical} FROM windowed",
    }[mapping.duplicates]
    run_sql(con, f"CREATE OR REPLACE TEMP TABLE deduped AS SELECT {canonical} FROM ({rows})")
    n_kept = count(con, "SELECT count(*) FROM deduped")
    drops["duplicate_row"] = n_window - n_kept
    distinct_mapped = f"SELECT count(*) FROM (SELECT DISTINCT {canonical} FROM deduped)"
    mapped_kept = n_kept - count(con, distinct_mapped)
    if n_kept == 0:
        span = run_sql(con, f"SELECT min(event_time), max(event_time) FROM staged WHERE {usable}")
        has = f"the log's usable rows run from {span[0][0]} to {span[0][1]}" if span[0][0] else ""
        raise IngestError(
            f"{path}: no events left in the study window [{window.start}, {window.end}); "
            f"drops by reason: {_nonzero(drops)}{'; ' + has if has else ''}. Set "
            "study.start_date/end_date inside the log's dates, or to auto."
        )

    notes: list[str] = []
    if unmatched:
        notes.append(
            f"{unmatched:,} cancellation line(s) match no earlier purchase of the same customer, "
            "product and quantity (it may predate the log): they are dropped, but what they "
            "cancelled stays counted as bought, so spend may be overstated."
        )
    events = con.table("deduped")
    null_sessions = count(con, "SELECT count(*) FROM deduped WHERE user_session IS NULL")
    derived = "user_session" not in found or null_sessions > 0
    if derived:
        if "user_session" in found:
            notes.append(
                f"{null_sessions} rows had no session id; sessions were derived for all rows "
                f"from a {params.sessions.gap_minutes:g}-minute inactivity gap."
            )
        else:
            notes.append(
                f"The log has no session column; sessions were derived from a "
                f"{params.sessions.gap_minutes:g}-minute inactivity gap."
            )
        events = derive_sessions(events, params.sessions.gap_minutes)
    ordered = events.select(*CANONICAL_NAMES).order_by(list(CANONICAL_NAMES))
    paths.processed_dir.mkdir(parents=True, exist_ok=True)
    tmp = paths.events_path.with_name(paths.events_path.name + ".tmp")
    con.to_parquet(ordered, tmp, compression="zstd", row_group_size=1_000_000)
    tmp.replace(paths.events_path)

    summary = run_sql(
        con, "SELECT count(DISTINCT user_id), min(event_time), max(event_time) FROM deduped"
    )[0]
    users_read = count(con, "SELECT count(DISTINCT user_id) FROM staged WHERE user_id IS NOT NULL")
    naive = count(con, f"SELECT count(*) FROM staged WHERE {in_window} AND NOT _zoned")
    if "TIME ZONE" in types[found["event_time"]].upper() or unit:
        naive = 0
    n_sessions = count(
        con,
        f"SELECT count(*) FROM (SELECT DISTINCT user_id, user_session FROM "
        f"read_parquet({sql_quote(str(paths.events_path))}))",
    )
    report = QualityReport(
        source=params.data.label if params.data.is_synthetic else paths.display(path),
        source_format=fmt,
        rows_read=parsed_rows + malformed,
        drops=drops,
        rows_kept=n_kept,
        users=int(summary[0]),
        sessions=n_sessions,
        sessions_derived=derived,
        first_event=str(summary[1]),
        last_event=str(summary[2]),
        study_start=str(window.start),
        study_end=str(window.end),
        study_auto=window.auto,
        set_aside=window.set_aside,
        partial_days=window.partial,
        malformed_examples=malformed_examples(con) if malformed else [],
        notes=notes,
        fingerprint=file_sha256(paths.events_path),
        users_lost=users_read - int(summary[0]),
        duplicates_rule=mapping.duplicates,
        duplicates_mapped_kept=mapped_kept,
        time_resolution=resolution,
        naive_timezone=mapping.timezone,
        times_without_zone=naive,
        time_unit=unit,
    )
    report.check_balance()
    report.to_json(paths.quality_path)
    return report
