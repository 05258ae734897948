"""End to end: the CI profile through `shoplog book`, then the published HTML is read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import page_text

from shoplog import cli
from shoplog.ingest import QualityReport
from shoplog.paths import ProjectPaths
from shoplog.report import load_glued

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> ProjectPaths:
    tmp = tmp_path_factory.mktemp("book")
    paths = ProjectPaths.create(tmp / "data", tmp / "build")
    code = cli.main(
        [
            "book",
            "--profile",
            "ci",
            "--data-dir",
            str(paths.data_dir),
            "--build-dir",
            str(paths.build_dir),
        ]
    )
    assert code == 0
    return paths


def test_pages_exist(built: ProjectPaths) -> None:
    index = built.html_dir / "index.html"
    assert index.exists()
    intro = page_text(built.html_dir / "book" / "intro.html")
    assert "About this book" in intro
    # the intro's glued data label comes from the Data chapter
    assert "synthetic shop (tiny preset)" in intro


def test_data_chapter_quotes_computed_numbers(built: ProjectPaths) -> None:
    page = page_text(built.html_dir / "notebooks" / "01_data.html")
    glued = load_glued(built.outputs_dir / "glued" / "01_data.json")
    quality = QualityReport.from_json(built.quality_path)
    events = pd.read_parquet(built.events_path)
    # glued numbers equal independent recomputations from the processed log ...
    assert glued["n_events"] == len(events) == quality.rows_kept
    assert glued["n_users"] == events["user_id"].nunique()
    assert glued["rows_read"] == quality.rows_read
    assert glued["rows_dropped"] == sum(quality.drops.values())
    # ... and appear, formatted, in the prose
    assert (
        f"The cleaned log holds {glued['n_events']:,} events by {glued['n_users']:,} users" in page
    )
    assert f"{glued['rows_read']:,} rows were read" in page
    assert f"{glued['busiest_period']}" in page
    assert "These data are synthetic" in page


def test_figures_render(built: ProjectPaths) -> None:
    html = (built.html_dir / "notebooks" / "01_data.html").read_text()
    # plotly figures are present as HTML with plotly.js embedded, not skipped mime bundles
    assert html.count('class="plotly-graph-div"') >= 2
    assert "Plotly.newPlot" in html
    assert "Events by type (log scale)" in html


def test_parameters_cell_collapsed_and_code_hidden(built: ProjectPaths) -> None:
    html = (built.html_dir / "notebooks" / "01_data.html").read_text()
    assert "tag_hide-input" in html
    assert "tag_injected-parameters" in html


def test_second_run_skips_everything(built: ProjectPaths, capsys) -> None:
    code = cli.main(
        [
            "run",
            "--profile",
            "ci",
            "--data-dir",
            str(built.data_dir),
            "--build-dir",
            str(built.build_dir),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "up to date (skipped)" in out
    assert "notebooks/01_data: skipped (unchanged)" in out


def test_no_machine_paths_in_published_pages(built: ProjectPaths) -> None:
    for page in Path(built.html_dir).rglob("*.html"):
        assert str(built.root) not in page.read_text(), page
