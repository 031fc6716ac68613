"""Building blocks shared by the CTR models, in the form of pytorch-fm (the authors' library).

Every model reads ``x``: (B, F) long, the id of each of the F fields (ids of field f in [0, field_dims[f])).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from common.feedback import Feedback


class FieldEmbedding(nn.Module):
    """One table for all fields (field f's id i is row offset_f + i): x (B, F) → (B, F, dim).

    ``dim = 1`` with a bias gives the first-order (linear) term of a CTR model.
    """

    def __init__(self, field_dims: tuple[int, ...], dim: int, init_std: float | None = None) -> None:
        super().__init__()
        self.table = nn.Embedding(sum(field_dims), dim)
        if init_std is None:  # pytorch-fm's embeddings: Xavier-uniform
            nn.init.xavier_uniform_(self.table.weight)
        else:
            nn.init.normal_(self.table.weight, std=init_std)
        offsets = torch.tensor((0, *field_dims[:-1])).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        # index_select rather than nn.Embedding's forward: same values, a 3× cheaper backward on CPU.
        rows = (x + self.offsets).flatten()
        return self.table.weight.index_select(0, rows).view(*x.shape, -1)


class FirstOrder(nn.Module):
    """The linear term w_0 + sum_f w_f[x_f]: x (B, F) → (B, 1); weights drawn from N(0, init_std²)."""

    def __init__(self, field_dims: tuple[int, ...], init_std: float) -> None:
        super().__init__()
        self.weights = FieldEmbedding(field_dims, 1, init_std)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.weights(x).sum(1) + self.bias


def fm_interaction(e: Tensor) -> Tensor:
    """Factorization machine's pairwise term sum_{f<g} <e_f, e_g> in O(F·d): e (B, F, d) → (B, 1)."""
    square_of_sum = e.sum(1) ** 2  # (B, d)
    sum_of_squares = (e**2).sum(1)  # (B, d)
    return 0.5 * (square_of_sum - sum_of_squares).sum(1, keepdim=True)


class MLP(nn.Module):
    """Blocks Linear → BatchNorm → ReLU → Dropout with a feedback point after each: (B, d_in) → (B, dims[-1])."""

    def __init__(self, d_in: int, dims: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        widths = (d_in, *dims)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(), nn.Dropout(dropout))
            for a, b in itertools.pairwise(widths)
        )

    def forward(self, h: Tensor, fb: Feedback) -> Tensor:
        for block in self.blocks:
            h = fb.point(block(h))  # (B, d_l)
        return h


class CrossLayer(nn.Module):
    """One layer of Deep & Cross's cross network: x_{l+1} = x_0 (x_l · w) + b + x_l, all (B, d)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.w = nn.Linear(d, 1, bias=False)
        self.b = nn.Parameter(torch.zeros(d))

    def forward(self, x0: Tensor, x: Tensor) -> Tensor:
        return x0 * self.w(x) + self.b + x


class LogarithmicLayer(nn.Module):
    """AFN's logarithmic neural network: neuron j, embedding dimension k computes
    y_jk = relu(expm1(sum_f W_jf log1p(|e_fk| + 1e-7))), an adaptive-order product prod_f (1 + |e_fk|)^W_jf
    (the log1p/expm1 form of pytorch-fm, which the authors used). e (B, F, d) → (B, N·d).
    """

    def __init__(self, n_fields: int, n_neurons: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(n_fields)
        self.weight = nn.Parameter(torch.empty(n_neurons, n_fields).uniform_(-bound, bound))

    def forward(self, e: Tensor) -> Tensor:
        logs = torch.log1p(e.abs() + 1e-7)  # (B, F, d)
        return torch.relu(torch.expm1(self.weight @ logs)).flatten(1)  # (B, N, d) → (B, N·d)
