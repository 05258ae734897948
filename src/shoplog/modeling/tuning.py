"""Hyper-parameter tuning with Optuna (TPE) on the validation anchors.

Each trial fits on the training rows and is scored by PR-AUC on the validation rows;
the test rows are never seen. The sampler takes the seed, so the same trial budget
gives the same trials. A LightGBM trial adds boosting rounds until its validation
average precision has not improved for :data:`PATIENCE` rounds (at most
:data:`MAX_ROUNDS`), and its best round count is the tuned number of trees; it reports
that curve every :data:`REPORT_EVERY` rounds, and a median pruner stops a trial whose
curve falls below the median of earlier trials at the same round: the search spends its
time on promising settings. Both decisions depend only on the values, so they repeat.
The time budget is a safety stop: when it, not the trial budget, ends a study, fewer
trials may run on a slower machine, and the study's history (returned) says how many did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from shoplog.modeling import metrics as M
from shoplog.modeling.models import TaskData, catboost_fixed, imputed_scaled, lightgbm_fixed


def _lightgbm(trial, seed: int) -> BaseEstimator:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(
        n_estimators=MAX_ROUNDS,
        learning_rate=trial.suggest_float("learning_rate", 0.03, 0.2, log=True),
        num_leaves=trial.suggest_int("num_leaves", 8, 128, log=True),
        min_child_samples=trial.suggest_int("min_child_samples", 5, 200, log=True),
        subsample=trial.suggest_float("subsample", 0.5, 1.0),
        subsample_freq=1,
        colsample_bytree=trial.suggest_float("colsample_bytree", 0.4, 1.0),
        reg_lambda=trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        **lightgbm_fixed(seed),
    )


def _catboost(trial, seed: int) -> BaseEstimator:
    from catboost import CatBoostClassifier

    return CatBoostClassifier(
        iterations=trial.suggest_int("iterations", 100, 600, step=50),
        learning_rate=trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        depth=trial.suggest_int("depth", 3, 8),
        l2_leaf_reg=trial.suggest_float("l2_leaf_reg", 1.0, 20.0, log=True),
        **catboost_fixed(seed),
    )


def _logistic(trial, seed: int) -> BaseEstimator:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        *imputed_scaled(),
        LogisticRegression(
            C=trial.suggest_float("C", 1e-3, 10.0, log=True),
            class_weight=trial.suggest_categorical("class_weight", [None, "balanced"]),
            max_iter=2000,
            random_state=seed,
        ),
    )


SPACES: dict[str, Callable] = {
    "LightGBM": _lightgbm,
    "CatBoost": _catboost,
    "logistic regression": _logistic,
}


# LightGBM trials grow at most MAX_ROUNDS trees and stop PATIENCE rounds after their best;
# they report every REPORT_EVERY rounds; none is pruned before WARMUP rounds or before
# STARTUP trials have completed (the median needs something to compare with)
MAX_ROUNDS = 500
PATIENCE = 30
REPORT_EVERY = 25
WARMUP_ROUNDS = 100
STARTUP_TRIALS = 4


@dataclass
class Tuned:
    """The best parameters of one model, a factory that builds it, and the study's history
    (one row per trial, pruned ones with the last value they reported)."""

    name: str
    params: dict
    value: float
    history: pd.DataFrame
    factory: Callable[[], BaseEstimator]

    @property
    def pruned(self) -> int:
        """How many trials the pruner stopped early."""
        return int(self.history["state"].eq("pruned").sum())


def _rounds_callback(trial) -> Callable:
    """A LightGBM callback on the validation average precision: stops the fit
    :data:`PATIENCE` rounds after its best round (the model then predicts with that round's
    trees), and every :data:`REPORT_EVERY` rounds reports the best value so far to
    ``trial``, raising ``TrialPruned`` when the pruner says so."""
    import optuna
    from lightgbm.callback import EarlyStopException

    state: dict = {"best": -np.inf, "round": 0, "results": None}

    def callback(env) -> None:
        done = env.iteration + 1
        value = next(v for _, m, v, _ in env.evaluation_result_list if m == "average_precision")
        if value > state["best"]:
            state.update(best=value, round=done, results=env.evaluation_result_list)
        elif done - state["round"] >= PATIENCE:
            raise EarlyStopException(state["round"] - 1, state["results"])
        if done % REPORT_EVERY == 0:
            trial.report(state["best"], done)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after {done} rounds")

    callback.order = 30
    return callback


def tune(
    name: str, data: TaskData, seed: int, n_trials: int = 12, timeout: float | None = 900
) -> Tuned:
    """Search ``name``'s space with TPE for the best validation PR-AUC."""
    import optuna

    if name not in SPACES:
        raise ValueError(f"no search space for {name!r}; tunable: {sorted(SPACES)}")
    space = SPACES[name]
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial) -> float:
        model = space(trial, seed)
        if name == "LightGBM":
            model.fit(
                data.X["train"],
                data.y["train"],
                eval_X=data.X["validation"],
                eval_y=data.y["validation"],
                eval_metric="average_precision",
                callbacks=[_rounds_callback(trial)],
            )
            # the trees a refit grows: as many as the best round (early stopping)
            trial.set_user_attr("n_estimators", int(model.best_iteration_ or MAX_ROUNDS))
        else:
            model.fit(data.X["train"], data.y["train"])
        p = model.predict_proba(data.X["validation"])[:, 1]
        return M.pr_auc(data.y["validation"], p)

    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=STARTUP_TRIALS, n_warmup_steps=WARMUP_ROUNDS
    )
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner
    )
    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    states = optuna.trial.TrialState
    ran = [t for t in study.trials if t.state in (states.COMPLETE, states.PRUNED)]
    values = [
        t.value if t.state == states.COMPLETE else t.intermediate_values[max(t.intermediate_values)]
        for t in ran
    ]
    complete = pd.Series(
        [v if t.state == states.COMPLETE else np.nan for t, v in zip(ran, values, strict=True)]
    )
    history = pd.DataFrame(
        {
            "trial": [t.number for t in ran],
            "value": values,
            "state": ["complete" if t.state == states.COMPLETE else "pruned" for t in ran],
            "best_so_far": complete.cummax().ffill().to_numpy(),
            "seconds": [(t.datetime_complete - t.datetime_start).total_seconds() for t in ran],
        }
    )
    params = {**study.best_params, **study.best_trial.user_attrs}
    fixed = optuna.trial.FixedTrial(study.best_params)

    def factory() -> BaseEstimator:
        model = space(fixed, seed)
        return model.set_params(**study.best_trial.user_attrs)

    return Tuned(name, params, study.best_value, history, factory)
