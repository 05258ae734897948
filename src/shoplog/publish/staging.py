"""A run's staging and publishing: chapters write into ``_build/run/`` and everything is
published together only when all succeeded; the run's state (running, failed, complete)
is kept in ``_build/run.json``, and leftovers of a killed run are removed by the next.

Published notebooks name no machine path: the staging and data folders are rewritten
relative to the project.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import nbformat

from shoplog.config.paths import ProjectPaths
from shoplog.files import (
    CorruptFileError,
    atomic_write_json,
    read_json,
    remove_leftovers,
)

RUNNING, FAILED, COMPLETE = "running", "failed", "complete"


def read_run_state(paths: ProjectPaths) -> dict[str, Any] | None:
    """How the last run ended (``status``, and for a failure ``chapter`` and ``message``);
    None before the first run."""
    if not paths.run_state_path.exists():
        return None
    try:
        state = read_json(paths.run_state_path, "the last run's status")
    except CorruptFileError as exc:
        return {"status": "unknown", "message": str(exc)}
    return state if isinstance(state, dict) else {"status": "unknown"}


def _write_run_state(paths: ProjectPaths, status: str, **detail: Any) -> None:
    atomic_write_json(paths.run_state_path, {"status": status, **detail}, indent=2, sort_keys=True)


def clean_leftovers(paths: ProjectPaths) -> list[str]:
    """Remove what failed or killed runs and builds left behind; returns what was removed."""
    removed = []
    for folder in (
        paths.run_dir,
        paths.executing_dir,
        paths.failed_dir,
        paths.building_dir,
        paths.old_html_dir,
        paths.old_outputs_dir,
    ):
        if folder.exists():
            shutil.rmtree(folder)
            removed.append(paths.relative(folder))
    # half-written files of killed writes (never under raw/: that is the user's)
    for folder in (paths.processed_dir, paths.outputs_dir, paths.build_dir):
        removed += [paths.relative(p) for p in remove_leftovers(folder)]
    return removed


def _open_run(paths: ProjectPaths) -> ProjectPaths:
    """A staging data folder for this run: the outputs and chapter-written tables copied,
    the ingested log linked (read only); chapters write here, not into the data folder."""
    staged = paths.staged()
    staged.processed_dir.mkdir(parents=True)
    paths.run_notebooks_dir.mkdir()
    if paths.outputs_dir.exists():
        shutil.copytree(paths.outputs_dir, staged.outputs_dir)
    else:
        staged.outputs_dir.mkdir(parents=True)
    ingested = {p.name for p in paths.ingested}
    for item in sorted(paths.processed_dir.iterdir()):
        target = staged.processed_dir / item.name
        if item.name in ingested:
            target.symlink_to(item.resolve())
        elif item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy2(item, target)
    return staged


def _move(source: Path, target: Path) -> None:
    """Replace ``target`` with ``source`` (a rename when both are on one file system)."""
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    shutil.move(str(source), str(target))


def _swap_folder(new: Path, target: Path, aside: Path) -> None:
    """Put the folder ``new`` in place of ``target``: the old one is set aside first and
    removed last, so ``target`` is never a half-copied folder."""
    if aside.exists():
        shutil.rmtree(aside)
    if target.exists():
        target.rename(aside)
    shutil.move(str(new), str(target))
    if aside.exists():
        shutil.rmtree(aside)


def _publish_run(paths: ProjectPaths, staged: ProjectPaths) -> None:
    """Publish a finished run: its tables, outputs and executed notebooks, together."""
    ingested = {p.name for p in paths.ingested}
    written = {p.name for p in staged.processed_dir.iterdir() if p.name not in ingested}
    for item in sorted(paths.processed_dir.iterdir()):
        # a chapter removed it (say, no modelling table for this log): so does the publication
        if item.name not in ingested and item.name not in written:
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    for name in sorted(written):
        _move(staged.processed_dir / name, paths.processed_dir / name)
    _swap_folder(staged.outputs_dir, paths.outputs_dir, paths.old_outputs_dir)
    paths.executed_dir.mkdir(parents=True, exist_ok=True)
    for nb in sorted(paths.run_notebooks_dir.glob("*.ipynb")):
        _move(nb, paths.executed_dir / nb.name)
    shutil.rmtree(paths.run_dir)


# papermill's and nbclient's per-run metadata: times and the executing folder change from
# run to run and name this machine; the published notebook keeps neither
_RUN_METADATA = ("input_path", "output_path", "start_time", "end_time", "duration")


def _path_replacements(paths: ProjectPaths, staged: ProjectPaths) -> list[tuple[str, str]]:
    """Machine paths that may appear in an executed notebook, and what readers see instead."""
    data = paths.display(paths.data_dir)
    pairs = [
        (str(staged.data_dir.resolve()), data),
        (paths.relative(staged.data_dir), data),
        (str(paths.data_dir.resolve()), data),
        (str(paths.build_dir.resolve()), paths.display(paths.build_dir)),
        (str(paths.root.resolve()) + "/", ""),
        (str(paths.root.resolve()), "."),
        (str(Path(sys.prefix).resolve()), "<python>"),
        (str(Path.home()), "~"),
    ]
    return sorted({(a, b) for a, b in pairs if len(a) > 1}, key=lambda p: -len(p[0]))


def publishable(
    nb: nbformat.NotebookNode, replacements: list[tuple[str, str]]
) -> nbformat.NotebookNode:
    """The executed notebook as published: machine paths rewritten, run times dropped."""
    meta = nb.metadata.get("papermill", {})
    for key in _RUN_METADATA:
        meta.pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    text = nbformat.writes(nb)
    for old, new in replacements:
        text = text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])
    return nbformat.reads(text, as_version=4)


def _say(message: str) -> None:
    print(message, flush=True)
