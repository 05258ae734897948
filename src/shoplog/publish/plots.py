"""Figure conventions: every figure has a title and labelled axes, and renders in the book.

Under papermill, plotly 7 emits only its own mime type, which Jupyter Book 1
skips; the ``plotly_mimetype+notebook`` renderer adds an HTML copy with
plotly.js embedded, so figures render offline in the published pages.
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.io as pio

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


def setup_plotting() -> None:
    """Renderer and template for chapters (call once, in the setup cell)."""
    pio.renderers.default = "plotly_mimetype+notebook"
    pio.templates.default = "plotly_white"


def finish(
    fig: go.Figure, title: str, x: str, y: str, height: int = 420, legend: str | None = None
) -> go.Figure:
    """Title, axis labels and a readable size, so no figure ships without them."""
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left"},
        height=height,
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
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
    """A horizontal legend under the plot, so side-by-side panels keep their width."""
    fig.update_layout(
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0, "xanchor": "left"},
        margin={"b": 110},
    )
    if height:
        fig.update_layout(height=height)
    return fig
