"""The book on logs unlike the default, from a mapping alone: it builds, and says true things.

The cheap logs (short, views only) run in every test run; the long ones run with
``--gallery`` (``make test-gallery``).
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
from conftest import page_text
from gallery import GALLERY, GalleryLog, shop_events

from shoplog import cli
from shoplog.config.paths import ProjectPaths
from shoplog.events.ingest import QualityReport
from shoplog.publish.report import load_glued

pytestmark = pytest.mark.e2e
CHEAP = {"views"}  # the richest cheap log; the others run with --gallery (CI time)
# what no page may print: values that mean a computation went wrong
BROKEN = re.compile(r"\b(nan|NaN|inf|NaT|0ns)\b")


def _build(log: GalleryLog, tmp: Path) -> ProjectPaths:
    source = log.write(shop_events(tmp), tmp)
    paths = ProjectPaths.create(tmp / "data", tmp / "build")
    if log.profile is None:
        args = ["book", "--profile", "ci", "--set", "study.start_date=auto"]
        args += ["--set", "study.end_date=auto"]
    else:  # the profile file as printed; only the file's location is given
        args = ["book", "--profile", str(log.profile(tmp))]
    for override in log.overrides(source):
        args += ["--set", override]
    args += ["--data-dir", str(paths.data_dir), "--build-dir", str(paths.build_dir)]
    assert cli.main(args) == 0, log.name
    return paths


def _pages(paths: ProjectPaths) -> dict[str, str]:
    """Each chapter's text as a reader reads it: prose, tables, figure descriptions; not
    scripts, styles or the folded code (code may say ``np.nan``)."""
    return {
        path.stem: unescape(page_text(path))
        for path in sorted((paths.html_dir / "notebooks").glob("*.html"))
    }


def _intro(paths: ProjectPaths) -> str:
    html = (paths.html_dir / "book" / "intro.html").read_text()
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def _params(log: GalleryLog) -> list:
    marks = [] if log.name in CHEAP else [pytest.mark.gallery]
    return pytest.param(log, id=log.name, marks=marks)


@pytest.mark.parametrize("log", [_params(g) for g in GALLERY])
def test_the_book_builds_and_its_pages_are_true(log: GalleryLog, tmp_path: Path) -> None:
    paths = _build(log, tmp_path)
    pages = _pages(paths)
    quality = QualityReport.from_json(paths.quality_path)
    events = pd.read_parquet(paths.events_path)
    # no page prints a broken value
    for name, text in pages.items():
        assert not BROKEN.search(text), (log.name, name, BROKEN.search(text))
    # the Data page names the log by its file, counts its users, and says what it records
    data = pages["01_data"]
    assert "synthetic shop" not in data
    assert events["user_id"].nunique() == quality.users
    glued = load_glued(paths.glued_path("01_data"))
    assert glued["n_users"] == quality.users
    assert quality.time_resolution in ("second", "minute", "hour", "day")
    assert {"second": "to the second", "minute": "to the minute", "hour": "to the hour only",
            "day": "to the day only"}[quality.time_resolution] in data  # fmt: skip
    # the intro and the Data page say which questions the log can answer, the same way
    asked = re.search(r"What this log can answer # (.*?) Column dictionary #", data)
    assert asked is not None
    assert asked.group(1).count(": Yes") + asked.group(1).count(": No") == 5, asked.group(1)
    assert load_glued(paths.glued_path("01_data"))["questions_sentence"] in _intro(paths)
    # every row read is kept or dropped for a reason
    assert quality.rows_read == quality.rows_kept + sum(quality.drops.values())
    _specific(log.name, pages, quality, paths)


def _specific(
    name: str, pages: dict[str, str], quality: QualityReport, paths: ProjectPaths
) -> None:
    """What each log must make the book say."""
    if name == "views":
        assert "Every event in this log is a view, so there is no mix" in pages["02_explore"]
        # (smart quotes: the page's apostrophes are typographic)
        assert "a session here is all of a user’s events in one day" in pages["01_data"]
        # the page's code cells hold the caption's text; its rendered output must not
        explore = (paths.html_dir / "notebooks" / "02_explore.html").read_text()
        assert "<em>Figure: the share of each event type" not in explore
        assert quality.time_resolution == "day" and quality.drops["incomplete_row"] > 0
        assert "no view -> cart funnel" in pages["02_explore"]
    if name == "hourly":
        assert quality.time_resolution == "hour"
        # the order within an hour is unknown: no journeys, said once, on both pages
        assert "journeys need times to the minute or finer" in pages["01_data"]
        assert "This chapter does not apply to this log" in pages["04_journeys"]
    if name == "stray":
        assert len(quality.set_aside) == 1 and quality.set_aside[0]["rows"] == 1
        assert "set aside as stray dates" in pages["01_data"]
    if name == "invoices":
        assert quality.drops["cancelled_purchase"] > 0 and quality.source_format == "excel"
    if name == "invoices_csv":
        assert quality.drops["cancelled_purchase"] > 0 and quality.source_format == "csv"
    if name in ("taobao", "hourly", "readme"):
        # favourites have no canonical type: the appendix maps them to drop, and they count
        assert quality.drops["event_type_dropped"] > 0
    if name in ("taobao", "no_prices"):
        assert "the log has no prices" in pages["10_priority"]
        assert "no revenue at risk" in pages["13_summary"]
    if name == "taobao":
        assert "The log has no brands" in pages["02_explore"]
        assert quality.time_unit == "s"
    if name in ("taobao", "no_prices", "views", "hourly", "readme"):
        assert "What customers spend and are worth: No" in pages["01_data"]
    if name == "views":
        assert "Who will buy in the next 14 days: No" in pages["01_data"]
        assert "Who will be dormant in the next 14 days: No" in pages["01_data"]
    if name in ("two_hours", "nine_days"):
        # the models cannot apply; the pages say so instead of showing empty sections
        assert "This chapter does not apply to this log" in pages["06_models"]
        assert "Who will be dormant in the next 14 days: No" in pages["01_data"]
        assert "needs about 28 days: use a longer log" in pages["01_data"]
    if name == "readme":
        assert (quality.study_start, quality.study_end) == ("2017-11-25", "2017-12-04")
        assert "Who will be dormant in the next 30 days: No" in pages["01_data"]
        assert "This chapter does not apply to this log" in pages["06_models"]
    if name == "seven_weeks":
        # too short for the profile's plan: auto fits a smaller one, says so, and models
        assert "anchors.fit: auto chose the closest plan" in pages["05_features"]
        assert "chosen by anchors.fit: auto" in pages["01_data"]
        assert "This chapter does not apply to this log" not in pages["06_models"]
