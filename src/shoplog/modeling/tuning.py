"""Hyper-parameter tuning with Optuna (TPE) on the validation anchors.

Each trial fits on the training rows and is scored by PR-AUC on the validation rows;
the test rows are never seen. The sampler takes the seed, so the same trial budget
gives the same trials. A LightGBM trial adds boosting rounds until its validation
average precision has not improved for :data:`PATIENCE` rounds (at most
:data:`MAX_ROUNDS`), and its best round count is the tuned number of trees; it reports
that curve every :data:`REPORT_EVERY` rounds, and a median pruner stops a trial whose
curve falls below the median of earlier trials at the same round: the search spends its
time on promising settings. Both decisions depend only on the values, so they repeat.
LightGBM's trials share one binned training set and read the validation curve every
:data:`EVAL_EVERY` rounds (average precision sorts the validation rows, which cost as
much as growing a tree); the refit of the best trial is an ordinary LGBMClassifier.
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


def _lightgbm_space(trial) -> dict:
    """LightGBM's searched settings (names as LGBMClassifier and ``lightgbm.train`` take them)."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "subsample_freq": 1,
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
    }


def _lightgbm(trial, seed: int) -> BaseEstimator:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(n_estimators=MAX_ROUNDS, **_lightgbm_space(trial), **lightgbm_fixed(seed))


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
# the validation curve is read every EVAL_EVERY rounds (a divisor of PATIENCE and
# REPORT_EVERY), so the tuned number of trees is a multiple of it
EVAL_EVERY = 5


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


class _ValidationCurve:
    """LightGBM's evaluation and callback for one trial, on the validation rows' average
    precision read every :data:`EVAL_EVERY` rounds: stops the fit :data:`PATIENCE` rounds
    after its best round, and every :data:`REPORT_EVERY` rounds reports the best value so
    far to ``trial``, raising ``TrialPruned`` when the pruner says so."""

    order = 30  # after LightGBM's own callbacks

    def __init__(self, trial, y_validation: np.ndarray):
        self.trial = trial
        self.y = y_validation
        self.calls = 0
        self.value = -np.inf
        self.best = -np.inf
        self.round = 0

    def feval(self, preds: np.ndarray, _data) -> tuple[str, float, bool]:
        """The validation average precision, computed every EVAL_EVERY rounds (LightGBM
        asks every round; in between, the last value stands)."""
        self.calls += 1
        if self.calls % EVAL_EVERY == 0:
            self.value = M.pr_auc(self.y, preds)
        return "pr_auc", self.value, True

    def __call__(self, env) -> None:
        import optuna
        from lightgbm.callback import EarlyStopException

        done = env.iteration + 1
        if done % EVAL_EVERY:
            return
        if self.value > self.best:
            self.best, self.round = self.value, done
        elif done - self.round >= PATIENCE:
            raise EarlyStopException(self.round - 1, [("validation", "pr_auc", self.best, True)])
        if done % REPORT_EVERY == 0:
            self.trial.report(self.best, done)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned after {done} rounds")


def _lightgbm_objective(data: TaskData, seed: int) -> Callable:
    """A study's objective for LightGBM: each trial boosts on one shared binned training
    set (binned once, not per trial) and returns its best validation average precision."""
    import lightgbm as lgb

    binning = {"feature_pre_filter": False, "verbose": -1}  # min_child_samples varies
    train = lgb.Dataset(data.X["train"], data.y["train"], params=binning, free_raw_data=False)
    valid = lgb.Dataset(data.X["validation"], data.y["validation"], params=binning, reference=train)
    train.construct()
    valid.construct()  # on the training set's bins

    def objective(trial) -> float:
        params = {"objective": "binary", "metric": "None", **_lightgbm_space(trial)}
        curve = _ValidationCurve(trial, data.y["validation"])
        lgb.train(
            {**params, **lightgbm_fixed(seed)},
            train,
            num_boost_round=MAX_ROUNDS,
            valid_sets=[valid],
            feval=curve.feval,
            callbacks=[curve],
        )
        # the trees a refit grows: as many as the best round (early stopping)
        trial.set_user_attr("n_estimators", int(curve.round or MAX_ROUNDS))
        return float(curve.best)

    return objective


def tune(
    name: str, data: TaskData, seed: int, n_trials: int = 12, timeout: float | None = 900
) -> Tuned:
    """Search ``name``'s space with TPE for the best validation PR-AUC."""
    import optuna

    if name not in SPACES:
        raise ValueError(f"no search space for {name!r}; tunable: {sorted(SPACES)}")
    space = SPACES[name]
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def fitted_objective(trial) -> float:
        model = space(trial, seed)
        model.fit(data.X["train"], data.y["train"])
        p = model.predict_proba(data.X["validation"])[:, 1]
        return M.pr_auc(data.y["validation"], p)

    objective = _lightgbm_objective(data, seed) if name == "LightGBM" else fitted_objective

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
