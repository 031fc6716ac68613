"""An emulated optical processing unit (OPU) used as the DFA projector of ``feedback.kind=optical``.

The device (LightOn's OPU; Launay et al. 2020, arXiv:2012.06373; Brossollet et al. 2021,
arXiv:2107.11814): a laser lights a binary micromirror array (DMD), the light crosses a scattering medium,
a camera records the speckle's intensity. It computes ``|x A|²`` for binary ``x`` and a fixed complex
Gaussian ``A`` (:mod:`hardware.medium`), quantized by the camera (:mod:`hardware.camera`). DFA needs a
*linear* projection of a *real* error; the projector gets one in four steps:

1. **Ternarize** each error vector: ``t = sign(e) · [|e| ≥ threshold · max|e|]`` ∈ {−1, 0, +1}^d.
2. **Two binary frames**: ``x⁺ = [t = +1]`` and ``x⁻ = [t = −1]``, so that ``t = x⁺ − x⁻``.
3. **Interference** with a fixed reference beam ``r`` (extra mirrors always on): from the frames
   ``x + r`` and ``x``, ``|(x + r) A|² − |x A|² − |r A|² = 2 Re(conj(c) ⊙ x A)`` with ``c = r A``; the
   ``|c|²`` term cancels between x⁺ and x⁻, so four frames give ``t @ M`` with the fixed real matrix
   ``M_kj = 2 Re(conj(c_j) A_kj)`` — a valid DFA feedback matrix (entries of variance ``2 n_ref``).
4. **Scale back.** Ternarization discards magnitudes, so each vector's result is multiplied by
   ``α = <e, t> / <t, t>`` (the mean |e_i| over the kept components: the least-squares scale that makes
   ``α t`` closest to ``e``), and ``M`` is normalised to the entry variance of the digital ``B`` the
   feedback config describes (``dist``: uniform 1/3 or Gaussian 1, times ``scale² / width``). The result
   approximates ``e @ B_opt``, with the same magnitude as ``kind=dfa`` would produce: the two kinds differ
   only by the device (ternarization, quantization, noise) and the draw of the matrix.

Every step is vectorised over a batch of error vectors and runs on the error's device. See
:mod:`hardware.camera` for the exposure and noise model.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from common.projectors import Projector
from hardware.camera import Readout, read_out, read_out_binary
from hardware.config import OpticalConfig
from hardware.medium import Medium

if TYPE_CHECKING:
    from common.feedback import FeedbackConfig

FRAMES_PER_VECTOR = 4
"""Camera frames per projected error vector: x⁺ + r, x⁺, x⁻ + r, x⁻."""
FUSE_MAX_INPUTS = 32
"""With ``compile``, inputs up to this size compute the field inside the camera kernel (no GEMM)."""
ENTRY_STD = {"uniform": 1 / math.sqrt(3), "gaussian": 1.0}
"""Standard deviation of the digital B's entries before its ``scale / sqrt(width)`` factor."""


def ternarize(e: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    """Ternary code of each error vector and its least-squares scale.

    Args:
        e: ``(N, d)`` errors.
        threshold: relative to each vector's largest |component|, in [0, 1].

    Returns:
        ``t`` ``(N, d)`` in {−1, 0, +1} (all zero where e is zero) and ``α`` ``(N, 1)`` = <e, t>/<t, t> ≥ 0.
    """
    magnitude = e.abs()
    keep = (magnitude >= threshold * magnitude.amax(dim=1, keepdim=True)) & (magnitude > 0)
    t = torch.sign(e) * keep
    kept = keep.sum(dim=1, keepdim=True)
    alpha = (magnitude * keep).sum(dim=1, keepdim=True) / kept.clamp(min=1)
    return t, alpha


@functools.cache
def _kernel(fused: bool, compiled: bool) -> Callable[..., Tensor]:
    kernel = read_out_binary if fused else read_out
    return torch.compile(kernel, dynamic=True) if compiled else kernel


class OpticalProjector(Projector):
    """DFA feedback computed by an emulated OPU: ``forward(e: (N, d_err)) -> (N, width)``.

    Args:
        d_err: error dimension (signal micromirrors).
        dims: widths of the feedback points; the camera reads ``width`` pixels.
        layout: ``shared`` (width = max d_l, each point reads the first d_l pixels) or ``independent``.
        cfg: the device settings.
        seed: the transmission matrix's seed.
        entry_std: target standard deviation of the normalised matrix's entries, before ``1/sqrt(width)``.
    """

    def __init__(
        self,
        d_err: int,
        dims: tuple[int, ...],
        layout: str,
        cfg: OpticalConfig,
        seed: int,
        entry_std: float = ENTRY_STD["uniform"],
    ) -> None:
        super().__init__(d_err, dims, layout)
        cfg.check()
        self.cfg = cfg
        self.n_reference = max(1, round(cfg.reference_ratio * d_err))
        self.medium = Medium(d_err, self.width, self.n_reference, seed, cfg.cache_mb * 2**20)
        self.readout = Readout.from_config(cfg.camera, reference_intensity=self.n_reference)
        # counts → 2 Re(conj(c) F) → unit-variance entries → the digital B's entry scale.
        self.output_scale = entry_std / (self.readout.counts_per_unit * math.sqrt(2 * self.n_reference * self.width))

    @classmethod
    def from_config(cls, cfg: FeedbackConfig, d_err: int, dims: tuple[int, ...], matrix_seed: int) -> OpticalProjector:
        """The projector of ``feedback.kind=optical``: ``cfg.optical`` holds an :class:`OpticalConfig`;
        ``cfg.projector`` gives the layout and the magnitude (``dist``, ``scale``) to match."""
        optical = OpticalConfig.parse(cfg.optical)
        entry_std = ENTRY_STD[cfg.projector.dist] * cfg.projector.scale
        return cls(d_err, dims, cfg.projector.layout, optical, matrix_seed, entry_std)

    @torch.no_grad()
    def forward(self, e: Tensor) -> Tensor:  # (N, d_err) -> (N, width)
        with torch.autocast(e.device.type, enabled=False):
            e32 = e.float()
            t, alpha = ternarize(e32, self.cfg.threshold)
            counts = self.project_ternary(t)
            return (counts * (alpha * self.output_scale)).to(e.dtype)

    def project_ternary(self, t: Tensor) -> Tensor:
        """Camera counts recovered for ternary inputs ``t`` ``(N, d_err)``: ≈ ``t @ M`` × counts per unit."""
        n, device = t.shape[0], t.device
        frames = torch.stack([(t > 0), (t < 0)]).float()  # (2, N, d): x⁺, x⁻
        out = torch.empty(n, self.width, device=device)
        single_row_tile = len(self.medium.row_tiles) == 1
        fused = self.cfg.compile and single_row_tile and self.d_err <= FUSE_MAX_INPUTS
        kernel = _kernel(fused, self.cfg.compile)
        for j, (c0, c1) in enumerate(self.medium.col_tiles):
            ref_re, ref_im = self.medium.reference(j, device)
            step = self._rows_per_chunk(c1 - c0)
            for r0 in range(0, n, step):
                r1 = min(n, r0 + step)
                chunk = frames[:, r0:r1]
                noise = self.readout.noise((2, 2, r1 - r0, c1 - c0), device)  # (without/with r, x⁺/x⁻, n, cols)
                field_input = (chunk, self.medium.tile(0, j, device)) if fused else (self._field(chunk, j),)
                out[r0:r1, c0:c1] = kernel(*field_input, ref_re, ref_im, self.readout, noise)
        return out

    def _field(self, frames: Tensor, j: int) -> Tensor:
        """``(2, n, 2·cols)`` field ``[Re | Im]`` of binary frames on column tile j, summed over row tiles."""
        field = None
        for i, (a, b) in enumerate(self.medium.row_tiles):
            part = frames[..., a:b] @ self.medium.tile(i, j, frames.device)
            field = part if field is None else field.add_(part)
        return field

    def effective_matrix(self, device: torch.device | str = "cpu") -> Tensor:
        """``(d_err, width)``: the matrix an ideal camera applies, ``forward(e) = α t @ B`` (tests, analysis)."""
        a_re, a_im, c_re, c_im = self.medium.matrix(device)
        interference = 2 * (c_re * a_re + c_im * a_im)  # 2 Re(conj(c) ⊙ A)
        return interference * (self.output_scale * self.readout.counts_per_unit)

    def _rows_per_chunk(self, cols: int) -> int:
        # Per error vector: two frames × ([Re|Im] field + ~6 pixel-sized temporaries + 2 noise draws) × 4 bytes.
        bytes_per_vector = 2 * (2 * cols + 6 * cols + 2 * cols) * 4 + 2 * self.d_err * 4
        return max(1, int(self.cfg.chunk_mb * 2**20 // bytes_per_vector))

    def extra_repr(self) -> str:
        cam = self.cfg.camera
        return (
            f"d_err={self.d_err}, width={self.width}, reference={self.n_reference}, threshold={self.cfg.threshold}, "
            f"bits={cam.bits}, shot_noise={cam.shot_noise}, read_noise={cam.read_noise}"
        )
