"""Metrics against hand-computed values; weights as replication; the bootstrap resamples users."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoplog.modeling import metrics as M


def test_pr_auc_by_hand() -> None:
    # positives at ranks 1 and 3: precision 1/1 and 2/3
    assert M.pr_auc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx((1 + 2 / 3) / 2)
    assert np.isnan(M.pr_auc([0, 0], [0.1, 0.2]))


def test_top_k_shares_ties_fairly_and_ignores_row_order() -> None:
    y = np.array([1, 0, 1, 0, 0])
    p = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    # K = 2: the 0.9 row, then one third of the three rows tied at 0.5 (one positive)
    assert M.precision_at_k(y, p, 0.4) == pytest.approx((1 + 1 / 3) / 2)
    assert M.recall_at_k(y, p, 0.4) == pytest.approx((1 + 1 / 3) / 2)
    assert M.lift_at_k(y, p, 0.4) == pytest.approx(((1 + 1 / 3) / 2) / (2 / 5))
    rng = np.random.default_rng(0)
    for _ in range(5):
        order = rng.permutation(5)
        assert M.precision_at_k(y[order], p[order], 0.4) == pytest.approx((1 + 1 / 3) / 2)


def test_best_f1_threshold_by_hand() -> None:
    y = [1, 1, 0, 1, 0]
    p = [0.9, 0.8, 0.7, 0.6, 0.2]
    # F1 at >= 0.9, 0.8, 0.7, 0.6, 0.2: 1/2, 4/5, 2/3, 6/7, 3/4
    t = M.best_f1_threshold(y, p)
    assert t.value == 0.6 and t.f1 == pytest.approx(6 / 7)
    assert M.f1_at(y, p, t.value) == pytest.approx(6 / 7)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 20), st.integers(0, 3)), min_size=2, max_size=30
    )
)
def test_weights_equal_replicated_rows(rows) -> None:
    y = np.array([r[0] for r in rows], dtype=float)
    p = np.array([r[1] for r in rows], dtype=float) / 20
    w = np.array([r[2] for r in rows], dtype=float)
    if w.sum() == 0:
        return
    yr, pr = np.repeat(y, w.astype(int)), np.repeat(p, w.astype(int))
    for metric in (M.pr_auc, M.roc_auc, M.brier):
        a, b = metric(y, p, w), metric(yr, pr)
        assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b)
    for fraction in (0.1, 0.35, 1.0):
        a = M.precision_at_k(y, p, fraction, w)
        b = M.precision_at_k(yr, pr, fraction)
        assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b)
    assert M.f1_at(y, p, 0.5, w) == pytest.approx(M.f1_at(yr, pr, 0.5))


def test_bootstrap_resamples_users_not_rows() -> None:
    rng = np.random.default_rng(3)
    users = np.arange(30)
    y = rng.integers(0, 2, 30)
    p = np.clip(y * 0.3 + rng.random(30) * 0.7, 0, 1)
    one = M.user_bootstrap(M.pr_auc, y, p, users, n_boot=100, seed=5)
    # every user 50 times: resampling users gives the very same interval ...
    many = M.user_bootstrap(
        M.pr_auc, np.repeat(y, 50), np.repeat(p, 50), np.repeat(users, 50), n_boot=100, seed=5
    )
    assert (many.estimate, many.low, many.high) == pytest.approx((one.estimate, one.low, one.high))
    # ... where resampling rows would pretend to 50 times the data
    rows = M.user_bootstrap(
        M.pr_auc, np.repeat(y, 50), np.repeat(p, 50), np.arange(1500), n_boot=100, seed=5
    )
    assert rows.high - rows.low < (one.high - one.low) / 3
    assert one.low <= one.estimate <= one.high


def test_bad_input_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="lengths differ"):
        M.pr_auc([1, 0], [0.1])
    with pytest.raises(ValueError, match="NaN"):
        M.precision_at_k([1, 0], [np.nan, 0.2])
    with pytest.raises(ValueError, match="top-K fraction"):
        M.precision_at_k([1, 0], [0.3, 0.2], 0)


def test_gains_run_from_nothing_to_everything_and_never_fall() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = rng.random(200)
    share, found = M.gains(y, p)
    assert found[0] == 0 and found[-1] == pytest.approx(1.0)
    assert (np.diff(found) >= -1e-12).all()
    # a perfect ranking finds every positive once it has contacted as many rows
    share, found = M.gains(y, y.astype(float))
    rate = y.mean()
    assert np.interp(rate, share, found) == pytest.approx(1.0, abs=0.02)


@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=1, max_size=60),
    st.integers(2, 23),
)
def test_gains_equal_recall_at_k_at_every_share_with_ties(rows, points) -> None:
    y = np.array([r[0] for r in rows], dtype=float)
    p = np.array([r[1] for r in rows], dtype=float) / 6  # few distinct scores: many ties
    share, found = M.gains(y, p, points)
    expected = [0.0] + [M.recall_at_k(y, p, s) for s in share[1:]]
    np.testing.assert_allclose(found, expected, atol=1e-12)


def test_calibration_of_calibrated_scores_follows_the_diagonal() -> None:
    rng = np.random.default_rng(2)
    p = rng.random(20_000)
    y = (rng.random(20_000) < p).astype(float)
    predicted, observed, sizes = M.calibration(y, p, bins=10)
    assert sizes.sum() == 20_000
    assert np.abs(predicted - observed).max() < 0.03


def test_metric_per_anchor() -> None:
    y = [1, 0, 1, 1, 0, 0]
    p = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3]
    anchors = ["a", "a", "a", "b", "b", "b"]
    per = M.by_group(M.roc_auc, y, p, anchors)
    assert per == {"a": 1.0, "b": 0.0}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 10), st.integers(0, 8)), min_size=3, max_size=40
    ),
    st.sampled_from([0.1, 0.2, 0.5, 1.0]),
    st.integers(0, 10),
)
def test_vectorised_bootstrap_equals_each_metric_bootstrapped(rows, fraction, cut) -> None:
    y = np.array([r[0] for r in rows], dtype=float)
    p = np.array([r[1] for r in rows], dtype=float) / 10  # coarse: many tied scores
    users = np.array([r[2] for r in rows])  # users at several rows
    threshold = cut / 10
    fast = M.bootstrap_benchmark(y, p, users, threshold, fraction, n_boot=30, seed=7)
    single = {
        "pr_auc": M.pr_auc,
        "roc_auc": M.roc_auc,
        "brier": M.brier,
        "precision_at_k": lambda a, b, w: M.precision_at_k(a, b, fraction, w),
        "recall_at_k": lambda a, b, w: M.recall_at_k(a, b, fraction, w),
        "lift_at_k": lambda a, b, w: M.lift_at_k(a, b, fraction, w),
        "f1": lambda a, b, w: M.f1_at(a, b, threshold, w),
    }
    assert set(fast) == set(single)
    for name, metric in single.items():
        slow = M.user_bootstrap(metric, y, p, users, n_boot=30, seed=7)
        got = (fast[name].estimate, fast[name].low, fast[name].high)
        want = (slow.estimate, slow.low, slow.high)
        assert got == pytest.approx(want, nan_ok=True), name


def test_paired_interval_is_narrow_where_separate_intervals_overlap() -> None:
    """Two models that rank the same users almost alike: their separate intervals overlap
    almost entirely, yet the paired difference, computed resample by resample on the same
    users, is clear of zero (the case the benchmark's old caption got wrong)."""
    rng = np.random.default_rng(3)
    n = 4000
    y = (rng.random(n) < 0.3).astype(float)
    base = y * 0.8 + rng.normal(0, 1, n)
    better = base + y * 0.15  # a small, real improvement on the same ranking
    users = np.arange(n)
    pa, da = M.bootstrap_draws(y, better, users, 0.5, 0.2, 300, 7)
    pb, db = M.bootstrap_draws(y, base, users, 0.5, 0.2, 300, 7)
    sep_a = M.percentile_interval(pa["pr_auc"], da["pr_auc"])
    sep_b = M.percentile_interval(pb["pr_auc"], db["pr_auc"])
    assert sep_a.low < sep_b.high  # the separate intervals overlap
    diff = M.paired_interval(pa["pr_auc"], da["pr_auc"], pb["pr_auc"], db["pr_auc"])
    assert diff.estimate == pytest.approx(pa["pr_auc"] - pb["pr_auc"])
    assert 0 < diff.low < diff.estimate < diff.high
    assert diff.high - diff.low < (sep_a.high - sep_a.low) / 2
    # a model against itself: exactly zero in every resample
    same = M.paired_interval(pa["pr_auc"], da["pr_auc"], pa["pr_auc"], da["pr_auc"])
    assert (same.low, same.estimate, same.high) == (0.0, 0.0, 0.0)
    # the draws agree with the single-metric bootstrap (the same resamples)
    single = M.user_bootstrap(M.pr_auc, y, better, users, n_boot=300, seed=7)
    assert (sep_a.low, sep_a.high) == pytest.approx((single.low, single.high))


def test_paired_draws_must_share_resamples() -> None:
    with pytest.raises(ValueError, match="same resamples"):
        M.paired_interval(0.5, np.zeros(10), 0.4, np.zeros(20))
