"""Volume rendering against closed forms, and hierarchical sampling against a brute-force inverse CDF."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nerf.cameras import Rays
from nerf.config import SamplingConfig
from nerf.render import composite, importance_depths, render_rays, stratified_depths


def slab_raw(depths: torch.Tensor, start: float, end: float, sigma: float, rgb_logit: float) -> torch.Tensor:
    """Raw samples of a slab of constant density between ``start`` and ``end`` (empty elsewhere)."""
    inside = (depths >= start) & (depths < end)
    raw = torch.full((*depths.shape, 4), rgb_logit, dtype=torch.float64)
    raw[..., 3] = torch.where(inside, sigma, -1.0)  # negative raw σ: zero density after the ReLU
    return raw


@pytest.mark.parametrize("background", [0.0, 1.0])
def test_constant_density_slab_matches_exp_minus_sigma_d(background: float) -> None:
    near, far, n = 2.0, 6.0, 400
    depths = torch.linspace(near, far, n + 1, dtype=torch.float64)[:-1].expand(3, n)  # spacing 0.01
    directions = torch.tensor([[0, 0, -1.0], [0, 0.6, -0.8], [0, 0, -2.0]], dtype=torch.float64)  # ‖d‖ = 1, 1, 2
    sigma, start, end = 0.7, 3.0, 4.5
    out = composite(slab_raw(depths, start, end, sigma, 0.0), depths, directions, background)
    length = (end - start) * directions.norm(dim=-1)  # the path through the slab, in world units
    transmittance = torch.exp(-sigma * length)
    assert torch.allclose(out.acc, 1 - transmittance, atol=1e-10)
    colour = torch.sigmoid(torch.tensor(0.0, dtype=torch.float64))
    assert torch.allclose(out.rgb, (colour * (1 - transmittance) + background * transmittance)[:, None].expand(3, 3))
    # the expected depth of the absorbed light: ∫ t σ e^{-σ(t - a)|d|} |d| dt over the slab
    k = sigma * directions.norm(dim=-1)
    exact = (start + 1 / k) - (end + 1 / k) * torch.exp(-k * (end - start))
    assert torch.allclose(out.depth, exact, atol=0.02)


def test_opaque_surface_stops_the_ray_and_gives_its_depth() -> None:
    depths = torch.linspace(2.0, 6.0, 64).expand(2, 64)
    raw = torch.zeros(2, 64, 4)
    raw[..., 3] = -1.0
    raw[0, 20, 3] = raw[1, 40, 3] = 1e4  # a wall
    raw[0, 30:, 3] = 5.0  # hidden behind the wall: must not matter
    out = composite(raw, depths, torch.tensor([[0, 0, -1.0]] * 2), background=1.0)
    assert torch.allclose(out.acc, torch.ones(2))
    assert torch.allclose(out.depth, torch.stack([depths[0, 20], depths[1, 40]]))
    assert torch.allclose(out.weights.sum(-1), out.acc)


def test_stratified_depths_one_per_bin() -> None:
    torch.manual_seed(0)
    z = stratified_depths(2.0, 6.0, 5, 8, perturb=True, lindisp=False, device="cpu")
    edges = torch.linspace(2.0, 6.0, 9)
    assert ((z >= edges[:-1]) & (z < edges[1:])).all()
    centres = stratified_depths(2.0, 6.0, 1, 8, perturb=False, lindisp=False, device="cpu")
    assert torch.allclose(centres[0], (edges[:-1] + edges[1:]) / 2)
    disp = stratified_depths(2.0, 6.0, 1, 8, perturb=False, lindisp=True, device="cpu")
    assert torch.allclose((1 / disp[0]).diff(), torch.full((7,), (1 / 6 - 1 / 2) / 8))


def test_importance_samples_follow_the_inverse_cdf() -> None:
    gen = torch.Generator().manual_seed(0)
    bins = torch.sort(torch.rand(3, 9, generator=gen, dtype=torch.float64) * 4 + 2, -1).values  # (R, B + 1)
    weights = torch.rand(3, 8, generator=gen, dtype=torch.float64)
    weights[1] = 0.0
    weights[1, 5] = 1.0  # all mass in one bin
    got = importance_depths(bins, weights, 16, deterministic=True)
    u = np.linspace(0, 1, 16)
    for r in range(3):
        w = weights[r].numpy() + 1e-5
        cdf = np.concatenate([[0], np.cumsum(w / w.sum())])
        expected = np.interp(u, cdf, bins[r].numpy())  # brute force: piecewise-linear inverse CDF
        np.testing.assert_allclose(got[r].numpy(), expected, atol=1e-9)
    inner = got[1, 1:-1]  # apart from the two end quantiles that the 1e-5 floor lets out
    assert ((inner >= bins[1, 5]) & (inner <= bins[1, 6])).all()
    random = importance_depths(bins, weights, 1000, deterministic=False)
    assert ((random >= bins[:, :1]) & (random <= bins[:, -1:])).all()


def test_render_rays_samples_coarse_then_fine_and_is_differentiable() -> None:
    seen = []

    def field(points: torch.Tensor, viewdirs: torch.Tensor) -> torch.Tensor:  # a sphere of radius 1
        seen.append(points.shape)
        sigma = 50.0 * (points.norm(dim=-1) < 1.0).float() - 1.0
        return torch.cat([points * scale, sigma[..., None]], -1)

    scale = torch.ones(3, requires_grad=True)
    o = torch.tensor([[0.0, 0.0, 4.0], [0.0, 3.0, 4.0]])
    d = torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]])
    rays = Rays(o, d, d)
    cfg = SamplingConfig(coarse=32, fine=64, perturb=False)
    coarse, fine = render_rays(field, field, rays, 2.0, 6.0, cfg, background=1.0, train=False)
    assert seen == [(2, 32, 3), (2, 96, 3)]
    assert fine.acc[0] > 0.99 and fine.acc[1] < 1e-6  # the second ray misses the sphere
    assert abs(fine.depth[0].item() - 3.0) < abs(coarse.depth[0].item() - 3.0) + 0.02  # surface at depth 3
    fine.rgb.sum().backward()
    assert scale.grad is not None and scale.grad.abs().sum() > 0
