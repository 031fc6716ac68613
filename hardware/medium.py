"""The scattering medium: a fixed complex Gaussian transmission matrix, generated tile by tile from a seed.

An OPU's medium maps the field leaving ``n`` input micromirrors to ``m`` camera pixels through a dense
matrix ``A`` with i.i.d. circular complex Gaussian entries, ``A_kj ~ CN(0, 1)`` (real and imaginary parts
N(0, 1/2); LightOn checks the i.i.d. property on each device, https://docs.lighton.ai/notes/opu.html).
Intensities are measured in units of one mirror's mean speckle intensity, E|A_kj|² = 1.

The matrix is never stored whole: tile (i, j) covers input rows ``[i·TILE_ROWS, (i+1)·TILE_ROWS)`` and
pixels ``[j·TILE_COLS, (j+1)·TILE_COLS)`` and is drawn from its own generator, seeded by
``SeedSequence([seed, 0, i, j])``. Any tile can therefore be regenerated alone, in any order, on any
device, and a projection of any size runs in bounded memory; tiles are cached up to a byte budget.

The reference beam (``n_ref`` mirrors always on in the reference frames) reaches pixel ``j`` as the
field ``c_j = Σ_k A_kj`` over the reference mirrors, which is exactly ``CN(0, n_ref)``: it is drawn
directly, per column tile, from ``SeedSequence([seed, 1, j])``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

TILE_ROWS = 1024
"""Input mirrors per generated tile (part of the matrix's definition: changing it changes the matrix)."""
TILE_COLS = 1024
"""Camera pixels per generated tile (idem)."""


def _generator(*entropy: int) -> torch.Generator:
    """A CPU generator seeded from a tuple of integers without collisions between tuples."""
    state = np.random.SeedSequence([e % 2**63 for e in entropy]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class Medium:
    """A seeded ``(n_inputs, n_outputs)`` complex Gaussian matrix and the field of a reference beam.

    Args:
        n_inputs: signal micromirrors (the error dimension).
        n_outputs: camera pixels (the projection's width).
        n_reference: reference micromirrors; sets the reference field's variance.
        seed: the matrix seed.
        cache_bytes: tiles kept in memory, per device, up to this many bytes (the first ones met).
    """

    def __init__(self, n_inputs: int, n_outputs: int, n_reference: int, seed: int, cache_bytes: float) -> None:
        if min(n_inputs, n_outputs, n_reference) < 1:
            raise ValueError(
                f"a medium needs ≥ 1 input, output and reference, got {n_inputs}, {n_outputs}, {n_reference}"
            )
        self.n_inputs, self.n_outputs, self.n_reference = n_inputs, n_outputs, n_reference
        self.seed, self.cache_bytes = seed, cache_bytes
        self._cache: dict[tuple, Tensor] = {}
        self._cached_bytes: dict[torch.device, int] = {}

    @property
    def row_tiles(self) -> list[tuple[int, int]]:
        """``(start, stop)`` of the input rows of each tile."""
        return [(s, min(s + TILE_ROWS, self.n_inputs)) for s in range(0, self.n_inputs, TILE_ROWS)]

    @property
    def col_tiles(self) -> list[tuple[int, int]]:
        """``(start, stop)`` of the camera pixels of each tile."""
        return [(s, min(s + TILE_COLS, self.n_outputs)) for s in range(0, self.n_outputs, TILE_COLS)]

    def tile(self, i: int, j: int, device: torch.device) -> Tensor:
        """Tile (i, j) as one real ``(rows, 2·cols)`` tensor ``[Re A | Im A]``: ``x @ tile`` is the field."""
        key = ("A", i, j, device)
        if key in self._cache:
            return self._cache[key]
        (r0, r1), (c0, c1) = self.row_tiles[i], self.col_tiles[j]
        tile = torch.randn(r1 - r0, 2 * (c1 - c0), generator=_generator(self.seed, 0, i, j)) * math.sqrt(0.5)
        return self._keep(key, tile.to(device))

    def reference(self, j: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """Real and imaginary parts of the reference field on column tile j, each ``(cols,)``, ~ CN(0, n_ref)."""
        key = ("ref", j, device)
        field = self._cache.get(key)
        if field is None:
            c0, c1 = self.col_tiles[j]
            field = torch.randn(2, c1 - c0, generator=_generator(self.seed, 1, j)) * math.sqrt(self.n_reference / 2)
            field = self._keep(key, field.to(device))
        return field[0], field[1]

    def matrix(self, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The whole matrix and reference field: ``A_re, A_im (n_inputs, n_outputs)``, ``c_re, c_im (n_outputs,)``.

        For analysis and tests of small media; projections use :meth:`tile` and never build it.
        """
        device = torch.device(device)
        cols = [
            torch.cat([self.tile(i, j, device) for i in range(len(self.row_tiles))]) for j in range(len(self.col_tiles))
        ]
        widths = [c1 - c0 for c0, c1 in self.col_tiles]
        a_re = torch.cat([c[:, :w] for c, w in zip(cols, widths, strict=True)], dim=1)
        a_im = torch.cat([c[:, w:] for c, w in zip(cols, widths, strict=True)], dim=1)
        refs = [self.reference(j, device) for j in range(len(self.col_tiles))]
        return a_re, a_im, torch.cat([r for r, _ in refs]), torch.cat([i for _, i in refs])

    def _keep(self, key: tuple, tensor: Tensor) -> Tensor:
        device = tensor.device
        size = tensor.numel() * tensor.element_size()
        if self._cached_bytes.get(device, 0) + size <= self.cache_bytes:
            self._cache[key] = tensor
            self._cached_bytes[device] = self._cached_bytes.get(device, 0) + size
        return tensor
