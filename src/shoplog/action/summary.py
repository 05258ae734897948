"""The executive summary: its numbers, read from what the chapters recorded, and the words
around them."""

from __future__ import annotations

import html

from shoplog.action.campaign import ASSUMPTION_SHORT

# the chapters the summary reads
SUMMARY_CHAPTERS = ("01_data", "06_models", "10_priority", "12_targeting")

# what the summary takes from each chapter's glued values (same name in the summary)
SUMMARY_KEYS = {
    "01_data": ("data_label",),
    "06_models": ("top_k", "churn_kept_lift_at_k", "churn_kept"),
    "10_priority": (
        "expected_churners",
        "expected_churn_share",
        "risk_bands",
        "revenue_at_risk",
        "revenue_last_horizon",
        "score_anchor",
        "users_scored",
        "horizon_days",
        "lookback_days",
        "currency",
    ),
    "12_targeting": (
        "recommended_k",
        "recommended_share",
        "expected_profit",
        "expected_cost",
        "expected_roi",
        "revenue_kept",
        "kept_share",
        "uplift",
        "test_anchor",
        "list_lift",
        "list_lift_low",
        "list_lift_high",
        "model_lift",
        "model_lift_low",
        "model_lift_high",
        "recency_lift",
        "recency_lift_low",
        "recency_lift_high",
        "backtest_listed",
        "backtest_users",
        "sensitivity",
        "swing_assumption",
        "holdout_users",
        "holdout_power",
        "holdout_fraction",
        "holdout_needed",
        "holdout_target",
    ),
}


def summary_numbers(chapters: dict[str, dict]) -> dict:
    """The numbers the summary quotes, from the glued values of the chapters that applied
    (``chapters``: chapter name -> its glued values); a value a chapter did not record is
    left out, never guessed."""
    n: dict = {}
    for chapter, keys in SUMMARY_KEYS.items():
        values = chapters.get(chapter, {})
        n.update({key: values[key] for key in keys if key in values})
    return n


def html_table(title: str, rows: list[tuple[str, str]], head: tuple[str, ...] = ()) -> str:
    """A table as one HTML block (labels may hold markup, values are text): the book renders
    Markdown outputs as CommonMark, which has no pipe tables (they would show as raw
    text). ``head`` names the value columns; rows may carry several values."""
    header = (
        "".join(f"<th>{html.escape(h)}</th>" for h in (title, *head))
        if head
        else (f"<th>{html.escape(title)}</th><th></th>")
    )
    body = "".join(
        "<tr><td>"
        + row[0]
        + "</td>"
        + "".join(f'<td style="text-align: right">{value}</td>' for value in row[1:])
        + "</tr>"
        for row in rows
    )
    return f'<table class="table"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'


def _users(count: int) -> str:
    return f"{count:,} user" + ("" if count == 1 else "s")


def _interval(n: dict, key: str) -> str:
    return f"{n[key]:.2f} [{n[key + '_low']:.2f}, {n[key + '_high']:.2f}]"


def _list_lift_note(n: dict) -> str:
    """Why the list's lift sits below the churn model's top list, when it does: the list is
    ranked by expected profit (risk times value), so it trades some churners for customers
    worth more."""
    if n["list_lift"] >= n["model_lift"]:
        return ""
    return (
        "<br><i>The list is ranked by expected profit (risk times value), not by risk "
        "alone: it trades some likely churners for customers worth more, so its lift is "
        "below the model's top list.</i>"
    )


def _money(n: dict, value: float) -> str:
    return f"{value:,.0f} {n['currency']}"


def risk_band_text(bands: list[dict]) -> str:
    """The risk bands in one cell, highest first: "75% to 100%: 1,234 users"."""
    return "<br>".join(f"{b['band']}: {_users(b['users'])}" for b in reversed(bands))


def headline(n: dict) -> str:
    """The summary's opening and its table of the numbers that matter, as far as the
    chapters behind them applied to this log."""
    label = f"**Data: {n['data_label']}.** " if "data_label" in n else ""
    if "recommended_k" not in n or "expected_churners" not in n:
        return (
            f"{label}The churn model finds {n['churn_kept_lift_at_k']:.2f} times "
            f"more churners than random in its top {n['top_k']:.0%} of users (test anchors). "
            "The priority, segments and targeting chapters did not apply to this log (their "
            "pages say why), so there is no revenue at risk and no campaign to size."
        )
    at_risk = _money(n, n["revenue_at_risk"])
    if n.get("revenue_last_horizon") is not None:
        at_risk += (
            f" (the shop took {_money(n, n['revenue_last_horizon'])} in the last "
            f"{n['horizon_days']} days)"
        )
    rows = [
        (
            "<b>Expected to go dormant</b> (sum of calibrated probabilities)",
            f"{n['expected_churners']:,.0f} of {_users(n['users_scored'])} "
            f"({n['expected_churn_share']:.0%})",
        ),
        ("Users by P(dormant)", risk_band_text(n["risk_bands"])),
        ("<b>Revenue at risk</b> (P(dormant) x value if retained)", at_risk),
        (
            "<b>Recommended list</b>: every user whose contact has a positive expected profit",
            f"{_users(n['recommended_k'])} ({n['recommended_share']:.1%})",
        ),
    ]
    if n.get("backtest_listed") and n.get("backtest_listed") == n.get("backtest_users"):
        rows.append(
            (
                f"<b>Lift of that list</b>, replayed at {n['test_anchor']}",
                "none to measure: the rule listed every scored user there (lift 1 by definition)",
            )
        )
    elif n.get("backtest_listed"):
        rows.append(
            (
                f"<b>Lift of that list</b>, replayed at {n['test_anchor']} with observed "
                "outcomes (95% interval)",
                f"{_interval(n, 'list_lift')}<br>churn model's top list: "
                f"{_interval(n, 'model_lift')}<br>recency rule's: {_interval(n, 'recency_lift')}"
                + _list_lift_note(n),
            )
        )
    if n["recommended_k"]:
        rows += [
            (
                f"<b>Expected profit</b> of contacting them (scenario: uplift {n['uplift']:.0%})",
                f"{_money(n, n['expected_profit'])} for a cost of "
                f"{_money(n, n['expected_cost'])} (ROI {n['expected_roi']:.0%})",
            ),
            (
                "<b>Revenue kept</b> by the campaign",
                f"{_money(n, n['revenue_kept'])} ({n['kept_share']:.1%} of the revenue at risk)",
            ),
            (
                f"<b>Holdout</b> to measure the uplift ({n['holdout_fraction']:.0%} of the list)",
                f"{_users(n['holdout_users'])}; power {n['holdout_power']:.0%}",
            ),
        ]
    return (
        f"{label}On {n['score_anchor']}, the end of the analysed log, "
        f"{n['users_scored']:,} users had been active in the previous {n['lookback_days']} "
        "days. The numbers that matter:\n\n"
        + html_table(f"In the next {n['horizon_days']} days", rows)
    )


def sensitivity_table(n: dict) -> str:
    """The campaign's expected profit with one assumption moved down and up (the
    targeting chapter's tornado), as an HTML table; empty without a campaign."""
    if not n.get("recommended_k") or not n.get("sensitivity"):
        return ""
    rows = [
        (
            ASSUMPTION_SHORT.get(r["assumption"], r["assumption"]),
            f"{r['low_value']:.3g} / {r['base_value']:.3g} / {r['high_value']:.3g}",
            _money(n, r["profit_low"]),
            _money(n, r["profit_high"]),
        )
        for r in n["sensitivity"]
    ]
    return (
        f"Expected profit ({_money(n, n['expected_profit'])} as assumed) when one assumption "
        "moves, the list chosen again each time:\n\n"
        + html_table("Assumption", rows, ("Low / assumed / high", "Profit, low", "Profit, high"))
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
            f"Do not run a retention campaign with the current assumptions: no user's "
            f"contact is expected to earn more than it costs at an uplift of {n['uplift']:.0%}. "
            f"The models expect {n['expected_churners']:,.0f} users to go dormant, with "
            f"{_money(n, n['revenue_at_risk'])} of revenue; a cheaper contact or offer, or a "
            "measured uplift above the assumed one, would change this (see the sensitivity in "
            "the targeting chapter)."
        )
    if n.get("holdout_needed") is not None:
        holdout = (
            f"Keep {n['holdout_users']:,} of the listed users uncontacted at random (power "
            f"{n['holdout_power']:.0%} to detect the assumed uplift; "
            f"{n['holdout_target']:.0%} power needs at least {n['holdout_needed']:,} held "
            "out), so the next edition can use the measured uplift instead of the assumed one."
        )
    else:
        holdout = (
            "A list this size cannot measure the uplift: holding out "
            f"{_users(n['holdout_users'])} gives a power of {n['holdout_power']:.0%}, and no "
            "split reaches "
            f"{n['holdout_target']:.0%}; pool the holdouts of several campaigns before "
            "replacing the assumed uplift with a measured one."
        )
    return (
        f"Contact the {n['recommended_k']:,} users on the targeting list before the next "
        f"{n['horizon_days']} days run out, highest expected profit first. With an assumed "
        f"uplift of {n['uplift']:.0%}, the campaign is expected to earn "
        f"{_money(n, n['expected_profit'])} on a cost of {_money(n, n['expected_cost'])}. "
        f"That is a scenario, not a measurement: it moves most with the "
        f"{n['swing_assumption']}, and no campaign has yet measured the uplift. {holdout}"
    )
