"""Building the HTML: Jupyter Book on a staged copy of the book (no execution, warnings
as errors), in its own process group so an interrupt leaves no process behind; the new
pages replace the old only when the build succeeded, and never after an unfinished run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from shoplog.config.paths import ProjectPaths
from shoplog.files import (
    atomic_write_text,
)
from shoplog.publish.brief import BRIEF_NAME
from shoplog.publish.plots import plotly_js_path
from shoplog.publish.registry import (
    EXTRA_CAPTION,
    RunError,
    _doc_name,
    chapters,
)
from shoplog.publish.staging import COMPLETE, FAILED, RUNNING, _say, _swap_folder, read_run_state


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
    stage_static(paths.root, stage)
    # the summary page links the PDF brief it wrote (a skipped summary links none)
    staged_brief = paths.executed_dir / BRIEF_NAME
    staged_brief.unlink(missing_ok=True)
    if paths.brief_path.exists():
        shutil.copy2(paths.brief_path, staged_brief)
    wanted = {c.name for c in todo}
    for nb in paths.executed_dir.glob("*.ipynb"):
        if nb.stem not in wanted:
            nb.unlink()
    executed = {nb.stem for nb in paths.executed_dir.glob("*.ipynb")}
    missing = [c.doc for c in todo if c.name not in executed]
    if missing:
        raise RunError(f"chapters not executed yet: {missing}; run `shoplog run` first")
    return stage


def stage_static(root: Path, stage: Path) -> None:
    """The book's styles (``_static/``) and the one copy of plotly.js that every figure uses,
    served from the book itself so pages work offline (Jupyter Book loads every .css and .js
    file of ``_static/`` on every page)."""
    static = stage / "_static"
    if static.exists():
        shutil.rmtree(static)
    if (root / "_static").is_dir():
        shutil.copytree(root / "_static", static)
    static.mkdir(exist_ok=True)
    shutil.copy2(plotly_js_path(), static / "plotly.min.js")


def prune_static(html: Path) -> None:
    """Drop what no reader's browser loads: the theme's source maps (for debugging its own
    code, about 3.4 MB), its translation catalogues (used while building) and template
    fragments."""
    static = html / "_static"
    for path in static.rglob("*.map"):
        path.unlink()
    shutil.rmtree(static / "locales", ignore_errors=True)
    for macros in static.glob("*webpack-macros.html"):  # the themes' template fragments
        macros.unlink()


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
    prune_static(out / "_build" / "html")
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
