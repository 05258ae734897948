"""The priority score: expected revenue lost with a user, P(dormant) x value if retained.

The value if retained comes from a Tweedie boosting of next-horizon spend on the anchor
features; the priority group is the top of the log score (a share, or the natural break).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shoplog.action import groups
from shoplog.files import atomic_write_bytes, atomic_write_text
from shoplog.modeling import artifacts
from shoplog.modeling.artifacts import LoadedModel


def fit_value_model(
    X_train: pd.DataFrame,
    spend_train: np.ndarray,
    X_valid: pd.DataFrame,
    spend_valid: np.ndarray,
    seed: int,
):
    """A LightGBM Tweedie regression of next-horizon spend on the anchor features.

    Fitted on the training anchors' retained users only (the value *if retained*);
    Tweedie because spend is zero for most users and skewed for the rest. Validation
    rows stop the boosting early, as they choose the other models."""
    import lightgbm as lgb

    model = lgb.LGBMRegressor(
        objective="tweedie",
        tweedie_variance_power=1.5,
        n_estimators=2000,
        learning_rate=0.05,
        num_leaves=31,
        min_child_samples=50,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=seed,
        n_jobs=2,
        verbose=-1,
    )
    model.fit(
        X_train,
        spend_train,
        eval_X=(X_valid,),
        eval_y=(spend_valid,),
        eval_metric="tweedie",
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )
    return model


def normalized_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """How well ``predicted`` orders ``actual`` amounts: 1 is the perfect order, 0 random.

    The Gini of the cumulative-actual curve sorted by prediction, over that of the
    perfect order (ties in the prediction share their amounts evenly)."""
    actual = np.asarray(actual, dtype=float)

    def gini(score: np.ndarray) -> float:
        frame = pd.DataFrame({"s": score, "a": actual})
        per = frame.groupby("s", sort=True)["a"].agg(["sum", "size"]).iloc[::-1]
        # a tie block's amount spreads evenly over its rows (a linear piece of the curve)
        cum_rows = per["size"].cumsum().to_numpy()
        cum_amount = per["sum"].cumsum().to_numpy() / actual.sum()
        x = np.concatenate([[0.0], cum_rows / len(actual)])
        y = np.concatenate([[0.0], cum_amount])
        return float(np.trapezoid(y, x) - 0.5)

    return gini(np.asarray(predicted, dtype=float)) / gini(actual)


def priority_score(p_churn: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Expected revenue lost: P(dormant) x revenue expected in the horizon if retained."""
    p = np.asarray(p_churn, dtype=float)
    v = np.asarray(value, dtype=float)
    if np.any((p < 0) | (p > 1)) or np.any(v < 0):
        raise ValueError("probabilities must lie in [0, 1] and values be non-negative")
    return p * v


def natural_break(values: np.ndarray) -> float:
    """The two-class Jenks break: the cut minimising the within-class sum of squares.

    Exact (one pass over the sorted values with cumulative sums); returns the smallest
    value of the upper class."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n < 2 or x[0] == x[-1]:
        raise ValueError("a natural break needs at least two distinct values")
    c1, c2 = np.cumsum(x), np.cumsum(x**2)
    k = np.arange(1, n)  # lower class = the first k values
    lower_ss = c2[k - 1] - c1[k - 1] ** 2 / k
    upper_ss = (c2[-1] - c2[k - 1]) - (c1[-1] - c1[k - 1]) ** 2 / (n - k)
    within = lower_ss + upper_ss
    # a cut only between distinct values, so ties stay in one class
    within[x[k] == x[k - 1]] = np.inf
    return float(x[int(np.argmin(within)) + 1])


def top_fraction_cut(values: np.ndarray, fraction: float) -> float:
    """The smallest value of the top ``fraction`` (ties at the cut are all included)."""
    x = np.sort(np.asarray(values, dtype=float))[::-1]
    n = max(1, round(fraction * len(x)))
    return float(x[n - 1])


def band_names(edges: list[float]) -> list[str]:
    """The names of the bands of P(dormant) cut at ``edges``, lowest first."""
    return [f"{low:.0%} to {high:.0%}" for low, high in itertools.pairwise([0.0, *edges, 1.0])]


def band_labels(p_churn: np.ndarray, edges: list[float]) -> np.ndarray:
    """Each user's band of calibrated P(dormant): "25% to 50%" holds 0.25 <= p < 0.5 (the
    last band includes 1)."""
    p = np.asarray(p_churn, dtype=float)
    names = band_names(edges)
    index = np.clip(np.searchsorted(np.asarray(edges), p, side="right"), 0, len(edges))
    return np.array(names, dtype=object)[index]


def risk_bands(p_churn: np.ndarray, edges: list[float]) -> pd.DataFrame:
    """Users by band of calibrated P(dormant) (``edges`` inside (0, 1)): how many, and how
    many of them the model expects to go dormant (the sum of their probabilities). Every
    user is in exactly one band (:func:`band_labels`)."""
    p = np.asarray(p_churn, dtype=float)
    labels = band_labels(p, edges)
    bounds = itertools.pairwise([0.0, *edges, 1.0])
    rows = []
    for name, (low, high) in zip(band_names(edges), bounds, strict=True):
        inside = labels == name
        rows.append(
            {
                "band": name,
                "low": low,
                "high": high,
                "users": int(inside.sum()),
                "expected_churners": float(p[inside].sum()),
            }
        )
    out = pd.DataFrame(rows)
    out["share"] = out["users"] / max(len(p), 1)
    return out


def recent_revenue(rows: pd.DataFrame, horizon_days: int, lookback_days: int) -> float | None:
    """Revenue of the ``horizon_days`` before the anchor, summed over the scored users: when
    the lookback is at least that long, everyone who spent then is scored, so this is the
    shop's revenue of that period. None when it is not, or when the features have no spend
    window of that length."""
    column = f"spend_{horizon_days}d"
    if lookback_days < horizon_days or column not in rows:
        return None
    return float(rows[column].fillna(0).sum())


KEEP_COLUMNS = ("user_id", "anchor", "split", "dormant", "purchase", "spend_next")


def priority_frame(rows: pd.DataFrame, churn, purchase, value_model) -> pd.DataFrame:
    """Calibrated P(dormant), P(purchase), value if retained and priority of every row.

    ``churn`` and ``purchase`` are loaded models (their cards' features are checked);
    the value model predicts on the churn card's features."""
    out = rows[[c for c in KEEP_COLUMNS if c in rows]].reset_index(drop=True)
    out["p_churn"] = churn.predict(rows, where="the rows to prioritise")
    out["p_purchase"] = purchase.predict(rows, where="the rows to prioritise")
    X = churn.check_features(rows, where="the rows to prioritise")
    out["value"] = np.clip(value_model.predict(X), 0.0, None)
    out["priority"] = priority_score(out["p_churn"], out["value"])
    out["log_priority"] = np.log1p(out["priority"])
    return out


def priority_cut(log_priority: np.ndarray, method: str, fraction: float) -> float:
    """The cut of the priority group on the log score: top ``fraction`` or the natural break."""
    if method == "natural_break":
        return natural_break(log_priority)
    if method == "top_fraction":
        return top_fraction_cut(log_priority, fraction)
    raise ValueError(f"unknown priority cut {method!r}; use top_fraction or natural_break")


def rows_at(
    table: pd.DataFrame, priority: pd.DataFrame, anchor, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The modelling rows and the priority scores of one anchor, aligned user by user.

    ``source`` names the priority file for the error when the two disagree (a priority
    table from another run)."""
    rows = table[table["anchor"].eq(anchor)].reset_index(drop=True)
    scores = priority[priority["anchor"].eq(anchor)].reset_index(drop=True)
    if not rows["user_id"].astype(str).equals(scores["user_id"].astype(str)):
        raise ValueError(
            f"{source}: the users at {anchor} differ from the modelling table; re-run the "
            "priority chapter"
        )
    return rows, scores


@dataclass
class NowAndThen:
    """The modelling rows and priority scores at the score anchor (``now``: outcomes
    unknown) and at the last test anchor (``then``: outcomes observed)."""

    score_anchor: pd.Timestamp
    test_anchor: pd.Timestamp
    now_rows: pd.DataFrame
    now: pd.DataFrame
    then_rows: pd.DataFrame
    then: pd.DataFrame


def now_and_then(
    table: pd.DataFrame, priority_scores: pd.DataFrame, source: str = "priority.parquet"
) -> NowAndThen:
    """The score anchor's and the last test anchor's rows and scores, aligned user by user
    (the segments and targeting steps both start from them)."""
    splits = priority_scores["split"]
    score_anchor = priority_scores.loc[splits.eq("score"), "anchor"].max()
    test_anchor = priority_scores.loc[splits.ne("score"), "anchor"].max()
    now_rows, now = rows_at(table, priority_scores, score_anchor, source)
    then_rows, then = rows_at(table, priority_scores, test_anchor, source)
    return NowAndThen(score_anchor, test_anchor, now_rows, now, then_rows, then)


# --- the producer step -----------------------------------------------------------------

VALUE_TASK = "value"


@dataclass
class PriorityRun:
    """What the priority step made: the kept models, the scored users at the score
    anchor and at the last test anchor, and the value model's out-of-time check."""

    churn: LoadedModel
    purchase: LoadedModel
    value: LoadedModel
    scored: pd.DataFrame
    tested: pd.DataFrame
    value_check: pd.DataFrame
    score_anchor: pd.Timestamp
    test_anchor: pd.Timestamp


# the chapter that saves each kept model, for the message when one is missing
SAVED_BY = {
    "churn": "the models chapter",
    "purchase": "the models chapter",
    VALUE_TASK: "the priority chapter",
    "segments": "the segments chapter",
}


def load_kept(models_dir: str | Path, tasks: tuple[str, ...]) -> dict[str, LoadedModel]:
    """The saved models of ``tasks``, each checked against its card (one way to load); a
    missing one is an error naming the chapter that saves it."""
    kept = {}
    for task in tasks:
        card = artifacts.card_path(models_dir, task)
        if not card.exists():
            raise artifacts.ModelArtifactError(
                f"{card}: no saved {task} model; {SAVED_BY.get(task, 'the book')} saves it, "
                "so run the book first (shoplog run)"
            )
        kept[task] = artifacts.load_model(card, models_dir)
    return kept


def score_users(
    rows: pd.DataFrame,
    models: dict[str, LoadedModel],
    cut_method: str,
    top_fraction: float,
) -> pd.DataFrame:
    """Priority of every row with its group cut and churn flag: the same for the book and
    for ``shoplog target`` on a new log."""
    out = priority_frame(rows, models["churn"], models["purchase"], models[VALUE_TASK].model)
    out["cut"] = priority_cut(out["log_priority"], cut_method, top_fraction)
    out["priority_group"] = out["log_priority"] >= out["cut"]
    out["churn_flag"] = out["p_churn"] >= models["churn"].card.threshold
    return out


def check_value_model(
    table: pd.DataFrame, value_model, features: list[str], horizon_days: int, longest: int
) -> pd.DataFrame:
    """Out of time, on the test anchors' retained users: mean predicted against observed
    spend and the normalised Gini, for the value model and for the recent spend rate (the
    ``longest`` window's spend scaled to one horizon)."""
    rows = table["split"].eq("test") & table["dormant"].eq(0)
    actual = table.loc[rows, "spend_next"].to_numpy()
    predicted = np.clip(value_model.predict(table.loc[rows, features]), 0, None)
    naive = table.loc[rows, f"spend_{longest}d"].fillna(0).to_numpy() * (horizon_days / longest)
    check = pd.DataFrame(
        [
            {
                "estimate": "value model (Tweedie boosting)",
                "mean_predicted": predicted.mean(),
                "normalised_gini": normalized_gini(actual, predicted),
            },
            {
                "estimate": f"recent spend rate ({longest} days, scaled)",
                "mean_predicted": naive.mean(),
                "normalised_gini": normalized_gini(actual, naive),
            },
        ]
    )
    check["mean_observed"] = actual.mean()
    check["rows"] = int(rows.sum())
    return check


def value_unavailable(table: pd.DataFrame) -> str | None:
    """Why a customer's value cannot be learned from ``table`` (None when it can): the
    training anchors' retained users must have spent something in the horizon."""
    train = table["split"].eq("train") & table["dormant"].eq(0)
    if table.loc[train, "spend_next"].sum() > 0:
        return None
    return (
        "no retained user of the training anchors spent anything in the horizon after "
        "them: the log has no prices (or no priced purchase), so the value of keeping a "
        "customer cannot be learned, and the priority, the segments by value, the campaign "
        "and the targeting list built on it are not computed. Map a price column with "
        "data.mapping.columns.price to get them; the churn and purchase models above do not "
        "need prices."
    )


def build_priority(
    table: pd.DataFrame,
    models_dir: str | Path,
    priority_path: str | Path,
    seed: int,
    cut_method: str,
    top_fraction: float,
    horizon_days: int,
) -> PriorityRun:
    """Fit and save the value model (with a card), score the users at the score anchor and
    the last test anchor, and write both to ``priority_path``.

    The value model is fitted on the training anchors' retained users and stopped early on
    validation's; its card records the label horizon it predicts over."""
    kept = load_kept(models_dir, ("churn", "purchase"))
    churn = kept["churn"]
    features = churn.card.features
    retained, split = table["dormant"].eq(0), table["split"]
    train, valid = split.eq("train") & retained, split.eq("validation") & retained
    model = fit_value_model(
        table.loc[train, features],
        table.loc[train, "spend_next"],
        table.loc[valid, features],
        table.loc[valid, "spend_next"],
        seed,
    )
    longest = max(churn.card.feature_settings["features"]["windows"])
    check = check_value_model(table, model, features, horizon_days, longest)
    card = artifacts.ModelCard(
        task=VALUE_TASK,
        label="spend_next",
        model="LightGBM Tweedie regression of next-horizon spend",
        features=list(features),
        threshold=0.0,
        calibration="none (a regression of spend, fitted on retained users)",
        metrics={
            "normalised_gini": float(check.loc[0, "normalised_gini"]),
            "normalised_gini_recent_rate": float(check.loc[1, "normalised_gini"]),
            "mean_predicted": float(check.loc[0, "mean_predicted"]),
            "mean_observed": float(check.loc[0, "mean_observed"]),
            "test_rows": int(check.loc[0, "rows"]),
        },
        validation={"rows": int(valid.sum())},
        training={
            "rows": int(train.sum()),
            "horizon_days": horizon_days,
            "trees": int(model.best_iteration_ or model.n_estimators),
        },
        data_fingerprint=artifacts.data_fingerprint(
            table.loc[train, features], table.loc[train, "spend_next"].to_numpy()
        ),
        seed=seed,
        feature_settings=churn.card.feature_settings,
        libraries=artifacts.library_versions(),
    )
    kept[VALUE_TASK] = LoadedModel(artifacts.save_model(model, card, models_dir), model)
    score_anchor = table.loc[split.eq("score"), "anchor"].max()
    test_anchor = table.loc[split.eq("test"), "anchor"].max()
    scored = score_users(table[split.eq("score")], kept, cut_method, top_fraction)
    tested = score_users(table[table["anchor"].eq(test_anchor)], kept, cut_method, top_fraction)
    frame = pd.concat([scored, tested])
    atomic_write_bytes(Path(priority_path), frame.to_parquet(index=False))
    return PriorityRun(
        churn, kept["purchase"], kept[VALUE_TASK], scored, tested, check, score_anchor, test_anchor
    )


def compare_priority_groups(
    table: pd.DataFrame,
    run: PriorityRun,
    alpha: float,
    group_tests_path: str | Path,
    churner_tests_path: str | Path,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Every feature compared for the priority group against the rest (score anchor), and
    for churners against retained users within the group at the last test anchor (observed
    outcomes; None when all had the same). Each comparison is also written as CSV."""
    features = run.churn.card.features
    at_score = table[table["split"].eq("score")].reset_index(drop=True)
    group_vs_rest = groups.compare_groups(
        at_score, features, run.scored["priority_group"].to_numpy(), alpha
    )
    atomic_write_text(Path(group_tests_path), group_vs_rest.to_csv(index=False))
    at_test = table[table["anchor"].eq(run.test_anchor)].reset_index(drop=True)
    members = run.tested["priority_group"].to_numpy()
    outcome = run.tested.loc[members, "dormant"].to_numpy()
    if np.nanmin(outcome) == np.nanmax(outcome):
        return group_vs_rest, None
    within = groups.compare_groups(
        at_test[members].reset_index(drop=True), features, outcome == 1, alpha
    )
    atomic_write_text(Path(churner_tests_path), within.to_csv(index=False))
    return group_vs_rest, within
