"""The built CI book as readers get it: light pages, no browser errors, described and
numbered figures, references, a glossary, exercises whose answers come from the run,
plain language, and the PDF brief."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import page_text

from shoplog import cli
from shoplog.config.paths import ProjectPaths
from shoplog.dataset.contract import feature_contract
from shoplog.publish.browser import Chromium, chromium_path
from shoplog.publish.report import load_glued

pytestmark = pytest.mark.e2e

# budgets of issue "a book that loads fast": the whole site, one page
SITE_BUDGET = 15 * 2**20
PAGE_BUDGET = 700 * 2**10
# plotly.js announces itself in its first line; an embedded copy would carry it
PLOTLY_BANNER = "plotly.js v"
# the analytic chapters, whose prose must not speak in internals
ANALYTIC = (
    "01_data",
    "02_explore",
    "03_seasonality",
    "04_journeys",
    "05_features",
    "06_models",
    "07_explanations",
    "10_priority",
    "11_segments",
    "12_targeting",
    "13_summary",
)


@pytest.fixture(scope="module")
def html(ci_book: ProjectPaths) -> Path:
    return ci_book.html_dir


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(), "html.parser")


def test_pages_are_light(html: Path) -> None:
    files = [p for p in html.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= SITE_BUDGET
    pages = list(html.rglob("*.html"))
    heavy = {p.name: p.stat().st_size for p in pages if p.stat().st_size > PAGE_BUDGET}
    assert heavy == {}
    # plotly.js exists once, as a static file; no page or download embeds a copy
    copies = [p for p in files if PLOTLY_BANNER in p.read_text(errors="ignore")[:400_000]]
    assert [p.relative_to(html).as_posix() for p in copies] == ["_static/plotly.min.js"]
    # nothing is fetched from a CDN: the book works offline
    for page in pages:
        for tag in soup(page).select("script[src], link[href]"):
            url = tag.get("src") or tag.get("href")
            assert not url.startswith(("http://", "https://", "//")), (page.name, url)
    # plotly.js is loaded only by the pages that draw a figure
    summary = (html / "notebooks" / "13_summary.html").read_text()
    assert "plotly.min.js" not in summary
    assert "plotly.min.js" in (html / "notebooks" / "02_explore.html").read_text()
    # no empty index page, one search box
    assert not (html / "genindex.html").exists()
    intro = soup(html / "book" / "intro.html")
    assert len(intro.select(".bd-header .search-button-field")) == 0


@pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (make test does)")
def test_every_page_opens_in_chromium_without_errors(html: Path) -> None:
    pages = [p for p in sorted(html.rglob("*.html")) if "_static" not in p.parts]
    with Chromium() as browser:
        reports = [browser.open(page) for page in pages]
    problems = {r.url: r.errors + r.failed for r in reports if r.errors or r.failed}
    assert problems == {}
    for r in reports:
        assert r.ready_ms is not None, f"{r.url} never became ready"
        # every figure draws (the ones off screen when asked, as printing does)
        assert r.drawn == r.figures, r.url
    figures = {Path(r.url).stem: r.figures for r in reports}
    assert figures["02_explore"] >= 8 and figures["13_summary"] == 0


@pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (make test does)")
def test_a_screenshot_of_every_page_is_kept_for_review(html: Path) -> None:
    """One full-page screenshot per page at desktop width, under the build folder (for a
    person to look at), and none with a blank lower half (a capture beyond the viewport
    once left long pages white below the first screen)."""
    import numpy as np
    from PIL import Image

    pages = [p for p in sorted(html.rglob("*.html")) if "_static" not in p.parts]
    pages = [p for p in pages if p.name != "index.html"]  # a redirect, not a page
    shots = html.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    with Chromium() as browser:
        for page in pages:
            out = (
                shots / f"{page.relative_to(html).with_suffix('').as_posix().replace('/', '_')}.png"
            )
            browser.screenshot(page, out, width=1280)
    for out in sorted(shots.glob("*.png")):
        grey = np.asarray(Image.open(out).convert("L"))
        assert grey.shape[1] == 1280, out.name
        lower = grey[grey.shape[0] // 2 :]
        # text somewhere in the lower half: some rows hold dark pixels
        assert (lower < 128).any(axis=1).mean() > 0.05, out.name
    assert len(list(shots.glob("*.png"))) == len(pages)


def test_figures_are_described_numbered_and_captioned(html: Path) -> None:
    for page in sorted((html / "notebooks").glob("*.html")):
        doc = soup(page)
        for img in doc.select("article img"):
            alt = img.get("alt", "")
            assert alt and not re.search(r"\.(png|svg|jpe?g)$", alt), (page.name, alt)
        for div in doc.select("div.plotly-graph-div"):
            figure = div.find_parent("figure")
            text = figure.select_one("p.visually-hidden").get_text()
            assert re.match(r"[A-Z][a-z ]+ (chart|plot|diagram|map|histogram)", text), text
            assert len(text) > 30, (page.name, text)
        captions = [p.get_text(" ", strip=True) for p in doc.select("p.figure-caption")]
        numbers = [int(re.match(r"Figures? (\d+)\.", c).group(1)) for c in captions]
        assert numbers == list(range(1, len(numbers) + 1)), page.name
    journeys = soup(html / "notebooks" / "04_journeys.html")
    # the process map's alt text is its caption
    alts = [img["alt"] for img in journeys.select("article img")]
    assert any(a.startswith("the frequency directly-follows graph") for a in alts)
    # ... and its type is at least 11 px on the page's 690-px column
    svg = next(
        (html / "notebooks" / img["src"]).read_text()
        for img in journeys.select("article img")
        if img["alt"].startswith("the frequency")
    )
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
    found = re.search(r"scale\(([\d.]+)", svg)
    width_px = float(re.search(r'<svg[^>]* width="([\d.]+)pt"', svg).group(1)) * 4 / 3
    scale = (float(found.group(1)) if found else 1.0) * min(1.0, 690 / width_px)
    assert min(sizes) * 4 / 3 * scale >= 11


def test_references_glossary_and_exercises(ci_book: ProjectPaths, html: Path) -> None:
    refs = page_text(html / "book" / "references.html")
    for author in ("Fader", "Cleveland", "Lundberg", "Benjamini", "Kaplan", "van der Aalst"):
        assert author in refs, author
    models = soup(html / "notebooks" / "06_models.html")
    cites = [a.get_text() for a in models.select("a[href*='references.html#id']")]
    assert any("Fader" in c for c in cites)
    glossary = page_text(html / "book" / "glossary.html")
    for term in ("Anchor", "Horizon", "Dormant", "PR-AUC", "Lift", "Calibration", "Uplift"):
        assert term in glossary, term
    intro = soup(html / "book" / "intro.html")
    assert intro.select("a[href*='glossary.html#term-Anchor']")
    # exercises with collapsible solutions; the numbers in solutions are the run's
    journeys = soup(html / "notebooks" / "04_journeys.html")
    assert len(journeys.select(".exercise")) >= 2
    solutions = journeys.select(".solution")
    assert solutions and all("dropdown" in s.get("class", []) for s in solutions)
    glued = load_glued(ci_book.glued_path("04_journeys"))
    text = " ".join(s.get_text(" ", strip=True) for s in solutions)
    assert f"{glued['bought_share']:.1%} of sessions buy" in text
    for chapter in ("02_explore", "03_seasonality", "05_features", "06_models", "12_targeting"):
        assert "Exercise" in page_text(html / "notebooks" / f"{chapter}.html"), chapter


def test_prose_speaks_plainly(html: Path) -> None:
    raw = {s.name for s in feature_contract()}
    internals = re.compile(
        r"computed in the engine|shoplog\.[a-z]|\.joblib|\.parquet|data/(outputs|processed)"
    )
    for name in ANALYTIC:
        text = page_text(html / "notebooks" / f"{name}.html")
        assert not internals.search(text), (name, internals.search(text))
    # the targeting list's reasons and the group tables name features in words
    targeting = soup(html / "notebooks" / "12_targeting.html")
    table = next(t for t in targeting.select("table") if "Top reasons" in t.get_text())
    reasons = [row.select("td")[-1].get_text(" ") for row in table.select("tbody tr")]
    assert reasons and not any(word in raw for r in reasons for word in r.split())
    priority = page_text(html / "notebooks" / "10_priority.html")
    assert "days_since_last_event" not in priority


def test_the_brief_is_the_summary_as_pdf(ci_book: ProjectPaths, html: Path, tmp_path) -> None:
    from pypdf import PdfReader

    glued = load_glued(ci_book.glued_path("13_summary"))
    pdf = ci_book.brief_path
    reader = PdfReader(pdf)
    assert 1 <= len(reader.pages) <= 2
    text = " ".join(page.extract_text() for page in reader.pages)
    text = re.sub(r"\s+", " ", text)
    assert f"{glued['users_scored']:,} users had been active" in text
    assert f"{glued['recommended_k']:,} user" in text
    assert "Recommendation" in text
    # linked from the summary page, and the same bytes when written again
    summary = soup(html / "notebooks" / "13_summary.html")
    link = summary.select_one("a.download[href$='brief.pdf']")
    assert link is not None and (html / "notebooks" / link["href"]).resolve().exists()
    again = tmp_path / "again.pdf"
    args = ["brief", "--profile", "ci", "--data-dir", str(ci_book.data_dir)]
    assert cli.main([*args, "--build-dir", str(ci_book.build_dir), "--out", str(again)]) == 0
    assert again.read_bytes() == pdf.read_bytes()
