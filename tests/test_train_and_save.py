"""The models step as a package function: benchmark, choose, calibrate and save both tasks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from modeltables import FEATURES, churn_table

from shoplog.config.params import ModelParams
from shoplog.config.paths import benchmark_name, paired_name
from shoplog.dataset.labels import LABELS
from shoplog.dataset.sequences import CHANNELS, Sequences
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


def test_paired_differences_against_the_kept_model_and_baselines(tmp_path) -> None:
    """Every model minus the kept model and minus the recency rule, on the same resamples:
    the written table agrees with the benchmark's point estimates, and the sentence reads
    from it."""
    settings = ModelParams(n_boot=50, learners=["LightGBM", "logistic regression"], tuned=[])
    run = tasks.train_and_save(two_task_table(), settings, 3, 0.2, FEATURE_SETTINGS, tmp_path)
    result = run.results["churn"]
    kept = result.kept.name
    paired = pd.read_csv(tmp_path / paired_name("churn"))
    pd.testing.assert_frame_equal(paired, run.paired["churn"])  # what the chapter shows
    point = result.table.set_index("model")["pr_auc"]
    assert set(paired["reference"]) == {kept, "recency rule", "BG/NBD P(alive)"}
    assert len(paired) == 3 * (len(point) - 1)
    for row in paired.itertuples():
        assert row.difference == pytest.approx(point[row.model] - point[row.reference])
        assert row.low <= row.difference <= row.high
    # prevalence ranks no one: the kept model is clearly above it
    prev = paired[paired["model"].eq("prevalence") & paired["reference"].eq(kept)].iloc[0]
    assert prev["high"] < 0 and prev["excludes_zero"]
    baselines = ("prevalence", "recency rule", "RFM score", "BG/NBD P(alive)")
    text = tasks.paired_sentence(paired, kept, baselines)
    vs_recency = paired[paired["model"].eq(kept) & paired["reference"].eq("recency rule")].iloc[0]
    assert f"the recency rule's by {vs_recency['difference']:+.3f}" in text
    others = [m for m in point.index if m not in (kept, *baselines)]
    assert f"Of the {len(others)} other models" in text


def test_paired_sentence_words_follow_the_intervals() -> None:
    rows = [
        ("A", "K", -0.05, -0.08, -0.02),
        ("B", "K", 0.001, -0.002, 0.004),
        ("K", "recency rule", 0.03, 0.01, 0.05),
        ("K", "BG/NBD P(alive)", -0.001, -0.01, 0.008),
    ]
    paired = pd.DataFrame(rows, columns=["model", "reference", "difference", "low", "high"])
    paired["excludes_zero"] = (paired["low"] > 0) | (paired["high"] < 0)
    text = tasks.paired_sentence(paired, "K", ("recency rule", "BG/NBD P(alive)"))
    assert "higher than the recency rule's by +0.030 [+0.010, +0.050]" in text
    assert "not distinguishable from the BG/NBD P(alive)'s by -0.001" in text
    assert "Of the 2 other models, the test anchors put 1 below the kept model and 0 above" in text
    better = paired.assign(
        difference=[0.05, 0.001, 0.03, -0.001],
        low=[0.01, -0.002, 0.01, -0.01],
        high=[0.08, 0.004, 0.05, 0.008],
    )
    better["excludes_zero"] = (better["low"] > 0) | (better["high"] < 0)
    named = tasks.paired_sentence(better, "K", ("recency rule", "BG/NBD P(alive)"))
    assert "put 0 below the kept model and 1 above it (A +0.050 [+0.010, +0.080])" in named
    assert "cannot tell 1 from it (B +0.001 [-0.002, +0.004])" in text


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


def test_recency_bands_and_lookbacks_split_the_test_rows(tmp_path) -> None:
    settings = ModelParams(n_boot=40, learners=["LightGBM"], tuned=[])
    run = tasks.train_and_save(two_task_table(), settings, 3, 0.2, FEATURE_SETTINGS, tmp_path)
    result = run.results["churn"]
    days = result.data.X["test"]["days_since_last_event"].to_numpy()
    lookback = int(np.ceil(days.max())) + 1
    bands = tasks.recency_bands(result, [7, 30], lookback, 0.2, 40, 3)
    assert bands["rows"].sum() == len(days)
    assert bands["band"].iloc[0] == "0 to 7 days"
    y = result.data.y["test"]
    first = days < 7
    assert bands["rate"].iloc[0] == pytest.approx(y[first].mean())
    for row in bands.dropna(subset=["difference"]).itertuples():
        assert row.difference == pytest.approx(row.kept_pr_auc - row.rule_pr_auc)
        assert row.low <= row.difference <= row.high
    looks = tasks.lookback_sensitivity(result, [lookback, 14, 7], 0.2)
    assert looks["lookback_days"].tolist() == sorted(looks["lookback_days"], reverse=True)
    assert looks["rows"].iloc[0] == len(days) and looks["share"].iloc[0] == 1.0
    assert (np.diff(looks["rows"]) <= 0).all()
    seven = looks.set_index("lookback_days").loc[7]
    assert seven["rate"] == pytest.approx(y[first].mean())


def test_selection_optimism_is_the_kept_gap_beyond_the_others(tmp_path) -> None:
    settings = ModelParams(n_boot=10, learners=["LightGBM", "logistic regression"], tuned=[])
    run = tasks.train_and_save(two_task_table(), settings, 3, 0.2, FEATURE_SETTINGS, tmp_path)
    result = run.results["churn"]
    t = result.table.set_index("model")
    gap = t["validation_pr_auc"] - t["pr_auc"]
    got = tasks.selection_optimism(result)
    assert got["kept_gap"] == pytest.approx(gap[result.kept.name], abs=5e-4)
    others = gap.drop(index=[result.kept.name, result.chosen])
    assert got["others_gap"] == pytest.approx(others.median(), abs=5e-4)
    assert got["optimism"] == pytest.approx(gap[result.kept.name] - others.median(), abs=5e-4)
    assert all(f"{v:+.3f}" != "-0.000" for v in got.values())


def sequence_inputs(n_users: int = 300) -> tuple[pd.DataFrame, Sequences]:
    """Two training anchors, a validation and a test anchor; users who stay active were
    active on the last days before the anchor, users who go dormant were not."""
    table = two_task_table()
    table = table[table["user_id"].isin([f"u{u}" for u in range(n_users)])]
    earlier = table[table["split"].eq("train")].assign(
        anchor=lambda d: d["anchor"] - pd.Timedelta(weeks=1)
    )
    table = pd.concat([earlier, table], ignore_index=True)
    rng = np.random.default_rng(5)
    rows = []
    for row in table.itertuples():
        active = row.dormant != 1 if rng.random() < 0.9 else row.dormant == 1
        for day in range(4, 7) if active else ():
            rows.append({"user_id": row.user_id, "anchor": row.anchor, "day_index": day})
    activity = pd.DataFrame(rows)
    for channel in CHANNELS:
        activity[channel] = 0.0
    activity["views"], activity["sessions"] = 3.0, 1.0
    return table.reset_index(drop=True), Sequences(activity, 7)


def test_the_sequence_models_join_the_benchmark_with_paired_differences(tmp_path) -> None:
    table, sequences = sequence_inputs()
    settings = ModelParams(n_boot=20, learners=["LightGBM", "GRU"], tuned=[], sequence_rows=400)
    run = tasks.train_and_save(
        table, settings, 3, 0.2, FEATURE_SETTINGS, tmp_path, sequences=sequences
    )
    for task in tasks.TASKS:
        result = run.results[task]
        assert "GRU" in set(result.table["model"])
        assert result.kept.name.startswith("LightGBM")  # the kept model stays a tree model
        net = result.fitted["GRU"].model
        assert net.days_ == 7 and net.stop_rule_ == "latest anchors"
        assert net.rows_fitted_ == 400 < len(result.data.y["train"])
        paired = run.paired[task]
        vs = paired[paired["model"].eq("GRU")].set_index("reference")
        assert {result.kept.name, "recency rule"} <= set(vs.index)
        text = tasks.sequence_sentence(result, paired)
        gru = result.table.set_index("model").loc["GRU"]
        assert f"the GRU's test PR-AUC is {gru['pr_auc']:.3f}" in text
        diff = vs.loc[result.kept.name]
        assert f"({diff['difference']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}])" in text
        beats = diff["low"] > 0
        assert text.endswith(
            "The GRU beats the kept model." if beats else "does not beat the kept model."
        )
    # churn: the days before the anchor tell who stays; the GRU ranks far above the base rate
    churn = run.results["churn"].table.set_index("model")["pr_auc"]
    assert churn["GRU"] > churn["prevalence"] + 0.1
    stop = tasks.sequence_stop_text(run.results, ["GRU"])
    shares = {round(100 * r.fitted["GRU"].model.stop_share_) for r in run.results.values()}
    assert stop.startswith("the latest training anchors (") and f"{min(shares)}%" in stop
    rows = tasks.sequence_rows_text(run.results, "GRU")
    assert rows.startswith("training rows drawn with the seed: 400 of ")
    assert rows.endswith(f"400 of {len(run.results['purchase'].data.y['train']):,} for purchase")


def test_the_sequence_verdict_reads_the_intervals() -> None:
    table = pd.DataFrame(
        {
            "model": ["GRU", "BiLSTM"],
            "pr_auc": [0.9, 0.8],
            "pr_auc_low": [0.88, 0.78],
            "pr_auc_high": [0.92, 0.82],
        }
    )
    paired = pd.DataFrame(
        {
            "model": ["GRU", "GRU", "BiLSTM", "BiLSTM"],
            "reference": ["kept", "recency rule", "kept", "recency rule"],
            "difference": [0.02, 0.3, -0.001, 0.2],
            "low": [0.01, 0.25, -0.01, 0.15],
            "high": [0.03, 0.35, 0.008, 0.25],
        }
    )

    class Kept:
        name = "kept"

    result = tasks.TaskResult("churn", "dormant", None, table, {}, final=Kept())  # type: ignore[arg-type]
    text = tasks.sequence_sentence(result, paired)
    assert "the GRU's test PR-AUC is 0.900 [0.880, 0.920], above the kept model's" in text
    assert "the BiLSTM's test PR-AUC is 0.800" in text
    assert "not distinguishable from the kept model's (-0.001 [-0.010, +0.008])" in text
    assert text.endswith("The GRU beats the kept model.")
    paired.loc[0, "low"] = -0.001
    assert tasks.sequence_sentence(result, paired).endswith(
        "Neither sequence model beats the kept model."
    )
    alone = tasks.sequence_sentence(
        tasks.TaskResult("churn", "dormant", None, table.iloc[:0], {}, final=Kept()),  # type: ignore[arg-type]
        paired,
    )
    assert "left out" in alone


def test_a_sequence_model_needs_the_sequences(tmp_path) -> None:
    table, _ = sequence_inputs(300)
    asked = ModelParams(n_boot=10, learners=["LightGBM", "GRU"], tuned=[])
    with pytest.raises(ValueError, match="need the daily sequences"):
        tasks.train_and_save(table, asked, 3, 0.2, FEATURE_SETTINGS, tmp_path)
    # the user tasks know both sequence models; the session tasks have no sequences
    assert {"GRU", "BiLSTM"} <= set(tasks.models.learners(3, "purchase"))
    assert not {"GRU", "BiLSTM"} & set(tasks.models.learners(3, "conversion"))
