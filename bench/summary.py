"""Every speed target in one table: runs the benchmarks, then prints what each measured
against its target, with the machine's core count and the date (``make bench``).

- the feature engine against the shared yardstick's tuned query at 10M events (4 and 12
  anchors, median of paired runs) and on the nine-month ``large`` log at 50M with 12
  anchors in its first months (``bench/features.py``); features and labels at 50M x 12
  weekly anchors;
- directly-follows counts: the engine against ``pm4py.discover_dfg`` on the same input at
  1M and 10M events (``bench/journeys.py``);
- the models chapter's benchmark of both tasks on the default book's modelling table, when
  it has been built (``bench/models.py``);
- with ``--fresh``: a fresh clone's ``make env`` and ``make book`` (``bench/fresh.py``,
  about ten minutes more).

Each benchmark's own table is printed as it runs. Prints figures; it is not a test.

    .venv/bin/python bench/summary.py [--fresh] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run(script: str, args: list[str], out: Path) -> dict | list | None:
    """Run one benchmark (its table goes to the terminal); its figures, or None if it failed."""
    cmd = [sys.executable, str(HERE / script), *args, "--json", str(out)]
    print(f"\n$ {' '.join(cmd[1:])}", flush=True)
    if subprocess.run(cmd, cwd=ROOT).returncode != 0 or not out.exists():
        print(f"{script} failed: its figures are missing below")
        return None
    return json.loads(out.read_text())


def rows_from(features, journeys, models, fresh) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, met) for everything that ran."""
    rows = []

    def add(name: str, measured: str, target: str, met: bool | None) -> None:
        rows.append((name, measured, target, "-" if met is None else ("yes" if met else "NO")))

    if fresh:
        add(
            "install (make env, warm cache)",
            f"{fresh['install_seconds']:.0f} s",
            "30 s",
            fresh["install_seconds"] <= 30,
        )
        add(
            "default book from nothing",
            f"{fresh['total_seconds']:.0f} s",
            "540 s",
            fresh["total_seconds"] <= 540,
        )
        add("  its peak memory (one process)", f"{fresh['peak_mib'] / 1024:.1f} GiB", "", None)
        models_s = next((s for c, s in fresh["chapters"].items() if "06_models" in c), None)
        if models_s is not None:
            # 240 s for the tabular benchmark (issue 21) and 90 s for the sequence models
            # (issue 23)
            add("  models chapter in that build", f"{models_s:.0f} s", "330 s", models_s <= 330)
    if models:
        add("benchmark of both tasks (wall)", f"{models['seconds']:.0f} s", "", None)
        nets = [t["seconds"] for t in models["timings"] if t["step"] in ("GRU", "BiLSTM")]
        if nets:
            add("  its sequence-model jobs (one core)", f"{sum(nets):.0f} s", "", None)
    for r in (features or {}).get("spec", []):
        what = f"engine / tuned query, {r['log']}, {r['anchors']} anchors"
        add(what + ", time", f"{r['ratio']:.2f}x", "1.5x", r["ratio"] <= 1.5 and r["same"])
        add(what + ", memory", f"{r['mem_ratio']:.2f}x", "1.5x", r["mem_ratio"] <= 1.5)
    for r in (features or {}).get("engine", []):
        if r["kind"] == "engine" and "seconds" in r:
            add(
                f"features + labels, {r['events'] / 1e6:.0f}M events x {r['anchors']} anchors",
                f"{r['seconds']:.0f} s, {r['peak_mib'] / 1024:.1f} GiB",
                "300 s, 8 GiB" if r["events"] >= 45e6 else "",
                (r["seconds"] <= 300 and r["peak_mib"] <= 8192) if r["events"] >= 45e6 else None,
            )
    for r in journeys or []:
        pm, cases = r.get("pm4py") or {}, r.get("cases") or {}
        if "seconds" in pm and "seconds" in cases:
            ratio = pm["seconds"] / cases["seconds"]
            same = pm.get("same") and cases.get("same")
            add(
                f"pm4py / engine directly-follows, {r['events'] / 1e6:.0f}M events",
                f"{ratio:.1f}x",
                "5x",
                ratio >= 5 and bool(same),
            )
        elif "pm4py" in r:  # ran but timed out (or failed): say so, it is a finding
            add(f"pm4py discover_dfg, {r['events'] / 1e6:.0f}M events", "did not finish", "", None)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="also time a fresh clone's book")
    parser.add_argument("--quick", action="store_true", help="one paired run, no 50M logs")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "processed" / "bench")
    parser.add_argument("--dataset", type=Path, default=ROOT / "data/processed/dataset.parquet")
    args = parser.parse_args()
    work = ["--work", str(args.work)]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        big = [] if args.quick else ["50"]
        features = run(
            "features.py",
            [
                "--sizes",
                *big,
                "--reference-sizes",
                "--spec-sizes",
                "10",
                "--spec-large",
                *big,
                "--repeats",
                "1" if args.quick else "3",
                *work,
            ],
            t / "features.json",
        )
        journeys = run(
            "journeys.py",
            ["--sizes", "1", "10", "--pm4py-sizes", "1", "10", *work],
            t / "journeys.json",
        )
        models = None
        if args.dataset.exists():
            models = run("models.py", ["--dataset", str(args.dataset)], t / "models.json")
        else:
            print(f"\nno {args.dataset}: the models benchmark is left out (make book first)")
        fresh = run("fresh.py", [], t / "fresh.json") if args.fresh else None
    rows = rows_from(features, journeys, models, fresh)
    print(f"\nSpeed targets, {dt.date.today()}, {os.cpu_count()} cores")
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"{'figure':<{width}}  {'measured':>16}  {'target':>12}  met")
    for name, measured, target, met in rows:
        print(f"{name:<{width}}  {measured:>16}  {target:>12}  {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
