"""The models step as a package function: benchmark, choose, calibrate and save both tasks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from modeltables import FEATURES, churn_table

from shoplog.config.params import ModelParams
from shoplog.config.paths import benchmark_name
from shoplog.dataset.labels import LABELS
from shoplog.modeling import artifacts, tasks

SETTINGS = ModelParams(n_boot=10, learners=["LightGBM"], tuned=[], calibration="sigmoid")
FEATURE_SETTINGS = {"features": {"windows": [7]}, "sessions": {"gap_minutes": 30.0}}


def two_task_table() -> pd.DataFrame:
    """The churn table with a purchase label (active users buy), the other labels, and one
    feature never observed in training."""
    table = churn_table(n_users=600)
    rng = np.random.default_rng(1)
    buys = table["sessions_total"] + rng.normal(0, 2, len(table)) > 6
    table["purchase"] = buys.astype(float)
    for label in LABELS:
        if label not in table:
            table[label] = np.nan
    table["carts_7d"] = np.where(table["split"].eq("train"), np.nan, 1.0)
    return table


def test_train_and_save_writes_both_models_cards_and_benchmarks(tmp_path) -> None:
    stale = tmp_path / f"repurchase{artifacts.CARD_SUFFIX}"
    stale.write_text("{}")
    run = tasks.train_and_save(two_task_table(), SETTINGS, 3, 0.2, FEATURE_SETTINGS, tmp_path)
    assert not stale.exists()  # an earlier run's card is never left to be read as this one's
    assert run.features == FEATURES and run.unobserved == ["carts_7d"]
    for task in tasks.TASKS:
        card = run.cards[task]
        loaded = artifacts.load_model(artifacts.card_path(tmp_path, task), tmp_path)
        assert loaded.card == card
        assert card.features == FEATURES and card.seed == 3
        assert card.feature_settings == FEATURE_SETTINGS
        assert card.model == run.results[task].kept.name
        bench = pd.read_csv(tmp_path / benchmark_name(task))
        assert card.model in set(bench["model"])
        assert {"prevalence", "recency rule", "LightGBM"} <= set(bench["model"])
    # churn depends on recency in this table: the kept model beats prevalence on test
    churn = pd.read_csv(tmp_path / benchmark_name("churn")).set_index("model")["pr_auc"]
    assert churn[run.cards["churn"].model] > churn["prevalence"] + 0.1


def test_a_split_without_both_outcomes_is_refused_with_the_reason(tmp_path) -> None:
    table = two_task_table()
    table.loc[table["split"].eq("validation"), "purchase"] = 0.0
    reason = tasks.unfit_reason(table)
    assert reason is not None and "validation" in reason and "purchase" in reason
    with pytest.raises(ValueError, match=r"0 buyer and [0-9,]+ non-buyer rows"):
        tasks.train_and_save(table, SETTINGS, 3, 0.2, FEATURE_SETTINGS, tmp_path)
    assert tasks.unfit_reason(two_task_table()) is None


def test_metrics_are_withheld_when_a_split_has_too_few_of_one_outcome() -> None:
    """A test split with a handful of buyers gets no PR-AUC: the reason names the split,
    the counts and the parameter."""
    table = two_task_table()
    test = table.index[table["split"].eq("test")]
    buyers = table.loc[test, "purchase"].eq(1)
    keep = buyers[buyers].index[:5]
    table.loc[test, "purchase"] = 0.0
    table.loc[keep, "purchase"] = 1.0
    assert tasks.unfit_reason(table, 1) is None
    assert tasks.unfit_reason(table, 5) is None
    reason = tasks.unfit_reason(table, 6)
    assert reason is not None
    assert reason.startswith("the test anchors have 5 buyer and ")
    assert "at least 6 of each (models.min_class_count)" in reason
