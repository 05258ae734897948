"""What a log can answer, and an anchor plan that fits it.

A churn or purchase question needs log before the first anchor (warm-up), anchors for
training, validation and test separated by embargoes, and a whole horizon after the last
one. :func:`fit_plan` searches, in a fixed order, for the plan closest to the profile's
that a log of a given span supports: the horizon (the question itself) is kept as long as
possible, then the warm-up, then the number of test and validation anchors, then their
spacing. :func:`log_questions` turns the span, the columns and the resolution of the log
into one answer per question the book asks, each with the parameter values that would fit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from shoplog.config.params import Params
from shoplog.dataset.splits import Timeline, TimelineError, make_timeline
from shoplog.schema import TIME_RESOLUTIONS

# Horizons auto-fitting tries below the profile's; the shortest is a week: below that
# "dormant" mostly measures which weekdays a user shops on, not whether they left.
HORIZONS = (28, 21, 14, 7)
SPACINGS = (7, 3, 1)
SPLIT_COUNTS = ((2, 2), (1, 1))
# the longest span searched for the days a plan needs (ten years)
_MAX_SPAN = 3660


@dataclass(frozen=True)
class AnchorPlan:
    """The settings that decide whether a log fits: horizon, warm-up, spacing, splits."""

    horizon_days: int
    repurchase_gap_days: int
    warmup_days: int
    spacing_days: int
    test_anchors: int
    validation_anchors: int
    embargo_days: int

    @classmethod
    def of(cls, params: Params) -> AnchorPlan:
        """The plan a profile asks for."""
        return cls(
            horizon_days=params.anchors.horizon_days,
            repurchase_gap_days=params.anchors.repurchase_gap_days,
            warmup_days=params.warmup_days,
            spacing_days=params.anchors.spacing_days,
            test_anchors=params.splits.test_anchors,
            validation_anchors=params.splits.validation_anchors,
            embargo_days=params.embargo_days,
        )

    def timeline(self, first: dt.datetime, last: dt.datetime, study_end: dt.date) -> Timeline:
        """The anchors this plan gives on a log from ``first`` to ``last`` (TimelineError
        when it does not fit)."""
        return make_timeline(
            first,
            last,
            study_end,
            spacing_days=self.spacing_days,
            horizon_days=self.horizon_days,
            warmup_days=self.warmup_days,
            validation_anchors=self.validation_anchors,
            test_anchors=self.test_anchors,
            embargo_days=self.embargo_days,
        )

    def fits(self, first: dt.datetime, last: dt.datetime, study_end: dt.date) -> bool:
        try:
            self.timeline(first, last, study_end)
        except TimelineError:
            return False
        return True

    def days_needed(self) -> int:
        """The fewest whole days of log this plan fits."""
        start = dt.datetime(2000, 1, 3)
        for days in range(1, _MAX_SPAN):
            end = start + dt.timedelta(days=days)
            if self.fits(start, end - dt.timedelta(seconds=1), end.date()):
                return days
        return _MAX_SPAN

    def values(self, params: Params) -> dict[str, int | None]:
        """The plan as the profile's dotted keys (the warm-up stays empty when it is the
        profile's default, the longest feature window)."""
        warmup = self.warmup_days
        if params.anchors.warmup_days is None and warmup == max(params.features.windows):
            warmup = None
        return {
            "anchors.horizon_days": self.horizon_days,
            "anchors.repurchase_gap_days": self.repurchase_gap_days,
            "anchors.warmup_days": warmup,
            "anchors.spacing_days": self.spacing_days,
            "splits.test_anchors": self.test_anchors,
            "splits.validation_anchors": self.validation_anchors,
        }

    def describe(self) -> str:
        """The plan in words, for the book and the terminal."""
        return (
            f"a {self.horizon_days}-day horizon, a {self.warmup_days}-day warm-up, "
            f"{_count(self.test_anchors, 'test anchor')} and "
            f"{_count(self.validation_anchors, 'validation anchor')}, "
            f"{_count(self.spacing_days, 'day')} apart"
        )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def candidate_plans(params: Params) -> Iterator[AnchorPlan]:
    """Plans from the profile's own towards the smallest, in order of preference."""
    asked = AnchorPlan.of(params)
    horizons = [asked.horizon_days] + [h for h in HORIZONS if h < asked.horizon_days]
    shorter = {w for w in params.features.windows if w < asked.warmup_days}
    warmups = [asked.warmup_days, *sorted(shorter, reverse=True)]
    counts = [(asked.test_anchors, asked.validation_anchors)] + [
        (t, v) for t, v in SPLIT_COUNTS if t <= asked.test_anchors and v <= asked.validation_anchors
    ]
    spacings = [asked.spacing_days] + [s for s in SPACINGS if s < asked.spacing_days]
    explicit_embargo = params.splits.embargo_days
    for horizon in horizons:
        gap = asked.repurchase_gap_days
        if horizon != asked.horizon_days:  # keep the gap's share of the horizon
            gap = max(1, min(horizon, round(gap * horizon / asked.horizon_days)))
        embargo = max(explicit_embargo or horizon, horizon)
        for warmup in warmups:
            for test, validation in dict.fromkeys(counts):
                for spacing in spacings:
                    yield AnchorPlan(horizon, gap, warmup, spacing, test, validation, embargo)


def fit_plan(
    first: dt.datetime, last: dt.datetime, study_end: dt.date, params: Params
) -> AnchorPlan | None:
    """The first plan of :func:`candidate_plans` that fits this log (None when none does)."""
    for plan in candidate_plans(params):
        if plan.fits(first, last, study_end):
            return plan
    return None


def smallest_plan(params: Params) -> AnchorPlan:
    """The last resort of :func:`candidate_plans`: the fewest days any plan needs."""
    *_, last = candidate_plans(params)
    return last


def resolve_anchors(params: Params, first: dt.datetime, last: dt.datetime) -> Params:
    """The profile with ``fit: auto`` applied on a log from ``first`` to ``last``: its own
    plan when it fits, else the closest that does (recorded in ``anchors.asked``), else
    unchanged (the Features chapter then says what the log lacks)."""
    if params.anchors.fit != "auto" or not params.study.is_resolved:
        return params
    plan = fit_plan(first, last, params.study.end_date, params)  # type: ignore[arg-type]
    if plan is None or plan == AnchorPlan.of(params):
        return params
    return params.with_anchor_plan(plan.values(params))


def order_unknown(time_resolution: str) -> str | None:
    """Why the order of events within a visit is unknown (None when times are fine enough)."""
    if TIME_RESOLUTIONS.index(time_resolution) <= TIME_RESOLUTIONS.index("minute"):
        return None
    return (
        f"times are recorded to the {time_resolution} only, so the order of events within a "
        "visit is unknown; journeys need times to the minute or finer."
    )


def journeys_unavailable(
    time_resolution: str, event_types: list[str], by_category: bool
) -> str | None:
    """Why journeys cannot be mined from this log (None when they can): the order of events
    within a visit must be known, and a visit needs more than one kind of activity."""
    unordered = order_unknown(time_resolution)
    if unordered:
        return unordered
    if len(event_types) < 2 and not by_category:
        kind = event_types[0].replace("_", " ") if event_types else "event"
        return (
            f"every event is a {kind}, so a visit has no journey between activities "
            "(journeys.by_category: true makes each category an activity)."
        )
    return None


def changes(params: Params) -> str:
    """The values ``fit: auto`` replaced, as ``key before -> after`` (empty when none)."""
    parts = []
    for key, before in params.anchors.asked.items():
        section, name = key.split(".")
        after = getattr(getattr(params, section), name)
        if name == "warmup_days":
            before = max(params.features.windows) if before is None else before
            after = params.warmup_days
        parts.append(f"{key} {before} -> {after}")
    return "; ".join(parts)


def changed_sentence(params: Params) -> str | None:
    """What ``fit: auto`` changed, in words (None when the profile's plan was kept)."""
    if not params.anchors.asked:
        return None
    return (
        "The log is too short for the profile's anchor plan, so anchors.fit: auto chose the "
        f"closest plan that fits it ({changes(params)}). Set anchors.fit: fixed to keep the "
        "profile's values (the modelling chapters are then skipped on this log)."
    )


@dataclass(frozen=True)
class Answer:
    """One question of the book, whether this log can answer it, and why or how."""

    question: str
    answerable: bool
    detail: str

    @property
    def topic(self) -> str:
        """The question in two or three words (``dormancy in the next 14 days``)."""
        q = self.question
        for start, topic in _TOPICS.items():
            if q.startswith(start):
                # the horizon questions keep their "in the next N days"
                return topic + (q[len(start) :] if start.startswith("Who") else "")
        return q


_TOPICS = {
    "How much activity": "activity",
    "How users move": "journeys",
    "Who will be dormant": "dormancy",
    "Who will buy": "purchases",
    "What customers spend": "customer value",
}


def log_questions(
    params: Params,
    first: dt.datetime,
    last: dt.datetime,
    *,
    event_counts: dict[str, int],
    priced_purchases: int,
    time_resolution: str,
) -> list[Answer]:
    """What this log supports given its span, columns and time resolution: behaviour,
    journeys, churn and purchase in the horizon, and customer value, with the parameter
    values that would fit when a question cannot be answered as asked."""
    span = (last.date() - first.date()).days + 1
    kinds = sorted(t for t, n in event_counts.items() if n > 0)
    answers = [
        Answer(
            "How much activity, when, in which groups",
            True,
            f"{_count(span, 'day')} of {', '.join(kinds)} events"
            + (
                "; by day only, since times are recorded to the day."
                if time_resolution == "day"
                else "."
            ),
        )
    ]
    why = journeys_unavailable(time_resolution, kinds, params.journeys.by_category)
    answers.append(Answer("How users move through a visit (journeys)", why is None, why or "Yes."))

    plan, asked = AnchorPlan.of(params), params.anchors.asked
    study_end = params.study.end_date
    fits = isinstance(study_end, dt.date) and plan.fits(first, last, study_end)
    horizon = plan.horizon_days
    purchases = event_counts.get("purchase", 0)
    few_buyers = purchases < params.models.min_class_count
    if fits and few_buyers:
        # one benchmark fits both tasks: without buyers to learn from there is no model
        churn = Answer(
            f"Who will be dormant in the next {horizon} days",
            False,
            "the models are fitted for dormancy and purchases together, and purchases cannot "
            "be modelled here (below); the Features chapter still shows how many users go "
            "dormant at each anchor.",
        )
    elif fits:
        how = f"with {plan.describe()}"
        if asked:
            how += f" (chosen by anchors.fit: auto: {changes(params)})"
        churn = Answer(f"Who will be dormant in the next {horizon} days", True, how + ".")
    else:
        smallest = smallest_plan(params)
        need, least = plan.days_needed(), smallest.days_needed()
        detail = (
            f"the log spans {_count(span, 'day')}; {plan.describe()} need about "
            f"{_count(need, 'day')}."
        )
        if least <= span:  # only with fit: fixed can a smaller plan fit and not be chosen
            detail += " Set anchors.fit: auto to use the closest plan that fits."
        else:
            detail += (
                f" The smallest plan this book tries ({smallest.describe()}) needs about "
                f"{_count(least, 'day')}: use a longer log."
            )
        churn = Answer(f"Who will be dormant in the next {horizon} days", False, detail)
    answers.append(churn)
    if not fits:
        answers.append(
            Answer(
                f"Who will buy in the next {horizon} days",
                False,
                "as for dormancy: " + churn.detail,
            )
        )
    elif few_buyers:
        answers.append(
            Answer(
                f"Who will buy in the next {horizon} days",
                False,
                f"the log has {purchases:,} purchase events, fewer than the "
                f"{params.models.min_class_count} buyers a test split needs "
                "(models.min_class_count; data.mapping.event_types maps the log's codes).",
            )
        )
    else:
        answers.append(
            Answer(
                f"Who will buy in the next {horizon} days", True, f"{purchases:,} purchase events."
            )
        )
    if priced_purchases == 0:
        answers.append(
            Answer(
                "What customers spend and are worth",
                False,
                "no purchase has a price: map data.mapping.columns.price. Priority, the value "
                "segments, the campaign and the targeting list need it.",
            )
        )
    else:
        answers.append(
            Answer(
                "What customers spend and are worth",
                churn.answerable,
                f"{priced_purchases:,} priced purchases"
                + ("." if churn.answerable else "; the value model needs the dormancy model."),
            )
        )
    return answers


def questions_markdown(answers: list[Answer]) -> str:
    """The answers as a Markdown list for the intro and the Data page."""
    lines = []
    for a in answers:
        mark = "**Yes**" if a.answerable else "**No**"
        detail = a.detail if a.detail != "Yes." else ""
        lines.append(f"- {a.question}: {mark}{': ' + detail if detail else '.'}")
    return "\n".join(lines)


def questions_sentence(answers: list[Answer]) -> str:
    """The answers in one short sentence for the intro: how many questions the log
    answers, and which."""
    yes = [a.topic for a in answers if a.answerable]
    if len(yes) == len(answers):
        return f"This log answers all {len(answers)} of the book's questions."
    if not yes:
        return f"This log answers none of the book's {len(answers)} questions."
    return (
        f"This log answers {len(yes)} of the book's {len(answers)} questions: "
        + ", ".join(yes)
        + "."
    )


def warmup_clause(warmup_days: int, windows: list[int]) -> str:
    """Why the first anchor comes where it does, true for warm-ups shorter than a window."""
    longer = [w for w in windows if w > warmup_days]
    if not longer:
        return "so that even the longest feature window sees a full history"
    named = ", ".join(str(w) for w in longer)
    return (
        f"{warmup_days} days into the log; the {named}-day feature windows reach back before "
        "the log starts at the first anchors, where they count only the days the log holds"
    )
