"""From the file's columns to the canonical ones: times, ids, texts and prices as SQL.

Times become naive UTC: offsets, ``Z`` and `` UTC`` are honoured, naive times are read
in ``mapping.timezone``, epoch numbers in their unit (told from their size with
``time_unit: auto``). Missing-value markers (``mapping.na_values``) are NULL in every
column. Ids are text and never rounded. :func:`validate` stops on what means the mapping
is wrong, naming the column, examples and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shoplog.config.params import MappingParams
from shoplog.events.engine import run_sql, sql_ident, sql_quote
from shoplog.events.reading import IngestError
from shoplog.schema import CANONICAL_EVENT_TYPES, CANONICAL_NAMES, REQUIRED

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as DuckDBBackend


# microseconds per unit of unix-epoch numbers
EPOCH_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}
# a time that ends in an offset (+02, +0200, -05:30), Z or UTC carries its own zone
_ZONED = r"[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*([+-][0-9]{2}(:?[0-9]{2})?|Z|UTC)$"


FLOAT_TYPES = ("DOUBLE", "FLOAT", "DECIMAL", "REAL")


def _is_float(dtype: str) -> bool:
    return any(t in dtype.upper() for t in FLOAT_TYPES)


def _is_numeric(dtype: str) -> bool:
    return "INT" in dtype.upper() or _is_float(dtype)


def epoch_unit_of(magnitude: float) -> str:
    """The unix-epoch unit whose dates a number of this size falls in (1973 to 5138)."""
    for unit, bound in (("s", 1e11), ("ms", 1e14), ("us", 1e17)):
        if magnitude < bound:
            return unit
    return "ns"


def epoch_unit(
    con: DuckDBBackend, col: str, dtype: str, mapping: MappingParams, path: Path
) -> str | None:
    """The unit of numeric epoch times (None for text times): the mapping's, checked
    against the numbers' size, or told from it with ``time_unit: auto``."""
    if not mapping.time_unit:
        if _is_numeric(dtype):
            raise IngestError(
                f"{path}: column {col!r} holds numbers, not times. If they are unix epoch "
                "times, set data.mapping.time_unit to 'auto' (or 's', 'ms', 'us', 'ns')."
            )
        return None
    stats = run_sql(
        con,
        f"SELECT median(abs(v)), min(v), max(v) FROM (SELECT TRY_CAST({sql_ident(col)} AS "
        "DOUBLE) AS v FROM raw) WHERE v IS NOT NULL AND isfinite(v)",
    )[0]
    if stats[0] is None:
        return mapping.time_unit if mapping.time_unit != "auto" else "s"
    detected = epoch_unit_of(float(stats[0]))
    if mapping.time_unit == "auto" or mapping.time_unit == detected:
        return detected

    def year(value: float) -> str:
        return f"{1970 + value * EPOCH_MICROS[mapping.time_unit] / 1e6 / 31_556_952:,.0f}"

    raise IngestError(
        f"{path}: column {col!r} read as unix {mapping.time_unit} (data.mapping.time_unit) "
        f"gives times from the year {year(stats[1])} to {year(stats[2])}. Numbers of this size "
        f"(median {stats[0]:,.0f}) are unix {detected}: set data.mapping.time_unit: {detected} "
        "(or auto)."
    )


def _time_expr(col: str, dtype: str, unit: str | None, mapping: MappingParams) -> str:
    """SQL turning the source time column into a naive UTC TIMESTAMP (NULL when unparseable)."""
    c = sql_ident(col)
    dtype = dtype.upper()
    if unit:
        num = f"TRY_CAST({c} AS DOUBLE)"
        return f"make_timestamp(CAST(round({num} * {EPOCH_MICROS[unit]}) AS BIGINT))"
    if "WITH TIME ZONE" in dtype:
        return f"timezone('UTC', {c})"
    if dtype.startswith("TIMESTAMP") or dtype == "DATE":
        naive = f"CAST({c} AS TIMESTAMP)"
    elif mapping.time_format:
        naive = f"CAST(try_strptime(trim({c}), {sql_quote(mapping.time_format)}) AS TIMESTAMP)"
    else:
        text = _na(f"trim(CAST({c} AS VARCHAR))", mapping)
        return (
            f"CASE WHEN {_has_zone(text)} THEN timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ)) "
            f"ELSE {_to_utc(f'TRY_CAST({text} AS TIMESTAMP)', mapping.timezone)} END"
        )
    return _to_utc(naive, mapping.timezone)


def _has_zone(text: str) -> str:
    return f"regexp_matches({text}, {sql_quote(_ZONED)}, 'i')"


def _na(expr: str, mapping: MappingParams) -> str:
    """``expr`` (trimmed text) with the mapping's missing-value markers as NULL."""
    markers = ", ".join(sql_quote(v.strip().lower()) for v in mapping.na_values)
    if not markers:
        return expr
    return f"CASE WHEN lower({expr}) IN ({markers}) THEN NULL ELSE {expr} END"


def _to_utc(naive: str, zone: str) -> str:
    if zone.upper() in ("UTC", "Z", "ETC/UTC"):
        return naive
    return f"timezone('UTC', timezone({sql_quote(zone)}, {naive}))"


def _text(col: str, mapping: MappingParams) -> str:
    return _na(f"NULLIF(trim(CAST({sql_ident(col)} AS VARCHAR)), '')", mapping)


# the largest integer a double holds exactly
EXACT_FLOAT = 2**53


def _id_text(col: str, dtype: str, mapping: MappingParams) -> str:
    """Identifiers as text. Whole-number floats lose their '.0' so ids match across files;
    other floats keep every digit (never rounded: that would merge users)."""
    if _is_float(dtype):
        c = sql_ident(col)
        return (
            f"CASE WHEN {c} = floor({c}) AND abs({c}) < {EXACT_FLOAT} "
            f"THEN CAST(CAST({c} AS BIGINT) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END"
        )
    return _text(col, mapping)


def refuse_inexact_ids(
    con: DuckDBBackend, found: dict[str, str], types: dict[str, str], path: Path
) -> None:
    """Float id columns beyond 2^53 have lost digits in the file itself: distinct users or
    products may already share one number, which no reader can undo."""
    for name in ("user_id", "product_id", "category_id", "user_session"):
        col = found.get(name)
        if col is None or not _is_float(types[col]):
            continue
        c = sql_ident(col)
        n, example = run_sql(
            con, f"SELECT count(*), min({c}) FROM raw WHERE abs({c}) >= {EXACT_FLOAT}"
        )[0]
        if n:
            raise IngestError(
                f"{path}: column {col!r} ({name}) stores ids as floating-point numbers, and "
                f"{n} of them are beyond 2^53 (e.g. {example:.0f}), where a float cannot hold "
                "every digit: different ids may have become the same number. Export the "
                "column as text or integers."
            )


def source_columns(mapping: MappingParams, available: dict[str, str], path: Path) -> dict[str, str]:
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


def staged_select(
    found: dict[str, str], types: dict[str, str], mapping: MappingParams, unit: str | None
) -> str:
    """The canonical columns from ``raw``, with the raw values checks need (``_``-prefixed)
    and the file's other columns (``_src<i>``), which decide whole-row duplicates."""
    cols = []
    t = found["event_time"]
    cols.append(f"{_time_expr(t, types[t], unit, mapping)} AS event_time")
    time_text = _na(f"trim(CAST({sql_ident(t)} AS VARCHAR))", mapping)
    cols.append(f"{time_text} AS _time_raw")
    zoned = unit is None and not mapping.time_format and "TIME ZONE" not in types[t].upper()
    cols.append(f"{_has_zone(time_text) if zoned else 'false'} AS _zoned")
    if "event_type" in found:
        ev = f"lower({_text(found['event_type'], mapping)})"
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
    ids = {
        name: _id_text(found[name], types[found[name]], mapping)
        if name in found
        else "CAST(NULL AS VARCHAR)"
        for name in ("product_id", "category_id", "user_id", "user_session")
    }
    if mapping.user_from_session:
        ids["user_id"] = f"coalesce({ids['user_id']}, {ids['user_session']})"
    cols += [f"{expr} AS {name}" for name, expr in ids.items()]
    for name in ("category_code", "brand"):
        expr = f"lower({_text(found[name], mapping)})" if name in found else "CAST(NULL AS VARCHAR)"
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
        p = _text(found["price"], mapping)
        # with a quantity column the price is a unit price: the event's value is the line's
        cols.append(f"TRY_CAST({p} AS DOUBLE) * {quantity} AS price")
        cols.append(f"TRY_CAST({p} AS DOUBLE) AS _unit_price")
        cols.append(f"{p} AS _price_raw")
    else:
        cols.append("CAST(NULL AS DOUBLE) AS price")
        cols.append("CAST(NULL AS DOUBLE) AS _unit_price")
        cols.append("CAST(NULL AS VARCHAR) AS _price_raw")
    # set by netting cancellations against purchases (invoice lines with a quantity)
    cols.append("false AS _cancelled")
    mapped = set(found.values()) | ({mapping.quantity} if mapping.quantity else set())
    others = [c for c in types if c not in mapped]
    cols += [f"{sql_ident(c)} AS _src{i}" for i, c in enumerate(others)]
    return "SELECT " + ",\n  ".join(cols) + " FROM raw"


def _examples(con: DuckDBBackend, where: str, column: str, limit: int = 5) -> tuple[int, list[str]]:
    n = int(run_sql(con, f"SELECT count(*) FROM staged WHERE {where}")[0][0])
    rows = run_sql(
        con, f"SELECT DISTINCT {column} FROM staged WHERE {where} ORDER BY 1 LIMIT {limit}"
    )
    return n, [str(r[0]) for r in rows]


def validate(con: DuckDBBackend, found: dict[str, str], mapping: MappingParams, path: Path) -> None:
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
