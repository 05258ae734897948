"""The recurrent learners: they learn what only the order of the days tells (a GRU beats
the same network on days shuffled in time), give the same predictions for the same seed,
and stop early on the latest training anchors, never on other rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoplog.modeling.metrics import pr_auc
from shoplog.modeling.sequence_models import (
    SequenceNet,
    sequence_frame,
    split_columns,
    stop_rows,
)

DAYS, CHANNELS = 14, ("views", "purchases")


def order_task(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Users whose activity rises over the fortnight (label 1) or falls (label 0): the same
    days in another order carry no label, and the static features are noise."""
    rng = np.random.default_rng(seed)
    rising = rng.random(n) < 0.5
    trend = np.linspace(0.2, 2.0, DAYS)
    rate = np.where(rising[:, None], trend, trend[::-1])
    views = rng.poisson(rate)
    purchases = rng.poisson(0.1, (n, DAYS))
    seq = sequence_frame(np.stack([views, purchases], axis=2).astype("float32"), CHANNELS)
    static = pd.DataFrame(
        {"noise": rng.normal(size=n), "gap": np.where(rng.random(n) < 0.1, np.nan, 1.0)}
    )
    return pd.concat([static, seq], axis=1), rising.astype("float64")


def shuffled_in_time(X: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Each row's days in a random order: the same counts, no order."""
    static, seq, days, channels = split_columns(list(X.columns))
    arr = X[seq].to_numpy(copy=True).reshape(len(X), days, len(channels))
    rng = np.random.default_rng(seed)
    for i in range(len(arr)):
        arr[i] = arr[i, rng.permutation(days)]
    return pd.concat([X[static], sequence_frame(arr, tuple(channels))], axis=1)


@pytest.fixture(scope="module")
def task() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    X, y = order_task(2000, seed=1)
    X_test, y_test = order_task(1000, seed=2)
    return X, y, X_test, y_test


def test_a_gru_learns_the_order_of_the_days(task) -> None:
    X, y, X_test, y_test = task
    settings = {"cell": "gru", "epochs": 6, "batch_size": 64, "learning_rate": 1e-2}
    net = SequenceNet(**settings, random_state=3)
    real = pr_auc(y_test, net.fit(X, y).predict_proba(X_test)[:, 1])
    control = SequenceNet(**settings, random_state=3)
    control.fit(shuffled_in_time(X, 4), y)
    shuffled = pr_auc(y_test, control.predict_proba(shuffled_in_time(X_test, 5))[:, 1])
    assert real > 0.9, real
    assert real - shuffled > 0.25, (real, shuffled)


def test_the_same_seed_gives_the_same_predictions(task) -> None:
    X, y, X_test, _ = task
    X, y = X.iloc[:800], y[:800]
    runs = [
        SequenceNet(cell="bilstm", epochs=2, random_state=7).fit(X, y).predict_proba(X_test)
        for _ in range(2)
    ]
    assert np.array_equal(runs[0], runs[1])
    other = SequenceNet(cell="bilstm", epochs=2, random_state=8).fit(X, y).predict_proba(X_test)
    assert not np.array_equal(runs[0], other)
    assert runs[0].shape == (len(X_test), 2) and np.allclose(runs[0].sum(axis=1), 1)


def test_early_stopping_watches_the_latest_training_anchors() -> None:
    time = np.repeat(np.array(["2020-01-06", "2020-01-13", "2020-01-20", "2020-01-27"]), 25)
    late = stop_rows(time, 0.2)
    assert set(time[late]) == {"2020-01-27"}  # a whole anchor, the latest
    assert set(time[stop_rows(time, 0.45)]) == {"2020-01-20", "2020-01-27"}
    assert not stop_rows(time, 0.99).all()  # never every anchor: something is left to fit
    with pytest.raises(ValueError, match="two training anchors"):
        stop_rows(np.repeat("2020-01-06", 10), 0.2)


def test_sequence_columns_are_checked() -> None:
    X, _ = order_task(10, seed=0)
    static, seq, days, channels = split_columns(list(X.columns))
    assert static == ["noise", "gap"] and days == DAYS and channels == list(CHANNELS)
    with pytest.raises(ValueError, match="every day and channel once"):
        split_columns([*static, *seq[:-1]])
    with pytest.raises(ValueError, match="no sequence columns"):
        split_columns(static)


def test_one_training_anchor_stops_on_seeded_rows_and_max_rows_samples(task) -> None:
    X, y, X_test, _ = task
    one = np.repeat(np.datetime64("2020-01-06"), len(X))
    net = SequenceNet(epochs=1, max_rows=500, random_state=2).fit(X, y, time=one)
    # no later anchor to hold out: a seeded fifth of the sampled rows watches the loss
    assert net.stop_rule_ == "random rows" and net.rows_fitted_ == 500
    assert net.stop_share_ == 0.2
    again = SequenceNet(epochs=1, max_rows=500, random_state=2).fit(X, y, time=one)
    assert np.array_equal(net.predict_proba(X_test), again.predict_proba(X_test))
    two = np.repeat(np.array(["2020-01-06", "2020-01-13"], dtype="datetime64[D]"), len(X) // 2)
    assert SequenceNet(epochs=1, random_state=2).fit(X, y, time=two).stop_rule_ == (
        "latest anchors"
    )
