"""The feature contract and its engine computation: what a user looked like at an anchor.

**Contract.** :func:`feature_contract` declares every feature once (name, dtype,
window, group, one-line description, when it is missing). Training, scoring and
the book's data dictionary all read it, so they cannot drift apart.

**Time.** A feature at anchor ``a`` (a midnight, UTC) uses only events with
``event_time < a``. A ``w``-day window is ``[a - w days, a)``. Sessions are cut at
the anchor: a session still going on at midnight counts with the events it had
before midnight only, and belongs to the window in which it started.

**Missing values.** Counts and sums are 0 when nothing happened. A ratio is
missing (NaN) when its denominator is 0 (``cart_per_view`` of a user with no views,
``aov`` without orders); ``days_since_last_purchase`` and ``days_since_last_cart``
are missing for users who never purchased or carted; ``mean_visit_gap_days`` and
``gap_ratio`` need two sessions. Models must handle these NaNs (tree models do;
linear models impute and add indicators).

**Engine.** Everything runs as Ibis expressions (DuckDB by default). Events are
folded into *pieces*: one row per user, session and clock hour. Anchors are
midnights, so "piece hour < anchor" is exactly "event time < anchor", and a
session is cut at an anchor by taking its pieces before it. Windowed features
come from one range join of pieces to anchors with one filtered aggregate per
window; all-history features from running totals per user-hour, as-of joined to
the anchor; distinct items from one row per (user, item, day) that knows the next
day the same item came back, so each item counts once per anchor without
``COUNT DISTINCT``. Only the per user x anchor table leaves the engine.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from shoplog.engine import seconds_between
from shoplog.params import FeatureParams
from shoplog.sessions import derive_sessions

EVENT_SHORT = {
    "view": "views",
    "cart": "carts",
    "remove_from_cart": "removes",
    "purchase": "purchases",
}
TREND_WINDOWS = (7, 30)
ZERO_FILLED_GROUPS = frozenset({"activity", "spend", "history_counts", "breadth"})


@dataclass(frozen=True)
class FeatureSpec:
    """One feature of the contract."""

    name: str
    dtype: str
    window: int | None  # days before the anchor; None: the whole history
    group: str
    description: str
    missing: str = "never"


def feature_contract(settings: FeatureParams | None = None) -> list[FeatureSpec]:
    """Every feature, in a fixed order, for the given windows."""
    settings = settings or FeatureParams()
    windows = settings.windows
    p = settings.profile_window_days
    d = settings.distinct_window_days
    specs = [
        FeatureSpec(
            "days_since_last_event",
            "float64",
            None,
            "recency",
            "Days from the user's last event to the anchor.",
        ),
        FeatureSpec(
            "days_since_last_purchase",
            "float64",
            None,
            "recency",
            "Days from the last purchase to the anchor.",
            "the user never purchased",
        ),
        FeatureSpec(
            "days_since_last_cart",
            "float64",
            None,
            "recency",
            "Days from the last add-to-cart to the anchor.",
            "the user never carted",
        ),
        FeatureSpec(
            "tenure_days",
            "float64",
            None,
            "recency",
            "Days from the user's first event in the log to the anchor.",
        ),
        FeatureSpec(
            "sessions_total",
            "int64",
            None,
            "history_counts",
            "Sessions started before the anchor, whole history.",
        ),
        FeatureSpec(
            "orders_total",
            "int64",
            None,
            "history_counts",
            "Orders (sessions with a purchase) before the anchor, whole history.",
        ),
        FeatureSpec(
            "spend_total",
            "float64",
            None,
            "history_counts",
            "Purchase value before the anchor, whole history (missing prices count 0).",
        ),
        FeatureSpec(
            "mean_visit_gap_days",
            "float64",
            None,
            "rhythm",
            "Mean days between consecutive session starts.",
            "fewer than two sessions",
        ),
        FeatureSpec(
            "gap_ratio",
            "float64",
            None,
            "rhythm",
            "Days since the last session start over the user's mean visit gap (above 1: overdue).",
            "fewer than two sessions",
        ),
    ]
    for w in windows:
        for short in EVENT_SHORT.values():
            specs.append(
                FeatureSpec(
                    f"{short}_{w}d",
                    "int64",
                    w,
                    "activity",
                    f"{short.capitalize()} (events) in the last {w} days.",
                )
            )
        specs += [
            FeatureSpec(
                f"sessions_{w}d", "int64", w, "activity", f"Sessions started in the last {w} days."
            ),
            FeatureSpec(
                f"active_days_{w}d",
                "int64",
                w,
                "activity",
                f"Days with at least one event in the last {w} days.",
            ),
            FeatureSpec(
                f"orders_{w}d",
                "int64",
                w,
                "spend",
                f"Orders (sessions whose first purchase fell) in the last {w} days.",
            ),
            FeatureSpec(
                f"spend_{w}d", "float64", w, "spend", f"Purchase value in the last {w} days."
            ),
            FeatureSpec(
                f"aov_{w}d",
                "float64",
                w,
                "spend",
                f"Average order value in the last {w} days (spend / orders).",
                "no order in the window",
            ),
        ]
    specs += [
        FeatureSpec(
            f"products_{d}d",
            "int64",
            d,
            "breadth",
            f"Distinct products the user touched in the last {d} days.",
        ),
        FeatureSpec(
            f"categories_{d}d",
            "int64",
            d,
            "breadth",
            f"Distinct categories (category_id) in the last {d} days.",
        ),
        FeatureSpec(
            f"brands_{d}d",
            "int64",
            d,
            "breadth",
            f"Distinct brands in the last {d} days (events without brand not counted).",
        ),
        FeatureSpec(
            f"cart_per_view_{p}d",
            "float64",
            p,
            "funnel",
            f"Carts per view in the last {p} days.",
            "no view in the window",
        ),
        FeatureSpec(
            f"purchase_per_cart_{p}d",
            "float64",
            p,
            "funnel",
            f"Purchases per cart in the last {p} days.",
            "no cart in the window",
        ),
        FeatureSpec(
            f"remove_per_cart_{p}d",
            "float64",
            p,
            "funnel",
            f"Removals per cart in the last {p} days.",
            "no cart in the window",
        ),
        FeatureSpec(
            f"cart_abandonment_{p}d",
            "float64",
            p,
            "funnel",
            f"Share of sessions with a cart but no purchase, last {p} days.",
            "no session with a cart in the window",
        ),
        FeatureSpec(
            f"session_minutes_mean_{p}d",
            "float64",
            p,
            "sessions",
            f"Mean session duration (minutes, first to last event), last {p} days.",
            "no session started in the window",
        ),
        FeatureSpec(
            f"session_minutes_max_{p}d",
            "float64",
            p,
            "sessions",
            f"Longest session (minutes) in the last {p} days.",
            "no session started in the window",
        ),
        FeatureSpec(
            f"session_events_mean_{p}d",
            "float64",
            p,
            "sessions",
            f"Mean events per session (depth) in the last {p} days.",
            "no session started in the window",
        ),
        FeatureSpec(
            f"session_events_max_{p}d",
            "float64",
            p,
            "sessions",
            f"Most events in one session in the last {p} days.",
            "no session started in the window",
        ),
        FeatureSpec(
            f"view_price_mean_{p}d",
            "float64",
            p,
            "price",
            f"Mean price of viewed products in the last {p} days.",
            "no priced view in the window",
        ),
        FeatureSpec(
            f"purchase_price_mean_{p}d",
            "float64",
            p,
            "price",
            f"Mean price of purchased products in the last {p} days.",
            "no priced purchase in the window",
        ),
    ]
    for t in TREND_WINDOWS:
        specs.append(
            FeatureSpec(
                f"trend_{t}d",
                "float64",
                2 * t,
                "trend",
                f"(events in the last {t} days + 1) / (events in the {t} "
                "days before + 1): above 1, activity is rising.",
            )
        )
    specs += [
        FeatureSpec(
            f"top_weekday_share_{p}d",
            "float64",
            p,
            "concentration",
            f"Share of events on the user's busiest day of the week, last {p} days.",
            "no event in the window",
        ),
        FeatureSpec(
            f"top_hour_share_{p}d",
            "float64",
            p,
            "concentration",
            f"Share of events in the user's busiest hour of the day (UTC), last {p} days.",
            "no event in the window",
        ),
    ]
    names = [s.name for s in specs]
    if len(names) != len(set(names)):
        raise ValueError(f"feature windows produce duplicate names: {names}")
    return specs


def is_zero_filled(spec: FeatureSpec) -> bool:
    """Whether a missing aggregate means 0 (counts, sums) rather than 'undefined' (ratios)."""
    return spec.missing == "never" and spec.group in ZERO_FILLED_GROUPS


HISTORY_GROUPS = frozenset({"recency", "history_counts", "rhythm"})


def windowed_inputs(spec: FeatureSpec, settings: FeatureParams) -> set[str]:
    """The windowed aggregates a feature is made from (none for history and breadth)."""
    p = settings.profile_window_days
    if spec.group in HISTORY_GROUPS or spec.group == "breadth":
        return set()
    ratios = {
        f"cart_per_view_{p}d": {"_carts_p", "_views_p"},
        f"purchase_per_cart_{p}d": {"_purchases_p", "_carts_p"},
        f"remove_per_cart_{p}d": {"_removes_p", "_carts_p"},
        f"cart_abandonment_{p}d": {"_abandoned", "_cart_sessions"},
        f"view_price_mean_{p}d": {"_view_price_sum", "_view_price_n"},
        f"purchase_price_mean_{p}d": {"_purchase_price_sum", "_purchase_price_n"},
        f"top_weekday_share_{p}d": {"_top_weekday", "_events_p"},
        f"top_hour_share_{p}d": {"_top_hour", "_events_p"},
        **{f"aov_{w}d": {f"spend_{w}d", f"orders_{w}d"} for w in settings.windows},
        **{f"trend_{t}d": {f"_recent_{t}", f"_before_{t}"} for t in TREND_WINDOWS},
    }
    return ratios.get(spec.name, {spec.name})


def join_range_days(settings: FeatureParams, lookback_days: int) -> int:
    """How many days before an anchor the windowed features reach."""
    return max(
        [*settings.windows, settings.profile_window_days, lookback_days]
        + [2 * t for t in TREND_WINDOWS]
    )


# ---------------------------------------------------------------------------------------
# engine computation


def sessionised(events: ir.Table, gap_minutes: float) -> ir.Table:
    """The columns features need, with sessions re-derived from the inactivity gap."""
    slim = events.select(
        "user_id", "event_time", "event_type", "price", "product_id", "category_id", "brand"
    )
    return derive_sessions(slim, gap_minutes, column="session")


def make_pieces(sessions: ir.Table) -> ir.Table:
    """One row per user, session and clock hour, with the counts and times features need.

    Window columns added on top: the session's start, the running session totals up to
    and including the piece (to cut a session at an anchor), the hour of the session's
    next piece, whether the piece opens the session, the user's day, and an order.
    """
    e = sessions
    is_ = {t: e.event_type == t for t in EVENT_SHORT}
    priced = e.price.notnull()
    pieces = e.group_by(["user_id", "session", e.event_time.truncate("h").name("hour")]).aggregate(
        t_first=e.event_time.min(),
        t_last=e.event_time.max(),
        n_events=e.count(),
        **{f"n_{short}": is_[t].sum().cast("int64") for t, short in EVENT_SHORT.items()},
        spend=e.price.sum(where=is_["purchase"]).fill_null(0.0),
        view_price_sum=e.price.sum(where=is_["view"] & priced).fill_null(0.0),
        view_price_n=(is_["view"] & priced).sum().cast("int64"),
        purchase_price_sum=e.price.sum(where=is_["purchase"] & priced).fill_null(0.0),
        purchase_price_n=(is_["purchase"] & priced).sum().cast("int64"),
        t_first_purchase=e.event_time.min(where=is_["purchase"]),
        t_last_purchase=e.event_time.max(where=is_["purchase"]),
        t_last_cart=e.event_time.max(where=is_["cart"]),
    )
    by_session = ibis.window(group_by=["user_id", "session"], order_by="hour")
    running = ibis.window(
        group_by=["user_id", "session"], order_by="hour", preceding=None, following=0
    )
    pieces = pieces.mutate(
        sess_start=pieces.t_first.min().over(ibis.window(group_by=["user_id", "session"])),
        next_hour=pieces.hour.lead().over(by_session),
        is_sess_first=(ibis.row_number().over(by_session) == 0).cast("int64"),
        cum_events=pieces.n_events.sum().over(running),
        cum_carts=pieces.n_carts.sum().over(running),
        cum_purchases=pieces.n_purchases.sum().over(running),
        day=pieces.hour.truncate("D"),
    )
    by_day = ibis.window(group_by=["user_id", "day"], order_by=["hour", "session"])
    return pieces.mutate(
        is_day_first=(ibis.row_number().over(by_day) == 0).cast("int64"),
        # the piece holding the session's first purchase: the order's time
        is_order=((pieces.n_purchases > 0) & (pieces.cum_purchases == pieces.n_purchases)).cast(
            "int64"
        ),
    )


def windowed_features(
    pieces: ir.Table,
    anchors: ir.Table,
    settings: FeatureParams,
    lookback_days: int,
    names: list[str] | None = None,
) -> ir.Table:
    """Per user x anchor: every feature over a window, for users active in the lookback.

    With ``names``, only the aggregates those features are made from are computed.
    """
    reach = join_range_days(settings, lookback_days)
    j = pieces.join(
        anchors,
        [pieces.hour < anchors.anchor, pieces.hour >= anchors.anchor - ibis.interval(days=reach)],
    )

    # Whole days between the piece's day and the anchor (1 = the day before). Windows are
    # 0/1 indicators multiplied into plain sums: far cheaper in the engine than one
    # FILTER clause per aggregate.
    age = j.anchor.delta(j.day, unit="day")
    p = settings.profile_window_days
    spans = sorted(
        {*settings.windows, p, lookback_days, *TREND_WINDOWS, *(2 * t for t in TREND_WINDOWS)}
    )
    j = j.mutate(**{f"_in{d}": (age <= d).cast("int64") for d in spans})
    # the session as it stood at the anchor: its last piece before the anchor
    cut = (j.next_hour.isnull() | (j.next_hour >= j.anchor)) & (
        j.sess_start >= j.anchor - ibis.interval(days=p)
    )
    j = j.mutate(
        _cut=cut.cast("int64"),
        _minutes=ibis.ifelse(cut, seconds_between(j.t_last, j.sess_start) / 60.0, ibis.null()),
        _depth=ibis.ifelse(cut, j.cum_events.cast("float64"), ibis.null()),
        _weekday=j.hour.day_of_week.index(),
        _hour=j.hour.hour(),
    )

    def within(column: ir.NumericValue, days: int) -> ir.NumericValue:
        return (column * j[f"_in{days}"]).sum()

    aggs: dict[str, ir.Value] = {"_scored": within(j.n_events, lookback_days)}
    for w in settings.windows:
        for short in EVENT_SHORT.values():
            aggs[f"{short}_{w}d"] = within(j[f"n_{short}"], w)
        aggs[f"sessions_{w}d"] = within(j.is_sess_first, w)
        aggs[f"active_days_{w}d"] = within(j.is_day_first, w)
        aggs[f"orders_{w}d"] = within(j.is_order, w)
        aggs[f"spend_{w}d"] = within(j.spend, w)
    for short in EVENT_SHORT.values():
        aggs[f"_{short}_p"] = within(j[f"n_{short}"], p)
    has_cart = (j.cum_carts > 0).cast("int64")
    aggs |= {
        f"session_minutes_mean_{p}d": j._minutes.mean(),
        f"session_minutes_max_{p}d": j._minutes.max(),
        f"session_events_mean_{p}d": j._depth.mean(),
        f"session_events_max_{p}d": j._depth.max(),
        "_cart_sessions": (j._cut * has_cart).sum(),
        "_abandoned": (j._cut * has_cart * (j.cum_purchases == 0).cast("int64")).sum(),
        "_view_price_sum": within(j.view_price_sum, p),
        "_view_price_n": within(j.view_price_n, p),
        "_purchase_price_sum": within(j.purchase_price_sum, p),
        "_purchase_price_n": within(j.purchase_price_n, p),
        "_events_p": within(j.n_events, p),
    }
    for t in TREND_WINDOWS:
        aggs[f"_recent_{t}"] = within(j.n_events, t)
        aggs[f"_before_{t}"] = within(j.n_events, 2 * t) - within(j.n_events, t)
    needed = None
    if names is not None:
        wanted = set(names)
        specs = [spec for spec in feature_contract(settings) if spec.name in wanted]
        needed = {"_scored"}.union(*(windowed_inputs(spec, settings) for spec in specs))
        aggs = {k: v for k, v in aggs.items() if k in needed}
    agg = j.group_by(["user_id", "anchor"]).aggregate(**aggs)
    # Concentration: narrow aggregates per weekday and per hour, then the largest; far
    # cheaper than 31 more columns in the wide aggregate above.
    recent = j.filter(j[f"_in{p}"] == 1)
    tops = []
    for name, key in (("_top_weekday", "_weekday"), ("_top_hour", "_hour")):
        if needed is not None and name not in needed:
            continue
        per = recent.group_by(["user_id", "anchor", key]).aggregate(n=recent.n_events.sum())
        tops.append(per.group_by(["user_id", "anchor"]).aggregate(**{name: per.n.max()}))
    for top in tops:
        agg = agg.join(top, ["user_id", "anchor"], how="left").drop("user_id_right", "anchor_right")
    return agg.filter(agg._scored > 0)


def _ratio(num: ir.NumericValue, den: ir.NumericValue) -> ir.FloatingValue:
    """``num / den``, missing when the denominator is 0 or missing."""
    return ibis.ifelse(den.fill_null(0) > 0, num.fill_null(0).cast("float64") / den, ibis.null())


def history_features(user_hours: ir.Table, scored: ir.Table) -> ir.Table:
    """Whole-history features: the user's running totals at the last hour before the anchor."""
    uh = user_hours
    keys = scored.select("user_id", "anchor")
    j = keys.asof_join(uh, on=keys.anchor > uh.hour, predicates=[keys.user_id == uh.user_id])
    a = j.anchor
    since_last = seconds_between(a, j.last_event) / 86400.0
    since_start = seconds_between(a, j.last_session_start) / 86400.0
    gap = ibis.ifelse(
        j.cum_sessions >= 2,
        seconds_between(j.last_session_start, j.first_time)
        / 86400.0
        / (j.cum_sessions - 1).cast("float64"),
        ibis.null(),
    )
    return j.select(
        "user_id",
        "anchor",
        days_since_last_event=since_last,
        days_since_last_purchase=seconds_between(a, j.last_purchase) / 86400.0,
        days_since_last_cart=seconds_between(a, j.last_cart) / 86400.0,
        tenure_days=seconds_between(a, j.first_time) / 86400.0,
        sessions_total=j.cum_sessions,
        orders_total=j.cum_orders,
        spend_total=j.cum_spend,
        mean_visit_gap_days=gap,
        gap_ratio=ibis.ifelse(gap > 0, since_start / gap, ibis.null()),
    )


BREADTH_KINDS = {"products": "product_id", "categories": "category_id", "brands": "brand"}


def breadth_features(
    items: ir.Table, anchors: ir.Table, days: int, kinds: tuple[str, ...] = tuple(BREADTH_KINDS)
) -> ir.Table:
    """Distinct items of each of ``kinds`` touched in ``[anchor - days, anchor)``.

    An item row counts at an anchor when its day is inside the window and it is the
    item's last day before the anchor, so each item counts once.
    """
    j = items.join(
        anchors,
        [items.day < anchors.anchor, items.day >= anchors.anchor - ibis.interval(days=days)],
    )
    last = j.next_day.isnull() | (j.next_day >= j.anchor)
    return j.group_by(["user_id", "anchor"]).aggregate(
        **{f"{kind}_{days}d": (last & (j.kind == kind)).sum() for kind in kinds}
    )


def anchor_table(anchors: list) -> ir.Table:
    """A small in-engine table of anchor timestamps."""
    return ibis.memtable(
        pd.DataFrame({"anchor": pd.to_datetime(pd.Series(anchors, dtype="object"))}).astype(
            {"anchor": "datetime64[us]"}
        )
    )


def finish_features(
    windowed: ir.Table,
    history: ir.Table | None,
    breadth: ir.Table | None,
    settings: FeatureParams,
    names: list[str] | None = None,
) -> ir.Table:
    """Join the parts and derive ratios; columns in contract order with contract dtypes."""
    p = settings.profile_window_days
    t = windowed
    if history is not None:
        t = t.join(history, ["user_id", "anchor"], how="left")
    if breadth is not None:
        t = t.join(breadth, ["user_id", "anchor"], how="left")
    derived = {
        f"cart_per_view_{p}d": lambda: _ratio(t._carts_p, t._views_p),
        f"purchase_per_cart_{p}d": lambda: _ratio(t._purchases_p, t._carts_p),
        f"remove_per_cart_{p}d": lambda: _ratio(t._removes_p, t._carts_p),
        f"cart_abandonment_{p}d": lambda: _ratio(t._abandoned, t._cart_sessions),
        f"view_price_mean_{p}d": lambda: _ratio(t._view_price_sum, t._view_price_n),
        f"purchase_price_mean_{p}d": lambda: _ratio(t._purchase_price_sum, t._purchase_price_n),
        f"top_weekday_share_{p}d": lambda: _ratio(t._top_weekday, t._events_p),
        f"top_hour_share_{p}d": lambda: _ratio(t._top_hour, t._events_p),
    }
    for win in settings.windows:
        derived[f"aov_{win}d"] = lambda win=win: _ratio(t[f"spend_{win}d"], t[f"orders_{win}d"])
    for tw in TREND_WINDOWS:
        derived[f"trend_{tw}d"] = lambda tw=tw: (
            (t[f"_recent_{tw}"] + 1).cast("float64") / (t[f"_before_{tw}"] + 1).cast("float64")
        )
    contract = feature_contract(settings)
    wanted = set(names) if names is not None else None
    cols: dict[str, ir.Value] = {}
    for spec in contract:
        if wanted is not None and spec.name not in wanted:
            continue
        value = derived[spec.name]() if spec.name in derived else t[spec.name]
        if is_zero_filled(spec):
            value = value.fill_null(0)
        cols[spec.name] = value.cast(spec.dtype)
    return t.select("user_id", "anchor", **cols)


def user_hours(pieces: ir.Table) -> ir.Table:
    """Running whole-history totals per user and clock hour (the as-of side of ``history``)."""
    uh = pieces.group_by(["user_id", "hour"]).aggregate(
        sessions=pieces.is_sess_first.sum(),
        orders=pieces.is_order.sum(),
        spend=pieces.spend.sum(),
        t_last=pieces.t_last.max(),
        t_first=pieces.t_first.min(),
        t_last_purchase=pieces.t_last_purchase.max(),
        t_last_cart=pieces.t_last_cart.max(),
        last_sess_start=pieces.sess_start.max(where=pieces.is_sess_first == 1),
    )
    run = ibis.window(group_by="user_id", order_by="hour", preceding=None, following=0)
    return uh.mutate(
        cum_sessions=uh.sessions.sum().over(run),
        cum_orders=uh.orders.sum().over(run),
        cum_spend=uh.spend.sum().over(run),
        last_event=uh.t_last.max().over(run),
        last_purchase=uh.t_last_purchase.max().over(run),
        last_cart=uh.t_last_cart.max().over(run),
        last_session_start=uh.last_sess_start.max().over(run),
        first_time=uh.t_first.min().over(ibis.window(group_by="user_id")),
    ).drop(
        "sessions",
        "orders",
        "spend",
        "t_last",
        "t_first",
        "t_last_purchase",
        "t_last_cart",
        "last_sess_start",
    )


def breadth_items(
    events: ir.Table,
    first_anchor: dt.datetime,
    last_anchor: dt.datetime,
    days: int,
    kinds: tuple[str, ...] = tuple(BREADTH_KINDS),
) -> ir.Table:
    """One row per (user, kind, item, day) with the next day the user touched that item.

    Only days some anchor's window can see are kept: ``[first_anchor - days, last_anchor)``.
    Dropping later days leaves "is this the item's last day before the anchor" unchanged,
    since any later day is at or after every anchor.
    """
    events = events.filter(
        (events.event_time >= ibis.timestamp(first_anchor) - ibis.interval(days=days))
        & (events.event_time < ibis.timestamp(last_anchor))
    )
    parts = []
    for kind in kinds:
        col = events[BREADTH_KINDS[kind]].cast("string")
        parts.append(
            events.filter(col.notnull() & (col != ""))
            .select(
                "user_id", kind=ibis.literal(kind), item=col, day=events.event_time.truncate("D")
            )
            .distinct()
        )
    items = ibis.union(*parts)
    return items.mutate(
        next_day=items.day.lead().over(
            ibis.window(group_by=["user_id", "kind", "item"], order_by="day")
        )
    )


def dictionary(contract: list[FeatureSpec], missing_share: dict[str, float]) -> pd.DataFrame:
    """The data dictionary, one row per feature family (``views_{w}d`` for all its windows).

    ``missing_share`` maps feature names to their share of missing values; a family shows
    the largest of its members.
    """
    families: dict[str, dict] = {}
    for spec in contract:
        family, meaning = spec.name, spec.description
        if spec.window is not None and spec.name.endswith(f"_{spec.window}d"):
            family = spec.name[: -len(f"{spec.window}d")] + "{w}d"
            meaning = re.sub(rf"\b{spec.window}\b", "w", spec.description)
        row = families.setdefault(
            family,
            {
                "Feature": family,
                "Windows": [],
                "Meaning": meaning,
                "Type": spec.dtype,
                "Missing when": spec.missing,
                "Missing (max)": 0.0,
            },
        )
        if spec.window is not None:
            row["Windows"].append(str(spec.window))
        row["Missing (max)"] = max(row["Missing (max)"], missing_share.get(spec.name, 0.0))
    out = pd.DataFrame(families.values())
    out["Windows"] = out["Windows"].map(lambda w: ", ".join(w) or "all history")
    return out
