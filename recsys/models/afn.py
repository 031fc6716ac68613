"""Adaptive Factorization Network (Cheng, Shen & Huang, "Adaptive Factorization Network: Learning
Adaptive-Order Feature Interactions", AAAI 2020).

    e = embed(x)                                                  (B, F, d)
    z = LNN(e)              logarithmic neurons: adaptive-order products of the embeddings     (B, N·d)
    logit = w_0 + sum_f w_f[x_f] + head(MLP(z))                    (B,)

Feedback points follow the logarithmic layer and each MLP block. In the authors' code the embeddings sit
behind a cut that receives no signal, so under dfa and shallow they keep their initial values;
``model.embedding_feedback`` gives them a DFA signal of their own instead.
"""

from __future__ import annotations

from torch import Tensor, nn

from common.feedback import Feedback, FeedbackConfig
from recsys.config import ModelConfig
from recsys.models.layers import MLP, FieldEmbedding, FirstOrder, LogarithmicLayer


class AFN(nn.Module):
    def __init__(
        self, cfg: ModelConfig, field_dims: tuple[int, ...], dropout: float, feedback: FeedbackConfig, seed: int = 0
    ):
        super().__init__()
        n_fields, d_lnn = len(field_dims), cfg.lnn_dim * cfg.embed_dim
        self.linear = FirstOrder(field_dims, cfg.first_order_init)
        self.embedding = FieldEmbedding(field_dims, cfg.embed_dim)
        self.lnn = LogarithmicLayer(n_fields, cfg.lnn_dim)
        self.mlp = MLP(d_lnn, cfg.mlp_dims, dropout)
        self.head = nn.Linear(cfg.mlp_dims[-1], 1)
        self.embedding_feedback = cfg.embedding_feedback
        dims = ((n_fields * cfg.embed_dim,) if cfg.embedding_feedback else ()) + (d_lnn, *cfg.mlp_dims)
        self.fb = Feedback(feedback, d_err=1, dims=dims, seed=seed)

    def forward(self, x: Tensor) -> Tensor:
        e = self.embedding(x)  # (B, F, d)
        if self.embedding_feedback:
            e = self.fb.point(e.flatten(1)).view_as(e)
        elif self.fb.cuts:
            e = e.detach()
        z = self.fb.point(self.lnn(e))  # (B, N·d)
        logit = self.linear(x) + self.head(self.mlp(z, self.fb))  # (B, 1)
        return self.fb.output(logit).squeeze(1)
