"""A tiny synthetic graph in the Planetoid raw format (the 8 ``ind.tiny.*`` files), written to tmp_path."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

N_LABELED, N_ALLX, N_TEST, N_FEATURES, N_CLASSES = 30, 540, 60, 40, 3
"""PyG's Planetoid reader puts 500 validation nodes right after the labeled ones, hence allx >= 530."""


def write_planetoid(root: Path, name: str = "Tiny", seed: int = 0) -> Path:
    """Write a homophilous 600-node, 3-class graph with class-dependent sparse features; returns ``root``."""
    rng = np.random.default_rng(seed)
    n = N_ALLX + N_TEST
    labels = rng.integers(N_CLASSES, size=n)
    features = np.zeros((n, N_FEATURES), dtype=np.float32)
    block = N_FEATURES // N_CLASSES
    for i, c in enumerate(labels):  # four active features per node, mostly from its class's block
        own = rng.random(4) < 0.7
        cols = np.where(own, c * block + rng.integers(block, size=4), rng.integers(N_FEATURES, size=4))
        features[i, cols] = 1.0
    graph: dict[int, list[int]] = {i: [] for i in range(n)}
    for i in range(n):
        for _ in range(2):
            pool = np.flatnonzero(labels == labels[i]) if rng.random() < 0.8 else np.arange(n)
            j = int(rng.choice(pool))
            if j != i and j not in graph[i]:
                graph[i].append(j)
                graph[j].append(i)
    onehot = np.eye(N_CLASSES, dtype=np.int64)[labels]
    test_index = rng.permutation(np.arange(N_ALLX, n))  # the reader sorts them
    test_rows = features[N_ALLX:][test_index - N_ALLX].copy()
    test_onehot = onehot[N_ALLX:][test_index - N_ALLX]
    objects = {
        "x": sp.csr_matrix(features[:N_LABELED]),
        "y": onehot[:N_LABELED],
        "allx": sp.csr_matrix(features[:N_ALLX]),
        "ally": onehot[:N_ALLX],
        "tx": sp.csr_matrix(test_rows),
        "ty": test_onehot,
        "graph": graph,
    }
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    for suffix, obj in objects.items():
        with open(raw / f"ind.{name.lower()}.{suffix}", "wb") as fh:
            pickle.dump(obj, fh)
    (raw / f"ind.{name.lower()}.test.index").write_text("\n".join(str(i) for i in test_index) + "\n")
    return root


@pytest.fixture
def tiny(tmp_path: Path) -> list[str]:
    """Config overrides that point a run at the tiny graph (raw files and processed cache in tmp_path)."""
    root = write_planetoid(tmp_path / "planetoid")
    return ["data.name=Tiny", f"data.root={root}", f"data.cache={tmp_path / 'cache'}"]
