"""The runner: toc order, parameter injection, skipping unchanged chapters, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import page_text, write_tiny_chapter

from shoplog import cli
from shoplog.params import load_params
from shoplog.paths import ProjectPaths
from shoplog.runner import (
    RunError,
    build_book,
    chapters,
    prepare_data,
    run_chapters,
    toc_documents,
)

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
        "from shoplog import report\n"
        "report.skip_chapter_unless(n_rows > 10**9, 'the log has too few rows')",
    )
    params = load_params("ci")
    prepare_data(params, mini_project)
    stale = mini_project.outputs_dir / "glued" / "01_tiny.json"
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
