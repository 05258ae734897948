"""The benchmark's protocol: train only on train, thresholds from validation, honest baselines."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from modeltables import FEATURES, churn_table

from shoplog.modeling import metrics as M
from shoplog.modeling import models


def test_task_data_splits_and_counts_unlabelled_rows() -> None:
    data = models.task_data(churn_table(), FEATURES, "dormant")
    assert data.dropped == {"train": 7, "validation": 0, "test": 0}
    assert len(data.y["train"]) == 1200 - 7 and len(data.y["test"]) == 1200
    with pytest.raises(ValueError, match=r"lacks columns \['orders_total'\]"):
        models.task_data(churn_table(), [*FEATURES, "orders_total"], "dormant")


def test_models_beat_the_baselines_on_a_learnable_task() -> None:
    data = models.task_data(churn_table(), FEATURES, "dormant")
    only = ["prevalence", "recency rule", "logistic regression", "LightGBM"]
    table, _ = models.benchmark(data, seed=1, only=only, n_boot=30)
    pr = table.set_index("model")["pr_auc"]
    prevalence = data.y["test"].mean()
    assert pr["prevalence"] == pytest.approx(prevalence, abs=1e-9)
    assert pr["recency rule"] > prevalence + 0.1
    assert pr["logistic regression"] > pr["recency rule"]
    row = table.set_index("model").loc["LightGBM"]
    assert row["pr_auc_low"] <= row["pr_auc"] <= row["pr_auc_high"]


@pytest.mark.parametrize("name", ["logistic regression", "LightGBM", "random forest"])
def test_shuffled_labels_score_about_the_prevalence(name: str) -> None:
    """Leakage sentinel: with labels shuffled, nothing can be learned."""
    data = models.task_data(churn_table(shuffle=True), FEATURES, "dormant")
    fitted = models.fit_and_score(name, models.learners(3)[name], data)
    prevalence = data.y["test"].mean()
    assert M.pr_auc(data.y["test"], fitted.test) == pytest.approx(prevalence, abs=0.05)


class SpySMOTE:
    """Wraps SMOTE and records the size of every set it resamples."""

    seen: ClassVar[list[int]] = []

    def __init__(self, inner):
        self.inner = inner

    def fit_resample(self, X, y):
        SpySMOTE.seen.append(len(X))
        return self.inner.fit_resample(X, y)

    def get_params(self, deep=True):
        return {"inner": self.inner}

    def set_params(self, **params):
        return self


def test_smote_sees_training_rows_only() -> None:
    data = models.task_data(churn_table(), FEATURES, "dormant")
    factory = models.learners(0)["logistic regression + SMOTE"]

    def spied():
        pipe = factory()
        pipe.steps[2] = ("smote", SpySMOTE(pipe.steps[2][1]))
        return pipe

    SpySMOTE.seen = []
    fitted = models.fit_and_score("spied", spied, data)
    assert SpySMOTE.seen == [len(data.y["train"])]
    assert len(fitted.validation) == len(data.y["validation"])
    assert len(fitted.test) == len(data.y["test"])


@pytest.mark.parametrize("minority", [0.1, 0.4])
def test_drawn_rows_smote_makes_smotes_samples(minority: float) -> None:
    """Searching neighbours for the drawn rows only gives SMOTE's own samples, whether
    the class is small (every row drawn) or large (a part of it drawn)."""
    from imblearn.over_sampling import SMOTE

    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 6))
    y = (rng.random(3000) < minority).astype(float)
    for k in (3, 5):
        want = SMOTE(k_neighbors=k, random_state=9).fit_resample(X, y)
        got = models.DrawnRowsSMOTE(k_neighbors=k, random_state=9).fit_resample(X, y)
        np.testing.assert_allclose(got[0], want[0], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(got[1], want[1])
    assert len(got[1]) > len(y)  # it did oversample


def test_threshold_comes_from_validation_only() -> None:
    data = models.task_data(churn_table(), FEATURES, "dormant")
    factory = models.learners(0)["logistic regression"]
    fitted = models.fit_and_score("lr", factory, data)
    assert fitted.threshold == M.best_f1_threshold(data.y["validation"], fitted.validation)
    # changing the test labels cannot move it
    data.y["test"] = 1 - data.y["test"]
    assert models.fit_and_score("lr", factory, data).threshold == fitted.threshold


@pytest.mark.parametrize("name", ["random forest", "balanced bagging", "LightGBM", "CatBoost"])
def test_the_same_seed_gives_the_same_scores(name: str) -> None:
    data = models.task_data(churn_table(), FEATURES, "dormant")
    factory = models.learners(11)[name]
    a = models.fit_and_score(name, factory, data)
    b = models.fit_and_score(name, factory, data)
    np.testing.assert_array_equal(a.test, b.test)


def test_tuning_is_seeded_uses_validation_and_records_its_history() -> None:
    from shoplog.modeling import tuning

    data = models.task_data(churn_table(n_users=600), FEATURES, "dormant")
    a = tuning.tune("LightGBM", data, seed=4, n_trials=4, timeout=None)
    b = tuning.tune("LightGBM", data, seed=4, n_trials=4, timeout=None)
    assert a.params == b.params and a.value == b.value
    assert list(a.history["trial"]) == [0, 1, 2, 3]
    complete = a.history[a.history["state"].eq("complete")]
    assert a.history["best_so_far"].iloc[-1] == a.value == complete["value"].max()
    # the best value is the validation PR-AUC of the model the factory rebuilds, with as
    # many trees as the best trial's best round
    fitted = models.fit_and_score("tuned", a.factory, data)
    assert M.pr_auc(data.y["validation"], fitted.validation) == pytest.approx(a.value)
    assert fitted.model.n_estimators == a.params["n_estimators"] <= tuning.MAX_ROUNDS
    with pytest.raises(ValueError, match="no search space"):
        tuning.tune("MLP", data, seed=4)


def test_the_pruner_stops_trials_that_fall_behind_and_the_history_says_so() -> None:
    from shoplog.modeling import tuning

    data = models.task_data(churn_table(n_users=1500), FEATURES, "dormant")
    a = tuning.tune("LightGBM", data, seed=3, n_trials=14, timeout=None)
    b = tuning.tune("LightGBM", data, seed=3, n_trials=14, timeout=None)
    pd.testing.assert_frame_equal(
        a.history.drop(columns="seconds"), b.history.drop(columns="seconds")
    )
    assert a.pruned == int(a.history["state"].eq("pruned").sum()) > 0
    # no trial is pruned before the startup trials have completed
    assert (a.history["state"].iloc[: tuning.STARTUP_TRIALS] == "complete").all()
    # a pruned trial never becomes the best
    best = a.history.loc[a.history["value"].eq(a.value) & a.history["state"].eq("complete")]
    assert len(best) >= 1


def test_calibration_on_validation_fixes_probabilities_and_keeps_the_ranking() -> None:
    data = models.task_data(churn_table(n_users=2000), FEATURES, "dormant")
    # class weights inflate the probabilities of the rarer class: miscalibrated on purpose
    raw = models.fit_and_score("lr", models.learners(0)["logistic regression"], data)
    cal = models.calibrated(raw, data)
    y = data.y["test"]
    assert M.brier(y, cal.test) < M.brier(y, raw.test)
    assert abs(cal.test.mean() - y.mean()) < abs(raw.test.mean() - y.mean())
    assert M.roc_auc(y, cal.test) == pytest.approx(M.roc_auc(y, raw.test))
    assert cal.threshold == M.best_f1_threshold(data.y["validation"], cal.validation)


def _simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, seed: int):
    """Customers from the BG/NBD story: Poisson purchases until a coin-flip dropout;
    ``dormant`` says whether the customer makes no purchase in the 30 days after T."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(30, 120, n)
    frequency, recency, dormant = np.zeros(n), np.zeros(n), np.ones(n)
    for i in range(n):
        t, alive = 0.0, True
        while alive:
            t += rng.exponential(1 / lam[i])
            if t > T[i]:
                dormant[i] = float(t > T[i] + 30)
                break
            frequency[i] += 1
            recency[i] = t
            alive = rng.random() >= p[i]
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "frequency": frequency,
            "recency": recency,
            "T": T,
            "dormant": dormant,
        }
    )


def test_bgnbd_p_alive_matches_pymc_marketing_and_recovers_the_story() -> None:
    from pymc_marketing.clv import BetaGeoModel

    from shoplog.modeling.clv import quiet_pymc

    data = _simulate_bgnbd(3000, r=0.6, alpha=4.0, a=0.8, b=2.5, seed=3)
    model = BetaGeoModel()
    with quiet_pymc():
        model.fit(data, method="map", progressbar=False)
    posterior = model.idata.posterior
    params = {k: float(posterior[k].mean()) for k in ("r", "alpha", "a", "b")}
    library = model.expected_probability_alive(data=data).mean(("chain", "draw")).to_numpy()
    np.testing.assert_allclose(models.bgnbd_p_alive(params, data), library, atol=1e-6)
    # the fit recovers the population it was simulated from (r / alpha: mean purchase rate)
    assert params["r"] / params["alpha"] == pytest.approx(0.6 / 4.0, rel=0.2)
    assert params["a"] / (params["a"] + params["b"]) == pytest.approx(0.8 / 3.3, rel=0.3)


def test_bgnbd_baseline_ranks_the_inactive_as_churners() -> None:
    sim = _simulate_bgnbd(3000, r=0.6, alpha=4.0, a=0.8, b=2.5, seed=4)
    table = pd.DataFrame(
        {
            "user_id": sim["customer_id"].astype(str),
            "anchor": pd.Timestamp("2020-01-01"),
            "split": np.repeat(["train", "validation", "test"], 1000),
            "tenure_days": sim["T"],
            "days_since_last_event": np.where(
                sim["frequency"] > 0, sim["T"] - sim["recency"], sim["T"]
            ),
            "sessions_total": sim["frequency"] + 1,
            "dormant": sim["dormant"],
        }
    )
    features = ["tenure_days", "days_since_last_event", "sessions_total"]
    data = models.task_data(table, features, "dormant")
    fitted = models.fit_and_score("bg", models.learners(0)["BG/NBD P(alive)"], data)
    assert M.pr_auc(data.y["test"], fitted.test) > data.y["test"].mean() + 0.1


def test_balanced_rows_cap_each_class_at_the_smaller_class_or_the_cap() -> None:
    y = np.array([0] * 50 + [1] * 20)
    assert models.balanced_rows(y, cap=100) == {0: 20, 1: 20}
    assert models.balanced_rows(y, cap=10) == {0: 10, 1: 10}
