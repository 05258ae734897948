"""The engine that scans the event log: an Ibis backend (DuckDB by default).

Everything that reads the whole log goes through a connection made here, so
resource limits (memory, threads, spill folder) come from the parameters and
the same expressions can later run on another Ibis backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as DuckDBBackend

    from shoplog.params import EngineParams


def connect(settings: EngineParams | None = None) -> DuckDBBackend:
    """A fresh engine connection, configured from the ``engine`` parameters (UTC time zone)."""
    from shoplog.params import EngineParams

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


def seconds_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """``later - earlier`` in seconds, exact to the microsecond."""
    return later.delta(earlier, unit="microsecond").cast("float64") / 1e6
