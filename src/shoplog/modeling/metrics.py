"""Ranking and classification metrics for the model benchmark, with user-level bootstrap.

Every metric takes optional row weights, so a bootstrap resample of *users* is a weight
vector (how many times each row's user was drawn) instead of a copied table: rows of
one user stay together, as they must when a user appears at several anchors.

Top-K metrics treat ties fairly: when the K-th score is shared, each tied row counts
with the fraction of the tie group that fits in K, so the result does not depend on
row order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

Metric = Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]


def _arrays(y, p, w=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    w = np.ones_like(y) if w is None else np.asarray(w, dtype="float64")
    if not (len(y) == len(p) == len(w)):
        raise ValueError(f"lengths differ: y {len(y)}, scores {len(p)}, weights {len(w)}")
    if np.isnan(p).any():
        raise ValueError("scores contain NaN; impute or drop them before scoring")
    return y, p, w


def pr_auc(y, p, w=None) -> float:
    """Area under the precision-recall curve (average precision); NaN without positives."""
    y, p, w = _arrays(y, p, w)
    if (w * y).sum() == 0:
        return float("nan")
    return float(average_precision_score(y, p, sample_weight=w))


def roc_auc(y, p, w=None) -> float:
    """ROC-AUC; NaN when only one class is present."""
    y, p, w = _arrays(y, p, w)
    present = w > 0
    if len(np.unique(y[present])) < 2:
        return float("nan")
    return float(roc_auc_score(y, p, sample_weight=w))


def brier(y, p, w=None) -> float:
    """Mean squared error of the probabilities."""
    y, p, w = _arrays(y, p, w)
    return float(brier_score_loss(y, p, sample_weight=w))


def _top_k_positives(y, p, w, fraction: float) -> tuple[float, float, float]:
    """(weighted positives in the top K, K, total positives), with fair ties at the K-th score."""
    if not 0 < fraction <= 1:
        raise ValueError(f"top-K fraction must be in (0, 1], got {fraction}")
    total = w.sum()
    k = math.ceil(fraction * total - 1e-9)
    order = np.argsort(-p, kind="stable")
    ps, ys, ws = p[order], y[order], w[order]
    # scores grouped into tie blocks, best first
    _, starts = np.unique(-ps, return_index=True)
    ends = np.append(starts[1:], len(ps))
    taken, hits = 0.0, 0.0
    for s, e in zip(starts, ends, strict=True):
        block_w = ws[s:e].sum()
        block_pos = (ws[s:e] * ys[s:e]).sum()
        room = k - taken
        if room <= 0:
            break
        share = min(1.0, room / block_w) if block_w > 0 else 0.0
        taken += share * block_w
        hits += share * block_pos
    return hits, float(k), float((w * y).sum())


def precision_at_k(y, p, fraction: float = 0.2, w=None) -> float:
    """Share of positives among the top ``fraction`` of rows by score."""
    hits, k, _ = _top_k_positives(*_arrays(y, p, w), fraction)
    return hits / k if k else float("nan")


def recall_at_k(y, p, fraction: float = 0.2, w=None) -> float:
    """Share of all positives found in the top ``fraction`` of rows by score."""
    hits, _, positives = _top_k_positives(*_arrays(y, p, w), fraction)
    return hits / positives if positives else float("nan")


def lift_at_k(y, p, fraction: float = 0.2, w=None) -> float:
    """Precision in the top ``fraction`` over the overall positive rate (1 = random)."""
    y_, p_, w_ = _arrays(y, p, w)
    rate = (w_ * y_).sum() / w_.sum()
    return precision_at_k(y_, p_, fraction, w_) / rate if rate else float("nan")


def f1_at(y, p, threshold: float, w=None) -> float:
    """F1 of predicting positive when the score is at least ``threshold``."""
    y, p, w = _arrays(y, p, w)
    pred = p >= threshold
    tp = (w * (pred & (y == 1))).sum()
    fp = (w * (pred & (y == 0))).sum()
    fn = (w * (~pred & (y == 1))).sum()
    return float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0


@dataclass(frozen=True)
class Threshold:
    """A decision threshold and the F1 it reached where it was chosen."""

    value: float
    f1: float


def best_f1_threshold(y, p, w=None) -> Threshold:
    """The score threshold with the highest F1 (on the validation set: never on test).

    Candidates are the distinct scores; among equal F1, the highest threshold wins
    (fewer contacts for the same F1).
    """
    y, p, w = _arrays(y, p, w)
    order = np.argsort(-p, kind="stable")
    ps, ys, ws = p[order], y[order], w[order]
    tp = np.cumsum(ws * ys)
    fp = np.cumsum(ws * (1 - ys))
    positives = tp[-1] if len(tp) else 0.0
    last_of_score = np.append(ps[1:] != ps[:-1], True)  # predict positive for all >= score
    tp, fp, scores = tp[last_of_score], fp[last_of_score], ps[last_of_score]
    f1 = np.where(tp > 0, 2 * tp / (tp + fp + positives), 0.0)
    best = int(np.argmax(f1))  # first max: the highest threshold
    return Threshold(float(scores[best]), float(f1[best]))


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval."""

    estimate: float
    low: float
    high: float


def user_bootstrap(
    metric: Metric,
    y,
    p,
    users,
    n_boot: int = 200,
    seed: int = 42,
    level: float = 0.95,
) -> Interval:
    """``metric`` with a percentile interval from resampling *users* with replacement.

    Each resample draws as many users as there are, and weights each row by how many
    times its user was drawn. Resamples where the metric is undefined (no positive) are
    left out of the interval.
    """
    y, p, _ = _arrays(y, p)
    codes, counts = _draw_counts(users, n_boot, seed)
    values = []
    for row in counts:
        value = metric(y, p, row[codes].astype("float64"))
        if not math.isnan(value):
            values.append(value)
    estimate = metric(y, p, None)
    if not values:
        return Interval(estimate, float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high))


def gains(y, p, points: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative gains: share of all positives found when contacting the top share.

    Returns ``(share contacted, share of positives found)`` on ``points`` evenly spaced
    shares from 0 to 1, with fair ties (equal to :func:`recall_at_k` at every share, in
    one sort instead of one per point).
    """
    y, p, w = _arrays(y, p)
    shares = np.linspace(0, 1, points)
    order = np.argsort(-p, kind="stable")
    ps, ys, ws = p[order], y[order], w[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    block_pos = np.add.reduceat(ws * ys, starts)
    cum_w, cum_pos = np.cumsum(np.add.reduceat(ws, starts)), np.cumsum(block_pos)
    k = np.ceil(shares * w.sum() - 1e-9)
    hits = _hits_at(cum_w, cum_pos, block_pos, k)
    total = cum_pos[-1]
    found = hits / total if total else np.full_like(shares, np.nan)
    return shares, np.where(k > 0, found, 0.0)


def _hits_at(
    cum_w: np.ndarray, cum_pos: np.ndarray, block_pos: np.ndarray, k: np.ndarray
) -> np.ndarray:
    """Positive weight among the top ``k`` units of weight, with fair ties.

    The inputs are per block of tied scores, best first: cumulative weight, cumulative
    positive weight and the block's positive weight. Blocks before the one holding the
    K-th unit count fully; that block counts with the share of it that fits in K.
    """
    b = np.minimum(np.searchsorted(cum_w, k - 1e-9), len(cum_w) - 1)
    before_w = np.where(b > 0, cum_w[b - 1], 0.0)
    before_pos = np.where(b > 0, cum_pos[b - 1], 0.0)
    block_w = cum_w[b] - before_w
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(block_w > 0, np.clip((k - before_w) / block_w, 0.0, 1.0), 0.0)
    return before_pos + share * block_pos[b]


def calibration(y, p, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean predicted probability, observed rate and rows per bin of equal size (by score)."""
    y, p, _ = _arrays(y, p)
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, min(bins, len(p)))
    predicted = np.array([p[g].mean() for g in groups])
    observed = np.array([y[g].mean() for g in groups])
    sizes = np.array([len(g) for g in groups])
    return predicted, observed, sizes


def by_group(metric: Metric, y, p, groups) -> dict:
    """``metric`` computed separately for each value of ``groups`` (e.g. each test anchor)."""
    y, p, _ = _arrays(y, p)
    groups = np.asarray(groups)
    return {g: metric(y[groups == g], p[groups == g], None) for g in np.unique(groups)}


def _draw_counts(users, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's user code, and how often each user is drawn in each resample
    (n_boot x users): every resample draws as many users as there are, with replacement.
    """
    _, codes = np.unique(np.asarray(users), return_inverse=True)
    n_users = codes.max() + 1 if len(codes) else 0
    rng = np.random.default_rng(seed)
    counts = (
        np.stack(
            [
                np.bincount(rng.integers(0, n_users, n_users), minlength=n_users)
                for _ in range(n_boot)
            ]
        )
        if n_boot
        else np.zeros((0, n_users), dtype="int64")
    )
    return codes, counts


def bootstrap_draws(
    y,
    p,
    users,
    threshold: float,
    fraction: float = 0.2,
    n_boot: int = 200,
    seed: int = 42,
    chunk: int = 50,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The benchmark's metrics on all rows, and their value in each user-bootstrap resample.

    The resamples depend only on ``users``, ``n_boot`` and ``seed``, so two models scored
    on the same rows get the *same* resamples and their draws can be subtracted resample by
    resample (a paired comparison, :func:`paired_interval`). Draws keep NaN where a metric
    is undefined. Rows are sorted once; each resample is one compiled pass over the rows
    and one over the blocks of tied scores (:func:`_resample_metrics`), about 20 times
    faster than array arithmetic over a resamples x rows matrix. Resamples are drawn
    ``chunk`` at a time to bound memory."""
    y, p, _ = _arrays(y, p)
    if not 0 < fraction <= 1:
        raise ValueError(f"top-K fraction must be in (0, 1], got {fraction}")
    _, codes = np.unique(np.asarray(users), return_inverse=True)
    n_users = int(codes.max()) + 1 if len(codes) else 0
    order = np.argsort(-p, kind="stable")
    ps, ys, cs = p[order], y[order], codes[order].astype("int64")
    block = np.cumsum(np.r_[False, ps[1:] != ps[:-1]]).astype("int64")
    n_blocks = int(block[-1]) + 1 if len(block) else 0
    pred = ps >= threshold
    args = (ys, cs, block, n_blocks, (ps - ys) ** 2, ys * pred, (1 - ys) * pred, fraction)
    point = _resample_metrics(np.ones((1, n_users), dtype="int32"), *args)[0]
    rng = np.random.default_rng(seed)
    parts = []
    for start in range(0, n_boot, chunk):
        counts = np.stack(
            [
                np.bincount(rng.integers(0, n_users, n_users), minlength=n_users)
                for _ in range(min(chunk, n_boot - start))
            ]
        ).astype("int32")  # half the bytes: a resample's counts stay in cache
        parts.append(_resample_metrics(counts, *args))
    draws = np.concatenate(parts) if parts else np.empty((0, len(METRIC_NAMES)))
    return (
        {name: float(point[i]) for i, name in enumerate(METRIC_NAMES)},
        {name: draws[:, i].copy() for i, name in enumerate(METRIC_NAMES)},
    )


METRIC_NAMES = ("pr_auc", "roc_auc", "brier", "precision_at_k", "recall_at_k", "lift_at_k", "f1")


@numba.njit(cache=True)
def _resample_metrics(
    counts: np.ndarray,
    ys: np.ndarray,
    cs: np.ndarray,
    block: np.ndarray,
    n_blocks: int,
    sq: np.ndarray,
    pos_pred: np.ndarray,
    neg_pred: np.ndarray,
    fraction: float,
) -> np.ndarray:  # pragma: no cover - compiled; checked against the single metrics
    """The metrics of :data:`METRIC_NAMES` for each row of ``counts`` (resamples x users):
    rows (sorted by score, best first; ``cs`` their user, ``block`` their tie group) weigh
    as often as their user was drawn. Same conventions as the single metrics: step-wise
    average precision, tied-score trapezoid ROC, fair ties at the K-th unit of weight."""
    nan = np.nan
    out = np.empty((counts.shape[0], 7))
    bw = np.zeros(n_blocks)
    bp = np.zeros(n_blocks)
    for r in range(counts.shape[0]):
        bw[:] = 0.0
        bp[:] = 0.0
        total = 0.0
        positives = 0.0
        brier_sum = 0.0
        tp_t = 0.0
        fp_t = 0.0
        for i in range(len(ys)):
            # no branch on w == 0 (a third of rows, at random): mispredictions cost more
            w = float(counts[r, cs[i]])
            b = block[i]
            wy = w * ys[i]
            bw[b] += w
            bp[b] += wy
            total += w
            positives += wy
            brier_sum += w * sq[i]
            tp_t += w * pos_pred[i]
            fp_t += w * neg_pred[i]
        k = np.ceil(fraction * total - 1e-9)
        tp = 0.0
        cum = 0.0
        ap = 0.0
        roc = 0.0
        hits = -1.0
        for b in range(n_blocks):
            before_w = cum
            before_pos = tp
            tp += bp[b]
            cum += bw[b]
            neg = bw[b] - bp[b]
            if cum > 0:
                ap += bp[b] * tp / cum
            roc += neg * (tp - bp[b] / 2)
            if hits < 0 and (cum >= k - 1e-9 or b == n_blocks - 1):
                share = 0.0
                if bw[b] > 0:
                    share = min(max((k - before_w) / bw[b], 0.0), 1.0)
                hits = before_pos + share * bp[b]
        negatives = total - positives
        out[r, 0] = ap / positives if positives > 0 else nan
        out[r, 1] = roc / (positives * negatives) if positives > 0 and negatives > 0 else nan
        out[r, 2] = brier_sum / total if total > 0 else nan
        precision_k = hits / k if k > 0 else nan
        out[r, 3] = precision_k
        out[r, 4] = hits / positives if positives > 0 else nan
        out[r, 5] = precision_k / (positives / total) if positives > 0 else nan
        out[r, 6] = 2 * tp_t / (tp_t + fp_t + positives) if tp_t > 0 else 0.0
    return out


def percentile_interval(estimate: float, draws: np.ndarray, level: float = 0.95) -> Interval:
    """``estimate`` with the percentile interval of its bootstrap ``draws`` (NaN left out)."""
    values = np.asarray(draws, dtype="float64")
    values = values[~np.isnan(values)]
    if not len(values):
        return Interval(float(estimate), float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high))


def paired_interval(
    estimate_a: float,
    draws_a: np.ndarray,
    estimate_b: float,
    draws_b: np.ndarray,
    level: float = 0.95,
) -> Interval:
    """The difference a - b with a paired bootstrap interval: both sets of draws must come
    from the same resamples (:func:`bootstrap_draws` with the same users, ``n_boot`` and
    seed), so what the two have in common (which users were drawn) cancels. Far narrower
    than comparing two separate intervals when the models rank users alike."""
    a, b = np.asarray(draws_a, dtype="float64"), np.asarray(draws_b, dtype="float64")
    if a.shape != b.shape:
        raise ValueError(f"paired draws must come from the same resamples: {a.shape} vs {b.shape}")
    return percentile_interval(estimate_a - estimate_b, a - b, level)


def bootstrap_benchmark(
    y,
    p,
    users,
    threshold: float,
    fraction: float = 0.2,
    n_boot: int = 200,
    seed: int = 42,
    level: float = 0.95,
    chunk: int = 25,
) -> dict[str, Interval]:
    """The benchmark's metrics with user-bootstrap intervals, all resamples at once.

    Gives the same numbers as :func:`user_bootstrap` of each single metric (same seed,
    same resamples) in a fraction of the time (see :func:`bootstrap_draws`)."""
    point, draws = bootstrap_draws(y, p, users, threshold, fraction, n_boot, seed, chunk)
    return {name: percentile_interval(point[name], draws[name], level) for name in point}
