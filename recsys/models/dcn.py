"""Deep & Cross Network (Wang et al., "Deep & Cross Network for Ad Click Predictions", ADKDD 2017).

    x_0 = flatten(embed(x))                                       (B, F·d)
    x_{l+1} = x_0 (x_l · w_l) + b_l + x_l,  l < L                  cross network
    h = MLP(x_0)                                                  deep network
    logit = head([x_L; h])                                        (B,)

Feedback points, as in the authors' code: the embeddings (they learn from their own DFA signal), every
cross layer but the last, every MLP block, and the stack [x_L; h] (which trains the last cross layer).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from common.feedback import Feedback, FeedbackConfig
from recsys.config import ModelConfig
from recsys.models.layers import MLP, CrossLayer, FieldEmbedding


class DeepCross(nn.Module):
    def __init__(
        self, cfg: ModelConfig, field_dims: tuple[int, ...], dropout: float, feedback: FeedbackConfig, seed: int = 0
    ):
        super().__init__()
        d = len(field_dims) * cfg.embed_dim
        self.embedding = FieldEmbedding(field_dims, cfg.embed_dim)
        self.cross = nn.ModuleList(CrossLayer(d) for _ in range(cfg.cross_layers))
        self.mlp = MLP(d, cfg.mlp_dims, dropout)
        self.head = nn.Linear(d + cfg.mlp_dims[-1], 1)
        dims = (d, *[d] * (cfg.cross_layers - 1), *cfg.mlp_dims, d + cfg.mlp_dims[-1])
        self.fb = Feedback(feedback, d_err=1, dims=dims, seed=seed)

    def forward(self, x: Tensor) -> Tensor:
        x0 = self.fb.point(self.embedding(x).flatten(1))  # (B, F·d)
        xl = x0
        for i, layer in enumerate(self.cross):
            xl = layer(x0, xl)
            if i < len(self.cross) - 1:
                xl = self.fb.point(xl)  # (B, F·d)
        h = self.mlp(x0, self.fb)  # (B, mlp_dims[-1])
        stack = self.fb.point(torch.cat([xl, h], dim=1))  # (B, F·d + mlp_dims[-1])
        return self.fb.output(self.head(stack)).squeeze(1)
