"""Disk-backed helpers of :mod:`recsys.preprocess`: the first pass's parsed rows, and ``.npy`` files written in pieces.

Both keep memory flat whatever the number of rows: the scratch files hold about 160 bytes a row until the
second pass has read them, and an array is appended to its file chunk by chunk under a header that
announces its final shape.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from recsys.reader import N_FIELDS, N_INT, Block


class Scratch:
    """Pass 1's parsed rows, in file order, so that pass 2 does not parse the text again.

    Per row: 39 keys as int32 (categorical values are 32-bit patterns; integer keys fit in int32 by the
    reader's limits), the 39 empty flags packed in 5 bytes, the label and the split. About 160 bytes a row,
    deleted once pass 2 is done.
    """

    FILES = ("keys", "missing", "label", "split")

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @contextlib.contextmanager
    def writer(self) -> Iterator[Callable[[Block, np.ndarray], None]]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            handles = {name: stack.enter_context(open(self.folder / name, "wb")) for name in self.FILES}

            def write(block: Block, split: np.ndarray) -> None:
                handles["keys"].write(block.keys.astype(np.int32).tobytes())  # uint32 values keep their bits
                handles["missing"].write(np.packbits(block.missing, axis=1).tobytes())
                handles["label"].write(block.label.tobytes())
                handles["split"].write(split.tobytes())

            yield write

    def read(self, n: int, chunk: int) -> Iterator[tuple[np.ndarray, ...]]:
        """(keys (m, 39) int64, missing (m, 39) bool, labels, splits) in chunks of ``chunk`` rows."""
        packed = (N_FIELDS + 7) // 8
        with contextlib.ExitStack() as stack:
            files = {name: stack.enter_context(open(self.folder / name, "rb")) for name in self.FILES}
            for start in range(0, n, chunk):
                m = min(chunk, n - start)
                keys = np.fromfile(files["keys"], np.int32, m * N_FIELDS).reshape(m, N_FIELDS).astype(np.int64)
                keys[:, N_INT:] &= 0xFFFFFFFF  # categorical: back from the int32 bit pattern to the unsigned value
                bits = np.fromfile(files["missing"], np.uint8, m * packed).reshape(m, packed)
                missing = np.unpackbits(bits, axis=1, count=N_FIELDS).astype(bool)
                yield keys, missing, np.fromfile(files["label"], np.uint8, m), np.fromfile(files["split"], np.uint8, m)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def npy_writer(path: Path, dtype: type, shape: tuple[int, ...]) -> Iterator[BinaryIO]:
    """An open ``.npy`` file whose header announces ``shape``; the caller appends the rows' bytes in order."""
    with open(path, "wb") as fh:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(fh, header)
        start = fh.tell()
        yield fh
        expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if fh.tell() - start != expected:
            raise RuntimeError(f"{path}: wrote {fh.tell() - start} bytes of data, its header announces {expected}")
