"""Graphs for both tasks, read offline: the shipped Planetoid citation graphs or your own, and their splits.

The Planetoid raw files ship in ``data/planetoid/<Name>/raw`` (see its README). PyG's ``Planetoid`` reads
them and writes a processed copy; here that copy goes to ``data/cache/planetoid/<Name>/processed``
(gitignored), so that nothing generated lands in a tracked folder and nothing is ever downloaded. Your own
graph comes as an ``.npz`` file or as any PyG dataset class whose files are present
(``data.format=npz|pyg``, see :mod:`graphs.formats`).

    python -m graphs.data Cora CiteSeer PubMed    # process once (the pipeline's preparation step)

Splits:

* node classification: the dataset's own split (Planetoid's public one, or the masks of your file: with K
  splits, split k for seed k), or stratified folds drawn with the run seed (:func:`stratified_split`, the
  authors' split for DNAConv);
* link prediction: :func:`split_edges` holds out undirected edges for validation and test, with as
  many sampled non-edges, the way PyG's ``train_test_split_edges`` does (which the authors used).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch_geometric.transforms as T
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid
from torch_geometric.utils import to_undirected

from common.config import ConfigError
from common.paths import ROOT, require_file
from common.provenance import DataSource, describe
from common.run import cli
from graphs.config import DataConfig
from graphs.formats import load_npz, pyg_dataset

SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
HOW_TO_GET = (
    "the Planetoid raw files ship in data/planetoid/<Name>/raw (see data/planetoid/README.txt); they come from "
    "github.com/kimiyoung/planetoid (data/ind.<name>.<suffix>)"
)


class OfflinePlanetoid(Planetoid):
    """PyG's Planetoid with the raw files read from ``raw_root`` and the processed copy kept in ``cache_root``."""

    def __init__(self, raw_root: Path, cache_root: Path, name: str, transform: T.BaseTransform | None = None):
        self._raw_root, self._cache_root = Path(raw_root), Path(cache_root)
        for path in raw_files(self._raw_root, name):
            require_file(path, HOW_TO_GET)
        super().__init__(str(cache_root), name, split="public", transform=transform)

    @property
    def raw_dir(self) -> str:
        return str(self._raw_root / self.name / "raw")

    @property
    def processed_dir(self) -> str:
        return str(self._cache_root / self.name / "processed")

    def download(self) -> None:  # never reached: the constructor checks every raw file first
        raise RuntimeError(f"{self.raw_dir} is incomplete; {HOW_TO_GET}")


def raw_files(root: Path, name: str) -> list[Path]:
    """The eight raw files of one graph."""
    return [root / name / "raw" / f"ind.{name.lower()}.{suffix}" for suffix in SUFFIXES]


def resolve(path: str) -> Path:
    """A config path: absolute as given, relative to the repository otherwise."""
    return Path(path) if Path(path).is_absolute() else ROOT / path


def load_graph(cfg: DataConfig) -> Data:
    """The graph with its own split masks (if any), (dense) features and pseudo-coordinates as ``cfg`` asks."""
    transforms = []
    if cfg.normalize_features:
        transforms.append(T.NormalizeFeatures())
    if cfg.pseudo == "target_indegree":
        transforms.append(T.TargetIndegree())
    transform = T.Compose(transforms)
    if cfg.format == "planetoid":
        return OfflinePlanetoid(resolve(cfg.root), resolve(cfg.cache), cfg.name, transform)[0]
    if cfg.format == "npz":
        if not cfg.path:
            raise ConfigError("'data.path' must name the .npz file for data.format=npz")
        data = load_npz(resolve(cfg.path))
    else:
        if not cfg.pyg_class:
            raise ConfigError("'data.pyg_class' must name a torch_geometric.datasets class for data.format=pyg")
        data = pyg_dataset(cfg.pyg_class, resolve(cfg.root), cfg.name, resolve(cfg.cache) / "pyg")[0]
    if cfg.undirected:
        data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
    return transform(data)


def graph_name(cfg: DataConfig) -> str:
    """How figures and final.json call the graph: Cora, the .npz file's stem, or WebKB(Texas)."""
    if cfg.format == "npz":
        return Path(cfg.path).stem
    if cfg.format == "pyg":
        return f"{cfg.pyg_class}({cfg.name})" if cfg.name else cfg.pyg_class
    return cfg.name


def graph_source(cfg: DataConfig, data: Data, split: str) -> DataSource:
    """What the run read: the files behind ``data``, its size and the split used (for final.json)."""
    detail = f"{data.num_nodes:,} nodes, {data.num_edges:,} directed edges, {split} split"
    if cfg.format == "planetoid":
        root = resolve(cfg.root)
        shipped = ", shipped" if root == resolve(DataConfig.root) else ""
        return describe(f"{cfg.name} (Planetoid{shipped})", root / cfg.name / "raw", raw_files(root, cfg.name), detail)
    if cfg.format == "npz":
        return describe(graph_name(cfg), resolve(cfg.path), detail=detail)
    dataset = pyg_dataset(cfg.pyg_class, resolve(cfg.root), cfg.name, resolve(cfg.cache) / "pyg")
    return describe(graph_name(cfg), Path(dataset.raw_dir), detail=detail)


def node_split(data: Data, cfg: DataConfig, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """Train/val/test node masks: the dataset's own (split ``seed`` of several), or seeded stratified folds."""
    if cfg.split == "random":
        return stratified_split(data.y, cfg.folds, seed)
    masks = [data.get(f"{s}_mask") for s in ("train", "val", "test")]
    if any(m is None for m in masks):
        raise ConfigError(
            "'data.split=public': this graph has no train/val/test masks; "
            "add train_mask, val_mask and test_mask to the file, or use data.split=random"
        )
    if masks[0].dim() == 1:
        return masks[0], masks[1], masks[2]
    splits = masks[0].shape[1]
    if seed >= splits:
        raise ConfigError(f"seed {seed}: the graph's masks hold {splits} splits (split k serves seed k < {splits})")
    return masks[0][:, seed], masks[1][:, seed], masks[2][:, seed]


def stratified_split(y: Tensor, folds: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """Boolean train/val/test masks: fold 0 trains, fold 1 validates, the other folds test.

    The folds are sklearn's ``StratifiedKFold(folds, shuffle=True, random_state=seed)``, as in the
    authors' DNAConv experiments (and PyG's ``dna.py`` example).
    """
    from sklearn.model_selection import StratifiedKFold  # lazy: most runs use the public split

    labels = y.numpy()
    parts = [test for _, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(labels, labels)]
    masks = []
    for index in (parts[0], parts[1], np.concatenate(parts[2:])):
        mask = torch.zeros(len(labels), dtype=torch.bool)
        mask[torch.from_numpy(index)] = True
        masks.append(mask)
    return masks[0], masks[1], masks[2]


@dataclass(frozen=True)
class EdgeSplit:
    """Edges of a link-prediction split. Positives are (2, n) index pairs; ``train`` holds both directions."""

    train: Tensor
    val: Tensor
    val_neg: Tensor
    test: Tensor
    test_neg: Tensor

    def to(self, device: torch.device | str) -> EdgeSplit:
        return EdgeSplit(*(t.to(device) for t in (self.train, self.val, self.val_neg, self.test, self.test_neg)))


def split_edges(edge_index: Tensor, num_nodes: int, val: float, test: float, generator: torch.Generator) -> EdgeSplit:
    """Hold out ``val`` and ``test`` fractions of the undirected edges, and as many non-edges each.

    The held-out edges are removed from the message-passing graph in both directions, so an encoder
    never sees an edge it is tested on; the non-edges are drawn among node pairs that are not edges of
    the whole graph. Held-out counts are ``floor(fraction × undirected edges)``, as in PyG's
    ``train_test_split_edges``.
    """
    row, col = edge_index
    upper = torch.unique(torch.stack([row, col])[:, row < col], dim=1)  # (2, m) one copy of each edge
    m = upper.shape[1]
    n_val, n_test = int(np.floor(val * m)), int(np.floor(test * m))
    perm = torch.randperm(m, generator=generator)
    val_pos = upper[:, perm[:n_val]]
    test_pos = upper[:, perm[n_val : n_val + n_test]]
    train = upper[:, perm[n_val + n_test :]]
    negatives = sample_non_edges(pair_codes(edge_index, num_nodes), num_nodes, n_val + n_test, generator, distinct=True)
    return EdgeSplit(
        train=torch.cat([train, train.flip(0)], dim=1),
        val=val_pos,
        val_neg=negatives[:, :n_val],
        test=test_pos,
        test_neg=negatives[:, n_val:],
    )


def pair_codes(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Sorted unique codes ``min(i, j) * num_nodes + max(i, j)`` of the (undirected) pairs in ``edge_index``."""
    lo, hi = torch.minimum(edge_index[0], edge_index[1]), torch.maximum(edge_index[0], edge_index[1])
    return torch.unique(lo * num_nodes + hi)


def sample_non_edges(
    taken: Tensor, num_nodes: int, count: int, generator: torch.Generator | None = None, distinct: bool = False
) -> Tensor:
    """``count`` node pairs (i, j), i < j, drawn uniformly among the pairs whose code is not in ``taken``.

    ``taken`` comes from :func:`pair_codes`. ``distinct`` also removes repeated draws (held-out
    evaluation sets); without it draws are independent (the negatives of one training step). Uses
    ``generator``, or torch's global generator.
    """
    if num_nodes * (num_nodes - 1) // 2 - len(taken) < count:
        raise ValueError(f"a graph of {num_nodes} nodes has fewer than {count} non-edges to sample")
    chosen = torch.empty(0, dtype=torch.long, device=taken.device)
    while len(chosen) < count:
        i = torch.randint(num_nodes, (2 * count,), generator=generator, device=taken.device)
        j = torch.randint(num_nodes, (2 * count,), generator=generator, device=taken.device)
        codes = torch.minimum(i, j) * num_nodes + torch.maximum(i, j)
        chosen = torch.cat([chosen, codes[(i != j) & ~torch.isin(codes, taken)]])
        if distinct:
            chosen = _first_occurrences(chosen)
    chosen = chosen[:count]
    return torch.stack([chosen // num_nodes, chosen % num_nodes])


def _first_occurrences(codes: Tensor) -> Tensor:
    """``codes`` without repeats, in the order of their first appearance (deterministic, unlike a set)."""
    _, inverse = torch.unique(codes, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), len(codes), dtype=torch.long, device=codes.device)
    first.scatter_reduce_(0, inverse, torch.arange(len(codes), device=codes.device), reduce="amin")
    return codes[first.sort().values]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Process Planetoid graphs into the cache (offline).")
    parser.add_argument("names", nargs="+", help="Cora, CiteSeer, PubMed")
    for name in parser.parse_args(argv).names:
        cfg = DataConfig(name=name)
        data = load_graph(cfg)
        print(f"{name}: {data.num_nodes} nodes, {data.num_edges} directed edges -> {resolve(cfg.cache) / name}")


if __name__ == "__main__":
    cli(main)
