"""Anchors and out-of-time splits: a pure function of the parameters and the log's span.

Anchors are midnights (UTC) every ``spacing_days``. Features at an anchor use
events strictly before it; labels use ``[anchor, anchor + horizon)``. The grid is
laid backwards from the last anchor whose whole horizon is observed, down to the
end of the warm-up, so every labelled anchor is honest and the first ones see
full feature windows.

The latest ``test_anchors`` anchors form the test set, the ``validation_anchors``
before them (at least one embargo earlier) validation, and every anchor at least
one embargo before validation is training. The embargo is at least one horizon,
so no training label window reaches into validation and no validation label
window into test. One extra, unlabelled ``score`` anchor at the end of the
observed log is where the targeting list is made.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoplog.config.params import Params
from shoplog.files import atomic_write_json

if TYPE_CHECKING:  # pandas loads only where a frame is made
    import pandas as pd

SPLIT_ORDER = ("train", "embargo", "validation", "test", "score")


class TimelineError(ValueError):
    """The log is too short for the anchors and splits asked for; the message says what to do."""


@dataclass(frozen=True)
class Timeline:
    """Every anchor with its role, and the dates that decided them."""

    first_event: dt.datetime
    observed_end: dt.datetime
    warmup_end: dt.datetime
    horizon_days: int
    embargo_days: int
    spacing_days: int
    anchors: list[dt.datetime] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    # the parameter sections the features were computed with (read by the models chapter
    # and recorded in the model cards, so scoring computes features the same way)
    feature_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def anchors_of(self, *roles: str) -> list[dt.datetime]:
        """Anchors whose role is one of ``roles``, in time order."""
        return [a for a, r in zip(self.anchors, self.roles, strict=True) if r in roles]

    @property
    def labelled(self) -> list[dt.datetime]:
        """Anchors whose label window is fully observed (train, validation, test)."""
        return self.anchors_of("train", "validation", "test")

    @property
    def scored(self) -> list[dt.datetime]:
        """Anchors at which features are computed: the labelled ones and the score anchor."""
        return self.anchors_of("train", "validation", "test", "score")

    @property
    def score_anchor(self) -> dt.datetime:
        return self.anchors_of("score")[0]

    def frame(self) -> pd.DataFrame:
        """One row per anchor: role, label window end, and whether it is labelled."""
        import pandas as pd

        horizon = pd.Timedelta(days=self.horizon_days)
        df = pd.DataFrame({"anchor": pd.to_datetime(self.anchors), "split": self.roles})
        df["label_end"] = df["anchor"] + horizon
        df["labelled"] = df["split"].isin(["train", "validation", "test"])
        return df

    def to_json(self, path: str | Path) -> None:
        data = asdict(self)
        atomic_write_json(path, data, default=str, indent=2)

    @classmethod
    def from_json(cls, path: str | Path) -> Timeline:
        data = json.loads(Path(path).read_text())
        for key in ("first_event", "observed_end", "warmup_end"):
            data[key] = dt.datetime.fromisoformat(data[key])
        data["anchors"] = [dt.datetime.fromisoformat(a) for a in data["anchors"]]
        return cls(**data)


def midnight_after(moment: dt.datetime) -> dt.datetime:
    """The first midnight strictly after ``moment`` (the end of its day)."""
    day = dt.datetime.combine(moment.date(), dt.time())
    return day + dt.timedelta(days=1)


def make_timeline(
    first_event: dt.datetime,
    last_event: dt.datetime,
    study_end: dt.date,
    *,
    spacing_days: int,
    horizon_days: int,
    warmup_days: int,
    validation_anchors: int,
    test_anchors: int,
    embargo_days: int,
) -> Timeline:
    """The anchor grid and its split roles, from the log's first and last events.

    ``observed_end`` is the midnight after the last event, capped at the study end:
    the log is taken as complete up to there, so a horizon ending later is unobserved.
    """
    if embargo_days < horizon_days:
        raise TimelineError(
            f"embargo_days ({embargo_days}) must be at least horizon_days ({horizon_days})"
        )
    study_end_dt = dt.datetime.combine(study_end, dt.time())
    observed_end = min(midnight_after(last_event), study_end_dt)
    first_day = dt.datetime.combine(first_event.date(), dt.time())
    # the first anchor must leave a full warm-up of log before it
    warmup_end = first_day + dt.timedelta(days=warmup_days)
    step = dt.timedelta(days=spacing_days)
    horizon = dt.timedelta(days=horizon_days)
    embargo = dt.timedelta(days=embargo_days)
    last_labelled = observed_end - horizon
    grid: list[dt.datetime] = []
    anchor = last_labelled
    while anchor >= warmup_end:
        grid.append(anchor)
        anchor -= step
    grid.reverse()
    needed = test_anchors + validation_anchors + 1
    roles = _assign_roles(grid, test_anchors, validation_anchors, embargo)
    n_train = roles.count("train")
    if len(grid) < needed or n_train == 0 or roles.count("validation") < validation_anchors:
        span = (observed_end - first_day).days
        raise TimelineError(
            f"the log spans {span} days ({first_day:%Y-%m-%d} to {observed_end:%Y-%m-%d}), "
            f"too short for a {warmup_days}-day warm-up, {test_anchors} test and "
            f"{validation_anchors} validation anchors every {spacing_days} days with "
            f"{embargo_days}-day embargoes and a {horizon_days}-day horizon (at least one "
            f"training anchor is needed; there were {len(grid)} anchors). Use a longer log "
            "(study.start_date/end_date) or fewer or closer anchors (splits.test_anchors, "
            "splits.validation_anchors, anchors.spacing_days), or a shorter horizon, "
            "warm-up or embargo (anchors.horizon_days, anchors.warmup_days, splits.embargo_days)."
        )
    anchors = list(grid)
    # anchors after the last labelled one have unobserved horizons; the last is scored
    score = observed_end
    anchors.append(score)
    roles.append("score")
    return Timeline(
        first_event=first_event,
        observed_end=observed_end,
        warmup_end=warmup_end,
        horizon_days=horizon_days,
        embargo_days=embargo_days,
        spacing_days=spacing_days,
        anchors=anchors,
        roles=roles,
    )


def _assign_roles(
    grid: list[dt.datetime], n_test: int, n_validation: int, embargo: dt.timedelta
) -> list[str]:
    """Latest first: test, then validation an embargo earlier, then train another embargo back."""
    roles = ["embargo"] * len(grid)
    i = len(grid) - 1
    for role, n in (("test", n_test), ("validation", n_validation)):
        for _ in range(n):
            if i < 0:
                return roles
            roles[i] = role
            i -= 1
        first = grid[i + 1]  # the earliest anchor of this set
        while i >= 0 and grid[i] > first - embargo:
            i -= 1
    while i >= 0:
        roles[i] = "train"
        i -= 1
    return roles


def timeline_for_params(
    first_event: dt.datetime, last_event: dt.datetime, params: Params
) -> Timeline:
    """The timeline a parameter profile gives on a log spanning these two events."""
    if not params.study.is_resolved:
        raise ValueError(
            "the study window is still 'auto': use the profile the run resolved at ingestion "
            "(outputs/run_profile.json, or Params.with_study)"
        )
    timeline = make_timeline(
        first_event,
        last_event,
        params.study.end_date,
        spacing_days=params.anchors.spacing_days,
        horizon_days=params.anchors.horizon_days,
        warmup_days=params.warmup_days,
        validation_anchors=params.splits.validation_anchors,
        test_anchors=params.splits.test_anchors,
        embargo_days=params.embargo_days,
    )
    return replace(timeline, feature_settings=feature_settings(params))


def feature_settings(params: Params) -> dict[str, dict[str, Any]]:
    """The parameter sections that define the features: session gap, lookback, windows."""
    return {
        "sessions": {"gap_minutes": params.sessions.model_dump(mode="json")["gap_minutes"]},
        "anchors": {"lookback_days": params.anchors.lookback_days},
        "features": params.features.model_dump(mode="json"),
    }
