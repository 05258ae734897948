"""Anchors and out-of-time splits: honest horizons, embargoes, and clear refusals."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoplog.config.params import ParamsError, load_params
from shoplog.dataset.splits import TimelineError, make_timeline, timeline_for_params

START = dt.datetime(2019, 10, 1, 0, 7)


@st.composite
def timeline_args(draw: st.DrawFn) -> dict:
    horizon = draw(st.integers(1, 40))
    return {
        "days": draw(st.integers(10, 400)),
        "spacing_days": draw(st.integers(1, 30)),
        "horizon_days": horizon,
        "warmup_days": draw(st.integers(0, 120)),
        "validation_anchors": draw(st.integers(1, 5)),
        "test_anchors": draw(st.integers(1, 5)),
        "embargo_days": horizon + draw(st.integers(0, 20)),
        "cut": draw(st.booleans()),
    }


@settings(max_examples=300, derandomize=True, deadline=None)
@given(timeline_args())
def test_splits_never_overlap_and_horizons_are_observed(args: dict) -> None:
    last = START + dt.timedelta(days=args.pop("days"), hours=5)
    # the study may end before the log's last day (then the study end caps what is observed)
    study_end = (last - dt.timedelta(days=3)).date() if args.pop("cut") else dt.date(2021, 1, 1)
    try:
        tl = make_timeline(START, last, study_end, **args)
    except TimelineError as exc:
        assert "too short" in str(exc)
        return
    horizon = dt.timedelta(days=args["horizon_days"])
    train, val, test = (tl.anchors_of(r) for r in ("train", "validation", "test"))
    assert len(val) == args["validation_anchors"] and len(test) == args["test_anchors"]
    assert train, "a timeline always has training anchors"
    # no validation or test anchor before the end of the last training label window
    assert max(train) + horizon <= min(val)
    assert max(val) + horizon <= min(test)
    assert max(val) + dt.timedelta(days=args["embargo_days"]) <= min(test)
    # every labelled horizon is observed; the first anchor leaves a full warm-up
    assert all(a + horizon <= tl.observed_end for a in tl.labelled)
    assert min(tl.anchors) >= dt.datetime(2019, 10, 1) + dt.timedelta(days=args["warmup_days"])
    assert tl.observed_end <= dt.datetime.combine(study_end, dt.time())
    # anchors are midnights, evenly spaced, in order, and the score anchor is last
    grid = tl.anchors[:-1]
    assert all(a.time() == dt.time() for a in tl.anchors)
    assert all((b - a).days == args["spacing_days"] for a, b in itertools.pairwise(grid))
    assert tl.roles[-1] == "score" and tl.score_anchor == tl.observed_end


def test_default_profile_timeline() -> None:
    params = load_params("default").with_study(dt.date(2019, 10, 1), dt.date(2020, 7, 1))
    tl = timeline_for_params(
        dt.datetime(2019, 10, 1, 0, 1), dt.datetime(2020, 6, 30, 23, 59), params
    )
    assert tl.anchors_of("test")[-1] == dt.datetime(2020, 6, 1)
    assert tl.anchors[0] == dt.datetime(2019, 12, 30)  # after the 90-day warm-up
    assert tl.score_anchor == dt.datetime(2020, 7, 1)


def test_short_log_says_what_to_change() -> None:
    with pytest.raises(TimelineError, match=r"too short.*splits\.test_anchors"):
        make_timeline(
            START,
            START + dt.timedelta(days=60),
            dt.date(2021, 1, 1),
            spacing_days=7,
            horizon_days=30,
            warmup_days=30,
            validation_anchors=3,
            test_anchors=4,
            embargo_days=30,
        )


def test_timeline_round_trips_through_json(tmp_path) -> None:
    tl = make_timeline(
        START,
        START + dt.timedelta(days=200),
        dt.date(2021, 1, 1),
        spacing_days=7,
        horizon_days=14,
        warmup_days=30,
        validation_anchors=2,
        test_anchors=2,
        embargo_days=14,
    )
    tl.to_json(tmp_path / "t.json")
    assert type(tl).from_json(tmp_path / "t.json") == tl


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("splits.embargo_days=10", r"embargo_days \(10\) is shorter than anchors.horizon_days"),
        ("anchors.repurchase_gap_days=40", r"repurchase_gap_days \(40\) exceeds"),
        ("features.windows=[0, 7]", r"features.windows"),
    ],
)
def test_inconsistent_windows_are_refused(override: str, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        load_params("default", [override])


def test_params_round_trip_through_the_run_profile(tmp_path) -> None:
    params = load_params("ci", ["features.windows=[3, 9]", "splits.embargo_days=20", "seed=7"])
    path = tmp_path / "run_profile.json"
    path.write_text(json.dumps(params.model_dump(mode="json")))
    assert type(params).from_run(path) == params
    with pytest.raises(FileNotFoundError, match="shoplog run"):
        type(params).from_run(tmp_path / "missing.json")
    assert params.embargo_days == 20 and params.warmup_days == 9
    assert load_params("default").embargo_days == 30
