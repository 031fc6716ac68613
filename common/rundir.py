"""The safety of a run folder: one writer at a time, fingerprints, setting stale runs aside, atomic writes.

A run folder belongs to one resolved configuration and one version of the code that computes its result.
:func:`fingerprint` names both; a checkpoint carries it, and a run resumes only from a checkpoint with the
same fingerprint. Anything else in the folder is moved, whole, to ``superseded/<time>-<reason>/`` by
:func:`set_aside`, so a changed setting never continues an old model and nothing is ever deleted.

:class:`FolderLock` holds an OS lock (``flock``) on ``<folder>/.lock`` for the life of the writing process:
a second process that tries to write into the same folder is refused with a message naming the holder. The
kernel drops the lock when its process dies, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from common.paths import ROOT

LOCK = ".lock"
SUPERSEDED = "superseded"
PRESENTATION_ONLY = frozenset({"report.py", "figures.py", "claims.py"})
"""Modules that only present results: editing them never invalidates a checkpoint."""


_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process's umask (setting it is the only way), then put it back


class RunLockedError(RuntimeError):
    """Another process is writing into the run folder."""


class FolderLock:
    """An exclusive, non-blocking OS lock on ``<folder>/.lock``, held by this process until :meth:`release`.

    Locks are per process: a second :class:`FolderLock` on the same folder in the same process (several
    seeds or a test calling ``main`` twice) shares the one already held.
    """

    _held: ClassVar[dict[Path, int]] = {}  # folder -> file descriptor holding its lock, in this process

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()

    def acquire(self) -> None:
        if self.folder in self._held:
            return
        path = self.folder / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunLockedError(
                f"{self.folder} is being written by another process (pid {holder}). Two writers would mix their "
                f"checkpoints and metrics: wait for it to finish, or stop it (kill {holder}) and run again."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._held[self.folder] = fd

    def release(self) -> None:
        fd = self._held.pop(self.folder, None)
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock


def code_files(domain: str, root: Path = ROOT) -> list[Path]:
    """The code that computes a ``domain`` run: every ``.py`` file of ``common/``, ``hardware/`` and the domain
    package but the presentation-only ones (the workflow reruns a job when one changes)."""
    packages = sorted({"common", "hardware", domain})
    files = [p for package in packages for p in sorted((root / package).rglob("*.py"))]
    return [p for p in files if p.name not in PRESENTATION_ONLY and "__pycache__" not in p.parts]


@functools.cache
def code_fingerprint(domain: str, root: Path = ROOT) -> str:
    """A hash of the code that computes a ``domain`` run: ``common/``, ``hardware/`` and the domain package
    (every ``.py`` file but the presentation-only ones). Computed once per process."""
    digest = hashlib.sha256()
    for path in code_files(domain, root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def fingerprint(domain: str, config: dict[str, Any], threads: int | None) -> dict[str, str]:
    """What a checkpoint must match to be resumed: the resolved config (with the thread count, which can
    change the order of floating-point reductions) and the code."""
    text = json.dumps({"domain": domain, "config": config, "threads": threads}, sort_keys=True)
    return {"config": hashlib.sha256(text.encode()).hexdigest()[:16], "code": code_fingerprint(domain)}


def mismatch(saved: dict[str, str] | None, current: dict[str, str]) -> str | None:
    """Why a checkpoint with fingerprint ``saved`` may not be resumed now (None: it may)."""
    if not isinstance(saved, dict):
        return "it was written without a fingerprint"
    changed = [part for part in ("config", "code") if saved.get(part) != current[part]]
    if not changed:
        return None
    return " and ".join({"config": "the resolved configuration", "code": "the code"}[p] for p in changed) + " changed"


def set_aside(folder: Path, reason: str) -> Path | None:
    """Move everything in ``folder`` (but the lock and earlier set-asides) to ``superseded/<time>-<reason>/``.

    Returns the new folder, or None when there was nothing to move.
    """
    entries = [p for p in folder.iterdir() if p.name not in (LOCK, SUPERSEDED)]
    if not entries:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    dest = folder / SUPERSEDED / f"{stamp}-{reason}"
    suffix = 1
    while dest.exists():
        dest = folder / SUPERSEDED / f"{stamp}-{reason}-{suffix}"
        suffix += 1
    dest.mkdir(parents=True)
    for entry in entries:
        shutil.move(str(entry), dest / entry.name)
    return dest


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    Readers never see half a file, and the temporary name is unique, so two processes never share it.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes the file private; results are ordinary files
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda tmp: tmp.write_text(text))
