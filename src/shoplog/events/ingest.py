"""Ingestion: any event log -> the canonical ``events.parquet``, validated, drops counted.

The work happens in the engine (DuckDB through Ibis), so a multi-GB CSV never
has to fit in pandas. The raw file is only read. Problems that mean the mapping
is wrong (a missing column, times that do not parse, unknown event names,
negative prices, an empty file) stop with an :class:`IngestError` naming the
file, the column and the fix. Rows that are legitimately unusable (malformed
lines, rows outside the study window, exact duplicates, events mapped to
``drop``) are dropped and counted by reason in the data-quality report.

Size: each check that names the file, column and fix is a few lines next to the one
query it guards; split apart, the input contract would be spread over files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from shoplog.config.params import MappingParams, Params
from shoplog.events import synthetic
from shoplog.events.engine import connect, run_sql, sql_ident, sql_quote
from shoplog.events.sessions import derive_sessions
from shoplog.files import CorruptFileError, atomic_write_json, file_sha256, read_json
from shoplog.schema import CANONICAL_EVENT_TYPES, CANONICAL_NAMES, DROP_REASONS, REQUIRED

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as DuckDBBackend

    from shoplog.config.paths import ProjectPaths


class IngestError(ValueError):
    """The log cannot be read with this mapping; the message says where and how to fix it."""


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
    rows += [(f"Dropped: {label}", report.drops.get(k, 0)) for k, label in DROP_REASONS.items()]
    rows.append(("Rows kept", report.rows_kept))
    table = pd.DataFrame(rows, columns=["Step", "Rows"])
    table["Share of rows read"] = table["Rows"] / report.rows_read if report.rows_read else 0.0
    return table


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
            f"{path}: no such file. Set data.source to a CSV, CSV.gz or Parquet file "
            "(relative paths are taken from the project folder)."
        )
    return path


def _detect_format(path: Path, mapping: MappingParams) -> str:
    if mapping.format != "auto":
        return mapping.format
    name = path.name.lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        return "parquet"
    return "csv"


def _stage_raw(con: DuckDBBackend, path: Path, fmt: str, mapping: MappingParams) -> int:
    """Load the raw file into temp table ``raw`` (text for CSV); returns malformed lines."""
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: the file is empty. Point data.source at the exported log.")
    if fmt == "parquet":
        run_sql(
            con,
            "CREATE OR REPLACE TEMP TABLE raw AS SELECT * FROM "
            f"read_parquet({sql_quote(str(path))})",
        )
        return 0
    if mapping.delimiter == WHITESPACE:
        return _stage_whitespace(con, path, mapping)
    options = [
        "all_varchar = true",
        f"header = {'true' if mapping.header else 'false'}",
        f"delim = {sql_quote(mapping.delimiter)}",
        "ignore_errors = true",
        "store_rejects = true",
        "rejects_table = 'ingest_rejects'",
        "rejects_scan = 'ingest_reject_scans'",
        "null_padding = false",
    ]
    if mapping.names:
        options.append("names = [" + ", ".join(sql_quote(n) for n in mapping.names) + "]")
    try:
        run_sql(
            con,
            f"CREATE OR REPLACE TEMP TABLE raw AS SELECT * FROM read_csv({sql_quote(str(path))}, "
            + ", ".join(options)
            + ")",
        )
    except Exception as exc:  # duckdb raises its own hierarchy; keep its words
        raise IngestError(
            f"{path}: could not be read as CSV ({exc}). Check data.mapping.delimiter, "
            "header and names."
        ) from exc
    return int(run_sql(con, "SELECT count(*) FROM ingest_rejects")[0][0])


WHITESPACE = "whitespace"
# a separator no text export uses, so read_csv hands over whole lines
_LINE_DELIMITER = "\x1f"


def _stage_whitespace(con: DuckDBBackend, path: Path, mapping: MappingParams) -> int:
    """Columns separated by runs of spaces or tabs (aligned exports such as CDNOW's).

    Lines are split on white space after trimming; a line with another number of fields
    than the header (or ``names``) is malformed, counted and reported like a CSV reject."""
    lines = (
        f"read_csv({sql_quote(str(path))}, header = false, all_varchar = true, "
        f"delim = {sql_quote(_LINE_DELIMITER)}, quote = '', escape = '', "
        "columns = {'text': 'VARCHAR'})"
    )
    try:
        run_sql(
            con,
            "CREATE OR REPLACE TEMP TABLE raw_lines AS SELECT row_number() OVER () AS line, "
            "regexp_split_to_array(regexp_replace(text, '^\\s+|\\s+$', '', 'g'), '\\s+') "
            f"AS parts FROM {lines} WHERE regexp_matches(text, '\\S')",
        )
    except Exception as exc:  # duckdb raises its own hierarchy; keep its words
        raise IngestError(f"{path}: could not be read as text lines ({exc})") from exc
    if mapping.header:
        first = run_sql(con, "SELECT parts FROM raw_lines ORDER BY line LIMIT 1")
        names = list(first[0][0]) if first else []
        body = "line > 1"
    else:
        names, body = list(mapping.names or []), "true"
    if not names:
        raise IngestError(f"{path}: the file is empty. Point data.source at the exported log.")
    if len(set(names)) != len(names):
        raise IngestError(f"{path}: repeated column names in the header {names}")
    n = len(names)
    run_sql(
        con,
        "CREATE OR REPLACE TEMP TABLE ingest_rejects AS SELECT line, "
        "'FIELD COUNT' AS error_type, "
        f"'expected {n} fields separated by white space, found ' || len(parts) "
        "AS error_message "
        f"FROM raw_lines WHERE {body} AND len(parts) <> {n}",
    )
    columns = ", ".join(f"parts[{i + 1}] AS {sql_ident(name)}" for i, name in enumerate(names))
    run_sql(
        con,
        f"CREATE OR REPLACE TEMP TABLE raw AS SELECT {columns} FROM raw_lines "
        f"WHERE {body} AND len(parts) = {n} ORDER BY line",
    )
    return int(run_sql(con, "SELECT count(*) FROM ingest_rejects")[0][0])


def _malformed_examples(con: DuckDBBackend, limit: int = 5) -> list[dict[str, Any]]:
    rows = run_sql(
        con,
        f"SELECT line, error_type, error_message FROM ingest_rejects ORDER BY line LIMIT {limit}",
    )
    return [{"line": int(r[0]), "error": f"{r[1]}: {r[2]}"} for r in rows]


def _column_types(con: DuckDBBackend) -> dict[str, str]:
    return {r[0]: r[1] for r in run_sql(con, "DESCRIBE raw")}


def _time_expr(col: str, dtype: str, mapping: MappingParams, path: Path) -> str:
    """SQL turning the source time column into a naive UTC TIMESTAMP (NULL when unparseable)."""
    c = sql_ident(col)
    dtype = dtype.upper()
    numeric = any(t in dtype for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL"))
    if mapping.time_unit:
        scale = 1_000_000 if mapping.time_unit == "s" else 1_000
        num = f"TRY_CAST({c} AS DOUBLE)"
        return f"make_timestamp(CAST(round({num} * {scale}) AS BIGINT))"
    if numeric:
        raise IngestError(
            f"{path}: column {col!r} holds numbers, not times. If they are unix epoch times, "
            "set data.mapping.time_unit to 's' or 'ms'."
        )
    if "WITH TIME ZONE" in dtype:
        return f"timezone('UTC', {c})"
    if dtype.startswith("TIMESTAMP") or dtype == "DATE":
        naive = f"CAST({c} AS TIMESTAMP)"
    elif mapping.time_format:
        naive = f"CAST(try_strptime(trim({c}), {sql_quote(mapping.time_format)}) AS TIMESTAMP)"
    else:
        text = f"trim(CAST({c} AS VARCHAR))"
        with_offset = f"regexp_matches({text}, '[+-][0-9]{{2}}:?[0-9]{{2}}$')"
        stripped = f"regexp_replace({text}, '\\s*(UTC|Z)$', '')"
        return (
            f"CASE WHEN {with_offset} THEN timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ)) "
            f"ELSE {_to_utc(f'TRY_CAST({stripped} AS TIMESTAMP)', mapping.timezone)} END"
        )
    return _to_utc(naive, mapping.timezone)


def _to_utc(naive: str, zone: str) -> str:
    if zone.upper() in ("UTC", "Z", "ETC/UTC"):
        return naive
    return f"timezone('UTC', timezone({sql_quote(zone)}, {naive}))"


def _text(col: str) -> str:
    return f"NULLIF(trim(CAST({sql_ident(col)} AS VARCHAR)), '')"


def _id_text(col: str, dtype: str) -> str:
    """Identifiers as text; whole-number floats lose their '.0' so ids match across files."""
    if any(t in dtype.upper() for t in ("DOUBLE", "FLOAT", "DECIMAL", "REAL")):
        return f"CAST(CAST({sql_ident(col)} AS BIGINT) AS VARCHAR)"
    return _text(col)


def _source_columns(
    mapping: MappingParams, available: dict[str, str], path: Path
) -> dict[str, str]:
    """Canonical name -> source column present in the file; errors for missing required ones."""
    unknown = sorted(set(mapping.columns) - set(CANONICAL_NAMES))
    if unknown:
        raise IngestError(
            f"data.mapping.columns names {unknown}, which are not canonical columns; "
            f"use canonical names as keys: {list(CANONICAL_NAMES)}"
        )
    found: dict[str, str] = {}
    for name in CANONICAL_NAMES:
        source = mapping.columns.get(name, name)
        if source in available:
            found[name] = source
        elif name in mapping.columns:
            raise IngestError(
                f"{path}: column {source!r} (mapped to {name}) is not in the file. "
                f"The file has columns {list(available)}; fix data.mapping.columns.{name}."
            )
    missing = [
        n for n in REQUIRED if n not in found and not (n == "event_type" and mapping.event_type)
    ]
    if missing:
        hint = "map them with data.mapping.columns (canonical: file column)"
        if "event_type" in missing:
            hint += ", or set data.mapping.event_type for a log of one event type"
        raise IngestError(
            f"{path}: required column(s) {missing} not found. The file has columns "
            f"{list(available)}; {hint}."
        )
    return found


def _staged_select(
    found: dict[str, str], types: dict[str, str], mapping: MappingParams, path: Path
) -> str:
    cols = []
    t = found["event_time"]
    cols.append(f"{_time_expr(t, types[t], mapping, path)} AS event_time")
    cols.append(f"CAST({sql_ident(t)} AS VARCHAR) AS _time_raw")
    if "event_type" in found:
        ev = f"lower({_text(found['event_type'])})"
        cols.append(f"{ev} AS _event_raw")
        if mapping.event_types:
            cases = " ".join(
                f"WHEN {sql_quote(k.lower())} THEN {sql_quote(v)}"
                for k, v in mapping.event_types.items()
            )
            ev = f"CASE {ev} {cases} ELSE {ev} END"
        cols.append(f"{ev} AS event_type")
    else:
        cols.append(f"{sql_quote(mapping.event_type)} AS _event_raw")
        cols.append(f"{sql_quote(mapping.event_type)} AS event_type")
    for name in ("product_id", "category_id", "user_id", "user_session"):
        if name in found:
            cols.append(f"{_id_text(found[name], types[found[name]])} AS {name}")
        else:
            cols.append(f"CAST(NULL AS VARCHAR) AS {name}")
    for name in ("category_code", "brand"):
        expr = f"lower({_text(found[name])})" if name in found else "CAST(NULL AS VARCHAR)"
        cols.append(f"{expr} AS {name}")
    quantity = "1.0"
    if mapping.quantity:
        q = sql_ident(mapping.quantity)
        quantity = f"TRY_CAST({q} AS DOUBLE)"
        cols.append(f"{quantity} AS _quantity")
        cols.append(f"CAST({q} AS VARCHAR) AS _quantity_raw")
    else:
        cols.append("1.0 AS _quantity")
    if "price" in found:
        p = found["price"]
        # with a quantity column the price is a unit price: the event's value is the line's
        cols.append(f"TRY_CAST({_text(p)} AS DOUBLE) * {quantity} AS price")
        cols.append(f"TRY_CAST({_text(p)} AS DOUBLE) AS _unit_price")
        cols.append(f"{_text(p)} AS _price_raw")
    else:
        cols.append("CAST(NULL AS DOUBLE) AS price")
        cols.append("CAST(NULL AS DOUBLE) AS _unit_price")
        cols.append("CAST(NULL AS VARCHAR) AS _price_raw")
    return "SELECT " + ",\n  ".join(cols) + " FROM raw"


def _examples(con: DuckDBBackend, where: str, column: str, limit: int = 5) -> tuple[int, list[str]]:
    n = int(run_sql(con, f"SELECT count(*) FROM staged WHERE {where}")[0][0])
    rows = run_sql(
        con, f"SELECT DISTINCT {column} FROM staged WHERE {where} ORDER BY 1 LIMIT {limit}"
    )
    return n, [str(r[0]) for r in rows]


def _validate(
    con: DuckDBBackend, found: dict[str, str], mapping: MappingParams, path: Path
) -> None:
    tcol = found["event_time"]
    n, ex = _examples(
        con, "event_time IS NULL AND _time_raw IS NOT NULL AND trim(_time_raw) <> ''", "_time_raw"
    )
    if n:
        how = (
            f"format {mapping.time_format!r}"
            if mapping.time_format
            else f"unix {mapping.time_unit}"
            if mapping.time_unit
            else "ISO-8601"
        )
        raise IngestError(
            f"{path}: column {tcol!r}: {n} value(s) could not be read as times ({how}), "
            f"e.g. {ex}. Set data.mapping.time_format (strptime codes, e.g. '%d/%m/%Y %H:%M') "
            "or data.mapping.time_unit for epoch numbers."
        )
    allowed = (*CANONICAL_EVENT_TYPES, "drop")
    in_list = ", ".join(sql_quote(a) for a in allowed)
    unknown = run_sql(
        con,
        f"SELECT _event_raw, count(*) FROM staged WHERE event_type IS NOT NULL AND "
        f"event_type NOT IN ({in_list}) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    )
    if unknown:
        listed = ", ".join(f"{v!r} ({c} rows)" for v, c in unknown)
        col = found.get("event_type", "event_type")
        raise IngestError(
            f"{path}: column {col!r} has event names that are not mapped: {listed}. Map each "
            f"under data.mapping.event_types to one of {list(allowed)}, e.g. "
            f"{{{unknown[0][0]!r}: view}}."
        )
    if "price" in found:
        pcol = found["price"]
        n, ex = _examples(con, "_unit_price IS NULL AND _price_raw IS NOT NULL", "_price_raw")
        if n:
            raise IngestError(
                f"{path}: column {pcol!r}: {n} value(s) are not numbers, e.g. {ex}. Clean the "
                "column or map price to another column."
            )
        n, ex = _examples(con, "_unit_price < 0", "_unit_price")
        if n:
            raise IngestError(
                f"{path}: column {pcol!r}: {n} negative price(s), e.g. {ex}. Prices must be >= 0: "
                "filter returns out of the export (or map them to drop) before ingesting."
            )
    if mapping.quantity:
        n, ex = _examples(con, "_quantity IS NULL AND _quantity_raw IS NOT NULL", "_quantity_raw")
        if n:
            raise IngestError(
                f"{path}: column {mapping.quantity!r} (data.mapping.quantity): {n} value(s) are "
                f"not numbers, e.g. {ex}. Point data.mapping.quantity at the quantity column."
            )
    if not mapping.drop_incomplete_rows:
        checks = {
            "event_time": "event_time IS NULL",
            "user_id": "user_id IS NULL",
            "event_type": "event_type IS NULL",
        }
        for name, cond in checks.items():
            n = int(run_sql(con, f"SELECT count(*) FROM staged WHERE {cond}")[0][0])
            if n:
                col = found.get(name, name)
                raise IngestError(
                    f"{path}: column {col!r}: {n} row(s) have no {name}. Fix the export, or set "
                    "data.mapping.drop_incomplete_rows: true to drop and count them."
                )


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def _count(con: DuckDBBackend, sql: str) -> int:
    return int(run_sql(con, sql)[0][0])


def ingest(params: Params, paths: ProjectPaths, con: DuckDBBackend | None = None) -> QualityReport:
    """Read the configured log, validate it and write ``events.parquet`` and ``quality.json``."""
    con = con or connect(params.engine)
    mapping = params.data.mapping
    path = resolve_source(params, paths)
    fmt = _detect_format(path, mapping)
    malformed = _stage_raw(con, path, fmt, mapping)
    types = _column_types(con)
    parsed_rows = _count(con, "SELECT count(*) FROM raw")
    if parsed_rows == 0:
        raise IngestError(
            f"{path}: no data rows"
            + (
                f" ({malformed} malformed line(s), e.g. {_malformed_examples(con)})"
                if malformed
                else ""
            )
            + ". Check the file and data.mapping (delimiter, header)."
        )
    found = _source_columns(mapping, types, path)
    if mapping.quantity and mapping.quantity not in types:
        raise IngestError(
            f"{path}: column {mapping.quantity!r} (data.mapping.quantity) is not in the file. "
            f"The file has columns {list(types)}; fix data.mapping.quantity."
        )
    run_sql(
        con, "CREATE OR REPLACE TEMP TABLE staged AS " + _staged_select(found, types, mapping, path)
    )
    _validate(con, found, mapping, path)

    drops = dict.fromkeys(DROP_REASONS, 0)
    drops["malformed_line"] = malformed
    drops["event_type_dropped"] = _count(
        con, "SELECT count(*) FROM staged WHERE event_type = 'drop'"
    )
    incomplete = "event_time IS NULL OR user_id IS NULL OR event_type IS NULL"
    drops["incomplete_row"] = _count(con, f"SELECT count(*) FROM staged WHERE {incomplete}")
    # returns and cancellations (quantity <= 0) are not events of the shop's funnel
    returns = "coalesce(_quantity, 1) <= 0"
    drops["return_line"] = _count(
        con,
        f"SELECT count(*) FROM staged WHERE event_type <> 'drop' AND NOT ({incomplete}) "
        f"AND {returns}",
    )
    start = dt.datetime.combine(params.study.start_date, dt.time())
    end = dt.datetime.combine(params.study.end_date, dt.time())
    usable = f"event_type <> 'drop' AND NOT ({incomplete}) AND NOT ({returns})"
    drops["before_study_window"] = _count(
        con, f"SELECT count(*) FROM staged WHERE {usable} AND event_time < TIMESTAMP '{start}'"
    )
    drops["after_study_window"] = _count(
        con, f"SELECT count(*) FROM staged WHERE {usable} AND event_time >= TIMESTAMP '{end}'"
    )
    in_window = f"{usable} AND event_time >= TIMESTAMP '{start}' AND event_time < TIMESTAMP '{end}'"
    run_sql(
        con,
        "CREATE OR REPLACE TEMP TABLE windowed AS SELECT "
        + ", ".join(CANONICAL_NAMES)
        + f" FROM staged WHERE {in_window}",
    )
    n_window = _count(con, "SELECT count(*) FROM windowed")
    distinct = "DISTINCT " if mapping.duplicates == "drop" else ""
    run_sql(con, f"CREATE OR REPLACE TEMP TABLE deduped AS SELECT {distinct}* FROM windowed")
    n_kept = _count(con, "SELECT count(*) FROM deduped")
    drops["duplicate_row"] = n_window - n_kept
    if n_kept == 0:
        raise IngestError(
            f"{path}: no events left in the study window [{params.study.start_date}, "
            f"{params.study.end_date}); drops by reason: {_nonzero(drops)}. "
            "Check study.start_date/end_date against the log's dates."
        )

    notes: list[str] = []
    events = con.table("deduped")
    null_sessions = _count(con, "SELECT count(*) FROM deduped WHERE user_session IS NULL")
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
    n_sessions = _count(
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
        study_start=str(params.study.start_date),
        study_end=str(params.study.end_date),
        malformed_examples=_malformed_examples(con) if malformed else [],
        notes=notes,
        fingerprint=file_sha256(paths.events_path),
    )
    report.check_balance()
    report.to_json(paths.quality_path)
    return report
