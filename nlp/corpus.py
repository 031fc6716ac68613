"""Where a corpus's text is, what it is, and how one file becomes three splits.

* **wikitext2**, **wikitext103** — ``wiki.{train,valid,test}.tokens`` in the corpus's usual place (see
  :data:`CORPORA`) or in ``data.root``;
* **text** — your own UTF-8 text (``data.path``): a folder of ``train.txt``, ``valid.txt`` and ``test.txt``,
  or one file that :func:`cut` divides in file order, at line ends, by the shares ``data.split``.

:func:`corpus_key` names the text in cache folders: the corpus alone for WikiText in its usual place, with
the hash of the content otherwise, so that two texts never share a cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from common.config import ConfigError
from common.paths import ROOT, DataError, require_file
from common.provenance import DataSource, describe, file_sha256
from common.run import atomic_write_text
from nlp.config import DataConfig

SPLITS = ("train", "valid", "test")
WHOLE = "whole"
"""The key of :func:`source_files` for one text file that ``data.split`` cuts into the three splits."""


@dataclass(frozen=True)
class Corpus:
    """A kind of corpus: its name, where it usually lives and how to obtain it."""

    name: str
    default_root: str
    how_to_get: str


CORPORA = {
    "wikitext2": Corpus(
        "WikiText-2",
        "data/wikitext2/wikitext-2",
        "it ships with the repository in data/wikitext2/wikitext-2 (see data/wikitext2/README.txt)",
    ),
    "wikitext103": Corpus(
        "WikiText-103",
        "data/wikitext-103",
        "download wikitext-103-v1.zip (Merity et al. 2016, 'WikiText-103 word level', e.g. from "
        "https://wikitext.smerity.com/wikitext-103-v1.zip), unzip it and place wiki.train.tokens, "
        "wiki.valid.tokens and wiki.test.tokens in data/wikitext-103/, or point data.root at their folder",
    ),
    "text": Corpus(
        "plain text",
        "",
        "data.path must name a UTF-8 text file (cut by data.split) or a folder of train.txt, valid.txt and test.txt",
    ),
}


def source_files(cfg: DataConfig) -> dict[str, Path]:
    """The raw text of the configured corpus: one file per split, or ``{WHOLE: file}`` to be cut in three."""
    if cfg.corpus == "text":
        if not cfg.path:
            raise ConfigError(f"'data.path' is needed with data.corpus=text: {CORPORA['text'].how_to_get}")
        path = resolve(cfg.path)
        return {split: path / f"{split}.txt" for split in SPLITS} if path.is_dir() else {WHOLE: path}
    root = resolve(cfg.root or CORPORA[cfg.corpus].default_root)
    return {split: root / f"wiki.{split}.tokens" for split in SPLITS}


def corpus_key(cfg: DataConfig) -> str:
    """``wikitext2`` for WikiText in its usual place; else the corpus and its content hash, ``text-<sha[:12]>``."""
    usual = resolve(CORPORA[cfg.corpus].default_root)
    if cfg.corpus != "text" and resolve(cfg.root or CORPORA[cfg.corpus].default_root) == usual:
        return cfg.corpus
    how = CORPORA[cfg.corpus].how_to_get
    sources = source_files(cfg)
    parts = [f"{key}:{file_sha256(require_file(p, how))}" for key, p in sorted(sources.items())]
    if WHOLE in sources:
        parts.append(f"split:{list(cfg.split)}")  # other shares, other splits
    return f"{cfg.corpus}-{hashlib.sha256(chr(10).join(parts).encode()).hexdigest()[:12]}"


def resolve(path: str) -> Path:
    """A config path: absolute as given, relative to the repository otherwise."""
    return Path(path) if Path(path).is_absolute() else ROOT / path


def read_text(path: Path) -> str:
    """A UTF-8 text file; any other encoding is an error that names the file."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        where = f"{error.reason} at byte {error.start}"
        raise DataError(f"{path} is not UTF-8 text ({where}); convert it to UTF-8 first") from None


def cut(text: str, shares: tuple[float, float, float]) -> dict[str, str]:
    """``text`` cut in file order into train/valid/test of about ``shares`` of its characters, at line ends."""
    if len(shares) != 3 or min(shares) <= 0:
        raise ConfigError(f"'data.split' must be three positive shares (train, valid, test), got {list(shares)}")
    total, bounds = sum(shares), [0]
    for share in (shares[0], shares[0] + shares[1]):
        at = max(int(len(text) * share / total), bounds[-1])
        end = text.find("\n", at - 1) if at > 0 else -1  # the end of the line holding character at - 1
        bounds.append(end + 1 if end >= 0 else at)
    bounds.append(len(text))
    return {split: text[a:b] for split, a, b in zip(SPLITS, bounds[:-1], bounds[1:], strict=True)}


def split_files(sources: dict[str, Path], cfg: DataConfig, folder: Path) -> dict[str, Path]:
    """The three split files: the sources themselves, or one file cut into ``<folder>/<split>.txt``."""
    if WHOLE not in sources:
        return sources
    parts = cut(read_text(sources[WHOLE]), cfg.split)
    for split, text in parts.items():
        if not text.strip():
            raise ConfigError(f"{sources[WHOLE]}: data.split={list(cfg.split)} leaves the {split} split empty")
        atomic_write_text(folder / f"{split}.txt", text)
    return {split: folder / f"{split}.txt" for split in SPLITS}


def corpus_source(cfg: DataConfig, detail: str) -> DataSource:
    """Name, path, size and hash of the text a run reads; the shipped WikiText-2 says so."""
    sources = source_files(cfg)
    if cfg.corpus == "text":
        path = resolve(cfg.path)
        split = f", cut {'/'.join(f'{s:g}' for s in cfg.split)}" if WHOLE in sources else ""
        return describe(f"{path.name} (plain text{split})", path, files=sources.values(), detail=detail)
    root = next(iter(sources.values())).parent
    shipped = cfg.corpus == "wikitext2" and root == resolve(CORPORA["wikitext2"].default_root)
    name = f"{CORPORA[cfg.corpus].name} ({'shipped' if shipped else 'user-provided'})"
    return describe(name, root, files=sources.values(), detail=detail)
