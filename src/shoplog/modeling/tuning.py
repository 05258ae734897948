"""Hyper-parameter tuning with Optuna (TPE) on the validation anchors.

Each trial fits on the training rows and is scored by PR-AUC on the validation rows;
the test rows are never seen. The sampler takes the seed, so the same trial budget
gives the same trials. The time budget is a safety stop: when it, not the trial
budget, ends a study, fewer trials may run on a slower machine, and the study's
history (returned) says how many did.
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
        n_estimators=trial.suggest_int("n_estimators", 100, 500, step=50),
        learning_rate=trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
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


@dataclass
class Tuned:
    """The best parameters of one model, a factory that builds it, and the study's history."""

    name: str
    params: dict
    value: float
    history: pd.DataFrame
    factory: Callable[[], BaseEstimator]


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
        model = space(trial, seed).fit(data.X["train"], data.y["train"])
        p = model.predict_proba(data.X["validation"])[:, 1]
        return M.pr_auc(data.y["validation"], p)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    done = [t for t in study.trials if t.value is not None]
    history = pd.DataFrame(
        {
            "trial": [t.number for t in done],
            "value": [t.value for t in done],
            "best_so_far": np.maximum.accumulate([t.value for t in done]),
            "seconds": [(t.datetime_complete - t.datetime_start).total_seconds() for t in done],
        }
    )
    best = optuna.trial.FixedTrial(study.best_params)
    return Tuned(name, study.best_params, study.best_value, history, lambda: space(best, seed))
