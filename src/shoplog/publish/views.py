"""How the action chapters' results are shown: group comparisons (a forest plot of effect
sizes, its glued summary, the differences worth a sentence, the full table of tests),
segment profiles and campaign curves.

Figures and tables only: the numbers come from the ``shoplog.action`` steps."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from shoplog.action import groups
from shoplog.behaviour import journeys
from shoplog.dataset.contract import feature_label
from shoplog.modeling.artifacts import ModelCard
from shoplog.publish import report
from shoplog.publish.plots import COLORS, EVENT_COLORS, finish, legend_below

# the differences in words shown on the page; the rest are in the full table
WORDS_SHOWN = 12
STATS_COLUMNS = {
    "feature": ("Feature", None),
    "mean_group": ("Mean (group)", "{:,.2f}"),
    "mean_rest": ("Mean (rest)", "{:,.2f}"),
    "p_welch_bh": ("Welch p (BH)", "{:.1e}"),
    "p_mann_whitney_bh": ("Mann-Whitney p (BH)", "{:.1e}"),
    "hedges_g": ("Hedges' g", "{:+.2f}"),
    "rank_biserial": ("Rank-biserial", "{:+.2f}"),
}


def forest(
    comparison: pd.DataFrame, title: str, group: str, rest: str, min_effect: float
) -> go.Figure:
    """Hedges' g with its interval for every feature, largest effects on top; significant
    differences highlighted, the +-``min_effect`` band dotted."""
    c = comparison.dropna(subset=["hedges_g"]).sort_values("hedges_g")
    c = c.assign(feature=c["feature"].map(feature_label))
    colors = np.where(c["significant"], COLORS.highlight, COLORS.baseline)
    fig = go.Figure(
        go.Scatter(
            x=c["hedges_g"],
            y=c["feature"],
            mode="markers",
            marker={"color": colors, "size": 7},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": c["g_high"] - c["hedges_g"],
                "arrayminus": c["hedges_g"] - c["g_low"],
                "color": COLORS.error,
            },
            hovertemplate="%{y}: g = %{x:.2f}<extra></extra>",
            showlegend=False,
        )
    )
    for x in (-min_effect, min_effect):
        fig.add_vline(x=x, line_dash="dot", line_color=COLORS.reference)
    fig.add_vline(x=0, line_color="black")
    finish(
        fig,
        title,
        f"Hedges' g ({group} minus {rest}, in pooled SDs)",
        "",
        height=max(400, 16 * len(c) + 140),
    )
    fig.update_yaxes(tickfont={"size": 10})
    return fig


def glue_summary(comparison: pd.DataFrame, prefix: str, min_effect: float) -> None:
    """Glue how many features were testable, significant and meaningful, and a sentence
    on the largest significant difference (``<prefix>_top_text``)."""
    report.glue(f"{prefix}_features", int(comparison["hedges_g"].notna().sum()))
    report.glue(f"{prefix}_significant", int(comparison["significant"].sum()))
    meaningful = comparison["significant"] & (comparison["hedges_g"].abs() >= min_effect)
    report.glue(f"{prefix}_meaningful", int(meaningful.sum()))
    significant = comparison[comparison["significant"]]
    text = "None is significant."
    if len(significant):
        top = significant.loc[significant["hedges_g"].abs().idxmax()]
        report.glue(f"{prefix}_top_feature", feature_label(top["feature"]))
        report.glue(f"{prefix}_top_g", float(top["hedges_g"]))
        text = (
            f"The largest significant difference is in {feature_label(top['feature']).lower()} "
            f"(g = {top['hedges_g']:+.2f})."
        )
    report.glue(f"{prefix}_top_text", text)


def in_words(
    comparison: pd.DataFrame,
    descriptions: dict[str, str],
    group: str,
    rest: str,
    min_effect: float,
) -> list[Any]:
    """The largest differences as sentences (a notice when there is none), for display."""
    words = groups.plain_words(comparison, descriptions, group, rest, min_effect)
    if not len(words):
        return [report.notice("No feature differs by a small effect or more.")]
    shown = report.styled(words.head(WORDS_SHOWN).drop(columns="Feature"), {})
    out: list[Any] = [shown.set_properties(**{"font-size": "0.85em"})]
    if len(words) > WORDS_SHOWN:
        out.append(
            report.prose(f"{len(words) - WORDS_SHOWN} smaller differences are in the full table.")
        )
    return out


def stats_table(comparison: pd.DataFrame) -> Any:
    """Every feature's means, BH-adjusted p-values and effect sizes, styled."""
    shown = comparison[list(STATS_COLUMNS)].assign(feature=comparison["feature"].map(feature_label))
    shown = shown.rename(columns={k: label for k, (label, _) in STATS_COLUMNS.items()})
    fmt = {label: f for label, f in STATS_COLUMNS.values() if f}
    return report.styled(shown, fmt).set_properties(**{"font-size": "0.8em"})


def profile_tables(frame: pd.DataFrame, longest: int) -> list[Any]:
    """A segment profile as two tables: the numbers, then each segment's categories (one
    wide table would not fit the page)."""
    spend = report.money_label(f"Mean spend, {longest} d")
    at_risk = report.money_label("Revenue at risk")
    numbers = frame.drop(columns=["Most visited categories", "Share"]).rename(
        columns={
            "Observed churn (test anchor)": "Observed churn",
            "In priority group": "In priority",
            f"Mean spend ({longest} d)": spend,
            "Revenue at risk": at_risk,
        }
    )
    numbers["Users"] = [
        f"{n:,} ({s:.0%})" for n, s in zip(frame["Users"], frame["Share"], strict=True)
    ]
    formats = {
        "Predicted risk": "{:.1%}",
        "Observed churn": "{:.1%}",
        spend: "{:,.1f}",
        at_risk: "{:,.0f}",
        "In priority": "{:.0%}",
    }
    small = {"font-size": "0.8em"}
    return [
        report.styled(numbers, formats).set_properties(**small),
        report.styled(frame[["Segment", "Most visited categories"]], {}).set_properties(**small),
    ]


# how each ordering of users is drawn in the campaign figures: (colour, dash)
STRATEGY_STYLE = {
    "expected contact profit (the list)": ("highlight", "solid"),
    "priority score": ("second", "dashdot"),
    "recency rule (longest since last visit first)": ("series", "dash"),
    "random": ("baseline", "dot"),
}


def curve_figure(
    curves: dict[str, pd.DataFrame],
    title: str,
    column: str,
    y_title: str,
    zoom: float,
    mark: float | None = None,
) -> go.Figure:
    """Campaign curves of ``column`` by share of users contacted, up to the ``zoom`` share
    (beyond a few times the best K they only fall), with the chosen K marked."""
    fig = go.Figure()
    for name, c in curves.items():
        color, dash = STRATEGY_STYLE[name]
        fig.add_trace(
            go.Scatter(
                x=c["share"],
                y=c[column],
                mode="lines",
                name=name,
                line={"color": getattr(COLORS, color), "dash": dash},
            )
        )
    if mark is not None:
        fig.add_vline(
            x=mark,
            line_dash="dash",
            line_color="black",
            annotation_text=f"K = {mark:.1%}",
            annotation_position="top right",
        )
    fig.add_hline(y=0, line_color=COLORS.ink, line_width=1)
    finish(fig, title, "Share of scored users contacted (K)", y_title, height=440)
    fig.update_xaxes(tickformat=".0%", range=[0, zoom])
    visible = pd.concat([c.loc[c["share"] <= zoom, column] for c in curves.values()])
    low, high = visible.min(), visible.max()
    pad = 0.08 * (high - low or 1)
    fig.update_yaxes(range=[low - pad, high + pad])
    return legend_below(fig)


def journey_node_color(name: str) -> str:
    """A Sankey node's colour: its activity's event colour; bought and left by outcome."""
    if name == journeys.BOUGHT:
        return EVENT_COLORS["purchase"]
    if name == journeys.LEFT:
        return COLORS.faint
    activity = name.split(". ", 1)[-1].split(":")[0]
    return EVENT_COLORS.get(activity, COLORS.other)


def outcome_flow_color(outcome: str) -> str:
    """A Sankey band's colour by the sessions' outcome: translucent green for buyers,
    translucent grey for the rest (the same hues as the purchase event and baselines)."""
    return "rgba(0, 158, 115, 0.45)" if outcome == journeys.BOUGHT else "rgba(153, 153, 153, 0.3)"


# the test metrics a model card shows, by their key in the card
CARD_METRICS = {
    "pr_auc": "PR-AUC",
    "roc_auc": "ROC-AUC",
    "brier": "Brier score",
    "precision_at_k": "Precision@K",
    "recall_at_k": "Recall@K",
    "lift_at_k": "Lift@K",
    "f1": "F1 at the threshold",
}


def model_card_tables(card: ModelCard) -> list[Any]:
    """A kept model's card as the page shows it: overview, test metrics with intervals,
    the anchors of each split, hyper-parameters, library versions and features."""
    from IPython.display import Markdown

    overview = pd.DataFrame(
        [
            ("Label", f"{card.label} at user x anchor"),
            ("Decision threshold (best F1 on validation)", f"{card.threshold:.4f}"),
            ("Probabilities", f"calibrated on validation ({card.calibration})"),
            ("Features", f"{len(card.features)} (listed below, in the model's order)"),
            ("Seed", str(card.seed)),
            ("Training data fingerprint (SHA-256)", f"{card.data_fingerprint[:16]}..."),
            ("Saved model's fingerprint (SHA-256)", f"{card.sha256[:16]}..."),
        ],
        columns=["", "Value"],
    )
    metrics = pd.DataFrame(
        [
            {
                "Metric": label,
                "Test estimate": card.metrics[k],
                "95% interval": (
                    f"[{card.metrics[k + '_low']:.3f}, {card.metrics[k + '_high']:.3f}]"
                ),
            }
            for k, label in CARD_METRICS.items()
        ]
    )
    windows = (
        pd.DataFrame(card.training)
        .T.reset_index(names="Split")
        .rename(
            columns={
                "first_anchor": "First anchor",
                "last_anchor": "Last anchor",
                "anchors": "Anchors",
                "rows": "Rows",
                "users": "Users",
                "positive_rate": "Positive rate",
            }
        )
    )
    params = ", ".join(
        f"`{k}={v:.4g}`" if isinstance(v, float) else f"`{k}={v}`"
        for k, v in card.hyperparameters.items()
    )
    libs = ", ".join(f"{k} {v}" for k, v in card.libraries.items())
    return [
        Markdown(f"## {card.task.capitalize()}: {card.model}"),
        report.styled(overview, {}),
        Markdown(
            f"Test metrics (top K = {card.metrics['top_k_fraction']:.0%}; intervals "
            "from resampling users):"
        ),
        report.styled(metrics, {"Test estimate": "{:.3f}"}),
        Markdown("Anchors each split covers:"),
        report.styled(windows, {"Positive rate": "{:.1%}", "Rows": "{:,}", "Users": "{:,}"}),
        Markdown(f"Hyper-parameters: {params or '(library defaults)'}"),
        Markdown(f"Library versions: {libs}."),
        Markdown("Features: " + ", ".join(f"`{f}`" for f in card.features) + "."),
    ]


def duration_text(seconds: float) -> str:
    """A wait in the unit a reader thinks in: ``45 s``, ``3.2 min``, ``2.5 h``, ``1.5 d``."""
    if seconds < 90:
        return f"{seconds:,.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:,.1f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:,.1f} h"
    return f"{seconds / 86400:,.1f} d"


def process_map_svg(edges: pd.DataFrame, measure: str = "count") -> str:
    """The directly-follows graph as an SVG drawn by Graphviz, top to bottom, sized for the
    page: labels in 16-point type with thousands separators (``measure="count"``) or the
    median wait (``"median_seconds"``), arrows as thick as their count's share.

    ``edges`` has source, target, count and median_seconds (``journeys.dfg``)."""
    import graphviz

    def node_id(name: str) -> str:
        return "n" + hashlib.sha256(name.encode()).hexdigest()[:10]

    total = max(int(edges["count"].max()), 1)
    dot = graphviz.Digraph(
        graph_attr={
            "rankdir": "TB",
            "bgcolor": "transparent",
            "fontname": "Helvetica",
            "nodesep": "0.3",
            "ranksep": "0.45",
            # about the page's width, so the browser hardly shrinks the type
            "size": "7,9",
        },
        node_attr={"fontname": "Helvetica", "fontsize": "18", "style": "filled,rounded"},
        edge_attr={"fontname": "Helvetica", "fontsize": "16", "color": "#555555"},
    )
    names = sorted(set(edges["source"]) | set(edges["target"]))
    for name in names:
        if name in (journeys.START, journeys.END):
            label = "start" if name == journeys.START else "end"
            dot.node(node_id(name), label, shape="circle", fillcolor="#EEEEEE", width="0.7")
        else:
            color = EVENT_COLORS.get(name.split(":")[0], COLORS.other)
            dot.node(node_id(name), name, shape="box", fillcolor=color + "55", color=color)
    # sessions open at the top and close at the bottom
    dot.body.append(f"{{rank=source; {node_id(journeys.START)}}}")
    dot.body.append(f"{{rank=sink; {node_id(journeys.END)}}}")
    for r in edges.itertuples():
        value = getattr(r, measure)
        width = f"{1 + 5 * float(r.count) / total:.2f}"
        if pd.isna(value):  # no wait into the start or out of the end: a plain guide
            dot.edge(node_id(r.source), node_id(r.target), style="dashed", color="#AAAAAA")
            continue
        label = f"{int(value):,}" if measure == "count" else duration_text(float(value))
        dot.edge(node_id(r.source), node_id(r.target), label=label, penwidth=width)
    svg = dot.pipe(format="svg").decode()
    # drop the XML prologue and the comments naming the Graphviz version
    svg = svg[svg.index("<svg") :]
    return re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)


# a process tree's operators in words (pm4py's Operator names)
TREE_WORDS = {
    "SEQUENCE": "in order",
    "XOR": "one of",
    "PARALLEL": "all, any order",
    "LOOP": "repeat",
    "OR": "some of",
    "INTERLEAVING": "one at a time",
}


def process_tree_svg(tree: Any) -> str:
    """A discovered process tree (pm4py) drawn top-down with its operators in words ("in
    order", "one of", "repeat"), activities in their event colours and silent steps as
    "skip", in type large enough to read at page width."""
    import graphviz

    dot = graphviz.Digraph(
        graph_attr={"rankdir": "TB", "bgcolor": "transparent", "size": "9.5,6"},
        node_attr={"fontname": "Helvetica", "fontsize": "16"},
        edge_attr={"color": "#777777", "arrowhead": "none"},
    )
    counter = iter(range(10**6))

    def add(node: Any) -> str:
        key = f"t{next(counter)}"
        if node.operator is not None:
            dot.node(key, TREE_WORDS.get(node.operator.name, node.operator.name.lower()),
                     shape="ellipse", style="filled", fillcolor="#EEEEEE")  # fmt: skip
            for child in node.children:
                dot.edge(key, add(child))
        elif node.label is None:
            dot.node(key, "skip", shape="box", style="dashed,rounded", color="#999999")
        else:
            color = EVENT_COLORS.get(str(node.label).split(":")[0], COLORS.other)
            dot.node(key, str(node.label), shape="box", style="filled,rounded",
                     fillcolor=color + "55", color=color)  # fmt: skip
        return key

    add(tree)
    svg = dot.pipe(format="svg").decode()
    svg = svg[svg.index("<svg") :]
    return re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)


def waterfall_figure(expl: Any, title: str, max_display: int = 10) -> Any:
    """One customer's SHAP values as a waterfall (matplotlib): from the average log-odds
    E[f(X)] at the bottom to the customer's f(x) at the top, one bar per feature (its value
    beside its plain name, "missing" where it has none), the rest summed in one bar. Every
    bar's label sits outside the bar, so none is cut, in the book's colours."""
    import matplotlib.pyplot as plt

    values = np.asarray(expl.values, dtype=float)
    shown_data = expl.display_data if expl.display_data is not None else expl.data
    names = list(expl.feature_names)
    base = float(np.ravel(expl.base_values)[0])
    order = np.argsort(-np.abs(values), kind="stable")
    top = order[: max_display - 1]
    rest = order[max_display - 1 :]
    labels = [f"{names[i]} = {_short_value(shown_data[i])}" for i in top]
    parts = list(values[top])
    if len(rest):
        labels.append(f"{len(rest)} other features")
        parts.append(float(values[rest].sum()))
    # drawn bottom-up: the smallest effects first, so the largest sits at the top
    labels, parts = labels[::-1], parts[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(parts) + 1.4))
    start = base
    span = max(abs(p) for p in parts) or 1.0
    for y, part in enumerate(parts):
        color = COLORS.highlight if part > 0 else COLORS.calm
        ax.barh(y, part, left=start, color=color, height=0.7)
        end = start + part
        ax.text(
            max(start, end) + 0.02 * span if part > 0 else min(start, end) - 0.02 * span,
            y,
            f"{part:+.2f}",
            va="center",
            ha="left" if part > 0 else "right",
            fontsize=10,
            color=color,
        )
        start = end
    ax.set_yticks(range(len(labels)), labels, fontsize=10)
    ax.axvline(base, color=COLORS.reference, linestyle=":", linewidth=1)
    ax.axvline(start, color=COLORS.ink, linestyle="--", linewidth=1)
    low, high = ax.get_xlim()
    ax.set_xlim(low - 0.12 * span, high + 0.12 * span)
    ax.set_xlabel(
        f"Churn log-odds: from the average E[f(X)] = {base:.2f} (dotted)\n"
        f"to this customer's f(x) = {start:.2f} (dashed)",
        fontsize=10,
    )
    ax.set_title(title, loc="left", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def _short_value(value: Any) -> str:
    """A feature value for a label: "missing", an integer, or three significant digits."""
    if isinstance(value, str):
        return value
    value = float(value)
    if np.isnan(value):
        return "missing"
    return f"{value:,.0f}" if value == round(value) else f"{value:,.3g}"
