"""Benchmark of the journeys and seasonality scans: engine against pm4py's own discovery.

On the benchmark logs of ``bench/features.py`` (generated and ingested once, cached in
the work folder) it times, each in a fresh process so that peak memory is its own:

- directly-follows counts (all sessions, event types) in the engine;
- the daily series (active users, sessions, purchases, revenue) in the engine;
- at ``--pm4py-sizes``: pm4py's ``discover_dfg`` on the sessions as a pandas DataFrame
  (case, activity, timestamp; building it is not timed), and the engine on that same
  DataFrame; both graphs are checked equal to the engine's from the raw log.

Targets (issue 4): report the engine's seconds at 10M events and the pm4py / engine
ratio at 1M. Prints figures; it is not a test.

    .venv/bin/python bench/journeys.py --sizes 1 10 --pm4py-sizes 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from features import _params, prepare  # bench/features.py, next to this script
from memory import peak_mib, print_row, run_child

GAP_MINUTES = 30


def measure(kind: str, events_path: Path, args: argparse.Namespace) -> dict:
    """One measurement (runs in a child process): seconds, rows and peak MiB."""
    from shoplog.behaviour import journeys, seasonality
    from shoplog.events import engine

    params = _params(args.threads, args.memory_limit, args.work / "spill")
    con = engine.connect(params.engine)
    events = engine.read_events(con, events_path)
    if kind in ("pm4py", "cases"):
        con.create_table("steps", journeys.session_steps(events, GAP_MINUTES), temp=True)
        steps = con.table("steps")
        log = journeys.sample_log(steps, n_sessions=10**12, seed=0)  # every session
        ours = journeys.pm4py_graph(journeys.dfg(steps))
        start = time.perf_counter()
        if kind == "pm4py":
            import pm4py

            graph = pm4py.discover_dfg(log)
        else:  # the engine on pm4py's very input
            cases = con.create_table("cases", log.assign(position=range(len(log))), temp=True)
            start = time.perf_counter()
            graph = journeys.pm4py_graph(journeys.dfg_from_cases(cases))
        seconds = time.perf_counter() - start
        same = ours == tuple(dict(g) for g in graph)
        return {"seconds": seconds, "rows": len(graph[0]), "peak_mib": peak_mib(), "same": same}
    start = time.perf_counter()
    if kind == "dfg":
        con.create_table("steps", journeys.session_steps(events, GAP_MINUTES), temp=True)
        rows = len(journeys.dfg(con.table("steps")))
    else:
        rows = len(seasonality.daily_series(events, GAP_MINUTES))
    return {"seconds": time.perf_counter() - start, "rows": rows, "peak_mib": peak_mib()}


def _child(kind: str, events: Path, args: argparse.Namespace) -> dict | None:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        str(events),
        "--threads",
        str(args.threads),
        "--memory-limit",
        args.memory_limit,
        "--work",
        str(args.work),
    ]
    return run_child(cmd, args.timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--pm4py-sizes", type=float, nargs="*", default=[1])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="6GB", help="engine memory limit")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per measurement")
    parser.add_argument("--work", type=Path, default=Path("data/processed/bench"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.work = args.work.resolve()
    if args.child:
        kind, events = args.child
        print(json.dumps(measure(kind, Path(events), args)))
        return 0
    import pyarrow.parquet as pq

    args.work.mkdir(parents=True, exist_ok=True)
    print(
        f"engine: {args.threads} threads, {args.memory_limit}; sessions from a "
        f"{GAP_MINUTES}-minute gap"
    )
    print(
        f"{'measurement':<33} {'log':>5} {'seconds':>9} {'events/s':>12} {'peak MiB':>9} "
        f"{'rows':>7}"
    )
    figures = []
    for size in args.sizes:
        events = prepare(size, args.work)
        n = pq.read_metadata(events).num_rows
        res = {}
        for kind, label in (
            ("dfg", "directly-follows (engine)"),
            ("daily", "daily series (engine)"),
            ("cases", "directly-follows (engine, cases)"),
            ("pm4py", "discover_dfg (pm4py, cases)"),
        ):
            if kind in ("cases", "pm4py") and size not in args.pm4py_sizes:
                continue
            res[kind] = _child(kind, events, args)
            print_row(label, size, res[kind], n, width=33, rows_width=7, digits=2)
        done = {k: v for k, v in res.items() if v and "seconds" in v}
        if "pm4py" in done:
            for base, what in (
                ("dfg", "from the raw log, sessions included"),
                ("cases", "on pm4py's input"),
            ):
                if base in done:
                    ratio = done["pm4py"]["seconds"] / done[base]["seconds"]
                    print(f"{'':<40}pm4py / engine {what} = {ratio:.2f}")
            same = all(done[k]["same"] for k in ("pm4py", "cases") if k in done)
            print(f"{'':<40}same graph as the engine's: {'yes' if same else 'NO'}")
        figures.append({"size": size, "events": n, **res})
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
