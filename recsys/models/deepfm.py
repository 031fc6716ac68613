"""DeepFM (Guo et al., "DeepFM: A Factorization-Machine based Neural Network for CTR Prediction", IJCAI 2017).

    e = embed(x)                                                  (B, F, d)
    logit = w_0 + sum_f w_f[x_f] + FM(e) + head(MLP(flatten(e)))    (B,)

Feedback points follow each MLP block; the error is dL/dlogit (d_err = 1). Under dfa, optical and shallow
the MLP reads the embeddings detached: they learn only through the FM term, as in the authors' code.
"""

from __future__ import annotations

from torch import Tensor, nn

from common.feedback import Feedback, FeedbackConfig
from recsys.config import ModelConfig
from recsys.models.layers import MLP, FieldEmbedding, FirstOrder, fm_interaction


class DeepFM(nn.Module):
    def __init__(
        self, cfg: ModelConfig, field_dims: tuple[int, ...], dropout: float, feedback: FeedbackConfig, seed: int = 0
    ):
        super().__init__()
        d_in = len(field_dims) * cfg.embed_dim
        self.linear = FirstOrder(field_dims, cfg.first_order_init)
        self.embedding = FieldEmbedding(field_dims, cfg.embed_dim)
        self.mlp = MLP(d_in, cfg.mlp_dims, dropout)
        self.head = nn.Linear(cfg.mlp_dims[-1], 1)
        self.fb = Feedback(feedback, d_err=1, dims=cfg.mlp_dims, seed=seed)

    def forward(self, x: Tensor) -> Tensor:
        e = self.embedding(x)  # (B, F, d)
        h = e.flatten(1)  # (B, F·d)
        if self.fb.cuts:
            h = h.detach()
        logit = self.linear(x) + fm_interaction(e) + self.head(self.mlp(h, self.fb))  # (B, 1)
        return self.fb.output(logit).squeeze(1)
