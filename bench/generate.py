"""Benchmark of the synthetic shop generator: events/s and peak memory at the large preset.

Target (issue 2): every 10M events generated in under a minute with bounded memory,
written in chunks. Prints figures; it is not a test.

    .venv/bin/python bench/generate.py [--users 550000 1100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

from memory import peak_mib  # bench/memory.py, next to this script


def _one(users: int, out: str, queue) -> None:  # runs in a child: its own peak memory
    from shoplog.events.synthetic import generate_events

    start = time.perf_counter()
    summary = generate_events(out, "large", seed=42, n_users=users)
    seconds = time.perf_counter() - start
    queue.put((summary.rows, seconds, peak_mib(), Path(out).stat().st_size))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[55_000, 550_000, 1_100_000])
    args = parser.parse_args()
    ctx = get_context("spawn")
    print(
        f"{'users':>10} {'events':>12} {'seconds':>8} {'events/s':>12} {'s per 10M':>10} "
        f"{'peak MiB':>9} {'file MiB':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for users in args.users:
            queue = ctx.Queue()
            out = str(Path(tmp) / f"large_{users}.parquet")
            proc = ctx.Process(target=_one, args=(users, out, queue))
            proc.start()
            rows, seconds, peak, size = queue.get()
            proc.join()
            Path(out).unlink()
            print(
                f"{users:>10,} {rows:>12,} {seconds:>8.1f} {rows / seconds:>12,.0f} "
                f"{seconds / rows * 1e7:>10.1f} {peak:>9,.0f} {size / 2**20:>9,.0f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
