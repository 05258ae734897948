"""Chapters side by side: each starts only after the chapters whose files it reads, independent
ones overlap, and a failure stops the run with the failing chapter named."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from shoplog.publish.runner import run_in_order


@dataclass(frozen=True)
class Doc:
    doc: str


def jobs(*names: str) -> list[tuple]:
    return [(Doc(n),) for n in names]


def test_a_chapter_starts_only_after_those_it_reads_from() -> None:
    after = {"a": set(), "b": {"a"}, "c": set(), "d": {"b", "c"}}
    log: list[tuple[str, str]] = []
    lock = threading.Lock()

    def run(job: tuple) -> str:
        with lock:
            log.append(("start", job[0].doc))
        time.sleep(0.05)
        with lock:
            log.append(("end", job[0].doc))
        return job[0].doc.upper()

    done = list(run_in_order(jobs("a", "b", "c", "d"), after, run, parallel=2))
    assert sorted(r for _, r in done) == ["A", "B", "C", "D"]
    position = {event: i for i, event in enumerate(log)}
    for chapter, needs in after.items():
        for need in needs:
            assert position[("end", need)] < position[("start", chapter)], (chapter, need)
    # a and c are independent: with two at a time both start before either ends
    assert log[:2] == [("start", "a"), ("start", "c")]


def test_independent_chapters_run_at_the_same_time() -> None:
    barrier = threading.Barrier(2, timeout=10)  # breaks (and fails) unless both wait together

    def run(job: tuple) -> str:
        barrier.wait()
        return job[0].doc

    done = run_in_order(jobs("x", "y"), {"x": set(), "y": set()}, run, parallel=2)
    assert sorted(r for _, r in done) == ["x", "y"]


def test_one_at_a_time_keeps_run_order() -> None:
    order: list[str] = []
    done = run_in_order(
        jobs("p", "q", "r"),
        {"p": set(), "q": set(), "r": set()},
        lambda j: order.append(j[0].doc),
        1,
    )
    list(done)
    assert order == ["p", "q", "r"]


def test_the_chapter_more_chapters_wait_on_starts_first() -> None:
    order: list[str] = []
    after = {"x": set(), "y": set(), "z": {"y"}}
    list(run_in_order(jobs("x", "y", "z"), after, lambda j: order.append(j[0].doc), 1))
    assert order == ["y", "x", "z"]


def test_a_failure_stops_new_chapters_and_names_the_chapter() -> None:
    started: list[str] = []

    def run(job: tuple) -> str:
        started.append(job[0].doc)
        if job[0].doc == "bad":
            raise RuntimeError("cell 3 failed")
        time.sleep(0.1)
        return job[0].doc

    after = {"bad": set(), "slow": set(), "later": {"bad"}, "other": {"slow"}}
    with pytest.raises(RuntimeError, match="cell 3 failed") as info:
        list(run_in_order(jobs("bad", "slow", "later", "other"), after, run, parallel=2))
    assert info.value.chapter == "bad"  # type: ignore[attr-defined]
    # the chapter already running finished; nothing started after the failure
    assert sorted(started) == ["bad", "slow"]
