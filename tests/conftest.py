"""Shared fixtures: the real datasets in ../shared (skipped when absent), CI parameters."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from shoplog.config.params import Params, load_params
from shoplog.config.paths import PROJECT_ROOT, ProjectPaths

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The shared real datasets; tests using them skip with a reason when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA} (../shared/data is absent)")
    return SHARED_DATA


@pytest.fixture
def shared_data_or_none() -> Path | None:
    """The shared datasets folder, or None when this checkout has no ../shared (the
    test then checks the path that runs without it)."""
    return SHARED_DATA if SHARED_DATA.exists() else None


@pytest.fixture
def rees46_csv(shared_data: Path) -> Path:
    path = shared_data / "rees46" / "2019-Oct-head.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def ci_book(tmp_path_factory: pytest.TempPathFactory) -> ProjectPaths:
    """The CI book built once with `shoplog book`, data and build folders outside the project.

    When the suite runs in several processes (``make test``: pytest-xdist), the first one
    that needs the book builds it in the folder they share, under a lock; the others wait
    for it and read the same book.
    """
    import os

    from filelock import FileLock

    from shoplog import cli

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the workers' common folder
    folder = base / "ci_book"
    with FileLock(str(base / "ci_book.lock")):
        failed = folder / "FAILED"
        if failed.exists():
            pytest.fail("the CI book failed to build in another test process (see its output)")
        paths = ProjectPaths.create(folder / "data", folder / "build")
        done = folder / "DONE"
        if not done.exists():
            args = ["book", "--profile", "ci", "--data-dir", str(paths.data_dir)]
            code = cli.main([*args, "--build-dir", str(paths.build_dir)])
            (done if code == 0 else failed).write_text(str(code))
            assert code == 0
    return paths


@pytest.fixture
def tmp_paths(tmp_path: Path) -> ProjectPaths:
    """Project paths whose data and build folders are temporary."""
    return ProjectPaths(root=PROJECT_ROOT, data_dir=tmp_path / "data", build_dir=tmp_path / "build")


@pytest.fixture
def ci_params() -> Params:
    return load_params("ci")


@pytest.fixture
def mini_project(tmp_path: Path) -> ProjectPaths:
    """A copy of the book's frame with one fast chapter, for runner tests."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy2(PROJECT_ROOT / "_config.yml", root / "_config.yml")
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/01_tiny\n"
    )
    (root / "book").mkdir()
    (root / "book" / "intro.md").write_text("# Intro\n\nA test book.\n")
    # the configuration names the book's bibliography
    shutil.copy2(PROJECT_ROOT / "book" / "references.bib", root / "book" / "references.bib")
    (root / "notebooks").mkdir()
    write_tiny_chapter(root / "notebooks" / "01_tiny.md")
    return ProjectPaths(root=root, data_dir=tmp_path / "data", build_dir=tmp_path / "build")


def page_text(path: Path) -> str:
    """The text a reader reads on an HTML page: tags, scripts, styles and the folded code
    cells removed, white space folded (entities are kept as in the HTML)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text(), "html.parser")
    for node in soup.select("script, style, div.cell_input"):
        node.decompose()
    return re.sub(r"\s+", " ", str(soup.get_text(" ")))


def write_chapter(path: Path, parameters: str, code: str, prose: str = "") -> None:
    """A MyST text notebook titled "Tiny": a parameters cell, one code cell, then prose."""
    path.write_text(
        f"""---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Tiny

```{{code-cell}} ipython3
:tags: [parameters]

{parameters}
```

```{{code-cell}} ipython3
{code}
```

{prose}
"""
    )


def write_tiny_chapter(path: Path, extra_code: str = "") -> None:
    """A small MyST notebook that reads the processed log and glues its size."""
    write_chapter(
        path,
        '# Study end\nstudy_end_date = "2000-01-01"\n# The log\nevents_path = "x.parquet"',
        "import pyarrow.parquet as pq\n"
        "from myst_nb import glue\n"
        "n_rows = pq.read_metadata(events_path).num_rows\n"
        'glue("n_rows", n_rows, display=False)\n'
        'glue("end", study_end_date, display=False)\n' + extra_code,
        "Rows: {glue:text}`n_rows:,`, end {glue:text}`end`.",
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--gallery",
        action="store_true",
        help="also build the book on every log of the gallery (about 20 minutes)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Gallery books marked ``gallery`` run with --gallery (make test-gallery) only: the
    whole gallery would not fit CI's time; the cheap logs run in every test run.

    Tests of the CI book come first, the longest (a second build) first of all, then the
    CI book on Spark (which builds its own first, and only then reads the CI book): spread
    over processes (``make test``), one process builds the CI book while another builds
    the Spark one, and the rest follow."""

    def rank(item: pytest.Item) -> int:
        if "reproducible" in item.nodeid and "ci_book" in getattr(item, "fixturenames", ()):
            return 0
        if "test_spark.py::test_the_ci_book_on_spark" in item.nodeid:
            return 1
        return 2 if "ci_book" in getattr(item, "fixturenames", ()) else 3

    items.sort(key=rank)  # stable: file order within each rank
    if config.getoption("--gallery"):
        return
    skip = pytest.mark.skip(reason="a full gallery book: run with --gallery (make test-gallery)")
    for item in items:
        if "gallery" in item.keywords:
            item.add_marker(skip)
