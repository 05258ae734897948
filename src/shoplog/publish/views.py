"""How the action chapters' results are shown: group comparisons (a forest plot of effect
sizes, its glued summary, the differences worth a sentence, the full table of tests),
segment profiles and campaign curves.

Figures and tables only: the numbers come from the ``shoplog.action`` steps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from shoplog.action import groups
from shoplog.behaviour import journeys
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
        report.glue(f"{prefix}_top_feature", top["feature"])
        report.glue(f"{prefix}_top_g", float(top["hedges_g"]))
        text = (
            f"The largest significant difference is in {top['feature']} "
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
    shown = comparison[list(STATS_COLUMNS)].rename(
        columns={k: label for k, (label, _) in STATS_COLUMNS.items()}
    )
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
            ("Model file", f"models/{card.file}, SHA-256 {card.sha256[:16]}..."),
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
