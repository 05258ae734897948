"""Chapters are code too: ruff reads their jupytext conversion, and every parameter a
chapter declares is read by it (an unread parameter is a setting that silently does
nothing on that page)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

from shoplog.paths import PROJECT_ROOT
from shoplog.runner import declared_parameters

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
    # globals() hands the whole namespace on (Params.from_flat, engine.connect_flat)
    if "globals" in read:
        read |= {n for n in declared if n.startswith(("engine_",))}
        if "from_flat" in code:
            read |= set(declared)
    unread = [n for n in declared if n not in read]
    assert not unread, f"{source.name} declares parameters it never reads: {unread}"
