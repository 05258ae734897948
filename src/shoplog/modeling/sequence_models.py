"""Recurrent networks over daily activity sequences (GRU, bidirectional LSTM), as
scikit-learn classifiers.

A row's input is its static features plus its sequence of
:func:`shoplog.dataset.sequences.to_tensor` flattened into columns ``seq_<day>_<channel>``
(see :func:`sequence_frame`), so the network fits and predicts on the same tables as every
other learner. Keras 3 runs on JAX, on the CPU, on one thread (as every learner of the
benchmark), seeded: the same seed gives the same predictions.

Only training rows shape the network: the imputer and scalers are fitted on them, and
early stopping watches the latest training anchors (a time-ordered slice of training),
never the validation anchors, which stay for thresholds and calibration as for every
other learner.
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import make_pipeline

from shoplog.dataset import sequences as S
from shoplog.modeling.models import TaskData, imputed_scaled

# before Keras or JAX are imported: the JAX backend (the only one installed), the CPU, one
# thread
os.environ["KERAS_BACKEND"] = "jax"
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

SEQUENCE_PREFIX = "seq_"
_SEQ = re.compile(r"seq_(\d+)_(\w+)")


def sequence_frame(tensor: np.ndarray, channels: tuple[str, ...]) -> pd.DataFrame:
    """A (rows, days, channels) array as columns ``seq_<day>_<channel>``, day by day."""
    rows, days, k = tensor.shape
    if k != len(channels):
        raise ValueError(f"{k} channels in the array, {len(channels)} names")
    names = [f"{SEQUENCE_PREFIX}{d:02d}_{c}" for d in range(days) for c in channels]
    return pd.DataFrame(tensor.reshape(rows, days * k), columns=names)


def with_sequences(data: TaskData, sequences: S.Sequences) -> TaskData:
    """``data`` with each row's daily sequence (:func:`shoplog.dataset.sequences.to_tensor`)
    as columns ``seq_<day>_<channel>`` after its features, for the sequence learners."""
    names = (*S.CHANNELS, *S.WEEKDAY_CHANNELS)
    X = {}
    for split, frame in data.X.items():
        keys = pd.DataFrame({"user_id": data.users[split], "anchor": data.anchors[split]})
        tensor = S.to_tensor(sequences.activity, keys, sequences.days)
        X[split] = pd.concat([frame.reset_index(drop=True), sequence_frame(tensor, names)], axis=1)
    return dataclasses.replace(data, X=X)


def split_columns(columns: list[str]) -> tuple[list[str], list[str], int, list[str]]:
    """Static and sequence columns of a table, the number of days, the channel names."""
    seq = [c for c in columns if c.startswith(SEQUENCE_PREFIX)]
    static = [c for c in columns if not c.startswith(SEQUENCE_PREFIX)]
    if not seq:
        raise ValueError("no sequence columns (seq_<day>_<channel>) in the table")
    parsed = [_SEQ.fullmatch(c) for c in seq]
    if not all(parsed):
        raise ValueError(f"sequence columns must be named seq_<day>_<channel>: {seq[:3]}")
    days = sorted({int(m.group(1)) for m in parsed if m})
    channels = list(dict.fromkeys(m.group(2) for m in parsed if m))
    if days != list(range(len(days))) or len(seq) != len(days) * len(channels):
        raise ValueError("sequence columns must cover every day and channel once")
    return static, seq, len(days), channels


def stop_rows(time: np.ndarray, fraction: float) -> np.ndarray:
    """Whether each training row is in the early-stopping slice: the latest whole anchors
    (at least one, never all) holding about ``fraction`` of the rows."""
    order = np.sort(np.unique(time))
    if len(order) < 2:
        raise ValueError("early stopping needs at least two training anchors")
    counts = pd.Series(time).value_counts().reindex(order).to_numpy()
    share = np.cumsum(counts[::-1]) / len(time)
    n_late = int(min(max(1, np.searchsorted(share, fraction) + 1), len(order) - 1))
    return np.isin(time, order[-n_late:])


class SequenceNet(ClassifierMixin, BaseEstimator):
    """A GRU (``cell="gru"``) or bidirectional LSTM (``cell="bilstm"``) over the daily
    sequence, its last state joined with the static features (imputed and scaled as for
    the linear model), then one hidden layer and a sigmoid. Counts and spend enter as
    log1p, scaled on training rows. ``max_rows``: train on a seeded sample of at most that
    many training rows."""

    def __init__(
        self,
        cell: str = "gru",
        units: int = 16,
        dense: int = 16,
        epochs: int = 8,
        batch_size: int = 512,
        learning_rate: float = 3e-3,
        patience: int = 2,
        stop_fraction: float = 0.2,
        max_rows: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.cell = cell
        self.units = units
        self.dense = dense
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.stop_fraction = stop_fraction
        self.max_rows = max_rows
        self.random_state = random_state

    def _arrays(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        static = (
            self.static_pipe_.transform(X[self.static_]) if self.static_ else np.zeros((len(X), 0))
        )
        seq = (self._log_sequence(X) - self.seq_mean_) / self.seq_scale_
        return seq.astype("float32"), static.astype("float32")

    def _log_sequence(self, X: pd.DataFrame) -> np.ndarray:
        """The (rows, days, channels) sequence, counts and spend as signed log1p (float32,
        the network's type: half the memory and time of float64 on 100k x 280 values)."""
        seq = X[self.sequence_].to_numpy(dtype="float32").reshape(len(X), self.days_, -1)
        return np.copysign(np.log1p(np.abs(seq)), seq)

    def _build(self, k: int, s: int):
        import keras

        keras.utils.set_random_seed(self.random_state)
        seq_in, static_in = keras.Input((self.days_, k)), keras.Input((s,))
        if self.cell == "gru":
            state = keras.layers.GRU(self.units)(seq_in)
        elif self.cell == "bilstm":
            state = keras.layers.Bidirectional(keras.layers.LSTM(self.units))(seq_in)
        else:
            raise ValueError(f"unknown cell {self.cell!r}: gru or bilstm")
        z = keras.layers.Concatenate()([state, static_in])
        z = keras.layers.Dense(self.dense, activation="relu")(z)
        out = keras.layers.Dense(1, activation="sigmoid")(z)
        model = keras.Model([seq_in, static_in], out)
        model.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate), loss="binary_crossentropy"
        )
        return model

    def _stop_slice(self, n: int, time: np.ndarray | None) -> np.ndarray:
        """The early-stopping rows: the latest anchors of ``time``; with a single training
        anchor (or no times) a seeded random share of the rows; the rule and the share of rows
        are kept as ``stop_rule_`` and ``stop_share_``."""
        if time is not None and len(np.unique(time)) >= 2:
            self.stop_rule_ = "latest anchors"
            late = stop_rows(np.asarray(time), self.stop_fraction)
        else:
            self.stop_rule_ = "random rows"
            rng = np.random.default_rng(self.random_state + 1)
            late = np.zeros(n, dtype=bool)
            late[rng.choice(n, max(1, round(n * self.stop_fraction)), replace=False)] = True
        self.stop_share_ = float(late.mean())
        return late

    def fit(self, X: pd.DataFrame, y: np.ndarray, time: np.ndarray | None = None):
        """Fit on the training rows; ``time`` (each row's anchor) picks the early-stopping
        slice, the latest anchors (with one anchor or none: a seeded random slice)."""
        import keras

        X = pd.DataFrame(X).reset_index(drop=True)
        y = np.asarray(y, dtype="float32")
        if self.max_rows is not None and len(X) > self.max_rows:
            # a seeded sample of training rows (in their order): the cost of an epoch
            # follows the rows, and the sample is said where the benchmark is shown
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(len(X), self.max_rows, replace=False))
            X, y = X.iloc[rows].reset_index(drop=True), y[rows]
            time = None if time is None else np.asarray(time)[rows]
        self.rows_fitted_ = len(X)
        self.static_, self.sequence_, self.days_, self.channels_ = split_columns(list(X.columns))
        late = self._stop_slice(len(X), time)
        fit_rows = X[~late]
        # the static features as the linear model and the MLP take them (median imputation
        # with missing-value indicators, then scaling), fitted on the fitting rows only
        if self.static_:
            self.static_pipe_ = make_pipeline(*imputed_scaled()).fit(fit_rows[self.static_])
        # per channel, summed in float64; kept in float32, the sequences' type
        seq = self._log_sequence(fit_rows)
        self.seq_mean_ = seq.mean(axis=(0, 1), dtype="float64").astype("float32")
        spread = seq.std(axis=(0, 1), dtype="float64")
        self.seq_scale_ = np.where(spread > 0, spread, 1.0).astype("float32")
        seq_all, static_all = self._arrays(X)
        self.model_ = self._build(seq_all.shape[2], static_all.shape[1])
        stop = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=self.patience, restore_best_weights=True
        )
        history = self.model_.fit(
            [seq_all[~late], static_all[~late]],
            y[~late],
            validation_data=([seq_all[late], static_all[late]], y[late]),
            epochs=self.epochs,
            batch_size=self.batch_size,
            shuffle=True,
            callbacks=[stop],
            verbose=0,
        )
        self.epochs_run_ = len(history.history["loss"])
        self.classes_ = np.array([0.0, 1.0])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        seq, static = self._arrays(pd.DataFrame(X).reset_index(drop=True))
        p = np.asarray(self.model_.predict([seq, static], batch_size=4096, verbose=0))[:, 0]
        p = p.astype("float64")
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype("float64")
