"""The features' engine computation: what a user looked like at an anchor.

What each feature means, its window, dtype, missing rule and ratio recipe are
declared once in :mod:`shoplog.dataset.contract`; this module computes them.

**Engine.** Everything runs as Ibis expressions (DuckDB by default). Events are
folded into *pieces*: one row per user, session and clock hour. Anchors are
midnights, so "piece hour < anchor" is exactly "event time < anchor", and a
session is cut at an anchor by taking its pieces before it. No join fans rows out
over anchors and throws most of them away:

- windowed sums come from per user-day running totals: a sum over ``[a - w, a)``
  is the total at the user's last active day before ``a`` minus that before
  ``a - w``, and each day row joins exactly the anchors up to the user's next
  active day (an interval join);
- session statistics join each anchor to the one piece where each session stood
  at it;
- whole-history features come from running totals per user-hour, as-of joined to
  the anchor;
- distinct items come from one row per (user, item, day) that knows the next day
  the same item came back, so each item counts once per anchor without
  ``COUNT DISTINCT``.

Only the per user x anchor table leaves the engine.

Size: the interval joins share the pieces' and running totals' columns; each is only
right together with the others' layout, so they stay in one module.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pandas as pd

from shoplog.config.params import FeatureParams
from shoplog.dataset.contract import (
    HOURS,
    TOPS,
    WEEKDAYS,
    FeatureSpec,
    feature_contract,
    is_zero_filled,
    needed_aggregates,
    needed_sums,
    session_names,
)
from shoplog.events.engine import micros_between, money_units, money_value, seconds_between
from shoplog.events.sessions import session_numbers
from shoplog.schema import EVENT_SHORT

# running totals that add up prices (int64 millionths, see engine.money_units); the
# others count events, sessions or days
MONEY_TOTALS = frozenset({"spend", "view_price_sum", "purchase_price_sum"})


# ---------------------------------------------------------------------------------------
# engine computation


def sessionised(events: ir.Table, gap_minutes: float) -> ir.Table:
    """The columns features need, with sessions re-derived from the inactivity gap."""
    slim = events.select(
        "user_id", "event_time", "event_type", "price", "product_id", "category_id", "brand"
    )
    return session_numbers(slim, gap_minutes, column="session")


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
        spend=money_units(e.price).sum(where=is_["purchase"]).fill_null(0),
        view_price_sum=money_units(e.price).sum(where=is_["view"] & priced).fill_null(0),
        view_price_n=(is_["view"] & priced).sum().cast("int64"),
        purchase_price_sum=money_units(e.price).sum(where=is_["purchase"] & priced).fill_null(0),
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
    return pieces.mutate(
        # the piece holding the session's first purchase: the order's time
        is_order=((pieces.n_purchases > 0) & (pieces.cum_purchases == pieces.n_purchases)).cast(
            "int64"
        ),
    )


FAR_FUTURE = dt.datetime(9999, 1, 1)


def anchors_between(
    rows: ir.Table,
    anchors: ir.Table,
    after: ir.Value,
    until: ir.Value,
    shift: int = 0,
    latest: ir.Value | None = None,
) -> ir.Table:
    """Each row joined to the anchors ``a`` with ``after < a - shift <= until``.

    ``until`` missing means no end; ``latest`` (optional) caps ``a`` itself. A row that
    holds from ``after`` until the next row of its kind thus meets exactly the anchors
    it speaks for: an interval join, no rows fanned out and filtered later.
    """
    a = anchors.anchor
    t = a - ibis.interval(days=shift) if shift else a
    conditions = [after < t, t <= until.fill_null(ibis.timestamp(FAR_FUTURE))]
    if latest is not None:
        conditions.append(a <= latest)
    return rows.join(anchors, conditions)


def day_totals(
    pieces: ir.Table, since: dt.datetime, until: dt.datetime, totals: set[str]
) -> ir.Table:
    """Per user and active day in ``[since, until)``: running totals up to that day.

    Column ``c_<total>`` is the sum over the user's days up to and including this one,
    for each daily total in ``totals`` (events, views ... hour23); ``next_day`` is the
    user's next active day in the range. A sum over ``[t1, t2)`` is then the running
    total at the last day before ``t2`` minus that at the last day before ``t1``: no
    join fans rows out over anchors. Counting from ``since`` rather than the first
    event is exact for every window that starts at or after ``since``.
    """
    pc = pieces.filter((pieces.day >= ibis.timestamp(since)) & (pieces.day < ibis.timestamp(until)))
    hour = pc.hour.hour()
    weekday = pc.day.day_of_week.index()
    daily = {
        "events": pc.n_events.sum(),
        **{short: pc[f"n_{short}"].sum() for short in EVENT_SHORT.values()},
        "sessions": pc.is_sess_first.sum(),
        "orders": pc.is_order.sum(),
        "spend": pc.spend.sum(),
        "view_price_sum": pc.view_price_sum.sum(),
        "view_price_n": pc.view_price_n.sum(),
        "purchase_price_sum": pc.purchase_price_sum.sum(),
        "purchase_price_n": pc.purchase_price_n.sum(),
        **{f"weekday{d}": pc.n_events.sum(where=weekday == d) for d in WEEKDAYS},
        **{f"hour{h}": pc.n_events.sum(where=hour == h) for h in HOURS},
    }
    totals = totals - {"active_days"}
    days = pc.group_by(["user_id", "day"]).aggregate(
        **{k: v.fill_null(0) for k, v in daily.items() if k in totals}
    )
    run = ibis.window(group_by="user_id", order_by="day", preceding=None, following=0)
    return days.select(
        "user_id",
        "day",
        next_day=days.day.lead().over(ibis.window(group_by="user_id", order_by="day")),
        c_active_days=ibis.row_number().over(run).cast("int64") + 1,
        **{f"c_{k}": days[k].sum().over(run).cast("int64") for k in sorted(totals)},
    )


def windowed_features(
    days: ir.Table,
    pieces: ir.Table,
    anchors: ir.Table,
    settings: FeatureParams,
    lookback_days: int,
    names: list[str] | None = None,
) -> ir.Table:
    """Per user x anchor: every feature over a window, for users active in the lookback.

    Sums come from the running totals of :func:`day_totals`, read at ``anchor - near``
    and ``anchor - far`` by interval joins (each day row covers the anchors up to the
    user's next active day). Session statistics join each anchor to the pieces where
    sessions stood at it. With ``names``, only what those features need is computed.
    """
    needed = needed_aggregates(settings, names)
    sums = needed_sums(settings, lookback_days, names)

    def totals_at(offset: int, cols: set[str], latest: ir.Value | None = None) -> ir.Table:
        """Running totals at the user's last active day before ``anchor - offset``."""
        j = anchors_between(days, anchors, days.day, days.next_day, offset, latest)
        return j.select(
            "user_id", "anchor", **{f"o{offset}_{c}": j[f"c_{c}"] for c in sorted(cols)}
        )

    by_offset: dict[int, set[str]] = {0: set()}
    for total, near, far in sums.values():
        by_offset.setdefault(near, set()).add(total)
        by_offset.setdefault(far, set()).add(total)
    # the scored pairs: the user's last active day before the anchor is in the lookback
    t = totals_at(0, by_offset.pop(0), latest=days.day + ibis.interval(days=lookback_days))
    for offset, cols in sorted(by_offset.items()):
        side = totals_at(offset, cols)
        t = t.join(side, ["user_id", "anchor"], how="left").drop("user_id_right", "anchor_right")

    def at(total: str, offset: int) -> ir.NumericValue:
        value = t[f"o{offset}_{total}"]
        return value if offset == 0 else value.fill_null(0)

    def window_sum(total: str, near: int, far: int) -> ir.NumericValue:
        diff = at(total, near) - at(total, far)
        # amounts run as exact integer millionths: no residue, no dependence on threads
        return money_value(diff) if total in MONEY_TOTALS else diff

    cols = {name: window_sum(total, near, far) for name, (total, near, far) in sums.items()}
    for top, parts in TOPS.items():
        if top in needed:
            cols[top] = ibis.greatest(*[cols.pop(part) for part in parts])
    out = t.select("user_id", "anchor", **{k: v for k, v in cols.items() if k != "_scored"})
    p = settings.profile_window_days
    if needed & {*session_names(p), "_cart_sessions", "_abandoned"}:
        stats = session_stats(pieces, anchors, p)
        out = out.join(stats, ["user_id", "anchor"], how="left").drop(
            "user_id_right", "anchor_right"
        )
    return out


def session_stats(pieces: ir.Table, anchors: ir.Table, days: int) -> ir.Table:
    """Duration and depth of the sessions started in ``[anchor - days, anchor)``, cut at it.

    A session as it stood at an anchor is its last piece before the anchor: the piece
    whose hour is before it and whose session's next piece (if any) is not. Each
    anchor joins exactly those pieces, so no row is fanned out and filtered later.
    """
    j = anchors_between(
        pieces,
        anchors,
        pieces.hour,
        pieces.next_hour,
        latest=pieces.sess_start + ibis.interval(days=days),
    )
    # means of whole microseconds and event counts: exact integer sums, thread-independent
    micros = micros_between(j.t_last, j.sess_start)
    depth = j.cum_events
    has_cart = j.cum_carts > 0
    mean_minutes, max_minutes, mean_depth, max_depth = session_names(days)
    return j.group_by(["user_id", "anchor"]).aggregate(
        **{
            mean_minutes: micros.mean() / 6e7,
            max_minutes: micros.max().cast("float64") / 6e7,
            mean_depth: depth.mean(),
            max_depth: depth.max().cast("float64"),
        },
        _cart_sessions=has_cart.sum(),
        _abandoned=(has_cart & (j.cum_purchases == 0)).sum(),
    )


def _ratio(spec: FeatureSpec, t: ir.Table) -> ir.FloatingValue:
    """A derived feature by its contract recipe: ``num / den``, missing when ``den`` is 0."""
    num, den = (t[name] for name in spec.ratio)
    if spec.family.smoothed:
        return (num + 1).cast("float64") / (den + 1).cast("float64")
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
        spend_total=money_value(j.cum_spend),
        mean_visit_gap_days=gap,
        gap_ratio=ibis.ifelse(gap > 0, since_start / gap, ibis.null()),
    )


BREADTH_KINDS = {"products": "product_id", "categories": "category_id", "brands": "brand"}


def breadth_features(
    items: ir.Table, anchors: ir.Table, days: int, kinds: tuple[str, ...] = tuple(BREADTH_KINDS)
) -> ir.Table:
    """Distinct items of each of ``kinds`` touched in ``[anchor - days, anchor)``.

    An item row counts at an anchor when its day is inside the window and it is the
    item's last day before the anchor, so each item counts once; the join pairs each
    row with exactly those anchors.
    """
    j = anchors_between(
        items, anchors, items.day, items.next_day, latest=items.day + ibis.interval(days=days)
    )
    return j.group_by(["user_id", "anchor"]).aggregate(
        **{f"{kind}_{days}d": (j.kind == kind).sum() for kind in kinds}
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
    t = windowed
    if history is not None:
        t = t.join(history, ["user_id", "anchor"], how="left")
    if breadth is not None:
        t = t.join(breadth, ["user_id", "anchor"], how="left")
    contract = feature_contract(settings)
    wanted = set(names) if names is not None else None
    cols: dict[str, ir.Value] = {}
    for spec in contract:
        if wanted is not None and spec.name not in wanted:
            continue
        value = t[spec.name] if spec.ratio is None else _ratio(spec, t)
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
