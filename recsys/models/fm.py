"""Factorization machine (Rendle, "Factorization Machines", ICDM 2010): the paper's shallow baseline.

    logit = w_0 + sum_f w_f[x_f] + sum_{f<g} <e_f[x_f], e_g[x_g]>        x (B, F) → logit (B,)

It has no hidden layer, hence no feedback point: it is trained with backpropagation only.
"""

from __future__ import annotations

from torch import Tensor, nn

from common.config import ConfigError
from recsys.config import ModelConfig
from recsys.models.layers import FieldEmbedding, FirstOrder, fm_interaction


class FM(nn.Module):
    def __init__(self, cfg: ModelConfig, field_dims: tuple[int, ...], dropout: float, feedback, seed: int = 0):
        super().__init__()
        if feedback.kind != "bp":
            raise ConfigError(
                f"fm has no hidden layer to send feedback to: feedback.kind must be bp, got {feedback.kind!r}"
            )
        self.linear = FirstOrder(field_dims, cfg.first_order_init)
        self.embedding = FieldEmbedding(field_dims, cfg.embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        return (self.linear(x) + fm_interaction(self.embedding(x))).squeeze(1)
