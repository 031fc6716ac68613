"""The image formats the vision domain reads: CIFAR-10's python batches, your own .npz, and what is done to the
images (random crops and flips). Bad files are refused with the file's name and what to do."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from common.paths import DataError, DataMissingError
from tests.vision.conftest import write_cifar, write_npz
from vision.config import DataConfig
from vision.data import augment, load, read_cifar_batch


def _python2_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """A CIFAR-10 batch as Python 2's cPickle wrote the originals (protocol 2: str keys and raw bytes as
    BINSTRING, numpy.core.multiarray._reconstruct), byte by byte."""

    def string(text: bytes) -> bytes:
        return b"U" + bytes([len(text)]) + text if len(text) < 256 else b"T" + struct.pack("<i", len(text)) + text

    dtype = (
        b"cnumpy\ndtype\n"
        + string(b"u1")
        + b"K\x00K\x01\x87R(K\x03"
        + string(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    )
    shape = b"M" + struct.pack("<H", data.shape[0]) + b"M" + struct.pack("<H", data.shape[1]) + b"\x86"
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + string(b"b") + b"\x87R"
        b"(K\x01" + shape + dtype + b"\x89" + string(data.tobytes()) + b"tb"
    )
    items = b"".join(b"K" + bytes([v]) for v in labels)
    return b"\x80\x02}(" + string(b"data") + array + string(b"labels") + b"](" + items + b"eu."


def test_cifar_batches_written_by_python2_are_read(tmp_path: Path) -> None:
    data = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3072).astype(np.uint8)
    (tmp_path / "batch").write_bytes(_python2_batch(data, [3, 9]))
    x, y = read_cifar_batch(tmp_path / "batch")
    assert x.shape == (2, 3, 32, 32) and y.tolist() == [3, 9]
    assert np.array_equal(x[1, 2].ravel(), data[1, 2048:])  # rows are the red, green and blue planes


def test_cifar10_folder_loads_with_validation_and_normalisation(cifar_dir: Path) -> None:
    data = load(DataConfig(name="cifar10", path=str(cifar_dir), val_size=8))
    assert data.shape == (3, 32, 32) and data.n_classes == 10
    assert (len(data.train.y), len(data.val.y), len(data.test.y)) == (32, 8, 8)
    assert data.source.name.startswith("CIFAR-10") and data.source.bytes > 6 * 8 * 3072


def test_missing_cifar10_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataMissingError, match="data_batch_1(.|\n)*cifar-10-python.tar.gz"):
        load(DataConfig(name="cifar10", path=str(tmp_path)))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (pickle.dumps([1, 2, 3], protocol=2), "not a dict"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2), "keys 'data' and 'labels'"),
        (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2), "shape \\(N, 3072\\)"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, protocol=2), "uint8"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, protocol=2), "integers in 0..9"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, protocol=2), "integers in 0..9"),
        (b"\x80\x02}q\x00(U\x04data", "not a CIFAR-10 python batch"),  # cut short
        (b"not a pickle at all", "not a CIFAR-10 python batch"),
    ],
    ids=["list", "no-labels", "bad-shape", "float-pixels", "label-10", "label-count", "truncated", "garbage"],
)
def test_malformed_cifar_batch_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    folder = write_cifar(tmp_path / "cifar")
    (folder / "data_batch_3").write_bytes(content)
    with pytest.raises(DataError, match=f"data_batch_3(.|\n)*{message}"):
        load(DataConfig(name="cifar10", path=str(folder)))


class _Exploit:
    def __reduce__(self):
        return (print, ("a pickle may run anything",))


def test_a_cifar_batch_that_would_run_code_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "batch").write_bytes(pickle.dumps({"data": _Exploit(), "labels": []}, protocol=2))
    with pytest.raises(DataError, match="refused to load (__builtin__|builtins).print"):
        read_cifar_batch(tmp_path / "batch")
    assert "a pickle may run anything" not in capsys.readouterr().out


def test_npz_images_in_every_layout(tmp_path: Path) -> None:
    gray = load(
        DataConfig(name="npz", path=str(write_npz(tmp_path / "g.npz", n=50, shape=(12, 10))), test_fraction=0.2)
    )
    assert gray.shape == (1, 12, 10) and (len(gray.train.y), len(gray.test.y)) == (40, 10)
    rgb = load(DataConfig(name="npz", path=str(write_npz(tmp_path / "c.npz", shape=(8, 8, 3))), resize=16))
    assert rgb.shape == (3, 16, 16)
    mean = rgb.train.x.mean(dim=(0, 2, 3))  # your own data: normalised by its own training statistics
    torch.testing.assert_close(mean, torch.zeros(3), atol=1e-5, rtol=0)
    rng = np.random.default_rng(1)
    x, x_test = rng.random((20, 6, 6)).astype(np.float32), rng.random((5, 6, 6)).astype(np.float32)
    np.savez(tmp_path / "split.npz", x=x, y=np.arange(20) % 3, x_test=x_test, y_test=np.arange(5) % 3)
    split = load(DataConfig(name="npz", path=str(tmp_path / "split.npz")))
    assert (len(split.train.y), len(split.test.y), split.n_classes) == (20, 5, 3)
    assert split.source.name == "split.npz (your .npz)" and len(split.source.sha256) == 12


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(4, int)}, "needs the arrays x and y"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(3, int)}, "'y' must be 4 integer labels"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(4)}, "'y' must be 4 integer labels"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": -np.ones(4, int)}, "negative labels"),
        ({"x": np.zeros((4, 64), np.uint8), "y": np.zeros(4, int)}, "\\(N, H, W\\) or \\(N, H, W, C\\)"),
        ({"x": np.zeros((4, 8, 8), bool), "y": np.zeros(4, int)}, "uint8 \\(0-255\\) or float"),
        (
            {"x": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(4, int), "x_test": np.zeros((2, 8, 8))},
            "x_test with y_test",
        ),
        (
            {
                "x": np.zeros((4, 8, 8), np.uint8),
                "y": np.zeros(4, int),
                "x_test": np.zeros((2, 9, 9)),
                "y_test": np.zeros(2, int),
            },
            "x_test images are",
        ),
    ],
    ids=["no-x", "length", "float-labels", "negative", "flat", "bool", "half-test", "test-shape"],
)
def test_malformed_npz_is_named(tmp_path: Path, arrays: dict, message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=f"bad.npz(.|\n)*{message}"):
        load(DataConfig(name="npz", path=str(tmp_path / "bad.npz")))


def test_npz_that_is_not_an_npz_or_is_absent_or_unnamed(tmp_path: Path) -> None:
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DataError, match="text.npz is not a readable .npz"):
        load(DataConfig(name="npz", path=str(tmp_path / "text.npz")))
    with pytest.raises(DataMissingError, match="absent.npz"):
        load(DataConfig(name="npz", path=str(tmp_path / "absent.npz")))
    with pytest.raises(DataError, match="data.name=npz needs data.path"):
        load(DataConfig(name="npz"))
    with pytest.raises(DataError, match="'data.val_size' must be in \\[0, 32\\)"):
        load(DataConfig(name="npz", path=str(write_npz(tmp_path / "ok.npz")), val_size=32))


def test_augment_crops_a_padded_window_and_flips_half(tmp_path: Path) -> None:
    x = torch.randn(64, 2, 5, 5)
    pad_value = torch.tensor([-1.5, 2.5])
    out = augment(x, pad_value, torch.Generator().manual_seed(0))
    padded = pad_value.view(1, 2, 1, 1).expand(64, 2, 13, 13).clone()
    padded[:, :, 4:-4, 4:-4] = x
    flips = 0
    for image, source in zip(out, padded, strict=True):  # brute force: which window (and flip) is it?
        windows = [(flip, dy, dx) for flip in (False, True) for dy in range(9) for dx in range(9)]
        found = [w for w in windows if torch.equal(image, _window(source, *w))]
        assert found, "every output is a padded 5×5 window, maybe flipped"
        flips += found[0][0]
    assert 16 < flips < 48


def _window(source: torch.Tensor, flip: bool, dy: int, dx: int) -> torch.Tensor:
    crop = source[:, dy : dy + 5, dx : dx + 5]
    return crop.flip(-1) if flip else crop
