"""Your own graph: a generic .npz file (several splits, binary labels → ROC AUC) and any PyG class, offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from common.config import ConfigError
from common.paths import DataError, DataMissingError
from graphs.config import DataConfig
from graphs.data import graph_source, load_graph, node_split
from graphs.train import main

SPLITS = 3


def write_npz(path: Path, classes: int = 3, n: int = 300, seed: int = 0, **keys: str) -> Path:
    """A homophilous graph in the heterophilous benchmark's layout (node_features, node_labels, edges (E, 2),
    train/val/test_masks (K, N)); ``keys`` renames arrays, e.g. ``x="x"``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(classes, size=n)
    x = (rng.random((n, 8 * classes)) < 0.1).astype(np.float32)  # sparse bag-of-words features,
    x[np.arange(n)[:, None], 8 * y[:, None] + rng.integers(8, size=(n, 3))] = 1.0  # some from the class's block
    pairs = [(i, j) for i in range(n) for j in rng.choice(np.flatnonzero(y == y[i]), 2) if i < j]
    order = np.stack([rng.permutation(n) for _ in range(SPLITS)])  # (K, N)
    masks = {s: np.zeros((SPLITS, n), bool) for s in ("train", "val", "test")}
    for k in range(SPLITS):
        masks["train"][k, order[k, : n // 2]] = True
        masks["val"][k, order[k, n // 2 : 3 * n // 4]] = True
        masks["test"][k, order[k, 3 * n // 4 :]] = True
    arrays = {"node_features": x, "node_labels": y, "edges": np.array(pairs)}
    arrays |= {f"{s}_masks": m for s, m in masks.items()}
    np.savez(path, **{keys.get(k, k): v for k, v in arrays.items()})
    return path


def test_npz_graph_loads_undirected_with_its_splits(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "g.npz")
    cfg = DataConfig(format="npz", path=str(path))
    data = load_graph(cfg)
    edges = {tuple(e) for e in data.edge_index.t().tolist()}
    assert all((j, i) in edges for i, j in edges)  # both directions
    assert data.train_mask.shape == (300, SPLITS)
    with np.load(path) as npz:
        for seed in range(SPLITS):
            train, val, test = node_split(data, cfg, seed)
            assert torch.equal(train, torch.from_numpy(npz["train_masks"][seed]))
            assert not (train & val).any() and not (val & test).any()
    with pytest.raises(ConfigError, match="3 splits"):
        node_split(data, cfg, SPLITS)
    source = graph_source(cfg, data, "public").as_dict()
    assert source["name"] == "g" and source["path"] == path.resolve().as_posix()
    assert source["bytes"] == path.stat().st_size and len(source["sha256"]) == 12


def test_npz_errors_name_the_file_and_the_array(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((3, 2)), y=np.zeros(3, int))
    with pytest.raises(DataError, match=r"bad\.npz: no edge_index or edges array \(found x, y\)"):
        load_graph(DataConfig(format="npz", path=str(bad)))
    np.savez(bad, x=np.zeros((3, 2)), y=np.zeros(3, int), edges=np.array([[0, 5]]))
    with pytest.raises(DataError, match=r"node indices in \[0, 3\)"):
        load_graph(DataConfig(format="npz", path=str(bad)))
    no_masks = DataConfig(format="npz", path=str(bad))
    np.savez(bad, x=np.zeros((3, 2)), y=np.zeros(3, int), edge_index=np.array([[0], [1]]))
    with pytest.raises(ConfigError, match="data.split=random"):
        node_split(load_graph(no_masks), no_masks, 0)
    with pytest.raises(DataMissingError, match="absent.npz"):
        load_graph(DataConfig(format="npz", path=str(tmp_path / "absent.npz")))


def _train(tmp_path: Path, name: str, *overrides: str) -> dict:
    args = ["--config", "graphs/configs/gcn_cora.yaml", "--out", str(tmp_path / name), "--threads", "1"]
    main([*args, "train.epochs=40", "train.checkpoint_every=40", *overrides])
    return json.loads((tmp_path / name / "final.json").read_text())


def test_gcn_trains_on_an_npz_graph_one_split_per_seed(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "mine.npz", x="x", node_labels="y", edges="edge_index")  # the plain names too
    runs = [_train(tmp_path, f"s{seed}", "data.format=npz", f"data.path={path}", f"seed={seed}") for seed in (0, 1)]
    for final in runs:
        assert final["metrics"]["test/acc"] > 0.8  # class-dependent features and homophilous edges
        assert final["data"]["name"] == "mine" and "300 nodes" in final["data"]["detail"]
        assert "public split" in final["data"]["detail"]
    assert runs[0]["metrics"] != runs[1]["metrics"]  # split k for seed k


def test_binary_labels_are_scored_by_roc_auc(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "binary.npz", classes=2)
    final = _train(tmp_path, "bin", "data.format=npz", f"data.path={path}", "feedback.kind=dfa")
    assert set(final["metrics"]) >= {"test/auc", "val/auc", "train/auc", "test/acc"}
    assert final["metrics"]["test/auc"] > 0.8


def test_any_pyg_class_reads_its_files_offline(tmp_path: Path, tiny: list[str]) -> None:
    root = tiny[1].split("=", 1)[1]
    cfg = DataConfig(format="pyg", pyg_class="Planetoid", name="Tiny", root=root, cache=str(tmp_path / "cache"))
    data = load_graph(cfg)
    assert data.num_nodes == 600 and data.train_mask.sum() == 30
    processed = list((tmp_path / "cache" / "pyg" / "Planetoid" / "Tiny").glob("*/processed"))
    assert len(processed) == 1  # one folder, named by the raw files' hash
    assert graph_source(cfg, data, "public").name == "Planetoid(Tiny)"
    with pytest.raises(DataMissingError, match=r"ind\.absent\.x"):
        load_graph(DataConfig(format="pyg", pyg_class="Planetoid", name="Absent", root=root, cache=str(tmp_path)))
    with pytest.raises(ConfigError, match="no dataset class 'Nope'"):
        load_graph(DataConfig(format="pyg", pyg_class="Nope", root=root))


def test_the_shipped_planetoid_keeps_its_name(tmp_path: Path, tiny: list[str]) -> None:
    cora = DataConfig(name="Cora", cache=str(tmp_path))
    source = graph_source(cora, load_graph(cora), "public")
    assert source.name == "Cora (Planetoid, shipped)" and source.path == "data/planetoid/Cora/raw"
    mine = DataConfig(name="Tiny", root=tiny[1].split("=", 1)[1], cache=str(tmp_path))
    assert graph_source(mine, load_graph(mine), "public").name == "Tiny (Planetoid)"
