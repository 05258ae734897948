"""Run the book: prepare data, execute chapters by their number, build the HTML.

- **Data** is ingested first (see :mod:`shoplog.ingest`).
- **Chapters** are the ``notebooks/`` entries of ``_toc.yml``, stored as jupytext
  text. Each is executed by papermill with the values its parameters cell
  declares, taken from the validated profile (``study_end_date`` <-
  ``study.end_date``) plus the run's paths. A chapter is skipped when its
  fingerprint (its text, its parameters, the package code, the data and every
  earlier chapter) is unchanged.
- **A run is all or nothing.** Chapters write into a staging folder
  (``_build/run/``: a copy of the outputs, the modelling table, the executed
  notebooks); only when every chapter succeeded are these published together into
  the data folder and the book's stage. A failing cell stops the run with the
  chapter, cell and error, keeps the partly executed notebook under
  ``_build/failed/`` and changes nothing published; ``_build/run.json`` records how
  the last run ended, and ``shoplog build`` refuses to build after a run that did not
  finish. Leftovers of a killed run are removed by the next one.
- **Nothing published names this machine:** the executed notebooks' paths are
  rewritten relative to the project (a folder outside it by its name alone).
- **The build** runs Jupyter Book (no execution, warnings as errors) on a staged
  copy of the book and swaps the new HTML in only when it succeeded.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import yaml

from shoplog.files import (
    CorruptFileError,
    atomic_write_json,
    atomic_write_text,
    read_json,
    remove_leftovers,
)
from shoplog.ingest import QualityReport, ingest, resolve_source
from shoplog.params import Params
from shoplog.paths import ProjectPaths

HIDE_TAGS = {"remove-cell", "remove-input", "hide-input", "hide-cell", "remove-output"}
CHAPTER_SUFFIXES = (".md", ".py", ".ipynb")
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


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
    number = re.match(r"(\d+)_", chapter.name)
    if number is None:
        raise RunError(f"{chapter.source}: chapters are named NN_topic (NN: run order)")
    return int(number.group(1))


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


def code_fingerprint() -> str:
    """Hash of the package's source: code changes re-run the chapters."""
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _hash(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


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


# the paths a chapter may declare, by their ProjectPaths name (handed over relative to the root)
RUN_PATHS = (
    "events_path",
    "quality_path",
    "processed_dir",
    "dataset_path",
    "timeline_path",
    "outputs_dir",
    "glued_dir",
    "models_dir",
    "priority_path",
    "priority_group_tests_path",
    "priority_churner_tests_path",
    "segments_path",
    "targeting_dir",
)


def available_parameters(params: Params, paths: ProjectPaths, chapter: Chapter) -> dict[str, Any]:
    """What a chapter may declare: the flat profile plus this run's paths (relative to the root)."""
    values = params.flat()
    values.update({name: paths.relative(getattr(paths, name)) for name in RUN_PATHS})
    values["glued_path"] = paths.relative(paths.glued_path(chapter.name))
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


@dataclass
class Fingerprints:
    """Fingerprints of the data and of each executed chapter, kept in the build folder."""

    path: Path
    data: str | None = None
    chapters: dict[str, str] | None = None

    @classmethod
    def load(cls, path: Path) -> Fingerprints:
        """The saved fingerprints; an unreadable file counts as none (everything re-runs)."""
        if not path.exists():
            return cls(path=path, chapters={})
        try:
            raw = read_json(path, "the run's fingerprints")
            if not isinstance(raw, dict) or not isinstance(raw.get("chapters", {}), dict):
                raise CorruptFileError(path, "the run's fingerprints", "not a mapping")
        except CorruptFileError as exc:
            _say(f"[run] {exc}; ignoring it: the data is ingested and every chapter runs again")
            return cls(path=path, chapters={})
        return cls(path=path, data=raw.get("data"), chapters=raw.get("chapters", {}))

    def save(self) -> None:
        atomic_write_json(
            self.path, {"data": self.data, "chapters": self.chapters}, indent=2, sort_keys=True
        )


def _say(message: str) -> None:
    print(message, flush=True)


def data_fingerprint(params: Params, paths: ProjectPaths) -> str:
    """What decides the processed log: data, study and session parameters, code, the raw file."""
    source = resolve_source(params, paths)
    stat = source.stat()
    return _hash(
        params.data.model_dump(mode="json"),
        params.study.model_dump(mode="json"),
        params.sessions.model_dump(mode="json"),
        code_fingerprint(),
        [str(source), stat.st_size, stat.st_mtime_ns],
    )


def prepare_data(params: Params, paths: ProjectPaths, force: bool = False) -> QualityReport:
    """Ingest the configured log unless the processed one is already up to date."""
    prints = Fingerprints.load(paths.fingerprints_path)
    fingerprint = data_fingerprint(params, paths)
    up_to_date = (
        prints.data == fingerprint and paths.events_path.exists() and paths.quality_path.exists()
    )
    if up_to_date and not force:
        try:
            report = QualityReport.from_json(paths.quality_path)
        except CorruptFileError as exc:
            _say(f"[data] {exc}; ingesting again")
        else:
            _say(f"[data] {paths.relative(paths.events_path)} is up to date (skipped)")
            return report
    start = time.perf_counter()
    _say(f"[data] ingesting {params.data.label} ...")
    report = ingest(params, paths)
    dropped = sum(report.drops.values())
    _say(
        f"[data] {report.rows_read:,} rows read, {dropped:,} dropped, {report.rows_kept:,} kept "
        f"({report.users:,} users) in {time.perf_counter() - start:.1f} s"
    )
    # chapter fingerprints chain from this one, so new data re-runs every chapter
    prints.data = fingerprint
    prints.save()
    return report


def _tag_for_book(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Hide code by default; drop the default-parameters cell (the injected one follows it)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = list(cell.metadata.get("tags", []))
        if "parameters" in tags:
            tags.append("remove-cell")
        elif "injected-parameters" in tags:
            tags.append("hide-cell")
        elif not HIDE_TAGS.intersection(tags):
            tags.append("hide-input")
        cell.metadata["tags"] = tags
    return nb


# the exception a chapter raises when this log cannot support it (report.skip_chapter_unless)
SKIPPED = "ChapterSkipped"


def skipped_page(nb: nbformat.NotebookNode, reason: str) -> nbformat.NotebookNode:
    """The page of a chapter that does not apply: its title, and why it was skipped."""
    title = next(
        (
            line
            for cell in nb.cells
            if cell.cell_type == "markdown"
            for line in cell.source.splitlines()
            if line.startswith("# ")
        ),
        "# (untitled chapter)",
    )
    note = f"```{{warning}}\nThis chapter does not apply to this log: {reason}\n```"
    page = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell(title), nbformat.v4.new_markdown_cell(note)]
    )
    page.metadata["kernelspec"] = KERNELSPEC
    return page


RUNNING, FAILED, COMPLETE = "running", "failed", "complete"


def read_run_state(paths: ProjectPaths) -> dict[str, Any] | None:
    """How the last run ended (``status``, and for a failure ``chapter`` and ``message``);
    None before the first run."""
    if not paths.run_state_path.exists():
        return None
    try:
        state = read_json(paths.run_state_path, "the last run's status")
    except CorruptFileError as exc:
        return {"status": "unknown", "message": str(exc)}
    return state if isinstance(state, dict) else {"status": "unknown"}


def _write_run_state(paths: ProjectPaths, status: str, **detail: Any) -> None:
    atomic_write_json(paths.run_state_path, {"status": status, **detail}, indent=2, sort_keys=True)


def clean_leftovers(paths: ProjectPaths) -> list[str]:
    """Remove what failed or killed runs and builds left behind; returns what was removed."""
    removed = []
    for folder in (
        paths.run_dir,
        paths.executing_dir,
        paths.failed_dir,
        paths.building_dir,
        paths.old_html_dir,
        paths.old_outputs_dir,
    ):
        if folder.exists():
            shutil.rmtree(folder)
            removed.append(paths.relative(folder))
    # half-written files of killed writes (never under raw/: that is the user's)
    for folder in (paths.processed_dir, paths.outputs_dir, paths.build_dir):
        removed += [paths.relative(p) for p in remove_leftovers(folder)]
    return removed


def _open_run(paths: ProjectPaths) -> ProjectPaths:
    """A staging data folder for this run: the outputs and chapter-written tables copied,
    the ingested log linked (read only); chapters write here, not into the data folder."""
    staged = paths.staged()
    staged.processed_dir.mkdir(parents=True)
    paths.run_notebooks_dir.mkdir()
    if paths.outputs_dir.exists():
        shutil.copytree(paths.outputs_dir, staged.outputs_dir)
    else:
        staged.outputs_dir.mkdir(parents=True)
    ingested = {p.name for p in paths.ingested}
    for item in sorted(paths.processed_dir.iterdir()):
        target = staged.processed_dir / item.name
        if item.name in ingested:
            target.symlink_to(item.resolve())
        elif item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy2(item, target)
    return staged


def _move(source: Path, target: Path) -> None:
    """Replace ``target`` with ``source`` (a rename when both are on one file system)."""
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    shutil.move(str(source), str(target))


def _swap_folder(new: Path, target: Path, aside: Path) -> None:
    """Put the folder ``new`` in place of ``target``: the old one is set aside first and
    removed last, so ``target`` is never a half-copied folder."""
    if aside.exists():
        shutil.rmtree(aside)
    if target.exists():
        target.rename(aside)
    shutil.move(str(new), str(target))
    if aside.exists():
        shutil.rmtree(aside)


def _publish_run(paths: ProjectPaths, staged: ProjectPaths) -> None:
    """Publish a finished run: its tables, outputs and executed notebooks, together."""
    ingested = {p.name for p in paths.ingested}
    written = {p.name for p in staged.processed_dir.iterdir() if p.name not in ingested}
    for item in sorted(paths.processed_dir.iterdir()):
        # a chapter removed it (say, no modelling table for this log): so does the publication
        if item.name not in ingested and item.name not in written:
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    for name in sorted(written):
        _move(staged.processed_dir / name, paths.processed_dir / name)
    _swap_folder(staged.outputs_dir, paths.outputs_dir, paths.old_outputs_dir)
    paths.executed_dir.mkdir(parents=True, exist_ok=True)
    for nb in sorted(paths.run_notebooks_dir.glob("*.ipynb")):
        _move(nb, paths.executed_dir / nb.name)
    shutil.rmtree(paths.run_dir)


# papermill's and nbclient's per-run metadata: times and the executing folder change from
# run to run and name this machine; the published notebook keeps neither
_RUN_METADATA = ("input_path", "output_path", "start_time", "end_time", "duration")


def _path_replacements(paths: ProjectPaths, staged: ProjectPaths) -> list[tuple[str, str]]:
    """Machine paths that may appear in an executed notebook, and what readers see instead."""
    data = paths.display(paths.data_dir)
    pairs = [
        (str(staged.data_dir.resolve()), data),
        (paths.relative(staged.data_dir), data),
        (str(paths.data_dir.resolve()), data),
        (str(paths.build_dir.resolve()), paths.display(paths.build_dir)),
        (str(paths.root.resolve()) + "/", ""),
        (str(paths.root.resolve()), "."),
        (str(Path(sys.prefix).resolve()), "<python>"),
        (str(Path.home()), "~"),
    ]
    return sorted({(a, b) for a, b in pairs if len(a) > 1}, key=lambda p: -len(p[0]))


def publishable(
    nb: nbformat.NotebookNode, replacements: list[tuple[str, str]]
) -> nbformat.NotebookNode:
    """The executed notebook as published: machine paths rewritten, run times dropped."""
    meta = nb.metadata.get("papermill", {})
    for key in _RUN_METADATA:
        meta.pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    text = nbformat.writes(nb)
    for old, new in replacements:
        text = text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])
    return nbformat.reads(text, as_version=4)


def _report_failure(chapter: Chapter, exc: Exception, kept: Path, paths: ProjectPaths) -> str:
    cell = getattr(exc, "exec_count", None)
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    source = (getattr(exc, "source", "") or "").strip().splitlines()
    excerpt = "\n".join("    " + line for line in source[:8])
    return (
        f"chapter {chapter.doc} failed in cell [{cell}]:\n{excerpt}\n"
        f"  {ename}: {evalue}\n"
        f"  the partly executed notebook is kept at {paths.relative(kept)}; "
        "nothing published was changed (data outputs, executed chapters, HTML). Fix the "
        "cause and run again: `shoplog run` re-runs this chapter and what follows it."
    )


def run_chapters(
    params: Params,
    paths: ProjectPaths,
    only: list[str] | None = None,
    force: bool = False,
    execute: Callable[..., Any] | None = None,
) -> list[tuple[str, str, float]]:
    """Execute the chapters in run order, all or nothing; returns (chapter, status, seconds),
    the status 'ran', 'skipped' (unchanged or not selected) or 'not applicable'.

    Chapters write into a staging folder that is published only when every chapter
    succeeded; after a failure nothing published has changed."""
    import papermill

    execute = execute or papermill.execute_notebook
    prints = Fingerprints.load(paths.fingerprints_path)
    if prints.data is None or not paths.events_path.exists():
        raise RunError("no processed data: run `shoplog run` (it ingests first)")
    todo = chapters(paths, params.book.extra_chapters)
    if only:
        known = {c.name for c in todo} | {c.doc for c in todo}
        unknown = [o for o in only if o not in known]
        if unknown:
            raise RunError(
                f"--only {' '.join(unknown)}: no such chapter in this book; "
                f"chapters: {' '.join(c.name for c in todo)}"
            )
    removed = clean_leftovers(paths)
    if removed:
        _say(f"[run] removed leftovers of an unfinished run: {', '.join(removed)}")
    _write_run_state(paths, RUNNING)
    staged = paths.staged()
    replacements = _path_replacements(paths, staged)
    out_dir = paths.run_notebooks_dir
    code = code_fingerprint()
    previous = prints.data
    results = []
    chapter = None
    try:
        _open_run(paths)
        for i, chapter in enumerate(todo, start=1):
            nb = jupytext.read(chapter.source)
            nb.metadata["kernelspec"] = KERNELSPEC
            values = chapter_parameters(params, staged, chapter, nb)
            fingerprint = _hash(previous, chapter.source.read_text(), values, code)
            previous = fingerprint
            target = out_dir / f"{chapter.name}.ipynb"
            published = paths.executed_dir / target.name
            wanted = only is None or chapter.name in only or chapter.doc in only
            unchanged = prints.chapters.get(chapter.doc) == fingerprint and published.exists()
            label = f"[{i}/{len(todo)}] {chapter.doc}"
            if (unchanged and not force) or not wanted:
                _say(f"{label}: skipped ({'unchanged' if unchanged else 'not selected'})")
                results.append((chapter.doc, "skipped", 0.0))
                continue
            _say(f"{label}: running ...")
            results.append(
                _run_one(execute, chapter, nb, values, paths, staged, target, replacements, label)
            )
            prints.chapters[chapter.doc] = fingerprint
    except BaseException as exc:
        where = chapter.doc if chapter is not None else None
        _write_run_state(paths, FAILED, chapter=where, message=str(exc).splitlines()[0:1])
        shutil.rmtree(paths.run_dir, ignore_errors=True)
        raise
    if any(status != "skipped" for _, status, _ in results):
        _publish_run(paths, staged)
        prints.save()
    else:  # nothing ran: what is published is already this run's
        shutil.rmtree(paths.run_dir)
    _write_run_state(paths, COMPLETE)
    return results


def _run_one(
    execute: Callable[..., Any],
    chapter: Chapter,
    nb: nbformat.NotebookNode,
    values: dict[str, Any],
    paths: ProjectPaths,
    staged: ProjectPaths,
    target: Path,
    replacements: list[tuple[str, str]],
    label: str,
) -> tuple[str, str, float]:
    """Execute one chapter into the staging folder; raise :class:`RunError` when it fails."""
    start = time.perf_counter()
    work = paths.executing_dir / f"{chapter.name}.ipynb"
    work.parent.mkdir(parents=True, exist_ok=True)
    try:
        execute(
            nb,
            str(work),
            parameters=values,
            kernel_name="python3",
            cwd=str(paths.root),
            progress_bar=False,
            log_output=False,
        )
    except Exception as exc:
        if getattr(exc, "ename", "") == SKIPPED:
            work.unlink(missing_ok=True)
            # numbers an earlier run recorded must not be read as this run's
            staged.glued_path(chapter.name).unlink(missing_ok=True)
            reason = str(getattr(exc, "evalue", ""))
            nbformat.write(publishable(skipped_page(nb, reason), replacements), target)
            _say(f"{label}: not applicable to this log ({reason})")
            return (chapter.doc, "not applicable", time.perf_counter() - start)
        failed = paths.failed_dir / f"{chapter.name}.ipynb"
        failed.parent.mkdir(parents=True, exist_ok=True)
        if work.exists():
            shutil.move(work, failed)
        raise RunError(_report_failure(chapter, exc, failed, paths)) from exc
    executed = nbformat.read(work, as_version=4)
    nbformat.write(publishable(_tag_for_book(executed), replacements), target)
    work.unlink()
    seconds = time.perf_counter() - start
    _say(f"{label}: ran in {seconds:.1f} s")
    return (chapter.doc, "ran", seconds)


def stage_book(paths: ProjectPaths, extra: list[str] | None = None) -> Path:
    """Copy config, toc and narrative pages beside the executed notebooks; drop stale ones.

    ``extra`` chapters (the profile's) are added to the staged toc as a last part.
    """
    stage = paths.stage_dir
    stage.mkdir(parents=True, exist_ok=True)
    shutil.copy2(paths.root / "_config.yml", stage / "_config.yml")
    toc = yaml.safe_load((paths.root / "_toc.yml").read_text())
    todo = chapters(paths, extra)
    if extra:
        docs = [_doc_name(d) for d in extra]
        if "chapters" in toc:  # a toc without parts: its chapters become the first part
            toc["parts"] = [{"chapters": toc.pop("chapters")}]
        toc.setdefault("parts", []).append(
            {"caption": EXTRA_CAPTION, "chapters": [{"file": d} for d in docs]}
        )
    (stage / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    if (stage / "book").exists():
        shutil.rmtree(stage / "book")
    shutil.copytree(paths.book_dir, stage / "book")
    wanted = {c.name for c in todo}
    for nb in paths.executed_dir.glob("*.ipynb"):
        if nb.stem not in wanted:
            nb.unlink()
    executed = {nb.stem for nb in paths.executed_dir.glob("*.ipynb")}
    missing = [c.doc for c in todo if c.name not in executed]
    if missing:
        raise RunError(f"chapters not executed yet: {missing}; run `shoplog run` first")
    return stage


def check_last_run(paths: ProjectPaths) -> None:
    """Refuse to build after a run that did not finish: the reader would take the last
    complete run's pages for the new parameters' (``--last-complete`` builds them anyway)."""
    state = read_run_state(paths)
    if state is None or state.get("status") == COMPLETE:
        return
    if state.get("status") == FAILED:
        what = f"the last run failed in {state.get('chapter') or 'its set-up'}"
        detail = " ".join(state.get("message") or [])
        what += f" ({detail})" if detail else ""
    elif state.get("status") == RUNNING:
        what = "the last run did not finish (it was interrupted or is still running)"
    else:
        what = f"the last run's status is unknown ({state.get('message', 'unreadable')})"
    raise RunError(
        f"{what}, so its pages are not ready. Fix the cause and re-run with `shoplog run` "
        "(or `shoplog book`) and the same --profile/--set; or pass --last-complete to "
        "build the pages of the last complete run."
    )


def build_book(
    paths: ProjectPaths, extra: list[str] | None = None, last_complete: bool = False
) -> Path:
    """Jupyter Book on the staged sources; the new HTML replaces the old only on success."""
    if not last_complete:
        check_last_run(paths)
    stage = stage_book(paths, extra)
    out = paths.building_dir
    if out.exists():
        shutil.rmtree(out)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe), "build", str(stage), "--path-output", str(out), "-W", "--keep-going", "-q"]
    _say("[book] building HTML (warnings are errors) ...")
    start = time.perf_counter()
    returncode, output = _run_in_own_group(cmd)
    if returncode != 0:
        log = paths.build_dir / "build.log"
        atomic_write_text(log, output)
        tail = "\n".join(output.strip().splitlines()[-25:])
        shutil.rmtree(out, ignore_errors=True)
        raise RunError(
            f"Jupyter Book failed (exit {returncode}); the published HTML was not changed. "
            f"Full log: {paths.relative(log)}\n{tail}"
        )
    _swap_folder(out / "_build" / "html", paths.html_dir, paths.old_html_dir)
    shutil.rmtree(out)
    _say(
        f"[book] {paths.relative(paths.html_dir / 'index.html')} "
        f"built in {time.perf_counter() - start:.1f} s"
    )
    return paths.html_dir


def _run_in_own_group(cmd: list[str]) -> tuple[int, str]:
    """Run ``cmd`` in its own process group; if we are interrupted or killed politely, the
    whole group (Sphinx and its workers) goes too, so no orphan keeps writing."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        raise
    return proc.returncode, output
