"""The executive summary's numbers and its one-paragraph recommendation."""

from __future__ import annotations

# the five numbers of the executive summary: (glued name, chapter whose JSON holds it)
SUMMARY_SOURCES = {
    "users_at_risk": ("10_priority", "users_at_risk"),
    "revenue_at_risk": ("10_priority", "revenue_at_risk"),
    "lift_at_k": ("06_models", "churn_kept_lift_at_k"),
    "recommended_k": ("12_targeting", "recommended_k"),
    "expected_roi": ("12_targeting", "expected_roi"),
}


def recommendation(n: dict) -> str:
    """The summary's one-paragraph recommendation, worded from the glued numbers ``n``."""
    if n["recommended_k"] == 0:
        return (
            f"Do not run a retention campaign with the current assumptions: no list size "
            f"earns more than it costs at an uplift of {n['uplift']:.0%}. "
            f"{n['users_at_risk']:,} users are still at risk, with "
            f"{n['revenue_at_risk']:,.0f} of revenue; a cheaper contact or offer, or a "
            "measured uplift above the assumed one, would change this (see the sensitivity "
            "table of the targeting chapter)."
        )
    return (
        f"Contact the {n['recommended_k']:,} users at the top of the priority list "
        f"({n['recommended_share']:.1%} of the active users) before the next "
        f"{n['horizon_days']} days run out. They were ranked by the revenue the shop expects "
        f"to lose with each of them. With an assumed uplift of {n['uplift']:.0%}, the "
        f"campaign is expected to return {n['expected_roi']:.0%} on its cost of "
        f"{n['expected_cost']:,.0f}. The churn model finds {n['lift_at_k']:.1f} times more "
        f"churners than random in its top {n['top_k']:.0%}. Keep a random holdout of the "
        "listed users uncontacted, so the next edition can use the measured uplift "
        "instead of the assumed one."
    )
