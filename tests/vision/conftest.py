"""Small generated datasets in the formats the vision domain reads: CIFAR-10's python batches and an .npz."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from vision.data import CIFAR_FILES


def write_cifar(folder: Path, per_batch: int = 8, seed: int = 0) -> Path:
    """The six CIFAR-10 python batches, ``per_batch`` random images each, pickled as the originals are
    (protocol 2, a dict with bytes keys 'data' (N, 3072) uint8 and 'labels' a list of ints)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in CIFAR_FILES:
        batch = {
            b"batch_label": name.encode(),
            b"labels": rng.integers(0, 10, per_batch).tolist(),
            b"data": rng.integers(0, 256, (per_batch, 3 * 32 * 32), dtype=np.uint8),
            b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def write_npz(path: Path, n: int = 40, shape: tuple[int, ...] = (32, 32, 3), classes: int = 4, seed: int = 0) -> Path:
    """An image-classification .npz: x (N, H, W[, C]) uint8 and y (N,) labels, no test split of its own."""
    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.integers(0, 256, (n, *shape), dtype=np.uint8), y=rng.integers(0, classes, n))
    return path


@pytest.fixture
def cifar_dir(tmp_path: Path) -> Path:
    return write_cifar(tmp_path / "cifar-10-batches-py")


@pytest.fixture
def npz_file(tmp_path: Path) -> Path:
    return write_npz(tmp_path / "images.npz")
