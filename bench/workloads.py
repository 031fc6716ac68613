"""What ``bench/dfa_speed.py`` times: the project's own models, a fixed random batch, and a loss.

Each workload builds a fresh model for a feedback kind under a fixed seed, so that the BP, DFA and
hook-style DFA copies start from the same weights (and DFA and hook-style share the same ``B``).
The models are imported from their domains, never copied here:

* ``mlp-<width>`` — vision's ``mlp`` (:func:`vision.models.build_model`), 784 → width × (depth - 1) → 10, ReLU,
  cross-entropy;
* ``transformer-macro`` / ``transformer-micro`` — :class:`nlp.models.Transformer` with that placement of
  feedback points, next-token cross-entropy on random token ids;
* ``nerf`` — :class:`nerf.models.NeRF` on random rays, rendered by :func:`nerf.render.composite`,
  photometric MSE against a random image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.feedback import FeedbackConfig
from nerf.config import ModelConfig as NerfModelConfig
from nerf.models import NeRF
from nerf.render import composite, stratified_depths
from nlp.config import ModelConfig as TransformerConfig
from nlp.models import Transformer
from vision.config import ModelConfig as VisionModelConfig
from vision.models import build_model

SEED = 0
N_INPUTS, N_CLASSES = 784, 10  # MNIST-shaped: 28 × 28 pixels, 10 classes


class Workload(Protocol):
    """A model family at one size: build it for a feedback kind, draw its batch, compute its loss."""

    name: str

    @property
    def size(self) -> dict[str, int]: ...

    def build(self, kind: str) -> nn.Module: ...

    def batch(self, device: torch.device) -> tuple[Tensor, ...]: ...

    def loss(self, model: nn.Module, batch: tuple[Tensor, ...]) -> Tensor: ...


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(SEED)


@dataclass(frozen=True)
class MLPWorkload:
    """The vision MLP with ``depth`` linear layers of ``width`` (a feedback point after each hidden ReLU)."""

    width: int
    batch_size: int
    depth: int = 10

    @property
    def name(self) -> str:
        return f"mlp-{self.width}"

    @property
    def size(self) -> dict[str, int]:
        return {"batch": self.batch_size, "width": self.width, "depth": self.depth}

    def build(self, kind: str) -> nn.Module:
        torch.manual_seed(SEED)
        cfg = VisionModelConfig(hidden=(self.width,) * (self.depth - 1), activation="relu")
        return build_model(cfg, FeedbackConfig(kind=kind), (1, 28, 28), N_CLASSES, seed=SEED)

    def batch(self, device: torch.device) -> tuple[Tensor, ...]:
        gen = _generator()
        x = torch.randn(self.batch_size, N_INPUTS, generator=gen)  # (N, 784); never requires grad
        y = torch.randint(0, N_CLASSES, (self.batch_size,), generator=gen)  # (N,)
        return x.to(device), y.to(device)

    def loss(self, model: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y)


@dataclass(frozen=True)
class TransformerWorkload:
    """The nlp Transformer language model (post-LN blocks, vocabulary head on its true gradient)."""

    placement: str
    batch_size: int
    seq_len: int
    vocab_size: int
    cfg: TransformerConfig

    @property
    def name(self) -> str:
        return f"transformer-{self.placement}"

    @property
    def size(self) -> dict[str, int]:
        c = self.cfg
        return {"batch": self.batch_size, "seq_len": self.seq_len, "vocab": self.vocab_size, "n_layer": c.n_layer,
                "d_model": c.d_model, "d_ff": c.d_ff, "n_head": c.n_head}  # fmt: skip

    def build(self, kind: str) -> nn.Module:
        torch.manual_seed(SEED)
        cfg = replace(self.cfg, placement=self.placement)
        return Transformer(cfg, self.vocab_size, FeedbackConfig(kind=kind), seed=SEED)

    def batch(self, device: torch.device) -> tuple[Tensor, ...]:
        tokens = torch.randint(0, self.vocab_size, (self.batch_size, self.seq_len + 1), generator=_generator())
        return tokens[:, :-1].to(device), tokens[:, 1:].contiguous().to(device)  # (B, T) inputs, next-token targets

    def loss(self, model: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
        idx, targets = batch
        logits = model(idx)  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


@dataclass(frozen=True)
class NerfWorkload:
    """The NeRF MLP on ``rays`` × ``samples`` points, rendered and compared with a random image."""

    rays: int
    samples: int
    cfg: NerfModelConfig

    name = "nerf"

    @property
    def size(self) -> dict[str, int]:
        return {"rays": self.rays, "samples": self.samples, "depth": self.cfg.depth, "width": self.cfg.width}

    def build(self, kind: str) -> nn.Module:
        torch.manual_seed(SEED)
        return NeRF(self.cfg, FeedbackConfig(kind=kind), seed=SEED)

    def batch(self, device: torch.device) -> tuple[Tensor, ...]:
        gen = _generator()
        origins = torch.randn(self.rays, 3, generator=gen)
        directions = F.normalize(torch.randn(self.rays, 3, generator=gen), dim=-1)
        target = torch.rand(self.rays, 3, generator=gen)
        depths = stratified_depths(2.0, 6.0, self.rays, self.samples, False, False, "cpu")  # (R, S)
        return tuple(t.to(device) for t in (origins, directions, depths, target))

    def loss(self, model: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
        origins, directions, depths, target = batch
        points = origins[:, None] + depths[..., None] * directions[:, None]  # (R, S, 3)
        raw = model(points, directions)  # (R, S, 4)
        return F.mse_loss(composite(raw, depths, directions, background=1.0).rgb, target)
