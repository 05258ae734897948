"""The engine that scans the event log: an Ibis backend (DuckDB by default).

Everything that reads the whole log goes through a connection made here, so
resource limits (memory, threads, spill folder) come from the parameters and
the same expressions can later run on another Ibis backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as DuckDBBackend

    from shoplog.config.params import EngineParams


def connect(settings: EngineParams | None = None) -> DuckDBBackend:
    """A fresh engine connection, configured from the ``engine`` parameters (UTC time zone)."""
    from shoplog.config.params import EngineParams

    settings = settings or EngineParams()
    config: dict[str, Any] = {"memory_limit": settings.memory_limit}
    if settings.threads:
        config["threads"] = settings.threads
    if settings.temp_directory:
        Path(settings.temp_directory).mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = settings.temp_directory
    # Keeping insertion order makes written Parquet files identical run to run.
    config["preserve_insertion_order"] = True
    con = ibis.duckdb.connect(**config)
    # Set after connecting: ICU (time zones) is loaded then, not while config is read.
    con.con.execute("SET TimeZone = 'UTC'")
    return con


def connect_flat(namespace: Mapping[str, Any]) -> DuckDBBackend:
    """A connection from a chapter's ``engine_*`` parameters (memory, threads, spill folder),
    so that every chapter scans the log with the resources the profile allows."""
    from shoplog.config.params import EngineParams

    given = {k: namespace.get(f"engine_{k}") for k in EngineParams.model_fields}
    return connect(EngineParams(**{k: v for k, v in given.items() if v is not None}))


def read_events(con: DuckDBBackend, path: str | Path) -> ibis.Table:
    """The canonical event log as an Ibis table (lazy: nothing is loaded into memory)."""
    return con.read_parquet(str(path), table_name="events")


def sql_quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """A quoted SQL identifier, safe for any column name a user's file may have."""
    return '"' + str(name).replace('"', '""') + '"'


def run_sql(con: DuckDBBackend, sql: str) -> list[tuple[Any, ...]]:
    """Run SQL on the engine and fetch every row (DuckDB 2 needs results consumed)."""
    return con.con.execute(sql).fetchall()


# Amounts (prices, spend) are summed as whole millionths in int64: integer sums do not
# depend on how threads split and combine rows, float sums do in their last bits (and a
# last-bit change can move an early-stopping round or a tie in a ranking downstream).
MONEY_SCALE = 1_000_000


def money_units(value: ir.NumericValue) -> ir.IntegerValue:
    """An amount as whole millionths (int64), so that sums of it are exact and order-free."""
    return (value * MONEY_SCALE).round().cast("int64")


def money_value(units: ir.NumericValue) -> ir.FloatingValue:
    """Millionths (see :func:`money_units`) back to an amount."""
    return units.cast("float64") / MONEY_SCALE


def exact_sum(value: ir.NumericValue, where: ir.BooleanValue | None = None) -> ir.FloatingValue:
    """The sum of an amount, identical whatever the thread count (missing when no row)."""
    return money_value(money_units(value).sum(where=where))


def exact_mean(value: ir.NumericValue, where: ir.BooleanValue | None = None) -> ir.FloatingValue:
    """The mean of an amount, identical whatever the thread count (missing when no row)."""
    units = money_units(value)
    return money_value(units.sum(where=where)) / units.count(where=where)


def micros_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.IntegerValue:
    """``later - earlier`` in whole microseconds (int64: its sums and means are exact)."""
    return later.delta(earlier, unit="microsecond")


def seconds_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """``later - earlier`` in seconds, exact to the microsecond."""
    return micros_between(later, earlier).cast("float64") / 1e6
