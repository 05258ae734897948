"""The feature contract as a family table: expansion, recipes and the data dictionary."""

from __future__ import annotations

from shoplog.config.params import FeatureParams
from shoplog.dataset import contract as C
from shoplog.schema import EVENT_SHORT

SETTINGS = FeatureParams(windows=[3, 14], profile_window_days=5, distinct_window_days=9)


def test_families_expand_window_by_window_in_table_order() -> None:
    names = [s.name for s in C.feature_contract(SETTINGS)]
    # history first, then every 3-day feature before any 14-day one
    assert names[:2] == ["days_since_last_event", "days_since_last_purchase"]
    windowed = [n for n in names if n.endswith(("_3d", "_14d")) and not n.startswith("trend")]
    assert windowed.index("aov_3d") < windowed.index("views_14d")
    assert [n for n in names if n.endswith("_3d")][:4] == [f"{s}_3d" for s in EVENT_SHORT.values()]
    # the settings' windows reach every family
    assert {"products_9d", "cart_per_view_5d", "trend_7d", "trend_30d"} <= set(names)
    # the trend compares two windows, so it reads twice as far back as its name says
    trend = next(s for s in C.feature_contract(SETTINGS) if s.name == "trend_30d")
    assert trend.window == 60


def test_every_recipe_is_made_of_aggregates_the_engine_computes() -> None:
    sums = C.window_sums(SETTINGS, lookback_days=20)
    session_aggregates = {"_abandoned", "_cart_sessions", *C.TOPS}
    for spec in C.feature_contract(SETTINGS):
        for part in C.windowed_inputs(spec):
            assert part in sums or part in session_aggregates or part in C.session_names(5), (
                spec.name,
                part,
            )


def test_a_subset_needs_only_its_own_sums() -> None:
    needed = C.needed_sums(SETTINGS, 20, ["cart_per_view_5d", "aov_14d"])
    assert set(needed) == {"_scored", "_carts_p", "_views_p", "spend_14d", "orders_14d"}
    # concentration pulls in its per-hour parts
    hours = C.needed_aggregates(SETTINGS, ["top_hour_share_5d"])
    assert {"_top_hour", "_hour0", "_hour23", "_events_p"} <= hours


def test_the_dictionary_has_one_row_per_family_and_event() -> None:
    contract = C.feature_contract(SETTINGS)
    missing = {s.name: 0.0 for s in contract} | {"aov_3d": 0.4, "aov_14d": 0.2}
    table = C.dictionary(contract, missing).set_index("Feature")
    per_event = sum("{event}" in f.template for f in C.FAMILIES)
    assert len(table) == len(C.FAMILIES) + per_event * (len(EVENT_SHORT) - 1)
    assert table.loc["aov_{w}d", "Windows"] == "3, 14"
    assert table.loc["aov_{w}d", "Missing (max)"] == 0.4
    assert table.loc["views_{w}d", "Meaning"] == "Views (events) in the last w days."
    assert table.loc["trend_{w}d", "Windows"] == "7, 30"
    assert table.loc["tenure_days", "Windows"] == "all history"
