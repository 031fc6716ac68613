"""Graphs that are not the shipped Planetoid ones: a generic ``.npz`` file, or any PyG dataset class, offline.

**npz** — one file of NumPy arrays (``np.savez``):

* ``x`` (N, F) node features (or ``node_features``);
* ``y`` (N,) integer labels 0..C-1 (or ``node_labels`` / ``labels``; a one-hot (N, C) array is accepted);
* ``edge_index`` (2, E) or ``edges`` (E, 2) / (2, E): node indices, one row/column per edge;
* optionally ``train_mask``, ``val_mask``, ``test_mask`` (or ``train_masks``, ...): boolean, (N,) for one
  split or (K, N) / (N, K) for K splits, split k serving the run with seed k.

The key aliases are those of Platonov et al.'s heterophilous benchmark files (roman-empire, tolokers, ...),
so they load as they are. **pyg** — any class of ``torch_geometric.datasets`` (``WebKB``,
``HeterophilousGraphDataset``, ``Amazon``, ...) whose raw files are already under ``data.root`` where the
class looks for them; nothing is downloaded, and the processed copy goes to ``data/cache`` keyed by the
raw files' content.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data, Dataset

from common.config import ConfigError
from common.paths import DataError, DataMissingError, require_file
from common.provenance import content_hash, files_under

NPZ_KEYS = {
    "x": ("x", "node_features", "features"),
    "y": ("y", "node_labels", "labels"),
    "edges": ("edge_index", "edges"),
    **{f"{s}_mask": (f"{s}_mask", f"{s}_masks") for s in ("train", "val", "test")},
}
NPZ_HOW_TO = "write it with np.savez(path, x=..., y=..., edge_index=...[, train_mask=..., ...]); see graphs/formats.py"


def load_npz(path: Path) -> Data:
    """The graph of one ``.npz`` file (format in the module docstring); errors name the file and the key."""
    with np.load(require_file(path, NPZ_HOW_TO)) as npz:
        arrays = {key: _pick(npz, names) for key, names in NPZ_KEYS.items()}
    for key in ("x", "y", "edges"):
        if arrays[key] is None:
            raise DataError(f"{path}: no {' or '.join(NPZ_KEYS[key])} array (found {_found(path)}); {NPZ_HOW_TO}")
    x = np.asarray(arrays["x"], dtype=np.float32)
    if x.ndim != 2:
        raise DataError(f"{path}: x must be (nodes, features), got shape {x.shape}")
    n = len(x)
    y = labels(arrays["y"], n, path)
    data = Data(x=torch.from_numpy(x), y=torch.from_numpy(y), edge_index=edge_index(arrays["edges"], n, path))
    for key in ("train_mask", "val_mask", "test_mask"):
        if arrays[key] is not None:
            data[key] = mask(arrays[key], n, f"{path}: {key}")
    return data


def labels(y: np.ndarray, n: int, where: Path) -> np.ndarray:
    """int64 labels 0..C-1 of ``n`` nodes, from class indices or one-hot rows."""
    y = np.asarray(y)
    if y.ndim == 2 and len(y) == n and set(np.unique(y)) <= {0, 1}:
        y = y.argmax(1)  # one-hot rows
    if y.shape != (n,) or not np.all(np.mod(y, 1) == 0):
        raise DataError(f"{where}: y must hold one integer class per node ({n},), got {y.shape} {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise DataError(f"{where}: labels must be 0..C-1, found {int(y.min())}")
    return y


def edge_index(edges: np.ndarray, n: int, where: Path) -> torch.Tensor:
    """A (2, E) int64 edge index from (2, E) or (E, 2) pairs of node indices in [0, n)."""
    edges = np.asarray(edges)
    if edges.ndim != 2 or 2 not in edges.shape:
        raise DataError(f"{where}: edges must be (2, E) or (E, 2), got shape {edges.shape}")
    edges = edges if edges.shape[0] == 2 else edges.T
    if edges.size and (edges.min() < 0 or edges.max() >= n):
        found = f"{edges.min()}..{edges.max()}"
        raise DataError(f"{where}: edge endpoints must be node indices in [0, {n}), found {found}")
    return torch.from_numpy(edges.astype(np.int64))


def mask(array: np.ndarray, n: int, where: str) -> torch.Tensor:
    """A boolean (n,) mask, or (n, K) for K splits (given as (K, n) or (n, K))."""
    array = np.asarray(array)
    if array.ndim == 2 and array.shape[1] != n and array.shape[0] == n:
        pass  # already (n, K)
    elif array.ndim == 2 and array.shape[1] == n:
        array = array.T
    if array.shape[0] != n or array.ndim not in (1, 2) or not np.isin(array, (0, 1)).all():
        shape = array.shape
        raise DataError(f"{where}: a mask must be boolean (nodes,) or (splits, nodes) for {n} nodes, got {shape}")
    return torch.from_numpy(array.astype(bool))


def _pick(npz: np.lib.npyio.NpzFile, names: tuple[str, ...]) -> np.ndarray | None:
    return next((npz[name] for name in names if name in npz.files), None)


def _found(path: Path) -> str:
    with np.load(path) as npz:
        return ", ".join(npz.files) or "no arrays"


# -- any PyG dataset class, offline ---------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def pyg_dataset(class_name: str, root: Path, name: str, cache: Path) -> Dataset:
    """``torch_geometric.datasets.<class_name>`` over ``root`` (and ``name`` if the class takes one), offline.

    The raw files must be where the class looks for them (its ``raw_dir``); if one is absent the error
    names it. The processed copy goes to ``<cache>/<class>/<name>/<hash of the raw files>/``.
    """
    import torch_geometric.datasets as datasets

    cls = getattr(datasets, class_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, Dataset)):
        raise ConfigError(f"'data.pyg_class': torch_geometric.datasets has no dataset class {class_name!r}")
    offline = type(f"Offline{class_name}", (cls,), {"download": _no_download, "processed_dir": _processed_dir})
    offline._cache_root = Path(cache) / class_name / (name or "_")
    kwargs = {"root": str(root)}
    if "name" in inspect.signature(cls.__init__).parameters:
        if not name:
            raise ConfigError(f"'data.name': {class_name} needs the name of one of its datasets")
        kwargs["name"] = name
    return offline(**kwargs)


def _no_download(self: Dataset) -> None:
    missing = [p for p in self.raw_paths if not Path(p).exists()]
    raise DataMissingError(
        f"missing dataset file(s) of {type(self).__mro__[1].__name__}: {', '.join(missing)}\n"
        f"  how to obtain them: put the class's raw files in {self.raw_dir} (nothing is downloaded here)"
    )


@property
def _processed_dir(self: Dataset) -> str:
    # Keyed by the raw files' content: an edited or replaced raw file is processed again, never served stale.
    if not hasattr(self, "_raw_hash"):
        files = [f for p in self.raw_paths for f in files_under(Path(p))]
        self._raw_hash = content_hash(files, root=Path(self.raw_dir))[:12]
    return str(self._cache_root / self._raw_hash / "processed")
