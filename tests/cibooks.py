"""Helpers of the tests that run the CI book again with other settings."""

from __future__ import annotations

from pathlib import Path

from shoplog import cli
from shoplog.config.paths import ProjectPaths


def run_ci(root: Path, *overrides: str) -> ProjectPaths:
    """``shoplog run --profile ci`` into fresh data and build folders under ``root``, with
    ``--set`` ``overrides``; asserts it succeeded."""
    paths = ProjectPaths.create(root / "data", root / "build")
    args = ["run", "--profile", "ci", "--data-dir", str(paths.data_dir)]
    args += ["--build-dir", str(paths.build_dir)]
    for item in overrides:
        args += ["--set", item]
    assert cli.main(args) == 0
    return paths
