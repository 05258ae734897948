"""The Explore chapter's sentences and period choices, true on logs unlike the default."""

from __future__ import annotations

import pandas as pd

from shoplog.behaviour import eda


def _hours(first: str, n: int, values: list[int] | None = None) -> pd.Series:
    index = pd.date_range(first, periods=n, freq="h")
    return pd.Series(values or [100] * n, index=index)


def test_a_partly_covered_last_hour_is_not_compared() -> None:
    totals = _hours("2019-10-01 10:00", 3, [100, 100, 17])
    # the log ends ten minutes into the last hour: that bucket is partial
    whole = eda.whole_periods(totals, "h", "2019-10-01 10:00:05", "2019-10-01 12:10:00", "second")
    assert list(whole) == [100, 100]
    assert eda.volume_change(whole, "hour") == (
        "The second half of the log has as many events per hour as the first."
    )
    # the unfiltered comparison would have reported a collapse
    assert "fewer" in eda.volume_change(totals, "hour")


def test_periods_no_finer_than_the_times_are_never_partial() -> None:
    days = pd.Series([5, 7, 9], index=pd.date_range("2019-10-01", periods=3, freq="D"))
    # date-only times: every event at midnight, the last day is whole
    whole = eda.whole_periods(days, "D", "2019-10-01", "2019-10-03", "day")
    assert list(whole) == [5, 7, 9]
    assert eda.volume_change(whole, "day") == (
        "The second half of the log has 60% more events per day than the first (over 3 whole days)."
    )
    assert eda.volume_change(whole.iloc[:1], "day").startswith("The log holds 1 whole day, too few")


def test_group_sentences_without_brands_or_categories() -> None:
    empty = eda.conversion_by_group(pd.DataFrame(columns=["group", "step", "sessions"]))
    assert list(empty.columns) == ["view", "cart / view", "purchase / view"] and empty.empty
    assert eda.group_conversion_sentence(None) == ""
    assert eda.missing_groups_sentence(["brands"]) == (
        "The log has no brands, so conversion by brand is not shown (map a column with "
        "data.mapping.columns.brand)."
    )
    one = pd.DataFrame({"view": [10], "cart / view": [0.5], "purchase / view": [0.1]}, index=["a"])
    assert eda.group_conversion_sentence(one) == (
        "The one category with views, a, converts 10.00% of them."
    )


def test_the_label_paragraph_fits_a_log_without_purchases() -> None:
    from shoplog.dataset import audit

    anchors = pd.to_datetime(["2020-01-01", "2020-01-08", "2020-01-15"])
    table = pd.DataFrame(
        {
            "user_id": ["a", "b", "a", "b", "a", "b"],
            "anchor": anchors.repeat(2),
            "split": ["train"] * 4 + ["test"] * 2,
            "dormant": [1.0, 0.0, 0.0, 0.0, 1.0, 1.0],
            "purchase": 0.0,
            "repurchase_churn": float("nan"),
        }
    )
    text = audit.label_summary(table, 30)
    assert text == (
        "In training, 25.0% of scored users go dormant in the next 30 days (100.0% in test); no "
        "scored user buys in the horizon of a training anchor. No training row has a recent "
        "purchase, so the repurchase-gap label is empty. Across anchors the dormant rate ranges "
        "from 0.0% to 100.0%."
    )


def test_sections_that_need_finer_times_say_why_they_are_not_shown() -> None:
    assert eda.too_coarse("second", "minute", "x") is None
    assert eda.too_coarse("hour", "hour", "x") is None
    assert eda.too_coarse("day", "hour", "activity by hour of the day") == (
        "Times in this log are recorded to the day only, so activity by hour of the day "
        "cannot be measured and is not shown."
    )


def test_the_event_types_caption_names_only_the_bars_there_are() -> None:
    one = pd.DataFrame({"event_type": ["view"], "events": [30874]})
    assert (
        eda.event_types_caption(one)
        == "*Figure: the log holds one event type, view (30,874 events).*"
    )
    shop = pd.DataFrame({"event_type": ["view", "cart", "purchase"], "events": [1000, 90, 20]})
    assert eda.event_types_caption(shop) == (
        "*Figure: how many events of each type the log holds, on a logarithmic axis, because "
        "the most common type outnumbers the rarest by an order of magnitude or more. Compare "
        "the cart and purchase bars with the view bar to see how steeply the funnel narrows.*"
    )
    buys = pd.DataFrame({"event_type": ["purchase", "remove_from_cart"], "events": [50, 9]})
    assert eda.event_types_caption(buys) == (
        "*Figure: how many events of each type the log holds, on a logarithmic axis.*"
    )


def test_sessions_at_coarse_resolutions_are_named_for_what_they_are() -> None:
    assert eda.session_meaning("second", 30) == eda.session_meaning("minute", 30) == ""
    assert eda.session_meaning("day", 30).endswith("all of a user's events in one day.")
    assert eda.session_meaning("hour", 30).endswith("all of a user's events in one hour.")
    assert "active hours no more than 90 minutes apart" in eda.session_meaning("hour", 90)


def test_a_change_that_prints_alike_is_not_reported_as_a_change() -> None:
    from shoplog.publish.report import change_text

    assert change_text(0.17141, 0.17138, ".4f") == "stays at 0.1714"
    assert change_text(0.1714, 0.1690, ".4f") == "moves from 0.1714 to 0.1690"
