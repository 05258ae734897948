"""Benchmark of the model chapter's work: every learner, the tuning studies, SHAP.

On a modelling table (the default book's, built by ``shoplog run``), each task runs in a
fresh process (its own peak memory) with the profile's model settings, and the script
prints the wall time of every learner (fit on train, score validation and test, the
user bootstrap), of each Optuna study, of calibration, and of TreeSHAP on the rows
that ``shoplog score`` would explain, with the peak memory. Target (issue 5): the
whole benchmark of both tasks, tuning included, in under 15 minutes on 2 cores.

    .venv/bin/python bench/models.py --dataset data/processed/dataset.parquet
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from memory import peak_mib, run_child  # bench/memory.py, next to this script


def measure(task: str, dataset: Path, profile: str, overrides: list[str]) -> dict:
    """Run one task end to end, timing each step (in this process)."""
    import pandas as pd

    from shoplog.config.params import load_params
    from shoplog.dataset.labels import LABELS
    from shoplog.modeling import explain, tasks

    params = load_params(profile, overrides)
    table = pd.read_parquet(dataset)
    features = [c for c in table.columns if c not in {"user_id", "anchor", "split", *LABELS}]
    steps: list[tuple[str, float]] = []
    last = [time.perf_counter()]

    def progress(message: str) -> None:
        now = time.perf_counter()
        steps.append((message.split(": ", 1)[1], now - last[0]))
        last[0] = now

    start = time.perf_counter()
    result = tasks.run_task(
        table, features, task, params.models, params.seed, params.targeting.top_k_fraction, progress
    )
    total = time.perf_counter() - start
    score_rows = table[table["split"] == "score"][features].astype("float64")
    t0 = time.perf_counter()
    result.kept.model.predict_proba(score_rows)
    predict = time.perf_counter() - t0
    t0 = time.perf_counter()
    explain.shap_values(result.kept.model, score_rows)
    shap_s = time.perf_counter() - t0
    rows = {s: len(result.data.y[s]) for s in ("train", "validation", "test")}
    return {
        "task": task,
        "rows": rows,
        "features": len(features),
        "steps": steps,
        "seconds": total,
        "kept": result.kept.name,
        "kept_pr_auc": float(result.table.set_index("model").loc[result.kept.name, "pr_auc"]),
        "score_rows": len(score_rows),
        "predict_seconds": predict,
        "shap_seconds": shap_s,
        "peak_mib": peak_mib(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("data/processed/dataset.parquet"))
    parser.add_argument("--profile", default="default")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per task")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.dataset, args.profile, args.overrides)))
        return 0
    if not args.dataset.exists():
        print(
            f"{args.dataset}: no modelling table; build it with: shoplog run --only "
            "01_data 05_features",
            file=sys.stderr,
        )
        return 1
    grand = 0.0
    for task in ("churn", "purchase"):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            task,
            "--dataset",
            str(args.dataset),
            "--profile",
            args.profile,
        ]
        for o in args.overrides:
            cmd += ["--set", o]
        res = run_child(cmd, args.timeout)
        if res is None or res.get("timeout"):
            print(f"{task}: {'failed' if res is None else 'not finished in time'}")
            continue
        rows = res["rows"]
        print(
            f"\n{task}: {rows['train']:,} train / {rows['validation']:,} validation / "
            f"{rows['test']:,} test rows, {res['features']} features"
        )
        print(f"  {'step':<60} {'seconds':>8}")
        for label, seconds in res["steps"]:
            print(f"  {label:<60} {seconds:>8.1f}")
        print(f"  {'all (benchmark, tuning, calibration, bootstrap)':<60} {res['seconds']:>8.1f}")
        print(
            f"  kept: {res['kept']}, test PR-AUC {res['kept_pr_auc']:.4f}; peak "
            f"{res['peak_mib']:,.0f} MiB"
        )
        n = res["score_rows"]
        print(
            f"  scoring {n:,} users: predict {res['predict_seconds']:.2f} s "
            f"({n / res['predict_seconds']:,.0f} users/s), TreeSHAP {res['shap_seconds']:.2f} s "
            f"({n / res['shap_seconds']:,.0f} users/s)"
        )
        grand += res["seconds"]
    print(f"\nboth tasks: {grand / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
