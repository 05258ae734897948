"""Labels: what a scored user did in the horizon after an anchor, computed in the engine.

The label window is ``[anchor, anchor + horizon)``: features use events strictly
before the anchor, so an event exactly at the (midnight) anchor belongs to the
future, and windows of consecutive anchors partition time. An anchor whose window
runs past the end of the observed log gets no label (missing), never a false
"churned".

- ``dormant``: no event at all in the window (the primary churn label);
- ``purchase``: at least one purchase (for the propensity model); ``no_purchase`` = 1 - it;
- ``spend_next``: purchase value in the window (missing prices count 0);
- ``repurchase_churn``: for buyers whose last purchase ``p`` before the anchor is less
  than ``repurchase_gap_days`` old, 1 when no purchase follows in ``[anchor, p + gap)``;
  missing for everyone else (their status is already decided, or they never bought).
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from shoplog.events.engine import money_value

LABELS = ("dormant", "no_purchase", "purchase", "spend_next", "repurchase_churn")
LABEL_DESCRIPTIONS = {
    "dormant": "No event at all in the horizon after the anchor (primary churn label).",
    "no_purchase": "No purchase in the horizon.",
    "purchase": "At least one purchase in the horizon (propensity target).",
    "spend_next": "Purchase value in the horizon.",
    "repurchase_churn": "Recent buyer who does not buy again within the repurchase gap of "
    "their last purchase (missing for users it does not apply to).",
}


def compute_labels(
    rows: ir.Table,
    keys: ir.Table,
    anchors: ir.Table,
    *,
    horizon_days: int,
    repurchase_gap_days: int,
    observed_end: dt.datetime,
) -> ir.Table:
    """Labels for each (user_id, anchor) in ``keys``; missing where the horizon is unobserved.

    ``rows`` fold the log by user and hour or finer (stretches or pieces of sessions):
    their counts, spend and first purchase time in the horizon make the labels. ``keys``
    carry ``_last_purchase``, the user's last purchase before the anchor.
    """
    horizon = ibis.interval(days=horizon_days)
    gap = ibis.interval(days=repurchase_gap_days)
    j = rows.join(anchors, [rows.hour >= anchors.anchor, rows.hour < anchors.anchor + horizon])
    future = j.group_by(["user_id", "anchor"]).aggregate(
        _events=j.n_events.sum(),
        _purchases=j.n_purchases.sum(),
        _spend=j.spend.sum(),
        _next_purchase=j.t_first_purchase.min(),
    )
    k = keys.select("user_id", "anchor", "_last_purchase")
    t = k.join(future, ["user_id", "anchor"], how="left")
    observed = (t.anchor + horizon) <= ibis.timestamp(observed_end)

    def when_observed(value: ir.Value) -> ir.Value:
        return ibis.ifelse(observed, value, ibis.null())

    purchases = t._purchases.fill_null(0)
    recent_buyer = t._last_purchase.notnull() & (t._last_purchase > t.anchor - gap)
    repurchased = t._next_purchase.notnull() & (t._next_purchase < t._last_purchase + gap)
    return t.select(
        "user_id",
        "anchor",
        dormant=when_observed((t._events.fill_null(0) == 0).cast("float64")),
        no_purchase=when_observed((purchases == 0).cast("float64")),
        purchase=when_observed((purchases > 0).cast("float64")),
        spend_next=when_observed(money_value(t._spend.fill_null(0))),
        repurchase_churn=when_observed(
            ibis.ifelse(recent_buyer, (~repurchased).cast("float64"), ibis.null())
        ),
    )
