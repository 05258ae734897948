"""Parameter profiles: load ``params/<profile>.yml``, apply overrides, validate once.

A profile is plain YAML. ``extends: <other profile>`` starts from another
profile and changes only what it names. Overrides use dotted keys
(``study.end_date=2020-02-29``); values are read as YAML scalars. Validation
gives one message per problem naming the key and what to do.

Size: every section's schema sits here with its cross-section checks (horizon
against embargo, windows against warm-up), so what a profile may hold is read in one place.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shoplog.config.paths import PROJECT_ROOT
from shoplog.files import probe_writable
from shoplog.schema import CANONICAL_EVENT_TYPES

_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*(?:[kmgt]i?b|%)", re.IGNORECASE)


def known_zone(value: str) -> str:
    """``value`` when it names an IANA time zone; otherwise a message naming examples."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as 'UTC', "
            "'Europe/Berlin' or 'America/New_York'"
        ) from None
    return value


class ParamsError(ValueError):
    """A parameter profile or override that cannot be used, with a message saying why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticParams(_Section):
    """The embedded synthetic shop: which preset, which seed."""

    preset: Literal["tiny", "default", "large"] = "default"
    seed: int = 42
    # None keeps the preset's number of users; benchmarks scale it
    n_users: int | None = Field(default=None, gt=0)


ENCODINGS = ("utf-8", "utf-16", "latin-1")


class MappingParams(_Section):
    """How a log's layout maps to the canonical schema (identity for REES46)."""

    # "auto" tells the format from the file name: .parquet, .xlsx/.xlsm/.xls/.ods, else CSV
    format: Literal["auto", "csv", "parquet", "excel"] = "auto"
    # the worksheet of an Excel workbook: its name, or its position (0: the first)
    sheet: str | int = 0
    # the field separator, or "whitespace" for columns aligned with runs of spaces or tabs
    delimiter: str = ","
    header: bool = True
    # column names of a file without a header line, in file order
    names: list[str] | None = None
    # canonical column -> column in the file; unnamed canonical columns keep their name
    columns: dict[str, str] = Field(default_factory=dict)
    # strptime format of text times; None accepts ISO-8601 with an optional " UTC" suffix
    time_format: str | None = None
    # unit of numeric unix-epoch times ("s", "ms", "us", "ns", or "auto" to tell from their
    # size); None when times are text or timestamps
    time_unit: Literal["auto", "s", "ms", "us", "ns"] | None = None
    # zone of times written without one; they are converted to UTC (times that carry an
    # offset, "Z" or " UTC" keep their own)
    timezone: str = "UTC"
    # text encoding of a CSV file: utf-8, utf-16 or latin-1
    encoding: str = "utf-8"
    # cell values that mean "missing" in any column (compared case-insensitively, trimmed)
    na_values: list[str] = Field(default_factory=lambda: ["", "NA", "N/A", "null", "None"])
    # anonymous logs: a row without a user id takes its session id as the user
    user_from_session: bool = False
    # source event name -> canonical event type, or "drop" to drop (and count) such rows
    event_types: dict[str, str] = Field(default_factory=dict)
    # a constant event type for logs without an event column (e.g. purchase-only logs)
    event_type: str | None = None
    # a quantity column (invoice lines): price is then a unit price, the event's value is
    # price x quantity, and lines with a quantity of zero or less (returns) are dropped
    quantity: str | None = None
    # rows missing time, user or event type are an error unless this is true (then counted)
    drop_incomplete_rows: bool = False
    # duplicate rows: "drop" rows identical in every column of the file (double-fired
    # tracking), "drop_mapped" rows identical in the mapped columns only, or "keep" them
    # (they encode quantity)
    duplicates: Literal["drop", "drop_mapped", "keep"] = "drop"

    @field_validator("event_types")
    @classmethod
    def _known_targets(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = (*CANONICAL_EVENT_TYPES, "drop")
        bad = {k: v for k, v in value.items() if v not in allowed}
        if bad:
            raise ValueError(
                f"event_types maps to unknown types {bad}; map each source name to one of {allowed}"
            )
        return {str(k): v for k, v in value.items()}

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        aliases = {"utf8": "utf-8", "utf16": "utf-16", "iso-8859-1": "latin-1", "latin1": "latin-1"}
        name = aliases.get(value.lower(), value.lower())
        if name not in ENCODINGS:
            raise ValueError(f"encoding {value!r} is not supported; use one of {list(ENCODINGS)}")
        return name

    @field_validator("event_type")
    @classmethod
    def _known_constant(cls, value: str | None) -> str | None:
        if value is not None and value not in CANONICAL_EVENT_TYPES:
            raise ValueError(f"event_type must be one of {CANONICAL_EVENT_TYPES}, not {value!r}")
        return value

    @model_validator(mode="after")
    def _names_when_headerless(self) -> MappingParams:
        if not self.header and not self.names:
            raise ValueError("header is false: list the file's columns in order under 'names'")
        return self


class DataParams(_Section):
    """Where the event log comes from."""

    # "synthetic" for the embedded shop, or a path (CSV, CSV.gz, Parquet; relative to the project)
    source: str = "synthetic"
    # a short name for the data shown in the book; "auto": the synthetic shop's preset, or
    # the file's name (a profile naming its own log should say what it is)
    label: str = "auto"
    synthetic: SyntheticParams = Field(default_factory=SyntheticParams)
    mapping: MappingParams = Field(default_factory=MappingParams)
    # the currency of the log's prices (a code such as EUR, or a symbol), shown on every
    # money figure and table; "auto": USD for the synthetic shop (it imitates the REES46
    # store), none for a file; none: the book says "price units"
    currency: str | None = Field(default="auto", max_length=12)
    # true: source is a dataset already in the canonical schema (a Parquet file, or a folder
    # of them partitioned by date), at any path the engine reads (a local path, file://,
    # hdfs://, s3a://). It is validated and read in place, never ingested or copied
    canonical: bool = False

    @field_validator("currency")
    @classmethod
    def _plain_currency(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.fullmatch(r"[^\s{}<>`*_\[\]]+", value.strip()):
            raise ValueError(
                f"{value!r} is not a currency: write a code or a symbol without spaces, "
                "such as EUR, USD or £"
            )
        return value.strip()

    @model_validator(mode="before")
    @classmethod
    def _auto_currency(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("currency", "auto") == "auto":
            synthetic = str(raw.get("source", "synthetic")) == "synthetic"
            raw = {**raw, "currency": "USD" if synthetic else None}
        return raw

    @model_validator(mode="before")
    @classmethod
    def _label(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("label", "auto") == "auto":
            source = str(raw.get("source", "synthetic"))
            preset = (raw.get("synthetic") or {}).get("preset", SyntheticParams().preset)
            name = (
                f"synthetic shop ({preset} preset)" if source == "synthetic" else Path(source).name
            )
            raw = {**raw, "label": name}
        return raw

    @model_validator(mode="after")
    def _canonical_as_is(self) -> DataParams:
        if self.canonical and self.is_synthetic:
            raise ValueError(
                "data.canonical needs data.source to name a canonical dataset; the synthetic "
                "shop is always ingested (set data.canonical: false)"
            )
        if self.canonical and self.mapping != MappingParams():
            raise ValueError(
                "data.mapping does not apply to a canonical dataset (it is read as is, in the "
                "canonical schema): remove data.mapping, or set data.canonical: false to ingest "
                "the log through the mapping"
            )
        return self

    @property
    def is_synthetic(self) -> bool:
        return self.source == "synthetic"

    def location(self) -> str:
        """Where a canonical dataset is: a URL (hdfs://, s3a://, file://) as given, or a
        local path resolved against the project root."""
        if "://" in self.source:
            return self.source
        return str(self.source_path())

    def source_path(self) -> Path:
        """The input file, resolved against the project root."""
        path = Path(self.source).expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path


AUTO = "auto"


class StudyParams(_Section):
    """The study window: events in [start_date, end_date) are kept. ``auto`` takes the first
    (last) full day of the log's dense span, with isolated stray dates set aside."""

    start_date: dt.date | Literal["auto"] = AUTO
    end_date: dt.date | Literal["auto"] = AUTO

    @model_validator(mode="after")
    def _ordered(self) -> StudyParams:
        if self.is_resolved and self.end_date <= self.start_date:  # type: ignore[operator]
            raise ValueError(f"end_date {self.end_date} must be after start_date {self.start_date}")
        return self

    @property
    def is_resolved(self) -> bool:
        """Both ends are dates (not ``auto``)."""
        return AUTO not in (self.start_date, self.end_date)


class SessionParams(_Section):
    """Sessions split after this much inactivity."""

    gap_minutes: float = Field(default=30, gt=0)


FIT_KEYS = (
    "anchors.horizon_days",
    "anchors.repurchase_gap_days",
    "anchors.warmup_days",
    "anchors.spacing_days",
    "splits.test_anchors",
    "splits.validation_anchors",
)


class AnchorParams(_Section):
    """When users are scored and how far features and labels look.

    With ``fit: auto`` (the default) a log too short for these values gets the closest
    plan that fits it (see :mod:`shoplog.dataset.fit`); the run records the values it
    changed in ``asked``, so the book can say what it chose instead of what.
    """

    fit: Literal["auto", "fixed"] = AUTO
    # filled by the run, never by hand: the profile's values that ``fit: auto`` replaced
    asked: dict[str, int | None] = Field(default_factory=dict)
    spacing_days: int = Field(default=7, gt=0)
    lookback_days: int = Field(default=90, gt=0)
    horizon_days: int = Field(default=30, gt=0)
    repurchase_gap_days: int = Field(default=25, gt=0)
    # days of log before the first anchor; None: the longest feature window
    warmup_days: int | None = Field(default=None, ge=0)


class FeatureParams(_Section):
    """Feature windows (days before the anchor) of the feature contract."""

    windows: list[int] = Field(default_factory=lambda: [7, 14, 30, 90])
    # distinct products, categories and brands are counted over this window
    distinct_window_days: int = Field(default=30, gt=0)
    # funnel ratios, session statistics, price level and concentration use this window
    profile_window_days: int = Field(default=90, gt=0)
    # the sequence models (GRU, BiLSTM) read each user's activity day by day over this many
    # days before the anchor
    sequence_days: int = Field(default=28, ge=2, le=366)

    @field_validator("windows")
    @classmethod
    def _positive_sorted(cls, value: list[int]) -> list[int]:
        if not value or any(w <= 0 for w in value):
            raise ValueError("windows must be a non-empty list of positive day counts")
        return sorted(set(value))


class SplitParams(_Section):
    """Out-of-time splits: the latest anchors are test, the ones before validation."""

    validation_anchors: int = Field(default=3, gt=0)
    test_anchors: int = Field(default=4, gt=0)
    # gap between the last anchor of one set and the first of the next; None: one horizon
    embargo_days: int | None = Field(default=None, gt=0)


class ExploreParams(_Section):
    """The exploratory chapter's choices."""

    # how many categories and brands the funnel and price sections show
    top_groups: int = Field(default=8, gt=0, le=30)


class JourneyParams(_Section):
    """Process mining of sessions: activities, the discovery sample, the Sankey's depth."""

    # activities are event types, or "type: category" when true
    by_category: bool = False
    # sessions sampled (seeded) for pm4py's model discovery and fitness
    sample_sessions: int = Field(default=3000, gt=0)
    # the inductive miner's noise threshold (0 keeps every behaviour)
    noise_threshold: float = Field(default=0.2, ge=0, le=1)
    # steps of a session the Sankey diagram follows before its outcome
    sankey_depth: int = Field(default=4, ge=1, le=10)
    # how many variants the table lists
    top_variants: int = Field(default=10, gt=0)


class SeasonalityParams(_Section):
    """Which daily series are decomposed, with which periods, and what counts as an anomaly."""

    series: list[Literal["active_users", "sessions", "purchases", "revenue"]] = Field(
        default_factory=lambda: ["active_users", "sessions", "purchases", "revenue"], min_length=1
    )
    # seasonal periods of the daily series (days) and of the hourly series (hours)
    daily_periods: list[int] = Field(default_factory=lambda: [7], min_length=1)
    hourly_periods: list[int] = Field(default_factory=lambda: [24, 168], min_length=1)
    # robust fitting down-weights outliers such as promotion days
    robust: bool = True
    # STL's seasonal smoother for the daily series (odd, at least 7)
    seasonal_window: int = Field(default=13, ge=7)
    # share of series in which plain noise may flag a day: sets the anomaly threshold
    false_alarm_rate: float = Field(default=0.05, gt=0, lt=0.5)
    # noise series simulated (with the seed) around the fitted trend and week to set it
    anomaly_simulations: int = Field(default=200, ge=20)

    @field_validator("seasonal_window")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError("seasonal_window must be odd (STL's LOESS window)")
        return value

    @field_validator("daily_periods", "hourly_periods")
    @classmethod
    def _periods(cls, value: list[int]) -> list[int]:
        if any(p < 2 for p in value):
            raise ValueError("seasonal periods must be at least 2")
        return sorted(set(value))


class TargetingParams(_Section):
    """Who is contacted."""

    top_k_fraction: float = Field(default=0.2, gt=0, le=1)
    # the priority group: the top_k_fraction, or the natural break of the log priority score
    priority_cut: Literal["top_fraction", "natural_break"] = "top_fraction"
    # share of scored users on the targeting list, at most (empty: every user with a
    # positive expected contact profit, the campaign's most profitable list)
    list_fraction: float | None = Field(default=None, gt=0, le=1)
    # edges of the calibrated-probability bands the summary counts users in
    risk_band_edges: list[float] = Field(default_factory=lambda: [0.25, 0.5, 0.75])

    @field_validator("risk_band_edges")
    @classmethod
    def _edges(cls, value: list[float]) -> list[float]:
        if not value or sorted(set(value)) != value or not all(0 < v < 1 for v in value):
            raise ValueError("risk_band_edges must rise strictly between 0 and 1, e.g. [0.5]")
        return value


class SegmentParams(_Section):
    """Group comparisons, RFM scores and behaviour clusters."""

    # BH-adjusted p-values below alpha are significant; |Hedges' g| below min_effect is
    # not worth a sentence in the plain-words tables
    alpha: float = Field(default=0.05, gt=0, lt=1)
    min_effect: float = Field(default=0.2, ge=0)
    # quantile bins of the R, F and M scores
    rfm_bins: int = Field(default=5, ge=2, le=10)
    # k-means: the numbers of clusters tried, and the rows sampled for their silhouette
    k_values: list[int] = Field(default_factory=lambda: [2, 3, 4, 5, 6, 7, 8])
    silhouette_sample: int = Field(default=5000, ge=100)
    # categories listed per segment, and quantile bands of predicted risk in the matrix
    top_categories: int = Field(default=3, ge=1)
    risk_bands: int = Field(default=3, ge=2, le=10)

    @field_validator("k_values")
    @classmethod
    def _k_at_least_two(cls, value: list[int]) -> list[int]:
        if not value or min(value) < 2:
            raise ValueError("k_values needs numbers of clusters of at least 2")
        return sorted(set(value))


class CampaignParams(_Section):
    """A retention campaign's economics (money in the currency of the log's prices)."""

    # cost of one contact, and of the offer to each contacted user who takes it
    contact_cost: float = Field(default=1.0, ge=0)
    offer_cost: float = Field(default=10.0, ge=0)
    # share of contacted would-be churners the campaign keeps active (the uplift)
    uplift: float = Field(default=0.1, gt=0, le=1)
    # share of contacted users who would have stayed anyway but still take the offer
    stayer_take_rate: float = Field(default=0.2, ge=0, le=1)
    # share of a retained user's revenue that is profit (1 counts revenue)
    margin: float = Field(default=0.3, gt=0, le=1)
    # uplifts of the sensitivity analysis
    uplift_grid: list[float] = Field(default_factory=lambda: [0.02, 0.05, 0.1, 0.2, 0.3])
    # the tornado moves each assumption this share below and above its value
    sensitivity_spread: float = Field(default=0.5, gt=0, lt=1)
    # share of the listed users held out uncontacted to measure the uplift
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)


class ModelParams(_Section):
    """The churn and purchase benchmark: intervals, tuning budgets, calibration."""

    # bootstrap resamples (of users) behind every 95% interval
    n_boot: int = Field(default=1000, ge=10)
    # the models in the benchmark (empty: all of them)
    learners: list[str] = Field(default_factory=list)
    # models tuned with Optuna TPE on validation, trials per study and a time stop (seconds)
    tuned: list[str] = Field(default_factory=lambda: ["LightGBM"])
    n_trials: int = Field(default=12, ge=1)
    timeout_seconds: float | None = Field(default=900, gt=0)
    # how the chosen models' probabilities are calibrated on validation
    calibration: Literal["sigmoid", "isotonic"] = "sigmoid"
    # fewest positives and negatives a split needs for its metrics to be reported: with
    # fewer, a PR-AUC and its interval are noise, so the task is not modelled (and why said)
    min_class_count: int = Field(default=30, ge=1)
    # processes that fit the learners side by side, each on one thread (empty: one per
    # core); the results are the same for any number
    workers: int | None = Field(default=None, ge=1)
    # the sequence models (GRU, BiLSTM) train on at most this many training rows, drawn
    # with the seed (empty: all of them)
    sequence_rows: int | None = Field(default=80_000, ge=100)


class ExplainParams(_Section):
    """How the kept models are explained."""

    # test rows (sampled with the seed) whose SHAP values make the global plots
    sample_rows: int = Field(default=2000, ge=50)
    # dependence plots are drawn for this many top features
    top_features: int = Field(default=3, ge=1)
    # depth of the surrogate decision tree
    surrogate_depth: int = Field(default=3, ge=1, le=6)
    # features whose |Spearman correlation| exceeds 1 - this are clustered together
    cluster_threshold: float = Field(default=0.3, gt=0, lt=1)
    # reasons (largest positive SHAP values) listed per scored customer
    reasons: int = Field(default=3, ge=1)


class ConversionParams(_Section):
    """Session conversion: will a session that has shown k events buy before it ends?"""

    # events of a session seen before it is scored
    k: int = Field(default=3, ge=1)
    # the last test_days days of sessions are the test set, validation_days before them
    validation_days: int = Field(default=28, gt=0)
    test_days: int = Field(default=28, gt=0)
    # models in the benchmark (empty: all)
    learners: list[str] = Field(default_factory=list)
    # the UCI Online Shoppers file for the published comparison (empty: skipped)
    uci_path: str | None = None
    folds: int = Field(default=5, ge=2)


class ClvParams(_Section):
    """The BG/NBD chapter: a calibration period, then a holdout to check the forecasts."""

    # last day of the calibration period (empty: the middle of the study window)
    calibration_end: dt.date | None = None
    # length of a time unit in days (the BG/NBD paper counts weeks)
    unit_days: float = Field(default=7.0, gt=0)
    # the CDNOW 1/10 sample, to reproduce the published fit (empty: that section is skipped)
    reference_sample: str | None = None


class ReportParams(_Section):
    """How the book shows what it computed."""

    # the shop's time zone: hours of the day and weekdays are shown in it (times are stored
    # and days counted in UTC); "auto": the zone naive times are read in (data.mapping.timezone)
    timezone: str = AUTO

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return value if value == AUTO else known_zone(value)


class BookParams(_Section):
    """What the book holds beyond the chapters of ``_toc.yml``."""

    # chapters (notebooks/NN_name) a profile adds, in a last part "Further analyses"
    extra_chapters: list[str] = Field(default_factory=list)
    # chapters executed side by side (each in its own kernel) once the chapters whose files
    # it reads have finished; 1 runs them one after another. Numbers do not depend on it.
    parallel_chapters: int = Field(default=2, ge=1)


class SparkParams(_Section):
    """Apache Spark, when ``engine.backend`` is ``pyspark``: where it runs and with what."""

    # local[*] (every core of this machine), local[2], spark://host:7077, yarn, k8s://...
    master: str = "local[*]"
    driver_memory: str = "4g"
    executor_memory: str = "4g"
    executor_cores: int | None = Field(default=None, gt=0)
    # partitions of a shuffle; empty: twice the cores of a local master, else Spark's default
    shuffle_partitions: int | None = Field(default=None, gt=0)
    # any further Spark setting, e.g. {"spark.hadoop.fs.s3a.endpoint": "..."}
    conf: dict[str, str] = Field(default_factory=dict)


class EngineParams(_Section):
    """The engine that scans the log (Ibis backend and its resources)."""

    # duckdb (this machine) or pyspark (a Spark cluster, or local[*])
    backend: Literal["duckdb", "pyspark"] = "duckdb"
    # a size with its unit (KB, MB, GB, TB or KiB ... TiB) or a share of the machine's memory
    memory_limit: str = "8GB"
    threads: int | None = Field(default=None, gt=0)
    # where the engine may spill; None uses its default
    temp_directory: str | None = None
    spark: SparkParams = Field(default_factory=SparkParams)

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _memory_size(cls, value: Any) -> str:
        match = _MEMORY.fullmatch(str(value).strip())
        if match is None or float(match.group(1)) <= 0:
            raise ValueError(
                f"{value!r} is not a memory size: write a positive number with a unit, "
                "such as 8GB, 512MB, 4GiB, or a share of the machine's memory such as 50%"
            )
        return str(value).strip()

    @field_validator("temp_directory")
    @classmethod
    def _writable_folder(cls, value: str | None) -> str | None:
        if value is None:
            return value
        path = Path(value).expanduser()
        if path.exists() and not path.is_dir():
            raise ValueError(f"{value!r} is a file, not a folder: name a folder to spill into")
        try:  # the engine creates it anyway; trying now turns a later crash into a message
            probe_writable(path)
        except OSError as exc:
            raise ValueError(
                f"{value!r} cannot be created or written ({exc.strerror or exc}): name a "
                "writable folder, such as data/spill"
            ) from None
        return value


class Params(_Section):
    """A validated parameter profile, handed to every chapter."""

    profile: str = "custom"
    seed: int = 42
    data: DataParams = Field(default_factory=DataParams)
    study: StudyParams = Field(default_factory=StudyParams)
    sessions: SessionParams = Field(default_factory=SessionParams)
    anchors: AnchorParams = Field(default_factory=AnchorParams)
    features: FeatureParams = Field(default_factory=FeatureParams)
    splits: SplitParams = Field(default_factory=SplitParams)
    explore: ExploreParams = Field(default_factory=ExploreParams)
    seasonality: SeasonalityParams = Field(default_factory=SeasonalityParams)
    journeys: JourneyParams = Field(default_factory=JourneyParams)
    targeting: TargetingParams = Field(default_factory=TargetingParams)
    segments: SegmentParams = Field(default_factory=SegmentParams)
    campaign: CampaignParams = Field(default_factory=CampaignParams)
    models: ModelParams = Field(default_factory=ModelParams)
    explain: ExplainParams = Field(default_factory=ExplainParams)
    conversion: ConversionParams = Field(default_factory=ConversionParams)
    clv: ClvParams = Field(default_factory=ClvParams)
    book: BookParams = Field(default_factory=BookParams)
    report: ReportParams = Field(default_factory=ReportParams)
    engine: EngineParams = Field(default_factory=EngineParams)

    @model_validator(mode="before")
    @classmethod
    def _anchors_shorthand(cls, raw: Any) -> Any:
        """``anchors: auto`` (or ``fixed``) is short for ``anchors: {fit: auto}``."""
        if isinstance(raw, dict) and raw.get("anchors") in (AUTO, "fixed"):
            raw = {**raw, "anchors": {"fit": raw["anchors"]}}
        return raw

    @model_validator(mode="before")
    @classmethod
    def _report_zone(cls, raw: Any) -> Any:
        """``report.timezone: auto`` is the zone the log's naive times are read in."""
        if not isinstance(raw, dict):
            return raw
        report = raw.get("report") or {}
        if isinstance(report, dict) and report.get("timezone", AUTO) == AUTO:
            mapping = (raw.get("data") or {}).get("mapping") or {}
            zone = mapping.get("timezone", "UTC") if isinstance(mapping, dict) else "UTC"
            raw = {**raw, "report": {**report, "timezone": zone}}
        return raw

    @model_validator(mode="after")
    def _consistent_windows(self) -> Params:
        horizon = self.anchors.horizon_days
        embargo = self.splits.embargo_days
        if embargo is not None and embargo < horizon:
            raise ValueError(
                f"splits.embargo_days ({embargo}) is shorter than anchors.horizon_days "
                f"({horizon}): a training label window would overlap the next set; "
                "use at least one horizon (or leave it empty)"
            )
        if self.anchors.repurchase_gap_days > horizon:
            raise ValueError(
                f"anchors.repurchase_gap_days ({self.anchors.repurchase_gap_days}) exceeds "
                f"anchors.horizon_days ({horizon}): the repurchase label could not be "
                "decided inside the observed horizon"
            )
        return self

    def with_study(self, start: dt.date, end: dt.date) -> Params:
        """This profile with the study window the log resolved (``auto`` replaced)."""
        study = StudyParams(
            start_date=start if self.study.start_date == AUTO else self.study.start_date,
            end_date=end if self.study.end_date == AUTO else self.study.end_date,
        )
        return self.model_copy(update={"study": study})

    def with_anchor_plan(self, values: dict[str, int | None]) -> Params:
        """This profile with ``values`` (dotted keys of :data:`FIT_KEYS`) replacing its own;
        the replaced values are recorded in ``anchors.asked``."""
        raw = self.model_dump(mode="json")
        asked: dict[str, int | None] = {}
        for key, value in values.items():
            if key not in FIT_KEYS:
                raise ValueError(f"{key} is not a key an anchor plan sets; keys: {FIT_KEYS}")
            section, name = key.split(".")
            if raw[section][name] != value:
                asked[key] = raw[section][name]
                raw[section][name] = value
        raw["anchors"]["asked"] = {**asked, **self.anchors.asked}
        return validate_params(raw, origin="the fitted anchor plan")

    @property
    def embargo_days(self) -> int:
        """Days between sets: the parameter, or one horizon when it is empty."""
        return self.splits.embargo_days or self.anchors.horizon_days

    @property
    def warmup_days(self) -> int:
        """Days of log before the first anchor: the parameter, or the longest feature window."""
        if self.anchors.warmup_days is not None:
            return self.anchors.warmup_days
        return max(self.features.windows)

    @classmethod
    def from_run(cls, path: str | Path) -> Params:
        """The run's resolved profile, as the runner wrote it (``outputs/run_profile.json``).

        Chapters that need many settings read this one file instead of repeating them in
        their parameter cells, so a chapter cannot use a setting the run did not.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: the run's profile is missing; run the chapters with "
                "'shoplog run' (it writes the profile before the first chapter)"
            )
        return validate_params(json.loads(path.read_text()), origin=str(path))

    def flat(self) -> dict[str, Any]:
        """Plain values keyed ``<section>_<key>`` (``study_end_date``), as notebooks name them."""
        out: dict[str, Any] = {}
        for key, value in self.model_dump(mode="json").items():
            if isinstance(value, dict):
                for sub, subvalue in value.items():
                    out[f"{key}_{sub}"] = subvalue
            else:
                out[key] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _profile_path(profile: str | Path, params_dir: Path) -> Path:
    path = Path(profile)
    if path.suffix in (".yml", ".yaml"):
        return path if path.is_absolute() else Path.cwd() / path
    return params_dir / f"{profile}.yml"


def read_profile(profile: str | Path, params_dir: Path | None = None) -> dict[str, Any]:
    """The raw mapping of a profile (a name in ``params/`` or a YAML path), ``extends`` resolved."""
    params_dir = params_dir or PROJECT_ROOT / "params"
    seen: list[Path] = []
    path = _profile_path(profile, params_dir)
    layers: list[dict[str, Any]] = []
    while True:
        if not path.exists():
            known = sorted(p.stem for p in params_dir.glob("*.yml"))
            raise ParamsError(f"no parameter profile {path}; known profiles: {known}")
        if path in seen:
            raise ParamsError(f"profile {path} extends itself through {seen}")
        seen.append(path)
        try:
            layer = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ParamsError(f"{path} is not valid YAML: {exc}") from exc
        except ValueError as exc:  # an impossible date such as 2020-02-30
            raise ParamsError(
                f"{path}: a value is not a real date ({exc}); dates are YYYY-MM-DD"
            ) from None
        if not isinstance(layer, dict):
            raise ParamsError(f"{path} must hold a mapping of sections, not {type(layer).__name__}")
        parent = layer.pop("extends", None)
        layers.append(layer)
        if parent is None:
            break
        path = _profile_path(str(parent), params_dir)
    merged: dict[str, Any] = {}
    for layer in reversed(layers):
        merged = _deep_merge(merged, layer)
    merged.setdefault("profile", Path(profile).stem)
    return merged


def apply_overrides(raw: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides; values are parsed as YAML (dates, numbers, lists)."""
    out = _deep_merge({}, raw)
    for item in overrides or []:
        if "=" not in item:
            raise ParamsError(f"override {item!r} must look like section.key=value")
        key, _, text = item.partition("=")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            raise ParamsError(f"override {item!r}: value is not valid YAML ({exc})") from exc
        except ValueError as exc:  # a date YAML recognises but the calendar has not
            raise ParamsError(
                f"--set {item}: {text.strip()!r} is not a real date ({exc}); "
                f"write it as YYYY-MM-DD, e.g. --set {key.strip()}=2020-02-29"
            ) from None
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def validate_params(raw: dict[str, Any], origin: str = "parameters") -> Params:
    """Validate a raw profile; errors name each offending key and the fix."""
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check its spelling and section)"
            elif err["type"] == "missing":
                msg = "required; add it to the profile or pass --set " + where + "=..."
            example = _example(err["loc"])
            if example is not None and err["type"] != "extra_forbidden":
                msg += f" (a valid value: --set {where}={example})"
            lines.append(f"  {where}: {msg}")
        raise ParamsError(f"invalid {origin}:\n" + "\n".join(lines)) from None


def _example(loc: tuple[Any, ...]) -> str | None:
    """A valid value for the key at ``loc``: its default, or a date for the study window."""
    model: Any = Params
    field = None
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if not isinstance(part, str) or fields is None or part not in fields:
            break
        field = fields[part]
        model = field.annotation
    if field is None:
        return None
    if field.is_required():
        return None
    default = field.get_default(call_default_factory=True)
    if isinstance(default, BaseModel) or default is None:
        return None
    if isinstance(default, list):
        return "[" + ", ".join(str(v) for v in default) + "]"
    return str(default).lower() if isinstance(default, bool) else str(default)


def load_params(
    profile: str | Path = "default",
    overrides: list[str] | None = None,
    params_dir: Path | None = None,
) -> Params:
    """Read, override and validate a profile: the one entry point for parameters."""
    raw = apply_overrides(read_profile(profile, params_dir), overrides)
    return validate_params(raw, origin=f"profile {profile!r}")
