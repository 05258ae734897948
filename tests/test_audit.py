"""The leakage audit can fail: events appended at and after the anchor leave a leak-free
table unchanged, and a feature that reads them is caught."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
from featurelogs import ANCHORS, canonical, small_params

from shoplog.dataset import audit
from shoplog.dataset import table as dataset
from shoplog.events import engine


def _log() -> pd.DataFrame:
    rows = []
    for u in range(6):
        for day in range(1, 12):
            for hour in (9, 23):
                rows.append(
                    {
                        "event_time": dt.datetime(2020, 1, day, hour, 59, 59),
                        "event_type": ["view", "cart", "purchase"][(u + day) % 3],
                        "product_id": f"p{(u * day) % 4}",
                        "category_id": "c1",
                        "brand": "b1",
                        "price": 2.5 + u,
                        "user_id": f"u{u}",
                    }
                )
    return canonical(rows)


def test_appended_future_events_change_nothing_and_a_leak_is_caught(monkeypatch) -> None:
    params = small_params()
    con = engine.connect(params.engine)
    try:
        events = con.create_table("events", _log(), temp=True, overwrite=True)
        anchor = ANCHORS[1]
        table = dataset.build_table(con, events, [anchor], ["x"], params, anchor, labels=False)
        assert len(table) == 6
        change = audit.future_events_check(con, events, table, params, anchor, 4, seed=1)
        assert len(change) > 20 and change.max() <= 1e-9, change[change > 1e-9]

        real = dataset.build_table

        def leaky(con_, events_, anchors, *args, **kwargs):
            """A table whose 1-day view count also counts the anchor's instant onwards."""
            out = real(con_, events_, anchors, *args, **kwargs)
            a = pd.Timestamp(anchors[0])
            seen = con_.execute(events_.filter(events_.event_time >= a))
            extra = seen[seen["event_type"] == "view"].groupby("user_id").size()
            out["views_1d"] = out["views_1d"] + out["user_id"].map(extra).fillna(0).to_numpy()
            return out

        monkeypatch.setattr(audit, "build_table", leaky)
        caught = audit.future_events_check(con, events, table, params, anchor, 4, seed=1)
        assert caught["views_1d"] > 0.5
        assert caught.drop("views_1d").max() <= 1e-9
    finally:
        con.disconnect()


def test_the_sequences_audit_passes_and_catches_a_sequence_that_reads_the_anchor_day(
    monkeypatch,
) -> None:
    from shoplog.dataset import sequences

    params = small_params()
    con = engine.connect(params.engine)
    try:
        events = con.create_table("events", _log(), temp=True, overwrite=True)
        anchor = ANCHORS[1]
        users = ["u0", "u2", "u4"]
        assert audit.sequence_future_check(con, events, users, anchor, 5, 30.0) == 0

        real = sequences.daily_activity

        def leaky(events_, anchors, days, gap):
            """Sequences whose window ends a day late: the anchor's day is read."""
            later = [a + dt.timedelta(days=1) for a in anchors]
            out = real(events_, later, days, gap)
            return out.mutate(anchor=out.anchor - ibis.interval(days=1))

        monkeypatch.setattr(sequences, "daily_activity", leaky)
        assert audit.sequence_future_check(con, events, users, anchor, 5, 30.0) > 0
    finally:
        con.disconnect()
