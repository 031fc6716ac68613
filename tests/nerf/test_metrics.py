"""PSNR and SSIM: closed-form values, and SSIM against a brute-force loop over windows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nerf.metrics import gaussian_window, mse_to_psnr, psnr, ssim


def ssim_brute_force(a: np.ndarray, b: np.ndarray, size: int = 11, sigma: float = 1.5) -> float:
    """SSIM by its definition: Gaussian-weighted statistics of every valid window, every channel."""
    g = gaussian_window(size, sigma).numpy()
    w = np.outer(g, g)
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for ch in range(a.shape[2]):
        for i in range(a.shape[0] - size + 1):
            for j in range(a.shape[1] - size + 1):
                x, y = a[i : i + size, j : j + size, ch], b[i : i + size, j : j + size, ch]
                mx, my = (w * x).sum(), (w * y).sum()
                vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
                cov = (w * (x - mx) * (y - my)).sum()
                values.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_psnr_of_a_known_error() -> None:
    a = torch.zeros(4, 5, 3, dtype=torch.float64)
    assert math.isclose(psnr(a, a + 0.1), 20.0, rel_tol=1e-9)  # mse 0.01 → 20 dB
    assert math.isclose(mse_to_psnr(1e-3), 30.0)
    assert psnr(a, a) == float("inf")


def test_ssim_matches_the_definition() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, (15, 13, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    assert math.isclose(ssim(torch.from_numpy(a), torch.from_numpy(b)), ssim_brute_force(a, b), rel_tol=1e-10)


def test_ssim_properties() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(24, 24, 3, generator=gen)
    assert math.isclose(ssim(a, a), 1.0, rel_tol=1e-12)
    noisy = [(a + s * torch.randn(a.shape, generator=gen)).clamp(0, 1) for s in (0.02, 0.1, 0.3)]
    scores = [ssim(a, n) for n in noisy]
    assert scores[0] > scores[1] > scores[2] > 0
    assert math.isclose(ssim(a, noisy[1]), ssim(noisy[1], a), rel_tol=1e-12)


def test_ssim_rejects_small_or_mismatched_images() -> None:
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.zeros(8, 8, 3), torch.zeros(8, 8, 3))
    with pytest.raises(ValueError, match="same shape"):
        ssim(torch.zeros(12, 12, 3), torch.zeros(12, 13, 3))
