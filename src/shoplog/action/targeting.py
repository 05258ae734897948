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

PROFIT = "expected contact profit (the list)"
PRIORITY = "priority score"
RECENCY = "recency rule (longest since last visit first)"
CHURN_MODEL = "churn model (highest P(dormant) first)"
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
    """Profit curves of the ways of ordering users (expected contact profit, priority,
    recency rule, random) for one outcome column: ``p_churn`` for a forecast, ``dormant``
    for a backtest. The orders use only what is known at the anchor (the models' scores and
    recency), whichever outcome values them. ``order`` is the priority order of these rows
    (:func:`priority_order`)."""
    ids = scores["user_id"].astype(str).to_numpy()
    profit, _ = C.contact_value(scores["p_churn"], scores["value"], plan)
    orders = {
        PROFIT: C.ranking(profit, ids),
        PRIORITY: order,
        RECENCY: C.ranking(rows["days_since_last_event"], ids),
    }
    out = {
        name: C.campaign_curve(order, scores[churn_col], scores["value"], plan)
        for name, order in orders.items()
    }
    out[RANDOM] = C.random_curve(scores[churn_col], scores["value"], plan)
    return out


def targeting_list(
    rows: pd.DataFrame,
    scores: pd.DataFrame,
    user_segments: pd.DataFrame,
    churn: LoadedModel,
    plan: C.Campaign,
    picked: np.ndarray,
    n_reasons: int,
) -> pd.DataFrame:
    """The listed users (row positions ``picked``, highest expected contact profit first),
    one row each: scores, value, the contact's expected profit, RFM segment, cluster, and
    the features raising their churn score."""
    n_list = len(picked)
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
    test anchor), the profit curves of both, the campaign scenario and its list, the
    backtest of the same rule, the lift of the lists, the sensitivity and the holdout."""

    now_rows: pd.DataFrame
    now: pd.DataFrame
    then: pd.DataFrame
    order: np.ndarray  # the priority order of ``now`` (row positions, best first)
    forward: dict[str, pd.DataFrame]
    backtest: dict[str, pd.DataFrame]
    scenario: C.Scenario
    then_scenario: C.Scenario  # the same rule at the last test anchor (model scores only)
    backtest_profit: float  # that list's profit with the observed outcomes
    lifts: pd.DataFrame  # observed lift at the last test anchor, list against references
    sensitivity: pd.DataFrame
    holdout: C.Holdout
    target: pd.DataFrame
    path: Path
    score_anchor: pd.Timestamp
    test_anchor: pd.Timestamp


def observed_lifts(
    then_rows: pd.DataFrame, then: pd.DataFrame, listed: np.ndarray, n_boot: int, seed: int
) -> pd.DataFrame:
    """At an anchor with observed outcomes: the lift of the list the campaign rule picked
    (``listed`` row positions), and of the churn model's and the recency rule's top lists
    of the same size, with paired user-bootstrap intervals."""
    ids = then["user_id"].astype(str).to_numpy()
    n = len(listed)

    def top(order: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(then), dtype=bool)
        mask[order[:n]] = True
        return mask

    lists = {
        PROFIT: top(listed),
        CHURN_MODEL: top(C.ranking(then["p_churn"], ids)),
        RECENCY: top(C.ranking(then_rows["days_since_last_event"], ids)),
    }
    return C.list_lift(then["dormant"].to_numpy(), lists, n_boot, seed)


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
    spread: float,
    holdout_fraction: float,
    n_boot: int,
    seed: int,
    source: str = "priority.parquet",
) -> CampaignRun:
    """The campaign at the score anchor (every user with a positive expected contact
    profit, best first), the same rule replayed at the last test anchor on observed
    outcomes, profit curves of both, the sensitivity and holdout, and the targeting list
    written to ``targeting_dir``."""
    at = now_and_then(table, priority_scores, source)
    order = priority_order(at.now)
    forward = strategy_curves(at.now, at.now_rows, "p_churn", plan, order)
    backtest = strategy_curves(at.then, at.then_rows, "dormant", plan, priority_order(at.then))
    ids = at.now["user_id"].astype(str).to_numpy()
    now = C.scenario(at.now["p_churn"], at.now["value"], plan, ids, list_fraction)
    then_ids = at.then["user_id"].astype(str).to_numpy()
    then = C.scenario(at.then["p_churn"], at.then["value"], plan, then_ids, list_fraction)
    observed, _ = C.contact_value(at.then["dormant"], at.then["value"], plan)
    target = targeting_list(at.now_rows, at.now, user_segments, churn, plan, now.order, n_reasons)
    path = write_list(target, list_path(targeting_dir, at.score_anchor))
    return CampaignRun(
        now_rows=at.now_rows,
        now=at.now,
        then=at.then,
        order=order,
        forward=forward,
        backtest=backtest,
        scenario=now,
        then_scenario=then,
        backtest_profit=float(observed[then.order].sum()),
        lifts=observed_lifts(at.then_rows, at.then, then.order, n_boot, seed),
        sensitivity=C.sensitivity(at.now["p_churn"], at.now["value"], plan, ids, spread),
        holdout=C.holdout_design(
            at.now["p_churn"].to_numpy()[now.order], plan.uplift, holdout_fraction
        ),
        target=target,
        path=path,
        score_anchor=at.score_anchor,
        test_anchor=at.test_anchor,
    )


# --- shoplog target --------------------------------------------------------------------

KEPT_TASKS = ("churn", "purchase", VALUE_TASK, SEGMENTS_TASK)


@dataclass
class TargetSummary:
    """What ``shoplog target`` did: the list, who was scored, the campaign and the models."""

    path: Path
    anchor: dt.date
    scored: int
    listed: int
    campaign: C.Scenario
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
    ids = scores["user_id"].astype(str).to_numpy()
    campaign = C.scenario(
        scores["p_churn"], scores["value"], plan, ids, params.targeting.list_fraction
    )
    frame = targeting_list(
        rows, scores, user_segments, churn, plan, campaign.order, params.explain.reasons
    )
    path = write_list(frame, out_path or list_path(paths.scores_dir, anchor))
    return TargetSummary(
        path,
        anchor,
        len(scores),
        campaign.listed,
        campaign,
        feats.not_scored,
        feats.short,
        feats.quality,
        scoring.describe_models(kept),
    )
