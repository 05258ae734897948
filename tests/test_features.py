"""Features and labels: the engine equals the pandas reference, and never looks ahead."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from featurelogs import (
    ANCHORS,
    END,
    T0,
    canonical,
    close_connection,
    engine_table,
    event_logs,
    event_times,
    small_params,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shoplog.dataset import features as F
from shoplog.dataset import reference
from shoplog.dataset.contract import feature_contract
from shoplog.dataset.labels import LABELS

PARAMS = small_params()
CONTRACT = feature_contract(PARAMS.features)
NAMES = [s.name for s in CONTRACT]
OBSERVED_END = dt.datetime.combine(END, dt.time())
SLOW = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    # shrinking engine calls is slow; the failing example is printed unshrunk
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module", autouse=True)
def _shared_connection():
    yield
    close_connection()


def reference_table(events: pd.DataFrame, anchors=ANCHORS, observed_end=OBSERVED_END):
    return reference.reference_table(events, anchors, PARAMS, observed_end)


def assert_same_table(engine: pd.DataFrame, reference: pd.DataFrame, columns) -> None:
    assert list(engine["user_id"].astype(str)) == list(reference["user_id"].astype(str))
    assert list(pd.to_datetime(engine["anchor"])) == list(pd.to_datetime(reference["anchor"]))
    for col in columns:
        a = engine[col].to_numpy(dtype=float)
        b = reference[col].to_numpy(dtype=float)
        same = np.isclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True)
        assert same.all(), (col, engine.loc[~same, ["user_id", "anchor", col]], b[~same])


# the two forms of the windowed sums: running totals per day (many anchors) and totals per
# period fanned out to the anchors (a few); the test logs' 3 anchors take either by this
FORMS = {"days": 0, "periods": len(ANCHORS)}


@contextmanager
def windowed_form(form: str) -> Iterator[None]:
    """Compute the windowed sums in ``form`` (see :data:`FORMS`)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(F, "PERIOD_MAX_ANCHORS", FORMS[form])
        yield


@pytest.mark.parametrize("form", FORMS)
@SLOW
@given(event_logs())
def test_engine_equals_reference(form: str, events: pd.DataFrame) -> None:
    with windowed_form(form):
        engine = engine_table(events, PARAMS)
    reference = reference_table(events)
    assert_same_table(engine, reference, [*NAMES, *LABELS])


@pytest.mark.parametrize("form", FORMS)
def test_history_long_before_the_windows_reach_is_whole(form: str) -> None:
    """Days before the windows' reach are folded into one row: whole-history features
    (first event, last purchase, sessions, orders, spend, visit gaps) still see them, and
    the windows do not."""
    day = dt.timedelta(days=1)
    events = _log(
        (dt.datetime(2019, 6, 1, 10), "old", "purchase", 30.0),
        (dt.datetime(2019, 6, 1, 10, 5), "old", "view"),
        (dt.datetime(2019, 8, 10, 9), "old", "cart"),
        (dt.datetime(2019, 8, 11, 9), "old", "purchase", 12.5),
        (ANCHORS[0] - 2 * day, "old", "view"),
        (ANCHORS[0] - day, "old", "view"),
        (ANCHORS[1] - day, "new", "purchase", 4.0),
        (ANCHORS[2] - day, "old", "cart"),
    )
    with windowed_form(form):
        engine = engine_table(events, PARAMS)
    reference = reference_table(events)
    assert_same_table(engine, reference, [*NAMES, *LABELS])
    old = engine[engine["user_id"].astype(str) == "old"].iloc[0]
    assert old["tenure_days"] > 200 and old["orders_total"] == 2
    assert old["spend_total"] == 42.5 and old["days_since_last_purchase"] > 140


def test_the_forms_are_chosen_by_the_number_of_anchors() -> None:
    offsets = {0, 1, 3}
    few = [ANCHORS[0] + dt.timedelta(days=k) for k in range(F.PERIOD_MAX_ANCHORS)]
    edges = F.period_edges(few, offsets)
    assert edges == sorted({a - dt.timedelta(days=o) for a in few for o in offsets})
    assert F.period_edges([*few, few[-1] + dt.timedelta(days=1)], offsets) is None


@SLOW
@given(event_logs(), st.lists(event_times(), min_size=1, max_size=10), st.data())
def test_events_at_or_after_the_anchor_never_change_features(
    events: pd.DataFrame, times: list[dt.datetime], data: st.DataObject
) -> None:
    anchor = ANCHORS[1]
    later = [t for t in times if t >= anchor] or [anchor]
    extra = canonical(
        [
            {
                "event_time": t,
                "event_type": data.draw(st.sampled_from(["view", "cart", "purchase"])),
                "product_id": "p9",
                "category_id": "c9",
                "brand": "b9",
                "price": 5.0,
                "user_id": data.draw(st.sampled_from(["u1", "u2", "u4"])),
            }
            for t in later
        ]
    )
    before = engine_table(events, PARAMS, anchors=[anchor])
    after = engine_table(pd.concat([events, extra], ignore_index=True), PARAMS, anchors=[anchor])
    assert_same_table(after, before, NAMES)


@SLOW
@given(event_logs(), st.lists(st.integers(0, 5 * 86400), min_size=1, max_size=10))
def test_events_after_the_horizon_never_change_labels(
    events: pd.DataFrame, offsets: list[int]
) -> None:
    anchor = ANCHORS[0]
    horizon_end = anchor + dt.timedelta(days=PARAMS.anchors.horizon_days)
    extra = canonical(
        [
            {
                "event_time": horizon_end + dt.timedelta(seconds=s),
                "event_type": "purchase",
                "product_id": "p1",
                "price": 3.0,
                "user_id": user,
            }
            for s in offsets
            for user in ("u1", "u2", "u3")
        ]
    )
    before = engine_table(events, PARAMS, anchors=[anchor])
    after = engine_table(pd.concat([events, extra], ignore_index=True), PARAMS, anchors=[anchor])
    assert_same_table(after, before, [*NAMES, *LABELS])


def _log(*rows: tuple) -> pd.DataFrame:
    """A log from (time, user, type[, price]) tuples."""
    records = []
    for row in rows:
        time, user, etype, *rest = row
        records.append(
            {
                "event_time": time,
                "user_id": user,
                "event_type": etype,
                "price": rest[0] if rest else 1.0,
                "product_id": "p1",
                "category_id": "c1",
                "brand": "b1",
            }
        )
    return canonical(records)


def test_an_event_exactly_at_the_anchor_is_future_not_past() -> None:
    anchor = ANCHORS[1]
    events = _log(
        (anchor - dt.timedelta(days=1), "a", "view"),
        (anchor, "a", "purchase", 7.0),
        (anchor, "only_at_anchor", "view"),
    )
    table = engine_table(events, PARAMS, anchors=[anchor])
    # the user whose only event is at the anchor has no past: not scored at that anchor
    assert list(table["user_id"]) == ["a"]
    row = table.iloc[0]
    assert row["purchases_1d"] == 0 and row["views_1d"] == 1
    # ... and the purchase at the anchor is in the label window
    assert row["dormant"] == 0 and row["purchase"] == 1 and row["spend_next"] == 7.0
    assert_same_table(table, reference_table(events, anchors=[anchor]), [*NAMES, *LABELS])


def test_empty_windows_give_zero_counts_and_missing_ratios() -> None:
    anchor = ANCHORS[2]
    events = _log((anchor - dt.timedelta(days=2, hours=5), "a", "view"))
    row = engine_table(events, PARAMS, anchors=[anchor]).iloc[0]
    assert row["views_1d"] == 0 and row["sessions_1d"] == 0 and row["active_days_1d"] == 0
    assert row["views_3d"] == 1 and row["sessions_3d"] == 1
    assert np.isnan(row["aov_1d"]) and np.isnan(row["days_since_last_purchase"])
    assert np.isnan(row["purchase_per_cart_3d"]) and np.isnan(row["mean_visit_gap_days"])
    assert row["days_since_last_event"] == pytest.approx(2 + 5 / 24)
    assert row["dormant"] == 1 and row["purchase"] == 0


def test_an_empty_spend_window_is_exactly_zero_after_inexact_prices() -> None:
    anchor = ANCHORS[2]
    start = anchor - dt.timedelta(days=2, hours=12)
    prices = [0.1, 0.2, 0.7, 19.99, 0.3]
    events = _log(
        *[(start + dt.timedelta(minutes=i), "a", "purchase", p) for i, p in enumerate(prices)]
    )
    row = engine_table(events, PARAMS, anchors=[anchor]).iloc[0]
    # running sums differ by float residue; the window sums must not go negative
    assert row["spend_1d"] == 0.0
    assert row["spend_3d"] == pytest.approx(sum(prices))


@settings(max_examples=8, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate])
@given(event_logs(types=["purchase"]))
def test_purchase_only_log(events: pd.DataFrame) -> None:
    engine = engine_table(events, PARAMS)
    assert_same_table(engine, reference_table(events), [*NAMES, *LABELS])
    if len(engine):
        assert engine["views_3d"].eq(0).all()
        assert engine["cart_per_view_3d"].isna().all()


def test_log_without_session_column_gives_the_same_features() -> None:
    anchor = ANCHORS[1]
    base = anchor - dt.timedelta(days=1)
    events = _log(
        (base, "a", "view"),
        (base + dt.timedelta(minutes=20), "a", "cart"),
        (base + dt.timedelta(minutes=80), "a", "view"),
        (base + dt.timedelta(minutes=85), "b", "view"),
    )
    with_sessions = events.assign(user_session=pd.array(["x", "x", "x", "y"], dtype="string"))
    no_column = events.drop(columns="user_session")
    a = engine_table(with_sessions, PARAMS, anchors=[anchor])
    b = engine_table(no_column, PARAMS, anchors=[anchor])
    assert_same_table(a, b, [*NAMES, *LABELS])
    # sessions are re-derived from the 30-minute gap, whatever the log's column says
    assert a.set_index("user_id").loc["a", "sessions_1d"] == 2


def test_columns_and_dtypes_follow_the_contract() -> None:
    events = _log(
        (ANCHORS[0] - dt.timedelta(hours=3), "a", "view"),
        (ANCHORS[0] - dt.timedelta(hours=2), "a", "purchase", 4.0),
    )
    table = engine_table(events, PARAMS)
    assert list(table.columns) == ["user_id", "anchor", *NAMES, *LABELS, "split"]
    for spec in CONTRACT:
        assert str(table[spec.name].dtype) == spec.dtype, spec.name


def test_a_subset_of_features_equals_the_full_table() -> None:
    events = _log(
        (ANCHORS[0] - dt.timedelta(hours=30), "a", "view"),
        (ANCHORS[0] - dt.timedelta(hours=3), "a", "cart"),
        (ANCHORS[0] - dt.timedelta(hours=2), "b", "purchase", 4.0),
    )
    names = ["views_1d", "categories_2d", "days_since_last_event", "spend_3d"]
    full = engine_table(events, PARAMS)
    part = engine_table(events, PARAMS, names=names, labels=False)
    # columns come in contract order, whatever order they were asked in
    assert list(part.columns) == ["user_id", "anchor", *[n for n in NAMES if n in names], "split"]
    assert_same_table(part, full, names)


# subsets that fold different stretch columns (stretch_columns): the yardstick's kind
# (openings only, no session windows), session numbering without pieces, other reads
SUBSETS = [
    ["views_1d", "purchases_3d", "sessions_3d", "spend_3d", "days_since_last_event",
     "days_since_last_purchase", "categories_2d"],
    ["orders_3d", "sessions_total", "mean_visit_gap_days", "aov_1d"],
    ["days_since_last_cart", "tenure_days", "view_price_mean_3d", "top_hour_share_3d"],
]  # fmt: skip


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("names", SUBSETS, ids=["openings", "orders", "other"])
@settings(SLOW, max_examples=6)
@given(event_logs(), st.booleans())
def test_a_subset_of_features_with_or_without_labels_equals_the_reference(
    names: list[str], form: str, events: pd.DataFrame, labels: bool
) -> None:
    # a subset folds and numbers only the stretch columns it reads: whatever is left
    # out, what is computed must not change
    with windowed_form(form):
        part = engine_table(events, PARAMS, names=names, labels=labels)
    wanted = [n for n in NAMES if n in names] + (list(LABELS) if labels else [])
    assert list(part.columns) == ["user_id", "anchor", *wanted, "split"]
    assert_same_table(part, reference_table(events), wanted)


def test_unobserved_horizon_gets_no_label() -> None:
    anchor = ANCHORS[2]
    events = _log((anchor - dt.timedelta(hours=1), "a", "view"))
    # the log is observed until one day after the anchor: a 2-day horizon is not
    observed = anchor + dt.timedelta(days=1)
    table = engine_table(events, PARAMS, anchors=[anchor], observed_end=observed)
    assert table[list(LABELS)].isna().all().all()


def test_session_table_on_a_hand_made_log() -> None:
    from shoplog.events import engine
    from shoplog.events.sessions import session_table

    t = dt.datetime(2020, 1, 2, 10)
    events = _log(
        (t, "a", "view"),
        (t + dt.timedelta(minutes=10), "a", "cart"),
        (t + dt.timedelta(minutes=10), "a", "purchase"),  # same second: funnel order decides
        (t + dt.timedelta(minutes=45), "a", "view"),  # 35 idle minutes: a new session
        (t, "b", "remove_from_cart"),
    )
    con = engine.connect()
    table = con.execute(session_table(con.create_table("ev", events), 30))
    con.disconnect()
    table = table.sort_values(["user_id", "start"]).reset_index(drop=True)
    assert list(table["user_id"]) == ["a", "a", "b"]
    first = table.iloc[0]
    assert (first["n_events"], first["n_views"], first["n_carts"], first["n_purchases"]) == (
        3,
        1,
        1,
        1,
    )
    assert first["duration_seconds"] == 600 and bool(first["purchased"])
    assert first["first_event_type"] == "view" and first["last_event_type"] == "purchase"
    assert table.iloc[1]["n_events"] == 1 and not bool(table.iloc[1]["purchased"])
    assert table.iloc[2]["first_event_type"] == "remove_from_cart"


def test_events_at_the_same_time_after_a_gap_share_one_session() -> None:
    """Ties after a gap must not split: the session number counts the tie group as peers.

    With a row-by-row running count, the engine's unstable sort of tied rows left some
    tied events in the previous session (about 1 user in 10,000 on a shuffled log, so
    the test uses 100,000 users).
    """
    from shoplog.events import engine
    from shoplog.events.sessions import session_table

    users, tied = 100_000, 4
    t = dt.datetime(2020, 1, 2, 10)
    times = [t] + [t + dt.timedelta(hours=2)] * tied
    kinds = ["view", "view", "cart", "purchase", "view"]
    events = pd.DataFrame(
        {
            "user_id": np.repeat([f"u{u}" for u in range(users)], tied + 1),
            "event_time": np.tile(np.array(times, dtype="datetime64[us]"), users),
            "event_type": np.tile(kinds, users),
        }
    ).sample(frac=1.0, random_state=0)
    con = engine.connect()
    table = con.execute(session_table(con.create_table("ev", events), 30))
    con.disconnect()
    assert len(table) == 2 * users
    assert sorted(table["n_events"].value_counts().items()) == [(1, users), (tied, users)]
    assert (table["duration_seconds"] == 0).all()


def test_the_reach_ends_at_the_last_anchor_or_its_horizon() -> None:
    from shoplog.dataset.table import reach_end

    anchors = [dt.datetime(2020, 1, 8), dt.datetime(2020, 1, 1)]
    assert reach_end(anchors, 14, labels=True) == dt.datetime(2020, 1, 22)
    assert reach_end(anchors, 14, labels=False) == dt.datetime(2020, 1, 8)


def test_spark_batches_keep_users_times_anchors_within_the_budget() -> None:
    from shoplog.dataset.table import SPARK_BATCH_PAIRS, spark_batch

    assert spark_batch(2_095, 12) == 12  # the CI log: one batch
    assert spark_batch(456_621, 12) == 3  # 10M events: what fit an 8 GB heap
    assert spark_batch(SPARK_BATCH_PAIRS * 10, 12) == 1  # never fewer than one anchor
    assert spark_batch(0, 5) == 5
    for users in (1, 999, 50_000, 333_333):
        batch = spark_batch(users, 40)
        assert batch == 40 or users * batch <= SPARK_BATCH_PAIRS < users * (batch + 1)


@pytest.mark.parametrize("gap_minutes", [0.001, 0.5, 7, 30, 45, 90, 200])
def test_sessions_of_folded_stretches_are_the_sessions_of_events(gap_minutes: float) -> None:
    """Folding events into stretches before numbering sessions changes no session: the same
    sessions (first and last time, events, purchases) as event by event, one order each
    session that buys, and its start; for gaps under a second, under and over an hour."""
    from shoplog.events import engine
    from shoplog.events.sessions import session_numbers

    rng = np.random.default_rng(7)
    n = 6000
    start = np.datetime64("2020-01-01T00:00:00", "us")
    # clustered times with ties and sub-second parts, over a few days
    offsets = np.sort(rng.integers(0, 4 * 86400, n // 40)).repeat(40)
    offsets = offsets * 1_000_000 + rng.integers(0, 3 * 3600 * 1_000_000, n) // rng.choice(
        [1, 10, 1000], n
    )
    offsets[rng.random(n) < 0.1] //= 1_000_000 * 60  # some ties at whole minutes
    events = pd.DataFrame(
        {
            "user_id": rng.choice([f"u{u}" for u in range(30)], n),
            "event_time": start + offsets.astype("timedelta64[us]"),
            "event_type": rng.choice(["view", "cart", "purchase"], n, p=[0.8, 0.1, 0.1]),
            "price": rng.choice([1.5, np.nan], n),
        }
    )
    con = engine.connect()
    ev = con.create_table("ev", events)
    per_event = session_numbers(ev, gap_minutes)
    ours = per_event.group_by(["user_id", "session"]).aggregate(
        first=per_event.event_time.min(),
        last=per_event.event_time.max(),
        n=per_event.count(),
        buys=(per_event.event_type == "purchase").sum().cast("int64"),
    )
    st_ = F.sessioned_stretches(F.fold_stretches(ev, gap_minutes), gap_minutes)
    folded = st_.group_by(["user_id", "session"]).aggregate(
        first=st_.t_first.min(),
        last=st_.t_last.max(),
        n=st_.n_events.sum(),
        buys=st_.n_purchases.sum(),
        orders=st_.is_order.sum(),
        opens=st_.is_sess_first.sum(),
        start=st_.sess_start.min(),
        start_max=st_.sess_start.max(),
    )
    a = con.execute(ours.order_by(["user_id", "session"]))
    b = con.execute(folded.order_by(["user_id", "session"]))
    con.disconnect()
    assert len(a) > 30  # sessions do break
    cols = ["user_id", "session", "first", "last", "n", "buys"]
    pd.testing.assert_frame_equal(a[cols], b[cols], check_dtype=False)
    assert (b["opens"] == 1).all()
    assert (b["orders"] == (b["buys"] > 0)).all()
    assert (b["start"] == b["first"]).all() and (b["start_max"] == b["first"]).all()


def test_distinct_items_per_period_equal_distinct_items_per_day(monkeypatch) -> None:
    """Items are kept once per period between window edges, not per day: the distinct
    counts are those of the per-day rows (many anchors fall back to days)."""

    rng = np.random.default_rng(3)
    n = 4000
    events = pd.DataFrame(
        {
            "event_time": pd.Timestamp(T0)
            + pd.to_timedelta(rng.integers(0, 13 * 86400, n), unit="s"),
            "user_id": rng.choice([f"u{u}" for u in range(25)], n),
            "event_type": rng.choice(["view", "cart", "purchase"], n, p=[0.8, 0.15, 0.05]),
            "price": 1.0,
            "product_id": rng.choice([f"p{i}" for i in range(40)], n),
            "category_id": rng.choice([f"c{i}" for i in range(8)] + [""], n),
            "brand": rng.choice([f"b{i}" for i in range(5)] + [None], n),
        }
    )
    anchors = [dt.datetime(2020, 1, d) for d in (4, 5, 7, 8, 9, 12)]
    names = ["products_2d", "categories_2d", "brands_2d"]
    periods = engine_table(events, PARAMS, anchors=anchors, names=names, labels=False)
    monkeypatch.setattr(F, "MAX_ITEM_EDGES", 0)
    per_day = engine_table(events, PARAMS, anchors=anchors, names=names, labels=False)
    assert periods[names].to_numpy().sum() > 0
    assert_same_table(periods, per_day, names)
    assert_same_table(periods, reference_table(events, anchors), names)
