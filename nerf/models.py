"""The NeRF network (Mildenhall et al., "NeRF: Representing Scenes as Neural Radiance Fields for View
Synthesis", ECCV 2020, Fig. 7), with a DFA feedback point after every hidden ReLU.

    x (63) → [Linear → ReLU → point] × depth (x concatenated again after the skip layers) → h (W)
    h → σ                                     (density head)
    h → feature (W) [→ ReLU → point]          (the authors' DFA model adds the ReLU and its point)
    [feature, d (27)] → Linear → ReLU → point → rgb   (view-dependent colour, width W/2)
    raw = (rgb logits, σ) per sample          → fb.output: DFA's error is dL/draw (d_err = 4)

Inputs are positionally encoded: γ(p) = (p, sin 2^k p, cos 2^k p for k < L), L = 10 for positions and
4 for viewing directions. The frequencies are 2^k, not 2^k π, as in the NeRF code (the paper writes π).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.feedback import Feedback, FeedbackConfig
from nerf.config import ModelConfig

D_ERR = 4  # rgb logits + σ per sample


def encode(x: Tensor, freqs: int) -> Tensor:
    """Positional encoding (..., 3) → (..., 3 + 6·freqs)."""
    scales = 2.0 ** torch.arange(freqs, device=x.device, dtype=x.dtype)  # (L,)
    angles = (x[..., None, :] * scales[:, None]).flatten(-2)  # (..., 3L)
    return torch.cat([x, torch.sin(angles), torch.cos(angles)], -1)


class NeRF(nn.Module):
    """(points (R, S, 3), unit viewing directions (R, 3)) → raw (R, S, 4)."""

    def __init__(self, cfg: ModelConfig, feedback: FeedbackConfig, seed: int = 0):
        super().__init__()
        if cfg.depth < 1 or any(not 0 <= s < cfg.depth - 1 for s in cfg.skips):
            raise ValueError(f"model.skips must lie in [0, depth - 1) = [0, {cfg.depth - 1}), got {cfg.skips}")
        self.cfg = cfg
        d_xyz, d_dir, width = 3 + 6 * cfg.xyz_freqs, 3 + 6 * cfg.dir_freqs, cfg.width
        self.trunk = nn.ModuleList(
            nn.Linear(d_xyz if i == 0 else width + (d_xyz if i - 1 in cfg.skips else 0), width)
            for i in range(cfg.depth)
        )
        self.sigma = nn.Linear(width, 1)
        self.feature = nn.Linear(width, width)
        self.view = nn.Linear(width + d_dir, width // 2)
        self.rgb = nn.Linear(width // 2, 3)
        dims = (width,) * cfg.depth + ((width,) if cfg.feature_relu else ()) + (width // 2,)
        self.fb = Feedback(feedback, d_err=D_ERR, dims=dims, seed=seed)

    def forward(self, points: Tensor, viewdirs: Tensor) -> Tensor:
        n_rays, n_samples, _ = points.shape
        x = encode(points.reshape(-1, 3), self.cfg.xyz_freqs)  # (N, 63), N = R·S
        v = encode(viewdirs, self.cfg.dir_freqs)  # (R, 27)
        v = v[:, None].expand(n_rays, n_samples, v.shape[-1]).reshape(x.shape[0], -1)  # (N, 27)
        h = x
        # ReLUs in place (no second N × W buffer): a linear layer's backward needs its input, not its output.
        for i, layer in enumerate(self.trunk):
            h = self.fb.point(F.relu(layer(h), inplace=True))  # (N, W)
            if i in self.cfg.skips:
                h = torch.cat([x, h], -1)  # (N, 63 + W)
        sigma = self.sigma(h)  # (N, 1)
        feature = self.feature(h)  # (N, W)
        if self.cfg.feature_relu:
            feature = self.fb.point(F.relu(feature, inplace=True))
        h = self.fb.point(F.relu(self.view(torch.cat([feature, v], -1)), inplace=True))  # (N, W/2)
        raw = torch.cat([self.rgb(h), sigma], -1).float()  # (N, 4); float32 under bf16 autocast
        return self.fb.output(raw).view(n_rays, n_samples, D_ERR)


MODELS = {"nerf": NeRF}
