"""Fully connected networks for MNIST, as in Nøkland 2016 ("Direct Feedback Alignment Provides Learning
in Deep Neural Networks"): 784 → hidden... → 10, a feedback point after every hidden activation.

The feedback kind picks the layers: ``nn.Linear`` for bp, dfa, shallow and optical (the core cuts the
graph at the points); :class:`common.fa.FeedbackLinear` for fa, usf, brsf and frsf.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from common.fa import FA_KINDS, FeedbackLinear
from common.feedback import Feedback, FeedbackConfig

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}
N_INPUTS, N_CLASSES = 784, 10


class MLP(nn.Module):
    """x (B, 784) → logits (B, 10)."""

    def __init__(self, hidden: tuple[int, ...], activation: str, feedback: FeedbackConfig, seed: int = 0):
        super().__init__()
        widths = (N_INPUTS, *hidden, N_CLASSES)
        kind = feedback.kind
        self.layers = nn.ModuleList(
            FeedbackLinear(d_in, d_out, kind) if kind in FA_KINDS else nn.Linear(d_in, d_out)
            for d_in, d_out in itertools.pairwise(widths)
        )
        self.act = ACTIVATIONS[activation]
        self.fb = Feedback(feedback, d_err=N_CLASSES, dims=hidden, seed=seed)

    def forward(self, x: Tensor) -> Tensor:
        *hidden_layers, head = self.layers
        h = x
        for layer in hidden_layers:
            h = self.fb.point(self.act(layer(h)))  # (B, d_l)
        return self.fb.output(head(h))  # (B, 10)


MODELS = {"mlp": MLP}
