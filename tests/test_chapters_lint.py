"""Chapters are code too: ruff reads their jupytext conversion, and every parameter a
chapter declares is read by it (an unread parameter is a setting that silently does
nothing on that page)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

from shoplog.config.params import load_params
from shoplog.config.paths import PROJECT_ROOT, ProjectPaths
from shoplog.publish.registry import available_parameters, chapters, declared_parameters

CHAPTERS = sorted((PROJECT_ROOT / "notebooks").glob("*.md"))


def test_ruff_finds_nothing_in_the_chapters(tmp_path: Path) -> None:
    for source in CHAPTERS:  # the code cells, in order (the prose is not Python)
        cells = [c.source for c in jupytext.read(source).cells if c.cell_type == "code"]
        (tmp_path / f"{source.stem}.py").write_text("\n\n# %%\n".join(cells) + "\n")
    ruff = Path(sys.executable).with_name("ruff")
    # chapters import after their parameters cell by design (papermill injects below it)
    done = subprocess.run(
        [str(ruff), "check", "--config", str(PROJECT_ROOT / "pyproject.toml"), "--ignore",
         "E402", "--output-format", "concise", "--no-cache", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_every_declared_parameter_is_read(source: Path) -> None:
    nb = jupytext.read(source)
    declared = declared_parameters(nb, str(source))
    code = "\n".join(
        c.source
        for c in nb.cells
        if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])
    )
    read = {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}
    # globals() hands the engine settings on (engine.connect_flat)
    if "globals" in read:
        read |= {n for n in declared if n.startswith(("engine_",))}
    unread = [n for n in declared if n not in read]
    assert not unread, f"{source.name} declares parameters it never reads: {unread}"


def test_parameter_cells_agree_with_the_default_profile() -> None:
    """A literal in a parameters cell is what a reader sees when opening the chapter; it must
    be the default profile's value (and the default paths), never a drifted copy."""
    paths = ProjectPaths()
    params = load_params("default")
    extra = ["notebooks/09_conversion", "notebooks/14_bgnbd"]  # added by other profiles
    drift = []
    for chapter in chapters(paths, extra):
        nb = jupytext.read(chapter.source)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        expected = available_parameters(params, paths, chapter)
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign):
                name = node.targets[0].id  # type: ignore[attr-defined]
                value = ast.literal_eval(node.value)
                if value != expected[name]:
                    drift.append(f"{chapter.name}: {name} = {value!r}, profile {expected[name]!r}")
    assert not drift, "\n".join(drift)


def test_chapters_take_their_colours_from_the_one_palette() -> None:
    literal = re.compile(r"[\"']#[0-9A-Fa-f]{3,8}[\"']")
    found = {
        source.name: literal.findall(c.source)
        for source in CHAPTERS
        for c in jupytext.read(source).cells
        if c.cell_type == "code" and literal.search(c.source)
    }
    assert not found, f"colour literals outside shoplog.publish.plots: {found}"
