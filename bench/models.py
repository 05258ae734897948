"""Benchmark of the model chapter's work: every learner of both tasks, tuning, calibration.

On a modelling table (the default book's, built by ``shoplog run``), one child process runs
what the models chapter runs (``tasks.run_tasks``: every job of both tasks side by side in
``models.workers`` processes, one thread each) and prints the wall time of each job (fit,
threshold, test scores and user bootstrap), the whole benchmark's wall time, the kept
models' test PR-AUC, and TreeSHAP on the rows ``shoplog score`` would explain. With
``--before DIR`` (a models folder of an earlier run, its ``*_benchmark.csv``) it also prints
each model's test PR-AUC then and now, and whether the move stays inside the earlier 95%
interval. The sequence models (GRU, BiLSTM) run when the features chapter wrote their
daily sequences beside the table (``sequences.parquet``). Targets: the benchmark of both
tasks within 4 minutes on 2 cores (issue 21); the sequence models add at most 90 s
(issue 23: compare a run with ``--set 'models.learners=[...]'`` naming the others).

    .venv/bin/python bench/models.py --dataset data/processed/dataset.parquet \
        --before /path/to/earlier/data/outputs/models
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from memory import peak_mib, run_child  # bench/memory.py, next to this script


def measure(dataset: Path, profile: str, overrides: list[str]) -> dict:
    """Run both tasks as the chapter does, timing each job (in this process and its workers)."""
    import pandas as pd

    from shoplog.config.params import load_params
    from shoplog.dataset import sequences as S
    from shoplog.dataset.labels import LABELS
    from shoplog.modeling import explain, models, tasks

    params = load_params(profile, overrides)
    table = pd.read_parquet(dataset)
    beside = dataset.with_name("sequences.parquet")
    sequences = None
    if S.wanted(params.models.learners) and beside.exists():
        sequences = S.read_sequences(beside, params.features.sequence_days)
    features, _ = models.observed_features(
        table, [c for c in table.columns if c not in {"user_id", "anchor", "split", *LABELS}]
    )
    start = time.perf_counter()
    results, timings = tasks.run_tasks(
        table,
        features,
        list(tasks.TASKS),
        params.models,
        params.seed,
        params.targeting.top_k_fraction,
        sequences=sequences,
    )
    total = time.perf_counter() - start
    score_rows = table[table["split"] == "score"][features].astype("float64")
    out = {"seconds": total, "timings": timings.to_dict("records"), "tasks": {}}
    for task, result in results.items():
        t0 = time.perf_counter()
        explain.shap_values(result.kept.model, score_rows)
        out["tasks"][task] = {
            "rows": {s: len(result.data.y[s]) for s in models.SPLITS},
            "kept": result.kept.name,
            "table": result.table[["model", "pr_auc", "pr_auc_low", "pr_auc_high"]].to_dict(
                "records"
            ),
            "shap_seconds": time.perf_counter() - t0,
        }
    out.update(
        workers=tasks.workers_for(params.models, len(timings)),
        features=len(features),
        score_rows=len(score_rows),
        sequences=sequences is not None,
        peak_mib=peak_mib(),
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("data/processed/dataset.parquet"))
    parser.add_argument("--profile", default="default")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--before", type=Path, help="models folder of an earlier run")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.dataset, args.profile, args.overrides)))
        return 0
    if not args.dataset.exists():
        print(
            f"{args.dataset}: no modelling table; build it with: shoplog run --only "
            "01_data 05_features",
            file=sys.stderr,
        )
        return 1
    cmd = [sys.executable, __file__, "--child", "--dataset", str(args.dataset)]
    cmd += ["--profile", args.profile]
    for o in args.overrides:
        cmd += ["--set", o]
    res = run_child(cmd, args.timeout)
    if res is None or res.get("timeout"):
        print("the benchmark " + ("failed" if res is None else "did not finish in time"))
        return 1
    import os

    import pandas as pd

    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    print(
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {res['workers']} workers, "
        f"{res['features']} features, sequence models "
        + ("included" if res["sequences"] else "not run (no sequences.parquet, or left out)")
    )
    for task, t in res["tasks"].items():
        r = t["rows"]
        print(f"{task}: {r['train']:,} train / {r['validation']:,} validation / {r['test']:,} test")
    wide = pd.DataFrame(res["timings"]).pivot(index="step", columns="task", values="seconds")
    wide = wide.loc[wide.sum(axis=1).sort_values(ascending=False).index]
    print("\nseconds per job (one thread each; fit, threshold, test scores, bootstrap)")
    print(wide.round(1).to_string())
    print(f"sum of jobs: {wide.to_numpy().sum():.1f} s")
    print(
        f"benchmark of both tasks (wall): {res['seconds']:.1f} s; peak {res['peak_mib']:,.0f} MiB"
    )
    for task, t in res["tasks"].items():
        now = pd.DataFrame(t["table"]).set_index("model")
        print(f"\n{task}: kept {t['kept']}, test PR-AUC {now.loc[t['kept'], 'pr_auc']:.4f}")
        print(f"  TreeSHAP on {res['score_rows']:,} scored users: {t['shap_seconds']:.1f} s")
        if args.before:
            then = pd.read_csv(args.before / f"{task}_benchmark.csv").set_index("model")
            print(f"  {'model':<38} {'before':>7} {'95% interval':>17} {'after':>7}  inside")
            for model in now.index:
                if model not in then.index:
                    continue
                b, a = then.loc[model], now.loc[model, "pr_auc"]
                inside = b["pr_auc_low"] <= a <= b["pr_auc_high"]
                print(
                    f"  {model:<38} {b['pr_auc']:7.4f} [{b['pr_auc_low']:.4f}, "
                    f"{b['pr_auc_high']:.4f}] {a:7.4f}  {'yes' if inside else 'NO'}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
