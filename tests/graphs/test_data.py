"""Planetoid loading (offline, cache outside the data folder) and the splits of both tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.paths import DataMissingError
from graphs.config import DataConfig
from graphs.data import load_graph, pair_codes, split_edges, stratified_split
from tests.graphs.conftest import N_ALLX, N_CLASSES, N_FEATURES, N_LABELED, N_TEST, write_planetoid


def test_planetoid_files_are_read_offline_and_processed_into_the_cache(tmp_path: Path) -> None:
    root = write_planetoid(tmp_path / "raw_root")
    data = load_graph(DataConfig(name="Tiny", root=str(root), cache=str(tmp_path / "cache")))
    assert data.num_nodes == N_ALLX + N_TEST and data.num_features == N_FEATURES
    assert int(data.y.max()) + 1 == N_CLASSES
    assert (int(data.train_mask.sum()), int(data.val_mask.sum()), int(data.test_mask.sum())) == (N_LABELED, 500, N_TEST)
    torch.testing.assert_close(data.x.sum(1)[data.x.sum(1) > 0], torch.ones(int((data.x.sum(1) > 0).sum())))
    assert (tmp_path / "cache" / "Tiny" / "processed").is_dir()
    assert sorted(p.name for p in (root / "Tiny").iterdir()) == ["raw"]  # nothing written beside the raw files


def test_the_shipped_cora_is_the_public_planetoid_split(tmp_path: Path) -> None:
    data = load_graph(DataConfig(name="Cora", cache=str(tmp_path), pseudo="target_indegree"))
    assert (data.num_nodes, data.num_features, data.num_edges) == (2708, 1433, 10556)
    assert (int(data.train_mask.sum()), int(data.val_mask.sum()), int(data.test_mask.sum())) == (140, 500, 1000)
    assert data.edge_attr.shape == (10556, 1) and float(data.edge_attr.min()) >= 0 and float(data.edge_attr.max()) == 1


def test_a_missing_raw_file_is_named(tmp_path: Path) -> None:
    root = write_planetoid(tmp_path)
    (root / "Tiny" / "raw" / "ind.tiny.graph").unlink()
    with pytest.raises(DataMissingError, match=r"ind\.tiny\.graph"):
        load_graph(DataConfig(name="Tiny", root=str(root), cache=str(tmp_path / "cache")))
    with pytest.raises(DataMissingError, match=r"(?s)ind\.pubmeed\.x.*how to obtain"):
        load_graph(DataConfig(name="PubMeed", cache=str(tmp_path / "cache")))


def test_stratified_split_is_seeded_disjoint_and_stratified() -> None:
    y = torch.arange(1000) % 4
    train, val, test = stratified_split(y, 5, seed=3)
    assert not (train & val).any() and not (train & test).any() and not (val & test).any()
    assert (train | val | test).all()
    assert (int(train.sum()), int(val.sum()), int(test.sum())) == (200, 200, 600)
    assert torch.bincount(y[train]).tolist() == [50, 50, 50, 50]
    again = stratified_split(y, 5, seed=3)
    other = stratified_split(y, 5, seed=4)
    assert torch.equal(train, again[0]) and not torch.equal(train, other[0])


def test_edge_split_does_not_leak_held_out_edges() -> None:
    gen = torch.Generator().manual_seed(0)
    n = 300
    pairs = torch.randint(n, (2, 2000), generator=gen)
    pairs = pairs[:, pairs[0] != pairs[1]]
    edge_index = torch.unique(torch.cat([pairs, pairs.flip(0)], 1), dim=1)
    m = edge_index.shape[1] // 2
    split = split_edges(edge_index, n, 0.05, 0.10, torch.Generator().manual_seed(1))

    assert (split.val.shape[1], split.test.shape[1]) == (int(0.05 * m), int(0.10 * m))
    assert (split.val_neg.shape[1], split.test_neg.shape[1]) == (int(0.05 * m), int(0.10 * m))
    train = set(pair_codes(split.train, n).tolist())
    val, test = set(pair_codes(split.val, n).tolist()), set(pair_codes(split.test, n).tolist())
    val_neg, test_neg = set(pair_codes(split.val_neg, n).tolist()), set(pair_codes(split.test_neg, n).tolist())
    every_edge = set(pair_codes(edge_index, n).tolist())
    assert not train & val and not train & test and not val & test  # held-out edges unseen in both directions
    assert train | val | test == every_edge
    assert not (val_neg | test_neg) & every_edge and not val_neg & test_neg
    assert len(val_neg) == split.val_neg.shape[1] and len(test_neg) == split.test_neg.shape[1]  # distinct
    assert torch.equal(torch.sort(pair_codes(split.train, n)).values, pair_codes(split.train.flip(0), n))
    assert split.train.shape[1] == 2 * len(train)  # both directions of each training edge

    again = split_edges(edge_index, n, 0.05, 0.10, torch.Generator().manual_seed(1))
    assert torch.equal(again.test, split.test) and torch.equal(again.test_neg, split.test_neg)
