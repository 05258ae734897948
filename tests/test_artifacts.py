"""Saved models: the card round-trips, and loading refuses wrong places, files and features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from modeltables import FEATURES, churn_table

from shoplog.config.params import ModelParams
from shoplog.modeling import artifacts, models, tasks

SETTINGS = ModelParams(n_boot=20, learners=["prevalence", "recency rule", "LightGBM"], tuned=[])


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory):
    """The churn task on the small table, its kept model saved in a models folder."""
    folder = tmp_path_factory.mktemp("outputs") / "models"
    result = tasks.run_task(churn_table(), FEATURES, "churn", SETTINGS, seed=5, top_k=0.2)
    card = tasks.model_card(result, seed=5, calibration="sigmoid", top_k=0.2)
    saved = artifacts.save_model(result.kept.model, card, folder)
    return result, saved, folder


def test_a_saved_model_loads_and_scores_as_it_did(kept) -> None:
    result, card, folder = kept
    loaded = artifacts.load_model(folder / "churn.card.json", folder)
    assert loaded.card == card
    test = churn_table().query("split == 'test'").reset_index(drop=True)
    np.testing.assert_array_equal(loaded.predict(test), result.kept.test)
    # the card records what was measured, not a copy of something else
    row = result.table.set_index("model").loc[result.kept.name]
    assert card.metrics["pr_auc"] == pytest.approx(row["pr_auc"])
    assert card.threshold == result.kept.threshold.value
    assert card.features == FEATURES
    assert card.training["train"]["rows"] == len(result.data.y["train"])
    assert card.training["test"]["first_anchor"] > card.training["train"]["last_anchor"]
    assert card.libraries["lightgbm"] != "not installed"
    assert card.model == "LightGBM (calibrated)"


def test_feature_order_does_not_matter_but_missing_features_are_named(kept) -> None:
    result, _, folder = kept
    loaded = artifacts.load_model(folder / "churn.card.json", folder)
    test = churn_table().query("split == 'test'").reset_index(drop=True)
    shuffled = test[list(reversed(test.columns))]
    np.testing.assert_array_equal(loaded.predict(shuffled), result.kept.test)
    with pytest.raises(artifacts.ModelArtifactError, match=r"lacks features \['views_7d'\]"):
        loaded.predict(test.drop(columns="views_7d"), where="new.parquet")


def test_a_changed_model_file_is_refused(kept, tmp_path: Path) -> None:
    _, _, folder = kept
    copy = tmp_path / "models"
    copy.mkdir()
    for name in ("churn.card.json", "churn.joblib"):
        (copy / name).write_bytes((folder / name).read_bytes())
    with (copy / "churn.joblib").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(artifacts.ModelArtifactError, match="checksum"):
        artifacts.load_model(copy / "churn.card.json", copy)


def test_models_outside_the_project_folder_are_refused(kept, tmp_path: Path) -> None:
    _, _, folder = kept
    elsewhere = tmp_path / "models"
    with pytest.raises(artifacts.ModelArtifactError, match="not inside"):
        artifacts.load_model(folder / "churn.card.json", elsewhere)
    with pytest.raises(artifacts.ModelArtifactError, match="no model card"):
        artifacts.load_model(elsewhere / "churn.card.json", elsewhere)


def test_a_card_cannot_point_to_a_file_elsewhere(kept, tmp_path: Path) -> None:
    _, _, folder = kept
    copy = tmp_path / "models"
    copy.mkdir()
    raw = json.loads((folder / "churn.card.json").read_text())
    raw["file"] = str(folder / "churn.joblib")  # an absolute path out of this folder
    (copy / "churn.card.json").write_text(json.dumps(raw))
    with pytest.raises(artifacts.ModelArtifactError, match="no model file beside it"):
        artifacts.load_model(copy / "churn.card.json", copy)


def test_the_kept_model_is_chosen_on_validation_among_boosted_trees() -> None:
    settings = ModelParams(
        n_boot=10,
        learners=["recency rule", "logistic regression", "LightGBM", "CatBoost"],
        tuned=[],
    )
    result = tasks.run_task(churn_table(), FEATURES, "churn", settings, seed=2, top_k=0.2)
    val = {
        n: models.M.pr_auc(result.data.y["validation"], f.validation)
        for n, f in result.fitted.items()
    }
    assert result.chosen == max(("LightGBM", "CatBoost"), key=val.get)
    # flipping the test labels cannot change the choice
    flipped = churn_table()
    test = flipped["split"] == "test"
    flipped.loc[test, "dormant"] = 1 - flipped.loc[test, "dormant"]
    again = tasks.run_task(flipped, FEATURES, "churn", settings, seed=2, top_k=0.2)
    assert again.chosen == result.chosen
    with pytest.raises(ValueError, match="no tree model"):
        tasks.run_task(
            churn_table(),
            FEATURES,
            "churn",
            ModelParams(n_boot=10, learners=["logistic regression"], tuned=[]),
            2,
            0.2,
        )


def test_the_benchmark_gives_the_same_numbers_for_any_number_of_workers() -> None:
    """Learners run side by side in worker processes, each on one thread: one worker and
    two must give identical tables, thresholds and scores (and tuning histories)."""
    import pandas as pd

    table = churn_table(n_users=800)
    # a second task on the same rows: "purchase" is the churn label turned around
    table["purchase"] = 1.0 - table["dormant"]
    base = dict(
        n_boot=20,
        learners=["random forest", "logistic regression", "LightGBM"],
        tuned=["LightGBM"],
        n_trials=3,
    )
    one, t1 = tasks.run_tasks(
        table, FEATURES, ["churn", "purchase"], ModelParams(**base, workers=1), 3, 0.2
    )
    two, t2 = tasks.run_tasks(
        table, FEATURES, ["churn", "purchase"], ModelParams(**base, workers=2), 3, 0.2
    )
    for task in ("churn", "purchase"):
        pd.testing.assert_frame_equal(one[task].table, two[task].table)
        assert one[task].chosen == two[task].chosen
        np.testing.assert_array_equal(one[task].kept.test, two[task].kept.test)
        for name, fitted in one[task].fitted.items():
            np.testing.assert_array_equal(fitted.test, two[task].fitted[name].test)
    # every job is timed once, whichever worker ran it
    assert len(t1) == len(t2) == 2 * (4 + 3 + 1)
    assert set(t1["step"]) == set(t2["step"]) and (t1["seconds"] > 0).all()
