"""User journeys as a process: sessions are cases, event types (or categories) activities.

The heavy parts run in the engine: each session's ordered steps, directly-follows
counts and times, variants and the Sankey's links. pm4py gets a seeded sample of
sessions as a pandas event log, for model discovery and its fitness, and renders the
graphs with Graphviz.

Within a session, events are ordered by time, and events at the same second along
the funnel (view, cart, remove, purchase), so every order is deterministic.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from shoplog.events.engine import micros_between, ordered_concat
from shoplog.events.sessions import FUNNEL_ORDER, session_numbers

START, END = "▶ start", "■ end"
BOUGHT, LEFT = "bought", "left without buying"


def session_steps(events: ir.Table, gap_minutes: float, by_category: bool = False) -> ir.Table:
    """One row per event: user, session, time, activity, its 0-based step and the next step.

    ``activity`` is the event type, or ``<type>: <category>`` with ``by_category``.
    """
    cols = ["user_id", "event_time", "event_type"] + (
        ["category_code", "category_id"] if by_category else []
    )
    e = session_numbers(events.select(*cols), gap_minutes)
    activity = e.event_type
    if by_category:
        activity = activity + ": " + e.category_code.fill_null(e.category_id).fill_null("?")
    e = e.mutate(activity=activity, _rank=e.event_type.cases(*FUNNEL_ORDER.items(), else_=9))
    w = ibis.window(group_by=["user_id", "session"], order_by=[e.event_time, e._rank, e.activity])
    return e.select(
        "user_id",
        "session",
        "event_time",
        "activity",
        step=ibis.row_number().over(w),
        next_activity=e.activity.lead().over(w),
        next_time=e.event_time.lead().over(w),
    )


def dfg(steps: ir.Table) -> pd.DataFrame:
    """Directly-follows counts with mean and median seconds, plus start and end edges.

    One aggregate over every step's edge to its successor (or to the end) and every
    session's edge from the start. Columns: source, target, count, mean_seconds,
    median_seconds (times are missing on the start and end edges). Stage ``steps``
    first when it is an expression: it is read twice.
    """
    follows = steps.select(
        source=steps.activity,
        target=steps.next_activity.fill_null(END),
        wait=micros_between(steps.next_time, steps.event_time),
    )
    first = steps.filter(steps.step == 0)
    opens = first.select(
        source=ibis.literal(START), target=first.activity, wait=ibis.null().cast("int64")
    )
    both = ibis.union(follows, opens)
    grouped = both.group_by(["source", "target"]).aggregate(
        # whole microseconds: an exact integer mean, whatever the thread count
        count=both.count(),
        mean_seconds=both.wait.mean() / 1e6,
        median_seconds=both.wait.median().cast("float64") / 1e6,
    )
    out = grouped.to_pandas()[["source", "target", "count", "mean_seconds", "median_seconds"]]
    return out.sort_values(
        ["count", "source", "target"], ascending=[False, True, True]
    ).reset_index(drop=True)


def dfg_from_cases(log: ir.Table) -> pd.DataFrame:
    """:func:`dfg` of an event log already cut into cases (pm4py's column names).

    For comparing with pm4py on exactly its input. Events at the same time keep the
    order of ``position`` (as pm4py's stable sort keeps the row order).
    """
    case, activity, time = "case:concept:name", "concept:name", "time:timestamp"
    w = ibis.window(group_by=log[case], order_by=[log[time], log.position])
    steps = log.select(
        user_id=log[case],
        session=ibis.literal(0),
        event_time=log[time],
        activity=log[activity],
        step=ibis.row_number().over(w),
        next_activity=log[activity].lead().over(w),
        next_time=log[time].lead().over(w),
    )
    return dfg(steps)


def next_step_shares(edges: pd.DataFrame) -> pd.Series:
    """Per edge of :func:`dfg`: its share of all edges leaving its source (missing from start).

    The chance that an activity is directly followed by the edge's target (or the end).
    """
    leaving = edges.groupby("source")["count"].transform("sum")
    return (edges["count"] / leaving).where(edges["source"] != START)


def pm4py_graph(edges: pd.DataFrame, value: str = "count") -> tuple[dict, dict, dict]:
    """``(dfg, start_activities, end_activities)`` dictionaries as pm4py's visualisers take them."""
    inner = edges[(edges["source"] != START) & (edges["target"] != END)]
    graph = {(r.source, r.target): getattr(r, value) for r in inner.itertuples()}
    starts = edges[edges["source"] == START].set_index("target")["count"].to_dict()
    ends = edges[edges["target"] == END].set_index("source")["count"].to_dict()
    return graph, starts, ends


def _collapsed(steps: ir.Table) -> ir.Table:
    """Steps with repeats of the same activity in a row merged (``view, view, cart`` -> two)."""
    w = ibis.window(group_by=["user_id", "session"], order_by="step")
    # the previous activity as a column first: Spark cannot filter on a window directly
    marked = steps.mutate(_previous=steps.activity.lag().over(w))
    kept = marked.filter(marked._previous.isnull() | (marked._previous != marked.activity))
    return kept.drop("_previous").mutate(step=ibis.row_number().over(w))


def session_outcomes(steps: ir.Table) -> ir.Table:
    """Per session: whether it contains a purchase."""
    return steps.group_by(["user_id", "session"]).aggregate(
        bought=steps.activity.startswith("purchase").any()
    )


def variants(steps: ir.Table, top: int = 10) -> pd.DataFrame:
    """The most common journeys (repeats in a row merged), with share and conversion.

    Columns: variant, sessions, share (of all sessions), conversion (share that bought).
    """
    c = _collapsed(steps)
    per = c.group_by(["user_id", "session"]).aggregate(
        variant=ordered_concat(c.activity, c.step, " → "),
        bought=c.activity.startswith("purchase").any(),
    )
    total = per.count().as_scalar()
    out = per.group_by("variant").aggregate(
        sessions=per.count(), conversion=per.bought.cast("float64").mean()
    )
    out = out.mutate(share=out.sessions / total)
    out = out.order_by([ibis.desc("sessions"), "variant"]).limit(top)
    return out.to_pandas()[["variant", "sessions", "share", "conversion"]]


def sankey_links(steps: ir.Table, depth: int = 4) -> pd.DataFrame:
    """Links between the first ``depth`` steps (repeats merged) and the session's outcome.

    Nodes are ``"<step>. <activity>"`` and the outcomes ``bought`` and ``left without
    buying``; a session's last shown step links to its outcome. Each link is split by the
    sessions' eventual outcome, so a figure can colour the flows of buyers. Columns:
    source, target, outcome (:data:`BOUGHT` or :data:`LEFT`), sessions.
    """
    c = _collapsed(steps)
    c = c.join(session_outcomes(steps), ["user_id", "session"])
    w = ibis.window(group_by=["user_id", "session"], order_by="step")
    c = c.mutate(next_activity=c.activity.lead().over(w))
    shown = c.filter(c.step < depth)
    label = (shown.step + 1).cast("string") + ". " + shown.activity
    last = shown.next_activity.isnull() | (shown.step == depth - 1)
    target = ibis.ifelse(
        last,
        ibis.ifelse(shown.bought, ibis.literal(BOUGHT), ibis.literal(LEFT)),
        (shown.step + 2).cast("string") + ". " + shown.next_activity,
    )
    outcome = ibis.ifelse(shown.bought, ibis.literal(BOUGHT), ibis.literal(LEFT))
    links = shown.mutate(source=label, target=target, outcome=outcome)
    out = links.group_by(["source", "target", "outcome"]).aggregate(sessions=links.count())
    return out.order_by(["source", "target", "outcome"]).to_pandas()


def sample_log(steps: ir.Table, n_sessions: int, seed: int) -> pd.DataFrame:
    """A seeded sample of whole sessions as a pm4py event log (case, activity, timestamp).

    Sessions are ranked by the MD5 digest of (user, session, seed), so the sample is the
    same for the same seed, on either engine, and grows, not changes, with ``n_sessions``.
    Rows come in the steps' order, which pm4py's stable sort by case and time keeps.
    """
    keys = steps.select("user_id", "session").distinct()
    keyed = keys.mutate(
        _h=(
            keys.user_id.cast("string") + "|" + keys.session.cast("string") + "|" + str(seed)
        ).hexdigest("md5")
    )
    chosen = keyed.order_by(["_h", "user_id", "session"]).limit(n_sessions).drop("_h")
    s = steps.join(chosen, ["user_id", "session"])
    df = s.order_by(["user_id", "session", "step"]).to_pandas()
    return pd.DataFrame(
        {
            "case:concept:name": df["user_id"].astype(str) + "-" + df["session"].astype(str),
            "concept:name": df["activity"].astype(str),
            # microseconds, as the log stores them (Spark hands back nanoseconds)
            "time:timestamp": pd.to_datetime(df["event_time"]).astype("datetime64[us]"),
        }
    )
