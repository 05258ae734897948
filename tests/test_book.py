"""End to end: the CI profile through `shoplog book`, then the published HTML is read."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import page_text

import shoplog
from shoplog import cli
from shoplog.config.paths import ProjectPaths, paired_name
from shoplog.events.ingest import QualityReport
from shoplog.files import file_sha256
from shoplog.publish.report import load_glued

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def built(ci_book: ProjectPaths) -> ProjectPaths:
    return ci_book


def test_pages_exist(built: ProjectPaths) -> None:
    index = built.html_dir / "index.html"
    assert index.exists()
    intro = page_text(built.html_dir / "book" / "intro.html")
    assert "About this book" in intro
    # the intro's glued data label comes from the Data chapter
    assert "synthetic shop (tiny preset)" in intro
    # ... and so do the version and the processed log's fingerprint (its bytes' SHA-256)
    quality = QualityReport.from_json(built.quality_path)
    assert quality.fingerprint == file_sha256(built.events_path)
    assert f"This edition was made by shoplog {shoplog.__version__}" in intro
    assert f"fingerprint is {quality.fingerprint[:12]}" in intro


def test_data_chapter_quotes_computed_numbers(built: ProjectPaths) -> None:
    page = page_text(built.html_dir / "notebooks" / "01_data.html")
    glued = load_glued(built.glued_path("01_data"))
    quality = QualityReport.from_json(built.quality_path)
    events = pd.read_parquet(built.events_path)
    # glued numbers equal independent recomputations from the processed log ...
    assert glued["n_events"] == len(events) == quality.rows_kept
    assert glued["n_users"] == events["user_id"].nunique()
    assert glued["rows_read"] == quality.rows_read
    assert glued["rows_dropped"] == sum(quality.drops.values())
    # one session definition: the Data and Explore chapters count the same sessions, the
    # inactivity gap's (the log's own ids are reported apart)
    explore = load_glued(built.glued_path("02_explore"))
    assert glued["n_sessions"] == explore["n_gap_sessions"]
    assert glued["n_log_sessions"] == events[["user_id", "user_session"]].drop_duplicates().shape[0]
    assert f"in {glued['n_sessions']:,} sessions (a session ends after 30 minutes" in page
    # ... and appear, formatted, in the prose
    assert (
        f"The cleaned log holds {glued['n_events']:,} events by {glued['n_users']:,} users" in page
    )
    assert f"{glued['rows_read']:,} rows were read" in page
    assert f"{glued['busiest_period']}" in page
    assert "These data are synthetic" in page
    # the CI log fits the CI profile's plan: every question is answered as asked
    assert "How much activity, when, in which groups: Yes" in page
    assert (
        "Who will be dormant in the next 14 days: Yes : with a 14-day horizon, a 30-day "
        "warm-up, 2 test anchors and 2 validation anchors, 7 days apart." in page
    )
    assert "chosen by anchors.fit" not in page
    assert glued["questions_sentence"] == "This log answers all 5 of the book's questions."


def test_figures_render(built: ProjectPaths) -> None:
    html = (built.html_dir / "notebooks" / "01_data.html").read_text()
    # plotly figures are present as HTML (a div and its JSON, drawn by the book's script
    # with the page's one plotly.js), not skipped mime bundles
    assert html.count('class="plotly-graph-div"') >= 2
    assert html.count('class="plotly-figure-data"') == html.count('class="plotly-graph-div"')
    assert "plotly.min.js" in html and "shoplog-figures.js" in html
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


def test_no_machine_paths_in_anything_published(built: ProjectPaths) -> None:
    # the fixture's data and build folders are outside the project, as a user's may be
    assert not built.data_dir.resolve().is_relative_to(built.root)
    machine = {
        str(built.root),
        str(built.data_dir.resolve().parent),
        str(built.build_dir.resolve().parent),
        str(Path(sys.prefix).resolve()),
        str(Path.home()) + "/",
    }
    published = [p for p in Path(built.html_dir).rglob("*") if p.is_file()]
    sources = [p for p in published if p.suffix == ".ipynb"]
    assert len(sources) >= 10  # the downloadable notebooks are checked, not only pages
    for path in published:
        text = path.read_bytes().decode("utf-8", errors="replace")
        found = [m for m in machine if m in text]
        assert not found, f"{path.relative_to(built.html_dir)} names {found}"
    # the hidden parameters cell shows the data folder by its name, as readers know it
    page = (built.html_dir / "notebooks" / "01_data.html").read_text()
    assert "data/processed/events.parquet" in page


def test_features_chapter_quotes_the_saved_table(built: ProjectPaths) -> None:
    from shoplog.dataset.splits import Timeline

    page = page_text(built.html_dir / "notebooks" / "05_features.html")
    glued = load_glued(built.glued_path("05_features"))
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
    # the daily sequences beside the table: every active user-day of the scored anchors,
    # none at or after its anchor, and the page quotes them
    from shoplog.dataset.sequences import read_sequences

    days = glued["sequence_days"]
    seq = read_sequences(built.sequences_path, days).activity
    assert glued["n_active_days"] == len(seq) > 0
    assert set(seq["anchor"]) <= set(table["anchor"])
    keys = seq[["user_id", "anchor"]].drop_duplicates()
    scored = keys.merge(table[["user_id", "anchor"]], on=["user_id", "anchor"])
    assert len(scored) == len(keys)  # every user active in the days is scored there
    assert f"({glued['n_active_days']:,} user-days over all anchors)" in page
    assert "daily sequences, recomputed with those events, did not change" in page
    assert "Daily activity before the anchor, by outcome" in html


def test_a_log_too_short_for_the_splits_gets_a_visible_note(
    built: ProjectPaths, tmp_path: Path
) -> None:
    import shutil

    # a copy of the data: the chapter removes the (now stale) modelling table
    other = ProjectPaths.create(tmp_path / "data", tmp_path / "build")
    shutil.copytree(built.data_dir, other.data_dir)
    args = ["run", "--profile", "ci", "--data-dir", str(other.data_dir)]
    args += ["--build-dir", str(other.build_dir), "--only", "05_features"]
    args += ["--set", "splits.test_anchors=40", "--set", "anchors.fit=fixed"]
    assert cli.main(args) == 0
    executed = (other.stage_dir / "notebooks" / "05_features.ipynb").read_text()
    assert "cannot support anchors and out-of-time splits" in executed
    assert "splits.test_anchors" in executed
    assert not other.dataset_path.exists() and built.dataset_path.exists()


def test_seasonality_chapter_quotes_computed_numbers(built: ProjectPaths) -> None:
    page = page_text(built.html_dir / "notebooks" / "03_seasonality.html")
    glued = load_glued(built.glued_path("03_seasonality"))
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
    glued = load_glued(built.glued_path("02_explore"))
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
    from shoplog.dataset.reference import derive_sessions

    page = page_text(built.html_dir / "notebooks" / "04_journeys.html")
    glued = load_glued(built.glued_path("04_journeys"))
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
    # frequency and performance DFGs and the process tree, drawn by Graphviz as SVG files
    images = re.findall(r'<img[^>]*src="\.\./(_images/[^"]+\.svg)"', html)
    assert len(images) >= 3
    for image in images:
        svg = (built.html_dir / image).read_text()
        assert "<svg" in svg and "view" in svg
    assert html.count('class="plotly-graph-div"') >= 3


def test_whole_book_on_three_hours_of_real_log(rees46_csv: Path, tmp_path: Path) -> None:
    """REES46's three hours: the whole book builds; what needs a longer span is skipped
    with a visible note, and chapters that cannot apply at all say why."""
    paths = ProjectPaths.create(tmp_path / "data", tmp_path / "build")
    args = ["book", "--profile", "rees46", "--set", f"data.source={rees46_csv}"]
    args += ["--data-dir", str(paths.data_dir), "--build-dir", str(paths.build_dir)]
    assert cli.main(args) == 0
    for name in (
        "06_models",
        "07_explanations",
        "08_model_cards",
        "10_priority",
        "11_segments",
        "12_targeting",
        "13_summary",
    ):
        page = page_text(paths.html_dir / "notebooks" / f"{name}.html")
        assert "This chapter does not apply to this log" in page, name
    assert "no modelling table" in page_text(paths.html_dir / "notebooks" / "06_models.html")
    assert not (paths.models_dir / "churn.card.json").exists()

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
    glued = load_glued(paths.glued_path("04_journeys"))
    assert glued["n_case_sessions"] > 4000 and 0 < glued["log_fitness"] <= 1
    assert load_glued(paths.glued_path("02_explore"))["n_buyers"] > 0


def test_models_chapter_quotes_the_saved_benchmark(built: ProjectPaths) -> None:
    from shoplog.modeling import artifacts, tasks

    page = page_text(built.html_dir / "notebooks" / "06_models.html")
    glued = load_glued(built.glued_path("06_models"))
    models_dir = built.models_dir
    table = pd.read_parquet(built.dataset_path)
    for task, label in tasks.TASKS.items():
        bench = pd.read_csv(models_dir / f"{task}_benchmark.csv").set_index("model")
        card = artifacts.load_model(models_dir / f"{task}.card.json", models_dir).card
        test = table[(table["split"] == "test") & table[label].notna()]
        # the base rate model scores the base rate; every interval holds its estimate
        assert bench.loc["prevalence", "pr_auc"] == pytest.approx(test[label].mean())
        assert (
            (bench["pr_auc_low"] <= bench["pr_auc"]) & (bench["pr_auc"] <= bench["pr_auc_high"])
        ).all()
        # the kept model is the boosted tree with the best *validation* PR-AUC
        trees = bench[
            bench["family"].isin(tasks.TREE_MODELS) & ~bench.index.str.endswith("(calibrated)")
        ]
        assert card.model == trees["validation_pr_auc"].idxmax() + " (calibrated)"
        assert glued[f"{task}_kept_pr_auc"] == pytest.approx(bench.loc[card.model, "pr_auc"])
        assert card.metrics["pr_auc"] == pytest.approx(bench.loc[card.model, "pr_auc"])
        assert glued[f"{task}_rows_test"] == len(test)
    assert (
        f"reaches a test PR-AUC of {glued['churn_kept_pr_auc']:.3f} "
        f"[{glued['churn_kept_pr_auc_low']:.3f}, {glued['churn_kept_pr_auc_high']:.3f}]" in page
    )
    # the calibration sentence follows the setting and never reports "from X to X"
    assert f"model {glued['churn_brier_change']} and that of the purchase model" in page
    assert "Platt scaling is strictly increasing" in page
    assert not re.search(r"from (\d\.\d+) to \1\b", page)
    # the sequence models are in both benchmarks, with paired differences, and the verdict
    # on the page reads from them (the page sets apostrophes typographically)
    flat = page.replace("\u2019", "'")
    for task in tasks.TASKS:
        paired = pd.read_csv(models_dir / paired_name(task))
        bench = pd.read_csv(models_dir / f"{task}_benchmark.csv").set_index("model")
        for net in ("GRU", "BiLSTM"):
            assert net in bench.index
            assert f"the {net}'s test PR-AUC is {bench.loc[net, 'pr_auc']:.3f}" in flat
            assert {"recency rule"} < set(paired.loc[paired["model"].eq(net), "reference"])
        assert glued[f"{task}_sequence_text"] in flat
    html = (built.html_dir / "notebooks" / "06_models.html").read_text()
    for title in (
        "Test PR-AUC with 95% user-bootstrap intervals",
        "Cumulative gains",
        "Optuna studies",
        "Calibration on the test anchors",
        "at each test anchor",
    ):
        assert title in html


def test_explanations_chapter_and_model_cards(built: ProjectPaths) -> None:
    from shoplog.modeling.explain import pseudonym

    glued = load_glued(built.glued_path("07_explanations"))
    page = page_text(built.html_dir / "notebooks" / "07_explanations.html")
    table = pd.read_parquet(built.dataset_path)
    test_users = set(table.loc[table["split"] == "test", "user_id"].astype(str))
    names = {pseudonym(u, 42) for u in test_users}
    for kind in ("high_risk", "borderline", "safe"):
        assert glued[f"{kind}_name"] in names
        assert f"**{glued[f'{kind}_name']}**" not in page  # bold markers were rendered
        assert glued[f"{kind}_name"] in page
    assert glued["high_risk_p"] >= glued["borderline_p"] >= glued["safe_p"]
    assert not any(u in page for u in list(test_users)[:200])  # ids are never published
    assert 0.5 <= glued["surrogate_fidelity"] <= 1
    assert 1 <= glued["n_selected"] < glued["n_all"]
    assert f"takes the same decision as the model on {glued['surrogate_fidelity']:.1%}" in page
    cards = page_text(built.html_dir / "notebooks" / "08_model_cards.html")
    card = json.loads((built.models_dir / "churn.card.json").read_text())
    assert card["sha256"][:16] in cards and card["model"] in cards


def test_score_command_ranks_the_score_anchor_as_the_models_do(built: ProjectPaths, capsys) -> None:
    from shoplog.config.params import load_params
    from shoplog.dataset.splits import Timeline
    from shoplog.events.ingest import resolve_source
    from shoplog.modeling import artifacts

    anchor = Timeline.from_json(built.timeline_path).score_anchor
    raw = resolve_source(load_params("ci"), built)
    before = raw.read_bytes()
    out = built.scores_dir / "test.csv"
    args = ["score", "--profile", "ci", "--data-dir", str(built.data_dir), "--log", str(raw)]
    assert cli.main([*args, "--anchor", anchor.date().isoformat(), "--out", str(out)]) == 0
    assert raw.read_bytes() == before  # the raw log is only read
    scores = pd.read_csv(out, dtype={"user_id": str})
    # the same users and the same probabilities as the modelling table's score rows
    table = pd.read_parquet(built.dataset_path)
    rows = table[table["split"] == "score"].reset_index(drop=True)
    models_dir = built.models_dir
    churn = artifacts.load_model(models_dir / "churn.card.json", models_dir)
    expected = pd.Series(churn.predict(rows), index=rows["user_id"].astype(str))
    assert set(scores["user_id"]) == set(expected.index)
    got = scores.set_index("user_id")["churn_probability"]
    np.testing.assert_allclose(got, expected.reindex(got.index), atol=1e-6)
    assert (np.diff(scores["churn_probability"]) <= 0).all()
    assert list(scores["rank"]) == list(range(1, len(scores) + 1))
    assert scores["purchase_probability"].between(0, 1).all()
    flagged = scores[scores["churn_flag"]]
    assert flagged["churn_reasons"].str.contains(r"\(\+\d", regex=True).all()
    printed = capsys.readouterr().out
    assert f"{len(scores):,} users scored at {anchor.date()}" in printed
    assert "first seen after the anchor" in printed


def test_target_command_writes_the_books_targeting_list(built: ProjectPaths, capsys) -> None:
    """`shoplog target` on the book's own log at its score anchor: the same list, byte for
    byte, as the targeting chapter's (same models, same code)."""
    from shoplog.config.params import load_params
    from shoplog.config.paths import targeting_name
    from shoplog.dataset.splits import Timeline
    from shoplog.events.ingest import resolve_source

    anchor = Timeline.from_json(built.timeline_path).score_anchor.date()
    raw = resolve_source(load_params("ci"), built)
    before = raw.read_bytes()
    out = built.scores_dir / "target.csv"
    args = ["target", "--profile", "ci", "--data-dir", str(built.data_dir), "--log", str(raw)]
    assert cli.main([*args, "--anchor", anchor.isoformat(), "--out", str(out)]) == 0
    assert raw.read_bytes() == before
    book_list = built.targeting_dir / targeting_name(anchor)
    listed = pd.read_csv(book_list)
    assert len(listed) > 0, "the CI book's list is empty: the comparison would prove little"
    assert out.read_bytes() == book_list.read_bytes()
    printed = capsys.readouterr().out
    assert f"{len(listed):,} users with a positive expected contact profit listed" in printed
    assert "value model: LightGBM Tweedie" in printed and "segments model: k-means" in printed
    # a changed campaign assumption changes the list the same way the book's would
    cheap = built.scores_dir / "cheap.csv"
    assert (
        cli.main(
            [
                *args,
                "--anchor",
                anchor.isoformat(),
                "--out",
                str(cheap),
                "--set",
                "campaign.contact_cost=0",
                "--set",
                "campaign.offer_cost=0",
            ]
        )
        == 0
    )
    assert len(pd.read_csv(cheap)) > len(listed)
    # without the value model (an older run), a message, not a traceback
    value_card = built.models_dir / "value.card.json"
    saved = value_card.read_bytes()
    value_card.unlink()
    try:
        assert cli.main([*args, "--anchor", anchor.isoformat(), "--out", str(cheap)]) == 1
        err = capsys.readouterr().err
        assert "value.card.json: no saved value model; the priority chapter saves it" in err
    finally:
        value_card.write_bytes(saved)


def test_score_command_refuses_what_it_cannot_serve(built: ProjectPaths, capsys, tmp_path) -> None:
    from shoplog.config.params import load_params
    from shoplog.events.ingest import resolve_source

    raw = resolve_source(load_params("ci"), built)
    base = ["score", "--profile", "ci", "--data-dir", str(built.data_dir), "--log", str(raw)]
    assert cli.main([*base, "--anchor", "2019-01-01"]) == 1
    assert "no user has an event in the 30 days before 2019-01-01" in capsys.readouterr().err
    elsewhere = tmp_path / "models"
    elsewhere.mkdir()
    for name in ("churn.card.json", "churn.joblib"):
        (elsewhere / name).write_bytes((built.models_dir / name).read_bytes())
    assert cli.main([*base, "--anchor", "2020-01-25", "--model", str(elsewhere)]) == 1
    assert "the project's own output folder" in capsys.readouterr().err
    assert cli.main([*base, "--anchor", "25/01/2020"]) == 2


def test_session_conversion_chapter_from_its_profile(
    built: ProjectPaths, tmp_path: Path, shared_data_or_none
) -> None:
    """The extra chapter runs from a profile; its numbers agree with the engine's table."""
    import shutil

    from shoplog.events import engine
    from shoplog.modeling import conversion

    other = ProjectPaths.create(tmp_path / "data", tmp_path / "build")
    shutil.copytree(built.data_dir, other.data_dir)
    uci = (
        shared_data_or_none / "online_shoppers" / "online_shoppers_intention.csv"
        if shared_data_or_none
        else None
    )
    args = ["book", "--profile", "ci", "--data-dir", str(other.data_dir)]
    args += ["--build-dir", str(other.build_dir), "--only", "09_conversion"]
    args += ["--set", "book.extra_chapters=[notebooks/09_conversion]"]
    args += ["--set", f"conversion.uci_path={uci or ''}"]
    # the other chapters are not executed in this build folder: copy the executed ones
    shutil.copytree(built.stage_dir / "notebooks", other.stage_dir / "notebooks")
    assert cli.main(args) == 0
    glued = load_glued(other.glued_path("09_conversion"))
    con = engine.connect()
    table = con.execute(conversion.prefix_table(engine.read_events(con, other.events_path), 3, 30))
    assert glued["n_sessions"] == len(table)
    assert glued["rate"] == pytest.approx(table["converted"].mean())
    page = page_text(other.html_dir / "notebooks" / "09_conversion.html")
    assert f"{glued['n_sessions']:,} sessions reach 3 events" in page
    assert "Further analyses" in page
    if uci is None:
        assert "comparison with the published results is skipped" in page
        html = (other.html_dir / "notebooks" / "09_conversion.html").read_text()
        assert 'class="admonition note"' in html
    else:
        assert glued["uci_rows"] == 12330
        assert glued["uci_brf_roc_auc"] == pytest.approx(0.925, abs=0.015)
        assert f"ROC-AUC of {glued['uci_brf_roc_auc']:.3f}" in page


def test_priority_segments_targeting_and_summary(built: ProjectPaths) -> None:
    from statsmodels.stats.multitest import multipletests

    from shoplog.action import campaign, segments
    from shoplog.action.summary import SUMMARY_KEYS, recommendation
    from shoplog.config.params import load_params
    from shoplog.modeling import artifacts

    params = load_params("ci")
    out = built.outputs_dir
    glued = {
        n: load_glued(out / "glued" / f"{n}.json")
        for n in (
            "01_data",
            "06_models",
            "10_priority",
            "11_segments",
            "12_targeting",
            "13_summary",
        )
    }
    table = pd.read_parquet(built.dataset_path)
    priority = pd.read_parquet(out / "priority.parquet")
    now = priority[priority["split"] == "score"].reset_index(drop=True)
    rows = table[table["split"] == "score"].reset_index(drop=True)
    # the scores are the kept models' calibrated probabilities, and priority = P x value
    churn = artifacts.load_model(out / "models" / "churn.card.json", out / "models")
    np.testing.assert_allclose(now["p_churn"], churn.predict(rows))
    np.testing.assert_allclose(now["priority"], now["p_churn"] * now["value"])
    assert (now["value"] >= 0).all()
    top_k = params.targeting.top_k_fraction
    assert now["priority_group"].sum() == round(top_k * len(now))
    assert glued["10_priority"]["revenue_at_risk"] == pytest.approx(now["priority"].sum())
    # expected churners are the sum of calibrated probabilities, banded without a gap
    assert glued["10_priority"]["expected_churners"] == pytest.approx(now["p_churn"].sum())
    bands = glued["10_priority"]["risk_bands"]
    assert sum(b["users"] for b in bands) == len(now)
    assert len(bands) == len(params.targeting.risk_band_edges) + 1
    # the group tests' FDR adjustment is Benjamini-Hochberg and keeps the raw order
    tests_ = pd.read_csv(out / "priority_group_tests.csv").dropna(subset=["p_welch"])
    np.testing.assert_allclose(
        tests_["p_welch_bh"], multipletests(tests_["p_welch"], method="fdr_bh")[1]
    )
    ordered = tests_.sort_values("p_welch", kind="stable")["p_welch_bh"].to_numpy()
    assert np.all(np.diff(ordered) >= -1e-15)
    # the targeting list: every user with a positive expected contact profit, highest
    # first, with their segment; no contact that loses money
    listed = pd.read_csv(
        out / "targeting" / f"targeting_{now['anchor'].max().date()}.csv", dtype={"user_id": str}
    )
    assert len(listed) == glued["12_targeting"]["recommended_k"] > 0
    plan = campaign.Campaign(
        **params.campaign.model_dump(
            exclude={"uplift_grid", "sensitivity_spread", "holdout_fraction"}
        )
    )
    profit, _ = campaign.contact_value(now["p_churn"], now["value"], plan)
    assert len(listed) == int((profit > 0).sum())
    expected_ids = now.iloc[campaign.ranking(profit, now["user_id"].astype(str).to_numpy())]
    assert (
        listed["user_id"].tolist() == expected_ids["user_id"].astype(str).head(len(listed)).tolist()
    )
    assert (listed["expected_profit"] > 0).all()
    assert listed["expected_profit"].is_monotonic_decreasing
    assert listed["rank"].tolist() == list(range(1, len(listed) + 1))
    assert listed["rfm_segment"].isin(segments.RFM_ORDER).all()
    assert listed["expected_profit"].sum() == pytest.approx(
        glued["12_targeting"]["expected_profit"], rel=1e-4, abs=1e-3
    )
    # every scored user has one RFM segment and one cluster; k is the silhouette's best
    seg = pd.read_parquet(out / "segments.parquet")
    assert seg["user_id"].astype(str).tolist() == now["user_id"].astype(str).tolist()
    assert seg["segment"].isin(segments.RFM_ORDER).all() and seg["cluster"].notna().all()
    assert seg["cluster"].nunique() == glued["11_segments"]["k"]
    assert glued["11_segments"]["k"] in params.segments.k_values
    assert -1 <= glued["11_segments"]["silhouette"] <= 1
    # raw user ids never reach the published pages of these chapters
    ids = set(now["user_id"].astype(str))
    for page in ("10_priority", "11_segments", "12_targeting", "13_summary"):
        text = (built.html_dir / "notebooks" / f"{page}.html").read_text()
        assert not ids & set(re.findall(r"\b\d{6,}\b", text)), page
    # the summary's numbers are the chapters' recorded values, and appear on the page
    summary = glued["13_summary"]
    for chapter, keys in SUMMARY_KEYS.items():
        for key in keys:
            if key in glued[chapter]:
                assert summary[key] == glued[chapter][key], key
    page = page_text(built.html_dir / "notebooks" / "13_summary.html")
    t = glued["12_targeting"]
    assert f"{summary['expected_churners']:,.0f} of {summary['users_scored']:,} users" in page
    assert f"{summary['recommended_k']:,} users" in page
    assert f"{t['list_lift']:.2f} [{t['list_lift_low']:.2f}, {t['list_lift_high']:.2f}]" in page
    assert t["list_lift_low"] <= t["list_lift"] <= t["list_lift_high"]
    assert f"{t['expected_profit']:,.0f} USD for a cost of" in page
    assert f"{t['holdout_users']:,} users; power {t['holdout_power']:.0%}" in page
    assert "Low / assumed / high" in page and "synthetic shop" in page
    # the list's lift is observed: its churn rate over the test anchor's, recomputed
    then = priority[priority["split"] != "score"]
    then = then[then["anchor"].eq(then["anchor"].max())].reset_index(drop=True)
    then_profit, _ = campaign.contact_value(then["p_churn"], then["value"], plan)
    then_list = then.iloc[campaign.ranking(then_profit, then["user_id"].astype(str).to_numpy())]
    then_list = then_list.head(int((then_profit > 0).sum()))
    assert t["list_lift"] == pytest.approx(then_list["dormant"].mean() / then["dormant"].mean())
    # prose checks: no change reported as "from X to X"; "most" only above one half
    for html_page in sorted((built.html_dir / "notebooks").glob("*.html")):
        text = page_text(html_page)
        assert not re.search(r"from (\d[\d,.]*%?) to \1\b", text), html_page.name
    share = glued["10_priority"]["priority_revenue_share"]
    priority_page = page_text(built.html_dir / "notebooks" / "10_priority.html")
    reach = (
        "half of" if round(share * 100) == 50 else "most of" if share > 0.5 else "less than half of"
    )
    assert f"reaches {reach} the money at risk" in priority_page
    # referents: the expected churners and the revenue at risk are over all scored users
    pr = glued["10_priority"]
    assert (
        f"Of the {pr['users_scored']:,} users active in the {pr['lookback_days']} days before "
        f"{pr['score_anchor']}, the models expect {pr['expected_churners']:,.0f}"
    ) in priority_page
    assert f"Over all {pr['users_scored']:,} users, {pr['revenue_at_risk']:,.0f} USD" in (
        priority_page
    )
    assert pr["users_scored"] == len(now)
    # tables in Markdown outputs are HTML: a pipe table would reach the reader as raw text
    for html_page in sorted((built.html_dir / "notebooks").glob("*.html")):
        assert "|---" not in page_text(html_page), html_page.name
    assert recommendation(summary).split(".")[0] in page
    # money is shown in the profile's currency (the synthetic shop's: USD), never bare
    assert f"{summary['revenue_at_risk']:,.0f} USD" in page
    targeting_page = page_text(built.html_dir / "notebooks" / "12_targeting.html")
    assert "Expected profit (USD)" in targeting_page
    assert f"{glued['12_targeting']['expected_profit']:,.0f} USD" in targeting_page
    # the summary is the first page after the intro
    intro = (built.html_dir / "book" / "intro.html").read_text()
    assert re.search(r'class="next"[^>]*href="../notebooks/13_summary.html"', intro) or (
        "13_summary.html" in intro.split("prev-next-area")[-1]
    )


def test_whole_book_on_cdnow_purchases(shared_data: Path, tmp_path: Path) -> None:
    """CDNOW's purchase-only log through its profile (with a lighter model budget): the
    book builds, what needs views says so, and the BG/NBD paper's fit is reproduced."""
    paths = ProjectPaths.create(tmp_path / "data", tmp_path / "build")
    args = ["book", "--profile", "cdnow", "--data-dir", str(paths.data_dir)]
    args += ["--build-dir", str(paths.build_dir), "--set", "models.learners=[LightGBM]"]
    args += ["--set", "models.tuned=[]", "--set", "models.n_boot=20"]
    args += ["--set", "explain.sample_rows=200"]
    assert cli.main(args) == 0
    glued = {n: load_glued(paths.glued_path(n)) for n in ("01_data", "06_models", "14_bgnbd")}
    assert glued["01_data"]["n_users"] == 23570 and glued["01_data"]["n_events"] == 69659
    # the published BG/NBD parameters and log-likelihood, within 1%
    assert glued["14_bgnbd"]["repro_customers"] == 2357
    assert glued["14_bgnbd"]["repro_max_diff"] < 0.01
    # BG/NBD P(alive) is a baseline of the churn benchmark
    bench = pd.read_csv(paths.models_dir / "churn_benchmark.csv").set_index("model")
    assert 0 < bench.loc["BG/NBD P(alive)", "pr_auc"] <= 1
    assert glued["06_models"]["churn_bgnbd_pr_auc"] == pytest.approx(
        bench.loc["BG/NBD P(alive)", "pr_auc"]
    )
    # sections a purchase-only log cannot support say so; nothing crashes
    explore = (paths.html_dir / "notebooks" / "02_explore.html").read_text()
    assert "This log has no view" in explore
    assert "<em>Figure: sessions reaching" not in explore  # no caption without its figure
    journeys = page_text(paths.html_dir / "notebooks" / "04_journeys.html")
    assert "This chapter does not apply to this log" in journeys
    bgnbd = page_text(paths.html_dir / "notebooks" / "14_bgnbd.html")
    assert (
        "Cumulative repeat purchases of the calibration cohort"
        in (paths.html_dir / "notebooks" / "14_bgnbd.html").read_text()
    )
    assert "TqdmWarning" not in bgnbd
    summary = load_glued(paths.glued_path("13_summary"))
    assert summary["users_scored"] > 0
