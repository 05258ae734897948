"""Time to dormancy: from an anchor, how long until a user goes quiet for a whole horizon.

A user is *dormant at time t* when they have no event in ``[t, t + horizon)``; the time to
dormancy T is the first such t at or after the anchor. It is the anchor itself when the
user has no event in the horizon after it (the churn label), else just after the user's
last event before their first quiet horizon. T is observed only when the log runs a full
horizon past it; otherwise the user is censored where the log stops telling (its end minus
a horizon).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as DuckDBBackend

DAY = pd.Timedelta(days=1)


def time_to_dormancy(
    con: DuckDBBackend,
    events: ir.Table,
    anchor: dt.datetime,
    user_ids: pd.Series,
    horizon_days: int,
    observed_end: dt.datetime,
) -> pd.DataFrame:
    """Per user of ``user_ids``: ``days`` from ``anchor`` to dormancy (or to censoring),
    ``observed`` (False when censored), and ``next_event_days``, the days to their first
    event at or after the anchor (infinite without one), from which the label of any
    horizon follows. The events after the anchor are scanned in the engine."""
    a = pd.Timestamp(anchor)
    end = pd.Timestamp(observed_end)
    if a + horizon_days * DAY > end:
        raise ValueError(f"the log ends {end}: a {horizon_days}-day horizon after {a} is unseen")
    users = ibis.memtable(pd.DataFrame({"uid": user_ids.astype(str).to_numpy()}))
    after = events.filter(events.event_time >= ibis.timestamp(a.to_pydatetime()))
    after = after.select(uid=after.user_id.cast("string"), t=after.event_time)
    after = after.join(users, "uid")
    w = ibis.window(group_by=after.uid, order_by=after.t)
    after = after.mutate(nxt=after.t.lead().over(w))
    # quiet right after t: the next event comes more than a horizon later (or never)
    quiet = after.nxt.isnull() | (after.nxt > after.t + ibis.interval(days=horizon_days))
    per = con.execute(
        after.group_by("uid").aggregate(first=after.t.min(), onset=after.t.min(where=quiet))
    ).set_index("uid")
    per = per.reindex(user_ids.astype(str).to_numpy())
    first = pd.to_datetime(per["first"])
    onset = pd.to_datetime(per["onset"])
    horizon = horizon_days * DAY
    dormant_now = first.isna() | (first >= a + horizon)
    # dormancy starts just after the last event (one microsecond, the log's resolution), so
    # T = 0 is exactly the churn label, even for a last event on the anchor's very instant
    t = (onset + pd.Timedelta(microseconds=1)).where(~dormant_now, a)
    observed = (t + horizon <= end).to_numpy()
    censor_days = (end - horizon - a) / DAY
    days = np.where(observed, ((t - a) / DAY).to_numpy(dtype=float), censor_days)
    return pd.DataFrame(
        {
            "user_id": user_ids.astype(str).to_numpy(),
            "days": days,
            "observed": observed,
            "next_event_days": ((first - a) / DAY).fillna(np.inf).to_numpy(dtype=float),
        }
    )


def dormant_within(next_event_days: np.ndarray, horizon_days: int, seen_days: float) -> np.ndarray:
    """The churn label for another horizon, from the days to each user's next event: 1 when
    none comes within ``horizon_days``; NaN for every user when the log after the anchor
    (``seen_days``) is shorter than the horizon."""
    if horizon_days > seen_days:
        return np.full(len(next_event_days), np.nan)
    return (np.asarray(next_event_days, dtype=float) >= horizon_days).astype(float)
