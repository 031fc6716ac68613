"""Image quality of rendered views: PSNR and SSIM (as NeRF reports them).

SSIM (Wang et al., "Image Quality Assessment: From Error Visibility to Structural Similarity", IEEE TIP
2004) with the usual constants: an 11 × 11 Gaussian window of σ = 1.5, K1 = 0.01, K2 = 0.03, data range
1, local statistics over 'valid' windows only, averaged over positions and channels (the definition of
``tf.image.ssim``, which NeRF used).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def mse_to_psnr(mse: float | Tensor) -> float:
    """PSNR in dB of an image pair with values in [0, 1] and mean squared error ``mse``."""
    mse = float(mse)
    return float("inf") if mse == 0 else -10.0 * math.log10(mse)


def psnr(a: Tensor, b: Tensor) -> float:
    """PSNR in dB between two images of the same shape with values in [0, 1]."""
    return mse_to_psnr(torch.mean((a.double() - b.double()) ** 2))


def gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    """Normalised 1-D Gaussian (size,) in float64."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(a: Tensor, b: Tensor, window: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> float:
    """Mean SSIM between two (H, W, C) images with values in [0, 1]; H and W must be ≥ ``window``."""
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(f"ssim expects two (H, W, C) images of the same shape, got {tuple(a.shape)}, {tuple(b.shape)}")
    if min(a.shape[:2]) < window:
        raise ValueError(f"ssim needs images of at least {window}×{window} pixels, got {tuple(a.shape[:2])}")
    channels = a.shape[-1]
    g = gaussian_window(window, sigma)
    rows = g.view(1, 1, window, 1).repeat(channels, 1, 1, 1)  # separable filter: columns then rows
    cols = g.view(1, 1, 1, window).repeat(channels, 1, 1, 1)

    def blur(x: Tensor) -> Tensor:  # (1, C, H, W) → (1, C, H - w + 1, W - w + 1)
        return F.conv2d(F.conv2d(x, rows, groups=channels), cols, groups=channels)

    x = a.double().permute(2, 0, 1)[None]
    y = b.double().permute(2, 0, 1)[None]
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = k1**2, k2**2
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return float((num / den).mean())
