"""Prepared recsys datasets: names → configs and folders, and the arrays a run trains on.

A dataset ``<name>`` is described by ``recsys/datasets/<name>.yaml`` and prepared (generated if need be,
then preprocessed) into ``<cache>/<name>/`` (default ``data/cache/recsys``, gitignored)::

    snakemake --cores 2 recsys_data            # or, by hand:
    python -m recsys.generate --dataset synthetic && python -m recsys.preprocess --dataset synthetic

Your own Criteo-format file needs no YAML: ``data.path=clicks.txt`` prepares it on first use into
``<cache>/file-<hash>/``, where the hash covers the file's content and the preprocessing settings, so an
edited file is prepared again and two files never share a folder (``python -m recsys.preprocess --input
clicks.txt`` does the same ahead of time).
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common.cache import building
from common.config import ConfigError, load_config, to_dict
from common.paths import ROOT, DataError, require_file
from common.provenance import DataSource, display_path, file_sha256
from recsys.config import DataConfig, DatasetConfig, PreprocessConfig

if TYPE_CHECKING:
    from torch import Tensor

DATASETS_DIR = ROOT / "recsys" / "datasets"
CACHE_DIR = "data/cache/recsys"
"""Prepared datasets, relative to the repository root (``data/cache`` is gitignored)."""
SPLITS = ("train", "val", "test")
PREPARED = (*(f"{a}_{s}.npy" for s in SPLITS for a in ("x", "y")), "vocab.npz", "stats.json")
"""Files preprocessing writes into a dataset's folder (``stats.json`` last)."""
CRITEO_HOW_TO = (
    "Criteo's logs may not be redistributed: download the Kaggle Display Advertising Challenge data "
    "(dac.tar.gz, from Criteo AI Lab's 'Kaggle Display Advertising Challenge Dataset' page or the Kaggle "
    "competition 'criteo-display-ad-challenge'), extract train.txt to this path, "
    "or point recsys/datasets/criteo.yaml's 'path' at your copy"
)
FILE_HOW_TO = (
    "data.path must name a Criteo-format text file (label, 13 integer and 26 categorical fields, tab-separated)"
)


def load_dataset_config(name: str) -> DatasetConfig:
    """The :class:`DatasetConfig` of ``recsys/datasets/<name>.yaml``."""
    path = DATASETS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in DATASETS_DIR.glob("*.yaml"))
        raise ConfigError(f"unknown dataset '{name}' (data.dataset): no {path}; known datasets: {', '.join(known)}")
    return load_config(DatasetConfig, path)


@dataclass(frozen=True)
class DatasetPaths:
    """Where one dataset's files live."""

    root: Path
    """``<cache>/<name>/``: the prepared arrays, ``stats.json`` and, for generated data, the text file."""
    raw: Path
    """The Criteo-format text file the arrays come from."""

    @property
    def stats(self) -> Path:
        return self.root / "stats.json"

    @property
    def vocab(self) -> Path:
        return self.root / "vocab.npz"

    def x(self, split: str) -> Path:
        return self.root / f"x_{split}.npy"

    def y(self, split: str) -> Path:
        return self.root / f"y_{split}.npy"


def dataset_paths(name: str, cache: str | Path | None = None, cfg: DatasetConfig | None = None) -> DatasetPaths:
    """Paths of dataset ``name`` under ``cache`` (default ``data/cache/recsys``); relative ones from the root."""
    cfg = cfg or load_dataset_config(name)
    root = resolve(cache or CACHE_DIR) / name
    raw = root / "train.txt" if cfg.source == "generated" else resolve(cfg.path)
    return DatasetPaths(root, raw)


def file_dataset(path: str | Path, cache: str | Path | None = None) -> tuple[DatasetConfig, DatasetPaths]:
    """Your own Criteo-format file as a dataset, and its folder ``<cache>/file-<hash of content and settings>``."""
    src = require_file(resolve(path), FILE_HOW_TO)
    cfg = DatasetConfig(source="file", path=str(src), description=src.name, preprocess=PreprocessConfig())
    settings = json.dumps(to_dict(cfg.preprocess), sort_keys=True)
    key = hashlib.sha256(f"{file_sha256(src)}\n{settings}".encode()).hexdigest()[:12]
    return cfg, DatasetPaths(resolve(cache or CACHE_DIR) / f"file-{key}", src)


@dataclass
class Split:
    """One split in memory: ids (n, 39) int32 and labels (n,) float32."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device: Any) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclass
class Prepared:
    """A preprocessed dataset: its splits, the vocabulary size of each field and the preprocessing stats."""

    splits: dict[str, Split]
    field_dims: tuple[int, ...]
    stats: dict[str, Any]
    source: DataSource
    """The text file the arrays come from, with the rows the run uses (for final.json)."""


def load_data(data: DataConfig) -> Prepared:
    """The splits a run trains on: your file ``data.path`` (prepared on first use), else ``data.dataset``."""
    if not data.path:
        return load_prepared(data.dataset, data.cache, data.train_limit, data.eval_limit)
    cfg, paths = file_dataset(data.path, data.cache)
    with building(paths.root):  # a second run on the same new file waits, then reads the arrays
        if not paths.stats.exists():
            from recsys.preprocess import preprocess  # the preprocessing imports this module

            preprocess(paths.raw, paths, cfg.preprocess, dataset=to_dict(cfg))
    return _load(paths, cfg, data.train_limit, data.eval_limit, "python -m recsys.preprocess --input FILE")


def warn_if_few_steps(train_rows: int, batch_size: int) -> None:
    """Say so when an epoch is under 5 steps: on a small file, batches of 2048 (the paper's) learn nothing."""
    steps = -(-train_rows // batch_size)
    if steps < 5:
        print(
            f"[recsys] warning: {train_rows:,} training rows make {steps} step(s) of train.batch_size={batch_size} "
            "per epoch; on a small file lower it (e.g. train.batch_size=256)",
            file=sys.stderr,
        )


def load_prepared(name: str, cache: str | Path | None, train_limit: int = 0, eval_limit: int = 0) -> Prepared:
    """Load a prepared dataset, checking that it was prepared from the current ``recsys/datasets/<name>.yaml``."""
    cfg = load_dataset_config(name)
    paths = dataset_paths(name, cache, cfg)
    how = f"snakemake --cores 2 recsys_data (or python -m recsys.preprocess --dataset {name})"
    stats = json.loads(require_file(paths.stats, f"prepare it: {how}").read_text())
    if stats.get("dataset") != to_dict(cfg):
        raise DataError(f"{paths.root} was prepared from another version of recsys/datasets/{name}.yaml; redo: {how}")
    return _load(paths, cfg, train_limit, eval_limit, how)


def _load(paths: DatasetPaths, cfg: DatasetConfig, train_limit: int, eval_limit: int, how: str) -> Prepared:
    import torch  # here, so that the workflow can read dataset paths without importing torch

    stats = json.loads(require_file(paths.stats, f"prepare it: {how}").read_text())
    if "source_sha256" not in stats:
        raise DataError(f"{paths.root} was prepared by an older version of recsys/preprocess.py; redo: {how}")
    splits = {}
    for split in SPLITS:
        limit = train_limit if split == "train" else eval_limit
        x = np.load(require_file(paths.x(split), f"prepare it: {how}"), mmap_mode="r")
        y = np.load(require_file(paths.y(split), f"prepare it: {how}"), mmap_mode="r")
        if limit:
            x, y = x[:limit], y[:limit]
        if len(y) == 0 or float(np.min(y)) == float(np.max(y)):  # no AUC without clicks and non-clicks
            raise DataError(
                f"{paths.root}: the {split} split has {len(y):,} rows, which is not enough for an AUC: it needs "
                f"clicks and non-clicks. Prepare it from a larger file: {how}"
            )
        splits[split] = Split(torch.from_numpy(np.array(x)), torch.from_numpy(np.asarray(y, dtype=np.float32)))
    field_dims = tuple(int(d) for d in stats["field_dims"])
    return Prepared(splits, field_dims, stats, data_source(cfg, paths, stats, splits))


def data_source(cfg: DatasetConfig, paths: DatasetPaths, stats: dict[str, Any], splits: dict[str, Split]) -> DataSource:
    """The file behind the arrays (size and hash as preprocessing read it) and the rows the run uses,
    all measured: nothing here is typed in a YAML."""
    bad = sum(stats["malformed"].values())
    used = " / ".join(f"{len(splits[s]):,} {s}" for s in SPLITS)
    detail = f"{stats['rows']:,} rows ({bad:,} malformed lines skipped); used {used}"
    return DataSource(
        name=cfg.description or paths.raw.name,
        path=display_path(paths.raw),
        bytes=int(stats["source_bytes"]),
        sha256=stats["source_sha256"][:12],
        detail=detail,
    )


def resolve(path: str | Path) -> Path:
    """An absolute path; a relative one is taken from the repository root."""
    path = Path(path)
    return path if path.is_absolute() else ROOT / path
