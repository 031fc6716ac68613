"""Fixed random feedback matrices: the ``B`` of DFA, behind one small interface.

A :class:`Projector` maps the global error ``e`` of shape ``(N, d_err)`` to one signal per feedback
point, in ONE matrix product. The default (the authors' choice) is a single matrix shared by all
points, point ``l`` reading the first ``d_l`` columns; ``independent`` concatenates one matrix per
point. ``B`` is a buffer: it is saved in checkpoints and never seen by the optimizer.

Other projectors (the optical emulator in ``hardware/``) implement the same ``forward`` contract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class ProjectorConfig:
    """How the fixed feedback matrix is drawn."""

    layout: Literal["shared", "independent"] = "shared"
    """``shared``: one (d_err, max d_l) matrix, each point takes its first d_l columns (the authors');
    ``independent``: a separate matrix per point."""
    dist: Literal["uniform", "gaussian"] = "uniform"
    """Entries uniform in [-1, 1) or standard normal, then multiplied by ``scale / sqrt(d_out)``."""
    scale: float = 1.0
    """Extra gain on B; the error's own magnitude (dL/dy) sets the signal's scale."""
    seed: int = 0
    """Seed of B, independent of the run seed so that B can be held fixed across seeds if wanted;
    the run adds its own seed to it (see :func:`common.feedback.Feedback`)."""


class Projector(nn.Module):
    """Maps ``e: (N, d_err)`` to ``(N, width)``: the signals of all points in one product.

    Subclasses implement ``forward``; the layout (shared or independent columns) is handled here.
    """

    def __init__(self, d_err: int, dims: tuple[int, ...], layout: str) -> None:
        super().__init__()
        if layout not in ("shared", "independent"):
            raise ValueError(f"feedback.projector.layout must be 'shared' or 'independent', got {layout!r}")
        self.d_err, self.dims, self.layout = d_err, tuple(dims), layout

    @property
    def width(self) -> int:
        """Columns produced by ``forward``: max d_l when shared, sum d_l when independent."""
        return max(self.dims) if self.layout == "shared" else sum(self.dims)

    def split(self, signal: Tensor) -> list[Tensor]:
        """Cut the output of ``forward`` into one ``(N, d_l)`` block per point."""
        if self.layout == "shared":
            return [signal[:, :d] for d in self.dims]
        return list(torch.split(signal, self.dims, dim=1))


class RandomProjector(Projector):
    """Digital DFA feedback: a seeded random real matrix ``B`` and one ``e @ B`` per backward."""

    def __init__(self, d_err: int, dims: tuple[int, ...], cfg: ProjectorConfig, seed: int) -> None:
        super().__init__(d_err, dims, cfg.layout)
        width = self.width
        gen = torch.Generator().manual_seed(seed)
        if cfg.dist == "uniform":
            matrix = torch.rand(d_err, width, generator=gen) * 2 - 1
        else:
            matrix = torch.randn(d_err, width, generator=gen)
        # The authors scale by 1/sqrt(width) so that signal norms do not grow with the layer width.
        self.register_buffer("B", matrix * (cfg.scale / math.sqrt(width)))

    def forward(self, e: Tensor) -> Tensor:  # (N, d_err) -> (N, width)
        # Under bf16 autocast e arrives in bf16. Casting B (d_err × width) on each call is a few microseconds,
        # negligible next to the (N × width) product, so no cached copy of B is kept (it could go stale).
        return e @ self.B.to(e.dtype)
