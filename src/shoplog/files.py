"""Writing state and output files safely: whole or not at all.

A file written in place and interrupted (a kill, a full disk) leaves half a file that the
next run reads as if it were whole. Every state file (fingerprints, quality report, glued
numbers, model cards, run status) is therefore written to a temporary file beside its
target and renamed over it, which POSIX makes atomic.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a plain write would not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, value: Any, **dump: Any) -> Path:
    """Write ``value`` as JSON (``dump`` goes to :func:`json.dumps`) atomically."""
    return atomic_write_text(path, json.dumps(value, **dump))


def read_json(path: str | Path, what: str) -> Any:
    """A JSON file's content, or :class:`CorruptFileError` naming the file and what it is."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(path, what, str(exc)) from exc


class CorruptFileError(ValueError):
    """A state file that exists but cannot be read (a killed write, an edit by hand)."""

    def __init__(self, path: Path, what: str, why: str) -> None:
        self.path = path
        super().__init__(f"{path.name} ({what}) is not readable JSON: {why}")


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete temporary files a killed write left in ``folder`` (recursively); returns them."""
    if not folder.exists():
        return []
    found = [p for p in folder.rglob(f"*{TMP_SUFFIX}") if p.is_file()]
    for p in found:
        p.unlink(missing_ok=True)
    return found


def probe_writable(folder: str | Path) -> Path:
    """Create ``folder`` if needed and write (and drop) a file in it; raises the OSError a
    real write would (a mode check is not enough: root passes it on a read-only folder)."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass
    return folder


def describe_os_error(exc: OSError, doing: str) -> str:
    """A message for a failed file operation that says what to do, not only what broke."""
    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return (
            f"no space left on the device while {doing}{where}: free some space, or point "
            "--data-dir / --build-dir at a disk with room, then run again"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"cannot write{where} while {doing} (permission denied or read-only): choose a "
            "writable folder with --data-dir / --build-dir (or --out), or fix its permissions"
        )
    return f"{exc.strerror or exc} while {doing}{where}"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
