"""Every path the project uses, built from the project root (one source of truth).

Notebooks never spell ``../data``: the runner hands them the paths below as
parameters. Tests point ``data_dir`` and ``build_dir`` at temporary folders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class ProjectPaths:
    """Locations of inputs, processed data, outputs and the build for one run."""

    root: Path = PROJECT_ROOT
    data_dir: Path = PROJECT_ROOT / "data"
    build_dir: Path = PROJECT_ROOT / "_build"

    @classmethod
    def create(
        cls, data_dir: str | Path | None = None, build_dir: str | Path | None = None
    ) -> ProjectPaths:
        """Paths with optional data and build folders (relative ones are taken from the root)."""
        root = PROJECT_ROOT
        return cls(
            root=root,
            data_dir=(root / data_dir) if data_dir else root / "data",
            build_dir=(root / build_dir) if build_dir else root / "_build",
        )

    # -- data -------------------------------------------------------------
    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def processed_dir(self) -> Path:
        return self.data_dir / "processed"

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    @property
    def run_profile_path(self) -> Path:
        """The resolved parameter profile the published run was made with."""
        return self.outputs_dir / "run_profile.json"

    @property
    def events_path(self) -> Path:
        """The canonical event log every chapter reads."""
        return self.processed_dir / "events.parquet"

    @property
    def events_ref_path(self) -> Path:
        """In place of the log, for a canonical dataset read in place (``data.canonical``):
        where it is and the study window, as JSON; :func:`shoplog.events.engine.read_events`
        reads either."""
        return self.processed_dir / "events.ref.json"

    def processed_log(self, canonical: bool) -> Path:
        """What chapters read as the log: the ingested Parquet, or the canonical reference."""
        return self.events_ref_path if canonical else self.events_path

    @property
    def quality_path(self) -> Path:
        """The data-quality report written by ingestion (rows read, dropped by reason)."""
        return self.processed_dir / "quality.json"

    @property
    def dataset_path(self) -> Path:
        """The modelling table: features, labels and split per user x anchor."""
        return self.processed_dir / "dataset.parquet"

    @property
    def sequences_path(self) -> Path:
        """Daily activity before each anchor, per user (active days only), for the sequence
        models: written beside the modelling table when the benchmark has one."""
        return self.processed_dir / "sequences.parquet"

    @property
    def timeline_path(self) -> Path:
        """The anchors and their split roles, as JSON."""
        return self.processed_dir / "timeline.json"

    # -- artifacts the chapters write (under outputs/) ----------------------
    @property
    def glued_dir(self) -> Path:
        """Each chapter's quoted numbers as JSON (``<chapter>.json``)."""
        return self.outputs_dir / "glued"

    def glued_path(self, chapter: str) -> Path:
        return self.glued_dir / glued_name(chapter)

    @property
    def models_dir(self) -> Path:
        """The kept models with their cards and the benchmark tables (models chapter)."""
        return self.outputs_dir / "models"

    @property
    def priority_path(self) -> Path:
        """Priority score, probabilities and value per user x anchor (priority chapter)."""
        return self.outputs_dir / "priority.parquet"

    @property
    def priority_group_tests_path(self) -> Path:
        """Every feature compared between the priority group and the rest."""
        return self.outputs_dir / "priority_group_tests.csv"

    @property
    def priority_churner_tests_path(self) -> Path:
        """Churners against retained users within the priority group."""
        return self.outputs_dir / "priority_churner_tests.csv"

    @property
    def segments_path(self) -> Path:
        """RFM segment and behaviour cluster per scored user (segments chapter)."""
        return self.outputs_dir / "segments.parquet"

    @property
    def targeting_dir(self) -> Path:
        """Targeting lists, one CSV per score anchor (see :func:`targeting_name`)."""
        return self.outputs_dir / "targeting"

    @property
    def brief_path(self) -> Path:
        """The executive summary as a PDF for stakeholders (summary chapter, ``shoplog brief``)."""
        return self.outputs_dir / "brief.pdf"

    @property
    def scores_dir(self) -> Path:
        """Lists written by ``shoplog score`` (see :func:`scores_name`)."""
        return self.outputs_dir / "scores"

    # -- source -----------------------------------------------------------
    @property
    def notebooks_dir(self) -> Path:
        return self.root / "notebooks"

    @property
    def book_dir(self) -> Path:
        return self.root / "book"

    @property
    def params_dir(self) -> Path:
        return self.root / "params"

    # -- build ------------------------------------------------------------
    @property
    def stage_dir(self) -> Path:
        """The book source as built: narrative pages plus executed notebooks."""
        return self.build_dir / "stage"

    @property
    def executed_dir(self) -> Path:
        """The executed chapters the book is built from (the last complete run's)."""
        return self.stage_dir / "notebooks"

    @property
    def html_dir(self) -> Path:
        """The published HTML; replaced only by a complete, successful build."""
        return self.build_dir / "html"

    @property
    def fingerprints_path(self) -> Path:
        return self.build_dir / "fingerprints.json"

    # -- a run in progress ------------------------------------------------
    @property
    def run_dir(self) -> Path:
        """Where a run's chapters write; published to the data and stage folders on success."""
        return self.build_dir / "run"

    @property
    def run_state_path(self) -> Path:
        """How the last run ended: ``running`` (or killed), ``failed`` or ``complete``."""
        return self.build_dir / "run.json"

    @property
    def run_notebooks_dir(self) -> Path:
        """The chapters a run in progress has executed, published to :attr:`executed_dir`."""
        return self.run_dir / "notebooks"

    @property
    def executing_dir(self) -> Path:
        """The notebook papermill is writing right now."""
        return self.build_dir / "executing"

    @property
    def failed_dir(self) -> Path:
        """The partly executed notebook of the chapter that failed, kept to read."""
        return self.build_dir / "failed"

    @property
    def building_dir(self) -> Path:
        """Jupyter Book's output while it builds; swapped into :attr:`html_dir` on success."""
        return self.build_dir / "building"

    @property
    def old_html_dir(self) -> Path:
        """The previous HTML, set aside while the new one is swapped in."""
        return self.build_dir / "html.old"

    @property
    def old_outputs_dir(self) -> Path:
        """The previous outputs, set aside while a finished run's are swapped in."""
        return self.data_dir / ".outputs.old"

    @property
    def ingested(self) -> tuple[Path, Path, Path]:
        """What ingestion (or reading a canonical dataset in place) writes into the
        processed folder; chapters only read these."""
        return (self.events_path, self.events_ref_path, self.quality_path)

    def staged(self) -> ProjectPaths:
        """The paths a running chapter writes to: a data folder inside :attr:`run_dir`."""
        return ProjectPaths(
            root=self.root, data_dir=self.run_dir / "data", build_dir=self.build_dir
        )

    def relative(self, path: Path) -> str:
        """``path`` relative to the root when inside it, else absolute (usable by code)."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path.resolve().as_posix()

    def display(self, path: Path) -> str:
        """``path`` as a reader may see it: relative to the root, or its name alone when
        outside (no machine paths in anything published)."""
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return path.name


def glued_name(chapter: str) -> str:
    """The file name of a chapter's quoted numbers in :attr:`ProjectPaths.glued_dir`."""
    return f"{chapter}.json"


def benchmark_name(task: str) -> str:
    """The file name of a task's benchmark table in :attr:`ProjectPaths.models_dir`."""
    return f"{task}_benchmark.csv"


def paired_name(task: str) -> str:
    """The file name of a task's paired differences in :attr:`ProjectPaths.models_dir`."""
    return f"{task}_paired_differences.csv"


def targeting_name(anchor: object) -> str:
    """The file name of the targeting list at a score anchor (a date)."""
    return f"targeting_{anchor}.csv"


def scores_name(anchor: object) -> str:
    """The file name of ``shoplog score``'s list at an anchor (a date)."""
    return f"scores_{anchor}.csv"
