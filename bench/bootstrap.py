"""Benchmark of the user bootstrap behind every benchmark interval and paired difference.

Times :func:`metrics.bootstrap_draws` (all seven metrics, all resamples, rows sorted once)
on a test split the size of the default book's (about 150,000 rows of 60,000 users) for
several resample counts, against the reference: :func:`metrics.user_bootstrap` of PR-AUC
alone, one resample at a time (scikit-learn's average precision). Checks that both give
the same PR-AUC interval. Prints figures; it is not a test.

    .venv/bin/python bench/bootstrap.py --rows 150000 --boots 200 1000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from shoplog.modeling import metrics as M


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--users", type=int, default=60_000)
    parser.add_argument("--boots", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--reference-boots", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    y = (rng.random(args.rows) < 0.6).astype(float)
    p = np.clip(y * 0.3 + rng.random(args.rows), 0, None)
    users = rng.integers(0, args.users, args.rows)
    print(f"{args.rows:,} rows of {args.users:,} users")
    for n_boot in args.boots:
        start = time.perf_counter()
        M.bootstrap_draws(y, p, users, 0.5, 0.2, n_boot, 42)
        seconds = time.perf_counter() - start
        print(
            f"  batched, 7 metrics, {n_boot:>5} resamples: {seconds:7.1f} s "
            f"({n_boot * args.rows / seconds / 1e6:,.1f} M row-resamples/s)"
        )
    n = args.reference_boots
    start = time.perf_counter()
    ref = M.user_bootstrap(M.pr_auc, y, p, users, n_boot=n, seed=42)
    ref_s = time.perf_counter() - start
    start = time.perf_counter()
    point, draws = M.bootstrap_draws(y, p, users, 0.5, 0.2, n, 42)
    fast_s = time.perf_counter() - start
    fast = M.percentile_interval(point["pr_auc"], draws["pr_auc"])
    same = np.allclose([ref.low, ref.high], [fast.low, fast.high])
    print(
        f"  reference (PR-AUC only, one resample at a time), {n} resamples: {ref_s:.1f} s; "
        f"batched (all 7 metrics): {fast_s:.1f} s; ratio {ref_s / fast_s:.1f}x; "
        f"same PR-AUC interval: {same}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
