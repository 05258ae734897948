"""Same inputs, same bytes: the CI book run again into fresh folders on one engine thread,
its chapters one at a time, writes byte-identical outputs (glued numbers, model cards,
benchmark CSVs, Parquet tables, the targeting list, the PDF brief)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cibooks import run_ci

from shoplog.config.paths import ProjectPaths

pytestmark = pytest.mark.e2e

# fields that may carry a time stamp; none does today, and a new one must be named here
STAMP_FIELDS: dict[str, set[str]] = {}


def digests(paths: ProjectPaths) -> dict[str, str]:
    """SHA-256 of every file under processed/ and outputs/, keyed by its relative path."""
    out = {}
    for folder in (paths.processed_dir, paths.outputs_dir):
        for path in sorted(folder.rglob("*")):
            key = path.relative_to(paths.data_dir).as_posix()
            # score lists are written by `shoplog score` (other tests score this book), not by
            # the run; test_book checks them equal to the models' own scores
            if path.is_file() and not key.startswith("outputs/scores/"):
                data = path.read_bytes()
                stamps = STAMP_FIELDS.get(path.name)
                if stamps:
                    raw = json.loads(data)
                    data = json.dumps({k: v for k, v in raw.items() if k not in stamps}).encode()
                out[key] = hashlib.sha256(data).hexdigest()
    return out


@pytest.fixture(scope="module")
def reference(ci_book: ProjectPaths) -> dict[str, str]:
    found = digests(ci_book)
    # what the comparison must cover, so that a renamed output cannot slip out of it
    for expected in (
        "processed/events.parquet",
        "processed/quality.json",
        "processed/dataset.parquet",
        "processed/sequences.parquet",
        "outputs/glued/05_features.json",
        "outputs/glued/06_models.json",
        "outputs/glued/13_summary.json",
        "outputs/models/churn.card.json",
        "outputs/models/churn_benchmark.csv",
        "outputs/priority.parquet",
        "outputs/brief.pdf",
    ):
        assert expected in found, expected
    assert any(k.startswith("outputs/targeting/targeting_") for k in found)
    return found


def differing(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def test_a_second_run_in_fresh_folders_one_thread_one_chapter_at_a_time_writes_the_same_bytes(
    ci_book: ProjectPaths, reference: dict[str, str], tmp_path: Path
) -> None:
    # one run differs from the book's in three ways at once: fresh data and build folders
    # (no cache, no leftover), one engine thread instead of the CI profile's two (sums must
    # not depend on how threads split the rows) and its chapters one at a time instead of
    # side by side; its outputs must still be the same
    paths = run_ci(tmp_path, "engine.threads=1", "book.parallel_chapters=1")
    # only the run's recorded profile differs, and only by the settings changed
    assert differing(reference, digests(paths)) == ["outputs/run_profile.json"]
    one, two = (json.loads(p.run_profile_path.read_text()) for p in (paths, ci_book))
    assert one["engine"].pop("threads") == 1 and two["engine"].pop("threads") != 1
    assert one["book"].pop("parallel_chapters") == 1 and two["book"].pop("parallel_chapters") > 1
    assert one == two
