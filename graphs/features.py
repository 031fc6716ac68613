"""Sparse node features and the two operations a first layer applies to them: dropout and a projection.

Planetoid features are 1-10% non-zero. On a CPU, dense dropout on them draws one random number per
entry (on Cora that took longer than the rest of a GCN step), and torch's sparse ``F.linear`` re-sorts
the matrix in every backward pass. :class:`SparseFeatures` keeps the features as CSR together with
the CSR of their transpose, so that the forward product ``x W^T`` and the weight gradient
``x^T G`` are both plain CSR × dense products, and dropout draws only for the stored entries.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class SparseFeatures:
    """Features (N, F) as CSR ``csr`` and their transpose (F, N) as CSR ``csr_t``.

    ``perm`` maps the stored values of ``csr_t`` to those of ``csr``: ``csr_t.values() == csr.values()[perm]``.
    """

    csr: Tensor
    csr_t: Tensor
    perm: Tensor

    @classmethod
    def from_dense(cls, x: Tensor) -> SparseFeatures:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            csr = x.to_sparse_csr()
        rows = torch.repeat_interleave(torch.arange(x.shape[0], device=x.device), csr.crow_indices().diff())
        perm = torch.argsort(csr.col_indices() * x.shape[0] + rows)  # CSR order of the transpose: by column, row
        return cls(csr, x.t().contiguous().to_sparse_csr(), perm)

    @property
    def shape(self) -> torch.Size:
        return self.csr.shape

    def with_values(self, values: Tensor) -> SparseFeatures:
        """The same sparsity pattern with new stored values (in ``csr`` order)."""

        def rebuild(m: Tensor, v: Tensor) -> Tensor:
            return torch.sparse_csr_tensor(m.crow_indices(), m.col_indices(), v, m.shape, check_invariants=False)

        return SparseFeatures(rebuild(self.csr, values), rebuild(self.csr_t, values[self.perm]), self.perm)

    def to_dense(self) -> Tensor:
        return self.csr.to_dense()


class _Project(torch.autograd.Function):
    """x W^T for fixed sparse x: forward with ``csr``, weight gradient with ``csr_t`` (no input gradient)."""

    @staticmethod
    def forward(ctx, x: SparseFeatures, weight: Tensor) -> Tensor:  # (N, F), (out, F) -> (N, out)
        ctx.x = x
        return x.csr @ weight.t().contiguous()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor]:  # grad (N, out) -> dW (out, F)
        return None, (ctx.x.csr_t @ grad.contiguous()).t()


def project(x: Tensor | SparseFeatures, weight: Tensor) -> Tensor:
    """``x @ weight.T`` (the product of ``nn.Linear`` without bias) for dense or sparse features."""
    if isinstance(x, SparseFeatures):
        return _Project.apply(x, weight)
    return x @ weight.t()


def dropout(x: Tensor | SparseFeatures, p: float, training: bool) -> Tensor | SparseFeatures:
    """Inverted dropout (as ``F.dropout``); on sparse features only the stored entries are drawn.

    The mask comes from ``torch.rand``: on a CPU, ``F.dropout``'s Bernoulli draw is ~5× slower per entry,
    which made dropout a large share of a full-batch step on these graphs.
    """
    if not training or p == 0:
        return x
    values = x.csr.values() if isinstance(x, SparseFeatures) else x
    dropped = values * (torch.rand_like(values) >= p).to(values.dtype) / (1 - p) if p < 1 else torch.zeros_like(values)
    return x.with_values(dropped) if isinstance(x, SparseFeatures) else dropped
