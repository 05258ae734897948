"""Reading a raw log file into the engine's ``raw`` table, as text, with bad lines counted.

CSV (any delimiter, gzip), white-space aligned text and Parquet. Malformed lines are
kept aside (DuckDB's rejects table) and counted once each; what would silently lose
rows (an encoding that does not fit, a header naming a column twice) stops with an
:class:`IngestError` naming the file and the setting to change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from shoplog.config.params import ENCODINGS, MappingParams
from shoplog.events.engine import run_sql, sql_ident, sql_quote

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as DuckDBBackend


class IngestError(ValueError):
    """The log cannot be read with this mapping; the message says where and how to fix it."""


EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
# what a binary file's first bytes say it is, and the format setting that reads it
_MAGIC = {
    b"PK\x03\x04": ("a ZIP archive (an Excel .xlsx or .ods workbook?)", "excel"),
    b"\xd0\xcf\x11\xe0": ("an old Excel .xls workbook", "excel"),
    b"PAR1": ("a Parquet file", "parquet"),
}


def detect_format(path: Path, mapping: MappingParams) -> str:
    """The file's format: the mapping's, or told from the name. A file to be read as CSV
    whose first bytes say it is a workbook or Parquet is refused with what it looks like."""
    name = path.name.lower()
    fmt = mapping.format
    if fmt == "auto":
        if name.endswith((".parquet", ".pq")):
            fmt = "parquet"
        elif name.endswith(EXCEL_SUFFIXES):
            fmt = "excel"
        else:
            fmt = "csv"
    if fmt == "csv" and path.is_file():
        with path.open("rb") as f:
            head = f.read(4)
        for magic, (what, setting) in _MAGIC.items():
            if head.startswith(magic):
                raise IngestError(
                    f"{path}: this is {what}, not CSV text. Set data.mapping.format: {setting}."
                )
    return fmt


def stage_raw(con: DuckDBBackend, path: Path, fmt: str, mapping: MappingParams) -> int:
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
    if fmt == "excel":
        _stage_excel(con, path, mapping)
        return 0
    if mapping.delimiter == WHITESPACE:
        return _stage_whitespace(con, path, mapping)
    common = [
        "all_varchar = true",
        f"delim = {sql_quote(mapping.delimiter)}",
        f"encoding = {sql_quote(mapping.encoding)}",
    ]
    if mapping.header:
        _refuse_repeated_header(con, path, common)
    options = [
        *common,
        f"header = {'true' if mapping.header else 'false'}",
        "ignore_errors = true",
        "store_rejects = true",
        "rejects_table = 'ingest_rejects'",
        "rejects_scan = 'ingest_reject_scans'",
        "null_padding = false",
    ]
    if mapping.names:
        options.append("names = [" + ", ".join(sql_quote(n) for n in mapping.names) + "]")
    _read_long_lines(
        con,
        lambda extra: (
            "CREATE OR REPLACE TEMP TABLE raw AS SELECT * FROM "
            f"read_csv({sql_quote(str(path))}, {', '.join(options)}{extra})"
        ),
        f"{path}: could not be read as CSV",
        "Check data.mapping.delimiter, header, names and encoding.",
    )
    _refuse_bad_encoding(con, path, mapping)
    return count(con, f"SELECT count(*) FROM ({_REJECTED_LINES})")


def _stage_excel(con: DuckDBBackend, path: Path, mapping: MappingParams) -> None:
    """One worksheet as text columns (python-calamine). Dates and times become ISO text;
    whole numbers lose the '.0' a spreadsheet adds, so ids stay ids."""
    try:
        frame = pd.read_excel(
            path,
            sheet_name=mapping.sheet,
            engine="calamine",
            header=0 if mapping.header else None,
            names=mapping.names,
        )
    except ValueError as exc:  # a missing sheet or an unreadable workbook
        raise IngestError(
            f"{path}: could not be read as an Excel workbook ({exc}). Check "
            "data.mapping.sheet (a sheet name, or 0 for the first)."
        ) from exc
    if mapping.header:
        # pandas renames a repeated header name ('a', 'a.1'): check the header row as written
        header = pd.read_excel(
            path, sheet_name=mapping.sheet, engine="calamine", header=None, nrows=1
        )
        refuse_repeated_names(path, [str(v).strip() for v in header.iloc[0]] if len(header) else [])
    else:
        refuse_repeated_names(path, list(mapping.names or []))
    frame.columns = [str(c) for c in frame.columns]
    text = pd.DataFrame({c: _cell_text(frame[c]) for c in frame.columns})
    con.con.register("excel_sheet", text)
    run_sql(con, "CREATE OR REPLACE TEMP TABLE raw AS SELECT * FROM excel_sheet")
    con.con.unregister("excel_sheet")


def _cell_text(column: pd.Series) -> pd.Series:
    """A worksheet column as text: ISO times, whole numbers without '.0', empty as missing."""
    if pd.api.types.is_datetime64_any_dtype(column):
        out = column.dt.strftime("%Y-%m-%d %H:%M:%S")
    elif pd.api.types.is_float_dtype(column):
        whole = column.notna() & (column == column.round()) & (column.abs() < 2**53)
        out = column.astype("string")
        out[whole] = column[whole].astype("int64").astype("string")
    else:
        out = column.map(lambda v: v.isoformat(sep=" ") if hasattr(v, "isoformat") else v)
        out = out.astype("string")
    return out.where(column.notna(), None).astype("string")


# a rejected line is listed once per column it broke; count and show it once
_REJECTED_LINES = (
    "SELECT line, min(error_type) AS error_type, min(error_message) AS error_message "
    "FROM ingest_rejects GROUP BY line"
)
# the longest line read (bytes); the reader's default (2 MB) aborts on one long line
MAX_LINE_BYTES = 256 * 1024 * 1024
_LINE_TOO_LONG = re.compile(r"Maximum line size of \d+ bytes exceeded\. Actual Size:\s*(\d+)")


def _read_long_lines(
    con: DuckDBBackend, make_sql: Callable[[str], str], what: str, fix: str
) -> None:
    """Run a ``read_csv`` statement (``make_sql(extra options)``), raising the line size
    limit as far as the longest line needs (up to :data:`MAX_LINE_BYTES`).

    The limit is raised only when needed: a large limit makes the reader's buffers large."""
    extra = ""
    while True:
        try:
            run_sql(con, make_sql(extra))
            return
        except Exception as exc:  # duckdb raises its own hierarchy; keep its words
            long = _LINE_TOO_LONG.search(str(exc))
            size = 2 * int(long.group(1)) if long else 0
            if not long or size > MAX_LINE_BYTES:
                words = str(exc).splitlines()[0] if long else str(exc)
                if long:
                    words += f" (a line of {int(long.group(1)):,} bytes)"
                raise IngestError(f"{what} ({words}). {fix}") from exc
            extra = f", max_line_size = {size}, buffer_size = {4 * size}"


def _refuse_repeated_header(con: DuckDBBackend, path: Path, options: list[str]) -> None:
    """A header naming a column twice is refused: the reader would rename one silently."""
    try:
        first = run_sql(
            con,
            f"SELECT * FROM read_csv({sql_quote(str(path))}, header = false, "
            + ", ".join(options)
            + ") LIMIT 1",
        )
    except Exception:  # unreadable: the full read below reports it with the reader's words
        return
    refuse_repeated_names(path, [str(v).strip() for v in first[0]] if first else [])


def refuse_repeated_names(path: Path, names: list[str]) -> None:
    """Column names given twice (in a header or ``mapping.names``) are refused, naming them:
    a reader would rename or drop one silently."""
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise IngestError(
            f"{path}: the header names {repeated} more than once ({names}). Rename the "
            "columns in the export, or set data.mapping.header: false and list distinct "
            "names under data.mapping.names."
        )


def _refuse_bad_encoding(con: DuckDBBackend, path: Path, mapping: MappingParams) -> None:
    """Lines that are not valid in the file's encoding stop ingestion: dropping them would
    lose every row with an accented name."""
    bad = run_sql(
        con,
        "SELECT count(DISTINCT line), min(line) FROM ingest_rejects "
        "WHERE error_type = 'INVALID ENCODING'",
    )
    if bad and bad[0][0]:
        others = [e for e in ENCODINGS if e != mapping.encoding]
        raise IngestError(
            f"{path}: {bad[0][0]} line(s) are not valid {mapping.encoding} (first at line "
            f"{bad[0][1]}). Set data.mapping.encoding to the file's encoding ({others})."
        )


WHITESPACE = "whitespace"
# a separator no text export uses, so read_csv hands over whole lines
_LINE_DELIMITER = "\x1f"


def _stage_whitespace(con: DuckDBBackend, path: Path, mapping: MappingParams) -> int:
    """Columns separated by runs of spaces or tabs (aligned exports such as CDNOW's).

    Lines are split on white space after trimming; a line with another number of fields
    than the header (or ``names``) is malformed, counted and reported like a CSV reject."""

    def lines(extra: str) -> str:
        return (
            f"read_csv({sql_quote(str(path))}, header = false, all_varchar = true, "
            f"delim = {sql_quote(_LINE_DELIMITER)}, quote = '', escape = '', "
            f"encoding = {sql_quote(mapping.encoding)}, "
            "columns = {'text': 'VARCHAR'}" + extra + ")"
        )

    _read_long_lines(
        con,
        lambda extra: (
            "CREATE OR REPLACE TEMP TABLE raw_lines AS SELECT row_number() OVER () "
            "AS line, regexp_split_to_array(regexp_replace(text, '^\\s+|\\s+$', '', 'g'), '\\s+') "
            f"AS parts FROM {lines(extra)} WHERE regexp_matches(text, '\\S')"
        ),
        f"{path}: could not be read as text lines",
        "Check data.mapping.encoding.",
    )
    if mapping.header:
        first = run_sql(con, "SELECT parts FROM raw_lines ORDER BY line LIMIT 1")
        names = list(first[0][0]) if first else []
        body = "line > 1"
    else:
        names, body = list(mapping.names or []), "true"
    if not names:
        raise IngestError(f"{path}: the file is empty. Point data.source at the exported log.")
    refuse_repeated_names(path, names)
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


def malformed_examples(con: DuckDBBackend, limit: int = 5) -> list[dict[str, Any]]:
    rows = run_sql(
        con,
        f"SELECT line, error_type, error_message FROM ({_REJECTED_LINES}) "
        f"ORDER BY line LIMIT {limit}",
    )
    return [{"line": int(r[0]), "error": f"{r[1]}: {r[2]}"} for r in rows]


def column_types(con: DuckDBBackend) -> dict[str, str]:
    return column_types_of(con, "raw")


def column_types_of(con: DuckDBBackend, table: str) -> dict[str, str]:
    return {r[0]: r[1] for r in run_sql(con, f"DESCRIBE {table}")}


def count(con: DuckDBBackend, sql: str) -> int:
    """The single number a ``SELECT count(*)`` query returns."""
    return int(run_sql(con, sql)[0][0])
