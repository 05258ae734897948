"""The study window, chosen from the log when the profile says ``auto``.

The window runs from the first to the last *full* day of the log's dense span:

- **Stray dates.** Active days are grouped into runs separated by more than
  :data:`STRAY_GAP_DAYS` quiet days. Runs that together hold less than
  :data:`STRAY_SHARE` of the rows (a test order months before launch, a clock reset
  to 1970) are set aside: counted as outside the window, and named on the Data page.
  One stray row would otherwise stretch every daily series and comparison.
- **Partial days.** A first day whose first event comes late (or a last day whose last
  event comes early) compared with the log's pace is cut: a day with a few hours of
  data would read as a collapse in activity. The tolerance is an hour, or ten times
  the typical gap between events on a median day, whichever is longer. Logs with
  date-only times have no partial days, and a window is never cut to nothing.

An explicit date on either side is kept as given; ``auto`` resolves only the other.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shoplog.config.params import AUTO, StudyParams
from shoplog.events.engine import run_sql

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as DuckDBBackend

# quiet days that separate a stray run of dates from the rest of the log
STRAY_GAP_DAYS = 14
# runs holding less than this share of the rows, together, are set aside
STRAY_SHARE = 0.01
# a partial first or last day misses more than this much of the day (at least)
MIN_TOLERANCE = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@dataclass
class StudyWindow:
    """The window ingestion used, and why: chosen from the log or given, days set aside."""

    start: dt.date
    end: dt.date  # exclusive
    auto: bool
    # stray dates outside the dense span, and partial days cut off: {"day", "rows"}
    set_aside: list[dict] = field(default_factory=list)
    partial: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class _Day:
    day: dt.date
    rows: int
    first: dt.datetime
    last: dt.datetime


def study_window(
    con: DuckDBBackend, table: str, usable: str, study: StudyParams, resolution: str
) -> StudyWindow:
    """The window for the rows of ``table`` matching ``usable`` (SQL), per ``study``."""
    if study.is_resolved:
        return StudyWindow(study.start_date, study.end_date, auto=False)  # type: ignore[arg-type]
    rows = run_sql(
        con,
        f"SELECT CAST(event_time AS DATE), count(*), min(event_time), max(event_time) "
        f"FROM {table} WHERE {usable} GROUP BY 1 ORDER BY 1",
    )
    return window_from_days(rows, study, resolution)


def window_from_days(
    rows: list[tuple[dt.date, int, dt.datetime, dt.datetime]], study: StudyParams, resolution: str
) -> StudyWindow:
    """The window from the log's days (day, rows, first and last time), per ``study``; any
    engine can count the days, so a dataset read in place gets the same window."""
    if study.is_resolved:
        return StudyWindow(study.start_date, study.end_date, auto=False)  # type: ignore[arg-type]
    days = [_Day(*r) for r in sorted(rows)]
    if study.start_date != AUTO:
        days = [d for d in days if d.day >= study.start_date]
    if study.end_date != AUTO:
        days = [d for d in days if d.day < study.end_date]
    if not days:
        start = study.start_date if study.start_date != AUTO else dt.date(1970, 1, 1)
        end = study.end_date if study.end_date != AUTO else start + DAY
        return StudyWindow(start, end, auto=True)  # type: ignore[arg-type]
    dense, stray = _dense_span(days)
    partial: list[_Day] = []
    if resolution != "day" and len(dense) >= 3:
        dense, partial = _cut_partial_days(dense, study)
    start = study.start_date if study.start_date != AUTO else dense[0].day
    end = study.end_date if study.end_date != AUTO else dense[-1].day + DAY
    outside = [d for d in stray if not start <= d.day < end]  # type: ignore[operator]
    return StudyWindow(
        start,  # type: ignore[arg-type]
        end,  # type: ignore[arg-type]
        auto=True,
        set_aside=[{"day": d.day.isoformat(), "rows": d.rows} for d in outside],
        partial=[{"day": d.day.isoformat(), "rows": d.rows} for d in partial],
    )


def _dense_span(days: list[_Day]) -> tuple[list[_Day], list[_Day]]:
    """The days from the first to the last run that is not stray, and the stray days."""
    runs: list[list[_Day]] = [[days[0]]]
    for before, day in itertools.pairwise(days):
        if (day.day - before.day).days > STRAY_GAP_DAYS:
            runs.append([])
        runs[-1].append(day)
    size = [sum(d.rows for d in run) for run in runs]
    main = max(range(len(runs)), key=size.__getitem__)
    # the smallest runs are set aside while together they stay under the share
    budget = STRAY_SHARE * sum(size)
    kept = {main}
    for i in sorted((i for i in range(len(runs)) if i != main), key=size.__getitem__):
        if size[i] <= budget:
            budget -= size[i]
        else:
            kept.add(i)
    first, last = min(kept), max(kept)
    dense = [d for r in runs[first : last + 1] for d in r]
    stray = [d for r in runs[:first] + runs[last + 1 :] for d in r]
    return dense, stray


def _cut_partial_days(dense: list[_Day], study: StudyParams) -> tuple[list[_Day], list[_Day]]:
    """Drop a first (last) day the log covers only from late (until early) in the day."""
    median_rows = statistics.median(d.rows for d in dense)
    tolerance = max(MIN_TOLERANCE, 10 * DAY / median_rows)
    partial = []
    first, last = dense[0], dense[-1]
    midnight = dt.datetime.combine(first.day, dt.time())
    if study.start_date == AUTO and first.first - midnight > tolerance:
        partial.append(first)
        dense = dense[1:]
    end_of_day = dt.datetime.combine(last.day, dt.time()) + DAY
    if study.end_date == AUTO and end_of_day - last.last > tolerance:
        partial.append(last)
        dense = dense[:-1]
    return dense, partial
