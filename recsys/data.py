"""Prepared recsys datasets: names → configs and folders, and the arrays a run trains on.

A dataset ``<name>`` is described by ``recsys/datasets/<name>.yaml`` and prepared (generated if need be,
then preprocessed) into ``<cache>/<name>/`` (default ``data/cache/recsys``, gitignored)::

    snakemake --cores 2 recsys_data            # or, by hand:
    python -m recsys.generate --dataset synthetic && python -m recsys.preprocess --dataset synthetic
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common.config import ConfigError, load_config, to_dict
from common.paths import ROOT, require_file
from recsys.config import DatasetConfig

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
    "competition 'criteo-display-ad-challenge'), extract train.txt (45,840,617 rows) to this path, "
    "or point recsys/datasets/criteo.yaml's 'path' at your copy"
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


def load_prepared(name: str, cache: str | Path | None, train_limit: int = 0, eval_limit: int = 0) -> Prepared:
    """Load a prepared dataset, checking that it was prepared from the current ``recsys/datasets/<name>.yaml``."""
    import torch  # here, so that the workflow can read dataset paths without importing torch

    cfg = load_dataset_config(name)
    paths = dataset_paths(name, cache, cfg)
    how = f"snakemake --cores 2 recsys_data (or python -m recsys.preprocess --dataset {name})"
    stats = json.loads(require_file(paths.stats, f"prepare it: {how}").read_text())
    if stats.get("dataset") != to_dict(cfg):
        raise RuntimeError(
            f"{paths.root} was prepared from another version of recsys/datasets/{name}.yaml; redo: {how}"
        )
    splits = {}
    for split in SPLITS:
        limit = train_limit if split == "train" else eval_limit
        x = np.load(require_file(paths.x(split), f"prepare it: {how}"), mmap_mode="r")
        y = np.load(require_file(paths.y(split), f"prepare it: {how}"), mmap_mode="r")
        if limit:
            x, y = x[:limit], y[:limit]
        splits[split] = Split(torch.from_numpy(np.array(x)), torch.from_numpy(np.asarray(y, dtype=np.float32)))
    field_dims = tuple(int(d) for d in stats["field_dims"])
    return Prepared(splits, field_dims, stats)


def resolve(path: str | Path) -> Path:
    """An absolute path; a relative one is taken from the repository root."""
    path = Path(path)
    return path if path.is_absolute() else ROOT / path
