"""MNIST from the original gzipped IDX files (no download, no torchvision)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from common.paths import ROOT, require_file

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
HOW_TO_GET = "it ships in data/mnist/raw (see data/mnist/README.txt); or copy the four IDX .gz files of MNIST there"
MEAN, STD = 0.1307, 0.3081  # of the training pixels scaled to [0, 1]


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzipped): the header's magic number gives the dtype and the rank."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    zero, dtype_code, ndim = raw[0] * 256 + raw[1], raw[2], raw[3]
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (header {raw[:4].hex()})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header announces {shape} but holds {data.size} values (truncated file?)")
    return data.reshape(shape)


def load_split(root: Path, split: str, limit: int = 0) -> tuple[Tensor, Tensor]:
    """Images as normalised float vectors (N, 784) and labels (N,) of ``split`` ('train' or 'test')."""
    root = root if root.is_absolute() else ROOT / root
    images_file, labels_file = FILES[split]
    images = read_idx(require_file(root / images_file, HOW_TO_GET))
    labels = read_idx(require_file(root / labels_file, HOW_TO_GET))
    if len(images) != len(labels):
        raise ValueError(f"{root}: {len(images)} {split} images but {len(labels)} labels")
    if limit:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return (x - MEAN) / STD, torch.from_numpy(labels.astype(np.int64))
