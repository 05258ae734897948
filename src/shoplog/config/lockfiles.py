"""Keep ``environment.yml`` in step with ``requirements.lock`` (same packages, same versions).

``python -m shoplog.config.lockfiles`` rewrites ``environment.yml`` from the lock; the
tests check that the two agree, so a class gets the same packages either way.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from shoplog.config.paths import PROJECT_ROOT

PYTHON = "3.11"
_PIN = re.compile(r"^([A-Za-z0-9_.\-\[\],]+)==([^\s;#]+)")


def read_lock(path: Path) -> dict[str, str]:
    """Package name (normalised) -> exact version, from a pip lock of ``name==version`` lines."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if not match:
            raise ValueError(f"{path}: line {line!r} is not an exact pin (name==version)")
        pins[normalise(match.group(1))] = match.group(2)
    return pins


def normalise(name: str) -> str:
    """PEP 503 name normalisation, extras dropped."""
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()


def environment_yml(pins: dict[str, str]) -> str:
    """A conda environment with the lock's pins under ``pip:`` plus Python, Graphviz and a
    Java runtime (for the Spark engine)."""
    env = {
        "name": "shoplog",
        "channels": ["conda-forge"],
        "dependencies": [
            f"python={PYTHON}",
            "graphviz",
            "openjdk=17",
            "pip",
            {"pip": [f"{name}=={version}" for name, version in sorted(pins.items())] + ["-e ."]},
        ],
    }
    header = "# Generated from requirements.lock by `make lock`; do not edit by hand.\n"
    return header + yaml.safe_dump(env, sort_keys=False)


def environment_pins(path: Path) -> dict[str, str]:
    """The pip pins an ``environment.yml`` names."""
    env = yaml.safe_load(path.read_text())
    pins: dict[str, str] = {}
    for dep in env.get("dependencies", []):
        if isinstance(dep, dict):
            for line in dep.get("pip", []):
                match = _PIN.match(line)
                if match:
                    pins[normalise(match.group(1))] = match.group(2)
    return pins


def main() -> int:
    pins = read_lock(PROJECT_ROOT / "requirements.lock")
    (PROJECT_ROOT / "environment.yml").write_text(environment_yml(pins))
    print(f"environment.yml: {len(pins)} pinned packages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
