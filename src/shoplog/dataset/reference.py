"""A plain pandas implementation of every feature and label, written for obviousness.

It is the yardstick the engine is tested against (and timed against in
``bench/features.py``). For each anchor it literally cuts the log at the anchor,
re-derives sessions on what is left, and computes each feature from its one-line
definition with ``groupby``. Slow and memory-hungry by design; never used by the book.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from shoplog.config.params import FeatureParams, Params
from shoplog.dataset.contract import TREND_WINDOWS, feature_contract, is_zero_filled
from shoplog.dataset.labels import LABELS
from shoplog.schema import EVENT_SHORT

DAY = pd.Timedelta(days=1)


def derive_sessions(events: pd.DataFrame, gap_minutes: float) -> pd.Series:
    """Session number per event: a user's next event more than the gap later opens a new one."""
    ev = events.sort_values(["user_id", "event_time"], kind="stable")
    gap = ev.groupby("user_id")["event_time"].diff()
    opens = gap.isna() | (gap > pd.Timedelta(minutes=gap_minutes))
    number = opens.astype(int).groupby(ev["user_id"]).cumsum()
    return number.reindex(events.index)


def _days(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / 86400.0


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num = num.astype(float)
    den = den.astype(float)
    return (num / den).where(den > 0)


def _features_at(
    events: pd.DataFrame,
    anchor: pd.Timestamp,
    settings: FeatureParams,
    gap_minutes: float,
    lookback_days: int,
) -> pd.DataFrame:
    before = events[events["event_time"] < anchor].copy()
    recent = before[before["event_time"] >= anchor - lookback_days * DAY]
    users = pd.Index(sorted(recent["user_id"].unique()), name="user_id")
    before = before[before["user_id"].isin(users)].copy()
    before["session"] = derive_sessions(before, gap_minutes)
    out = pd.DataFrame(index=users)
    by_user = before.groupby("user_id")
    is_type = {t: before["event_type"] == t for t in EVENT_SHORT}
    t = before["event_time"]

    out["days_since_last_event"] = _days(anchor - by_user["event_time"].max())
    out["days_since_last_purchase"] = _days(
        anchor - t[is_type["purchase"]].groupby(before["user_id"]).max()
    )
    out["days_since_last_cart"] = _days(
        anchor - t[is_type["cart"]].groupby(before["user_id"]).max()
    )
    out["tenure_days"] = _days(anchor - by_user["event_time"].min())

    before["is_cart"] = is_type["cart"]
    before["is_purchase"] = is_type["purchase"]
    sessions = before.groupby(["user_id", "session"]).agg(
        start=("event_time", "min"),
        end=("event_time", "max"),
        depth=("event_time", "size"),
        carts=("is_cart", "sum"),
        purchases=("is_purchase", "sum"),
    )
    first_purchase = before[is_type["purchase"]].groupby(["user_id", "session"])["event_time"].min()
    sessions["first_purchase"] = first_purchase.reindex(sessions.index)
    sessions = sessions.reset_index()
    s_by_user = sessions.groupby("user_id")
    out["sessions_total"] = s_by_user.size()
    out["orders_total"] = (sessions["purchases"] > 0).groupby(sessions["user_id"]).sum()
    spend = before["price"].where(is_type["purchase"], 0.0).fillna(0.0)
    out["spend_total"] = spend.groupby(before["user_id"]).sum()
    n_sessions = s_by_user.size()
    span = _days(s_by_user["start"].max() - s_by_user["start"].min())
    gap = (span / (n_sessions - 1)).where(n_sessions >= 2)
    out["mean_visit_gap_days"] = gap
    out["gap_ratio"] = (_days(anchor - s_by_user["start"].max()) / gap).where(gap > 0)

    for w in settings.windows:
        inside = before["event_time"] >= anchor - w * DAY
        sub = before[inside]
        for etype, short in EVENT_SHORT.items():
            out[f"{short}_{w}d"] = (sub["event_type"] == etype).groupby(sub["user_id"]).sum()
        started = sessions[sessions["start"] >= anchor - w * DAY]
        out[f"sessions_{w}d"] = started.groupby("user_id").size()
        out[f"active_days_{w}d"] = (
            sub["event_time"].dt.normalize().groupby(sub["user_id"]).nunique()
        )
        ordered = sessions[sessions["first_purchase"] >= anchor - w * DAY]
        out[f"orders_{w}d"] = ordered.groupby("user_id").size()
        out[f"spend_{w}d"] = spend[inside].groupby(sub["user_id"]).sum()
        out[f"aov_{w}d"] = _ratio(out[f"spend_{w}d"].fillna(0), out[f"orders_{w}d"].fillna(0))

    d = settings.distinct_window_days
    sub = before[before["event_time"] >= anchor - d * DAY]
    for kind, column in (
        ("products", "product_id"),
        ("categories", "category_id"),
        ("brands", "brand"),
    ):
        values = sub[column].astype("string")
        keep = values.notna() & (values != "")
        out[f"{kind}_{d}d"] = values[keep].groupby(sub.loc[keep, "user_id"]).nunique()

    p = settings.profile_window_days
    inside = before["event_time"] >= anchor - p * DAY
    sub = before[inside]
    counts = {
        short: (sub["event_type"] == etype)
        .groupby(sub["user_id"])
        .sum()
        .reindex(users, fill_value=0)
        for etype, short in EVENT_SHORT.items()
    }
    out[f"cart_per_view_{p}d"] = _ratio(counts["carts"], counts["views"])
    out[f"purchase_per_cart_{p}d"] = _ratio(counts["purchases"], counts["carts"])
    out[f"remove_per_cart_{p}d"] = _ratio(counts["removes"], counts["carts"])
    started = sessions[sessions["start"] >= anchor - p * DAY]
    with_cart = started[started["carts"] > 0]
    out[f"cart_abandonment_{p}d"] = (
        (with_cart["purchases"] == 0).groupby(with_cart["user_id"]).mean()
    )
    minutes = (started["end"] - started["start"]).dt.total_seconds() / 60.0
    out[f"session_minutes_mean_{p}d"] = minutes.groupby(started["user_id"]).mean()
    out[f"session_minutes_max_{p}d"] = minutes.groupby(started["user_id"]).max()
    out[f"session_events_mean_{p}d"] = started.groupby("user_id")["depth"].mean()
    out[f"session_events_max_{p}d"] = started.groupby("user_id")["depth"].max().astype(float)
    views = sub[(sub["event_type"] == "view") & sub["price"].notna()]
    out[f"view_price_mean_{p}d"] = views.groupby("user_id")["price"].mean()
    buys = sub[(sub["event_type"] == "purchase") & sub["price"].notna()]
    out[f"purchase_price_mean_{p}d"] = buys.groupby("user_id")["price"].mean()

    for tw in TREND_WINDOWS:
        last = before["event_time"] >= anchor - tw * DAY
        prior = (before["event_time"] >= anchor - 2 * tw * DAY) & ~last
        n_last = last.groupby(before["user_id"]).sum().reindex(users, fill_value=0)
        n_prior = prior.groupby(before["user_id"]).sum().reindex(users, fill_value=0)
        out[f"trend_{tw}d"] = (n_last + 1) / (n_prior + 1)

    weekday = sub.groupby(["user_id", sub["event_time"].dt.day_of_week]).size()
    hour = sub.groupby(["user_id", sub["event_time"].dt.hour]).size()
    total = sub.groupby("user_id").size()
    out[f"top_weekday_share_{p}d"] = weekday.groupby(level=0).max() / total
    out[f"top_hour_share_{p}d"] = hour.groupby(level=0).max() / total

    out = out.reset_index()
    out.insert(1, "anchor", anchor)
    return out


def reference_features(
    events: pd.DataFrame,
    anchors: Sequence[dt.datetime],
    settings: FeatureParams,
    *,
    gap_minutes: float,
    lookback_days: int,
) -> pd.DataFrame:
    """Every contract feature for users active in the lookback before each anchor."""
    contract = feature_contract(settings)
    frames = [
        _features_at(events, pd.Timestamp(a), settings, gap_minutes, lookback_days) for a in anchors
    ]
    df = pd.concat(frames, ignore_index=True)
    df["user_id"] = df["user_id"].astype("string")
    df["anchor"] = pd.to_datetime(df["anchor"]).astype("datetime64[us]")
    for spec in contract:
        if spec.name not in df:
            df[spec.name] = np.nan
        if is_zero_filled(spec):
            df[spec.name] = df[spec.name].fillna(0)
        df[spec.name] = df[spec.name].astype(spec.dtype)
    return df[["user_id", "anchor", *[s.name for s in contract]]]


def reference_labels(
    events: pd.DataFrame,
    keys: pd.DataFrame,
    *,
    horizon_days: int,
    repurchase_gap_days: int,
    observed_end: dt.datetime,
) -> pd.DataFrame:
    """Labels for each (user_id, anchor) of ``keys`` from events in ``[anchor, anchor + h)``."""
    horizon = horizon_days * DAY
    gap = repurchase_gap_days * DAY
    purchases = events[events["event_type"] == "purchase"]
    frames = []
    for anchor, group in keys.groupby("anchor"):
        anchor = pd.Timestamp(anchor)
        users = pd.Index(group["user_id"])
        out = pd.DataFrame({"user_id": users, "anchor": anchor})
        if anchor + horizon > pd.Timestamp(observed_end):
            frames.append(out.assign(**dict.fromkeys(LABELS, np.nan)))
            continue
        future = events[
            (events["event_time"] >= anchor) & (events["event_time"] < anchor + horizon)
        ]
        buys = purchases[
            (purchases["event_time"] >= anchor) & (purchases["event_time"] < anchor + horizon)
        ]
        n_events = future.groupby("user_id").size().reindex(users, fill_value=0)
        n_buys = buys.groupby("user_id").size().reindex(users, fill_value=0)
        spend = buys["price"].fillna(0).groupby(buys["user_id"]).sum().reindex(users, fill_value=0)
        last_buy = (
            purchases[purchases["event_time"] < anchor].groupby("user_id")["event_time"].max()
        )
        last_buy = last_buy.reindex(users)
        first_next = buys.groupby("user_id")["event_time"].min().reindex(users)
        recent_buyer = last_buy.notna() & (last_buy > anchor - gap)
        bought_again = first_next.notna() & (first_next < last_buy + gap)
        out["dormant"] = (n_events == 0).to_numpy(dtype=float)
        out["purchase"] = (n_buys > 0).to_numpy(dtype=float)
        out["no_purchase"] = 1.0 - out["purchase"]
        out["spend_next"] = spend.to_numpy(dtype=float)
        out["repurchase_churn"] = np.where(recent_buyer, (~bought_again).astype(float), np.nan)
        frames.append(out)
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    out = pd.DataFrame(rows, columns=["user_id", "anchor", *LABELS])
    out["user_id"] = out["user_id"].astype("string")
    out["anchor"] = pd.to_datetime(out["anchor"]).astype("datetime64[us]")
    return out.astype(dict.fromkeys(LABELS, "float64"))


def reference_table(
    events: pd.DataFrame,
    anchors: Sequence[dt.datetime],
    params: Params,
    observed_end: dt.datetime,
) -> pd.DataFrame:
    """Features and labels of every user active before each anchor, sorted by anchor and user."""
    feats = reference_features(
        events,
        anchors,
        params.features,
        gap_minutes=params.sessions.gap_minutes,
        lookback_days=params.anchors.lookback_days,
    )
    labels = reference_labels(
        events,
        feats[["user_id", "anchor"]],
        horizon_days=params.anchors.horizon_days,
        repurchase_gap_days=params.anchors.repurchase_gap_days,
        observed_end=observed_end,
    )
    out = feats.merge(labels, on=["user_id", "anchor"], how="left")
    return out.sort_values(["anchor", "user_id"]).reset_index(drop=True)
