"""Segmentation and action: statistics against scipy/statsmodels, cuts, RFM, clusters, campaign."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.meta_analysis import effectsize_smd
from statsmodels.stats.multitest import multipletests

from shoplog.action import campaign, groups, priority, segments, summary
from shoplog.publish import report


@pytest.fixture
def two_groups() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.gamma(2.0, 3.0, 400), rng.gamma(2.0, 2.4, 900)


def test_hedges_g_and_its_interval_match_statsmodels(two_groups) -> None:
    x, y = two_groups
    g, low, high = groups.hedges_g(x, y)
    ref, var = effectsize_smd(x.mean(), x.std(ddof=1), len(x), y.mean(), y.std(ddof=1), len(y))
    assert g == pytest.approx(ref, rel=1e-12)
    half = stats.norm.ppf(0.975) * np.sqrt(var)
    assert (low, high) == pytest.approx((ref - half, ref + half), rel=1e-12)
    # antisymmetric, and zero for identical samples
    assert groups.hedges_g(y, x)[0] == pytest.approx(-g)
    assert groups.hedges_g(x, x.copy())[0] == pytest.approx(0.0)


def test_rank_biserial_is_twice_the_auc_minus_one_and_its_interval_covers(two_groups) -> None:
    x, y = two_groups
    u = stats.mannwhitneyu(x, y, alternative="two-sided").statistic
    r, low, high = groups.rank_biserial(float(u), len(x), len(y))
    labels = np.r_[np.ones(len(x)), np.zeros(len(y))]
    assert r == pytest.approx(2 * roc_auc_score(labels, np.r_[x, y]) - 1, rel=1e-12)
    assert low < r < high
    # the Hanley-McNeil width agrees with a bootstrap of the statistic to within 20%
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(400):
        bx, by = rng.choice(x, len(x)), rng.choice(y, len(y))
        boot.append(2 * stats.mannwhitneyu(bx, by).statistic / (len(x) * len(y)) - 1)
    width = high - low
    assert width == pytest.approx(2 * 1.96 * np.std(boot), rel=0.2)


def test_compare_groups_matches_scipy_and_statsmodels_with_missing_values() -> None:
    rng = np.random.default_rng(3)
    n = 600
    group = rng.random(n) < 0.3
    # "same": both groups cycle through 0..9, so their distributions are the same
    same = np.empty(n)
    same[group] = np.arange(group.sum()) % 10
    same[~group] = np.arange((~group).sum()) % 10
    table = pd.DataFrame(
        {
            "shifted": rng.normal(0, 1, n) + 0.5 * group,
            "same": same,
            "gappy": np.where(rng.random(n) < 0.2, np.nan, rng.exponential(1, n) + group),
            "constant": np.ones(n),
        }
    )
    out = groups.compare_groups(table, list(table.columns), group, alpha=0.05).set_index("feature")
    for name in ("shifted", "same", "gappy"):
        col = table[name].to_numpy()
        x, y = col[group], col[~group]
        x, y = x[~np.isnan(x)], y[~np.isnan(y)]
        t = stats.ttest_ind(x, y, equal_var=False)
        u = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
        row = out.loc[name]
        assert (row["n_group"], row["n_rest"]) == (len(x), len(y))
        assert row["t"] == pytest.approx(t.statistic)
        assert row["p_welch"] == pytest.approx(t.pvalue)
        assert row["p_mann_whitney"] == pytest.approx(u.pvalue)
    tested = out.drop(index="constant")
    for col in ("p_welch", "p_mann_whitney"):
        ref = multipletests(tested[col], method="fdr_bh")[1]
        np.testing.assert_allclose(tested[f"{col}_bh"], ref)
    # a constant feature cannot be tested and is not in the FDR family
    assert np.isnan(out.loc["constant", "p_welch"]) and not out.loc["constant", "significant"]
    assert out.loc["shifted", "significant"] and out.loc["gappy", "significant"]
    assert not out.loc["same", "significant"]
    with pytest.raises(ValueError, match="both groups"):
        groups.compare_groups(table, ["same"], np.ones(n, dtype=bool))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=60))
def test_bh_adjusted_p_values_keep_the_order_of_the_raw_ones(p: list[float]) -> None:
    raw = np.array(p)
    adj = groups.bh_adjust(raw)
    assert np.all(adj >= raw - 1e-15) and np.all(adj <= 1)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(adj[order]) >= -1e-15)


def test_bh_keeps_missing_values_missing() -> None:
    adj = groups.bh_adjust(np.array([0.01, np.nan, 0.04]))
    assert np.isnan(adj[1])
    np.testing.assert_allclose(adj[[0, 2]], multipletests([0.01, 0.04], method="fdr_bh")[1])


def test_plain_words_lists_significant_meaningful_differences_largest_first() -> None:
    comparison = pd.DataFrame(
        {
            "feature": ["a", "b", "c", "d"],
            "significant": [True, True, False, True],
            "hedges_g": [0.3, -0.9, 1.5, 0.05],
            "g_low": [0.2, -1.0, 1.4, 0.0],
            "g_high": [0.4, -0.8, 1.6, 0.1],
            "rank_biserial": [0.2, -0.5, 0.7, 0.0],
            "rb_low": [0.1, -0.6, 0.6, -0.1],
            "rb_high": [0.3, -0.4, 0.8, 0.1],
            "mean_group": [2.0, 1.0, 9.0, 1.0],
            "mean_rest": [1.5, 4.0, 1.0, 1.0],
            "median_group": [2.0, 0.0, 9.0, 1.0],
            "median_rest": [1.0, 3.0, 1.0, 1.0],
        }
    )
    words = groups.plain_words(
        comparison, {"b": "Sessions in the last 30 days."}, "priority users", "the rest"
    )
    assert list(words["Feature"]) == ["b", "a"]  # c not significant, d negligible
    assert words.iloc[0]["In plain words"].startswith(
        "Lower for priority users than the rest: sessions in the last 30 days, mean 1.00 "
        "against 4.00"
    )
    assert list(words["Effect"]) == ["large", "small"]


def test_natural_break_is_the_best_two_class_split() -> None:
    rng = np.random.default_rng(5)
    values = np.round(np.r_[rng.normal(1, 0.3, 300), rng.normal(4, 0.5, 100)], 2)
    cut = priority.natural_break(values)
    x = np.sort(values)

    def within(k: int) -> float:
        return ((x[:k] - x[:k].mean()) ** 2).sum() + ((x[k:] - x[k:].mean()) ** 2).sum()

    valid = [k for k in range(1, len(x)) if x[k] != x[k - 1]]
    best = min(valid, key=within)
    assert cut == x[best]
    assert 2 < cut < 3.5
    with pytest.raises(ValueError, match="two distinct"):
        priority.natural_break(np.ones(5))


def test_top_fraction_cut_and_priority_cut() -> None:
    values = np.arange(100.0)
    assert priority.top_fraction_cut(values, 0.2) == 80.0
    assert (values >= priority.priority_cut(values, "top_fraction", 0.2)).sum() == 20
    with pytest.raises(ValueError, match="unknown priority cut"):
        priority.priority_cut(values, "median", 0.2)
    with pytest.raises(ValueError, match="probabilities"):
        priority.priority_score(np.array([1.2]), np.array([3.0]))
    assert priority.priority_score(np.array([0.5, 0.1]), np.array([10.0, 0.0])).tolist() == [
        5.0,
        0.0,
    ]


def test_rfm_grid_covers_every_cell_once_and_scores_share_ties() -> None:
    names = {segments.rfm_segment(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert names == set(segments.RFM_ORDER)
    assert segments.rfm_segment(5, 5) == "Champions" and segments.rfm_segment(1, 1) == "Hibernating"
    table = pd.DataFrame(
        {
            "days": [1, 2, 3, 40, 50, 60, 70, 80, 90, 100],
            "sessions": [9, 9, 9, 1, 1, 1, 1, 1, 2, 3],
            "spend": [500, 0, np.nan, 0, 0, 0, 0, 0, 10, 20],
        }
    )
    out = segments.rfm_table(table, "days", "sessions", "spend", bins=5)
    assert out["R"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]  # fewer days, higher score
    assert out["F"].iloc[3:8].nunique() == 1  # tied sessions share a score
    assert out.loc[0, "segment"] == "Champions"
    assert out.loc[9, "segment"] in {"Hibernating", "At risk"}


def test_clusters_find_separated_groups_and_name_them_by_size() -> None:
    rng = np.random.default_rng(11)
    sizes = (300, 150, 60)
    blocks = [
        pd.DataFrame({"visits": rng.poisson(lam, n), "spend": rng.gamma(2, scale, n)})
        for n, lam, scale in zip(sizes, (1, 30, 8), (0.5, 20, 500), strict=True)
    ]
    table = pd.concat(blocks, ignore_index=True)
    X = segments.log_features(table, ["visits", "spend"])
    k, scores = segments.choose_k((X - X.mean(axis=0)) / X.std(axis=0), [2, 3, 4, 5], seed=1)
    assert k == 3 and len(scores) == 4
    clusters = segments.fit_clusters(table, ["visits", "spend"], k, 1, {"visits": "visits"})
    assigned = clusters.assign(table)
    counts = pd.Series(assigned).value_counts()
    assert counts[next(n for n in clusters.names if n.startswith("C1"))] == counts.max()
    # each generated block falls (almost entirely) in a cluster of its own
    starts = np.cumsum((0, *sizes))
    majority = []
    for a, b in itertools.pairwise(starts):
        shares = pd.Series(assigned[a:b]).value_counts(normalize=True)
        assert shares.iloc[0] >= 0.95
        majority.append(shares.index[0])
    assert len(set(majority)) == 3
    with pytest.raises(ValueError, match="non-negative"):
        segments.log_features(pd.DataFrame({"x": [-1.0]}), ["x"])


def test_contact_value_and_campaign_curves() -> None:
    c = campaign.Campaign(
        contact_cost=1, offer_cost=10, uplift=0.1, stayer_take_rate=0.2, margin=0.5
    )
    profit, cost = campaign.contact_value(np.array([0.8, 0.0]), np.array([400.0, 400.0]), c)
    # 0.8 x 0.1 x 0.5 x 400 = 16 gained; cost 1 + 10 x (0.08 + 0.2 x 0.2) = 2.2
    assert cost.tolist() == pytest.approx([2.2, 3.0])
    assert profit.tolist() == pytest.approx([13.8, -3.0])
    rng = np.random.default_rng(2)
    p, v = rng.random(200), rng.gamma(2, 50, 200)
    ids = np.array([f"u{i:03d}" for i in range(200)])
    order = campaign.ranking(p * v, ids)
    curve = campaign.campaign_curve(order, p, v, c, steps=200)
    each, _ = campaign.contact_value(p, v, c)
    assert curve.loc[curve["users"] == 37, "profit"].item() == pytest.approx(each[order[:37]].sum())
    best = campaign.best_k(curve)
    assert best["profit"] == curve["profit"].max()
    # random targeting: the mean over random orders
    rand = campaign.random_curve(p, v, c, steps=200)
    sims = [each[rng.permutation(200)[:50]].sum() for _ in range(4000)]
    assert rand.loc[rand["users"] == 50, "profit"].item() == pytest.approx(np.mean(sims), abs=1.0)
    # ties in the score are broken by user id
    assert campaign.ranking(np.array([1.0, 2.0, 1.0]), np.array(["b", "z", "a"])).tolist() == [
        1,
        2,
        0,
    ]


def test_normalized_gini_orders() -> None:
    actual = np.array([0.0, 0.0, 5.0, 10.0, 50.0])
    assert priority.normalized_gini(actual, actual) == pytest.approx(1.0)
    assert priority.normalized_gini(actual, -actual) < 0
    # a constant prediction orders nothing
    assert priority.normalized_gini(actual, np.ones(5)) == pytest.approx(0.0)


FULL = {
    "01_data": {"data_label": "synthetic shop (default preset)"},
    "06_models": {"churn_kept_lift_at_k": 2.345, "top_k": 0.2, "churn_kept": "LightGBM"},
    "10_priority": {
        "expected_churners": 7.2, "expected_churn_share": 0.18, "revenue_at_risk": 1200.0,
        "revenue_last_horizon": 5000.0, "score_anchor": "2020-07-01", "users_scored": 40,
        "horizon_days": 30, "lookback_days": 90, "currency": "EUR",
        "risk_bands": [{"band": "0% to 50%", "users": 30, "expected_churners": 3.0},
                       {"band": "50% to 100%", "users": 10, "expected_churners": 4.2}],
    },
    "12_targeting": {
        "recommended_k": 5, "recommended_share": 0.125, "expected_profit": 12.0,
        "expected_cost": 10.0, "expected_roi": 1.2, "revenue_kept": 60.0, "kept_share": 0.05,
        "uplift": 0.1, "test_anchor": "2020-06-03", "backtest_listed": 6,
        "list_lift": 1.31, "list_lift_low": 1.1, "list_lift_high": 1.52,
        "model_lift": 1.5, "model_lift_low": 1.3, "model_lift_high": 1.7,
        "recency_lift": 1.45, "recency_lift_low": 1.2, "recency_lift_high": 1.66,
        "sensitivity": [{"assumption": "uplift", "low_value": 0.05, "base_value": 0.1,
                         "high_value": 0.15, "profit_low": 2.0, "profit_high": 30.0}],
        "swing_assumption": "uplift", "holdout_users": 1, "holdout_power": 0.07,
        "holdout_fraction": 0.2, "holdout_needed": None, "holdout_target": 0.8,
    },
}  # fmt: skip


def test_the_summary_headline_reads_from_the_chapters() -> None:
    n = summary.summary_numbers(FULL)
    assert n["currency"] == "EUR" and n["data_label"].startswith("synthetic")
    table = summary.headline(n)
    assert table.startswith(
        "**Data: synthetic shop (default preset).** On 2020-07-01, the end of the analysed "
        "log, 40 users had been active in the previous 90 days."
    )
    # one HTML table (Markdown outputs are CommonMark: a pipe table would show as text)
    assert "|" not in table and table.count("<tr>") == 9
    assert "7 of 40 users (18%)" in table
    assert "50% to 100%: 10 users<br>0% to 50%: 30 users" in table
    assert "1,200 EUR (the shop took 5,000 EUR in the last 30 days)" in table
    assert "1.31 [1.10, 1.52]<br>churn model's top list: 1.50 [1.30, 1.70]" in table
    # the list's lift is below the model's here, and the table says why
    assert "ranked by expected profit (risk times value)" in table
    higher = {**FULL, "12_targeting": {**FULL["12_targeting"], "list_lift": 1.6}}
    assert "ranked by expected profit" not in summary.headline(summary.summary_numbers(higher))
    assert "12 EUR for a cost of 10 EUR (ROI 120%)" in table
    assert "60 EUR (5.0% of the revenue at risk)" in table
    assert "1 user; power 7%" in table
    sens = summary.sensitivity_table(n)
    assert "<td>Uplift</td>" in sens and "0.05 / 0.1 / 0.15" in sens and "30 EUR" in sens
    text = summary.recommendation(n)
    assert text.startswith("Contact the 5 users on the targeting list")
    assert "earn 12 EUR on a cost of 10 EUR" in text and "scenario, not a measurement" in text
    assert "cannot measure the uplift: holding out 1 user gives a power of 7%, and no split" in text
    measurable = summary.recommendation({**n, "holdout_needed": 700, "holdout_users": 900})
    assert "Keep 900 of the listed users uncontacted at random" in measurable
    assert "80% power needs at least 700 held out" in measurable
    dont = summary.recommendation({**n, "recommended_k": 0})
    assert dont.startswith("Do not run") and "with 1,200 EUR of revenue" in dont
    # the revenue of the last horizon is left out when the lookback could not see it
    everyone = {**FULL, "12_targeting": {**FULL["12_targeting"], "backtest_users": 6}}
    text_all = summary.headline(summary.summary_numbers(everyone))
    assert "the rule listed every scored user there (lift 1 by definition)" in text_all
    assert "1.31 [1.10, 1.52]" not in text_all
    partial = {**FULL, "10_priority": {**FULL["10_priority"], "revenue_last_horizon": None}}
    assert "the shop took" not in summary.headline(summary.summary_numbers(partial))


def test_the_summary_says_what_it_can_when_only_the_models_applied() -> None:
    n = summary.summary_numbers({"06_models": FULL["06_models"]})
    text = summary.headline(n)
    assert text.startswith("The churn model finds 2.35 times more churners than")
    assert "no revenue at risk" in text and "nan" not in text
    assert summary.recommendation(n).startswith("No campaign is recommended")


def test_p_values_never_print_as_zero() -> None:
    assert report.p_text(0.0) == "p < 1e-15"
    assert report.p_text(3.4e-15) == "p = 3.4e-15"
    assert report.p_text(0.0321) == "p = 0.032"


def test_share_words_say_most_only_above_half() -> None:
    assert report.share_words(0.47) == "less than half of"
    assert report.share_words(0.5) == "half of"
    assert report.share_words(0.504) == "half of"  # prints as 50%
    assert report.share_words(0.51) == "most of"
    assert report.share_words(1.0) == "all of"
    assert report.share_words(0.998) == "most of"


def test_value_is_unavailable_without_any_spend() -> None:
    table = pd.DataFrame(
        {"split": ["train", "train", "test"], "dormant": [0.0, 1.0, 0.0],
         "spend_next": [0.0, 0.0, 3.0]}
    )  # fmt: skip
    assert "no prices" in priority.value_unavailable(table)
    table.loc[0, "spend_next"] = 2.0
    assert priority.value_unavailable(table) is None


def test_rows_at_aligns_users_and_refuses_a_stale_priority_table() -> None:
    anchor = pd.Timestamp("2020-01-01")
    table = pd.DataFrame({"user_id": ["a", "b"], "anchor": [anchor] * 2, "x": [1, 2]})
    scored = pd.DataFrame({"user_id": ["a", "b"], "anchor": [anchor] * 2, "p": [0.1, 0.2]})
    rows, scores = priority.rows_at(table, scored, anchor, "priority.parquet")
    assert rows["x"].tolist() == [1, 2] and scores["p"].tolist() == [0.1, 0.2]
    stale = scored.assign(user_id=["a", "c"])
    with pytest.raises(ValueError, match=r"priority\.parquet: the users at"):
        priority.rows_at(table, stale, anchor, "priority.parquet")


def test_the_risk_gap_sentence_weights_users_and_says_when_it_cannot() -> None:
    profile = pd.DataFrame(
        {"Users": [30, 10, 0], "Predicted risk": [0.5, 0.2, 0.9],
         "Observed churn (test anchor)": [0.4, 0.4, float("nan")]}
    )  # fmt: skip
    # (30 x 0.1 + 10 x 0.2) / 40 = 12.5%
    assert segments.risk_gap_sentence(profile).startswith(
        "Predicted risk and observed churn differ by 12.5% points"
    )
    profile["Observed churn (test anchor)"] = float("nan")
    assert segments.risk_gap_sentence(profile).startswith("No segment has users at the test")


def test_the_categories_sentence_says_whether_segments_differ() -> None:
    same = pd.DataFrame({"Most visited categories": ["shoes, bags", "shoes, bags"]})
    differ = pd.DataFrame({"Most visited categories": ["shoes, bags", "phones"]})
    assert "are the same" in segments.categories_sentence(same)
    assert "differ between segments" in segments.categories_sentence(differ)
