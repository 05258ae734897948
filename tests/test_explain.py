"""Explanations: SHAP values add up to the model's score, surrogates and clusters behave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from modeltables import FEATURES, churn_table

from shoplog.config.params import ModelParams
from shoplog.modeling import explain, models
from shoplog.modeling.tasks import run_task


@pytest.fixture(scope="module")
def data() -> models.TaskData:
    return models.task_data(churn_table(), FEATURES, "dormant")


@pytest.mark.parametrize("name", ["LightGBM", "CatBoost"])
def test_shap_values_add_up_to_the_raw_margin(data, name: str) -> None:
    fitted = models.fit_and_score(name, models.learners(0)[name], data)
    calibrated = models.calibrated(fitted, data)
    X = data.X["test"].iloc[:300]
    sh = explain.shap_values(calibrated.model, X)  # unwraps the calibration
    p = fitted.model.predict_proba(X)[:, 1]
    margin = np.log(p / (1 - p))
    np.testing.assert_allclose(sh.base + sh.values.sum(axis=1), margin, atol=1e-4)
    # the strongest driver of the synthetic churn is recency
    assert sh.importance().index[0] == "days_since_last_event"


def test_reasons_are_the_largest_positive_contributions() -> None:
    X = pd.DataFrame({"a": [1.0, 2.0], "b": [np.nan, 3.0], "c": [0.5, 7.0]})
    sh = explain.Shap(np.array([[0.2, 0.5, -0.1], [-0.3, -0.2, -0.1]]), 0.0, X)
    assert explain.top_reasons(sh, 2) == ["b=missing (+0.50); a=1 (+0.20)", ""]


def test_pseudonyms_are_stable_salted_and_hide_the_id() -> None:
    a = explain.pseudonym("512345678901234567", 42)
    assert a == explain.pseudonym("512345678901234567", 42)
    assert a != explain.pseudonym("512345678901234567", 43)
    assert "5123" not in a and a.startswith("customer ")


def test_example_customers_pick_high_borderline_and_safe() -> None:
    picks = explain.example_customers(np.array([0.2, 0.9, 0.45, 0.05]), threshold=0.5)
    assert picks == {"high risk": 1, "borderline": 2, "safe": 3}


def test_a_surrogate_recovers_a_simple_rule_and_its_leaves_partition_rows() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.random(4000), "y": rng.random(4000)})
    X.loc[::50, "y"] = np.nan
    decisions = ((X["x"] > 0.6) | (X["y"].fillna(0) > 0.9)).astype(int).to_numpy()
    sur = explain.surrogate(X[:3000], decisions[:3000], X[3000:], decisions[3000:], 2, 0)
    assert sur.fidelity > 0.97 and sur.agreement_positive > 0.95
    # the constant rule's floor: the larger of the flagged and unflagged shares
    share = decisions[3000:].mean()
    assert sur.constant_fidelity == pytest.approx(max(share, 1 - share))
    assert sur.fidelity > sur.constant_fidelity
    leaves = explain.leaf_rules(sur, X[3000:], decisions[3000:])
    assert leaves["share"].sum() == pytest.approx(1.0)
    flagged = (leaves["share"] * leaves["flagged"]).sum()
    assert flagged == pytest.approx(decisions[3000:].mean())
    assert leaves["rule"].str.contains("x >").any()


def test_correlated_features_share_a_cluster_and_the_important_one_stays() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=3000)
    X = pd.DataFrame(
        {
            "views_7d": base,
            "views_14d": base * 2 + rng.normal(scale=0.05, size=3000),
            "other": rng.normal(size=3000),
        }
    )
    clusters = explain.correlated_clusters(X, threshold=0.3)
    assert clusters["views_7d"] == clusters["views_14d"] != clusters["other"]
    importance = pd.Series({"views_7d": 0.1, "views_14d": 0.3, "other": 0.05})
    assert explain.select_by_cluster(clusters, importance) == ["views_14d", "other"]


def test_selection_check_refits_on_fewer_features(data) -> None:
    settings = ModelParams(n_boot=10, learners=["LightGBM"], tuned=[])
    result = run_task(churn_table(), FEATURES, "churn", settings, seed=0, top_k=0.2)
    check = explain.selection_check(
        result.kept.model, result.data, ["days_since_last_event", "sessions_total"], 0.2, 10, 0
    )
    assert check.dropped == ["spend_total", "views_7d", "tenure_days", "noise"]
    # the two real drivers keep most of the signal
    assert check.test_selected.estimate > check.test_all.estimate - 0.05
    assert check.test_all.low <= check.test_all.estimate <= check.test_all.high
    diff = check.test_difference
    assert diff.estimate == pytest.approx(check.test_selected.estimate - check.test_all.estimate)
    assert diff.low <= diff.estimate <= diff.high


def test_pipelines_are_not_explained_as_trees(data) -> None:
    fitted = models.fit_and_score("brf", models.learners(0)["balanced random forest"], data)
    with pytest.raises(TypeError, match="pipeline"):
        explain.raw_model(fitted.model)


def test_surrogate_rules_name_features_in_plain_words() -> None:
    from shoplog.dataset.contract import feature_label

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"days_since_last_event": rng.uniform(0, 60, 2000)})
    decisions = (X["days_since_last_event"] > 20).astype(int).to_numpy()
    sur = explain.surrogate(X[:1000], decisions[:1000], X[1000:], decisions[1000:], 1, 0)
    rules = " ".join(explain.leaf_rules(sur, X[1000:], decisions[1000:])["rule"])
    label = feature_label("days_since_last_event")
    assert label != "days_since_last_event" and f"{label} ≤ 20" in rules
    assert "days_since_last_event" not in rules
