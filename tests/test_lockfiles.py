"""The conda environment and the pip lock name the same packages at the same versions."""

from __future__ import annotations

import tomllib

from shoplog.config.lockfiles import environment_pins, normalise, read_lock
from shoplog.config.paths import PROJECT_ROOT


def test_environment_yml_matches_lock() -> None:
    lock = read_lock(PROJECT_ROOT / "requirements.lock")
    env = environment_pins(PROJECT_ROOT / "environment.yml")
    assert lock, "the lock is empty"
    missing = sorted(set(lock) - set(env))
    extra = sorted(set(env) - set(lock))
    differ = {n: (lock[n], env[n]) for n in set(lock) & set(env) if lock[n] != env[n]}
    assert not missing and not extra and not differ, (missing, extra, differ)


def test_lock_pins_every_direct_dependency() -> None:
    lock = read_lock(PROJECT_ROOT / "requirements.lock")
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        name = normalise(requirement.split(">")[0].split("<")[0].split("=")[0])
        assert name in lock, f"{name} is a dependency but not in requirements.lock"


def test_lock_keeps_known_pitfall_pin() -> None:
    # ibis 12.0 fails in create_table with sqlglot>=30.18 (ibis-project/ibis#12124)
    major, minor = (
        int(x) for x in read_lock(PROJECT_ROOT / "requirements.lock")["sqlglot"].split(".")[:2]
    )
    assert (major, minor) < (30, 18)
