"""What a log can answer, and the anchor plan ``anchors.fit: auto`` chooses for it."""

from __future__ import annotations

import datetime as dt

import pytest

from shoplog.config.params import ParamsError, load_params, validate_params
from shoplog.dataset import fit
from shoplog.dataset.splits import TimelineError

START = dt.date(2019, 10, 1)


def on_log(days: int, *overrides: str):
    """The default profile on a log of ``days`` whole days, with the plan fitted."""
    end = START + dt.timedelta(days=days)
    params = load_params(
        "default", [f"study.start_date={START}", f"study.end_date={end}", *overrides]
    )
    first = dt.datetime.combine(START, dt.time(0, 4))
    last = dt.datetime.combine(end, dt.time()) - dt.timedelta(minutes=2)
    return fit.resolve_anchors(params, first, last), first, last


def questions(params, first, last, **kw):
    facts = {
        "event_counts": {"view": 900, "cart": 80, "purchase": 60},
        "priced_purchases": 60,
        "time_resolution": "second",
    }
    return {
        a.question.split(" in the next")[0]: a
        for a in fit.log_questions(params, first, last, **{**facts, **kw})
    }


def test_anchors_auto_is_short_for_fit_auto_and_fixed_is_kept() -> None:
    assert validate_params({"anchors": "auto"}).anchors.fit == "auto"
    assert validate_params({"anchors": "fixed"}).anchors.fit == "fixed"
    with pytest.raises(ParamsError, match=r"anchors\.fit"):
        validate_params({"anchors": {"fit": "sometimes"}})


def test_a_log_long_enough_keeps_the_profiles_plan_unchanged() -> None:
    params, _, _ = on_log(273)  # the default book's nine months
    assert params.anchors.asked == {}
    assert fit.AnchorPlan.of(params) == fit.AnchorPlan.of(load_params("default"))
    assert fit.changed_sentence(params) is None


def test_the_default_plan_needs_about_225_days_and_the_smallest_28() -> None:
    """225 = 90 warm-up + 7 train + 30 embargo + 2 x 7 validation + 30 embargo (rounded to
    the 7-day grid: 35) + 3 x 7 test + 30 horizon, minus the shared first day."""
    params = load_params("default")
    assert fit.AnchorPlan.of(params).days_needed() == 225
    smallest = fit.smallest_plan(params)
    assert (smallest.horizon_days, smallest.warmup_days, smallest.spacing_days) == (7, 7, 1)
    assert smallest.days_needed() == 28


@pytest.mark.parametrize("days", [28, 40, 60, 90, 120, 200, 224])
def test_a_short_log_gets_the_longest_horizon_that_fits_and_it_really_fits(days) -> None:
    params, first, last = on_log(days)
    plan = fit.AnchorPlan.of(params)
    timeline = plan.timeline(first, last, params.study.end_date)  # raises if it does not fit
    assert timeline.anchors_of("train") and len(timeline.anchors_of("test")) == plan.test_anchors
    assert params.anchors.asked  # something had to change
    # no longer horizon than the chosen one fits, whatever the other settings
    for other in fit.candidate_plans(load_params("default")):
        if other.horizon_days > plan.horizon_days:
            assert not other.fits(first, last, params.study.end_date)
    assert params.anchors.repurchase_gap_days <= params.anchors.horizon_days
    sentence = fit.changed_sentence(params)
    assert sentence is not None and "anchors.fit: fixed" in sentence
    assert f"anchors.horizon_days 30 -> {plan.horizon_days}" in sentence or plan.horizon_days == 30


def test_resolution_is_idempotent_and_remembers_what_the_profile_asked() -> None:
    params, first, last = on_log(60)
    assert params.anchors.asked["anchors.horizon_days"] == 30
    assert params.anchors.asked["anchors.warmup_days"] is None  # the default, not a number
    again = fit.resolve_anchors(params, first, last)
    assert again == params


def test_fixed_keeps_the_profile_and_the_timeline_refuses() -> None:
    params, first, last = on_log(60, "anchors.fit=fixed")
    assert params.anchors.asked == {} and params.anchors.horizon_days == 30
    with pytest.raises(TimelineError):
        fit.AnchorPlan.of(params).timeline(first, last, params.study.end_date)
    churn = questions(params, first, last)["Who will be dormant"]
    assert not churn.answerable
    assert "the log spans 60 days" in churn.detail and "need about 225 days" in churn.detail
    assert "Set anchors.fit: auto" in churn.detail


def test_a_nine_day_log_says_plainly_it_cannot_answer_churn() -> None:
    params, first, last = on_log(9)
    assert params.anchors.asked == {}  # nothing fits, so nothing is changed
    answers = questions(params, first, last)
    churn = answers["Who will be dormant"]
    assert churn.question == "Who will be dormant in the next 30 days"
    assert not churn.answerable
    assert "the log spans 9 days" in churn.detail
    assert "needs about 28 days: use a longer log" in churn.detail
    assert not answers["Who will buy"].answerable
    assert not answers["What customers spend and are worth"].answerable
    assert answers["How much activity, when, in which groups"].answerable


def test_answers_follow_the_columns_and_the_resolution() -> None:
    params, first, last = on_log(120)
    answers = questions(params, first, last)
    assert all(a.answerable for a in answers.values())
    assert answers["Who will be dormant"].question.endswith(f"{params.anchors.horizon_days} days")
    assert "chosen by anchors.fit: auto" in answers["Who will be dormant"].detail
    hourly = questions(params, first, last, time_resolution="hour")
    journeys = hourly["How users move through a visit (journeys)"]
    assert not journeys.answerable
    assert journeys.detail.startswith("times are recorded to the hour only, so the order")
    minutes = questions(params, first, last, time_resolution="minute")
    assert minutes["How users move through a visit (journeys)"].answerable
    daily = questions(params, first, last, time_resolution="day")
    assert "by day only" in daily["How much activity, when, in which groups"].detail
    views = questions(params, first, last, event_counts={"view": 500}, priced_purchases=0)
    one_type = views["How users move through a visit (journeys)"]
    assert not one_type.answerable and one_type.detail.startswith("every event is a view, so")
    assert (
        not views["Who will buy"].answerable and "0 purchase events" in views["Who will buy"].detail
    )
    assert not views["What customers spend and are worth"].answerable
    # one benchmark fits both tasks: no buyers, no dormancy model either, and it says so
    assert not views["Who will be dormant"].answerable
    assert "fitted for dormancy and purchases together" in views["Who will be dormant"].detail
    assert "data.mapping.columns.price" in views["What customers spend and are worth"].detail
    few = questions(params, first, last, event_counts={"view": 500, "purchase": 12})
    assert "fewer than the 30 buyers" in few["Who will buy"].detail


def test_the_markdown_lists_every_answer_once() -> None:
    params, first, last = on_log(9)
    text = fit.questions_markdown(
        fit.log_questions(
            params,
            first,
            last,
            event_counts={"view": 5},
            priced_purchases=0,
            time_resolution="day",
        )
    )
    lines = text.splitlines()
    assert len(lines) == 5 and all(line.startswith("- ") for line in lines)
    assert lines[0].endswith(
        "**Yes**: 9 days of view events; by day only, since times are recorded to the day."
    )
    assert sum("**No**" in line for line in lines) == 4


def test_the_warmup_clause_is_true_for_short_warmups() -> None:
    assert fit.warmup_clause(90, [7, 14, 30, 90]).startswith("so that even the longest")
    short = fit.warmup_clause(14, [7, 14, 30, 90])
    assert short.startswith("14 days into the log; the 30, 90-day feature windows reach back")


def test_the_intro_sentence_names_what_the_log_answers() -> None:
    params, first, last = on_log(9)
    facts = {"priced_purchases": 0, "time_resolution": "day"}
    answers = fit.log_questions(params, first, last, event_counts={"view": 5}, **facts)
    assert fit.questions_sentence(answers) == (
        "This log answers 1 of the book's 5 questions: activity."
    )
    assert [a.topic for a in answers][2:] == [
        "dormancy in the next 30 days",
        "purchases in the next 30 days",
        "customer value",
    ]
    params, first, last = on_log(120)
    answers = fit.log_questions(
        params,
        first,
        last,
        event_counts={"view": 5, "purchase": 40},
        priced_purchases=40,
        time_resolution="second",
    )
    assert fit.questions_sentence(answers) == "This log answers all 5 of the book's questions."
