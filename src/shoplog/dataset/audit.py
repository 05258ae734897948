"""Audits of the modelling table: label rates by anchor, each feature's univariate
association with a label, and the leakage audit (what each feature can see, and that
cutting the log at the anchor changes nothing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pandas as pd

from shoplog.config.params import Params
from shoplog.dataset import contract as C
from shoplog.dataset import features as F
from shoplog.dataset.table import build_table
from shoplog.events.engine import seconds_between

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as DuckDBBackend


def label_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Per labelled anchor: split, users scored and the mean of each binary label."""
    labelled = table[table["split"].isin(["train", "validation", "test"])]
    rates = labelled.groupby(["anchor", "split"], observed=True).agg(
        users=("user_id", "size"),
        dormant=("dormant", "mean"),
        purchase=("purchase", "mean"),
        repurchase_churn=("repurchase_churn", "mean"),
        repurchase_eligible=("repurchase_churn", "count"),
    )
    return rates.reset_index().sort_values("anchor").reset_index(drop=True)


def label_summary(table: pd.DataFrame, horizon_days: int) -> str:
    """The paragraph on label rates, worded for what this log's labels hold (a log without
    purchases has no buyers and no repurchase label to report)."""
    train = table[table["split"] == "train"]
    test = table[table["split"] == "test"]
    rates = label_rates(table)
    text = (
        f"In training, {train['dormant'].mean():.1%} of scored users go dormant in the next "
        f"{horizon_days} days ({test['dormant'].mean():.1%} in test)"
    )
    if train["purchase"].sum() > 0:
        text += f" and {train['purchase'].mean():.1%} buy ({test['purchase'].mean():.1%} in test)."
    else:
        text += "; no scored user buys in the horizon of a training anchor."
    eligible = train["repurchase_churn"].notna()
    if eligible.any():
        text += (
            f" The repurchase-gap label applies to {eligible.mean():.1%} of training rows "
            f"(recent buyers); of those, {train['repurchase_churn'].mean():.1%} do not buy "
            "again in time."
        )
    else:
        text += " No training row has a recent purchase, so the repurchase-gap label is empty."
    if len(rates) > 1:
        text += (
            f" Across anchors the dormant rate ranges from {rates['dormant'].min():.1%} to "
            f"{rates['dormant'].max():.1%}."
        )
    return text


def association(table: pd.DataFrame, names: list[str], label: str = "dormant") -> pd.DataFrame:
    """Univariate ROC-AUC of each feature for ``label`` on the rows given (rank-based).

    Missing values are set aside feature by feature. ``strength`` = |AUC - 0.5| x 2 (0: no
    signal, 1: a perfect ranking); ``direction`` says whether higher values mean more label.
    """
    from sklearn.metrics import roc_auc_score

    y_all = table[label]
    rows = []
    for name in names:
        x = table[name].astype("float64")
        keep = x.notna() & y_all.notna()
        y = y_all[keep]
        constant = y.nunique() < 2 or x[keep].nunique() < 2
        auc = 0.5 if constant else float(roc_auc_score(y, x[keep]))
        rows.append(
            {
                "feature": name,
                "auc": auc,
                "strength": abs(auc - 0.5) * 2,
                "direction": "higher → more " + label if auc >= 0.5 else "lower → more " + label,
                "missing_share": float(1 - keep.mean()) if len(keep) else 0.0,
            }
        )
    return pd.DataFrame(rows).sort_values("strength", ascending=False).reset_index(drop=True)


# when the appended future events happen, after the anchor (0: exactly at it)
FUTURE_OFFSETS = (
    dt.timedelta(0),
    dt.timedelta(seconds=1),
    dt.timedelta(hours=1),
    dt.timedelta(days=3),
)


def audit_sample(table: pd.DataFrame, anchor: dt.datetime, n_users: int, seed: int) -> list[str]:
    """A seeded sample of at most ``n_users`` users scored at ``anchor``."""
    users = table.loc[table["anchor"] == pd.Timestamp(anchor), "user_id"]
    users = users.drop_duplicates().sort_values()
    return users.sample(min(n_users, len(users)), random_state=seed).tolist()


def with_future_events(
    con: DuckDBBackend, events: ir.Table, users: list[str], anchor: dt.datetime
) -> ir.Table:
    """``events`` plus, for each of ``users``, copies of their last event before ``anchor``
    of every event type at :data:`FUTURE_OFFSETS` after it, at the log's highest price."""
    last = con.execute(
        events.filter(events.user_id.isin(users))
        .filter(events.event_time < ibis.timestamp(anchor))
        .order_by(["user_id", ibis.desc("event_time")])
    ).drop_duplicates("user_id")
    kinds = con.execute(events.select("event_type").distinct())["event_type"].tolist()
    top_price = con.execute(events.price.max()) if "price" in events.columns else None
    added = []
    for offset in FUTURE_OFFSETS:
        for kind in sorted(kinds):
            copy = last.copy()
            copy["event_time"] = pd.Timestamp(anchor) + offset
            copy["event_type"] = kind
            if top_price is not None:
                copy["price"] = top_price
            added.append(copy)
    future = ibis.memtable(
        pd.concat(added, ignore_index=True)[list(events.columns)], schema=events.schema()
    )
    return events.union(future)


def sequence_future_check(
    con: DuckDBBackend,
    events: ir.Table,
    users: list[str],
    anchor: dt.datetime,
    days: int,
    gap_minutes: float,
) -> int:
    """How many of ``users``' daily sequence values at ``anchor`` change when future events
    are added (:func:`with_future_events`): 0 for sequences blind to the future."""
    from shoplog.dataset.sequences import CHANNELS, daily_activity

    def of(log: ir.Table) -> pd.DataFrame:
        rows = daily_activity(log.filter(log.user_id.isin(users)), [anchor], days, gap_minutes)
        return con.execute(rows).set_index(["user_id", "day_index"]).sort_index()

    before, after = of(events), of(with_future_events(con, events, users, anchor))
    joined = before.join(after, how="outer", lsuffix="_before", rsuffix="_after")
    changed = 0
    for c in CHANNELS:
        a, b = joined[f"{c}_before"], joined[f"{c}_after"]
        changed += int((a.isna() != b.isna()).sum() + ((a - b).abs() > 1e-9).sum())
    return changed


def future_events_check(
    con: DuckDBBackend,
    events: ir.Table,
    table: pd.DataFrame,
    params: Params,
    anchor: dt.datetime,
    n_users: int,
    seed: int,
) -> pd.Series:
    """Per feature, the largest relative change when events are *added* at and after
    ``anchor`` for a seeded sample of ``n_users`` scored users (copies of each one's last
    event, of every event type, at the anchor itself, 1 second, 1 hour and 3 days after,
    at the log's highest price). A feature that reads the anchor's instant or the future
    changes; a leak-free one does not. Unlike the window bounds, this check can fail."""
    rows = table[table["anchor"] == pd.Timestamp(anchor)]
    sample = audit_sample(table, anchor, n_users, seed)
    widened = with_future_events(con, events, sample, anchor)
    recomputed = build_table(
        con, widened, [anchor], ["audit"], params, anchor, labels=False
    ).set_index("user_id")
    full = rows.set_index("user_id").loc[sample]
    names = [s.name for s in C.feature_contract(params.features)]
    return pd.Series(
        {name: _largest_change(recomputed.loc[sample, name], full[name]) for name in names}
    )


def _largest_change(a: pd.Series, b: pd.Series) -> float:
    """The largest change between two versions of a feature, relative to its size (sums may
    differ in the last bits by row order); a value appearing or vanishing is infinite."""
    a, b = a.astype("float64"), b.astype("float64")
    both_missing = a.isna() & b.isna()
    diff = ((a - b).abs() / b.abs().clip(lower=1.0)).where(~both_missing, 0.0)
    diff = diff.fillna(float("inf"))
    return float(diff.max()) if len(diff) else 0.0


def leakage_audit(
    con: DuckDBBackend,
    events: ir.Table,
    table: pd.DataFrame,
    params: Params,
    anchors: Sequence[dt.datetime],
) -> pd.DataFrame:
    """Per feature, measured: the earliest and latest event it can see, relative to the anchor,
    and the largest relative change when the log is cut at the anchor (0 up to rounding:
    the future is never used).

    The cut check recomputes the features at ``anchors`` on ``events`` with every event at or
    after the anchor removed, and compares them with ``table``.
    """
    contract = C.feature_contract(params.features)
    names = [s.name for s in contract]
    change = dict.fromkeys(names, 0.0)
    for anchor in anchors:
        cut = events.filter(events.event_time < ibis.timestamp(anchor))
        recomputed = build_table(
            con, cut, [anchor], ["audit"], params, anchor, labels=False
        ).set_index("user_id")
        full = table[table["anchor"] == pd.Timestamp(anchor)].set_index("user_id")
        if not recomputed.index.sort_values().equals(full.index.sort_values()):
            raise AssertionError(f"cutting the log at {anchor} changed who is scored")
        full = full.loc[recomputed.index]
        for name in names:
            change[name] = max(change[name], _largest_change(recomputed[name], full[name]))
    # what each window can see: the first and last event inside it, over all anchors
    anchor_t = F.anchor_table(list(anchors))
    windows = sorted({s.window for s in contract if s.window is not None})
    j = events.join(anchor_t, events.event_time < anchor_t.anchor)
    seconds_before = seconds_between(j.anchor, j.event_time)
    aggs = {"latest_all": seconds_before.min(), "earliest_all": seconds_before.max()}
    for w in windows:
        inside = j.event_time >= j.anchor - ibis.interval(days=w)
        aggs[f"latest_{w}"] = seconds_before.min(where=inside)
        aggs[f"earliest_{w}"] = seconds_before.max(where=inside)
    seen = con.execute(j.aggregate(**aggs)).iloc[0]
    rows = []
    for spec in contract:
        key = "all" if spec.window is None else spec.window
        rows.append(
            {
                "feature": spec.name,
                "window": "all history" if spec.window is None else f"{spec.window} days",
                "earliest_days_before": seen[f"earliest_{key}"] / 86400.0,
                "latest_seconds_before": seen[f"latest_{key}"],
                "change_when_cut": change[spec.name],
            }
        )
    return pd.DataFrame(rows)
