"""The churn and purchase tasks end to end: benchmark, tune, choose, calibrate, save.

The choice of the model to keep is made on the validation anchors (best validation
PR-AUC) among the gradient-boosted tree models, whose SHAP values are exact and fast, so
every score it gives can be explained. The test anchors only measure. The kept model is calibrated
on validation, because its probabilities are used as probabilities downstream.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shoplog.config.params import ModelParams
from shoplog.config.paths import benchmark_name, paired_name
from shoplog.dataset.labels import LABELS
from shoplog.dataset.sequences import SEQUENCE_LEARNERS, Sequences
from shoplog.modeling import artifacts, models, tuning
from shoplog.modeling import metrics as M

TASKS = {"churn": "dormant", "purchase": "purchase"}
TASK_TITLES = {"churn": "Churn (dormant in the horizon)", "purchase": "Purchase in the horizon"}
# The kept model is chosen among the gradient-boosted trees: TreeSHAP costs trees x
# leaves x depth^2 per row, which for boosted trees of 31 leaves is milliseconds, and
# for forests grown to 20-row leaves (thousands of leaves) hours over a scoring list.
TREE_MODELS = ("LightGBM", "CatBoost")
TUNED = " (tuned)"
CALIBRATED = models.CALIBRATED


def family(name: str) -> str:
    """The learner a benchmark row belongs to (``LightGBM (tuned)`` -> ``LightGBM``)."""
    return name.replace(CALIBRATED, "").replace(TUNED, "")


@dataclass
class TaskResult:
    """Everything the models chapter shows about one task."""

    task: str
    label: str
    data: models.TaskData
    table: pd.DataFrame
    fitted: dict[str, models.Fitted]
    tuned: dict[str, tuning.Tuned] = field(default_factory=dict)
    chosen: str = ""
    final: models.Fitted | None = None

    @property
    def kept(self) -> models.Fitted:
        """The calibrated chosen model: the one saved, explained and used for scoring."""
        if self.final is None:
            raise ValueError(f"{self.task}: no model was chosen")
        return self.final


# Single-thread seconds of each job on the default book's churn task (bench/models.py),
# longest first: the pool starts the long jobs first so that no core idles at the end
# while one long job finishes. Order only; results do not depend on it.
JOB_COST = {
    "tune": 73,
    "BiLSTM": 44,
    "GRU": 37,
    "logistic regression + SMOTE": 24,
    "random forest": 18,
    "balanced bagging": 17,
    "CatBoost": 16,
    "MLP": 15,
    "histogram gradient boosting": 15,
    "balanced random forest": 14,
    "LightGBM": 12,
    "BG/NBD P(alive)": 8,
    "logistic regression": 7,
}


@dataclass(frozen=True)
class Job:
    """One unit of the benchmark: fit and score one learner, or tune one, on one task."""

    kind: str  # "fit" or "tune"
    task: str
    name: str

    @property
    def cost(self) -> float:
        return JOB_COST["tune"] if self.kind == "tune" else JOB_COST.get(self.name, 3)


@dataclass
class JobResult:
    """What a job sends back: its benchmark row, its fitted model, its study, its time."""

    job: Job
    row: dict
    fitted: models.Fitted
    tuned: tuning.Tuned | None
    seconds: float


def run_job(
    job: Job,
    data: models.TaskData,
    settings: ModelParams,
    seed: int,
    top_k: float,
    sequences: Sequences | None = None,
) -> JobResult:
    """Run one job on one thread (BLAS and OpenMP pools limited to one): fit (or tune) on
    train, threshold on validation, score test with its bootstrap draws. A sequence
    learner's rows get their daily ``sequences`` here, in the worker, so that only the
    compact active days travel to it."""
    import time

    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    if job.name in SEQUENCE_LEARNERS:
        from shoplog.modeling.sequence_models import with_sequences

        if sequences is None:
            raise ValueError(f"{job.name} needs the daily sequences (none were given)")
        data = with_sequences(data, sequences)
    with threadpool_limits(models.THREADS):
        tuned = None
        if job.kind == "tune":
            tuned = tuning.tune(job.name, data, seed, settings.n_trials, settings.timeout_seconds)
            label = job.name + TUNED
            fitted = models.fit_and_score(label, tuned.factory, data)
        else:
            label = job.name
            factory = models.learners(seed, job.task, settings.sequence_rows)[job.name]
            fitted = models.fit_and_score(label, factory, data)
        row = models.score_row(label, fitted, data, top_k, settings.n_boot, seed)
    return JobResult(job, row, fitted, tuned, time.perf_counter() - start)


def workers_for(settings: ModelParams, jobs: int) -> int:
    """How many processes run the jobs: ``models.workers``, or one per core, never more
    than there are jobs."""
    import os

    wanted = settings.workers or os.cpu_count() or 1
    return max(1, min(wanted, jobs))


def run_tasks(
    table: pd.DataFrame,
    features: list[str],
    task_names: list[str],
    settings: ModelParams,
    seed: int,
    top_k: float,
    progress: Callable[[str], None] | None = None,
    sequences: Sequences | None = None,
) -> tuple[dict[str, TaskResult], pd.DataFrame]:
    """Benchmark every model on each task, tune the tunable ones, keep the best tree model;
    and the time each job took.

    All jobs of all tasks run side by side in ``models.workers`` processes, each learner on
    one thread, so the results are the same for any number of workers. The sequence
    models run only with the daily ``sequences`` (asked for by name without them: an
    error)."""
    for task in task_names:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; tasks: {list(TASKS)}")
    datas = {task: models.task_data(table, features, TASKS[task]) for task in task_names}
    jobs: list[Job] = []
    for task in task_names:
        known = models.learners(seed, task)
        only = models.with_baselines(seed, task, settings.learners)
        unknown = sorted(set(only or []) - set(known))
        if unknown:
            raise ValueError(f"unknown models {unknown} (models.learners); known: {list(known)}")
        if sequences is None:
            asked = [n for n in only or [] if n in SEQUENCE_LEARNERS]
            if asked:
                raise ValueError(
                    f"{asked} need the daily sequences (data/processed/sequences.parquet, "
                    "written by the features chapter); run it, or leave them out of "
                    "models.learners"
                )
            known = {n: f for n, f in known.items() if n not in SEQUENCE_LEARNERS}
        jobs += [Job("fit", task, name) for name in known if only is None or name in only]
        for name in settings.tuned:
            if name not in tuning.SPACES:
                raise ValueError(f"no search space for {name!r}; tunable: {sorted(tuning.SPACES)}")
            jobs.append(Job("tune", task, name))
    ordered = sorted(jobs, key=lambda j: -j.cost)

    def feed(job: Job) -> Sequences | None:
        """The sequences, sent only to the jobs that read them."""
        return sequences if job.name in SEQUENCE_LEARNERS else None

    n_workers = workers_for(settings, len(jobs))
    if n_workers == 1:
        done = []
        for job in ordered:
            done.append(run_job(job, datas[job.task], settings, seed, top_k, feed(job)))
            _report(progress, done[-1])
    else:
        from joblib import Parallel, delayed

        pool = Parallel(n_jobs=n_workers, backend="loky", return_as="generator")
        done = []
        for result in pool(
            delayed(run_job)(job, datas[job.task], settings, seed, top_k, feed(job))
            for job in ordered
        ):
            done.append(result)
            _report(progress, result)
    by_job = {r.job: r for r in done}
    results = {}
    for task in task_names:
        mine = [by_job[j] for j in jobs if j.task == task]
        fitted = {r.row["model"]: r.fitted for r in mine}
        tuned = {r.job.name: r.tuned for r in mine if r.tuned is not None}
        rows = [r.row for r in mine]
        data = datas[task]
        chosen = choose(task, fitted, data)
        final = models.calibrated(fitted[chosen], data, settings.calibration)
        rows.append(models.score_row(final.name, final, data, top_k, settings.n_boot, seed))
        out = pd.DataFrame(rows)
        out.insert(1, "family", out["model"].map(family))
        out = out.sort_values("pr_auc", ascending=False, kind="stable").reset_index(drop=True)
        results[task] = TaskResult(task, TASKS[task], data, out, fitted, tuned, chosen, final)
    timings = pd.DataFrame(
        [
            {
                "task": r.job.task,
                "step": (f"tuning {r.job.name}" if r.job.kind == "tune" else r.job.name),
                "seconds": r.seconds,
            }
            for r in done
        ]
    )
    return results, timings


def _report(progress: Callable[[str], None] | None, result: JobResult) -> None:
    if progress is None:
        return
    job = result.job
    if job.kind == "tune" and result.tuned is not None:
        t = result.tuned
        progress(
            f"{job.task}: tuned {job.name}, {len(t.history)} trials ({t.pruned} pruned), "
            f"validation PR-AUC {t.value:.4f} in {result.seconds:.1f} s"
        )
    else:
        progress(f"{job.task}: {job.name} in {result.seconds:.1f} s")


def run_task(
    table: pd.DataFrame,
    features: list[str],
    task: str,
    settings: ModelParams,
    seed: int,
    top_k: float,
    progress: Callable[[str], None] | None = None,
) -> TaskResult:
    """:func:`run_tasks` for one task."""
    results, _ = run_tasks(table, features, [task], settings, seed, top_k, progress)
    return results[task]


def unfit_reason(table: pd.DataFrame, min_class_count: int = 1) -> str | None:
    """Why the tasks cannot be fitted and judged on ``table`` (None when they can): every
    split needs at least ``min_class_count`` labelled rows of each outcome for every task,
    since a PR-AUC over a handful of positives is noise however narrow it looks."""
    names = {"churn": ("dormant", "active"), "purchase": ("buyer", "non-buyer")}
    for task, label in TASKS.items():
        for split in models.SPLITS:
            values = table.loc[table["split"].eq(split), label].dropna()
            positives = int(values.sum())
            fewest = min(positives, len(values) - positives)
            if fewest < min_class_count:
                yes, no = names[task]
                need = (
                    "both outcomes"
                    if min_class_count == 1
                    else f"at least {min_class_count} of each (models.min_class_count)"
                )
                return (
                    f"the {split} anchors have {positives:,} {yes} and "
                    f"{len(values) - positives:,} {no} rows for {task} ({label}); a model "
                    f"needs {need} to be fitted and judged, so its metrics are withheld. Use "
                    "a longer log, or fewer validation and test anchors."
                )
    return None


@dataclass
class Benchmark:
    """Both tasks' results, the saved cards, the features used or left out, and each task's
    paired differences (as written next to the benchmark tables)."""

    results: dict[str, TaskResult]
    cards: dict[str, artifacts.ModelCard]
    features: list[str]
    unobserved: list[str]
    paired: dict[str, pd.DataFrame] = field(default_factory=dict)
    # seconds per job (task, step): how long this machine took, not a result
    timings: pd.DataFrame = field(default_factory=pd.DataFrame)


def train_and_save(
    table: pd.DataFrame,
    settings: ModelParams,
    seed: int,
    top_k: float,
    feature_settings: dict[str, dict],
    models_dir: str | Path,
    progress: Callable[[str], None] | None = None,
    sequences: Sequences | None = None,
) -> Benchmark:
    """Benchmark, tune, choose and calibrate each task; save the kept models, their cards
    (with the ``feature_settings`` the table was built with) and the benchmark tables.

    Features never observed in the training rows are left out (and listed).
    """
    reason = unfit_reason(table, settings.min_class_count)
    if reason is not None:
        raise ValueError(reason)
    models_dir = Path(models_dir)
    artifacts.clear_models(models_dir)
    keys = {"user_id", "anchor", "split", *LABELS}
    features, unobserved = models.observed_features(
        table, [c for c in table.columns if c not in keys]
    )
    results, timings = run_tasks(
        table, features, list(TASKS), settings, seed, top_k, progress, sequences
    )
    cards, paired = {}, {}
    for task, result in results.items():
        card = model_card(result, seed, settings.calibration, top_k, feature_settings)
        cards[task] = artifacts.save_model(result.kept.model, card, models_dir)
        result.table.to_csv(models_dir / benchmark_name(task), index=False)
        paired[task] = paired_differences(result)
        paired[task].to_csv(models_dir / paired_name(task), index=False)
    return Benchmark(results, cards, features, unobserved, paired, timings)


def choose(task: str, fitted: dict[str, models.Fitted], data: models.TaskData) -> str:
    """The tree model with the best validation PR-AUC (first in benchmark order on a tie)."""
    candidates = [n for n in fitted if family(n) in TREE_MODELS]
    if not candidates:
        raise ValueError(
            f"{task}: no tree model in the benchmark (models.learners); include one "
            f"of {list(TREE_MODELS)}: the kept model must be explainable with TreeSHAP"
        )
    y = data.y["validation"]
    return max(candidates, key=lambda n: M.pr_auc(y, fitted[n].validation))


# the baselines every model is also compared with, pair by pair
PAIRED_BASELINES = ("recency rule", "BG/NBD P(alive)")


def scored_models(result: TaskResult) -> dict[str, models.Fitted]:
    """Every benchmark row's fitted model by name, the kept (calibrated) one included."""
    return {**result.fitted, result.kept.name: result.kept}


def paired_differences(result: TaskResult, metric: str = "pr_auc") -> pd.DataFrame:
    """Each model's test ``metric`` minus that of the kept model and of each baseline in
    :data:`PAIRED_BASELINES`, with a paired user-bootstrap interval (the same resamples for
    both, see :func:`metrics.paired_interval`). ``excludes_zero`` says the interval tells
    the two apart."""
    fitted = scored_models(result)
    point = result.table.set_index("model")[metric]
    references = [result.kept.name] + [b for b in PAIRED_BASELINES if b in fitted]
    rows = []
    for reference in references:
        for name in result.table["model"]:
            if name == reference or metric not in fitted[name].draws:
                continue
            ci = M.paired_interval(
                point[name],
                fitted[name].draws[metric],
                point[reference],
                fitted[reference].draws[metric],
            )
            rows.append(
                {
                    "model": name,
                    "reference": reference,
                    "metric": metric,
                    "difference": ci.estimate,
                    "low": ci.low,
                    "high": ci.high,
                }
            )
    out = pd.DataFrame(rows, columns=["model", "reference", "metric", "difference", "low", "high"])
    out["excludes_zero"] = (out["low"] > 0) | (out["high"] < 0)
    return out


def per_anchor(result: TaskResult, names: list[str], top_k: float) -> pd.DataFrame:
    """PR-AUC and precision@K of ``names`` at each test anchor, with the anchor's base rate."""
    data = result.data
    y, anchors = data.y["test"], data.anchors["test"]
    rows = []
    for anchor in np.unique(anchors):
        mask = anchors == anchor
        row = {"anchor": pd.Timestamp(anchor), "users": int(mask.sum()), "rate": y[mask].mean()}
        for name in names:
            p = (result.final if name == result.kept.name else result.fitted[name]).test[mask]
            row[f"{name} PR-AUC"] = M.pr_auc(y[mask], p)
            row[f"{name} precision@K"] = M.precision_at_k(y[mask], p, top_k)
        rows.append(row)
    return pd.DataFrame(rows)


def hyperparameters(result: TaskResult) -> dict:
    """The chosen model's tuned parameters, or its learner's plain settings."""
    name = family(result.chosen)
    if result.chosen.endswith(TUNED):
        return dict(result.tuned[name].params)
    model = result.fitted[result.chosen].model
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    raw = final.get_params(deep=False)
    return {k: v for k, v in raw.items() if isinstance(v, (int, float, str, bool)) or v is None}


def model_card(
    result: TaskResult,
    seed: int,
    calibration: str,
    top_k: float,
    feature_settings: dict[str, dict] | None = None,
) -> artifacts.ModelCard:
    """The card of the kept model: contract, threshold, metrics and provenance."""
    data, kept = result.data, result.kept
    row = result.table.set_index("model").loc[kept.name]
    metrics = {
        k: float(row[k])
        for k in row.index
        if k not in ("family", "threshold", "validation_f1", "validation_pr_auc")
    }

    def window(split: str) -> dict:
        anchors = pd.to_datetime(data.anchors[split])
        return {
            "first_anchor": anchors.min().date().isoformat(),
            "last_anchor": anchors.max().date().isoformat(),
            "anchors": int(anchors.nunique()),
            "rows": len(anchors),
            "users": int(pd.Series(data.users[split]).nunique()),
            "positive_rate": float(data.y[split].mean()),
        }

    return artifacts.ModelCard(
        task=result.task,
        label=result.label,
        model=kept.name,
        features=list(data.X["train"].columns),
        threshold=float(kept.threshold.value),
        calibration=calibration,
        metrics={**metrics, "top_k_fraction": top_k},
        validation={"pr_auc": float(row["validation_pr_auc"]), "f1": float(kept.threshold.f1)},
        training={split: window(split) for split in models.SPLITS},
        data_fingerprint=artifacts.data_fingerprint(data.X["train"], data.y["train"]),
        seed=seed,
        hyperparameters=hyperparameters(result),
        feature_settings=feature_settings or {},
        libraries=artifacts.library_versions(),
    )


def _difference(row: pd.Series, fmt: str = "+.3f") -> str:
    return f"{row['difference']:{fmt}} [{row['low']:{fmt}}, {row['high']:{fmt}}]"


def _verdict(row: pd.Series, above: str = "above", below: str = "below") -> str:
    """A paired interval's reading in words: ``above`` or ``below`` when it excludes zero on
    that side, else "not distinguishable from"."""
    if row["low"] > 0:
        return above
    if row["high"] < 0:
        return below
    return "not distinguishable from"


def paired_sentence(
    paired: pd.DataFrame, kept: str, baselines: tuple[str, ...], same: tuple[str, ...] = ()
) -> str:
    """What the paired differences say, in words: the kept model against each baseline,
    then how many other models the test anchors can tell apart from it (and which not).

    ``baselines`` are the benchmark's rule and prior baselines, left out of the count, as
    are the models in ``same`` (the kept model before calibration, which ranks alike)."""
    if paired.empty:
        return "No paired comparison was made (a single model in the benchmark)."
    vs_kept = paired[paired["reference"].eq(kept)].set_index("model")
    parts = []
    for base in PAIRED_BASELINES:
        if base not in paired["reference"].values:
            continue
        row = paired[paired["reference"].eq(base) & paired["model"].eq(kept)].iloc[0]
        verdict = _verdict(row, above="higher than", below="lower than")
        parts.append(f"{verdict} the {base}'s by {_difference(row)}")
    text = (
        "Paired over the same resampled users, the kept model's test PR-AUC is "
        + "; ".join(parts)
        + "."
        if parts
        else ""
    )
    others = vs_kept[~vs_kept.index.isin(baselines) & ~vs_kept.index.isin(same)]
    if len(others):
        alike = others[~others["excludes_zero"]]
        worse = int((others["high"] < 0).sum())
        better = int((others["low"] > 0).sum())
        above = others[others["low"] > 0]
        counts = (
            f"Of the {len(others)} other models, the test anchors put {worse} below the kept "
            f"model and {better} above it"
            + (
                " ("
                + "; ".join(f"{name} {_difference(row)}" for name, row in above.iterrows())
                + ")"
                if len(above)
                else ""
            )
        )
        counts += (
            f", and cannot tell {len(alike)} from it ("
            + "; ".join(f"{name} {_difference(row)}" for name, row in alike.iterrows())
            + ")."
            if len(alike)
            else "; they tell every one of them apart from it."
        )
        text = f"{text} {counts}".strip()
    return text


RECENCY = "days_since_last_event"
RECENCY_RULE = "recency rule"


def sequence_rows_text(results: dict[str, TaskResult], net: str) -> str:
    """Which training rows the sequence model ``net`` was fitted on, per task: all of them,
    or a sample drawn with the seed (``models.sequence_rows``)."""
    parts, sampled = [], False
    for task, result in results.items():
        fitted, total = result.fitted[net].model.rows_fitted_, len(result.data.y["train"])
        sampled |= fitted < total
        parts.append(
            f"all {total:,} for {task}"
            if fitted == total
            else f"{fitted:,} of {total:,} for {task}"
        )
    lead = "training rows drawn with the seed: " if sampled else "their training rows, "
    return lead + " and ".join(parts)


def sequence_stop_text(results: dict[str, TaskResult], nets: list[str]) -> str:
    """Which training rows the sequence models' early stopping watched, with their share of
    the rows each network trained on (the latest whole anchors hold only about the share
    asked for)."""
    fitted = [r.fitted[n].model for r in results.values() for n in nets]
    shares = sorted({round(100 * m.stop_share_) for m in fitted})
    share = f"{shares[0]}%" if len(shares) == 1 else f"{shares[0]}% to {shares[-1]}%"
    if all(m.stop_rule_ == "latest anchors" for m in fitted):
        return f"the latest training anchors ({share} of the rows each trained on)"
    return (
        f"a seeded {share} of the rows each trained on (there is one training anchor, so "
        "no later one to hold out)"
    )


def sequence_sentence(result: TaskResult, paired: pd.DataFrame) -> str:
    """What the sequence models' test PR-AUCs say against the kept model and the recency
    rule, from the paired differences; and the verdict: whether either beats the kept
    model (its paired interval above zero)."""
    table = result.table.set_index("model")
    nets = [n for n in SEQUENCE_LEARNERS if n in table.index]
    if not nets:
        return "The sequence models were left out of this benchmark (`models.learners`)."
    kept = result.kept.name
    parts, beats = [], []
    for net in nets:
        row = table.loc[net]
        text = (
            f"the {net}'s test PR-AUC is {row['pr_auc']:.3f} [{row['pr_auc_low']:.3f}, "
            f"{row['pr_auc_high']:.3f}]"
        )
        versus = []
        for reference, name in ((kept, "the kept model"), (RECENCY_RULE, "the recency rule")):
            found = paired[paired["model"].eq(net) & paired["reference"].eq(reference)]
            if found.empty:
                continue
            diff = found.iloc[0]
            versus.append(f"{_verdict(diff)} {name}'s ({_difference(diff)})")
            if reference == kept and diff["low"] > 0:
                beats.append(net)
        parts.append(text + (", " + " and ".join(versus) if versus else ""))
    sentence = "Paired over the same resampled users, " + "; ".join(parts) + "."
    if beats:
        verdict = (
            f" The {' and the '.join(beats)} beat{'s' if len(beats) == 1 else ''} the kept model."
        )
    elif len(nets) == 1:
        verdict = f" The {nets[0]} does not beat the kept model."
    else:
        verdict = " Neither sequence model beats the kept model."
    return sentence + verdict


def _scores(result: TaskResult, name: str) -> np.ndarray:
    return scored_models(result)[name].test


def recency_bands(
    result: TaskResult,
    edges: list[float],
    lookback_days: int,
    top_k: float,
    n_boot: int,
    seed: int,
) -> pd.DataFrame:
    """The kept model against the recency rule *within* bands of days since the last event
    (test anchors): does the model rank users better than recency among users equally
    recent? Per band: rows, dormancy rate, both PR-AUCs and lifts at ``top_k`` of the band,
    and the paired difference in PR-AUC (kept minus rule, user bootstrap)."""
    d = result.data
    days = d.X["test"][RECENCY].to_numpy()
    y, users = d.y["test"], d.users["test"]
    kept, rule = _scores(result, result.kept.name), _scores(result, RECENCY_RULE)
    cuts = [0.0, *[e for e in edges if e < lookback_days], float(lookback_days)]
    rows = []
    for low, high in itertools.pairwise(cuts):
        m = (days >= low) & (days < high)
        row = {
            "band": f"{low:g} to {high:g} days",
            "rows": int(m.sum()),
            "rate": float(y[m].mean()) if m.any() else np.nan,
        }
        if m.sum() and 0 < y[m].sum() < m.sum():
            pk, dk = M.bootstrap_draws(y[m], kept[m], users[m], 0.5, top_k, n_boot, seed)
            pr, dr = M.bootstrap_draws(y[m], rule[m], users[m], 0.5, top_k, n_boot, seed)
            diff = M.paired_interval(pk["pr_auc"], dk["pr_auc"], pr["pr_auc"], dr["pr_auc"])
            row.update(
                kept_pr_auc=pk["pr_auc"],
                rule_pr_auc=pr["pr_auc"],
                difference=diff.estimate,
                low=diff.low,
                high=diff.high,
                kept_lift=pk["lift_at_k"],
                rule_lift=pr["lift_at_k"],
            )
        rows.append(row)
    return pd.DataFrame(rows)


def bands_sentence(bands: pd.DataFrame) -> str:
    """What :func:`recency_bands` says in words: in how many bands the kept model's PR-AUC
    is clearly above, clearly below or indistinguishable from the recency rule's, naming
    only the outcomes that occur."""
    compared = bands.dropna(subset=["difference"]) if "difference" in bands else bands.iloc[:0]
    n = len(compared)
    if not n:
        return (
            "No recency band has both outcomes in the test rows, so the model and the "
            "recency rule are not compared within bands."
        )
    counts = [
        ("clearly above", int((compared["low"] > 0).sum())),
        ("clearly below", int((compared["high"] < 0).sum())),
        ("indistinguishable from", int(((compared["low"] <= 0) & (compared["high"] >= 0)).sum())),
    ]
    present = [(verb, v) for verb, v in counts if v]
    phrases = [
        f"{verb} {'the recency rule' + chr(39) + 's' if i == 0 else 'it'}"
        + ("" if n == 1 else " in all of them" if v == n else f" in {v}")
        for i, (verb, v) in enumerate(present)
    ]
    text = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    within = "the band" if n == 1 else f"the {n} bands"
    plural = "" if n == 1 else "s"
    return (
        f"Within {within} of recency with both outcomes, the kept model's PR-AUC is {text} "
        f"(paired 95% interval{plural})."
    )


def lookback_sensitivity(result: TaskResult, lookbacks: list[int], top_k: float) -> pd.DataFrame:
    """How the scored population's base rate and the lifts move if only users active within
    each shorter lookback were scored (test anchors; the features are the same, so the
    shorter population is a subset of the rows)."""
    d = result.data
    days = d.X["test"][RECENCY].to_numpy()
    y = d.y["test"]
    kept, rule = _scores(result, result.kept.name), _scores(result, RECENCY_RULE)
    rows = []
    for lookback in sorted(set(lookbacks), reverse=True):
        m = days < lookback
        if not m.any():
            continue
        rows.append(
            {
                "lookback_days": lookback,
                "rows": int(m.sum()),
                "share": float(m.mean()),
                "rate": float(y[m].mean()),
                "kept_pr_auc": M.pr_auc(y[m], kept[m]),
                "kept_lift": M.lift_at_k(y[m], kept[m], top_k),
                "rule_lift": M.lift_at_k(y[m], rule[m], top_k),
            }
        )
    return pd.DataFrame(rows)


def selection_optimism(result: TaskResult) -> dict[str, float]:
    """How much choosing on validation flatters the kept model: its validation-minus-test
    PR-AUC gap, the median gap of the other learners (the drift between the two periods),
    and their difference (the part due to the choice). Tuning, the choice, the calibration
    and the threshold all use the validation anchors; the test anchors saw none of them."""
    t = result.table.set_index("model")
    gap = t["validation_pr_auc"] - t["pr_auc"]
    kept = result.kept.name
    others = gap.drop(index=[kept, result.chosen], errors="ignore").dropna()
    median = float(others.median()) if len(others) else float("nan")
    return {
        "kept_gap": float(gap[kept]),
        "others_gap": median,
        "optimism": float(gap[kept]) - median,
    }
