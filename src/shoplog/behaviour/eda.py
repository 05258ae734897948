"""Exploratory summaries computed in the engine; each returns a small pandas table.

Size: the summaries share the engine's session and category helpers, and the sentences
the Data and Explore pages quote sit next to the numbers they word, so both change
together (a split would separate a number from the text that must stay true to it).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from shoplog.events.engine import as_int64, exact_sum, micros_between, seconds_between
from shoplog.events.sessions import session_numbers
from shoplog.schema import (
    CANONICAL_COLUMNS,
    CANONICAL_EVENT_TYPES,
    FUNNEL_STEPS,
    TIME_RESOLUTIONS,
)


def overview(events: ir.Table) -> dict[str, object]:
    """Headline counts of the canonical log: events, users, first and last event, and the
    log's own session ids (``log_sessions``, a data fact: the book's sessions are cut by the
    inactivity gap, see :func:`session_sizes`)."""
    row = (
        events.aggregate(
            events=events.count(),
            users=events.user_id.nunique(),
            log_sessions=events[["user_id", "user_session"]].distinct().count().as_scalar(),
            first_event=events.event_time.min(),
            last_event=events.event_time.max(),
            products=events.product_id.nunique(),
        )
        .to_pandas()
        .iloc[0]
    )
    out = row.to_dict()
    span = pd.Timestamp(out["last_event"]) - pd.Timestamp(out["first_event"])
    out["span_days"] = span.total_seconds() / 86400
    return out


def events_by_type(events: ir.Table) -> pd.DataFrame:
    """Events, users and share per event type, in funnel order."""
    df = (
        events.group_by("event_type")
        .aggregate(events=events.count(), users=events.user_id.nunique())
        .to_pandas()
    )
    df["share"] = df["events"] / df["events"].sum()
    order = {t: i for i, t in enumerate(CANONICAL_EVENT_TYPES)}
    return df.sort_values("event_type", key=lambda s: s.map(order)).reset_index(drop=True)


def activity_over_time(events: ir.Table, unit: str = "D") -> pd.DataFrame:
    """Events per period and type (``unit`` "D" for days, "h" for hours), zero-filled."""
    period = events.event_time.truncate(unit).name("period")
    df = events.group_by([period, events.event_type]).aggregate(events=events.count()).to_pandas()
    wide = df.pivot_table(
        index="period", columns="event_type", values="events", fill_value=0, aggfunc="sum"
    )
    full = pd.date_range(wide.index.min(), wide.index.max(), freq=unit)
    wide = wide.reindex(full, fill_value=0)
    wide.index.name = "period"
    cols = [t for t in CANONICAL_EVENT_TYPES if t in wide.columns]
    return wide[cols].astype("int64")


UNIT_LENGTH = {"h": pd.Timedelta(hours=1), "D": pd.Timedelta(days=1)}
UNIT_RESOLUTION = {"h": "hour", "D": "day"}


def whole_periods(
    totals: pd.Series, unit: str, first_event: object, last_event: object, resolution: str
) -> pd.Series:
    """``totals`` per period without a first or last period the log covers only in part
    (it starts late in it, or ends early), so that no comparison reads a partial period as
    a drop. Times recorded no finer than the period cannot leave one partial."""
    # only times finer than the period can leave one partly covered
    finer = TIME_RESOLUTIONS.index(resolution) < TIME_RESOLUTIONS.index(UNIT_RESOLUTION[unit])
    if not finer or totals.empty:
        return totals
    length = UNIT_LENGTH[unit]
    tolerance = length / 10
    first, last = pd.Timestamp(first_event), pd.Timestamp(last_event)
    keep = pd.Series(True, index=totals.index)
    if first - totals.index[0] > tolerance:
        keep.iloc[0] = False
    if totals.index[-1] + length - last > tolerance:
        keep.iloc[-1] = False
    return totals[keep]


def volume_change(totals: pd.Series, per: str) -> str:
    """How the second half of the whole periods compares with the first, as a sentence."""
    if len(totals) < 2:
        return (
            f"The log holds {len(totals)} whole {per}{'s' if len(totals) != 1 else ''}, too few "
            "to compare its first and second half."
        )
    half = len(totals) // 2
    first, second = totals.iloc[:half].mean(), totals.iloc[half:].mean()
    if first == 0:
        return "The first half of the log has no events, so halves are not compared."
    growth = second / first - 1
    if abs(growth) < 0.005:
        return f"The second half of the log has as many events per {per} as the first."
    more = "more" if growth > 0 else "fewer"
    return (
        f"The second half of the log has {abs(growth):.0%} {more} events per {per} than the "
        f"first (over {len(totals)} whole {per}s)."
    )


def event_types_caption(by_type: pd.DataFrame) -> str:
    """The caption of the events-by-type bars, true for the types this log has."""
    counts = dict(zip(by_type["event_type"], by_type["events"], strict=True))
    if len(counts) == 1:
        ((kind, n),) = counts.items()
        return f"*Figure: the log holds one event type, {kind} ({n:,} events).*"
    text = "*Figure: how many events of each type the log holds, on a logarithmic axis"
    if max(counts.values()) >= 10 * max(min(counts.values()), 1):
        text += (
            ", because the most common type outnumbers the rarest by an order of magnitude or more"
        )
    text += "."
    later = [t for t in ("cart", "purchase") if t in counts]
    if "view" in counts and later:
        text += (
            f" Compare the {' and '.join(later)} bar{'s' if len(later) > 1 else ''} with the "
            "view bar to see how steeply the funnel narrows."
        )
    return text + "*"


def too_coarse(resolution: str, needed: str, what: str) -> str | None:
    """Why ``what`` is not shown when times are recorded more coarsely than ``needed``
    (None when they are fine enough): one sentence for the page."""
    if TIME_RESOLUTIONS.index(resolution) <= TIME_RESOLUTIONS.index(needed):
        return None
    return (
        f"Times in this log are recorded to the {resolution} only, so {what} cannot be "
        "measured and is not shown."
    )


def session_meaning(resolution: str, gap_minutes: float) -> str:
    """What a gap session is when times are coarse (empty when they are fine): with every
    time on the hour or at midnight, the gap cuts at the clock's steps, not at pauses."""
    step = {"hour": 60, "day": 24 * 60}.get(resolution)
    if step is None:
        return ""
    unit = "hour" if resolution == "hour" else "day"
    if gap_minutes < step:
        return (
            f" Times are recorded to the {unit}, so a session here is all of a user's events "
            f"in one {unit}."
        )
    return (
        f" Times are recorded to the {unit}, so a session here is a run of a user's active "
        f"{unit}s no more than {gap_minutes:g} minutes apart."
    )


def group_conversion_sentence(by_category: pd.DataFrame | None) -> str:
    """Which of the top categories converts best and worst (empty without categories)."""
    if by_category is None or by_category["purchase / view"].dropna().empty:
        return ""
    rates = by_category["purchase / view"].dropna()
    best, worst = rates.idxmax(), rates.idxmin()
    if best == worst:
        return f"The one category with views, {best}, converts {rates[best]:.2%} of them."
    return (
        f"Among the top categories, {best} converts best ({rates[best]:.2%} of viewing "
        f"sessions buy) and {worst} worst ({rates[worst]:.2%})."
    )


GROUP_KEYS = {"categories": "category_id", "brands": "brand"}
GROUP_SINGULAR = {"categories": "category", "brands": "brand"}


def missing_groups_sentence(missing: list[str]) -> str:
    """One sentence naming the groupings the log cannot show and the mapping key for each."""
    if not missing:
        return ""
    keys = " and ".join(f"data.mapping.columns.{GROUP_KEYS[m]}" for m in missing)
    return (
        f"The log has no {' or '.join(missing)}, so conversion by "
        f"{' or '.join(GROUP_SINGULAR[m] for m in missing)} is not "
        f"shown (map a column with {keys})."
    )


def column_profile(events: ir.Table) -> pd.DataFrame:
    """Per canonical column: type, meaning, missing values and distinct values."""
    aggs = {}
    for name, _, _ in CANONICAL_COLUMNS:
        aggs[f"{name}__missing"] = events[name].isnull().sum()
        aggs[f"{name}__distinct"] = events[name].nunique()
    row = events.aggregate(total=events.count(), **aggs).to_pandas().iloc[0]
    total = int(row["total"])
    records = []
    for name, dtype, meaning in CANONICAL_COLUMNS:
        missing = int(row[f"{name}__missing"])
        records.append(
            {
                "column": name,
                "type": dtype,
                "meaning": meaning,
                "missing": missing,
                "missing_share": missing / total if total else 0.0,
                "distinct": int(row[f"{name}__distinct"]),
            }
        )
    return pd.DataFrame.from_records(records)


def choose_time_unit(span_days: float) -> str:
    """Hours for logs shorter than three days, days otherwise."""
    return "h" if span_days < 3 else "D"


# ---------------------------------------------------------------------------------------
# exploratory analysis chapter: every summary is computed in the engine


def weighted_median(values, counts) -> float:
    """The median of a frequency table (each value repeated ``counts`` times)."""
    v = np.asarray(values, dtype="float64")
    n = np.asarray(counts, dtype="float64")
    v, n = v[n > 0], n[n > 0]
    order = np.argsort(v)
    v, c = v[order], np.cumsum(n[order])
    if not len(c):
        return float("nan")
    half = c[-1] / 2
    i = int(np.searchsorted(c, half))
    # an even total whose middle falls between two values: their mean, as np.median
    if c[i] == half and i + 1 < len(v):
        return float((v[i] + v[i + 1]) / 2)
    return float(v[i])


def events_per_user(events: ir.Table) -> pd.DataFrame:
    """How many users have each number of events (``events``, ``users``), ascending."""
    per_user = events.group_by("user_id").aggregate(n=events.count())
    freq = per_user.group_by(per_user.n.name("events")).aggregate(users=per_user.count())
    return freq.order_by("events").to_pandas()


def session_sizes(events: ir.Table, gap_minutes: float) -> pd.DataFrame:
    """Per session length (events) and duration (whole minutes, first to last event): sessions."""
    s = session_numbers(events.select("user_id", "event_time"), gap_minutes)
    per = s.group_by(["user_id", "session"]).aggregate(
        events=s.count(), minutes=(seconds_between(s.event_time.max(), s.event_time.min()) / 60)
    )
    freq = per.group_by(["events", per.minutes.floor().cast("int64").name("minutes")]).aggregate(
        sessions=per.count()
    )
    return freq.order_by(["events", "minutes"]).to_pandas()


def category_labels(events: ir.Table) -> ir.Table:
    """``category_id`` with a readable ``category``: its category code, else the id."""
    labels = events.group_by("category_id").aggregate(code=events.category_code.max())
    return labels.select("category_id", category=labels.code.fill_null(labels.category_id))


def funnel(
    events: ir.Table, gap_minutes: float, by: str | None = None, top: int = 8
) -> pd.DataFrame:
    """Sessions reaching each step of view -> cart -> purchase, overall or per ``by``.

    A session reaches a step when it has that event and every earlier step (for
    ``by`` = "category" or "brand", within that group), so counts never increase along
    the funnel. Groups are the ``top`` with the most viewing sessions.
    Columns: group, step, sessions, share_of_first.
    """
    e = session_numbers(
        events.select(
            "user_id", "event_time", "event_type", "category_id", "category_code", "brand"
        ),
        gap_minutes,
    )
    if by == "category":
        e = e.join(category_labels(events), "category_id").mutate(group=ibis._.category)
    elif by == "brand":
        e = e.mutate(group=e.brand)
    elif by is None:
        e = e.mutate(group=ibis.literal("all"))
    else:
        raise ValueError(f"funnel by {by!r}: use None, 'category' or 'brand'")
    e = e.filter(e.group.notnull() & e.event_type.isin(FUNNEL_STEPS))
    has = {step: (e.event_type == step).any() for step in FUNNEL_STEPS}
    per = e.group_by(["group", "user_id", "session"]).aggregate(**has)
    reached = {}
    so_far = ibis.literal(True)
    for step in FUNNEL_STEPS:
        so_far = so_far & per[step]
        reached[step] = as_int64(so_far.sum())
    # the group breaks ties, so the same groups make the cut on every run
    wide = per.group_by("group").aggregate(**reached)
    wide = wide.order_by([ibis.desc("view"), "group"]).limit(top)
    df = wide.to_pandas().melt(id_vars="group", var_name="step", value_name="sessions")
    df["step"] = pd.Categorical(df["step"], categories=FUNNEL_STEPS, ordered=True)
    df = df.sort_values(["group", "step"]).reset_index(drop=True)
    first = df.groupby("group")["sessions"].transform("first")
    df["share_of_first"] = df["sessions"] / first.where(first > 0)
    return df


def category_prices(events: ir.Table, top: int = 10) -> pd.DataFrame:
    """Quantiles of viewed prices for the ``top`` most viewed categories (for box plots)."""
    v = events.filter((events.event_type == "view") & events.price.notnull())
    v = v.join(category_labels(events), "category_id")
    q = {f"q{int(p * 100):02d}": v.price.quantile(p) for p in (0.05, 0.25, 0.5, 0.75, 0.95)}
    out = v.group_by("category").aggregate(views=v.count(), **q)
    return out.order_by([ibis.desc("views"), "category"]).limit(top).to_pandas()


def active_periods(events: ir.Table, unit: str) -> ir.Table:
    """One row per user and period (``unit``) with activity, with the user's ``first`` period."""
    active = events.select("user_id", period=events.event_time.truncate(unit)).distinct()
    first = active.group_by("user_id").aggregate(first=active.period.min())
    return active.join(first, "user_id")


def new_and_returning(events: ir.Table, unit: str = "W") -> pd.DataFrame:
    """Active users per period split into new (first event in the log) and returning."""
    j = active_periods(events, unit)
    is_new = j.period == j.first
    df = (
        j.group_by("period")
        .aggregate(new=as_int64(is_new.sum()), returning=as_int64((~is_new).sum()))
        .order_by("period")
        .to_pandas()
    )
    return df


def cohort_retention(events: ir.Table) -> pd.DataFrame:
    """Share of each monthly acquisition cohort active in month k after its first month.

    Rows: cohort month (first event); columns: k = 0, 1, ...; values: active users in
    month cohort + k over the cohort's size (k = 0 is 1 by definition). A later month
    that the log does not reach is missing, not 0. Also returns sizes in ``attrs``.
    """
    j = active_periods(events, "M").rename(month="period", cohort="first")
    k = (j.month.year() - j.cohort.year()) * 12 + (j.month.month() - j.cohort.month())
    counts = j.group_by(["cohort", k.name("k")]).aggregate(users=j.count()).to_pandas()
    matrix = counts.pivot_table(index="cohort", columns="k", values="users", aggfunc="sum")
    # the log's last month is the last with an active user: no second scan of the log
    last = max(
        pd.Timestamp(c).to_period("M") + int(k)
        for c, k in zip(counts["cohort"], counts["k"], strict=True)
    )
    for cohort in matrix.index:
        reach = (last - pd.Timestamp(cohort).to_period("M")).n
        matrix.loc[cohort, matrix.columns > reach] = np.nan
        matrix.loc[cohort, (matrix.columns <= reach) & matrix.loc[cohort].isna()] = 0
    sizes = matrix[0]
    share = matrix.div(sizes, axis=0)
    share.attrs["sizes"] = sizes.astype("int64")
    return share


def quantile_score(values: pd.Series, bins: int = 5, higher_is_better: bool = True) -> pd.Series:
    """Scores 1..bins from percentile ranks; tied values always share a score.

    The book's one RFM scoring rule: the exploration's buyer grid and the segments
    chapter's anchor-time segments both use it."""
    pct = values.rank(pct=True, method="average", ascending=higher_is_better)
    return np.ceil(pct * bins).clip(1, bins).astype(int)


def rfm_table(events: ir.Table, gap_minutes: float, bins: int = 5) -> pd.DataFrame:
    """Buyers' RFM scores at the end of the log, aggregated per (R score, F score) cell.

    Recency: days from the last purchase to the log's end; frequency: orders (sessions
    with a purchase); monetary: spend. Scores follow :func:`quantile_score` (5 = most
    recent, most frequent; tied values share a score). The engine returns one row per
    buyer. Columns: r_score, f_score, users, monetary_mean, recency_mean, orders_mean.
    """
    cols = ("user_id", "event_time", "event_type", "price")
    s = session_numbers(events.select(*cols), gap_minutes)
    buys = s.filter(s.event_type == "purchase")
    end = events.event_time.max().as_scalar()
    per = buys.group_by("user_id").aggregate(
        last=buys.event_time.max(),
        orders=buys.session.nunique(),
        spend=exact_sum(buys.price).fill_null(0.0),
    )
    per = per.select("user_id", "orders", "spend", recency_us=micros_between(end, per.last))
    # a stable row order: the cells' float means then add up in the same order every run
    buyers = per.order_by("user_id").to_pandas()
    buyers["recency"] = buyers["recency_us"] / 86400e6
    buyers["r_score"] = quantile_score(buyers["recency"], bins, higher_is_better=False)
    buyers["f_score"] = quantile_score(buyers["orders"], bins)
    out = buyers.groupby(["r_score", "f_score"], sort=True).agg(
        users=("user_id", "size"),
        monetary_mean=("spend", "mean"),
        recency_mean=("recency", "mean"),
        orders_mean=("orders", "mean"),
    )
    return out.reset_index()


def funnel_steps(overall: pd.DataFrame) -> dict[str, int]:
    """Sessions reaching each step, from :func:`funnel`'s overall table."""
    return dict(zip(overall["step"].astype(str), overall["sessions"], strict=True))


def has_funnel(steps: dict[str, int]) -> bool:
    """Whether the log has a view -> cart funnel at all (a views-only or purchases-only log
    has none, and no rate of it may be worded)."""
    return steps.get("view", 0) > 0 and steps.get("cart", 0) > 0


def step_rates(steps: dict[str, int]) -> dict[str, float]:
    """The funnel's rates: carts per viewing session, purchases per carting session and
    purchases per viewing session (the one definition the explore and journeys chapters
    share)."""
    return {
        "cart / view": steps["cart"] / steps["view"],
        "purchase / cart": steps.get("purchase", 0) / steps["cart"],
        "purchase / view": steps.get("purchase", 0) / steps["view"],
    }


def conversion_by_group(by_group: pd.DataFrame) -> pd.DataFrame:
    """Viewing sessions and the cart and purchase rates per group of :func:`funnel` ``by``,
    largest groups first."""
    if by_group.empty:
        return pd.DataFrame(columns=["view", "cart / view", "purchase / view"])
    wide = by_group.pivot(index="group", columns="step", values="sessions")
    out = pd.DataFrame(
        {
            "view": wide["view"],
            "cart / view": wide["cart"] / wide["view"],
            "purchase / view": wide["purchase"] / wide["view"],
        }
    )
    return out.sort_values("view", ascending=False)
