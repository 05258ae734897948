"""End to end: the CI profile through `shoplog book`, then the published HTML is read."""

from __future__ import annotations

import re
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


def test_features_chapter_quotes_the_saved_table(built: ProjectPaths) -> None:
    from shoplog.splits import Timeline

    page = page_text(built.html_dir / "notebooks" / "05_features.html")
    glued = load_glued(built.outputs_dir / "glued" / "05_features.json")
    table = pd.read_parquet(built.dataset_path)
    timeline = Timeline.from_json(built.timeline_path)
    train = table[table["split"] == "train"]
    # glued numbers equal recomputations from the saved modelling table and timeline ...
    assert glued["n_rows"] == len(table)
    assert glued["rows_train"] == len(train)
    assert glued["n_train_anchors"] == len(timeline.anchors_of("train"))
    assert glued["dormant_train"] == pytest.approx(train["dormant"].mean())
    assert glued["score_anchor"] == timeline.score_anchor.strftime("%Y-%m-%d")
    # ... the split is out of time, with the embargo ...
    horizon = pd.Timedelta(days=timeline.horizon_days)
    by_split = table.groupby("split")["anchor"]
    assert by_split.max()["train"] + horizon <= by_split.min()["validation"]
    assert by_split.max()["validation"] + horizon <= by_split.min()["test"]
    assert table.loc[table["split"] == "score", "dormant"].isna().all()
    # ... the audit found no feature using the future ...
    assert glued["audit_max_change"] <= 1e-9 and glued["audit_min_gap_seconds"] > 0
    # ... and the numbers appear, formatted, in the prose
    assert f"giving {glued['n_rows']:,} user x anchor rows" in page
    assert f"{glued['dormant_train']:.1%} of scored users go dormant" in page
    assert "no feature changed beyond floating-point rounding" in page
    html = (built.html_dir / "notebooks" / "05_features.html").read_text()
    assert "Anchors and their label horizons, by split" in html


def test_a_log_too_short_for_the_splits_gets_a_visible_note(
    built: ProjectPaths, tmp_path: Path
) -> None:
    import shutil

    other = ProjectPaths.create(built.data_dir, tmp_path / "build")
    other.build_dir.mkdir(parents=True)
    shutil.copy2(built.fingerprints_path, other.fingerprints_path)
    args = ["run", "--profile", "ci", "--data-dir", str(built.data_dir)]
    args += ["--build-dir", str(other.build_dir), "--only", "05_features"]
    args += ["--set", "splits.test_anchors=40"]
    assert cli.main(args) == 0
    executed = (other.stage_dir / "notebooks" / "05_features.ipynb").read_text()
    assert "cannot support anchors and out-of-time splits" in executed
    assert "splits.test_anchors" in executed


def test_seasonality_chapter_quotes_computed_numbers(built: ProjectPaths) -> None:
    page = page_text(built.html_dir / "notebooks" / "03_seasonality.html")
    glued = load_glued(built.outputs_dir / "glued" / "03_seasonality.json")
    events = pd.read_parquet(built.events_path)
    day = events["event_time"].dt.floor("D")
    users_per_day = events.groupby(day)["user_id"].nunique()
    # glued numbers equal a pandas recount of the processed log
    span = (day.max() - day.min()).days + 1
    assert glued["n_days"] == span
    assert glued["busiest_users"] == users_per_day.max()
    assert glued["busiest_day"].startswith(users_per_day.idxmax().strftime("%Y-%m-%d"))
    purchases = events[events["event_type"] == "purchase"]
    assert glued["total_revenue"] == pytest.approx(purchases["price"].sum())
    # the tiny shop has a weekly rhythm and a Black Friday promotion: both are found
    assert 0 < glued["main_seasonal_strength"] <= 1
    assert glued["weekly_period"] == 7
    assert glued["n_anomalies"] >= 1 and "2019-11-29" in page
    assert f"{glued['busiest_users']:,} active users" in page
    html = (built.html_dir / "notebooks" / "03_seasonality.html").read_text()
    assert html.count('class="plotly-graph-div"') >= 4
    assert "STL decomposition of daily active users" in html


def test_explore_chapter_quotes_computed_numbers(built: ProjectPaths) -> None:
    page = page_text(built.html_dir / "notebooks" / "02_explore.html")
    glued = load_glued(built.outputs_dir / "glued" / "02_explore.json")
    events = pd.read_parquet(built.events_path)
    per_user = events.groupby("user_id").size()
    # glued numbers equal a pandas recount of the processed log
    assert glued["median_events_per_user"] == per_user.median()
    assert glued["one_event_share"] == pytest.approx((per_user == 1).mean())
    assert glued["max_events_per_user"] == per_user.max()
    assert glued["n_buyers"] == events.loc[events["event_type"] == "purchase", "user_id"].nunique()
    month = events["event_time"].dt.to_period("M")
    first = month.groupby(events["user_id"]).transform("min")
    cohort_sizes = events.assign(first=first).groupby("first")["user_id"].nunique()
    back = events[month == first + 1].assign(first=first).groupby("first")["user_id"].nunique()
    observed = cohort_sizes.index[cohort_sizes.index < month.max()]  # month 1 is in the log
    back = back.reindex(observed, fill_value=0)
    assert glued["month1_retention"] == pytest.approx((back / cohort_sizes[observed]).mean())
    # funnel steps never increase, and the prose shows the glued values
    assert glued["viewing_sessions"] <= glued["n_gap_sessions"]
    assert 0 < glued["purchase_rate"] <= glued["cart_rate"] <= 1
    assert f"Of {glued['viewing_sessions']:,} sessions with a view" in page
    assert f"{glued['n_buyers']:,} users" in page
    html = (built.html_dir / "notebooks" / "02_explore.html").read_text()
    assert html.count('class="plotly-graph-div"') >= 8


def test_journeys_chapter_agrees_with_the_log_and_the_labels(built: ProjectPaths) -> None:
    from shoplog.reference import derive_sessions

    page = page_text(built.html_dir / "notebooks" / "04_journeys.html")
    glued = load_glued(built.outputs_dir / "glued" / "04_journeys.json")
    events = pd.read_parquet(built.events_path)
    sessions = derive_sessions(events, 30)
    # every gap session is one case of the process
    assert (
        glued["n_case_sessions"]
        == events.assign(s=sessions)[["user_id", "s"]].drop_duplicates().shape[0]
    )
    assert 0 < glued["log_fitness"] <= 1
    # the churn comparison uses the features chapter's labels at its anchor
    table = pd.read_parquet(built.dataset_path)
    at = table[
        (table["anchor"] == pd.Timestamp(glued["compare_anchor"])) & table["dormant"].notna()
    ]
    assert glued["churn_users"] == int((at["dormant"] == 1).sum())
    assert glued["stay_users"] == int((at["dormant"] == 0).sum())
    assert f"{glued['churn_users']:,} were dormant" in page
    html = (built.html_dir / "notebooks" / "04_journeys.html").read_text()
    # frequency and performance DFGs and the Petri net, drawn by Graphviz as SVG files
    images = re.findall(r'<img[^>]*src="\.\./(_images/[^"]+\.svg)"', html)
    assert len(images) >= 3
    for image in images:
        svg = (built.html_dir / image).read_text()
        assert "<svg" in svg and "view" in svg
    assert html.count('class="plotly-graph-div"') >= 3


def test_behaviour_chapters_on_three_hours_of_real_log(rees46_csv: Path, tmp_path: Path) -> None:
    """REES46's three hours: what needs a longer span is skipped with a visible note."""
    paths = ProjectPaths.create(tmp_path / "data", tmp_path / "build")
    args = ["run", "--profile", "rees46", "--set", f"data.source={rees46_csv}"]
    args += ["--data-dir", str(paths.data_dir), "--build-dir", str(paths.build_dir)]
    assert cli.main([*args, "--only", "02_explore", "03_seasonality", "04_journeys"]) == 0

    def executed(name: str) -> str:
        return (paths.stage_dir / "notebooks" / f"{name}.ipynb").read_text()

    explore, season, journeys = (
        executed(n) for n in ("02_explore", "03_seasonality", "04_journeys")
    )
    assert "spans a single calendar month" in explore
    assert "too short for a seasonal decomposition of daily series" in season
    assert "period 24 needs at least 48 points" in season
    assert "cannot support anchors" in journeys
    # what the log does support is still there, computed
    glued = load_glued(paths.outputs_dir / "glued" / "04_journeys.json")
    assert glued["n_case_sessions"] > 4000 and 0 < glued["log_fitness"] <= 1
    assert load_glued(paths.outputs_dir / "glued" / "02_explore.json")["n_buyers"] > 0
