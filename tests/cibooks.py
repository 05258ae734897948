"""Helpers of the tests that run the CI book again with other settings."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shoplog import cli
from shoplog.config.paths import ProjectPaths


def run_ci(root: Path, *overrides: str, only: list[str] | None = None) -> ProjectPaths:
    """``shoplog run --profile ci`` into fresh data and build folders under ``root``, with
    ``--set`` ``overrides`` (and ``--only`` those chapters); asserts it succeeded."""
    paths = ProjectPaths.create(root / "data", root / "build")
    args = ["run", "--profile", "ci", "--data-dir", str(paths.data_dir)]
    args += ["--build-dir", str(paths.build_dir)]
    for item in overrides:
        args += ["--set", item]
    if only:
        args += ["--only", *only]
    assert cli.main(args) == 0
    return paths


def partitioned(events: pa.Table, folder: Path, zone: str = "UTC") -> Path:
    """``events`` written as a dataset of Hive folders ``event_date=YYYY-MM-DD`` (the dates
    in ``zone``), as a cluster keeps a canonical log."""
    local = pc.cast(pc.assume_timezone(events["event_time"], "UTC"), pa.timestamp("us", zone))
    day = pc.strftime(local, format="%Y-%m-%d")
    pq.write_to_dataset(events.append_column("event_date", day), folder, ["event_date"])
    return folder
