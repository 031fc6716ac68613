"""Caches built from data files (encoded corpora, preprocessed click logs): one builder at a time.

A run that finds its cache absent builds it itself; two runs started together on the same new data would
otherwise build the same folder at once and mix their files. :func:`building` makes the second one wait
for the first and then find the cache ready.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def building(folder: Path) -> Iterator[None]:
    """Hold an exclusive OS lock on ``.<folder>.lock`` (blocking) while ``folder`` is checked and built.

    The kernel drops the lock when its process ends, so a killed build never blocks the next one.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(f".{folder.name}.lock"), "w") as handle:  # hidden: globs of folders skip it
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
