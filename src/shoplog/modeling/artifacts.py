"""Saved models with their cards: feature contract, threshold, metrics, provenance, checksum.

A card (JSON) travels with every serialized model. Loading refuses a model that is not
in the project's own models folder, whose bytes do not match the card's checksum (a
pickle runs code when loaded, so only files this project wrote are trusted), or whose
feature contract differs from the table it is asked to score.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from shoplog.files import atomic_write_text, file_sha256

CARD_SUFFIX = ".card.json"
MODEL_SUFFIX = ".joblib"
LIBRARIES = (
    "shoplog",
    "scikit-learn",
    "imbalanced-learn",
    "lightgbm",
    "catboost",
    "numpy",
    "pandas",
    "shap",
)


class ModelArtifactError(ValueError):
    """A saved model that cannot be used: wrong place, altered file or other features."""


@dataclass(frozen=True)
class ModelCard:
    """What a saved model is, what it was trained on and how well it did."""

    task: str
    label: str
    model: str
    features: list[str]
    threshold: float
    calibration: str
    metrics: dict[str, float]
    validation: dict[str, float]
    training: dict[str, Any]
    data_fingerprint: str
    seed: int
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    # the parameter sections that define the features (scoring computes them the same way)
    feature_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=dict)
    file: str = ""
    sha256: str = ""

    def to_json(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(asdict(self), indent=2, default=_plain) + "\n")

    @classmethod
    def from_json(cls, path: Path) -> ModelCard:
        try:
            raw = json.loads(path.read_text())
            return cls(**raw)
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise ModelArtifactError(
                f"{path}: not a readable model card ({exc}); re-run the models chapter"
            ) from exc


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model depends on (and Python's)."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def data_fingerprint(X: pd.DataFrame, y: np.ndarray) -> str:
    """SHA-256 of the training rows' values and labels (content, not file bytes)."""
    h = hashlib.sha256()
    h.update(",".join(X.columns).encode())
    h.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    h.update(np.ascontiguousarray(y, dtype="float64").tobytes())
    return h.hexdigest()


def clear_models(models_dir: str | Path) -> None:
    """Remove the saved models and cards of an earlier run: they must never be read as
    this run's (a chapter that stops early would otherwise leave them in place)."""
    for card in Path(models_dir).glob(f"*{CARD_SUFFIX}"):
        card.unlink()


def save_model(model: Any, card: ModelCard, models_dir: str | Path) -> ModelCard:
    """Write ``<task>.joblib`` and ``<task>.card.json`` into ``models_dir``; the card
    returned records the file and its checksum."""
    folder = Path(models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder / f"{card.task}{MODEL_SUFFIX}"
    joblib.dump(model, model_path)
    final = ModelCard(
        **{**asdict(card), "file": model_path.name, "sha256": file_sha256(model_path)}
    )
    final.to_json(folder / f"{card.task}{CARD_SUFFIX}")
    return final


@dataclass
class LoadedModel:
    """A verified model and its card; ``predict`` checks the feature contract first."""

    card: ModelCard
    model: Any

    def check_features(self, table: pd.DataFrame, where: str = "the table") -> pd.DataFrame:
        """The card's feature columns of ``table``, in the card's order, or a clear error."""
        return check_contract(self.card, table, where)

    def predict(self, table: pd.DataFrame, where: str = "the table") -> np.ndarray:
        """Probabilities of the positive class for every row of ``table``."""
        X = self.check_features(table, where).astype("float64")
        return self.model.predict_proba(X)[:, 1]


def check_contract(card: ModelCard, table: pd.DataFrame, where: str) -> pd.DataFrame:
    """Refuse a table whose features are not the card's (missing ones named)."""
    missing = [c for c in card.features if c not in table.columns]
    if missing:
        raise ModelArtifactError(
            f"{where} lacks features {missing[:10]}{' ...' if len(missing) > 10 else ''} "
            f"({len(missing)} of {len(card.features)}) that the {card.task} model "
            f"({card.file}) was trained on; compute features with the same feature "
            "parameters as the model card's, or retrain the model"
        )
    return table[card.features]


def load_model(card_path: str | Path, trusted_dir: str | Path) -> LoadedModel:
    """Load the model a card describes, only from inside ``trusted_dir`` (the project's
    outputs), only when the file's checksum is the card's."""
    folder = Path(trusted_dir).resolve()
    card_file = Path(card_path).resolve()
    if not card_file.is_relative_to(folder):
        raise ModelArtifactError(
            f"{card_path} is not inside {folder}, the project's own output folder; models "
            "are loaded only from there (a serialized model runs code when loaded): train "
            "it with the models chapter, or copy it there knowingly"
        )
    if not card_file.exists():
        raise ModelArtifactError(
            f"{card_path}: no model card here; run the models chapter (shoplog run) first"
        )
    card = ModelCard.from_json(card_file)
    model_path = (card_file.parent / card.file).resolve()
    if not card.file or model_path.parent != card_file.parent:
        raise ModelArtifactError(f"{card_path}: the card names no model file beside it")
    if not model_path.exists():
        raise ModelArtifactError(f"{model_path}: the model file of {card_path} is missing")
    actual = file_sha256(model_path)
    if actual != card.sha256:
        raise ModelArtifactError(
            f"{model_path}: checksum {actual[:12]}... differs from the card's "
            f"{card.sha256[:12]}...; the file was changed after it was saved; it is not "
            "loaded. Re-run the models chapter to write a fresh model"
        )
    return LoadedModel(card, joblib.load(model_path))


def card_path(models_dir: str | Path, task: str) -> Path:
    """Where the card of ``task``'s kept model lives in a models folder."""
    return Path(models_dir) / f"{task}{CARD_SUFFIX}"
