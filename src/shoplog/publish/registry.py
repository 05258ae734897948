"""What a run is made of: the chapters (from ``_toc.yml``, in run order), the parameters
each declares, and the artifacts each writes and reads.

One registry for the runner (what to inject, what a partial run may not mix) and for
the book's appendix "How this book is made" (drawn from it, never typed by hand)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml

from shoplog.config.params import Params
from shoplog.config.paths import ProjectPaths

CHAPTER_SUFFIXES = (".md", ".py", ".ipynb")


class RunError(RuntimeError):
    """The run cannot go on; the message says which chapter or step and why."""


@dataclass(frozen=True)
class Chapter:
    """One executable chapter: its toc name and its text source."""

    doc: str
    source: Path

    @property
    def name(self) -> str:
        return Path(self.doc).name


def _toc_docs(node: Any) -> list[str]:
    docs: list[str] = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                docs.append(str(node[key]))
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                docs.extend(_toc_docs(child))
    elif isinstance(node, list):
        for child in node:
            docs.extend(_toc_docs(child))
    return docs


def toc_documents(paths: ProjectPaths) -> list[str]:
    """Every document of ``_toc.yml``, in reading order."""
    toc = yaml.safe_load((paths.root / "_toc.yml").read_text())
    return [_doc_name(d) for d in _toc_docs(toc)]


def _doc_name(doc: str) -> str:
    """A toc document without its suffix (``notebooks/01_data.md`` -> ``notebooks/01_data``)."""
    return Path(doc).with_suffix("").as_posix() if Path(doc).suffix else doc


EXTRA_CAPTION = "Further analyses"


def run_order(chapter: Chapter) -> int:
    """A chapter's place in the run: its number (``13_summary`` runs after ``12_...``).

    Reading order (the toc) and run order differ where a page summarises later ones: the
    executive summary is read first but runs last."""
    number = chapter_number(chapter.name)
    if number is None:
        raise RunError(f"{chapter.source}: chapters are named NN_topic (NN: run order)")
    return number


def chapter_number(name: str) -> int | None:
    """The NN of a chapter named ``NN_topic`` (None for any other name)."""
    number = re.match(r"(\d+)_", name)
    return None if number is None else int(number.group(1))


def chapters(paths: ProjectPaths, extra: list[str] | None = None) -> list[Chapter]:
    """The executable chapters (``notebooks/`` entries of the toc, then the profile's
    ``book.extra_chapters``), in run order: by their number, whatever the reading order."""
    docs = [d for d in toc_documents(paths) if d.startswith("notebooks/")]
    for doc in map(_doc_name, extra or []):
        if doc in docs:
            raise RunError(f"book.extra_chapters lists {doc}, which _toc.yml already has")
        docs.append(doc)
    found = []
    for doc in docs:
        candidates = [paths.root / f"{doc}{s}" for s in CHAPTER_SUFFIXES]
        source = next((c for c in candidates if c.exists()), None)
        if source is None:
            raise RunError(f"{doc} is listed as a chapter, but none of {candidates} exists")
        found.append(Chapter(doc=doc, source=source))
    return sorted(found, key=run_order)


def declared_parameters(nb: nbformat.NotebookNode, where: str) -> list[str]:
    """Names assigned in the cell tagged ``parameters`` (there must be exactly one)."""
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise RunError(f"{where}: needs exactly one cell tagged 'parameters', found {len(cells)}")
    names = []
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


INGEST = "ingest"
RUN = "run"  # written by the runner itself, before any chapter


@dataclass(frozen=True)
class Artifact:
    """A file or folder a run writes: who writes it and what it holds."""

    name: str  # its ProjectPaths property; chapters declare it as a parameter
    producers: tuple[str, ...]  # the chapters (or ingestion) that write it, in run order
    what: str


# Every path a chapter may declare, by its ProjectPaths name (handed over relative to the
# root): who writes it and what it holds. A chapter that declares an artifact it does not
# write reads it. The runner refuses a partial run (--only) that would read an artifact
# whose producer is out of date, and the appendix "How this book is made" is drawn from it.
ARTIFACTS = (
    Artifact(
        "run_profile_path",
        (RUN,),
        "the run's resolved parameters: the profile with every --set applied",
    ),
    Artifact(
        "events_path",
        (INGEST,),
        "the cleaned event log (Parquet), canonical columns; or, for a canonical dataset "
        "read in place, the reference to it (events.ref.json)",
    ),
    Artifact("quality_path", (INGEST,), "what ingestion read, kept and dropped, and why"),
    Artifact("processed_dir", (INGEST,), "the folder of the processed tables"),
    Artifact(
        "dataset_path",
        ("05_features",),
        "the modelling table: one row per user and anchor, features, labels, split",
    ),
    Artifact(
        "sequences_path",
        ("05_features",),
        "each user's activity day by day before each anchor (active days only), read by "
        "the sequence models",
    ),
    Artifact(
        "timeline_path",
        ("05_features",),
        "anchors, their splits, the label horizon and the feature settings used",
    ),
    Artifact("outputs_dir", (), "the outputs folder (every chapter writes under it)"),
    Artifact(
        "glued_dir",
        ("06_models", "10_priority", "12_targeting"),
        "each chapter's glued numbers (JSON, quoted by its text); the summary reads "
        "those of the models, priority and targeting chapters",
    ),
    Artifact(
        "models_dir",
        ("06_models", "10_priority", "11_segments"),
        "the kept churn and purchase models (06), the value model (10) and the segment "
        "clustering (11), each with its card",
    ),
    Artifact(
        "priority_path",
        ("10_priority",),
        "P(dormant), P(purchase), value if retained and priority of every scored user",
    ),
    Artifact(
        "priority_group_tests_path",
        ("10_priority",),
        "the priority group against the rest, feature by feature",
    ),
    Artifact(
        "priority_churner_tests_path",
        ("10_priority",),
        "churners against retained users within the priority group",
    ),
    Artifact("segments_path", ("11_segments",), "RFM scores, segment and cluster of each user"),
    Artifact("targeting_dir", ("12_targeting",), "the targeting list (CSV) at the score anchor"),
    Artifact("brief_path", ("13_summary",), "the executive summary as a one- or two-page PDF"),
)
RUN_PATHS = tuple(a.name for a in ARTIFACTS)


def available_parameters(params: Params, paths: ProjectPaths, chapter: Chapter) -> dict[str, Any]:
    """What a chapter may declare: the flat profile plus this run's paths (relative to the root)."""
    values = params.flat()
    values.update({name: paths.relative(getattr(paths, name)) for name in RUN_PATHS})
    values["glued_path"] = paths.relative(paths.glued_path(chapter.name))
    # a canonical dataset read in place: chapters read the log through its reference
    values["events_path"] = paths.relative(paths.processed_log(params.data.canonical))
    return values


def chapter_parameters(
    params: Params, paths: ProjectPaths, chapter: Chapter, nb: nbformat.NotebookNode
) -> dict[str, Any]:
    """The values to inject: exactly the names the chapter declares, each one known."""
    available = available_parameters(params, paths, chapter)
    declared = declared_parameters(nb, str(chapter.source))
    unknown = [n for n in declared if n not in available]
    if unknown:
        raise RunError(
            f"{chapter.source}: parameters {unknown} are not profile keys or run paths; "
            f"known names: {sorted(available)}"
        )
    return {n: available[n] for n in declared}


def reads_and_writes(chapter: Chapter, declared: list[str]) -> tuple[list[str], list[str]]:
    """The artifacts a chapter reads and those it writes, among the ones it declares."""
    by_name = {a.name: a for a in ARTIFACTS}
    mine = [by_name[n] for n in declared if n in by_name and by_name[n].producers]
    writes = [a.name for a in mine if chapter.name in a.producers]
    # a chapter adding to an artifact (the models folder) reads what earlier ones wrote
    reads = [
        a.name
        for a in mine
        if chapter.name not in a.producers or a.producers.index(chapter.name) > 0
    ]
    return reads, writes


def producers_before(chapter: Chapter, artifact: str) -> list[str]:
    """The chapters that write ``artifact`` before ``chapter`` runs (ingestion and the
    runner's own files excluded: they are always this run's)."""
    number = run_order(chapter)
    found = next(a for a in ARTIFACTS if a.name == artifact)
    return [p for p in found.producers if p not in (INGEST, RUN) and chapter_number(p) < number]


def chapter_title(chapter: Chapter) -> str:
    """The chapter's first level-one heading (its name when it has none)."""
    for line in chapter.source.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return chapter.name


def run_table(paths: ProjectPaths, extra: list[str] | None = None) -> list[dict[str, Any]]:
    """Every chapter in run order with its title and the artifacts it writes and reads."""
    import jupytext

    rows = []
    for chapter in chapters(paths, extra):
        nb = jupytext.read(chapter.source)
        reads, writes = reads_and_writes(chapter, declared_parameters(nb, str(chapter.source)))
        rows.append(
            {
                "chapter": chapter.name,
                "title": chapter_title(chapter),
                "writes": writes,
                "reads": reads,
            }
        )
    return rows


def artifact_table(paths: ProjectPaths, extra: list[str] | None = None) -> list[dict[str, Any]]:
    """Every artifact with a producer: its path (relative to the project), what it holds,
    who writes it and which chapters read it."""
    runs = run_table(paths, extra)
    out = []
    for a in ARTIFACTS:
        if not a.producers:
            continue
        out.append(
            {
                "artifact": a.name,
                "path": paths.relative(getattr(paths, a.name)),
                "what": a.what,
                "written by": list(a.producers),
                "read by": [r["chapter"] for r in runs if a.name in r["reads"]],
            }
        )
    return out
