"""How pages read: figures as light, described HTML; plain feature names; process maps
drawn to be read; numbered captions that are their images' alt text."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document

from shoplog.behaviour import journeys
from shoplog.dataset.contract import feature_contract, feature_label, feature_labels
from shoplog.publish import plots, sphinx_page, views
from shoplog.publish.build import prune_static


def rendered(fig: go.Figure) -> dict[str, str]:
    plots.setup_plotting()
    return pio.renderers[plots.RENDERER].to_mimebundle(fig.to_dict())


def test_a_figure_is_light_described_and_the_same_bytes_every_time() -> None:
    fig = plots.finish(
        go.Figure([go.Bar(x=["a", "b"], y=[1, 2], name="views"), go.Scatter(y=[1], name="x")]),
        "Events by type",
        "Type",
        "Events",
    )
    bundle = rendered(fig)
    page = bundle["text/html"]
    # no copy of plotly.js (the book ships one), no CDN, no MathJax
    assert len(page) < 20_000
    assert "plotly.js v" not in page and "cdn" not in page.lower() and "MathJax" not in page
    # the figure's JSON is there for the page's script to draw
    data = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S)
    spec = json.loads(data.group(1))
    assert [t["type"] for t in spec["data"]] == ["bar", "scatter"]
    # a text alternative a screen reader reads, also the plain-text fallback
    text = bundle["text/plain"]
    assert text == (
        "Bar chart and line chart: Events by type. x axis: Type; y axis: Events. "
        "2 series: views, x."
    )
    assert f">{text}</p>" in page and 'class="visually-hidden"' in page
    # ids from the content: the same figure, the same bytes; another figure, another id
    assert rendered(fig)["text/html"] == page
    other = rendered(go.Figure(go.Bar(x=["a"], y=[3])))["text/html"]
    assert re.search(r'id="(fig-\w+)"', other).group(1) != re.search(r'id="(fig-\w+)"', page)[1]


def test_the_toolbar_stands_clear_of_the_title() -> None:
    fig = plots.finish(go.Figure(go.Scatter(y=[1, 2])), "A title", "x", "y")
    assert fig.layout.modebar.orientation == "v"
    assert fig.layout.margin.r >= 40
    assert plots.PLOTLY_CONFIG["displaylogo"] is False


def test_figures_carry_summaries_not_rows() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(size=50_000)
    box = plots.quantile_box(values, "dormant", "#000000")
    assert box.q1[0] == pytest.approx(np.quantile(values, 0.25))
    assert box.upperfence[0] == pytest.approx(np.quantile(values, 0.95))
    assert box.y is None  # five numbers, not 50,000 values
    bars = plots.binned_bars(np.r_[values, np.nan], 0.5, "all", "#000000")
    assert bars.y.sum() == len(values)  # every finite value counted once
    assert len(bars.x) < 200
    assert np.all(np.diff(bars.x) > 0)


def test_every_feature_has_a_plain_name() -> None:
    for spec in feature_contract():
        label = feature_label(spec.name)
        assert label == spec.label and label, spec.name
        assert "_" not in label and label[0].isupper(), label
    # any window, any event type; unknown columns keep their name, spaced
    assert feature_label("views_14d") == "Views, last 14 days"
    assert feature_label("removes_3d") == "Removals from cart, last 3 days"
    assert feature_label("trend_7d") == "Activity trend, last 7 days vs the 7 before"
    assert feature_label("gap_ratio") == "Days since last visit / usual gap"
    assert feature_label("some_column") == "some column"
    assert feature_labels(["views_7d"]) == {"views_7d": "Views, last 7 days"}


def test_targeting_reasons_and_group_tables_read_as_plain_names() -> None:
    comparison = pd.DataFrame(
        {
            "feature": ["gap_ratio", "views_30d"],
            "mean_group": [2.0, 1.0],
            "mean_rest": [1.0, 1.0],
            "p_welch_bh": [0.001, 0.5],
            "p_mann_whitney_bh": [0.002, 0.4],
            "hedges_g": [0.8, 0.01],
            "g_low": [0.6, -0.1],
            "g_high": [1.0, 0.1],
            "rank_biserial": [0.3, 0.0],
            "significant": [True, False],
        }
    )
    table = views.stats_table(comparison).data
    assert list(table["Feature"]) == ["Days since last visit / usual gap", "Views, last 30 days"]
    fig = views.forest(comparison, "t", "group", "rest", 0.2)
    assert "gap_ratio" not in fig.to_json()
    views.glue_summary(comparison, "x", 0.2)
    from shoplog.publish import report

    assert "days since last visit / usual gap" in report.glued()["x_top_text"]


def test_process_map_labels_are_large_and_formatted() -> None:
    edges = pd.DataFrame(
        {
            "source": [journeys.START, "view", "view", "cart", "purchase"],
            "target": ["view", "cart", journeys.END, "purchase", journeys.END],
            "count": [12345, 4000, 8345, 1200, 1200],
            "median_seconds": [np.nan, 45.0, np.nan, 300.0, np.nan],
        }
    )
    svg = views.process_map_svg(edges)
    assert ">12,345<" in svg and ">8,345<" in svg  # thousands separators
    # type of at least 11 px on a 690-px column: Graphviz's own scaling, then the page's
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
    found = re.search(r"scale\(([\d.]+)", svg)
    scale = float(found.group(1)) if found else 1.0
    width_px = float(re.search(r'<svg[^>]* width="([\d.]+)pt"', svg).group(1)) * 4 / 3
    assert sizes and min(sizes) * 4 / 3 * scale * min(1.0, 690 / width_px) >= 11
    waits = views.process_map_svg(edges, "median_seconds")
    assert ">45 s<" in waits and ">5.0 min<" in waits
    assert "<!--" not in svg  # no version comments: the same graph, the same bytes
    assert views.process_map_svg(edges) == svg


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5 s"), (600, "10.0 min"), (7200, "2.0 h"), (3 * 86400, "3.0 d")]
)
def test_waits_are_in_the_unit_a_reader_thinks_in(seconds: float, text: str) -> None:
    assert views.duration_text(seconds) == text


def test_process_tree_reads_in_words() -> None:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        from pm4py.objects.process_tree.obj import Operator, ProcessTree

    root = ProcessTree(operator=Operator.SEQUENCE)
    loop = ProcessTree(operator=Operator.LOOP, parent=root)
    loop.children = [ProcessTree(label="view", parent=loop), ProcessTree(parent=loop)]
    choice = ProcessTree(operator=Operator.XOR, parent=root)
    choice.children = [ProcessTree(label="purchase", parent=choice), ProcessTree(parent=choice)]
    root.children = [loop, choice]
    svg = views.process_tree_svg(root)
    for word in ("in order", "repeat", "one of", "skip", ">view<", ">purchase<"):
        assert word in svg, word


def test_the_sankey_colours_flows_by_outcome() -> None:
    assert views.outcome_flow_color(journeys.BOUGHT) != views.outcome_flow_color(journeys.LEFT)
    assert "158" in views.outcome_flow_color(journeys.BOUGHT)  # the purchase green


def _doc(*children: nodes.Node) -> nodes.document:
    doc = new_document("page", get_default_settings(Parser))
    section = nodes.section()
    section.extend(children)
    doc.append(section)
    return doc


def _caption(text: str) -> nodes.paragraph:
    return nodes.paragraph("", "", nodes.emphasis(text=text))


def test_captions_are_numbered_and_become_the_images_alt_text() -> None:
    image = nodes.image(uri="_images/abc.svg")
    doc = _doc(
        nodes.container("", image),
        _caption("Figure: the directly-follows graph of all sessions."),
        nodes.paragraph(text="Prose that says Figure: in the middle is not a caption."),
        nodes.container("", nodes.raw("", "<div class='plotly-graph-div'></div>", format="html")),
        _caption("Figures: three customers."),
    )
    sphinx_page.number_figures(None, doc, "page")
    captions = [p for p in doc.findall(nodes.paragraph) if "figure-caption" in p["classes"]]
    assert [c.astext() for c in captions] == [
        "Figure 1. The directly-follows graph of all sessions.",
        "Figures 2. Three customers.",
    ]
    assert captions[0]["ids"] == ["figure-1"]
    assert image["alt"] == "the directly-follows graph of all sessions."


def test_pruning_keeps_what_readers_load(tmp_path) -> None:
    static = tmp_path / "_static"
    (static / "scripts").mkdir(parents=True)
    (static / "locales" / "de").mkdir(parents=True)
    (static / "scripts" / "theme.js").write_text("js")
    (static / "scripts" / "theme.js.map").write_text("map")
    (static / "webpack-macros.html").write_text("{{ pathto('x') }}")
    prune_static(tmp_path)
    assert (static / "scripts" / "theme.js").exists()
    assert not (static / "scripts" / "theme.js.map").exists()
    assert not (static / "locales").exists()
    assert not (static / "webpack-macros.html").exists()


@pytest.mark.parametrize(
    "group",
    [
        plots.EVENT_COLORS,
        dict(enumerate(plots.MODEL_SEQUENCE)),
        {k: v for k, v in plots.SPLIT_COLORS.items() if k != "embargo"},
        {"churn": plots.COLORS.highlight, "stayed": plots.COLORS.calm},
    ],
)
def test_colours_that_must_differ_still_differ_under_deuteranopia(group: dict) -> None:
    colours = list(group.values())
    for i, a in enumerate(colours):
        for b in colours[i + 1 :]:
            assert plots.seen_distance(a, b, deuteranopia=True) >= 10, (a, b)


def test_the_colour_blindness_check_can_fail() -> None:
    # red and green, the pair deuteranopia merges, read apart only with typical vision
    assert plots.seen_distance("#D62728", "#2CA02C") > 50
    assert plots.seen_distance("#D62728", "#2CA02C", deuteranopia=True) < 10


def test_a_caption_printed_by_its_own_cell_describes_that_cells_image() -> None:
    image = nodes.image(uri="_images/perf.svg")
    caption = _caption("Figure: the same graph labelled with the median time.")
    cell = nodes.container("", nodes.container("", image), nodes.container("", caption))
    cell["classes"].append("cell")
    # a plotly figure's caption, printed by its cell, takes no earlier cell's image
    other = nodes.image(uri="_images/earlier.png")
    plotly_cell = nodes.container(
        "",
        nodes.container("", nodes.raw("", "<div></div>", format="html")),
        nodes.container("", _caption("Figure: an interactive chart.")),
    )
    plotly_cell["classes"].append("cell")
    doc = _doc(nodes.paragraph(text="Some prose."), cell, nodes.container("", other), plotly_cell)
    sphinx_page.number_figures(None, doc, "page")
    assert image["alt"] == "the same graph labelled with the median time."
    assert "alt" not in other


def test_a_caption_cell_under_a_figure_cell_describes_its_image() -> None:
    image = nodes.image(uri="_images/beeswarm.png")
    figure_cell = nodes.container("", nodes.container("", image))
    caption_cell = nodes.container("", nodes.container("", _caption("Figure: as above.")))
    for cell in (figure_cell, caption_cell):
        cell["classes"].append("cell")
    sphinx_page.number_figures(None, _doc(figure_cell, caption_cell), "page")
    assert image["alt"] == "as above."
