"""Helpers of the benchmarks: each measurement in its own process, and its peak memory."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_mib() -> float:
    """This process's peak resident memory in MiB.

    ``VmHWM`` belongs to the process image, so a child started from a large parent
    reports its own peak; ``ru_maxrss`` survives ``exec`` on Linux and would not.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_mib() -> float:
    """The summed peak resident memory (MiB) of this process's children still running,
    e.g. Spark's JVM, read before they exit."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        status = Path(f"/proc/{child.pid}/status")
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:  # it ended meanwhile
            continue
    return total


def run_child(cmd: list[str], timeout: float) -> dict | None:
    """Run one measurement in a fresh process; its last stdout line is a JSON result.

    Returns ``{"timeout": True}`` when it runs out of time and None when it fails (its
    error is printed), so one failed measurement does not end the benchmark.
    """
    import json
    import subprocess
    import sys

    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": True}
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_row(
    label: str,
    size: float,
    result: dict | None,
    events: int,
    width: int = 26,
    rows_width: int = 11,
    digits: int = 1,
) -> None:
    """One measurement's line: seconds, events/s, peak MiB and rows, or why there is none."""
    if result is None:
        print(f"{label:<{width}} {size:>4g}M  failed (see above)")
    elif result.get("timeout"):
        print(f"{label:<{width}} {size:>4g}M  not finished within the time limit")
    else:
        s = result["seconds"]
        print(
            f"{label:<{width}} {size:>4g}M {s:>9.{digits}f} {events / s:>12,.0f} "
            f"{result['peak_mib']:>9,.0f} {result['rows']:>{rows_width},}"
        )
