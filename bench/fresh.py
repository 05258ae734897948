"""Benchmark of the book from nothing: a fresh clone, ``make env``, then ``make book``.

Clones the repository's committed ``HEAD`` into a temporary folder and runs the README's
first command there, timing the install (``make env``: venv plus the locked packages,
from the package cache this machine has) and the build, chapter by chapter (the runner's
"ran in" lines), with the peak resident memory of the largest single process. Targets
(issue 21): install at most 30 s on a warm cache, the default book from nothing in at
most 540 s. Prints figures; it is not a test.

    .venv/bin/python bench/fresh.py [--profile default] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the runner's lines: "[6/14] notebooks/06_models: ran in 12.3 s", "[data] ... in 4.5 s",
# "[book] ... built in 6.7 s"
STAGE = re.compile(
    r"^(?:\[\d+/\d+\] (?P<chapter>\S+): ran in|\[(?P<step>data|book)\] .* in) "
    r"(?P<seconds>[0-9.]+) s$"
)


def timed(cmd: list[str], cwd: Path, log: Path) -> float:
    """Seconds ``cmd`` took; its output goes to ``log``; a failure stops the benchmark."""
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = log.read_text()[-3000:]
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}); its last output:\n{tail}")
    return seconds


def measure(profile: str, keep: Path | None) -> dict:
    """Clone, install and build; the seconds of each stage and the peak memory."""
    with tempfile.TemporaryDirectory(prefix="shoplog-fresh-") as tmp:
        folder = (keep or Path(tmp)) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(folder)], check=True)
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True
        ).stdout.strip()
        logs = folder.parent
        env_s = timed(["make", "env"], folder, logs / "env.log")
        book_s = timed(["make", "book", f"PROFILE={profile}"], folder, logs / "book.log")
        chapters = {}
        for line in (logs / "book.log").read_text().splitlines():
            m = STAGE.match(line.strip())
            if m:
                name = m["chapter"] or {"data": "(ingest)", "book": "(Jupyter Book)"}[m["step"]]
                chapters[name] = float(m["seconds"])
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "commit": commit,
        "install_seconds": env_s,
        "book_seconds": book_s,
        "total_seconds": env_s + book_s,
        "chapters": chapters,
        "peak_mib": peak,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    res = measure(args.profile, args.keep)
    print(f"fresh clone of {res['commit']}, profile {args.profile}")
    print(f"  make env (venv and locked packages): {res['install_seconds']:7.1f} s")
    print(f"  make book:                          {res['book_seconds']:7.1f} s")
    for chapter, seconds in sorted(res["chapters"].items(), key=lambda kv: -kv[1]):
        print(f"    {chapter:<34} {seconds:7.1f} s")
    total = sum(res["chapters"].values())
    print(f"    {'sum of the stages above':<34} {total:7.1f} s (chapters overlap: side by side)")
    print(f"  from nothing:                       {res['total_seconds']:7.1f} s")
    print(f"  peak memory of one process:         {res['peak_mib']:7,.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
