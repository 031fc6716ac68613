"""Where things live: the repository root, shipped data, generated caches and results."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
CACHE = DATA / "cache"
RESULTS = ROOT / "results"
DOMAINS = ("vision", "graphs", "recsys", "nerf", "nlp")


class DataError(ValueError):
    """A dataset cannot be used (absent, truncated, malformed or empty); the message names the file and the fix."""


class DataMissingError(DataError, FileNotFoundError):
    """A dataset file is absent; the message names it and says how to obtain it."""


def require_file(path: Path, how_to_get: str) -> Path:
    """Return ``path`` if it exists, else raise :class:`DataMissingError` naming it."""
    if not path.exists():
        raise DataMissingError(f"missing dataset file: {path}\n  how to obtain it: {how_to_get}")
    return path
