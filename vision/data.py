"""Image-classification data for the vision domain: the readers of each format, splits and preprocessing.

``DATASETS`` (``data.name``):

* ``mnist``, ``fashion_mnist`` — the original gzipped IDX files; both ship in ``data/``.
* ``cifar10`` — CIFAR-10's python batches (``data_batch_1`` … ``data_batch_5``, ``test_batch``). Its terms
  give no licence to redistribute it, so it is read from your copy (see :data:`CIFAR_HOW_TO`). The batches
  are pickles: they are read with an unpickler that builds nothing but numpy arrays, lists and dicts.
* ``npz`` — your own images in one ``.npz`` (``data.path``): ``x`` of shape (N, H, W) or (N, H, W, C),
  uint8 (0–255) or float, and ``y`` (N,) integer labels 0…K−1; optionally ``x_test``, ``y_test``, else a
  fixed ``data.test_fraction`` of the images is held out as the test set.

:func:`load` returns normalised (N, C, H, W) tensors: limits, then the validation hold-out (a fixed draw, the
same for every seed), then resizing and normalisation by the dataset's published channel statistics (or, for
your own data, those measured on the training images).
"""

from __future__ import annotations

import codecs
import dataclasses
import gzip
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from common.paths import ROOT, DataError, require_file
from common.provenance import DataSource, describe
from vision.config import DataConfig

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
CIFAR_HOW_TO = (
    "CIFAR-10 may not be redistributed, so it does not ship: download the python version, "
    "cifar-10-python.tar.gz, from https://www.cs.toronto.edu/~kriz/cifar.html and extract it into data/cifar10 "
    "(tar -xzf cifar-10-python.tar.gz -C data/cifar10, which makes data/cifar10/cifar-10-batches-py), "
    "or point data.path at your cifar-10-batches-py folder"
)
NPZ_HOW_TO = "give your .npz with data.path=FILE (keys x, y and optionally x_test, y_test; see vision/data.py)"


@dataclass(frozen=True)
class Arrays:
    """A dataset as read: images (N, C, H, W), uint8 or float, and integer labels (N,), for train and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class Dataset:
    """One entry of :data:`DATASETS`."""

    label: str
    """How the report names it."""
    default_path: str
    """Where it is read from when ``data.path`` is empty (relative to the repository)."""
    files: Callable[[Path], list[Path]]
    """The files read from a path: what the run's provenance hashes and the workflow tracks."""
    read: Callable[[Path, DataConfig], Arrays]
    mean: tuple[float, ...] | None = None
    """Published per-channel mean of the training pixels in [0, 1] (None: measured on the training split)."""
    std: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Images:
    """One split, ready for a network: x (N, C, H, W) float32 normalised, y (N,) int64."""

    x: Tensor
    y: Tensor


@dataclass(frozen=True)
class ImageData:
    """What a run trains and evaluates on."""

    train: Images
    val: Images | None
    test: Images
    n_classes: int
    pad_value: Tensor
    """(C,) the normalised value of a black pixel: what a random crop pads with."""
    source: DataSource

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.train.x.shape[1:]
        return c, h, w

    def to(self, device: torch.device) -> ImageData:
        """The same data on ``device``."""

        def move(split: Images | None) -> Images | None:
            return None if split is None else Images(split.x.to(device), split.y.to(device))

        return dataclasses.replace(self, train=move(self.train), val=move(self.val), test=move(self.test))


# -- readers -------------------------------------------------------------------------------------------
def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzipped): the header's magic number gives the dtype and the rank."""
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:  # not gzip, or cut short
        raise DataError(f"{path}: cannot be read as a gzipped IDX file ({err})") from None
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header (truncated file?)")
    zero, dtype_code, ndim = raw[0] * 256 + raw[1], raw[2], raw[3]
    if zero != 0 or dtype_code != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (header {raw[:4].hex()})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path}: header announces {shape} but holds {data.size} values (truncated file?)")
    return data.reshape(shape)


def _read_idx_dataset(how_to_get: str) -> Callable[[Path, DataConfig], Arrays]:
    def read(folder: Path, cfg: DataConfig) -> Arrays:
        arrays = []
        for split in ("train", "t10k"):
            images = read_idx(require_file(folder / f"{split}-images-idx3-ubyte.gz", how_to_get))
            labels = read_idx(require_file(folder / f"{split}-labels-idx1-ubyte.gz", how_to_get))
            if len(images) != len(labels):
                raise DataError(f"{folder}: {len(images)} {split} images but {len(labels)} labels")
            arrays += [images[:, None], labels.astype(np.int64)]  # (N, 1, 28, 28)
        return Arrays(*arrays)

    return read


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays, lists, dicts and strings only: a pickle naming any other global is refused
    instead of being run (a pickle can call any function while it loads)."""

    SAFE: ClassVar[dict[tuple[str, str], object]] = {
        ("numpy.core.multiarray", "_reconstruct"): np.empty(0).__reduce__()[0],
        ("numpy._core.multiarray", "_reconstruct"): np.empty(0).__reduce__()[0],
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes into a protocol-2 pickle
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.SAFE:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: a CIFAR-10 batch holds only arrays")
        return self.SAFE[(module, name)]


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One python batch of CIFAR-10: images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    require_file(path, CIFAR_HOW_TO)
    try:
        with open(path, "rb") as fh:
            batch = _ArraysOnly(fh, encoding="latin1").load()  # the batches were written by Python 2
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise DataError(f"{path} is not a CIFAR-10 python batch ({err}); {CIFAR_HOW_TO}") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path} is not a CIFAR-10 python batch (it holds a {type(batch).__name__}, not a dict)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{path}: a CIFAR-10 batch has the keys 'data' and 'labels', this one {sorted(batch)}")
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
    if (
        labels.shape != (len(data),)
        or labels.dtype.kind not in "iu"
        or (labels.size and not 0 <= labels.min() <= labels.max() <= 9)
    ):
        raise DataError(f"{path}: 'labels' must be {len(data)} integers in 0..9, got {labels.dtype} {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)  # rows hold the red, green, blue planes


def _read_cifar(folder: Path, cfg: DataConfig) -> Arrays:
    train = [read_cifar_batch(folder / name) for name in CIFAR_FILES[:-1]]
    x_test, y_test = read_cifar_batch(folder / CIFAR_FILES[-1])
    return Arrays(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), x_test, y_test)


def _npz_images(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) → (N, C, H, W)."""
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        x = x.transpose(0, 3, 1, 2)
    else:
        raise DataError(f"{path}: '{key}' must be (N, H, W) or (N, H, W, C) images, got shape {x.shape}")
    if x.dtype != np.uint8 and x.dtype.kind != "f":
        raise DataError(f"{path}: '{key}' must hold uint8 (0-255) or float pixels, got {x.dtype}")
    return x


def _npz_labels(path: Path, key: str, y: np.ndarray, n: int) -> np.ndarray:
    if y.dtype.kind not in "iu" or y.shape != (n,):
        raise DataError(f"{path}: '{key}' must be {n} integer labels (one per image), got {y.dtype} {y.shape}")
    if n and y.min() < 0:
        raise DataError(f"{path}: '{key}' holds negative labels; labels are 0..K-1")
    return y.astype(np.int64)


def _read_npz(path: Path, cfg: DataConfig) -> Arrays:
    require_file(path, NPZ_HOW_TO)
    try:
        npz = np.load(path, allow_pickle=False)
        arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise DataError(f"{path} is not a readable .npz of arrays ({err}); {NPZ_HOW_TO}") from None
    missing = [key for key in ("x", "y") if key not in arrays]
    if missing or (("x_test" in arrays) != ("y_test" in arrays)):
        raise DataError(
            f"{path}: needs the arrays x and y (and x_test with y_test, or neither); it has {sorted(arrays)}"
        )
    x = _npz_images(path, "x", arrays["x"])
    y = _npz_labels(path, "y", arrays["y"], len(x))
    if "x_test" in arrays:
        x_test = _npz_images(path, "x_test", arrays["x_test"])
        y_test = _npz_labels(path, "y_test", arrays["y_test"], len(x_test))
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError(f"{path}: x_test images are {x_test.shape[1:]}, x images {x.shape[1:]} (C, H, W)")
        return Arrays(x, y, x_test, y_test)
    if not 0 < cfg.test_fraction < 1:
        raise DataError(
            f"'data.test_fraction' must be in (0, 1) for {path} (it has no x_test), got {cfg.test_fraction}"
        )
    order = np.random.default_rng(0).permutation(len(x))  # fixed: the test set must not change with the run seed
    n_test = max(1, round(cfg.test_fraction * len(x)))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return Arrays(x[train], y[train], x[test], y[test])


DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        "MNIST (shipped IDX files)",
        "data/mnist/raw",
        lambda folder: [folder / name for name in IDX_FILES],
        _read_idx_dataset(
            "it ships in data/mnist/raw (see data/mnist/README.txt); or copy MNIST's four IDX .gz files there"
        ),
        mean=(0.1307,),
        std=(0.3081,),
    ),
    "fashion_mnist": Dataset(
        "Fashion-MNIST (shipped IDX files)",
        "data/fashion_mnist",
        lambda folder: [folder / name for name in IDX_FILES],
        _read_idx_dataset(
            "it ships in data/fashion_mnist (see its README.md); or copy Fashion-MNIST's four IDX .gz files there"
        ),
        mean=(0.2860,),
        std=(0.3530,),
    ),
    "cifar10": Dataset(
        "CIFAR-10 (python batches, provided by the user)",
        "data/cifar10/cifar-10-batches-py",
        lambda folder: [folder / name for name in CIFAR_FILES],
        _read_cifar,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
    ),
    "npz": Dataset("", "", lambda path: [path], _read_npz),
}


def source_path(cfg: DataConfig) -> Path:
    """The folder (or .npz file) a config reads."""
    if cfg.name == "npz" and not cfg.path:
        raise DataError(f"data.name=npz needs data.path: {NPZ_HOW_TO}")
    path = Path(cfg.path or DATASETS[cfg.name].default_path)
    return path if path.is_absolute() else ROOT / path


def source_files(cfg: DataConfig) -> list[Path]:
    """Every file a config reads (present or not)."""
    return DATASETS[cfg.name].files(source_path(cfg))


# -- preparation ---------------------------------------------------------------------------------------
def load(cfg: DataConfig) -> ImageData:
    """Read, limit, split, resize and normalise the dataset of ``cfg``."""
    spec, path = DATASETS[cfg.name], source_path(cfg)
    raw = spec.read(path, cfg)
    x_train, y_train = raw.x_train, raw.y_train
    if cfg.train_limit:
        x_train, y_train = x_train[: cfg.train_limit], y_train[: cfg.train_limit]
    x_test, y_test = raw.x_test, raw.y_test
    if cfg.test_limit:
        x_test, y_test = x_test[: cfg.test_limit], y_test[: cfg.test_limit]
    if not 0 <= cfg.val_size < len(x_train):
        raise DataError(f"'data.val_size' must be in [0, {len(x_train)}) (the training images), got {cfg.val_size}")
    if len(x_test) == 0:
        raise DataError(f"{path}: no test images")
    val_idx = train_idx = None
    if cfg.val_size:
        order = np.random.default_rng(0).permutation(len(x_train))  # fixed: every seed validates on the same images
        val_idx, train_idx = np.sort(order[: cfg.val_size]), np.sort(order[cfg.val_size :])

    pixels_train = _pixels(x_train if train_idx is None else x_train[train_idx], cfg.resize)
    mean, std = spec.mean, spec.std
    if mean is None or std is None:  # your own data: the statistics of its training images, per channel
        mean = tuple(pixels_train.mean(dim=(0, 2, 3)).tolist())
        std = tuple(pixels_train.std(dim=(0, 2, 3)).clamp_min(1e-8).tolist())
    if len(mean) != pixels_train.shape[1]:
        raise DataError(f"{path}: images have {pixels_train.shape[1]} channels, the dataset's statistics {len(mean)}")

    def prepare(pixels: Tensor, labels: np.ndarray) -> Images:
        if len(mean) == 1:  # python scalars: the exact arithmetic of the first MNIST build
            x = (pixels - mean[0]) / std[0]
        else:
            x = (pixels - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
        return Images(x, torch.from_numpy(labels))

    train = prepare(pixels_train, y_train if train_idx is None else y_train[train_idx])
    val = None if val_idx is None else prepare(_pixels(x_train[val_idx], cfg.resize), y_train[val_idx])
    test = prepare(_pixels(x_test, cfg.resize), y_test)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    c, h, w = train.x.shape[1:]
    n_val = 0 if val is None else len(val.y)
    detail = f"{len(train.y):,} train / {n_val:,} val / {len(test.y):,} test images, {c}×{h}×{w}, {n_classes} classes"
    name = spec.label or f"{path.name} (your .npz)"
    source = describe(name, path, files=spec.files(path), detail=detail)
    pad_value = (-torch.tensor(mean) / torch.tensor(std)).float()
    return ImageData(train, val, test, n_classes, pad_value, source)


def _pixels(x: np.ndarray, resize: int) -> Tensor:
    """(N, C, H, W) float32 pixels in [0, 1] (uint8 / 255; floats as given), resized if asked."""
    integer = x.dtype == np.uint8
    pixels = torch.from_numpy(x.astype(np.float32) / 255.0 if integer else x.astype(np.float32))
    if resize and pixels.shape[-2:] != (resize, resize):
        pixels = F.interpolate(pixels, size=(resize, resize), mode="bilinear", align_corners=False)
        if integer:  # an image library resizes 8-bit images into 8-bit images
            pixels = (pixels * 255).round().clamp(0, 255) / 255
    return pixels


def augment(x: Tensor, pad_value: Tensor, gen: torch.Generator) -> Tensor:
    """Random 4-pixel-padded crops and horizontal flips of a batch x (B, C, H, W) (He et al. 2016)."""
    b, c, h, w = x.shape
    padded = pad_value.to(x.device, x.dtype).view(1, c, 1, 1).expand(b, c, h + 8, w + 8).clone()
    padded[:, :, 4:-4, 4:-4] = x
    dy, dx = (torch.randint(0, 9, (b,), generator=gen) for _ in range(2))
    flip = torch.rand(b, generator=gen) < 0.5
    rows = (dy[:, None] + torch.arange(h)).to(x.device)  # (B, H)
    cols = (dx[:, None] + torch.arange(w)).to(x.device)  # (B, W)
    cols = torch.where(flip.to(x.device)[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
