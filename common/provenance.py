"""What data a run really used: a name, a path, a size and a short content hash.

Every domain's ``train.py`` passes ``describe(...).as_dict()`` as ``run.finish(data=...)``, so ``final.json``
names the files behind its numbers, and the report prints them with :func:`data_label`. The same
:func:`content_hash` keys the caches built from user files (a corpus, a click log), so two different
files never share a cache, and an edited file is never served from a stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common.paths import CACHE, ROOT

SHORT = 12  # hex digits shown of a sha256: 48 bits, no accidental collision among a user's datasets
_MEMO_MIN_BYTES = 64 << 20  # remember the hashes of files at least this big (Criteo is 11 GB; a test file is not)
_MEMO = CACHE / "sha256.json"  # resolved path|size|mtime_ns -> sha256 of the file
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DataSource:
    """The data behind a run, as written into ``final.json['data']``."""

    name: str
    """What a reader calls it: ``"Cora (Planetoid, shipped)"``, or the user file's name."""
    path: str
    """The file or folder read: relative to the repository when inside it, else absolute."""
    bytes: int
    """Total size of the files hashed."""
    sha256: str
    """The first :data:`SHORT` hex digits of :func:`content_hash` over those files."""
    detail: str = ""
    """What the run took from it: ``"2,708 nodes, 140/500/1,000 train/val/test"``, row counts, a resolution."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        detail = f" — {self.detail}" if self.detail else ""
        return f"{self.name}{detail} (`{self.path}`, {human_bytes(self.bytes)}, sha256 {self.sha256})"


def describe(name: str, path: Path, files: Iterable[Path] | None = None, detail: str = "") -> DataSource:
    """Describe ``path`` (a file, or a folder whose files are all hashed unless ``files`` picks some)."""
    path = Path(path)
    chosen = sorted(Path(f) for f in files) if files is not None else files_under(path)
    return DataSource(
        name=name,
        path=display_path(path),
        bytes=sum(f.stat().st_size for f in chosen),
        sha256=content_hash(chosen, root=path if path.is_dir() else path.parent)[:SHORT],
        detail=detail,
    )


def files_under(path: Path) -> list[Path]:
    """``path`` itself if a file, else every file below it (hidden ones left out), in a fixed order."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(
        p for p in path.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts)
    )


def content_hash(files: Iterable[Path], root: Path | None = None) -> str:
    """sha256 over each file's name (relative to ``root``) and content: renaming or editing changes it."""
    digest = hashlib.sha256()
    for f in sorted(Path(f) for f in files):
        name = f.relative_to(root).as_posix() if root is not None else f.name
        digest.update(f"{name}\0{file_sha256(f)}\n".encode())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of one file; big files are remembered by path, size and mtime, so a rerun does not re-read them."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    memo = _read_memo() if stat.st_size >= _MEMO_MIN_BYTES else {}
    if key in memo:
        return memo[key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    if stat.st_size >= _MEMO_MIN_BYTES:
        _write_memo(memo | {key: digest.hexdigest()})
    return digest.hexdigest()


def display_path(path: Path) -> str:
    """Relative to the repository when inside it (the same on every clone), else absolute."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(ROOT).as_posix()
    except ValueError:
        return resolved.as_posix()


def human_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def data_label(data: str | dict[str, Any] | None) -> str:
    """One line for the report: a ``DataSource`` dict, or the plain string older runs wrote."""
    if isinstance(data, dict):
        fields = ("name", "path", "bytes", "sha256", "detail")
        return str(DataSource(**{k: data[k] for k in fields if k in data}))
    return data or "?"


def _read_memo() -> dict[str, str]:
    try:
        return json.loads(_MEMO.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_memo(memo: dict[str, str]) -> None:
    # Several runs may hash at once: each writes a whole file through a rename, the last one wins,
    # and a lost entry only costs a re-read.
    _MEMO.parent.mkdir(parents=True, exist_ok=True)
    tmp = _MEMO.with_name(f"{_MEMO.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(memo, indent=0, sort_keys=True))
    tmp.replace(_MEMO)
