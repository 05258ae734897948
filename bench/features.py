"""Benchmark of sessions, features and labels: engine against pandas and a hand-written query.

For each size it generates the ``large`` synthetic log scaled to that many events,
ingests it into the canonical schema (both cached in the work folder), then times,
each in a fresh process so that peak memory is its own:

- session derivation (the session table, written to Parquet);
- features plus labels for ``--anchors`` weekly anchors (the full contract, to Parquet);
- the pandas reference on the same anchors (``--reference-sizes`` only);
- the 18 core features through the engine, and through one hand-written DuckDB query,
  whose values are compared with the engine's.

With ``--spec-sizes`` it also times the engine against an independent yardstick, the
tuned single DuckDB query of ``../shared/bench/peers`` (``--spec``) on its own 16-feature
spec and seeded log: whole processes (interpreter, imports and all), the median of
``--repeats`` paired runs, for 4 anchors two weeks apart (the spec's) and 12 weekly ones
(``--spec-anchors``); and the values the two define alike are compared (counts, spend,
days since the last event; days since the last purchase where the spec's 90-day look
sees one). The ``--spec-large`` sizes run the same on the ``large`` preset (nine months),
whose anchors then cover only its first months.

With ``--backend pyspark`` it also times features plus labels on Apache Spark
(``local[<threads>]``, the same expressions through Ibis's PySpark backend) beside DuckDB,
with the peak memory of the driver's Python process and of Spark's JVM (driver and
executors, one process in local mode), and the Spark / DuckDB ratio (issue 22).

Targets (issues 3 and 21): 50M events x 12 anchors under 5 minutes and 8 GiB; at 10M at
least 3x faster than pandas; the engine within 1.5x of the tuned query in time and peak
memory. Prints figures; it is not a test.

    .venv/bin/python bench/features.py --sizes 1 10 50 --reference-sizes 1 10
    .venv/bin/python bench/features.py --sizes --spec-sizes 10 --spec-large 50
    .venv/bin/python bench/features.py --sizes 1 10 --reference-sizes --backend pyspark
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from memory import (  # bench/memory.py, next to this script
    children_peak_mib,
    peak_mib,
    print_row,
    run_child,
)

EVENTS_PER_USER = 21.9  # of the large preset over its nine months (12.06M events / 550k users)
CORE = [
    *[f"{t}_{w}d" for w in (7, 30, 90) for t in ("views", "carts", "removes", "purchases")],
    "sessions_30d",
    "spend_30d",
    "spend_90d",
    "days_since_last_event",
    "days_since_last_purchase",
    "categories_30d",
]


def _params(threads: int, memory: str, temp: Path, *extra: str):
    from shoplog.config.params import load_params

    return load_params(
        "default",
        [
            "engine.threads=" + str(threads),
            "engine.memory_limit=" + memory,
            "engine.temp_directory=" + str(temp),
            *extra,
        ],
    )


def _anchors(events_path: Path, n: int, horizon: int) -> list[dt.datetime]:
    """``n`` weekly anchors ending at the last one whose horizon is observed."""
    import duckdb

    con = duckdb.connect()
    last = con.execute(f"SELECT max(event_time) FROM read_parquet('{events_path}')").fetchall()[0][
        0
    ]
    end = dt.datetime.combine(last.date(), dt.time()) + dt.timedelta(days=1)
    final = end - dt.timedelta(days=horizon)
    return [final - dt.timedelta(days=7 * k) for k in range(n - 1, -1, -1)]


def prepare(size: float, work: Path) -> Path:
    """The canonical log of ``size`` million events (generated and ingested once)."""
    from shoplog.config.params import load_params
    from shoplog.config.paths import ProjectPaths
    from shoplog.events.ingest import ingest
    from shoplog.events.synthetic import generate_events

    users = round(size * 1e6 / EVENTS_PER_USER)
    folder = work / f"{size:g}M"
    events = folder / "processed" / "events.parquet"
    if events.exists():
        return events
    raw = folder / "raw" / "large.parquet"
    if not raw.exists():
        generate_events(raw, "large", seed=42, n_users=users)
    params = load_params(
        "default",
        [
            f"data.source={raw}",
            "study.start_date=2019-10-01",
            "study.end_date=2020-07-01",
            f"engine.temp_directory={work / 'spill'}",
        ],
    )
    ingest(params, ProjectPaths(data_dir=folder))
    return events


def measure(kind: str, events_path: Path, out: Path, args: argparse.Namespace) -> dict:
    """One measurement (runs in a child process); returns seconds, rows and peak MiB."""
    if kind.startswith("spec_"):  # before any import: the query's process loads DuckDB only
        return measure_spec(kind, events_path, out, args)
    from shoplog.dataset import table as dataset
    from shoplog.events import engine, sessions

    spark = kind == "spark_engine"
    extra = (
        [
            "engine.backend=pyspark",
            f"engine.spark.master=local[{args.threads}]",
            f"engine.spark.driver_memory={args.spark_memory}",
        ]
        if spark
        else []
    )
    params = _params(args.threads, args.memory_limit, args.work / "spill", *extra)
    anchors = _anchors(events_path, args.anchors, params.anchors.horizon_days)
    observed_end = anchors[-1] + dt.timedelta(days=params.anchors.horizon_days)
    roles = ["bench"] * len(anchors)
    start = time.perf_counter()
    if kind == "reference":
        import pandas as pd

        from shoplog.dataset.reference import reference_table

        events = pd.read_parquet(events_path)
        rows = len(reference_table(events, anchors, params, observed_end))
    elif kind == "hand_sql":
        import duckdb

        con = duckdb.connect(
            config={
                "threads": args.threads,
                "memory_limit": args.memory_limit,
                "temp_directory": str(args.work / "spill"),
            }
        )
        con.execute("SET TimeZone = 'UTC'")
        sql = core_sql(events_path, anchors, params.sessions.gap_minutes)
        con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet)")
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0][0]
    else:
        con = engine.connect(params.engine)
        events = engine.read_events(con, events_path)
        if kind == "sessions":
            con.to_parquet(sessions.session_table(events, params.sessions.gap_minutes), out)
            rows = engine.run_sql(con, f"SELECT count(*) FROM read_parquet('{out}')")[0][0]
        else:
            names = CORE if kind == "core_engine" else None
            rows = dataset.build_table(
                con,
                events,
                anchors,
                roles,
                params,
                observed_end,
                out_path=out,
                batch_anchors=args.batch,
                names=names,
                labels=kind in ("engine", "spark_engine"),
            )
    seconds = time.perf_counter() - start
    python = peak_mib()
    if spark:  # Spark's JVM (driver and executors in local mode) is a child process
        jvm = children_peak_mib()
        return {
            "seconds": seconds,
            "rows": int(rows),
            "peak_mib": python + jvm,
            "python_mib": python,
            "jvm_mib": jvm,
        }
    return {"seconds": seconds, "rows": int(rows), "peak_mib": python}


def core_sql(events_path: Path, anchors: list[dt.datetime], gap_minutes: float) -> str:
    """The 18 core features as one hand-written DuckDB query (same definitions as the engine)."""
    values = ", ".join(f"(TIMESTAMP '{a:%Y-%m-%d %H:%M:%S}')" for a in anchors)
    counts = []
    for w in (7, 30, 90):
        for etype, short in (
            ("view", "views"),
            ("cart", "carts"),
            ("remove_from_cart", "removes"),
            ("purchase", "purchases"),
        ):
            counts.append(
                f"count(*) FILTER (WHERE event_type = '{etype}' "
                f"AND event_time >= anchor - INTERVAL {w} DAY) AS {short}_{w}d"
            )
    gap = round(gap_minutes * 60)
    return f"""
WITH ev AS (
    SELECT user_id, event_time, event_type, price, category_id,
           CASE WHEN lag(event_time) OVER w IS NULL
                  OR event_time - lag(event_time) OVER w > INTERVAL {gap} SECOND
                THEN 1 ELSE 0 END AS opens
    FROM read_parquet('{events_path}')
    WINDOW w AS (PARTITION BY user_id ORDER BY event_time)
),
anchors(anchor) AS (VALUES {values}),
win AS (
    SELECT user_id, anchor,
           {", ".join(counts)},
           coalesce(sum(opens) FILTER (WHERE event_time >= anchor - INTERVAL 30 DAY), 0)
               AS sessions_30d,
           coalesce(sum(price) FILTER (WHERE event_type = 'purchase'
                    AND event_time >= anchor - INTERVAL 30 DAY), 0) AS spend_30d,
           coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS spend_90d,
           (epoch(anchor) - epoch(max(event_time))) / 86400.0 AS days_since_last_event,
           count(DISTINCT category_id) FILTER (WHERE category_id IS NOT NULL
                    AND category_id <> '' AND event_time >= anchor - INTERVAL 30 DAY)
               AS categories_30d
    FROM ev JOIN anchors ON ev.event_time < anchor AND ev.event_time >= anchor - INTERVAL 90 DAY
    GROUP BY user_id, anchor
),
buys AS (
    SELECT user_id, anchor,
           (epoch(anchor) - epoch(max(event_time))) / 86400.0 AS days_since_last_purchase
    FROM ev JOIN anchors ON ev.event_time < anchor
    WHERE event_type = 'purchase'
    GROUP BY user_id, anchor
)
SELECT win.*, buys.days_since_last_purchase
FROM win LEFT JOIN buys USING (user_id, anchor)
"""


def compare(engine_out: Path, sql_out: Path) -> tuple[bool, float]:
    """Whether both outputs hold the same rows and values; the largest absolute difference."""
    import duckdb

    diffs = ", ".join(f"max(abs(coalesce(e.{c}, -1) - coalesce(s.{c}, -1)))" for c in CORE)
    con = duckdb.connect()
    row = con.execute(
        f"SELECT count(*), count(s.user_id), greatest({diffs}) "
        f"FROM read_parquet('{engine_out}') e FULL JOIN read_parquet('{sql_out}') s "
        "USING (user_id, anchor)"
    ).fetchall()[0]
    engine_rows = con.execute(f"SELECT count(*) FROM read_parquet('{engine_out}')").fetchall()[0][0]
    same = row[0] == row[1] == engine_rows and row[2] is not None and row[2] < 1e-6
    return same, float(row[2] if row[2] is not None else "nan")


# ---------------------------------------------------------------------------------------
# the shared yardstick: ../shared/bench/peers (spec.py, gen_events.py, feat_duckdb.py)

# the spec's columns and the engine's features of the same definition
SPEC_TYPES = {
    "view": "views",
    "cart": "carts",
    "remove_from_cart": "removes",
    "purchase": "purchases",
}
SPEC_SAME = {
    **{f"{t}_{w}d": f"{short}_{w}d" for w in (7, 30, 90) for t, short in SPEC_TYPES.items()},
    "spend_30d": "spend_30d",
    "spend_90d": "spend_90d",
    "days_since_last_event": "days_since_last_event",
}
# defined differently: sessions from the log's ids (the engine's come from the gap), distinct
# categories of views only (the engine's: of any event); computed, timed, not compared
SPEC_ENGINE_NAMES = [
    *SPEC_SAME.values(),
    "sessions_30d",
    "categories_30d",
    "days_since_last_purchase",
]


def spec_anchors(peers: Path, n: int) -> list[dt.datetime]:
    """The spec's anchors (4, two weeks apart) or ``n`` weekly ones ending at its last."""
    sys.path.insert(0, str(peers))
    import spec

    if n == len(spec.ANCHORS):
        return list(spec.ANCHORS)
    last = spec.ANCHORS[-1] + dt.timedelta(days=7)  # day 139 of the spec's 150
    return [last - dt.timedelta(days=7 * k) for k in range(n - 1, -1, -1)]


def measure_spec(kind: str, events_path: Path, out: Path, args: argparse.Namespace) -> dict:
    """The yardstick's query or the engine on the spec's features, in this (fresh) process."""
    anchors = spec_anchors(args.spec, args.anchors)
    start = time.perf_counter()
    if kind == "spec_query":
        import duckdb
        import feat_duckdb  # the peers' module (its folder is on the path)

        feat_duckdb.ANCHORS = anchors
        con = duckdb.connect(config={"threads": args.threads, "memory_limit": args.memory_limit})
        con.execute(feat_duckdb.build_sql(str(events_path), str(out)))
    else:
        from shoplog.dataset import table as dataset
        from shoplog.events import engine

        # the spec scores users with an event in the 90 days before the anchor
        params = _params(
            args.threads, args.memory_limit, args.work / "spill", "anchors.lookback_days=90"
        )
        con = engine.connect(params.engine)
        dataset.build_table(
            con,
            engine.read_events(con, events_path),
            anchors,
            ["bench"] * len(anchors),
            params,
            anchors[-1],
            out_path=out,
            names=SPEC_ENGINE_NAMES,
            labels=False,
        )
    seconds = time.perf_counter() - start
    import duckdb  # counting rows loads nothing the query's process would not

    rows = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0][0]
    return {"seconds": seconds, "rows": rows, "peak_mib": peak_mib()}


def compare_spec(engine_out: Path, query_out: Path) -> tuple[bool, float, int]:
    """Same (user, anchor) rows and the same values where the definitions agree.

    Returns whether they agree, the largest absolute difference and the number of rows
    where the engine (whole history) finds a purchase the spec's 90-day look does not;
    those must be at least 90 days back.
    """
    import duckdb

    con = duckdb.connect()
    diffs = [
        f"max(abs(coalesce(CAST(e.{ours} AS DOUBLE), -1) "
        f"- coalesce(CAST(q.{theirs} AS DOUBLE), -1)))"
        for theirs, ours in SPEC_SAME.items()
    ]
    diffs.append(
        "max(abs(e.days_since_last_purchase - q.days_since_last_purchase)) "
        "FILTER (WHERE q.days_since_last_purchase IS NOT NULL)"
    )
    row = con.execute(
        f"SELECT count(*), count(e.user_id), count(q.user_id), greatest({', '.join(diffs)}), "
        "count(*) FILTER (WHERE q.days_since_last_purchase IS NULL "
        "AND e.days_since_last_purchase IS NOT NULL), "
        "count(*) FILTER (WHERE q.days_since_last_purchase IS NULL "
        "AND e.days_since_last_purchase < 90) "
        f"FROM read_parquet('{engine_out}') e FULL JOIN read_parquet('{query_out}') q "
        "ON CAST(e.user_id AS VARCHAR) = CAST(q.user_id AS VARCHAR) AND e.anchor = q.anchor"
    ).fetchall()[0]
    total, ours, theirs, diff, older, wrong = row
    same = total == ours == theirs and diff is not None and diff < 1e-6 and wrong == 0
    return same, float("nan" if diff is None else diff), int(older)


def timed_child(kind: str, events: Path, out: Path, args: argparse.Namespace) -> dict | None:
    """One child run with its whole-process wall time (start-up and imports included)."""
    start = time.perf_counter()
    res = _child(kind, events, out, args)
    if res and "seconds" in res:
        res["process_seconds"] = time.perf_counter() - start
    return res


def spec_log(size: float, args: argparse.Namespace, large: bool) -> Path:
    """The yardstick's seeded log of ``size`` million events (canonical ids), made once;
    with ``large``, the ``large`` preset's nine months instead."""
    if large:
        return prepare(size, args.work)
    folder = args.work / "spec" / f"{size:g}M"
    canonical = folder / "events.parquet"
    if not canonical.exists():
        folder.mkdir(parents=True, exist_ok=True)
        raw = folder / "raw.parquet"
        n = str(round(size * 1e6))
        peers = args.spec
        subprocess.run([sys.executable, peers / "gen_events.py", n, raw], check=True, cwd=peers)
        subprocess.run([sys.executable, peers / "to_canonical.py", raw, canonical], check=True)
        raw.unlink()
    return canonical


def spec_comparison(args: argparse.Namespace) -> list[dict]:
    """Engine against the tuned query for each size and anchor count; prints and returns rows."""
    import pyarrow.parquet as pq

    print(
        f"\nthe tuned query of {args.spec} against the engine: whole processes, median of "
        f"{args.repeats} paired runs (ratios are medians of the pairs)"
    )
    print(
        f"{'log':<16} {'anchors':>7} {'query s':>8} {'engine s':>9} {'ratio':>6} "
        f"{'query MiB':>10} {'engine MiB':>11} {'ratio':>6} {'rows':>9}  same values"
    )
    rows = []
    cases = [(s, False, a) for s in args.spec_sizes for a in args.spec_anchors]
    cases += [(s, True, 12) for s in args.spec_large]
    for size, large, n_anchors in cases:
        events = spec_log(size, args, large)
        n = pq.read_metadata(events).num_rows
        sub = argparse.Namespace(**{**vars(args), "anchors": n_anchors})
        folder = events.parent
        pairs = []
        for _ in range(1 if large else args.repeats):
            q = timed_child("spec_query", events, folder / "query.parquet", sub)
            e = timed_child("spec_engine", events, folder / "engine.parquet", sub)
            if not (q and e and "seconds" in q and "seconds" in e):
                print(f"{size:g}M: a run failed or timed out ({q}, {e})")
                break
            pairs.append((q, e))
        if not pairs:
            continue
        same, diff, older = compare_spec(folder / "engine.parquet", folder / "query.parquet")

        def med(side: int, key: str, pairs: list = pairs) -> float:
            return statistics.median(p[side][key] for p in pairs)

        row = {
            "log": f"{n / 1e6:.0f}M {'large' if large else 'spec'}",
            "anchors": n_anchors,
            "query_s": med(0, "process_seconds"),
            "engine_s": med(1, "process_seconds"),
            "ratio": statistics.median(
                e["process_seconds"] / q["process_seconds"] for q, e in pairs
            ),
            "query_mib": med(0, "peak_mib"),
            "engine_mib": med(1, "peak_mib"),
            "rows": pairs[0][1]["rows"],
            "same": same,
        }
        row["mem_ratio"] = row["engine_mib"] / row["query_mib"]
        rows.append(row)
        print(
            f"{row['log']:<16} {n_anchors:>7} {row['query_s']:>8.1f} {row['engine_s']:>9.1f} "
            f"{row['ratio']:>6.2f} {row['query_mib']:>10,.0f} {row['engine_mib']:>11,.0f} "
            f"{row['mem_ratio']:>6.2f} {row['rows']:>9,}  "
            f"{'yes' if same else 'NO'} (largest difference {diff:.1e}; {older:,} last "
            "purchases older than the spec's 90 days)"
        )
        for name in ("query", "engine"):
            (folder / f"{name}.parquet").unlink(missing_ok=True)
    return rows


def _child(kind: str, events: Path, out: Path, args: argparse.Namespace) -> dict | None:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        str(events),
        str(out),
        "--threads",
        str(args.threads),
        "--memory-limit",
        args.memory_limit,
        "--anchors",
        str(args.anchors),
        "--work",
        str(args.work),
        "--spec",
        str(args.spec),
        "--backend",
        args.backend,
        "--spark-memory",
        args.spark_memory,
    ]
    if args.batch:
        cmd += ["--batch", str(args.batch)]
    return run_child(cmd, args.timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=float,
        nargs="*",
        default=[1, 10, 50],
        help="log sizes in millions of events (none: only the yardstick)",
    )
    parser.add_argument("--reference-sizes", type=float, nargs="*", default=[1])
    parser.add_argument("--anchors", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="6GB", help="engine memory limit")
    parser.add_argument("--batch", type=int, default=None, help="anchors per engine batch")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per measurement")
    parser.add_argument("--work", type=Path, default=Path("data/processed/bench"))
    parser.add_argument(
        "--spec",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "bench" / "peers",
        help="the shared yardstick's folder",
    )
    parser.add_argument("--spec-sizes", type=float, nargs="*", default=[])
    parser.add_argument("--spec-anchors", type=int, nargs="+", default=[4, 12])
    parser.add_argument("--spec-large", type=float, nargs="*", default=[])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--backend",
        choices=["duckdb", "pyspark"],
        default="duckdb",
        help="pyspark: also time features and labels on Spark local[threads]",
    )
    parser.add_argument(
        "--spark-memory",
        default="8g",
        help="Spark's JVM heap (local mode: driver and executors in one JVM)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.work = args.work.resolve()
    args.spec = args.spec.resolve()
    if args.child:
        kind, events, out = args.child
        if kind.startswith("spec_"):
            sys.path.insert(0, str(args.spec))
        print(json.dumps(measure(kind, Path(events), Path(out), args)))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"{args.anchors} weekly anchors, engine: {args.threads} threads, {args.memory_limit}")
    if args.sizes:
        print(
            f"{'measurement':<26} {'log':>5} {'seconds':>9} {'events/s':>12} {'peak MiB':>9} "
            f"{'rows':>11}"
        )
    import pyarrow.parquet as pq

    figures: dict[str, list] = {"engine": [], "spec": []}
    for size in args.sizes:
        events = prepare(size, args.work)
        n = pq.read_metadata(events).num_rows
        out = args.work / f"{size:g}M"
        res = {}
        for kind, label in (
            ("sessions", "sessions (engine)"),
            ("engine", "features+labels (engine)"),
            ("reference", "features+labels (pandas)"),
            ("core_engine", "core features (engine)"),
            ("hand_sql", "core features (hand SQL)"),
            ("spark_engine", "features+labels (Spark)"),
        ):
            if kind == "reference" and size not in args.reference_sizes:
                continue
            if kind == "spark_engine" and args.backend != "pyspark":
                continue
            res[kind] = _child(kind, events, out / f"{kind}.parquet", args)
            print_row(label, size, res[kind], n)
        ok = {k: v for k, v in res.items() if v and not v.get("timeout")}
        if "engine" in ok and "reference" in ok:
            ratio = ok["reference"]["seconds"] / ok["engine"]["seconds"]
            print(f"{'':<33}engine is {ratio:.1f}x faster than the pandas reference")
        if "engine" in ok and "spark_engine" in ok:
            spark, duck = ok["spark_engine"], ok["engine"]
            print(
                f"{'':<33}Spark / DuckDB = {spark['seconds'] / duck['seconds']:.2f} in time, "
                f"{spark['peak_mib'] / duck['peak_mib']:.2f} in peak memory (Python "
                f"{spark['python_mib']:,.0f} MiB + JVM {spark['jvm_mib']:,.0f} MiB); "
                f"{'same' if spark['rows'] == duck['rows'] else 'DIFFERENT'} row count"
            )
        if "core_engine" in ok and "hand_sql" in ok:
            ratio = ok["core_engine"]["seconds"] / ok["hand_sql"]["seconds"]
            same, diff = compare(out / "core_engine.parquet", out / "hand_sql.parquet")
            print(
                f"{'':<33}engine / hand SQL = {ratio:.2f}; same values: "
                f"{'yes' if same else 'NO'} (largest difference {diff:.1e})"
            )
        for kind in res:
            (out / f"{kind}.parquet").unlink(missing_ok=True)
        figures["engine"] += [
            {"size": size, "events": n, "kind": k, "anchors": args.anchors, **v}
            for k, v in res.items()
            if v
        ]
    if args.spec_sizes or args.spec_large:
        if not (args.spec / "feat_duckdb.py").exists():
            print(f"no yardstick at {args.spec}: the comparison with the tuned query is skipped")
        else:
            figures["spec"] = spec_comparison(args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
