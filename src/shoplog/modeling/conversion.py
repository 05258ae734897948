"""Session conversion: will this session buy? Features from its first k events.

A session is scored once it has ``k`` events and no purchase yet; the target is a
purchase later in the same session. Its features are what those first ``k`` events
show (event types, products, prices, pace) and what the user did in earlier sessions,
so nothing after the k-th event is read. Sets are split by time (the last days are the
test set). The UCI "Online Shoppers Purchasing Intention" data are read here too, for
the published comparison, and benchmarked with stratified cross-validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from shoplog.events.engine import as_int64, exact_mean, exact_sum, seconds_between
from shoplog.events.sessions import FUNNEL_ORDER, session_numbers
from shoplog.modeling import metrics as M
from shoplog.modeling import models

PREFIX_FEATURES = [
    "k_views",
    "k_carts",
    "k_removes",
    "k_products",
    "k_categories",
    "k_brands",
    "k_seconds",
    "k_view_price_mean",
    "k_view_price_max",
    "k_cart_value",
    "start_hour",
    "start_weekday",
    "prior_sessions",
    "prior_buying_sessions",
    "days_since_prior_session",
]


def prefix_table(events: ir.Table, k: int, gap_minutes: float) -> ir.Table:
    """One row per session with at least ``k`` events and no purchase among its first
    ``k``: features of those ``k`` events and of the user's earlier sessions, and
    ``converted`` (a purchase after the k-th event)."""
    if k < 1:
        raise ValueError(f"conversion.k must be at least 1, got {k}")
    slim = events.select(
        "user_id", "event_time", "event_type", "price", "product_id", "category_id", "brand"
    )
    s = session_numbers(slim, gap_minutes, column="session")
    rank = s.event_type.cases(*FUNNEL_ORDER.items(), else_=9)
    # one order inside a session: time, then the funnel, then the product (deterministic)
    order = ibis.window(
        group_by=["user_id", "session"], order_by=[s.event_time, rank, s.product_id]
    )
    s = s.mutate(pos=ibis.row_number().over(order))
    first = s.pos < k
    is_view, is_cart = s.event_type == "view", s.event_type == "cart"
    per = s.group_by(["user_id", "session"]).aggregate(
        start=s.event_time.min(),
        end=s.event_time.max(),
        n_events=s.count(),
        first_purchase_pos=s.pos.min(where=s.event_type == "purchase"),
        k_views=as_int64((first & is_view).sum()),
        k_carts=as_int64((first & is_cart).sum()),
        k_removes=as_int64((first & (s.event_type == "remove_from_cart")).sum()),
        k_products=s.product_id.nunique(where=first),
        k_categories=s.category_id.nunique(where=first),
        k_brands=s.brand.nunique(where=first),
        k_last=s.event_time.max(where=first),
        k_view_price_mean=exact_mean(s.price, where=first & is_view),
        k_view_price_max=s.price.max(where=first & is_view),
        k_cart_value=exact_sum(s.price, where=first & is_cart).fill_null(0.0),
    )
    bought = per.first_purchase_pos.notnull().cast("int64")
    by_user = ibis.window(group_by="user_id", order_by="session")
    upto = ibis.window(group_by="user_id", order_by="session", preceding=None, following=0)
    per = per.mutate(
        prior_sessions=(per.session - 1).cast("int64"),
        prior_buying_sessions=as_int64(bought.sum().over(upto) - bought),
        days_since_prior_session=seconds_between(per.start, per.end.lag().over(by_user)) / 86400,
    )
    eligible = per.filter(
        (per.n_events >= k) & (per.first_purchase_pos.isnull() | (per.first_purchase_pos >= k))
    )
    plain = [c for c in PREFIX_FEATURES if c in eligible.columns]
    return eligible.select(
        "user_id",
        "session",
        "start",
        *plain,
        k_seconds=seconds_between(eligible.k_last, eligible.start),
        start_hour=eligible.start.hour().cast("int64"),
        start_weekday=eligible.start.day_of_week.index().cast("int64"),
        converted=eligible.first_purchase_pos.notnull().cast("float64"),
    )


def split_by_time(table: pd.DataFrame, validation_days: int, test_days: int) -> pd.DataFrame:
    """``table`` with a ``split`` column: sessions starting in the last ``test_days`` days
    are test, the ``validation_days`` before them validation, the rest training."""
    if table.empty:
        raise ValueError("no session has enough events for the conversion task")
    end = pd.Timestamp(table["start"].max()).normalize() + pd.Timedelta(days=1)
    test_start = end - pd.Timedelta(days=test_days)
    val_start = test_start - pd.Timedelta(days=validation_days)
    if table["start"].min() >= val_start:
        raise ValueError(
            f"the log spans less than conversion.validation_days + test_days "
            f"({validation_days + test_days} days) plus some training days; shorten them"
        )
    split = np.where(
        table["start"] >= test_start,
        "test",
        np.where(table["start"] >= val_start, "validation", "train"),
    )
    return table.assign(split=split, anchor=table["start"].dt.normalize())


# ---------------------------------------------------------------------------------------
# UCI Online Shoppers Purchasing Intention

UCI_TARGET = "Revenue"
UCI_CATEGORICAL = ["Month", "OperatingSystems", "Browser", "Region", "TrafficType", "VisitorType"]


def read_online_shoppers(path: str | Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The UCI file as numeric features (categoricals one-hot) and the 0/1 target.

    The file is ``;``-separated with TRUE/FALSE text for ``Weekend`` and ``Revenue``.
    """
    path = Path(path)
    raw = pd.read_csv(path, sep=";")
    missing = [c for c in [*UCI_CATEGORICAL, "Weekend", UCI_TARGET] if c not in raw]
    if missing:
        raise ValueError(
            f"{path}: columns {missing} missing; expected the UCI online_shoppers_intention "
            "layout (semicolon separated)"
        )
    truth = {"TRUE": 1.0, "FALSE": 0.0, True: 1.0, False: 0.0}
    y = raw[UCI_TARGET].map(truth)
    bad = y.isna()
    if bad.any():
        raise ValueError(
            f"{path}: {int(bad.sum())} rows have a {UCI_TARGET} other than TRUE/FALSE "
            f"(first at data row {int(np.flatnonzero(bad)[0]) + 1})"
        )
    X = raw.drop(columns=[UCI_TARGET]).assign(Weekend=raw["Weekend"].map(truth))
    X = pd.get_dummies(X, columns=UCI_CATEGORICAL, dtype="float64")
    return X.astype("float64"), y.to_numpy(dtype="float64")


@dataclass
class FoldScores:
    """One model's metrics on each held-out fold."""

    model: str
    folds: pd.DataFrame

    def mean(self) -> pd.Series:
        return self.folds.mean()

    def sd(self) -> pd.Series:
        return self.folds.std(ddof=1)


def cross_validate(
    X: pd.DataFrame,
    y: np.ndarray,
    seed: int,
    task: str = "uci",
    folds: int = 5,
    only: list[str] | None = None,
    top_k: float = 0.2,
) -> dict[str, FoldScores]:
    """Stratified ``folds``-fold cross-validation of the benchmark's models.

    In each fold a stratified fifth of the training part is held out as validation (for
    the F1 threshold, as in the out-of-time benchmark); the held-out fold is scored once.
    Recall and precision are reported at the validation threshold and at 0.5, the
    threshold published results use.
    """
    factories = models.learners(seed, task)
    names = [n for n in factories if only is None or n in only]
    rows: dict[str, list[dict]] = {n: [] for n in names}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (fit_idx, test_idx) in enumerate(splitter.split(X, y)):
        train_idx, val_idx = train_test_split(
            fit_idx, test_size=0.2, stratify=y[fit_idx], random_state=seed + fold
        )
        parts = {"train": train_idx, "validation": val_idx, "test": test_idx}
        data = models.TaskData(
            X={k: X.iloc[v].reset_index(drop=True) for k, v in parts.items()},
            y={k: y[v] for k, v in parts.items()},
            users={k: v.astype(str) for k, v in parts.items()},
            anchors={k: np.zeros(len(v)) for k, v in parts.items()},
        )
        for name in names:
            f = models.fit_and_score(name, factories[name], data)
            yt, pt = data.y["test"], f.test
            rows[name].append(
                {
                    "pr_auc": M.pr_auc(yt, pt),
                    "pr_auc_trapezoid": _trapezoid_pr_auc(yt, pt),
                    "roc_auc": M.roc_auc(yt, pt),
                    "brier": M.brier(yt, pt),
                    "f1": M.f1_at(yt, pt, f.threshold.value),
                    "recall": _recall(yt, pt, f.threshold.value),
                    "precision": _precision(yt, pt, f.threshold.value),
                    "recall_at_0.5": _recall(yt, pt, 0.5),
                    "precision_at_0.5": _precision(yt, pt, 0.5),
                    "precision_at_k": M.precision_at_k(yt, pt, top_k),
                }
            )
    return {n: FoldScores(n, pd.DataFrame(r)) for n, r in rows.items()}


def _trapezoid_pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """The area under the precision-recall curve by the trapezoid rule, the definition
    some publications use (average precision is the step-wise area)."""
    from sklearn.metrics import auc, precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, p)
    return float(auc(recall, precision))


def _recall(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    positives = y == 1
    return float(np.mean(p[positives] >= threshold)) if positives.any() else float("nan")


def _precision(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    flagged = p >= threshold
    return float(np.mean(y[flagged])) if flagged.any() else float("nan")


def summary_table(scores: dict[str, FoldScores]) -> pd.DataFrame:
    """Mean and standard deviation over folds, one row per model, by mean PR-AUC."""
    rows = []
    for name, s in scores.items():
        mean, sd = s.mean(), s.sd()
        row = {"model": name}
        for metric in mean.index:
            row[metric] = mean[metric]
            row[f"{metric}_sd"] = sd[metric]
        rows.append(row)
    return pd.DataFrame(rows).sort_values("pr_auc", ascending=False).reset_index(drop=True)
