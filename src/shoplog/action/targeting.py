"""The targeting list: whom to contact at an anchor, in priority order, with the campaign's
expected profit per user, their segment and the reasons behind their churn score.

One code path for the book (the targeting chapter, at the score anchor of the modelling
table) and for ``shoplog target`` (a new log at a new date, with the saved models)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shoplog.action import campaign as C
from shoplog.action.priority import VALUE_TASK, load_kept, now_and_then, score_users
from shoplog.action.segments import SEGMENTS_TASK, assign_segments
from shoplog.config.params import CampaignParams, Params
from shoplog.config.paths import ProjectPaths, targeting_name
from shoplog.events.ingest import QualityReport
from shoplog.files import atomic_write_text
from shoplog.modeling import explain, scoring
from shoplog.modeling.artifacts import LoadedModel

PRIORITY = "priority score"
RECENCY = "recency rule (longest since last visit first)"
RANDOM = "random"
LIST_COLUMNS = (
    "rank",
    "user_id",
    "priority",
    "churn_probability",
    "purchase_probability",
    "value_if_retained",
    "expected_profit",
    "rfm_segment",
    "cluster",
    "churn_reasons",
)


def plan_of(settings: CampaignParams) -> C.Campaign:
    """The campaign assumptions of the parameters."""
    return C.Campaign(
        contact_cost=settings.contact_cost,
        offer_cost=settings.offer_cost,
        uplift=settings.uplift,
        stayer_take_rate=settings.stayer_take_rate,
        margin=settings.margin,
    )


def priority_order(scores: pd.DataFrame) -> np.ndarray:
    """Row positions by priority, best first (ties by user id)."""
    return C.ranking(scores["priority"], scores["user_id"].astype(str).to_numpy())


def strategy_curves(
    scores: pd.DataFrame,
    rows: pd.DataFrame,
    churn_col: str,
    plan: C.Campaign,
    order: np.ndarray,
) -> dict[str, pd.DataFrame]:
    """Profit curves of the three ways of ordering users (priority, recency rule, random)
    for one outcome column: ``p_churn`` for a forecast, ``dormant`` for a backtest.
    ``order`` is the priority order of these rows (:func:`priority_order`)."""
    ids = scores["user_id"].astype(str).to_numpy()
    orders = {
        PRIORITY: order,
        RECENCY: C.ranking(rows["days_since_last_event"], ids),
    }
    out = {
        name: C.campaign_curve(order, scores[churn_col], scores["value"], plan)
        for name, order in orders.items()
    }
    out[RANDOM] = C.random_curve(scores[churn_col], scores["value"], plan)
    return out


def list_size(best: pd.Series, n_users: int, fraction: float | None) -> int:
    """How many users the list holds: ``fraction`` of them when set, else the best K."""
    return round(fraction * n_users) if fraction else int(best["users"])


def targeting_list(
    rows: pd.DataFrame,
    scores: pd.DataFrame,
    user_segments: pd.DataFrame,
    churn: LoadedModel,
    plan: C.Campaign,
    order: np.ndarray,
    n_list: int,
    n_reasons: int,
) -> pd.DataFrame:
    """The first ``n_list`` users of the priority ``order``, one row each: scores, value,
    the contact's expected profit, RFM segment, cluster, and the features raising their
    churn score."""
    picked = order[:n_list]
    listed = scores.iloc[picked].reset_index(drop=True)
    ids = listed["user_id"].astype(str).to_numpy()
    seg = (
        user_segments.assign(user_id=user_segments["user_id"].astype(str))
        .set_index("user_id")
        .reindex(ids)
    )
    reasons: list[str] = []
    if n_list:
        X = churn.check_features(rows.iloc[picked].reset_index(drop=True)).astype("float64")
        reasons = explain.top_reasons(explain.shap_values(churn.model, X), n_reasons)
    profit, _ = C.contact_value(listed["p_churn"], listed["value"], plan)
    return pd.DataFrame(
        {
            "rank": np.arange(1, n_list + 1),
            "user_id": ids,
            "priority": listed["priority"],
            "churn_probability": listed["p_churn"],
            "purchase_probability": listed["p_purchase"],
            "value_if_retained": listed["value"],
            "expected_profit": profit,
            "rfm_segment": seg["segment"].astype(str).to_numpy(),
            "cluster": seg["cluster"].astype(str).to_numpy(),
            "churn_reasons": reasons,
        },
        columns=list(LIST_COLUMNS),
    )


def list_path(folder: str | Path, anchor) -> Path:
    """Where the list of ``anchor`` goes in a folder: ``targeting_<anchor>.csv``."""
    return Path(folder) / targeting_name(pd.Timestamp(anchor).date())


def write_list(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write the list as CSV (atomically, six decimals); its path."""
    return atomic_write_text(Path(path), frame.to_csv(index=False, float_format="%.6f"))


@dataclass
class CampaignRun:
    """The targeting chapter's numbers: rows and scores now (score anchor) and then (last
    test anchor), the profit curves of both, the best K and the list."""

    now_rows: pd.DataFrame
    now: pd.DataFrame
    then: pd.DataFrame
    order: np.ndarray  # the priority order of ``now`` (row positions, best first)
    forward: dict[str, pd.DataFrame]
    backtest: dict[str, pd.DataFrame]
    best: pd.Series
    target: pd.DataFrame
    path: Path
    score_anchor: pd.Timestamp
    test_anchor: pd.Timestamp


def build_targeting(
    table: pd.DataFrame,
    priority_scores: pd.DataFrame,
    user_segments: pd.DataFrame,
    churn: LoadedModel,
    plan: C.Campaign,
    targeting_dir: str | Path,
    *,
    list_fraction: float | None,
    n_reasons: int,
    source: str = "priority.parquet",
) -> CampaignRun:
    """Profit curves at the score anchor (forecast) and the last test anchor (backtest),
    the most profitable K, and the targeting list written to ``targeting_dir``."""
    at = now_and_then(table, priority_scores, source)
    order = priority_order(at.now)
    forward = strategy_curves(at.now, at.now_rows, "p_churn", plan, order)
    backtest = strategy_curves(at.then, at.then_rows, "dormant", plan, priority_order(at.then))
    best = C.best_k(forward[PRIORITY])
    n_list = list_size(best, len(at.now), list_fraction)
    target = targeting_list(
        at.now_rows, at.now, user_segments, churn, plan, order, n_list, n_reasons
    )
    path = write_list(target, list_path(targeting_dir, at.score_anchor))
    return CampaignRun(
        at.now_rows,
        at.now,
        at.then,
        order,
        forward,
        backtest,
        best,
        target,
        path,
        at.score_anchor,
        at.test_anchor,
    )


# --- shoplog target --------------------------------------------------------------------

KEPT_TASKS = ("churn", "purchase", VALUE_TASK, SEGMENTS_TASK)


@dataclass
class TargetSummary:
    """What ``shoplog target`` did: the list, who was scored, the best K and the models."""

    path: Path
    anchor: dt.date
    scored: int
    listed: int
    best: pd.Series
    not_scored: dict[str, int]
    short_history: int
    quality: QualityReport
    models: dict[str, str]


def target(
    params: Params,
    paths: ProjectPaths,
    log: str | Path,
    anchor: dt.date,
    out_path: str | Path | None = None,
) -> TargetSummary:
    """The targeting list of a (new) log at ``anchor``, made with the book's saved churn,
    purchase, value and segment models and the same code as the targeting chapter; the
    campaign's assumptions and the list size come from the parameters."""
    log = scoring.checked_log(log)
    kept = load_kept(paths.models_dir, KEPT_TASKS)
    churn = kept["churn"]
    scoring.check_one_feature_setting(
        kept, "re-run the book (shoplog run) so all come from one run"
    )
    feats = scoring.features_for_log(params, paths, log, anchor, churn.card)
    rows = feats.table
    scores = score_users(rows, kept, params.targeting.priority_cut, params.targeting.top_k_fraction)
    seg_model = kept[SEGMENTS_TASK]
    user_segments = assign_segments(
        rows,
        seg_model.model,
        seg_model.card.hyperparameters["rfm_bins"],
        seg_model.card.feature_settings["features"],
    ).assign(user_id=scores["user_id"].astype(str).to_numpy())
    plan = plan_of(params.campaign)
    order = priority_order(scores)
    best = C.best_k(C.campaign_curve(order, scores["p_churn"], scores["value"], plan))
    n_list = list_size(best, len(scores), params.targeting.list_fraction)
    frame = targeting_list(
        rows, scores, user_segments, churn, plan, order, n_list, params.explain.reasons
    )
    path = write_list(frame, out_path or list_path(paths.scores_dir, anchor))
    return TargetSummary(
        path,
        anchor,
        len(scores),
        n_list,
        best,
        feats.not_scored,
        feats.short,
        feats.quality,
        scoring.describe_models(kept),
    )
