"""``shoplog score``: rank the users of a (new) log at an anchor with the kept models.

The log is ingested with the profile's column mapping into a scratch folder (the raw
file is only read), features are computed at the anchor by the same engine code as the
modelling table, with the feature settings recorded in the model cards, and the models
load only from the project's outputs folder with their checksums and contracts checked.
Users with no event in the lookback window before the anchor are not scored, and are
counted; so are users whose first event comes after the anchor.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shoplog.config.params import AUTO, Params, validate_params
from shoplog.config.paths import ProjectPaths, scores_name
from shoplog.dataset import contract as C
from shoplog.dataset import table as dataset
from shoplog.events import engine
from shoplog.events.ingest import QualityReport, ingest
from shoplog.files import atomic_write_text
from shoplog.modeling import artifacts, explain

TASKS = ("churn", "purchase")
# events up to this many days after the anchor are ingested, to count users first seen then
AFTER_DAYS = 3660


class ScoringError(ValueError):
    """A scoring request that cannot be served, with what to do about it."""


@dataclass
class ScoreSummary:
    """What ``shoplog score`` did: where the list is and who was (not) scored, and why."""

    path: Path
    anchor: dt.date
    scored: int
    not_scored: dict[str, int] = field(default_factory=dict)
    short_history: int = 0
    quality: QualityReport | None = None
    models: dict[str, str] = field(default_factory=dict)


def find_cards(model: str | Path | None, paths: ProjectPaths) -> dict[str, Path]:
    """The cards to use: ``model`` (a card, or a folder of cards) or the outputs' models."""
    where = Path(model) if model else paths.models_dir
    if where.is_file() or where.name.endswith(artifacts.CARD_SUFFIX):
        task = where.name.removesuffix(artifacts.CARD_SUFFIX)
        if task not in TASKS:
            raise ScoringError(
                f"{where}: not a model card; cards are named churn{artifacts.CARD_SUFFIX} "
                f"and purchase{artifacts.CARD_SUFFIX}"
            )
        return {task: where}
    cards = {t: artifacts.card_path(where, t) for t in TASKS}
    found = {t: p for t, p in cards.items() if p.exists()}
    if "churn" not in found:
        raise ScoringError(
            f"{where}: no churn.card.json; train the models first (shoplog run) or point "
            "--model at a folder or card inside the outputs folder"
        )
    return found


def scoring_params(params: Params, card: artifacts.ModelCard, log: Path, anchor: dt.date) -> Params:
    """The profile with the card's feature settings and ``log`` as the source.

    The study window starts where the profile's does, as in the book (all-history
    features such as tenure count from there), or earlier when that would cut a feature
    window short; events after the anchor are kept only to count users first seen then
    (no feature reads them)."""
    raw = params.model_dump(mode="json")
    for section, values in card.feature_settings.items():
        raw[section] = {**raw.get(section, {}), **values}
    checked = validate_params(raw, origin=f"model card of {card.task}")
    reach = C.reach_days(checked.features, checked.anchors.lookback_days)
    raw["data"] = {**raw["data"], "source": str(log)}
    start = params.study.start_date
    raw["study"] = {
        # 'auto' is resolved on the new log as the book resolves it on its own
        "start_date": start if start == AUTO else min(start, anchor - dt.timedelta(days=reach)),
        "end_date": (anchor + dt.timedelta(days=AFTER_DAYS)).isoformat(),
    }
    return validate_params(raw, origin="scoring parameters")


def score(
    params: Params,
    paths: ProjectPaths,
    log: str | Path,
    anchor: dt.date,
    model: str | Path | None = None,
    out_path: str | Path | None = None,
) -> ScoreSummary:
    """Score every user active in the lookback before ``anchor``; write a ranked CSV."""
    log = checked_log(log)
    loaded = {
        task: artifacts.load_model(card, paths.outputs_dir)
        for task, card in find_cards(model, paths).items()
    }
    churn = loaded["churn"]
    check_one_feature_setting(loaded, "re-run the models chapter so both come from one run")
    feats = features_for_log(params, paths, log, anchor, churn.card)
    table, not_scored, short, quality = feats.table, feats.not_scored, feats.short, feats.quality
    out = pd.DataFrame({"user_id": table["user_id"].astype(str)})
    for task, m in loaded.items():
        p = m.predict(table, where=f"features of {log.name} at {anchor}")
        out[f"{task}_probability"] = p
        out[f"{task}_flag"] = p >= m.card.threshold
    sh = explain.shap_values(churn.model, churn.check_features(table).astype("float64"))
    reasons_n = params.explain.reasons
    out["churn_reasons"] = explain.top_reasons(sh, reasons_n)
    out["tenure_days"] = table["tenure_days"].to_numpy() if "tenure_days" in table else np.nan
    out = out.sort_values(
        ["churn_probability", "user_id"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    target = Path(out_path) if out_path else paths.scores_dir / scores_name(anchor)
    atomic_write_text(target, out.to_csv(index=False, float_format="%.6f"))
    return ScoreSummary(
        target,
        anchor,
        len(out),
        not_scored,
        short,
        quality,
        describe_models(loaded),
    )


def check_one_feature_setting(loaded: dict[str, artifacts.LoadedModel], redo: str) -> None:
    """Refuse models whose cards record other feature settings than the churn model's
    (features are computed once, with the churn card's settings); ``redo`` says what to run."""
    churn = loaded["churn"]
    for task, m in loaded.items():
        if m.card.feature_settings != churn.card.feature_settings:
            raise ScoringError(
                f"the {task} and churn models were made with different feature settings; " + redo
            )


def describe_models(loaded: dict[str, artifacts.LoadedModel]) -> dict[str, str]:
    """Each model as the command line reports it: name, file and checksum."""
    return {
        t: f"{m.card.model} ({m.card.file}, sha256 {m.card.sha256[:12]})" for t, m in loaded.items()
    }


def checked_log(log: str | Path) -> Path:
    """The log's absolute path, or an error saying to give one that exists."""
    path = Path(log).expanduser().resolve()
    if not path.exists():
        raise ScoringError(f"{path}: no such file; give the log to score with --log")
    return path


@dataclass
class LogFeatures:
    """A new log's features at an anchor, who was left out and why, and its ingestion."""

    table: pd.DataFrame
    not_scored: dict[str, int]
    short: int
    quality: QualityReport


def features_for_log(
    params: Params, paths: ProjectPaths, log: Path, anchor: dt.date, card: artifacts.ModelCard
) -> LogFeatures:
    """Ingest ``log`` into a scratch folder (the raw file is only read) and compute the
    features of its active users at ``anchor`` with the card's feature settings."""
    settings = scoring_params(params, card, log, anchor)
    with tempfile.TemporaryDirectory(prefix="shoplog-score-") as scratch:
        work = ProjectPaths(root=paths.root, data_dir=Path(scratch), build_dir=paths.build_dir)
        con = engine.connect(settings.engine)
        try:
            quality = ingest(settings, work, con)
            events = engine.read_events(con, work.events_path)
            table, not_scored, short = _features_at(con, events, settings, anchor, log)
        finally:
            con.disconnect()
    return LogFeatures(table.reset_index(drop=True), not_scored, short, quality)


def _features_at(
    con, events, settings: Params, anchor: dt.date, log: Path
) -> tuple[pd.DataFrame, dict[str, int], int]:
    """Features of the users active in the lookback before ``anchor``, and who was left out."""
    start = dt.datetime.combine(anchor, dt.time())
    lookback = settings.anchors.lookback_days
    past = events.filter(events.event_time < start)
    counts = con.execute(
        past.aggregate(
            users=past.user_id.nunique(),
            active=past.user_id.nunique(
                where=past.event_time >= start - dt.timedelta(days=lookback)
            ),
            first=past.event_time.min(),
            last=past.event_time.max(),
        )
    ).iloc[0]
    if counts["users"] == 0 or counts["active"] == 0:
        span = (
            f"its events before {anchor} run from {counts['first']} to {counts['last']}"
            if counts["users"]
            else f"it has no event before {anchor}"
        )
        raise ScoringError(
            f"{log}: no user has an event in the {lookback} days before {anchor} ({span}); "
            "choose an anchor just after the period the log covers"
        )
    table = dataset.build_table(con, events, [start], ["score"], settings, start, labels=False)
    reach = C.reach_days(settings.features, lookback)
    first_seen = con.execute(events.group_by("user_id").aggregate(first=events.event_time.min()))
    before = first_seen["first"] < start
    scored = first_seen["user_id"].astype(str).isin(table["user_id"].astype(str))
    short = int((scored & (first_seen["first"] > start - dt.timedelta(days=reach))).sum())
    not_scored = {
        "no event in the lookback window": int(before.sum() - len(table)),
        "first seen after the anchor": int((~before).sum()),
    }
    return table, not_scored, short
