"""Benchmark of sessions, features and labels: engine against pandas and a hand-written query.

For each size it generates the ``large`` synthetic log scaled to that many events,
ingests it into the canonical schema (both cached in the work folder), then times,
each in a fresh process so that peak memory is its own:

- session derivation (the session table, written to Parquet);
- features plus labels for ``--anchors`` weekly anchors (the full contract, to Parquet);
- the pandas reference on the same anchors (``--reference-sizes`` only);
- the 18 core features through the engine, and through one hand-written DuckDB query,
  whose values are compared with the engine's.

Targets (issue 3): 50M events x 12 anchors under 5 minutes and 8 GiB; at 10M at least
3x faster than pandas; the engine within 1.5x of the hand-written query. Prints figures;
it is not a test.

    .venv/bin/python bench/features.py --sizes 1 10 50 --reference-sizes 1 10
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from memory import peak_mib, print_row, run_child  # bench/memory.py, next to this script

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


def _params(threads: int, memory: str, temp: Path):
    from shoplog.config.params import load_params

    return load_params(
        "default",
        [
            "engine.threads=" + str(threads),
            "engine.memory_limit=" + memory,
            "engine.temp_directory=" + str(temp),
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
    from shoplog.dataset import table as dataset
    from shoplog.events import engine, sessions

    params = _params(args.threads, args.memory_limit, args.work / "spill")
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
                labels=kind == "engine",
            )
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": int(rows), "peak_mib": peak_mib()}


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
    ]
    if args.batch:
        cmd += ["--batch", str(args.batch)]
    return run_child(cmd, args.timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=float,
        nargs="+",
        default=[1, 10, 50],
        help="log sizes in millions of events",
    )
    parser.add_argument("--reference-sizes", type=float, nargs="*", default=[1])
    parser.add_argument("--anchors", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="6GB", help="engine memory limit")
    parser.add_argument("--batch", type=int, default=None, help="anchors per engine batch")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per measurement")
    parser.add_argument("--work", type=Path, default=Path("data/processed/bench"))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.work = args.work.resolve()
    if args.child:
        kind, events, out = args.child
        print(json.dumps(measure(kind, Path(events), Path(out), args)))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"{args.anchors} weekly anchors, engine: {args.threads} threads, {args.memory_limit}")
    print(
        f"{'measurement':<26} {'log':>5} {'seconds':>9} {'events/s':>12} {'peak MiB':>9} "
        f"{'rows':>11}"
    )
    import pyarrow.parquet as pq

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
        ):
            if kind == "reference" and size not in args.reference_sizes:
                continue
            res[kind] = _child(kind, events, out / f"{kind}.parquet", args)
            print_row(label, size, res[kind], n)
        ok = {k: v for k, v in res.items() if v and not v.get("timeout")}
        if "engine" in ok and "reference" in ok:
            ratio = ok["reference"]["seconds"] / ok["engine"]["seconds"]
            print(f"{'':<33}engine is {ratio:.1f}x faster than the pandas reference")
        if "core_engine" in ok and "hand_sql" in ok:
            ratio = ok["core_engine"]["seconds"] / ok["hand_sql"]["seconds"]
            same, diff = compare(out / "core_engine.parquet", out / "hand_sql.parquet")
            print(
                f"{'':<33}engine / hand SQL = {ratio:.2f}; same values: "
                f"{'yes' if same else 'NO'} (largest difference {diff:.1e})"
            )
        for kind in res:
            (out / f"{kind}.parquet").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
