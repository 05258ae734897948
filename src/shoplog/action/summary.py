"""The executive summary's numbers and its one-paragraph recommendation."""

from __future__ import annotations

import html

# the five numbers of the executive summary: (glued name, chapter whose JSON holds it)
SUMMARY_SOURCES = {
    "users_at_risk": ("10_priority", "users_at_risk"),
    "revenue_at_risk": ("10_priority", "revenue_at_risk"),
    "lift_at_k": ("06_models", "churn_kept_lift_at_k"),
    "recommended_k": ("12_targeting", "recommended_k"),
    "expected_roi": ("12_targeting", "expected_roi"),
}


# the chapters the summary reads, and what each adds
SUMMARY_CHAPTERS = ("06_models", "10_priority", "12_targeting")


def summary_numbers(chapters: dict[str, dict]) -> dict:
    """The numbers the summary quotes, from the glued values of the chapters that applied
    (``chapters``: chapter name -> its glued values)."""
    n: dict = {}
    for key, (chapter, name) in SUMMARY_SOURCES.items():
        if chapter in chapters:
            n[key] = chapters[chapter][name]
    if "06_models" in chapters:
        n["top_k"] = chapters["06_models"]["top_k"]
    if "10_priority" in chapters:
        keys = ("expected_churners", "score_anchor", "users_scored", "horizon_days", "currency")
        for key in keys:
            n[key] = chapters["10_priority"][key]
    if "12_targeting" in chapters:
        for key in ("recommended_share", "expected_cost", "uplift"):
            n[key] = chapters["12_targeting"][key]
    return n


def headline(n: dict) -> str:
    """The summary's opening and its table of the numbers that matter, as far as the
    chapters behind them applied to this log."""
    if "recommended_k" not in n or "users_at_risk" not in n:
        return (
            f"The churn model finds {n['lift_at_k']:.2f} times more churners than random in "
            f"its top {n['top_k']:.0%} of users (test anchors). The priority, segments and "
            "targeting chapters did not apply to this log (their pages say why), so there is "
            "no revenue at risk and no campaign to size."
        )
    rows = [
        ("<b>Users at risk</b> of going dormant", f"{n['users_at_risk']:,}"),
        ("<b>Expected revenue at risk</b>", f"{n['revenue_at_risk']:,.0f} {n['currency']}"),
        (
            f"<b>Model lift</b> in the top {n['top_k']:.0%} (against random, test anchors)",
            f"{n['lift_at_k']:.2f} x",
        ),
        ("<b>Recommended list size</b> K", f"{n['recommended_k']:,} users"),
        ("<b>Expected ROI</b> of that campaign", f"{n['expected_roi']:.0%}"),
    ]
    return (
        f"On {n['score_anchor']}, the end of the analysed log, {n['users_scored']:,} users were "
        "active. The five numbers that matter:\n\n"
        + html_table(f"In the next {n['horizon_days']} days", rows)
        + "\n\nUsers at risk are those the churn model flags at its decision threshold; "
        f"summing their probabilities, the models expect {n['expected_churners']:,.0f} of the "
        "active users to go dormant."
    )


def html_table(title: str, rows: list[tuple[str, str]]) -> str:
    """A two-column table as one HTML block: the book renders Markdown outputs as
    CommonMark, which has no pipe tables (they would show as raw text)."""
    body = "".join(
        f'<tr><td>{label}</td><td style="text-align: right">{value}</td></tr>'
        for label, value in rows
    )
    return (
        f'<table class="table"><thead><tr><th>{html.escape(title)}</th><th></th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def recommendation(n: dict) -> str:
    """The summary's one-paragraph recommendation, worded from the glued numbers ``n``."""
    if "recommended_k" not in n:
        return (
            "No campaign is recommended: without the value of a customer (see the priority "
            "chapter) its cost cannot be weighed against what it saves. The churn model's "
            "ranking can still order a contact list; size it by the budget."
        )
    if n["recommended_k"] == 0:
        return (
            f"Do not run a retention campaign with the current assumptions: no list size "
            f"earns more than it costs at an uplift of {n['uplift']:.0%}. "
            f"{n['users_at_risk']:,} users are still at risk, with "
            f"{n['revenue_at_risk']:,.0f} {n['currency']} of revenue; a cheaper contact or "
            "offer, or a measured uplift above the assumed one, would change this (see the "
            "sensitivity table of the targeting chapter)."
        )
    return (
        f"Contact the {n['recommended_k']:,} users at the top of the priority list "
        f"({n['recommended_share']:.1%} of the active users) before the next "
        f"{n['horizon_days']} days run out. They were ranked by the revenue the shop expects "
        f"to lose with each of them. With an assumed uplift of {n['uplift']:.0%}, the "
        f"campaign is expected to return {n['expected_roi']:.0%} on its cost of "
        f"{n['expected_cost']:,.0f} {n['currency']}. The churn model finds "
        f"{n['lift_at_k']:.1f} times more churners than random in its top {n['top_k']:.0%}. "
        "Keep a random holdout of the listed users uncontacted, so the next edition can use "
        "the measured uplift instead of the assumed one."
    )
