"""The runner: toc order, parameter injection, skipping unchanged chapters, failures."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import nbformat
import pytest
from conftest import page_text, write_chapter, write_tiny_chapter

from shoplog import cli
from shoplog.config.params import load_params
from shoplog.config.paths import ProjectPaths
from shoplog.files import atomic_write_json
from shoplog.publish.build import _run_in_own_group, build_book
from shoplog.publish.registry import RunError, chapters, toc_documents
from shoplog.publish.runner import prepare_data, run_chapters
from shoplog.publish.staging import _path_replacements, publishable, read_run_state

pytestmark = pytest.mark.e2e


def test_toc_order_and_chapters_of_the_real_book() -> None:
    docs = toc_documents(ProjectPaths())
    assert docs[0] == "book/intro"
    names = [c.doc for c in chapters(ProjectPaths())]
    assert names[0] == "notebooks/01_data"
    assert all(c.source.suffix == ".md" for c in chapters(ProjectPaths()))
    # the summary is read first (right after the intro) but runs after what it cites
    assert docs[1] == "notebooks/13_summary"
    cited = ("notebooks/06_models", "notebooks/10_priority", "notebooks/12_targeting")
    assert all(names.index(c) < names.index("notebooks/13_summary") for c in cited)
    assert names == sorted(names, key=lambda d: int(Path(d).name.split("_")[0]))


def test_a_chapter_without_a_run_number_is_refused(mini_project: ProjectPaths) -> None:
    source = mini_project.root / "notebooks" / "tiny.md"
    source.write_text((mini_project.root / "notebooks" / "01_tiny.md").read_text())
    toc = mini_project.root / "_toc.yml"
    toc.write_text(toc.read_text().replace("notebooks/01_tiny", "notebooks/tiny"))
    with pytest.raises(RunError, match="NN_topic"):
        chapters(mini_project)


def test_run_skip_rerun_and_build(mini_project: ProjectPaths) -> None:
    params = load_params("ci")
    prepare_data(params, mini_project)
    first = run_chapters(params, mini_project)
    assert [s for _, s, _ in first] == ["ran"]
    # injected values come from the validated profile, paths relative to the root
    executed = json.loads((mini_project.stage_dir / "notebooks" / "01_tiny.ipynb").read_text())
    injected = [
        c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])
    ]
    assert 'study_end_date = "2020-02-01"' in "".join(injected[0]["source"])
    # the run's resolved profile is published with its outputs
    assert json.loads(mini_project.run_profile_path.read_text()) == params.model_dump(mode="json")
    # unchanged: skipped
    again = run_chapters(params, mini_project)
    assert [s for _, s, _ in again] == ["skipped"]
    # changed dates: data and chapter run again
    later = load_params("ci", ["study.end_date=2020-01-15"])
    prepare_data(later, mini_project)
    rerun = run_chapters(later, mini_project)
    assert [s for _, s, _ in rerun] == ["ran"]
    html = build_book(mini_project)
    page = html / "notebooks" / "01_tiny.html"
    assert "end 2020-01-15" in page_text(page)
    # code hidden by default: the code cell is folded behind a toggle
    assert "tag_hide-input" in page.read_text()


def test_a_profile_adds_chapters_in_a_last_part(mini_project: ProjectPaths) -> None:
    write_tiny_chapter(mini_project.root / "notebooks" / "02_extra.md")
    plain = load_params("ci")
    with_extra = load_params("ci", ["book.extra_chapters=[notebooks/02_extra]"])
    assert [c.doc for c in chapters(mini_project)] == ["notebooks/01_tiny"]
    prepare_data(with_extra, mini_project)
    ran = run_chapters(with_extra, mini_project)
    assert [d for d, s, _ in ran if s == "ran"] == ["notebooks/01_tiny", "notebooks/02_extra"]
    html = build_book(mini_project, with_extra.book.extra_chapters)
    index = (html / "notebooks" / "01_tiny.html").read_text()
    assert "Further analyses" in index and "02_extra.html" in index
    # the default book does not carry it: its executed copy is dropped from the stage
    run_chapters(plain, mini_project)
    html = build_book(mini_project)
    assert not (html / "notebooks" / "02_extra.html").exists()
    with pytest.raises(RunError, match="already has"):
        chapters(mini_project, ["notebooks/01_tiny"])


def test_failing_cell_stops_and_keeps_last_good_book(mini_project: ProjectPaths) -> None:
    params = load_params("ci")
    prepare_data(params, mini_project)
    run_chapters(params, mini_project)
    html = build_book(mini_project)
    good = (html / "notebooks" / "01_tiny.html").read_text()

    write_tiny_chapter(
        mini_project.root / "notebooks" / "01_tiny.md",
        extra_code="raise ValueError('deliberate failure for the test')",
    )
    with pytest.raises(RunError) as info:
        run_chapters(params, mini_project)
    message = str(info.value)
    assert "chapter notebooks/01_tiny failed in cell" in message
    assert "ValueError: deliberate failure for the test" in message
    kept = mini_project.build_dir / "failed" / "01_tiny.ipynb"
    assert kept.exists() and "deliberate failure" in kept.read_text()
    # the published book is untouched and the last good executed notebook is still staged
    assert (html / "notebooks" / "01_tiny.html").read_text() == good
    assert "deliberate" not in (mini_project.stage_dir / "notebooks" / "01_tiny.ipynb").read_text()


def test_undeclared_parameter_is_an_error(mini_project: ProjectPaths) -> None:
    nb = mini_project.root / "notebooks" / "01_tiny.md"
    nb.write_text(nb.read_text().replace('study_end_date = "2000-01-01"', 'study_end = "x"'))
    params = load_params("ci")
    prepare_data(params, mini_project)
    with pytest.raises(RunError, match=r"parameters \['study_end'\] are not profile keys"):
        run_chapters(params, mini_project)


def test_cli_exit_codes(tmp_path, capsys) -> None:
    assert cli.main(["run", "--profile", "ci", "--set", "study.end_date=2019-01-01"]) == 2
    assert "study" in capsys.readouterr().err
    code = cli.main(
        [
            "ingest",
            "--profile",
            "ci",
            "--set",
            f"data.source={tmp_path / 'missing.csv'}",
            "--data-dir",
            str(tmp_path / "d"),
            "--build-dir",
            str(tmp_path / "b"),
        ]
    )
    assert code == 1
    assert "no such file" in capsys.readouterr().err


def test_a_chapter_that_does_not_apply_is_published_with_its_reason(
    mini_project: ProjectPaths,
) -> None:
    write_tiny_chapter(
        mini_project.root / "notebooks" / "01_tiny.md",
        "from shoplog.publish import report\n"
        "report.skip_chapter_unless(n_rows > 10**9, 'the log has too few rows')",
    )
    params = load_params("ci")
    prepare_data(params, mini_project)
    stale = mini_project.glued_path("01_tiny")
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text('{"n_rows": 1}')  # an earlier run's numbers
    results = run_chapters(params, mini_project)
    assert [s for _, s, _ in results] == ["not applicable"]
    assert not stale.exists()
    page = json.loads((mini_project.stage_dir / "notebooks" / "01_tiny.ipynb").read_text())
    text = "".join("".join(c["source"]) for c in page["cells"])
    assert text.startswith("# Tiny") and "the log has too few rows" in text
    assert "glue" not in text  # the prose with glue references is not published
    # unchanged: not run again; and the book builds
    assert [s for _, s, _ in run_chapters(params, mini_project)] == ["skipped"]
    build_book(mini_project)
    assert "the log has too few rows" in page_text(
        mini_project.html_dir / "notebooks" / "01_tiny.html"
    )


def write_output_chapter(path: Path, content: str, fail: bool = False) -> None:
    """A chapter that writes ``content`` to an output CSV (and then fails, if asked)."""
    failure = "raise ValueError('failed after writing its output')" if fail else ""
    write_chapter(
        path,
        '# Where outputs go\noutputs_dir = "x"',
        f'from pathlib import Path\nPath(outputs_dir, "table.csv").write_text("{content}")\n'
        + failure,
    )


def test_a_failed_run_publishes_nothing_and_build_refuses(
    mini_project: ProjectPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    chapter = mini_project.root / "notebooks" / "01_tiny.md"
    params = load_params("ci")
    prepare_data(params, mini_project)
    write_output_chapter(chapter, "good")
    run_chapters(params, mini_project)
    build_book(mini_project)
    table = mini_project.outputs_dir / "table.csv"
    assert table.read_text() == "good"
    assert read_run_state(mini_project) == {"status": "complete"}

    write_output_chapter(chapter, "half", fail=True)
    with pytest.raises(RunError, match="failed after writing its output"):
        run_chapters(params, mini_project)
    # the chapter wrote before failing, into the run's staging folder only
    assert table.read_text() == "good"
    assert not mini_project.run_dir.exists()
    state = read_run_state(mini_project)
    assert state["status"] == "failed" and state["chapter"] == "notebooks/01_tiny"
    with pytest.raises(RunError, match="the last run failed in notebooks/01_tiny") as info:
        build_book(mini_project)
    assert "--last-complete" in str(info.value)
    # the command line: exit 1 with the same message, or the last complete run on request
    assert mini_project.html_dir.exists()
    monkey_root = pytest.MonkeyPatch()
    monkey_root.setattr("shoplog.config.paths.PROJECT_ROOT", mini_project.root)
    try:
        args = ["build", "--profile", "ci", "--data-dir", str(mini_project.data_dir)]
        args += ["--build-dir", str(mini_project.build_dir)]
        assert cli.main(args) == 1
        assert "the last run failed in notebooks/01_tiny" in capsys.readouterr().err
        assert cli.main([*args, "--last-complete"]) == 0
    finally:
        monkey_root.undo()


def test_leftovers_of_a_killed_run_are_cleaned(
    mini_project: ProjectPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    params = load_params("ci")
    prepare_data(params, mini_project)
    run_chapters(params, mini_project)
    # what a kill -9 in the middle of a run and a build leaves behind
    leftovers = [
        mini_project.run_dir / "data" / "outputs" / "half.csv",
        mini_project.build_dir / "executing" / "01_tiny.ipynb",
        mini_project.build_dir / "failed" / "01_tiny.ipynb",
        mini_project.build_dir / "building" / "x.html",
        mini_project.processed_dir / ".quality.json.abc123.tmp",
        mini_project.glued_dir / ".01_tiny.json.def456.tmp",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    (mini_project.run_state_path).write_text('{"status": "running"}')
    with pytest.raises(RunError, match="the last run did not finish"):
        build_book(mini_project)
    capsys.readouterr()
    run_chapters(params, mini_project, force=True)
    assert "[run] removed leftovers of an unfinished run" in capsys.readouterr().out
    assert not [p for p in leftovers if p.exists()]
    build_book(mini_project)


def test_state_files_are_written_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    atomic_write_json(target, {"version": 1})

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("shoplog.files.os.replace", crash)
    with pytest.raises(OSError):
        atomic_write_json(target, {"version": 2, "long": "x" * 10_000})
    assert json.loads(target.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left


def test_an_interrupted_build_leaves_no_process_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pid_file}; wait"

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            _run_in_own_group(["bash", "-c", script])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child), "the build's child process outlived the interrupted build"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


def test_published_notebooks_name_no_machine_path(tmp_path: Path) -> None:
    paths = ProjectPaths.create(tmp_path / "data", tmp_path / "build")
    staged = paths.staged()
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                f'events_path = "{staged.processed_dir}/events.parquet"\n'
                f'code = "{paths.root}/src/shoplog/behaviour/eda.py"'
            )
        ]
    )
    nb.metadata["papermill"] = {"input_path": str(paths.root), "start_time": "2026-01-01"}
    out = publishable(nb, _path_replacements(paths, staged))
    text = nbformat.writes(out)
    assert str(tmp_path) not in text and str(paths.root) not in text
    assert 'events_path = "data/processed/events.parquet"' in out.cells[0].source
    assert 'code = "src/shoplog/behaviour/eda.py"' in out.cells[0].source
    assert out.metadata["papermill"] == {}


def test_a_partial_run_never_reads_an_out_of_date_artifact(mini_project: ProjectPaths) -> None:
    """--only a chapter whose inputs' producer is out of date is refused before anything
    runs; selecting the producer too (or running everything) is fine."""
    notebooks = mini_project.root / "notebooks"
    write_chapter(
        notebooks / "05_features.md",
        'anchors_horizon_days = 30\ndataset_path = "x"',
        "from pathlib import Path\n"
        "Path(dataset_path).parent.mkdir(parents=True, exist_ok=True)\n"
        "Path(dataset_path).write_text(str(anchors_horizon_days))",
    )
    write_chapter(
        notebooks / "10_priority.md",
        'dataset_path = "x"',
        "from pathlib import Path\nprint('horizon', Path(dataset_path).read_text())",
    )
    (mini_project.root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        "  - file: notebooks/05_features\n  - file: notebooks/10_priority\n"
    )
    params = load_params("ci")
    prepare_data(params, mini_project)
    assert [s for _, s, _ in run_chapters(params, mini_project)] == ["ran", "ran"]
    longer = load_params("ci", ["anchors.horizon_days=21"])
    before = mini_project.dataset_path.read_text()
    with pytest.raises(
        RunError,
        match=r"--only 10_priority: it reads files written by "
        r"05_features, which are out of date",
    ):
        run_chapters(longer, mini_project, only=["10_priority"])
    assert mini_project.dataset_path.read_text() == before == "14"
    assert read_run_state(mini_project)["status"] == "complete"
    ran = run_chapters(longer, mini_project, only=["05_features", "10_priority"])
    assert [s for _, s, _ in ran] == ["ran", "ran"]
    assert mini_project.dataset_path.read_text() == "21"
    # with its producer up to date, the chapter alone may run again
    assert [
        s for _, s, _ in run_chapters(longer, mini_project, only=["10_priority"], force=True)
    ] == ["skipped", "ran"]


def test_the_artifact_registry_matches_the_books_chapters() -> None:
    """Every registered artifact is a project path; every producer is a chapter of the book
    that declares it; the targeting chapter reads the models, priority and segments."""
    from shoplog.publish.registry import ARTIFACTS, INGEST, RUN, run_table

    paths = ProjectPaths()
    table = {r["chapter"]: r for r in run_table(paths)}
    for artifact in ARTIFACTS:
        assert isinstance(getattr(paths, artifact.name), Path)
        for producer in artifact.producers:
            if producer in (INGEST, RUN):
                continue
            # each chapter writes its own glued file (glued_path), not the folder
            assert producer in table, (artifact.name, producer)
            assert artifact.name == "glued_dir" or artifact.name in table[producer]["writes"], (
                artifact.name,
                producer,
            )
    assert {"models_dir", "priority_path", "segments_path"} <= set(table["12_targeting"]["reads"])
    # the priority chapter adds its value model to the models folder: it reads it too
    assert set(table["10_priority"]["reads"]) == {"dataset_path", "timeline_path", "models_dir"}


def test_a_kernel_that_dies_while_starting_is_started_again_and_nothing_else_is() -> None:
    from shoplog.publish.runner import (
        KERNEL_START_ATTEMPTS,
        KERNEL_START_FAILED,
        _execute_with_kernel_retry,
    )

    calls: list[dict] = []

    def flaky(failures: int, error: str):
        def execute(*args, **kwargs) -> None:
            calls.append(kwargs)
            if len(calls) <= failures:
                raise RuntimeError(error)

        return execute

    # the port race: started again with the same arguments, then it runs
    _execute_with_kernel_retry(flaky(1, KERNEL_START_FAILED), "[1/1] x", "nb", cwd="here")
    assert calls == [{"cwd": "here"}, {"cwd": "here"}]
    # any other error is the chapter's own: raised at once
    calls.clear()
    with pytest.raises(RuntimeError, match="boom"):
        _execute_with_kernel_retry(flaky(1, "boom"), "[1/1] x", "nb")
    assert len(calls) == 1
    # a kernel that never starts is an error after the last attempt
    calls.clear()
    with pytest.raises(RuntimeError, match=KERNEL_START_FAILED):
        _execute_with_kernel_retry(flaky(99, KERNEL_START_FAILED), "[1/1] x", "nb")
    assert len(calls) == KERNEL_START_ATTEMPTS
