"""Every mistake a user can make ends in one message and an exit code, never a traceback.

Exit codes: 2 for a parameter or command-line argument to fix, 1 for a run that failed
(the message says which step and why)."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoplog import cli
from shoplog.action.segments import feasible_k
from shoplog.config.params import ParamsError, load_params


def shoplog(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the command line; returns the exit code and what it printed to stderr."""
    code = cli.main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def folders(tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data"), "--build-dir", str(tmp_path / "build")]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("study.end_date=2020-02-30", "2020-02-30' is not a real date"),
        ("data.mapping.timezone=Europe/Atlantis", "unknown time zone 'Europe/Atlantis'"),
        ("engine.memory_limit=8", "is not a memory size"),
        ("engine.memory_limit=lots", "is not a memory size"),
        ("engine.threads=two", "engine.threads: Input should be a valid integer"),
        ("anchors.horizon_days=0", "--set anchors.horizon_days=30"),
        ("models.calibration=magic", "--set models.calibration=sigmoid"),
        ("study.start_date=2021-01-01", "end_date 2020-02-01 must be after start_date"),
        ("segments.k_values=[1]", "k_values needs numbers of clusters of at least 2"),
        ("nonsense.key=1", "nonsense: unknown key"),
    ],
)
def test_parameter_mistakes_exit_2_naming_the_key(
    override: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = shoplog(capsys, "run", "--profile", "ci", "--set", override, *folders(tmp_path))
    assert code == 2
    assert expected in err
    # nothing was written for a run that could not start
    assert not (tmp_path / "data" / "processed").exists()


def test_an_impossible_date_in_a_profile_file(tmp_path: Path) -> None:
    profile = tmp_path / "bad.yml"
    profile.write_text("extends: ci\nstudy: {end_date: 2019-04-31}\n")
    with pytest.raises(ParamsError, match=r"bad\.yml: a value is not a real date"):
        load_params(profile)


def test_a_spill_folder_that_cannot_be_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for folder, why in ((blocker, "is a file, not a folder"), (blocker / "spill", "cannot be")):
        code, err = shoplog(
            capsys, "ingest", "--profile", "ci", "--set", f"engine.temp_directory={folder}"
        )
        assert code == 2
        assert "engine.temp_directory" in err and why in err


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` made read-only for this process: by mode, or for root by the immutable
    attribute (root ignores modes)."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot make a folder read-only as root here: {done.stderr.decode()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_read_only_data_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    with read_only(data):
        code, err = shoplog(capsys, "ingest", "--profile", "ci", "--data-dir", str(data))
    assert code == 2
    assert "--data-dir data: the folder cannot be written" in err
    assert "choose a writable folder with --data-dir" in err


def test_an_unwritable_score_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "locked"
    with read_only(out):
        code, err = shoplog(
            capsys,
            "score",
            "--profile",
            "ci",
            *folders(tmp_path),
            "--log",
            "whatever.csv",
            "--anchor",
            "2020-01-01",
            "--out",
            str(out / "scores.csv"),
        )
    assert code == 2
    assert "--out locked: the folder cannot be written" in err
    code, err = shoplog(
        capsys, "score", "--profile", "ci", *folders(tmp_path), "--log", "x.csv",
        "--anchor", "2020-01-01", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 2 and "is a folder: name the CSV file" in err


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB file system: too small for the CI log (a real 'no space left')."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk(tiny_disk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = shoplog(capsys, "ingest", "--profile", "ci", "--data-dir", str(tiny_disk))
    assert code == 1
    assert "no space left on the device" in err
    assert "free some space, or point --data-dir / --build-dir at a disk with room" in err


def test_an_oserror_anywhere_is_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "events.parquet")

    monkeypatch.setattr(cli, "prepare_data", full)
    code, err = shoplog(capsys, "ingest", "--profile", "ci", *folders(tmp_path))
    assert code == 1
    assert "no space left on the device while running `shoplog ingest` events.parquet" in err


def test_corrupt_state_files_are_rebuilt_not_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["ingest", "--profile", "ci", *folders(tmp_path)]
    assert shoplog(capsys, *args)[0] == 0
    quality = tmp_path / "data" / "processed" / "quality.json"
    prints = tmp_path / "build" / "fingerprints.json"
    good = quality.read_text()
    # a half-written quality report: ingestion runs again and rewrites it
    quality.write_text(good[: len(good) // 2])
    assert cli.main(args) == 0
    assert "quality.json (the data-quality report) is not readable JSON" in capsys.readouterr().out
    assert quality.read_text() == good
    # a half-written fingerprint file: everything is redone, with a message
    prints.write_text("{not json")
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "fingerprints.json (the run's fingerprints) is not readable JSON" in out
    assert "[data] ingesting" in out
    assert quality.read_text() == good


def test_an_unknown_chapter_in_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = shoplog(
        capsys, "run", "--profile", "ci", *folders(tmp_path), "--only", "99_nothing"
    )
    assert code == 1
    assert "--only 99_nothing: no such chapter in this book; chapters: 01_data" in err


def test_more_clusters_than_users_names_the_key() -> None:
    assert feasible_k([2, 3, 50], n_rows=40, n_sample=40) == [2, 3]
    with pytest.raises(ValueError, match=r"segments.k_values \[50, 60\].*only 30 users") as info:
        feasible_k([50, 60], n_rows=30, n_sample=30)
    assert "--set segments.k_values=[2]" in str(info.value)
    with pytest.raises(ValueError, match="at least 3 scored users"):
        feasible_k([2], n_rows=2, n_sample=2)
