"""The engine that scans the event log: an Ibis backend (DuckDB by default, or Spark).

Everything that reads the whole log goes through a connection made here, so resource
limits (memory, threads, spill folder, Spark master) come from the parameters, and the
same Ibis expressions run on either backend. What the backends do differently (staging an
intermediate table, an ordered string aggregate, writing a result file) sits behind one
function each, below.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as DuckDBBackend
    from ibis.backends.pyspark import Backend as SparkBackend

    from shoplog.config.params import EngineParams


def connect(settings: EngineParams | None = None) -> DuckDBBackend | SparkBackend:
    """A fresh engine connection, configured from the ``engine`` parameters (UTC time zone):
    DuckDB, or Spark when ``engine.backend`` is ``pyspark``."""
    from shoplog.config.params import EngineParams

    settings = settings or EngineParams()
    if settings.backend == "pyspark":
        return connect_spark(settings)
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


def spark_conf(settings: EngineParams) -> dict[str, str]:
    """The Spark settings a session is built with: UTC, the parameters' resources, Arrow
    transfers to pandas, no web UI; then ``engine.spark.conf`` on top."""
    import os
    import re

    spark = settings.spark
    conf = {
        "spark.app.name": "shoplog",
        "spark.master": spark.master,
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.memory": spark.driver_memory,
        "spark.executor.memory": spark.executor_memory,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # naive Parquet timestamps are read as timestamps without a time zone
        "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
        # nothing is saved as a table; the (empty) warehouse folder stays out of the project
        "spark.sql.warehouse.dir": str(Path(tempfile.gettempdir()) / "shoplog-spark-warehouse"),
    }
    if spark.executor_cores:
        conf["spark.executor.cores"] = str(spark.executor_cores)
    local = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\d+)?\])?", spark.master)
    if spark.shuffle_partitions:
        conf["spark.sql.shuffle.partitions"] = str(spark.shuffle_partitions)
    elif local:
        cores = local.group(1) or "1"  # plain "local" is one core
        n = (os.cpu_count() or 1) if cores == "*" else int(cores)
        conf["spark.sql.shuffle.partitions"] = str(2 * n)
    if settings.temp_directory:
        Path(settings.temp_directory).mkdir(parents=True, exist_ok=True)
        conf["spark.local.dir"] = settings.temp_directory
    conf.update({str(k): str(v) for k, v in spark.conf.items()})
    return conf


def spark_unavailable() -> str | None:
    """Why Spark cannot run here (pyspark or a Java runtime missing), or None."""
    import importlib.util
    import os
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed: run `make env`"
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        return (
            "no Java runtime was found (java on PATH or JAVA_HOME): install one (Debian: "
            "apt-get install default-jre-headless; `make test` does when it can)"
        )
    return None


def connect_spark(settings: EngineParams) -> SparkBackend:
    """An Ibis connection to a Spark session built from ``engine.spark`` (a session already
    running in this process is reused, with these settings where Spark allows)."""
    missing = spark_unavailable()
    if missing:
        raise RuntimeError(f"engine.backend is pyspark but {missing}, or use engine.backend=duckdb")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(session)


def is_spark(con: Any) -> bool:
    """Whether ``con`` is a Spark connection (else DuckDB)."""
    return getattr(con, "name", "") == "pyspark"


def _on_duckdb(expr: ir.Expr) -> bool:
    """Whether ``expr`` reads DuckDB tables (its native forms apply), else the portable ones."""
    return getattr(expr._find_backend(), "name", "") == "duckdb"


def stage(con: Any, expr: ir.Table, name: str) -> tuple[ir.Table, Callable[[], None]]:
    """Materialise ``expr`` once in the engine, for several later queries to read; returns
    the staged table and the function that drops it. DuckDB: a temp table. Spark: a cached
    temp view (computed when first read, kept in executor memory and disk)."""
    if is_spark(con):
        # Table.cache() on this connection: the public form picks DuckDB for a table of
        # literals (the anchors), so it is asked of the connection itself, after the
        # literal tables are registered in the session (as execute() does first)
        con._run_pre_execute_hooks(expr)
        cached = con._cached_table(expr)
        return cached, cached.release
    con.create_table(name, expr, temp=True)
    return con.table(name), lambda: con.drop_table(name, force=True)


def ordered_concat(values: ir.StringColumn, order: ir.Column, sep: str) -> ir.StringScalar:
    """An aggregate joining ``values`` with ``sep`` in the order of ``order`` (unique within
    a group). DuckDB orders the aggregate itself; Spark SQL cannot order an aggregate, so
    there the pairs are collected, sorted by ``order`` and their values joined (the same
    string; a test compares both engines' journey variants)."""
    if _on_duckdb(values):
        return values.group_concat(sep, order_by=order)
    pairs = ibis.struct({"o": order, "v": values}).collect().sort()
    return pairs.map(lambda pair: pair.v).join(sep)


def write_parquet(con: Any, expr: ir.Table, path: str | Path) -> None:
    """Write the rows of ``expr`` (in its order) to one Parquet file at ``path``. Spark
    writes folders of parts, so its (small: one row per user and anchor) result is
    collected to this process and written here."""
    if is_spark(con):
        import pyarrow.parquet as pq

        pq.write_table(con.to_pyarrow(expr), str(path), compression="zstd")
        return
    con.to_parquet(expr, path, compression="zstd")


def connect_flat(namespace: Mapping[str, Any]) -> DuckDBBackend | SparkBackend:
    """A connection from a chapter's ``engine_*`` parameters (memory, threads, spill folder),
    so that every chapter scans the log with the resources the profile allows."""
    from shoplog.config.params import EngineParams

    given = {k: namespace.get(f"engine_{k}") for k in EngineParams.model_fields}
    return connect(EngineParams(**{k: v for k, v in given.items() if v is not None}))


def read_events(con: DuckDBBackend | SparkBackend, path: str | Path) -> ibis.Table:
    """The canonical event log as an Ibis table (lazy: nothing is loaded into memory): the
    ingested Parquet file, or, given its reference (``events.ref.json``), a canonical
    dataset read in place, in its study window."""
    if str(path).endswith(".ref.json"):
        from shoplog.events.canonical import read_reference

        return read_reference(con, path)
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


def as_int64(value: ir.IntegerValue) -> ir.IntegerValue:
    """``value`` (a sum or count) cast to a 64-bit integer in the query itself.

    Ibis types a sum of integers as int64 and so drops ``.cast("int64")`` as a no-op, while
    DuckDB sums into 128-bit integers: slower to carry through later stages, and written to
    Parquet as doubles. The cast is built directly so that it is always in the query.
    """
    return ops.Cast(value, to=dt.int64).to_expr()


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
