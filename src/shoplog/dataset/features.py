"""The features' engine computation: what a user looked like at an anchor.

What each feature means, its window, dtype, missing rule and ratio recipe are
declared once in :mod:`shoplog.dataset.contract`; this module computes them.

**Engine.** Everything runs as Ibis expressions (DuckDB by default). Events are
first folded into *stretches*: one row per user and stretch of clock time no longer
than the session gap (a hash aggregate). No session can break inside a stretch, so
sessions are numbered on stretches, a fraction of the rows, exactly as per event.
Anchors are midnights, so "stretch hour < anchor" is exactly "event time < anchor".
No join fans rows out over anchors and throws most of them away:

- windowed sums come from per user-day running totals: a sum over ``[a - w, a)``
  is the total at the user's last active day before ``a`` minus that before
  ``a - w``, and each day row joins exactly the anchors up to the user's next
  active day (an interval join). With a few anchors, totals per period between the
  windows' edges, each joined to the anchors after it, do the same with no window
  function (:data:`PERIOD_MAX_ANCHORS`);
- whole-history features read the same row at the anchor: the running sums and the
  running last and first times, from the log's start, only those the wanted features
  read;
- session statistics join each anchor to the one *piece* (user, session, hour)
  where each session stood at it; pieces are made only when those are wanted;
- distinct items come from one row per (user, item) with a bit for each period
  between window edges it was touched in; an item counts at an anchor when its bits
  meet the window's, once, without ``COUNT DISTINCT`` (with too many edges for one
  64-bit mask: one row per item and day that knows the next day it came back).

Only the per user x anchor table leaves the engine.

Size: the interval joins share the pieces' and running totals' columns; each is only
right together with the others' layout, so they stay in one module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.datatypes as dt_
import ibis.expr.types as ir

from shoplog.config.params import FeatureParams
from shoplog.dataset.contract import (
    HISTORY,
    TOPS,
    FeatureSpec,
    feature_contract,
    is_zero_filled,
    needed_aggregates,
    needed_sums,
    needs_session_pieces,
    session_names,
)
from shoplog.events.engine import (
    as_int64,
    micros_between,
    money_units,
    money_value,
    seconds_between,
)
from shoplog.schema import EVENT_SHORT

# running totals that add up prices (int64 millionths, see engine.money_units); the
# others count events, sessions or days
MONEY_TOTALS = frozenset({"spend", "view_price_sum", "purchase_price_sum"})


# ---------------------------------------------------------------------------------------
# engine computation


def bucket_seconds(gap_minutes: float) -> int:
    """The width of the stretches events are first folded into: the widest that divides an
    hour and is not longer than the session gap (0 when the gap is under a second).

    No two events inside one stretch can be more than a gap apart, so no session breaks
    inside one, and none straddles a clock hour.
    """
    gap = round(gap_minutes * 60)
    return max((d for d in range(1, 3601) if 3600 % d == 0 and d <= gap), default=0)


def _stretch_totals(e: ir.Table) -> dict[str, ir.Value]:
    """The sums, counts and times a piece holds, as aggregates of events."""
    is_ = {t: e.event_type == t for t in EVENT_SHORT}
    priced = e.price.notnull()
    units = money_units(e.price)
    return {
        "t_first": e.event_time.min(),
        "t_last": e.event_time.max(),
        "n_events": e.count(),
        **{f"n_{short}": e.count(where=is_[t]) for t, short in EVENT_SHORT.items()},
        "spend": as_int64(units.sum(where=is_["purchase"]).fill_null(0)),
        "view_price_sum": as_int64(units.sum(where=is_["view"] & priced).fill_null(0)),
        "view_price_n": e.count(where=is_["view"] & priced),
        "purchase_price_sum": as_int64(units.sum(where=is_["purchase"] & priced).fill_null(0)),
        "purchase_price_n": e.count(where=is_["purchase"] & priced),
        "t_first_purchase": e.event_time.min(where=is_["purchase"]),
        "t_last_purchase": e.event_time.max(where=is_["purchase"]),
        "t_last_cart": e.event_time.max(where=is_["cart"]),
    }


def _merged_totals(b: ir.Table) -> dict[str, ir.Value]:
    """The same totals over several stretches: sums add, first times take the least."""
    out: dict[str, ir.Value] = {}
    for name in _STRETCH_COLUMNS:
        col = b[name]
        if name.startswith("t_first"):
            out[name] = col.min()
        elif name.startswith("t_"):
            out[name] = col.max()
        else:
            out[name] = as_int64(col.sum())
    return out


_STRETCH_COLUMNS = (
    "t_first",
    "t_last",
    "n_events",
    *[f"n_{short}" for short in EVENT_SHORT.values()],
    "spend",
    "view_price_sum",
    "view_price_n",
    "purchase_price_sum",
    "purchase_price_n",
    "t_first_purchase",
    "t_last_purchase",
    "t_last_cart",
)


def fold_stretches(
    events: ir.Table, gap_minutes: float, columns: frozenset[str] | None = None
) -> ir.Table:
    """The log folded into one row per user, clock hour and stretch of
    :func:`bucket_seconds`: a hash aggregate, no sort, a fraction of the rows.

    ``columns`` (see :func:`stretch_columns`; None: all) limits the totals computed.
    """
    e = events.select("user_id", "event_time", "event_type", "price")
    width = bucket_seconds(gap_minutes)
    totals = _stretch_totals(e)
    if columns is not None:
        keep = _folded(columns)
        totals = {k: v for k, v in totals.items() if k in keep}
    if not width:  # a gap under a second: only events at the same instant share a stretch
        hour = e.event_time.truncate("h").name("hour")
        return e.group_by(["user_id", hour, e.event_time.name("_part")]).aggregate(**totals)
    # one integer key per stretch (the fold alone at 10M events: 0.93 s with hour and
    # part as keys, 0.84 s with one); the width divides an hour, so the hour of a stretch
    # is that of its first event
    part = (e.event_time.epoch_seconds() // width).name("_part")
    folded = e.group_by(["user_id", part]).aggregate(**totals)
    return folded.select(
        "user_id",
        hour=folded.t_first.truncate("h"),
        _part=folded._part,
        **{k: folded[k] for k in totals},
    )


# columns sessioned_stretches derives with running windows over a user's stretches
_SESSION_COLUMNS = frozenset({"session", "sess_start", "is_order"})


def _folded(columns: frozenset[str]) -> set[str]:
    """The fold's totals that ``columns`` need (the session columns read purchases)."""
    keep = {"t_first", "t_last", *columns}
    if columns & _SESSION_COLUMNS:
        keep.add("n_purchases")
    return keep & set(_STRETCH_COLUMNS)


def sessioned_stretches(
    folded: ir.Table, gap_minutes: float, columns: frozenset[str] | None = None
) -> ir.Table:
    """The stretches of :func:`fold_stretches`, each with its session number (1, 2, ...)
    and day.

    Sessions follow the inactivity gap exactly as per event (:mod:`shoplog.events.sessions`):
    a stretch opens a session (``is_sess_first``) when its first event comes more than the
    gap after the previous stretch's last. ``sess_start`` is its session's first event and
    ``is_order`` marks the stretch holding the session's first purchase (an order).
    Daily totals, whole-history totals and labels are all sums of stretches.

    When ``columns`` (see :func:`stretch_columns`) need none of ``session``, ``sess_start``
    and ``is_order``, only the openings are numbered: one window instead of five, a third
    of the time on 10M events.
    """
    b = folded
    # stretches of a user never share a first time: running sums over rows are exact
    by_user = ibis.window(group_by="user_id", order_by="t_first")
    previous = b.t_last.lag().over(by_user)
    gap = ibis.interval(seconds=round(gap_minutes * 60))
    opens = (previous.isnull() | (b.t_first - previous > gap)).cast("int64")
    if columns is not None and not columns & _SESSION_COLUMNS:
        return b.mutate(is_sess_first=opens, day=b.hour.truncate("D")).drop("_part")
    running = ibis.window(group_by="user_id", order_by="t_first", preceding=None, following=0)
    b = b.mutate(
        is_sess_first=opens,
        _bought_before=b.n_purchases.sum().over(running) - b.n_purchases,
    )
    opening = b.is_sess_first == 1
    b = b.mutate(
        session=b.is_sess_first.sum().over(running),
        sess_start=ibis.ifelse(opening, b.t_first, ibis.null()).max().over(running),
        # the user's purchases before the session opened
        _bought_at_open=ibis.ifelse(opening, b._bought_before, ibis.null()).max().over(running),
    )
    return b.mutate(
        is_order=((b.n_purchases > 0) & (b._bought_before == b._bought_at_open)).cast("int64"),
        day=b.hour.truncate("D"),
    ).drop("_part", "_bought_before", "_bought_at_open")


def make_pieces(stretches: ir.Table) -> ir.Table:
    """One row per user, session and clock hour (from :func:`sessioned_stretches`).

    The session's start, whether the piece opens the session, whether it holds the
    session's order and its day come from its stretches, which know them already; window
    columns added on top: the running session totals up to and including the piece (to
    cut a session at an anchor) and the hour of the session's next piece.
    """
    b = stretches
    pieces = b.group_by(["user_id", "session", "hour"]).aggregate(
        **_merged_totals(b),
        sess_start=b.sess_start.min(),
        is_sess_first=b.is_sess_first.max(),
        is_order=b.is_order.max(),
        day=b.day.min(),
    )
    by_session = ibis.window(group_by=["user_id", "session"], order_by="hour")
    running = ibis.window(
        group_by=["user_id", "session"], order_by="hour", preceding=None, following=0
    )
    return pieces.mutate(
        next_hour=pieces.hour.lead().over(by_session),
        cum_events=pieces.n_events.sum().over(running),
        cum_carts=pieces.n_carts.sum().over(running),
        cum_purchases=pieces.n_purchases.sum().over(running),
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


# the stretch column each daily total of :func:`day_totals` adds up (weekday<d> and
# hour<h> count events, as does active_days)
DAY_TOTAL_READS: dict[str, str] = {
    "events": "n_events",
    **{short: f"n_{short}" for short in EVENT_SHORT.values()},
    "sessions": "is_sess_first",
    "orders": "is_order",
    **{m: m for m in ("spend", "view_price_sum", "view_price_n")},
    **{m: m for m in ("purchase_price_sum", "purchase_price_n")},
}


# each whole-history value :func:`day_totals` can carry for the history features and the
# labels: a running sum of a daily total (its name) or, for times, (the stretch column it
# reads, its aggregate per day, its aggregate over the days up to this one; None: the
# day's own value, as the last event of the user's last active day is the last so far)
RUNNING_SUMS: dict[str, str] = {
    "cum_sessions": "sessions",
    "cum_orders": "orders",
    "cum_spend": "spend",
}
RUNNING_TIMES: dict[str, tuple[str, str, str | None]] = {
    "last_event": ("t_last", "max", None),
    "last_purchase": ("t_last_purchase", "max", "max"),
    "last_cart": ("t_last_cart", "max", "max"),
    # the start of the last session opened: an opening stretch's first event
    "last_session_start": ("t_first", "opening", "max"),
    "first_time": ("t_first", "min", "min"),
}


def _daily(
    stretches: ir.Table,
    since: dt.datetime,
    until: dt.datetime,
    totals: set[str],
    running: set[str] | frozenset[str],
) -> ir.Table:
    """Per user and active day in ``[since, until)``: each daily total but ``active_days``,
    and ``_<name>`` for each running time (see :func:`day_totals`).

    With ``running`` values, a user's days before ``since`` are not dropped but folded into
    one row on the day before it: the running values stay whole-history ones, while every
    window (which starts at or after ``since``) sees the same totals as before, and the
    table stays as short as the windows need (features and labels for 12 anchors at 50M
    events: 199.8 s with every day, 171.8 s with the one row).
    """
    missing = {RUNNING_SUMS[r] for r in running if r in RUNNING_SUMS} - totals
    if missing:
        raise ValueError(f"running sums need the daily totals {sorted(missing)}")
    in_range = stretches.day < ibis.timestamp(until)
    if not running:
        in_range &= stretches.day >= ibis.timestamp(since)
    pc = stretches.filter(in_range)
    hour = pc.hour.hour()
    weekday = pc.day.day_of_week.index()
    day = pc.day
    if running:
        day = ibis.greatest(day, ibis.timestamp(since - dt.timedelta(days=1)))

    def daily(total: str) -> ir.NumericValue:
        if total.startswith("weekday"):
            return pc.n_events.sum(where=weekday == int(total.removeprefix("weekday")))
        if total.startswith("hour"):
            return pc.n_events.sum(where=hour == int(total.removeprefix("hour")))
        return pc[DAY_TOTAL_READS[total]].sum()

    def daily_time(name: str) -> ir.TimestampValue:
        column, how, _ = RUNNING_TIMES[name]
        if how == "opening":
            return pc[column].max(where=pc.is_sess_first == 1)
        return getattr(pc[column], how)()

    return pc.group_by(["user_id", day.name("day")]).aggregate(
        **{k: as_int64(daily(k).fill_null(0)) for k in sorted(totals - {"active_days"})},
        **{f"_{r}": daily_time(r) for r in sorted(running) if r in RUNNING_TIMES},
    )


def day_totals(
    stretches: ir.Table,
    since: dt.datetime,
    until: dt.datetime,
    totals: set[str],
    running: set[str] | frozenset[str] = frozenset(),
) -> ir.Table:
    """Per user and active day in ``[since, until)``: running totals up to that day.

    Column ``c_<total>`` is the sum over the user's days up to and including this one,
    for each daily total in ``totals`` (events, views ... hour23); ``next_day`` is the
    user's next active day in the range. A sum over ``[t1, t2)`` is then the running
    total at the last day before ``t2`` minus that at the last day before ``t1``: no
    join fans rows out over anchors. Counting from ``since`` rather than the first
    event is exact for every window that starts at or after ``since``.

    ``running`` names whole-history values (:data:`RUNNING_TIMES`; those of
    :data:`RUNNING_SUMS` are ``c_`` columns of their totals, which must be in ``totals``)
    added as columns of those names; the days before ``since`` are then one row (see
    :func:`_daily`). The history features read the same row as the windowed sums, with no
    second table.
    """
    days = _daily(stretches, since, until, totals, running)
    run = ibis.window(group_by="user_id", order_by="day", preceding=None, following=0)

    def running_time(name: str) -> ir.TimestampValue:
        how = RUNNING_TIMES[name][2]
        value = days[f"_{name}"]
        return value if how is None else getattr(value, how)().over(run)

    plain = sorted(totals - {"active_days"})
    sums = {f"c_{k}": as_int64(days[k].sum().over(run)) for k in plain}
    if "active_days" in totals:
        sums["c_active_days"] = ibis.row_number().over(run).cast("int64") + 1
    return days.select(
        "user_id",
        "day",
        next_day=days.day.lead().over(ibis.window(group_by="user_id", order_by="day")),
        **dict(sorted(sums.items())),
        **{r: running_time(r) for r in sorted(running) if r in RUNNING_TIMES},
    )


def _across(name: str) -> str:
    """The aggregate of running time ``name`` over several days or periods (a time taken
    from the last day alone is their maximum)."""
    return RUNNING_TIMES[name][2] or "max"


# up to this many anchors, the windowed sums come from :func:`period_totals` fanned out to
# the anchors; with more, from the running totals of :func:`day_totals`. On the shared
# spec's 10M events (2 cores, in process, best of 3) periods took 3.64 s against 3.85 s
# with 4 anchors and 4.37 s against 4.51 s with 6, the same with 8, and 6.54 s against
# 6.03 s with 12
PERIOD_MAX_ANCHORS = 6


def period_edges(
    anchors: Sequence[dt.datetime], offsets: set[int] | frozenset[int]
) -> list[dt.datetime] | None:
    """The instants ``anchor - offset`` days that cut time into the periods of
    :func:`period_totals`, or None when the anchors are too many for that form."""
    if len(anchors) > PERIOD_MAX_ANCHORS:
        return None
    return sorted({a - dt.timedelta(days=o) for a in anchors for o in {0, *offsets}})


def period_totals(
    stretches: ir.Table,
    edges: Sequence[dt.datetime],
    since: dt.datetime,
    totals: set[str],
    running: set[str] | frozenset[str] = frozenset(),
) -> ir.Table:
    """Per user and period between ``edges`` (and before the first): the daily totals
    summed over the period, and the running times (:data:`RUNNING_TIMES`) over it.

    ``end`` is the period's end edge. Every window of every anchor is a run of whole
    periods, so a window sum is a sum over the periods that end in it: with a few anchors,
    joining each period to the anchors after it and summing is a hash aggregate where the
    running totals of :func:`day_totals` are a window per total.
    """
    days = _daily(stretches, since, edges[-1], totals, running)
    later = [(days.day < ibis.timestamp(e), ibis.timestamp(e)) for e in edges[:-1]]
    end = (
        ibis.cases(*later, else_=ibis.timestamp(edges[-1])) if later else ibis.timestamp(edges[-1])
    )
    days = days.mutate(end=end)

    def over_days(name: str) -> ir.Value:
        return getattr(days[f"_{name}"], _across(name))()

    sums = {k: as_int64(days[k].sum()) for k in sorted(totals - {"active_days"})}
    if "active_days" in totals:
        sums["active_days"] = as_int64(days.count())
    return days.group_by(["user_id", "end"]).aggregate(
        **dict(sorted(sums.items())),
        **{r: over_days(r) for r in sorted(running) if r in RUNNING_TIMES},
    )


def windowed_features(
    days: ir.Table,
    pieces: ir.Table | None,
    anchors: ir.Table,
    settings: FeatureParams,
    lookback_days: int,
    names: list[str] | None = None,
    carry: Sequence[str] = (),
    periods: bool = False,
) -> ir.Table:
    """Per user x anchor: every feature over a window, and the whole-history features, for
    users active in the lookback.

    Sums are running totals read at ``anchor - near`` and ``anchor - far``: of
    :func:`day_totals` by interval joins (each day row covers the anchors up to the user's
    next active day) or, with ``periods``, of :func:`period_totals` summed over the
    periods before each. The whole-history features read the running values at the anchor
    itself (``days`` must carry those they need, see :func:`history_inputs`), as do the
    ``carry`` values, kept as ``_<name>`` columns for the labels. Session statistics join
    each anchor to the pieces where sessions stood at it. With ``names``, only what those
    features need is computed.
    """
    needed = needed_aggregates(settings, names)
    sums = needed_sums(settings, lookback_days, names)
    history = history_names(settings, names)
    running = sorted(history_inputs(history) | set(carry))
    by_offset: dict[int, set[str]] = {0: set()}
    for total, near, far in sums.values():
        by_offset.setdefault(near, set()).add(total)
        by_offset.setdefault(far, set()).add(total)
    if periods:
        t = _totals_by_periods(days, anchors, by_offset, running, lookback_days)
    else:
        t = _totals_by_days(days, anchors, by_offset, running, lookback_days)

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
    cols |= history_features(t, history)
    cols |= {f"_{c}": t[c] for c in carry}
    out = t.select("user_id", "anchor", **{k: v for k, v in cols.items() if k != "_scored"})
    if needs_session_pieces(settings, names):
        if pieces is None:
            raise ValueError("session statistics need the pieces of sessions; none were staged")
        stats = session_stats(pieces, anchors, settings.profile_window_days)
        out = out.join(stats, ["user_id", "anchor"], how="left").drop(
            "user_id_right", "anchor_right"
        )
    return out


def _running_at(j: ir.Table, running: Sequence[str], value=None) -> dict[str, ir.Value]:
    """The running values ``running`` as columns of ``j``, the sums under their totals'
    ``c_`` names (``value`` maps a column to its value at the anchor)."""
    value = value or (lambda c: j[c])
    return {r: value(f"c_{RUNNING_SUMS[r]}") if r in RUNNING_SUMS else value(r) for r in running}


def _totals_by_days(
    days: ir.Table,
    anchors: ir.Table,
    by_offset: dict[int, set[str]],
    running: Sequence[str],
    lookback_days: int,
) -> ir.Table:
    """Per scored (user, anchor): ``o<offset>_<total>``, the running total at the user's
    last active day before ``anchor - offset``, and the running values at the anchor."""

    def totals_at(offset: int, cols: set[str], latest: ir.Value | None = None) -> ir.Table:
        j = anchors_between(days, anchors, days.day, days.next_day, offset, latest)
        values = {f"o{offset}_{c}": j[f"c_{c}"] for c in sorted(cols)}
        if offset == 0:  # the whole history up to the anchor
            values |= _running_at(j, running)
        return j.select("user_id", "anchor", **values)

    offsets = dict(by_offset)
    # the scored pairs: the user's last active day before the anchor is in the lookback
    t = totals_at(0, offsets.pop(0), latest=days.day + ibis.interval(days=lookback_days))
    for offset, cols in sorted(offsets.items()):
        side = totals_at(offset, cols)
        t = t.join(side, ["user_id", "anchor"], how="left").drop("user_id_right", "anchor_right")
    return t


def _totals_by_periods(
    periods: ir.Table,
    anchors: ir.Table,
    by_offset: dict[int, set[str]],
    running: Sequence[str],
    lookback_days: int,
) -> ir.Table:
    """:func:`_totals_by_days`' table from :func:`period_totals`: each period joins the
    anchors at or after its end, and a total at ``anchor - offset`` sums the periods that
    end by then (none: missing, as a user without a day before it)."""
    j = periods.join(anchors, periods.end <= anchors.anchor)
    # each condition once per row, not once per aggregate
    flags = {o: j.end <= j.anchor - ibis.interval(days=o) for o in by_offset if o}
    scored = j.end > j.anchor - ibis.interval(days=lookback_days)
    j = j.mutate(_scored=scored, **{f"_before{o}": f for o, f in flags.items()})

    def before(offset: int) -> ir.BooleanValue:
        return j[f"_before{offset}"]

    def at(column: str) -> ir.Value:  # running times keep their own aggregate
        if column in RUNNING_TIMES:
            return getattr(j[column], _across(column))()
        return as_int64(j[column.removeprefix("c_")].sum())

    values: dict[str, ir.Value] = {}
    for offset, cols in sorted(by_offset.items()):
        for c in sorted(cols):
            total = j[c].sum() if offset == 0 else j[c].sum(where=before(offset))
            values[f"o{offset}_{c}"] = as_int64(total)
    values |= _running_at(j, running, at)
    # scored: a period inside the lookback (every period row holds an event)
    t = j.group_by(["user_id", "anchor"]).aggregate(_in_lookback=j._scored.any(), **values)
    return t.filter(t._in_lookback).drop("_in_lookback")


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


# the running values (:data:`RUNNING_SUMS`, :data:`RUNNING_TIMES`) each whole-history
# feature reads
HISTORY_INPUTS: dict[str, frozenset[str]] = {
    "days_since_last_event": frozenset({"last_event"}),
    "days_since_last_purchase": frozenset({"last_purchase"}),
    "days_since_last_cart": frozenset({"last_cart"}),
    "tenure_days": frozenset({"first_time"}),
    "sessions_total": frozenset({"cum_sessions"}),
    "orders_total": frozenset({"cum_orders"}),
    "spend_total": frozenset({"cum_spend"}),
    "mean_visit_gap_days": frozenset({"cum_sessions", "last_session_start", "first_time"}),
    "gap_ratio": frozenset({"cum_sessions", "last_session_start", "first_time"}),
}


def history_names(settings: FeatureParams, names: list[str] | None = None) -> list[str]:
    """The whole-history features among ``names`` (all when None)."""
    wanted = set(names) if names is not None else None
    return [
        s.name
        for s in feature_contract(settings)
        if s.kind == HISTORY and (wanted is None or s.name in wanted)
    ]


def history_inputs(names: Sequence[str]) -> set[str]:
    """The running values the whole-history features ``names`` read."""
    return set().union(*(HISTORY_INPUTS[n] for n in names))


def history_features(j: ir.Table, names: Sequence[str]) -> dict[str, ir.Value]:
    """The whole-history features ``names`` from ``j``'s running values as they stood at its
    ``anchor`` (the day row of the user's last active day before it)."""
    a = j.anchor

    def days_since(column: str) -> ir.FloatingValue:
        return seconds_between(a, j[column]) / 86400.0

    def mean_gap() -> ir.FloatingValue:
        return ibis.ifelse(
            j.cum_sessions >= 2,
            seconds_between(j.last_session_start, j.first_time)
            / 86400.0
            / (j.cum_sessions - 1).cast("float64"),
            ibis.null(),
        )

    def gap_ratio() -> ir.FloatingValue:
        gap = mean_gap()
        return ibis.ifelse(gap > 0, days_since("last_session_start") / gap, ibis.null())

    recipes = {
        "days_since_last_event": lambda: days_since("last_event"),
        "days_since_last_purchase": lambda: days_since("last_purchase"),
        "days_since_last_cart": lambda: days_since("last_cart"),
        "tenure_days": lambda: days_since("first_time"),
        "sessions_total": lambda: j.cum_sessions,
        "orders_total": lambda: j.cum_orders,
        "spend_total": lambda: money_value(j.cum_spend),
        "mean_visit_gap_days": mean_gap,
        "gap_ratio": gap_ratio,
    }
    return {n: recipes[n]() for n in names}


BREADTH_KINDS = {"products": "product_id", "categories": "category_id", "brands": "brand"}


def breadth_features(
    items: ir.Table,
    anchors: Sequence[dt.datetime],
    days: int,
    kinds: tuple[str, ...] = tuple(BREADTH_KINDS),
    edges: Sequence[dt.datetime] | None = None,
) -> ir.Table:
    """Distinct items of each of ``kinds`` touched in ``[anchor - days, anchor)``.

    With ``edges`` the rows are :func:`item_masks`: an item counts at an anchor when one
    of its periods lies in the anchor's window, so each item counts once. Otherwise they
    are :func:`item_days`' rows, and a row counts when its day is inside the window and
    it is the item's last day before the anchor. Either way a join pairs each row with
    exactly the anchors it counts at.
    """
    if edges is not None:
        masks = anchor_table(list(anchors), _window=[window_mask(edges, a, days) for a in anchors])
        j = items.join(masks, (items.mask & masks._window) != 0)
    else:
        a = anchor_table(list(anchors))
        j = anchors_between(
            items, a, items.day, items.next_day, latest=items.day + ibis.interval(days=days)
        )
    return j.group_by(["user_id", "anchor"]).aggregate(
        **{f"{kind}_{days}d": (j.kind == kind).sum() for kind in kinds}
    )


def anchor_table(anchors: list, **columns: list[int]) -> ir.Table:
    """A small in-engine table of anchor timestamps, with any further integer ``columns``
    (one value per anchor).

    The rows are literals unnested in the query itself: nothing is uploaded, and no
    data-frame library is loaded for them (an in-memory table would load pandas, 0.4 s).
    """
    fields = {"anchor": "timestamp(6)", **dict.fromkeys(columns, "int64")}
    rows = [
        {"anchor": _plain_datetime(a), **{c: int(v[i]) for c, v in columns.items()}}
        for i, a in enumerate(anchors)
    ]
    literal = ibis.literal(rows, type=dt_.Array(dt_.Struct(fields)))
    return literal.unnest().name("_row").as_table().unpack("_row")


def _plain_datetime(moment: dt.datetime) -> dt.datetime:
    """``moment`` as a plain naive datetime (a pandas Timestamp is one too)."""
    return dt.datetime(*moment.timetuple()[:6], moment.microsecond)


def finish_features(
    windowed: ir.Table,
    breadth: ir.Table | None,
    settings: FeatureParams,
    names: list[str] | None = None,
) -> ir.Table:
    """Join the parts and derive ratios; columns in contract order with contract dtypes."""
    t = windowed
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


# what the labels read of each stretch (:func:`shoplog.dataset.labels.compute_labels`)
LABEL_READS = frozenset({"n_events", "n_purchases", "spend", "t_first_purchase"})


def stretch_columns(
    day_totals: set[str], running: set[str], pieces: bool, labels: bool
) -> frozenset[str] | None:
    """The stretch columns that the wanted daily totals, running times of
    :func:`day_totals`, pieces and labels read; None (all) when pieces are wanted, since
    they carry every total. Folding and numbering only these halves the stretches' cost
    for a few features (2.9 s to 1.5 s on 10M events)."""
    if pieces:
        return None
    need = {"n_events", *(DAY_TOTAL_READS.get(t, "n_events") for t in day_totals)}
    need |= {RUNNING_TIMES[c][0] for c in running if c in RUNNING_TIMES}
    return frozenset(need | (LABEL_READS if labels else set()))


# more window edges than this and items are kept per day instead (a period's bit must fit
# in a signed 64-bit mask)
MAX_ITEM_EDGES = 64


def item_edges(anchors: Sequence[dt.datetime], days: int) -> list[dt.datetime] | None:
    """The window edges (every anchor and every anchor less ``days``) that cut time into
    periods for :func:`item_masks`; None when there are too many (then :func:`item_days`).

    A period lies wholly inside or wholly outside each window, so an item touched in it
    counts alike for every anchor, whichever moment of the period it was.
    """
    edges = sorted({a for anchor in anchors for a in (anchor, anchor - dt.timedelta(days=days))})
    return edges if len(edges) <= MAX_ITEM_EDGES else None


def window_mask(edges: Sequence[dt.datetime], anchor: dt.datetime, days: int) -> int:
    """The bits of the periods between ``edges`` that make up ``[anchor - days, anchor)``."""
    start = anchor - dt.timedelta(days=days)
    return sum(
        1 << i for i in range(len(edges) - 1) if edges[i] >= start and edges[i + 1] <= anchor
    )


def _window_events(
    events: ir.Table, start: dt.datetime, end: dt.datetime, kinds: tuple[str, ...]
) -> list[tuple[str, ir.Table, ir.StringValue]]:
    """Per kind: the events in ``[start, end)`` (what the anchors' windows can see) that
    name an item of that kind, with the item as text."""
    events = events.filter(
        (events.event_time >= ibis.timestamp(start)) & (events.event_time < ibis.timestamp(end))
    )
    out = []
    for kind in kinds:
        col = events[BREADTH_KINDS[kind]].cast("string")
        out.append((kind, events.filter(col.notnull() & (col != "")), col))
    return out


@ibis.udf.agg.builtin(name="bit_or")
def _bit_or(x: int) -> int:  # type: ignore[empty-body]
    """The bitwise or of a group's values: DuckDB's and Spark SQL's own ``bit_or``."""


def item_masks(
    events: ir.Table,
    edges: Sequence[dt.datetime],
    kinds: tuple[str, ...] = tuple(BREADTH_KINDS),
) -> ir.Table:
    """One row per (user, kind, item) touched in some anchor's window, with ``mask``: a bit
    per period between window ``edges`` (see :func:`item_edges`) in which it was touched.

    An item then counts at an anchor when its mask meets the window's
    (:func:`window_mask`): one hash aggregate, no window function, no ``COUNT DISTINCT``.
    """
    parts = []
    for kind, e, col in _window_events(events, edges[0], edges[-1], kinds):
        # the period of an event is the last edge at or before it
        t = e.event_time
        later = [
            (t < ibis.timestamp(edges[i + 1]), ibis.literal(1 << i, "int64"))
            for i in range(len(edges) - 2)
        ]
        last = ibis.literal(1 << (len(edges) - 2), "int64")
        bit = ibis.cases(*later, else_=last) if later else last
        parts.append(
            e.group_by(["user_id", ibis.literal(kind).name("kind"), col.name("item")]).aggregate(
                mask=_bit_or(bit)
            )
        )
    return ibis.union(*parts)


def item_days(
    events: ir.Table,
    anchors: Sequence[dt.datetime],
    days: int,
    kinds: tuple[str, ...] = tuple(BREADTH_KINDS),
) -> ir.Table:
    """One row per (user, kind, item, day) on which the user touched the item, for
    :func:`next_item_day`: the form for anchors with too many window edges for a mask.

    Only what some anchor's window can see is kept. Dropping later events leaves "is this
    the item's last day before the anchor" unchanged, since any later one is at or after
    every anchor.
    """
    parts = [
        e.select(
            "user_id", kind=ibis.literal(kind), item=col, day=e.event_time.truncate("D")
        ).distinct()
        for kind, e, col in _window_events(
            events, min(anchors) - dt.timedelta(days=days), max(anchors), kinds
        )
    ]
    return ibis.union(*parts)


def next_item_day(items: ir.Table) -> ir.Table:
    """Each row of :func:`item_days` with the next day the user touched that item on."""
    return items.mutate(
        next_day=items.day.lead().over(
            ibis.window(group_by=["user_id", "kind", "item"], order_by="day")
        )
    )
