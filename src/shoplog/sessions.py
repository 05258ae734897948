"""Sessions from an inactivity gap, computed in the engine (Ibis window functions)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def derive_sessions(events: ir.Table, gap_minutes: float, column: str = "user_session") -> ir.Table:
    """``events`` with ``column`` = ``<user_id>-<n>``, a new session after ``gap_minutes`` idle.

    A user's first event opens session 1; an event more than the gap after the
    user's previous event opens the next one. Ties in time stay in one session.
    """
    by_user = ibis.window(group_by="user_id", order_by="event_time")
    previous = events.event_time.lag().over(by_user)
    gap = ibis.interval(seconds=round(gap_minutes * 60))
    opens = (previous.isnull() | (events.event_time - previous > gap)).cast("int64")
    marked = events.mutate(_opens=opens)
    running = ibis.window(group_by="user_id", order_by="event_time", preceding=None, following=0)
    numbered = marked.mutate(_n=marked._opens.sum().over(running))
    return numbered.mutate(
        **{column: numbered.user_id.cast("string") + "-" + numbered._n.cast("string")}
    ).drop("_opens", "_n")
