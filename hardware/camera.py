"""The camera of the emulated OPU, and the per-pixel read-out of the interference frames.

A pixel receiving intensity ``I`` (units: one mirror's mean speckle intensity) collects
``I · full_well / I_sat`` photo-electrons, where the exposure puts saturation at ``I_sat = saturation ·
n_ref`` (``n_ref`` is the reference beam's mean intensity). Shot noise (Poisson, drawn as a Gaussian of
the same variance) and read noise (Gaussian, electrons RMS) are added; the ADC maps ``[0, full_well]`` to
``[0, 2^bits − 1]``, rounds and clips. ``bits = 0`` is an ideal detector: no rounding, no clipping.

Noise is drawn from torch's global generator on the tensor's device, which the run seeds and checkpoints,
outside the per-pixel kernel (so that a compiled kernel draws exactly what the eager one does).

One DFA projection reads four frames per error vector: ``x⁺ + r``, ``x⁺``, ``x⁻ + r``, ``x⁻`` (``x±`` the
binary frames of the ternarized error, ``r`` the reference mirrors). :func:`read_out` forms
``[Q|F⁺ + c|² − Q|F⁺|²] − [Q|F⁻ + c|² − Q|F⁻|²]``, where ``F± = x± A`` are the fields and ``c = r A`` the
reference field. Without noise and quantization each bracket is ``|c|² + 2 Re(conj(c) ⊙ F±)``, so the
result is ``2 Re(conj(c) ⊙ (x⁺ − x⁻) A)``: a fixed real random matrix applied to the ternary error.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from hardware.config import CameraConfig


@dataclass(frozen=True)
class Readout:
    """The numbers of one exposure setting: intensity → electrons → counts."""

    electrons_per_unit: float
    """Photo-electrons per unit of intensity."""
    counts_per_electron: float
    """ADC gain."""
    top: float
    """Largest count (2^bits − 1); 0 for an ideal detector."""
    shot_noise: bool
    read_noise: float
    """Electrons RMS."""

    @classmethod
    def from_config(cls, cam: CameraConfig, reference_intensity: float) -> Readout:
        """Exposure set so that ``cam.saturation × reference_intensity`` fills the well."""
        saturation_intensity = cam.saturation * reference_intensity
        top = float(2**cam.bits - 1) if cam.bits else 0.0
        counts_full_scale = top if cam.bits else 1.0
        return cls(
            electrons_per_unit=cam.full_well / saturation_intensity,
            counts_per_electron=counts_full_scale / cam.full_well,
            top=top,
            shot_noise=cam.shot_noise,
            read_noise=cam.read_noise,
        )

    @property
    def counts_per_unit(self) -> float:
        """Counts per unit of intensity: the factor between the recovered projection and ``2 Re(conj(c) F)``."""
        return self.electrons_per_unit * self.counts_per_electron

    @property
    def noisy(self) -> bool:
        return self.shot_noise or self.read_noise > 0

    def noise(self, shape: tuple[int, ...], device: torch.device) -> Tensor | None:
        """Standard normal draws for :meth:`detect` (None for a noise-free camera), from the global generator."""
        return torch.randn(shape, device=device) if self.noisy else None

    def detect(self, intensity: Tensor, noise: Tensor | None = None) -> Tensor:
        """Camera counts of a frame of intensities (any shape); ``noise``: standard normals of the same shape.

        Shot noise (variance = electrons) and read noise (variance = read_noise²) are independent
        Gaussians, so one draw of their summed variance adds both.
        """
        electrons = intensity * self.electrons_per_unit
        if noise is not None:
            shot = electrons.clamp(min=0) if self.shot_noise else torch.zeros_like(electrons)
            electrons = electrons + (shot + self.read_noise**2).sqrt() * noise
        counts = electrons * self.counts_per_electron
        if self.top:
            counts = counts.round().clamp(0.0, self.top)
        return counts


def frame_pair(
    f_re: Tensor, f_im: Tensor, ref_re: Tensor, ref_im: Tensor, readout: Readout, noise: Tensor | None
) -> Tensor:
    """``Q|F + c|² − Q|F|²`` of one binary frame with and without the reference (``noise``: (2, ...) or None)."""
    without = readout.detect(f_re * f_re + f_im * f_im, None if noise is None else noise[0])
    with_ref = readout.detect((f_re + ref_re).square() + (f_im + ref_im).square(), None if noise is None else noise[1])
    return with_ref - without


def read_out(field: Tensor, ref_re: Tensor, ref_im: Tensor, readout: Readout, noise: Tensor | None = None) -> Tensor:
    """Counts recovered for one tile of pixels.

    Args:
        field: ``(2, n, 2·cols)``: ``[Re F | Im F]`` of the frames x⁺ (index 0) and x⁻ (index 1).
        ref_re, ref_im: the reference field on these pixels, ``(cols,)`` each.
        readout: the camera.
        noise: ``(2, 2, n, cols)`` standard normals for the frames without (0) and with (1) the reference,
            of x⁺ and x⁻, or None for a noise-free camera (see :meth:`Readout.noise`).

    Returns:
        ``(n, cols)``: ``[Q|F⁺ + c|² − Q|F⁺|²] − [Q|F⁻ + c|² − Q|F⁻|²]`` in counts.
    """
    cols = ref_re.shape[-1]
    pos, neg = (None, None) if noise is None else (noise[:, 0], noise[:, 1])
    y_pos = frame_pair(field[0, :, :cols], field[0, :, cols:], ref_re, ref_im, readout, pos)
    y_neg = frame_pair(field[1, :, :cols], field[1, :, cols:], ref_re, ref_im, readout, neg)
    return y_pos - y_neg


def read_out_binary(
    frames: Tensor, tile: Tensor, ref_re: Tensor, ref_im: Tensor, readout: Readout, noise: Tensor | None = None
) -> Tensor:
    """:func:`read_out` with the field computed in the same kernel (for ``torch.compile`` on small inputs).

    ``frames`` is ``(2, n, d)`` binary and ``tile`` the ``(d, 2·cols)`` medium: each field is a sum over a
    few mirrors, which the compiler fuses with the camera model into one loop over the ``(n, cols)``
    pixels, never writing the field to memory.
    """
    cols = ref_re.shape[-1]
    a_re, a_im = tile[:, :cols], tile[:, cols:]  # (d, cols) each
    pos, neg = (None, None) if noise is None else (noise[:, 0], noise[:, 1])
    ys = []
    for x, frame_noise in ((frames[0], pos), (frames[1], neg)):
        x = x.unsqueeze(-1)  # (n, d, 1)
        ys.append(frame_pair((x * a_re).sum(-2), (x * a_im).sum(-2), ref_re, ref_im, readout, frame_noise))
    return ys[0] - ys[1]
