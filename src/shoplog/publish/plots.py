"""Figure conventions: every figure has a title, labelled axes and a text alternative,
and renders in the book.

Under papermill, plotly emits only its own mime type, which Jupyter Book 1 skips. The
book's renderer (``shoplog``) writes each figure as a small HTML block instead: a div, the
figure's JSON and a text description, without plotly.js, which the book ships once as a
local static file (:func:`plotly_js_path`), so pages stay light and work offline.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer

# The book's one palette: Okabe and Ito's colour-blind-safe colours, by meaning. Every
# figure takes its colours from here, so a colour means the same thing on every page
# (vermillion: the kept model, churn, the priority group; grey: baselines and references).
OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}
EVENT_COLORS = {
    "view": OKABE_ITO["blue"],
    "cart": OKABE_ITO["orange"],
    "remove_from_cart": OKABE_ITO["purple"],
    "purchase": OKABE_ITO["green"],
}
SPLIT_COLORS = {
    "train": OKABE_ITO["blue"],
    "validation": OKABE_ITO["orange"],
    "test": OKABE_ITO["green"],
    "embargo": "#BBBBBB",
    "score": OKABE_ITO["purple"],
}


@dataclass(frozen=True)
class Palette:
    """Colours by role (see :data:`OKABE_ITO`)."""

    series: str = OKABE_ITO["blue"]  # a single series, or "the others" among models
    second: str = OKABE_ITO["orange"]  # a second series beside it
    highlight: str = OKABE_ITO["vermillion"]  # the kept model, churn, the priority group
    calm: str = OKABE_ITO["blue"]  # its counterpart: stayed active, the rest
    light: str = OKABE_ITO["sky"]  # a quiet counterpart (the rest of the users)
    baseline: str = OKABE_ITO["grey"]  # rules and baselines, random targeting
    reference: str = "#999999"  # reference lines (a base rate, a diagonal)
    faint: str = "#BBBBBB"  # guides that should recede
    ink: str = "#444444"  # annotations (the end of the observed log, a cut-off)
    band: str = "#EEEEEE"  # shaded spans (the warm-up)
    error: str = "#777777"  # error bars
    other: str = OKABE_ITO["sky"]  # a fourth model in a comparison


COLORS = Palette()
# models in comparison figures: the kept model first, then the others
MODEL_SEQUENCE = (COLORS.highlight, COLORS.series, COLORS.baseline, COLORS.other)


# The interactive figure's toolbar: download and reset only, upright at the right edge so
# it never covers a title or a legend, even on a phone.
PLOTLY_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtons": [["toImage", "resetScale2d"]],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}
RENDERER = "shoplog"
# plain words for plotly's trace types, for the text alternative
TRACE_WORDS = {
    "bar": "bar chart",
    "box": "box plot",
    "heatmap": "heat map",
    "histogram": "histogram",
    "sankey": "Sankey diagram",
    "funnel": "funnel chart",
    "pie": "pie chart",
    "violin": "violin plot",
}


def plotly_js_path() -> Path:
    """The plotly.js bundle of the installed plotly, which the book serves as a static file."""
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _text(value: Any) -> str:
    """A title's text, whether plotly holds it as a string or as {"text": ...}."""
    if isinstance(value, dict):
        value = value.get("text")
    return str(value or "").strip()


def _kind(trace: dict[str, Any]) -> str:
    kind = trace.get("type", "scatter")
    if kind in ("scatter", "scattergl"):
        mode = str(trace.get("mode", "lines+markers"))
        return "line chart" if "lines" in mode else "scatter plot"
    return TRACE_WORDS.get(kind, f"{kind} chart")


def describe(fig_dict: dict[str, Any]) -> str:
    """A short text alternative of a figure: its kind, title, axes and series, so a reader
    who cannot see it (a screen reader, a text-only download) knows what it shows."""
    layout = fig_dict.get("layout", {})
    traces = fig_dict.get("data", [])
    kinds = list(dict.fromkeys(_kind(t) for t in traces)) or ["empty chart"]
    parts = [f"{' and '.join(kinds).capitalize()}"]
    title = _text(layout.get("title"))
    if title:
        parts[0] += f": {title}"
    axes = []
    for name in ("xaxis", "yaxis"):
        label = _text(layout.get(name, {}).get("title"))
        if label:
            axes.append(f"{name[0]} axis: {label}")
    if axes:
        parts.append("; ".join(axes))
    names = [str(t["name"]) for t in traces if t.get("name") and t.get("showlegend", True)]
    names = list(dict.fromkeys(names))
    if names:
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        parts.append(f"{len(names)} series: {shown}")
    return ". ".join(parts) + "."


class BookRenderer(MimetypeRenderer):
    """Each figure as a div, its JSON and a text alternative, drawn by the book's
    ``_static/shoplog-figures.js`` with the page's one copy of plotly.js when the reader
    scrolls near it (or prints), so a page with many figures is ready at once. Ids come
    from the figure's content, so the same figure gives the same bytes in every run."""

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, str]:
        spec = {"data": fig_dict.get("data", []), "layout": fig_dict.get("layout", {})}
        payload = pio.to_json(spec, validate=False, pretty=False, remove_uids=True)
        div_id = "fig-" + hashlib.sha256(payload.encode()).hexdigest()[:12]
        text = describe(fig_dict)
        height = int(fig_dict.get("layout", {}).get("height") or 420)
        config = json.dumps(PLOTLY_CONFIG, sort_keys=True)
        safe = payload.replace("</", "<\\/")  # JSON inside a script element
        block = (
            f'<figure class="shoplog-plotly" aria-describedby="{div_id}-text">'
            f'<p id="{div_id}-text" class="visually-hidden">{html.escape(text)}</p>'
            f'<div id="{div_id}" class="plotly-graph-div" style="height:{height}px; '
            f"width:100%;\" data-config='{html.escape(config, quote=True)}'></div>"
            f'<script type="application/json" class="plotly-figure-data" '
            f'data-for="{div_id}">{safe}</script></figure>'
        )
        return {"text/html": block, "text/plain": text}


def setup_plotting() -> None:
    """Renderer and template for chapters (call once, in the setup cell)."""
    if RENDERER not in pio.renderers:
        pio.renderers[RENDERER] = BookRenderer()
    pio.renderers.default = RENDERER
    # plotly_white's page layout without its per-trace-type defaults, which every figure
    # would otherwise carry (about 8 KB each)
    template = go.layout.Template(layout=pio.templates["plotly_white"].layout)
    # series without a colour of their own take the book's palette, in its order
    template.layout.colorway = list(OKABE_ITO.values())
    pio.templates[RENDERER] = template
    pio.templates.default = RENDERER


def finish(
    fig: go.Figure, title: str, x: str, y: str, height: int = 420, legend: str | None = None
) -> go.Figure:
    """Title, axis labels and a readable size, so no figure ships without them."""
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left"},
        height=height,
        # the right margin holds the upright toolbar
        margin={"l": 70, "r": 40, "t": 60, "b": 60},
        modebar={"orientation": "v"},
        legend_title_text=legend,
        font={"size": 13},
    )
    # Only the first axes carry titles: in faceted figures the others would repeat them.
    fig.update_xaxes(title_text="")
    fig.update_layout(xaxis_title_text=x, yaxis_title_text=y)
    # Log axes: label powers of ten only, so minor ticks do not crowd the labels.
    fig.for_each_yaxis(lambda axis: axis.update(dtick=1) if axis.type == "log" else None)
    fig.for_each_xaxis(lambda axis: axis.update(dtick=1) if axis.type == "log" else None)
    return fig


def legend_below(fig: go.Figure, height: int | None = None) -> go.Figure:
    """A horizontal legend under the plot, so side-by-side panels keep their width. It is
    placed at the bottom of the figure (not of the plot area), below the x-axis title,
    whatever the figure's height."""
    fig.update_layout(
        legend={
            "orientation": "h",
            "yref": "container",
            "yanchor": "bottom",
            "y": 0.01,
            "x": 0,
            "xanchor": "left",
        },
        margin={"b": 120},
    )
    if height:
        fig.update_layout(height=height)
    return fig


def quantile_box(values: Any, name: str, color: str, **trace: Any) -> go.Box:
    """A box drawn from five quantiles (5th, 25th, 50th, 75th, 95th percentile) instead of
    the raw values, so the page carries five numbers, not every row."""
    import numpy as np

    q05, q25, q50, q75, q95 = np.nanquantile(np.asarray(values, dtype=float), QUANTILES)
    return go.Box(
        x=[name],
        q1=[q25],
        median=[q50],
        q3=[q75],
        lowerfence=[q05],
        upperfence=[q95],
        name=name,
        marker_color=color,
        hoverinfo="y",
        **trace,
    )


QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def binned_bars(values: Any, width: float, name: str, color: str, start: float = 0.0) -> go.Bar:
    """A histogram counted here (bins of ``width`` from ``start``) and drawn as bars, so the
    page carries one count per bin, not every value."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    bins = np.floor((v - start) / width).astype(np.int64)
    index, counts = np.unique(bins, return_counts=True)
    centres = start + (index + 0.5) * width
    return go.Bar(
        x=centres, y=counts, width=width, name=name, marker_color=color, marker_line_width=0
    )


# Machado, Oliveira and Fernandes (2009): deuteranopia (severity 1) on linear RGB
DEUTERANOPIA = (
    (0.367322, 0.860646, -0.227968),
    (0.280085, 0.672501, 0.047413),
    (-0.011820, 0.042940, 0.968881),
)


def _linear(channel: float) -> float:
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


def _lab(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    """CIELAB (D65) of a linear-RGB colour."""
    r, g, b = rgb
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def seen_distance(a: str, b: str, deuteranopia: bool = False) -> float:
    """How different two colours look (CIELAB distance, ΔE 1976), for a reader with
    typical vision or, with ``deuteranopia``, without green cones (the commonest colour
    blindness); about 10 or more reads as clearly different."""

    def lab(color: str) -> tuple[float, float, float]:
        rgb = [_linear(int(color.lstrip("#")[i : i + 2], 16) / 255) for i in (0, 2, 4)]
        if deuteranopia:
            rgb = [min(max(sum(m * c for m, c in zip(row, rgb, strict=True)), 0.0), 1.0)
                   for row in DEUTERANOPIA]  # fmt: skip
        return _lab((rgb[0], rgb[1], rgb[2]))

    return float(sum((p - q) ** 2 for p, q in zip(lab(a), lab(b), strict=True)) ** 0.5)
