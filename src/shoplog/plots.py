"""Figure conventions: every figure has a title and labelled axes, and renders in the book.

Under papermill, plotly 7 emits only its own mime type, which Jupyter Book 1
skips; the ``plotly_mimetype+notebook`` renderer adds an HTML copy with
plotly.js embedded, so figures render offline in the published pages.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

EVENT_COLORS = {
    "view": "#4C78A8",
    "cart": "#F58518",
    "remove_from_cart": "#B279A2",
    "purchase": "#54A24B",
}


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
