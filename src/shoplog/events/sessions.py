"""Sessions from an inactivity gap, computed in the engine (Ibis window functions)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from shoplog.events.engine import as_int64, seconds_between


def session_numbers(events: ir.Table, gap_minutes: float, column: str = "session") -> ir.Table:
    """``events`` with ``column`` = the user's session number (1, 2, ...).

    A user's first event opens session 1; an event more than ``gap_minutes`` after the
    user's previous event opens the next one. Ties in time stay in one session.
    """
    by_user = ibis.window(group_by="user_id", order_by="event_time")
    previous = events.event_time.lag().over(by_user)
    gap = ibis.interval(seconds=round(gap_minutes * 60))
    opens = (previous.isnull() | (events.event_time - previous > gap)).cast("int64")
    marked = events.mutate(_opens=opens)
    # RANGE, not ROWS: tied times are peers and get one number whatever order the
    # engine's (unstable) sort leaves them in
    running = ibis.range_window(
        group_by="user_id", order_by="event_time", preceding=None, following=0
    )
    return marked.mutate(**{column: marked._opens.sum().over(running)}).drop("_opens")


def derive_sessions(events: ir.Table, gap_minutes: float, column: str = "user_session") -> ir.Table:
    """``events`` with ``column`` = ``<user_id>-<n>``, a new session after ``gap_minutes`` idle."""
    numbered = session_numbers(events, gap_minutes, column="_n")
    return numbered.mutate(
        **{column: numbered.user_id.cast("string") + "-" + numbered._n.cast("string")}
    ).drop("_n")


FUNNEL_ORDER = {"view": 0, "cart": 1, "remove_from_cart": 2, "purchase": 3}


def session_table(events: ir.Table, gap_minutes: float) -> ir.Table:
    """One row per session (re-derived from the gap): user, start, end, duration, events by type.

    ``session`` is the user's session number. Also whether it purchased and its first
    and last event type; events at the same second are ordered along the funnel (view,
    cart, remove, purchase) to break ties.
    """
    sessions = session_numbers(
        events.select("user_id", "event_time", "event_type"), gap_minutes, column="session"
    )
    rank = sessions.event_type.cases(*FUNNEL_ORDER.items(), else_=9)
    s = sessions.mutate(_rank=rank)
    first_key = ibis.struct({"t": s.event_time, "r": s._rank, "e": s.event_type})
    counts = {
        f"n_{name}": as_int64((s.event_type == etype).sum())
        for etype, name in (
            ("view", "views"),
            ("cart", "carts"),
            ("remove_from_cart", "removes"),
            ("purchase", "purchases"),
        )
    }
    out = s.group_by(["user_id", "session"]).aggregate(
        start=s.event_time.min(),
        end=s.event_time.max(),
        n_events=s.count(),
        **counts,
        first_event_type=s.event_type.argmin(first_key),
        last_event_type=s.event_type.argmax(first_key),
    )
    return out.mutate(
        duration_seconds=seconds_between(out.end, out.start),
        purchased=out.n_purchases > 0,
    )
