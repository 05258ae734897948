"""The feature contract, declared once as a table of families.

A *family* is one row of :data:`FAMILIES`: a name template, dtype, the window it is
computed over, a group, a one-line meaning, when it is missing, and, for a ratio,
its recipe (numerator and denominator aggregates). :func:`feature_contract`
expands the table into features for a run's windows; the engine computation
(:mod:`shoplog.dataset.features`) reads the recipes from here, the training and
scoring code read the names and dtypes, and the book's data dictionary is this
table. So no recipe, name or meaning is written twice.

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

**Aggregates.** Windowed features and ratio recipes are made of *window sums*
(:func:`window_sums`): a daily total summed over ``[a - far, a - near)``. Names of
sums that are not features themselves start with ``_``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shoplog.config.params import FeatureParams
from shoplog.schema import EVENT_SHORT

if TYPE_CHECKING:  # pandas loads only where a frame is made
    import pandas as pd

# plain plural names of the per-event counts, for labels
EVENT_WORDS = {"removes": "Removals from cart"}
# the windows of the activity trend: the last t days against the t days before
TREND_WINDOWS = (7, 30)
WEEKDAYS = tuple(range(7))
HOURS = tuple(range(24))
# concentration: the largest of these per-weekday / per-hour sums over the profile window
TOPS = {
    "_top_weekday": [f"_weekday{d}" for d in WEEKDAYS],
    "_top_hour": [f"_hour{h}" for h in HOURS],
}
# where a family's windows come from: the whole history, or settings / TREND_WINDOWS
WINDOW_KINDS = ("history", "windows", "distinct", "profile", "trend")
# families computed outside the windowed sums: from whole-history running totals, and
# from distinct items
HISTORY, DISTINCT = "history", "distinct"
ZERO_FILLED_GROUPS = frozenset({"activity", "spend", "history_counts", "breadth"})


@dataclass(frozen=True)
class Family:
    """One row of the contract: a feature, or one per window (``{w}``) and event (``{event}``).

    ``ratio`` is the recipe of a derived feature, ``(numerator, denominator)`` window
    sums (templates in ``{w}``): missing when the denominator is 0, or, with
    ``smoothed``, ``(numerator + 1) / (denominator + 1)``. ``span`` is how many
    windows back the feature reads (the trend compares two).
    """

    template: str
    dtype: str
    windows: str
    group: str
    meaning: str
    missing: str = "never"
    ratio: tuple[str, str] | None = None
    smoothed: bool = False
    span: int = 1
    label: str = ""  # a short plain name for figures and lists (templates as in meaning)


FAMILIES: tuple[Family, ...] = (
    Family("days_since_last_event", "float64", HISTORY, "recency",
           "Days from the user's last event to the anchor.", label="Days since last event"),
    Family("days_since_last_purchase", "float64", HISTORY, "recency",
           "Days from the last purchase to the anchor.", "the user never purchased",
           label="Days since last purchase"),
    Family("days_since_last_cart", "float64", HISTORY, "recency",
           "Days from the last add-to-cart to the anchor.", "the user never carted",
           label="Days since last cart"),
    Family("tenure_days", "float64", HISTORY, "recency",
           "Days from the user's first event in the log to the anchor.",
           label="Days since first event"),
    Family("sessions_total", "int64", HISTORY, "history_counts",
           "Sessions started before the anchor, whole history.", label="Sessions, all history"),
    Family("orders_total", "int64", HISTORY, "history_counts",
           "Orders (sessions with a purchase) before the anchor, whole history.",
           label="Orders, all history"),
    Family("spend_total", "float64", HISTORY, "history_counts",
           "Purchase value before the anchor, whole history (missing prices count 0).",
           label="Spend, all history"),
    Family("mean_visit_gap_days", "float64", HISTORY, "rhythm",
           "Mean days between consecutive session starts.", "fewer than two sessions",
           label="Mean days between visits"),
    Family("gap_ratio", "float64", HISTORY, "rhythm",
           "Days since the last session start over the user's mean visit gap (above 1: overdue).",
           "fewer than two sessions", label="Days since last visit / usual gap"),
    Family("{event}_{w}d", "int64", "windows", "activity",
           "{Event} (events) in the last {w} days.", label="{Events}, last {w} days"),
    Family("sessions_{w}d", "int64", "windows", "activity",
           "Sessions started in the last {w} days.", label="Sessions, last {w} days"),
    Family("active_days_{w}d", "int64", "windows", "activity",
           "Days with at least one event in the last {w} days.",
           label="Active days, last {w} days"),
    Family("orders_{w}d", "int64", "windows", "spend",
           "Orders (sessions whose first purchase fell) in the last {w} days.",
           label="Orders, last {w} days"),
    Family("spend_{w}d", "float64", "windows", "spend",
           "Purchase value in the last {w} days.", label="Spend, last {w} days"),
    Family("aov_{w}d", "float64", "windows", "spend",
           "Average order value in the last {w} days (spend / orders).",
           "no order in the window", ratio=("spend_{w}d", "orders_{w}d"),
           label="Average order value, last {w} days"),
    Family("products_{w}d", "int64", DISTINCT, "breadth",
           "Distinct products the user touched in the last {w} days.",
           label="Distinct products, last {w} days"),
    Family("categories_{w}d", "int64", DISTINCT, "breadth",
           "Distinct categories (category_id) in the last {w} days.",
           label="Distinct categories, last {w} days"),
    Family("brands_{w}d", "int64", DISTINCT, "breadth",
           "Distinct brands in the last {w} days (events without brand not counted).",
           label="Distinct brands, last {w} days"),
    Family("cart_per_view_{w}d", "float64", "profile", "funnel",
           "Carts per view in the last {w} days.", "no view in the window",
           ratio=("_carts_p", "_views_p"), label="Carts per view, last {w} days"),
    Family("purchase_per_cart_{w}d", "float64", "profile", "funnel",
           "Purchases per cart in the last {w} days.", "no cart in the window",
           ratio=("_purchases_p", "_carts_p"), label="Purchases per cart, last {w} days"),
    Family("remove_per_cart_{w}d", "float64", "profile", "funnel",
           "Removals per cart in the last {w} days.", "no cart in the window",
           ratio=("_removes_p", "_carts_p"), label="Removals per cart, last {w} days"),
    Family("cart_abandonment_{w}d", "float64", "profile", "funnel",
           "Share of sessions with a cart but no purchase, last {w} days.",
           "no session with a cart in the window", ratio=("_abandoned", "_cart_sessions"),
           label="Abandoned-cart share, last {w} days"),
    Family("session_minutes_mean_{w}d", "float64", "profile", "sessions",
           "Mean session duration (minutes, first to last event), last {w} days.",
           "no session started in the window", label="Mean session minutes, last {w} days"),
    Family("session_minutes_max_{w}d", "float64", "profile", "sessions",
           "Longest session (minutes) in the last {w} days.", "no session started in the window",
           label="Longest session (minutes), last {w} days"),
    Family("session_events_mean_{w}d", "float64", "profile", "sessions",
           "Mean events per session (depth) in the last {w} days.",
           "no session started in the window", label="Mean events per session, last {w} days"),
    Family("session_events_max_{w}d", "float64", "profile", "sessions",
           "Most events in one session in the last {w} days.", "no session started in the window",
           label="Most events in a session, last {w} days"),
    Family("view_price_mean_{w}d", "float64", "profile", "price",
           "Mean price of viewed products in the last {w} days.", "no priced view in the window",
           ratio=("_view_price_sum", "_view_price_n"), label="Mean viewed price, last {w} days"),
    Family("purchase_price_mean_{w}d", "float64", "profile", "price",
           "Mean price of purchased products in the last {w} days.",
           "no priced purchase in the window", ratio=("_purchase_price_sum", "_purchase_price_n"),
           label="Mean purchased price, last {w} days"),
    Family("trend_{w}d", "float64", "trend", "trend",
           "(events in the last {w} days + 1) / (events in the {w} days before + 1): above 1, "
           "activity is rising.", ratio=("_recent_{w}", "_before_{w}"), smoothed=True, span=2,
           label="Activity trend, last {w} days vs the {w} before"),
    Family("top_weekday_share_{w}d", "float64", "profile", "concentration",
           "Share of events on the user's busiest day of the week, last {w} days.",
           "no event in the window", ratio=("_top_weekday", "_events_p"),
           label="Share on busiest weekday, last {w} days"),
    Family("top_hour_share_{w}d", "float64", "profile", "concentration",
           "Share of events in the user's busiest hour of the day (UTC), last {w} days.",
           "no event in the window", ratio=("_top_hour", "_events_p"),
           label="Share in busiest hour, last {w} days"),
)  # fmt: skip


@dataclass(frozen=True)
class FeatureSpec:
    """One feature of the contract, expanded from its family for one window."""

    name: str
    dtype: str
    window: int | None  # days before the anchor the feature reads; None: the whole history
    group: str
    description: str
    missing: str = "never"
    family: Family | None = None
    ratio: tuple[str, str] | None = None  # the recipe's window sums, for this window
    event: str | None = None  # the event type of a per-event family's feature
    label: str = ""  # a short plain name, for readers (figures, the targeting list)

    @property
    def kind(self) -> str:
        """Where the feature's windows come from (one of :data:`WINDOW_KINDS`)."""
        return self.family.windows if self.family is not None else HISTORY


def family_windows(family: Family, settings: FeatureParams) -> tuple[int | None, ...]:
    """The windows a family is expanded over for these settings."""
    return {
        HISTORY: (None,),
        "windows": tuple(settings.windows),
        DISTINCT: (settings.distinct_window_days,),
        "profile": (settings.profile_window_days,),
        "trend": TREND_WINDOWS,
    }[family.windows]


def _expand(family: Family, w: int | None) -> list[FeatureSpec]:
    events = EVENT_SHORT.values() if "{event}" in family.template else [None]
    out = []
    for short in events:
        fill = {"w": w, "event": short, "Event": (short or "").capitalize()}
        fill["Events"] = EVENT_WORDS.get(short or "", fill["Event"])
        ratio = family.ratio and (family.ratio[0].format(**fill), family.ratio[1].format(**fill))
        out.append(
            FeatureSpec(
                family.template.format(**fill),
                family.dtype,
                None if w is None else family.span * w,
                family.group,
                family.meaning.format(**fill),
                family.missing,
                family,
                ratio or None,
                short,
                family.label.format(**fill),
            )
        )
    return out


def feature_contract(settings: FeatureParams | None = None) -> list[FeatureSpec]:
    """Every feature, in a fixed order, for the given windows.

    Families follow the table's order; consecutive families over the run's windows are
    expanded window by window (all 7-day features, then all 30-day ones).
    """
    settings = settings or FeatureParams()
    specs: list[FeatureSpec] = []
    i = 0
    while i < len(FAMILIES):
        block = [FAMILIES[i]]
        while i + len(block) < len(FAMILIES) and FAMILIES[i + len(block)].windows == "windows" == (
            block[0].windows
        ):
            block.append(FAMILIES[i + len(block)])
        for w in family_windows(block[0], settings):
            for family in block:
                specs += _expand(family, w)
        i += len(block)
    names = [s.name for s in specs]
    if len(names) != len(set(names)):
        raise ValueError(f"feature windows produce duplicate names: {names}")
    return specs


def feature_label(name: str) -> str:
    """A feature's short plain name for readers (``gap_ratio`` -> "Days since last visit /
    usual gap", ``views_14d`` -> "Views, last 14 days"), for any window; a column the
    contract does not know keeps its name, spaced."""
    for family in FAMILIES:
        pattern = re.escape(family.template)
        pattern = pattern.replace(re.escape("{event}"), "(?P<event>[a-z]+)")
        pattern = pattern.replace(re.escape("{w}"), r"(?P<w>\d+)")
        match = re.fullmatch(pattern, name)
        if match is None or not family.label:
            continue
        fill = match.groupdict()
        short = fill.get("event") or ""
        if "event" in fill and short not in EVENT_SHORT.values():
            continue
        fill["Event"] = short.capitalize()
        fill["Events"] = EVENT_WORDS.get(short, fill["Event"])
        return family.label.format(**fill)
    return name.replace("_", " ")


def feature_labels(names: list[str] | pd.Index) -> dict[str, str]:
    """:func:`feature_label` of each name."""
    return {name: feature_label(name) for name in names}


def is_zero_filled(spec: FeatureSpec) -> bool:
    """Whether a missing aggregate means 0 (counts, sums) rather than 'undefined' (ratios)."""
    return spec.missing == "never" and spec.group in ZERO_FILLED_GROUPS


def windowed_inputs(spec: FeatureSpec) -> set[str]:
    """The window sums a feature is made from (none for history and breadth features)."""
    if spec.kind in (HISTORY, DISTINCT):
        return set()
    return set(spec.ratio) if spec.ratio else {spec.name}


def reach_days(settings: FeatureParams, lookback_days: int) -> int:
    """How many days before an anchor the windowed features reach."""
    return max(
        [*settings.windows, settings.profile_window_days, lookback_days]
        + [2 * t for t in TREND_WINDOWS]
    )


def session_names(days: int) -> tuple[str, str, str, str]:
    """The session duration and depth features over ``days``."""
    stats = [(what, stat) for what in ("minutes", "events") for stat in ("mean", "max")]
    return tuple(f"session_{what}_{stat}_{days}d" for what, stat in stats)


def window_sums(settings: FeatureParams, lookback_days: int) -> dict[str, tuple[str, int, int]]:
    """Every window sum as ``name -> (daily total, near, far)``.

    The sum runs over the days in ``[anchor - far, anchor - near)``; daily totals are
    the columns of :func:`shoplog.dataset.features.day_totals`. ``_scored`` (events in
    the lookback) decides who is scored at an anchor.
    """
    p = settings.profile_window_days
    sums: dict[str, tuple[str, int, int]] = {"_scored": ("events", 0, lookback_days)}
    for w in settings.windows:
        for short in EVENT_SHORT.values():
            sums[f"{short}_{w}d"] = (short, 0, w)
        for total in ("sessions", "active_days", "orders", "spend"):
            sums[f"{total}_{w}d"] = (total, 0, w)
    for short in EVENT_SHORT.values():
        sums[f"_{short}_p"] = (short, 0, p)
    for total in ("view_price_sum", "view_price_n", "purchase_price_sum", "purchase_price_n"):
        sums[f"_{total}"] = (total, 0, p)
    sums["_events_p"] = ("events", 0, p)
    for t in TREND_WINDOWS:
        sums[f"_recent_{t}"] = ("events", 0, t)
        sums[f"_before_{t}"] = ("events", t, 2 * t)
    sums |= {f"_weekday{d}": (f"weekday{d}", 0, p) for d in WEEKDAYS}
    sums |= {f"_hour{h}": (f"hour{h}", 0, p) for h in HOURS}
    return sums


def needed_aggregates(settings: FeatureParams, names: list[str] | None = None) -> set[str]:
    """The window sums and session aggregates the features ``names`` (all when None) need."""
    specs = feature_contract(settings)
    if names is not None:
        wanted = set(names)
        specs = [spec for spec in specs if spec.name in wanted]
    needed = {"_scored"}.union(*(windowed_inputs(spec) for spec in specs))
    for top, parts in TOPS.items():
        if top in needed:
            needed |= set(parts)
    return needed


def needs_session_pieces(settings: FeatureParams, names: list[str] | None = None) -> bool:
    """Whether the features ``names`` (all when None) include session statistics, the only
    features read from sessions cut at the anchor (the engine's pieces)."""
    p = settings.profile_window_days
    return bool(
        needed_aggregates(settings, names) & {*session_names(p), "_cart_sessions", "_abandoned"}
    )


def needed_sums(
    settings: FeatureParams, lookback_days: int, names: list[str] | None = None
) -> dict[str, tuple[str, int, int]]:
    """The entries of :func:`window_sums` the features ``names`` (all when None) need."""
    needed = needed_aggregates(settings, names)
    return {k: v for k, v in window_sums(settings, lookback_days).items() if k in needed}


def dictionary(contract: list[FeatureSpec], missing_share: dict[str, float]) -> pd.DataFrame:
    """The data dictionary, one row per feature family (``views_{w}d`` for all its windows).

    ``missing_share`` maps feature names to their share of missing values; a family shows
    the largest of its members. A family of each event type has a row per type.
    """
    import pandas as pd

    rows: dict[tuple, dict] = {}
    for spec in contract:
        family = spec.family
        if family is None:
            raise ValueError(f"{spec.name} is not expanded from the contract's families")
        w = spec.window // family.span if spec.window is not None else None
        fill = {"w": "w", "event": spec.event, "Event": (spec.event or "").capitalize()}
        row = rows.setdefault(
            (family.template, spec.event),
            {
                "Feature": family.template.format(**{**fill, "w": "{w}"}),
                "Windows": [],
                "Meaning": family.meaning.format(**fill),
                "Type": spec.dtype,
                "Missing when": spec.missing,
                "Missing (max)": 0.0,
            },
        )
        if w is not None:
            row["Windows"].append(str(w))
        row["Missing (max)"] = max(row["Missing (max)"], missing_share.get(spec.name, 0.0))
    out = pd.DataFrame(rows.values())
    out["Windows"] = out["Windows"].map(lambda w: ", ".join(w) or "all history")
    return out
