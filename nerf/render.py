"""Volume rendering (NeRF, Section 4 and 5.2): samples along rays, compositing, hierarchical sampling.

All functions work on a batch of R rays at once, S samples each; nothing loops over rays or samples
in Python. The renderer has no parameters: it turns the network's raw output (rgb logits, σ) into
pixels, so under DFA its exact gradient carries ``e = dL/draw`` back to the network output.

A ray's colour is the quadrature of the volume rendering integral over samples t_1 < ... < t_S::

    δ_i = (t_{i+1} - t_i) ‖d‖            (δ_S = 1e10: the last sample absorbs what is left)
    α_i = 1 - exp(-σ_i δ_i)
    T_i = exp(-Σ_{j<i} σ_j δ_j)          (transmittance: the light that reaches sample i)
    C = Σ_i T_i α_i c_i + (1 - Σ_i T_i α_i) · background
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from nerf.cameras import Rays
from nerf.config import SamplingConfig

LAST_DELTA = 1e10

Network = Callable[[Tensor, Tensor], Tensor]
"""(points (R, S, 3), viewdirs (R, 3)) → raw (R, S, 4)."""


@dataclass
class RenderOut:
    """What compositing gives for each ray."""

    rgb: Tensor  # (R, 3)
    depth: Tensor  # (R,)  expected depth Σ w_i t_i (0 where nothing is hit)
    acc: Tensor  # (R,)  opacity Σ w_i
    weights: Tensor  # (R, S)


def stratified_depths(near: float, far: float, n_rays: int, n: int, perturb: bool, lindisp: bool, device) -> Tensor:
    """n depths per ray between near and far: bin centres, or one uniform draw per bin if ``perturb`` (R, n)."""
    edges = torch.linspace(0.0, 1.0, n + 1, device=device)
    u = torch.rand(n_rays, n, device=device) if perturb else torch.full((n_rays, n), 0.5, device=device)
    s = edges[:-1] + u * (edges[1:] - edges[:-1])  # (R, n) in [0, 1)
    if lindisp:  # linear in disparity 1/t
        return 1.0 / (1.0 / near * (1.0 - s) + 1.0 / far * s)
    return near * (1.0 - s) + far * s


def importance_depths(bins: Tensor, weights: Tensor, n: int, deterministic: bool) -> Tensor:
    """Draw n depths per ray from the piecewise-constant pdf of ``weights`` over ``bins`` (inverse CDF).

    Args:
        bins: (R, B + 1) bin edges (the mid-points between coarse samples).
        weights: (R, B) non-negative mass of each bin (the coarse weights; not differentiated).
        deterministic: evenly spaced quantiles instead of uniform draws (evaluation).
    Returns:
        (R, n) depths.
    """
    weights = weights + 1e-5  # no empty pdf
    pdf = weights / weights.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)], -1)  # (R, B + 1)
    if deterministic:
        u = torch.linspace(0.0, 1.0, n, device=bins.device).expand(bins.shape[0], n)
    else:
        u = torch.rand(bins.shape[0], n, device=bins.device)
    u = u.contiguous()
    above = torch.searchsorted(cdf, u, right=True).clamp(max=cdf.shape[-1] - 1)  # (R, n)
    below = (above - 1).clamp(min=0)
    cdf_lo, cdf_hi = cdf.gather(-1, below), cdf.gather(-1, above)
    bin_lo, bin_hi = bins.gather(-1, below), bins.gather(-1, above)
    frac = ((u - cdf_lo) / (cdf_hi - cdf_lo).clamp_min(1e-12)).clamp(0.0, 1.0)  # position inside the bin
    return bin_lo + frac * (bin_hi - bin_lo)


def composite(raw: Tensor, depths: Tensor, directions: Tensor, background: float, noise_std: float = 0.0) -> RenderOut:
    """Alpha-composite raw samples along each ray.

    Args:
        raw: (R, S, 4) network output: rgb logits (sigmoid → colour) and σ (ReLU → density).
        depths: (R, S) sorted sample depths t_i.
        directions: (R, 3) ray directions (δ is measured in units of ‖d‖).
        background: colour seen where the ray is not absorbed (1 white, 0 black).
        noise_std: Gaussian noise added to σ before the ReLU (training regulariser for real scenes).
    """
    deltas = torch.cat([depths[:, 1:] - depths[:, :-1], torch.full_like(depths[:, :1], LAST_DELTA)], -1)
    deltas = deltas * directions.norm(dim=-1, keepdim=True)  # (R, S)
    sigma_raw = raw[..., 3]
    if noise_std > 0:
        sigma_raw = sigma_raw + noise_std * torch.randn_like(sigma_raw)
    optical_depth = F.relu(sigma_raw) * deltas  # σ_i δ_i
    alpha = 1.0 - torch.exp(-optical_depth)
    # Σ_{j<i} σ_j δ_j as an exclusive sum (cumsum - σδ would cancel catastrophically against δ_S = 1e10)
    before = torch.cat([torch.zeros_like(optical_depth[:, :1]), torch.cumsum(optical_depth[:, :-1], -1)], -1)
    weights = alpha * torch.exp(-before)  # T_i α_i, (R, S)
    colour = torch.sigmoid(raw[..., :3])
    acc = weights.sum(-1)
    rgb = (weights[..., None] * colour).sum(-2) + background * (1.0 - acc[..., None])
    return RenderOut(rgb=rgb, depth=(weights * depths).sum(-1), acc=acc, weights=weights)


def render_rays(
    coarse: Network,
    fine: Network | None,
    rays: Rays,
    near: float,
    far: float,
    cfg: SamplingConfig,
    background: float,
    train: bool,
) -> tuple[RenderOut, RenderOut | None]:
    """Render a batch of rays with the coarse network and, if there is one, the fine network.

    The fine network sees the coarse samples plus ``cfg.fine`` samples drawn where the coarse weights
    put mass (NeRF's hierarchical sampling); the draw is not differentiated.
    """
    perturb = train and cfg.perturb
    noise = cfg.raw_noise_std if train else 0.0
    o, d = rays.origins, rays.directions
    z = stratified_depths(near, far, len(rays), cfg.coarse, perturb, cfg.lindisp, o.device)  # (R, Sc)
    raw = coarse(o[:, None] + z[..., None] * d[:, None], rays.viewdirs)  # (R, Sc, 4)
    out_coarse = composite(raw, z, d, background, noise)
    if fine is None or cfg.fine == 0:
        return out_coarse, None
    mids = 0.5 * (z[:, 1:] + z[:, :-1])  # (R, Sc - 1) edges of the Sc - 2 inner bins
    extra = importance_depths(mids, out_coarse.weights[:, 1:-1].detach(), cfg.fine, deterministic=not perturb)
    z_all, _ = torch.sort(torch.cat([z, extra.detach()], -1), -1)  # (R, Sc + Sf)
    raw = fine(o[:, None] + z_all[..., None] * d[:, None], rays.viewdirs)
    return out_coarse, composite(raw, z_all, d, background, noise)
