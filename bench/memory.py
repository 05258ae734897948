"""Peak memory of the running process, for the benchmarks' per-measurement children."""

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
