"""Run the book: prepare data, execute the chapters, build the HTML.

- **Data** is ingested first (see :mod:`shoplog.events.ingest`).
- **Chapters** are the ``notebooks/`` entries of ``_toc.yml``, stored as jupytext
  text. Each is executed by papermill with the values its parameters cell
  declares, taken from the validated profile (``study_end_date`` <-
  ``study.end_date``) plus the run's paths. A chapter is skipped when its
  fingerprint (its text, its parameters, the package code, the data and every
  earlier chapter) is unchanged. A chapter starts once the chapters whose files it
  reads have finished (from the artifact registry); independent chapters run side by
  side, ``book.parallel_chapters`` at a time, the ones more chapters wait on first.
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

What a run is made of (chapters, parameters, artifacts) is in
:mod:`shoplog.publish.registry`; staging and publishing in :mod:`shoplog.publish.staging`;
the HTML build in :mod:`shoplog.publish.build`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jupytext
import nbformat

from shoplog.config.params import Params
from shoplog.config.paths import ProjectPaths
from shoplog.events import canonical
from shoplog.events.ingest import QualityReport, ingest, resolve_source
from shoplog.files import (
    CorruptFileError,
    atomic_write_json,
    read_json,
)
from shoplog.publish.registry import (
    Chapter,
    RunError,
    chapter_parameters,
    chapters,
    declared_parameters,
    producers_before,
    reads_and_writes,
)
from shoplog.publish.staging import (
    COMPLETE,
    FAILED,
    RUNNING,
    _open_run,
    _path_replacements,
    _publish_run,
    _say,
    _write_run_state,
    clean_leftovers,
    publishable,
)

HIDE_TAGS = {"remove-cell", "remove-input", "hide-input", "hide-cell", "remove-output"}


KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def code_fingerprint() -> str:
    """Hash of the package's source: code changes re-run the chapters."""
    digest = hashlib.sha256()
    package = Path(__file__).parents[1]
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _hash(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


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


def data_fingerprint(params: Params, paths: ProjectPaths) -> str:
    """What decides the processed log: data, study and session parameters, code, the raw
    file (or each file of a canonical dataset read in place)."""
    if params.data.canonical:
        stamp = canonical.source_stamp(params)
    else:
        source = resolve_source(params, paths)
        stat = source.stat()
        stamp = [str(source), stat.st_size, stat.st_mtime_ns]
    return _hash(
        params.data.model_dump(mode="json"),
        params.study.model_dump(mode="json"),
        params.sessions.model_dump(mode="json"),
        code_fingerprint(),
        stamp,
    )


def prepare_data(params: Params, paths: ProjectPaths, force: bool = False) -> QualityReport:
    """Ingest the configured log unless the processed one is already up to date."""
    prints = Fingerprints.load(paths.fingerprints_path)
    fingerprint = data_fingerprint(params, paths)
    log = paths.processed_log(params.data.canonical)
    up_to_date = prints.data == fingerprint and log.exists() and paths.quality_path.exists()
    if up_to_date and not force:
        try:
            report = QualityReport.from_json(paths.quality_path)
        except CorruptFileError as exc:
            _say(f"[data] {exc}; ingesting again")
        else:
            _say(f"[data] {paths.relative(log)} is up to date (skipped)")
            return report
    start = time.perf_counter()
    if params.data.canonical:
        _say(f"[data] reading the canonical dataset {params.data.location()} in place ...")
        report = canonical.describe(params, paths)
    else:
        _say(f"[data] ingesting {params.data.label} ...")
        report = ingest(params, paths)
        paths.events_ref_path.unlink(missing_ok=True)
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
    """Execute the chapters, each after those it reads from, all or nothing; returns
    (chapter, status, seconds) in run order, the status 'ran', 'skipped' (unchanged or not
    selected) or 'not applicable'.

    Chapters write into a staging folder that is published only when every chapter
    succeeded; after a failure nothing published has changed."""
    import papermill

    execute = execute or papermill.execute_notebook
    prints = Fingerprints.load(paths.fingerprints_path)
    if prints.data is None or not paths.processed_log(params.data.canonical).exists():
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
    staged = paths.staged()
    plan = _plan_run(params, staged, todo, prints.data, code_fingerprint())
    wanted = {c.doc for c in todo if only is None or c.name in only or c.doc in only}
    _refuse_mixed_runs(plan, wanted, prints)
    removed = clean_leftovers(paths)
    if removed:
        _say(f"[run] removed leftovers of an unfinished run: {', '.join(removed)}")
    _write_run_state(paths, RUNNING)
    replacements = _path_replacements(paths, staged)
    out_dir = paths.run_notebooks_dir
    results: dict[str, tuple[str, str, float]] = {}
    chapter = None
    try:
        _open_run(paths)
        # the resolved profile, published with the outputs: what this run was made with
        atomic_write_json(
            staged.run_profile_path, params.model_dump(mode="json"), indent=2, sort_keys=True
        )
        jobs = []
        for i, (chapter, nb, values, fingerprint) in enumerate(plan, start=1):
            target = out_dir / f"{chapter.name}.ipynb"
            published = paths.executed_dir / target.name
            unchanged = prints.chapters.get(chapter.doc) == fingerprint and published.exists()
            label = f"[{i}/{len(todo)}] {chapter.doc}"
            if (unchanged and not force) or chapter.doc not in wanted:
                _say(f"{label}: skipped ({'unchanged' if unchanged else 'not selected'})")
                results[chapter.doc] = (chapter.doc, "skipped", 0.0)
                continue
            jobs.append((chapter, nb, values, fingerprint, target, label))

        def run(job: tuple) -> tuple[str, str, float]:
            chapter, nb, values, _, target, label = job
            _say(f"{label}: running ...")
            return _run_one(
                execute, chapter, nb, values, paths, staged, target, replacements, label
            )

        after = chapter_dependencies(plan)
        for job, result in run_in_order(jobs, after, run, params.book.parallel_chapters):
            results[job[0].doc] = result
            prints.chapters[job[0].doc] = job[3]
    except BaseException as exc:
        where = getattr(exc, "chapter", None) or (chapter.doc if chapter is not None else None)
        _write_run_state(paths, FAILED, chapter=where, message=str(exc).splitlines()[0:1])
        shutil.rmtree(paths.run_dir, ignore_errors=True)
        raise
    if any(status != "skipped" for _, status, _ in results.values()):
        _publish_run(paths, staged)
        prints.save()
    else:  # nothing ran: what is published is already this run's
        shutil.rmtree(paths.run_dir)
    _write_run_state(paths, COMPLETE)
    return [results[c.doc] for c, _, _, _ in plan if c.doc in results]


def chapter_dependencies(plan: list) -> dict[str, set[str]]:
    """For each chapter, the chapters of the plan that write a file it reads (and so must
    finish before it starts); taken from the artifacts each declares."""
    docs = {chapter.name: chapter.doc for chapter, _, _, _ in plan}
    after = {}
    for chapter, nb, _, _ in plan:
        reads, _ = reads_and_writes(chapter, declared_parameters(nb, str(chapter.source)))
        after[chapter.doc] = {
            docs[producer]
            for artifact in reads
            for producer in producers_before(chapter, artifact)
            if producer in docs
        }
    return after


def descendants(doc: str, after: dict[str, set[str]]) -> set[str]:
    """Every chapter that reads, directly or through others, what ``doc`` writes."""
    found: set[str] = set()
    frontier = {doc}
    while frontier:
        frontier = {c for c, needs in after.items() if needs & frontier} - found
        found |= frontier
    return found


def run_in_order(
    jobs: list[tuple],
    after: dict[str, set[str]],
    run: Callable[[tuple], Any],
    parallel: int,
) -> Iterator[tuple[tuple, Any]]:
    """Run ``jobs`` (a chapter first in each), ``parallel`` at a time, each once every
    chapter it reads from has finished; yields (job, result) as they finish.

    Chapters are separate kernels, so side by side they cannot change each other's
    numbers; a chapter that fails stops the run: nothing new starts, the running ones
    finish, and its error is raised with ``chapter`` set to the failing chapter's doc.
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    # among ready chapters, those more chapters wait on start first (the longest chain
    # sets the run's length), then the earliest in run order
    pending = sorted(jobs, key=lambda j: -len(descendants(j[0].doc, after)))
    waiting = {job[0].doc for job in jobs}
    running: dict = {}
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        while pending or running:
            while failure is None and len(running) < max(1, parallel):
                ready = next((j for j in pending if not (after[j[0].doc] & waiting)), None)
                if ready is None:
                    break
                pending.remove(ready)
                running[pool.submit(run, ready)] = ready
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: running[f][0].doc):
                job = running.pop(future)
                try:
                    result = future.result()
                except BaseException as exc:
                    if failure is None:
                        exc.chapter = job[0].doc  # type: ignore[attr-defined]
                        failure = exc
                    continue
                waiting.discard(job[0].doc)
                yield job, result
    if failure is not None:
        raise failure


def _plan_run(
    params: Params, staged: ProjectPaths, todo: list[Chapter], data: str, code: str
) -> list[tuple[Chapter, nbformat.NotebookNode, dict[str, Any], str]]:
    """Every chapter with its notebook, injected values and fingerprint. A fingerprint
    chains from the one before (the data's first), so it covers everything a chapter can
    read: its text, its parameters, the code, the data and every earlier chapter."""
    plan = []
    previous = data
    for chapter in todo:
        nb = jupytext.read(chapter.source)
        nb.metadata["kernelspec"] = KERNELSPEC
        values = chapter_parameters(params, staged, chapter, nb)
        # a chapter that reads the whole resolved profile depends on every setting
        whole = params.model_dump(mode="json") if "run_profile_path" in values else None
        previous = _hash(previous, chapter.source.read_text(), values, code, whole)
        plan.append((chapter, nb, values, previous))
    return plan


def _refuse_mixed_runs(plan: list, wanted: set[str], prints: Fingerprints) -> None:
    """A partial run (--only) may not read an artifact whose producer is not selected and
    is out of date (never run, or run with other inputs): the chapter would mix two runs."""
    current = {chapter.name: (chapter.doc, fp) for chapter, _, _, fp in plan}
    for chapter, nb, _, _ in plan:
        if chapter.doc not in wanted:
            continue
        reads, _ = reads_and_writes(chapter, declared_parameters(nb, str(chapter.source)))
        stale = sorted(
            {
                producer
                for artifact in reads
                for producer in producers_before(chapter, artifact)
                if producer in current
                and current[producer][0] not in wanted
                and prints.chapters.get(current[producer][0]) != current[producer][1]
            }
        )
        if stale:
            raise RunError(
                f"--only {chapter.name}: it reads files written by {', '.join(stale)}, "
                "which are out of date for these parameters, data or code; a partial run "
                f"would mix two runs. Select them too (--only {' '.join([*stale, chapter.name])}) "
                "or run every chapter"
            )


# what jupyter_client raises when a kernel exits before it answers: the port it was handed
# was taken by another process first (ports are chosen free, then bound by the kernel)
KERNEL_START_FAILED = "Kernel died before replying to kernel_info"
KERNEL_START_ATTEMPTS = 3


def _execute_with_kernel_retry(
    execute: Callable[..., Any], label: str, *args: Any, **kwargs: Any
) -> None:
    """``execute(*args, **kwargs)``, started again when its kernel died before running any
    cell (a port race when several kernels start at once); any other error is raised."""
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        try:
            execute(*args, **kwargs)
            return
        except RuntimeError as exc:
            if KERNEL_START_FAILED not in str(exc) or attempt == KERNEL_START_ATTEMPTS:
                raise
            _say(f"{label}: its kernel died while starting ({exc}); starting it again")


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
        _execute_with_kernel_retry(
            execute,
            label,
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
