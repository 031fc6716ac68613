"""Vision networks: a chain of blocks, a feedback point after every block, then the output layer.

* ``mlp`` — fully connected, as in Nøkland 2016 ("Direct Feedback Alignment Provides Learning in Deep
  Neural Networks"): blocks Linear → tanh (or ReLU); the head is the last Linear.
* ``lenet`` — LeNet-5 (LeCun et al. 1998) as BioTorch benchmarks it on MNIST (Sanfiz & Akrout 2021,
  ``le_net_mnist``), for 32 × 32 inputs: conv 5×5 (6) → ReLU → max-pool | conv 5×5 (16) → ReLU → max-pool |
  conv 5×5 (120) → ReLU | fc 84 → ReLU | fc → classes.
* ``lenet_cifar`` — BioTorch's CIFAR LeNet (``le_net_cifar``): conv 3×3 (32) → ReLU → max-pool | conv 3×3 (64)
  → ReLU → max-pool | conv 3×3 (128) → ReLU → global average | fc 256 → ReLU | fc → classes.
* ``resnet`` — He et al. 2016 ("Deep Residual Learning for Image Recognition", Section 4.2), the CIFAR form:
  conv 3×3 (16) → BN → ReLU | 3 stages of n basic blocks with 16, 32, 64 channels (the first block of stages
  2 and 3 halves the resolution; its shortcut subsamples and pads the new channels with zeros: option A) |
  global average → fc. ``model.depth`` = 6n + 2 (ResNet-20: n = 3; ResNet-56: n = 9).

Every block ends at a feedback point. A conv block's point is its whole C×H×W output, flattened, because
the core's points are (samples, features): under dfa it receives the error projected to all C·H·W values,
by the one projection shared with every other point. The fa family swaps each conv and linear layer for
its :mod:`common.fa` counterpart (batch norm learns as usual); bp, dfa, shallow and optical keep torch's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.config import ConfigError
from common.fa import FeedbackWeight, conv2d, linear
from common.feedback import Feedback, FeedbackConfig
from vision.config import ModelConfig

Shape = tuple[int, int, int]  # (C, H, W) of one input image
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class FeedbackNet(nn.Module):
    """x (B, C, H, W) → blocks, a feedback point after each → head → logits (B, classes)."""

    def __init__(
        self,
        blocks: list[nn.Module],
        head: nn.Module,
        feedback: FeedbackConfig,
        dims: list[int],
        n_classes: int,
        seed: int,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.head = head
        self.fb = Feedback(feedback, d_err=n_classes, dims=dims, seed=seed)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            h = block(x)  # (B, C, H, W) or (B, d)
            x = self.fb.point(h.flatten(1)).view_as(h)  # the point is (B, C·H·W); the next block sees its shape
        return self.fb.output(self.head(x))  # (B, classes)


def output_dims(blocks: list[nn.Module], shape: Shape) -> list[int]:
    """The feature count of each block's output for one (C, H, W) input, found by running the blocks once
    (in eval mode, under a forked random state: building a model must not touch batch-norm statistics or
    the random stream, which brsf layers draw from in their forward pass)."""
    x, dims = torch.zeros(1, *shape), []
    modes = [block.training for block in blocks]
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        for block in blocks:
            block.eval()
            x = block(x)
            dims.append(x[0].numel())
    for block, mode in zip(blocks, modes, strict=True):
        block.train(mode)
    return dims


def mlp(cfg: ModelConfig, kind: str, shape: Shape, n_classes: int) -> tuple[list[nn.Module], nn.Module]:
    widths = (math.prod(shape), *cfg.hidden)
    blocks: list[nn.Module] = [
        nn.Sequential(nn.Flatten(), linear(d_in, d_out, kind), ACTIVATIONS[cfg.activation]())
        for d_in, d_out in itertools.pairwise(widths)
    ]
    return blocks, linear(widths[-1], n_classes, kind)


def _lenet(channels: tuple[int, int, int], kernel: int, fc: int, global_pool: bool, min_size: int) -> Callable:
    """LeNet-style nets: three conv blocks (max-pool after the first two), one hidden fc block, the head."""

    def build(cfg: ModelConfig, kind: str, shape: Shape, n_classes: int) -> tuple[list[nn.Module], nn.Module]:
        if min(shape[1:]) < min_size:
            raise ConfigError(
                f"model.name={cfg.name} needs images of at least {min_size}×{min_size}, "
                f"got {shape[1]}×{shape[2]} (set data.resize)"
            )
        c1, c2, c3 = channels
        convs: list[nn.Module] = [
            nn.Sequential(conv2d(shape[0], c1, kernel, kind), nn.ReLU(), nn.MaxPool2d(2)),
            nn.Sequential(conv2d(c1, c2, kernel, kind), nn.ReLU(), nn.MaxPool2d(2)),
            nn.Sequential(conv2d(c2, c3, kernel, kind), nn.ReLU(), *([nn.AdaptiveAvgPool2d(1)] if global_pool else [])),
        ]
        flat = output_dims(convs, shape)[-1]
        hidden = nn.Sequential(nn.Flatten(), linear(flat, fc, kind), nn.ReLU())
        return [*convs, hidden], linear(fc, n_classes, kind)

    return build


class BasicBlock(nn.Module):
    """conv 3×3 → BN → ReLU → conv 3×3 → BN, plus the shortcut, → ReLU (He et al. 2016, option A)."""

    def __init__(self, c_in: int, c_out: int, stride: int, kind: str) -> None:
        super().__init__()
        self.conv1 = conv2d(c_in, c_out, 3, kind, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = conv2d(c_out, c_out, 3, kind, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.extra = stride, c_out - c_in

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x
        if self.stride != 1 or self.extra:  # parameter-free: subsample, zero channels on both sides
            shortcut = F.pad(
                x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2)
            )
        return F.relu(out + shortcut)


def resnet(cfg: ModelConfig, kind: str, shape: Shape, n_classes: int) -> tuple[list[nn.Module], nn.Module]:
    if cfg.depth < 8 or (cfg.depth - 2) % 6:
        raise ConfigError(f"'model.depth' of a CIFAR ResNet is 6n + 2 (20, 32, 44, 56, 110), got {cfg.depth}")
    n = (cfg.depth - 2) // 6
    blocks: list[nn.Module] = [
        nn.Sequential(conv2d(shape[0], 16, 3, kind, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
    ]
    c_in = 16
    for stage, c_out in enumerate((16, 32, 64)):
        for index in range(n):
            blocks.append(BasicBlock(c_in, c_out, 2 if stage and not index else 1, kind))
            c_in = c_out
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), linear(64, n_classes, kind))
    return blocks, head


MODELS: dict[str, Callable[[ModelConfig, str, Shape, int], tuple[list[nn.Module], nn.Module]]] = {
    "mlp": mlp,
    "lenet": _lenet((6, 16, 120), kernel=5, fc=84, global_pool=False, min_size=32),
    "lenet_cifar": _lenet((32, 64, 128), kernel=3, fc=256, global_pool=True, min_size=18),
    "resnet": resnet,
}
"""model.name → builder(cfg, feedback kind, input (C, H, W), classes) → (blocks, head)."""


def build_model(cfg: ModelConfig, feedback: FeedbackConfig, shape: Shape, n_classes: int, seed: int = 0) -> FeedbackNet:
    """The network of ``cfg`` for ``feedback.kind``, with its feedback points declared."""
    blocks, head = MODELS[cfg.name](cfg, feedback.kind, shape, n_classes)
    model = FeedbackNet(blocks, head, feedback, output_dims(blocks, shape), n_classes, seed)
    if cfg.init == "xavier":
        xavier_(model)
    return model


@torch.no_grad()
def xavier_(model: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for every conv and linear layer; feedback weights on the same
    scale (BioTorch's "xavier" setting)."""
    for layer in model.modules():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            fan_in = layer.weight[0].numel()
            fan_out = (
                layer.weight.shape[0] * layer.weight[0, 0].numel() if layer.weight.dim() > 2 else layer.weight.shape[0]
            )
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            layer.weight.uniform_(-bound, bound)
            if layer.bias is not None:
                layer.bias.zero_()
            if isinstance(layer, FeedbackWeight):
                layer.reset_feedback(bound)
