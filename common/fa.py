"""Feedback alignment and its sign-symmetric variants, as a drop-in ``nn.Linear``.

The forward pass is the ordinary ``x @ W.T + b``. The backward pass sends the error down with a
feedback matrix ``B`` (same shape as ``W``) instead of ``W``; the weight gradient is unchanged:

* ``fa``   — Lillicrap et al. 2016, "Random synaptic feedback weights support error backpropagation
  for deep learning": ``B`` fixed and random.
* ``usf``  — uniform sign-concordant feedback (Liao, Leibo & Poggio 2016; Xiao et al. 2018):
  ``B = sign(W) * mean|W|`` (the magnitude keeps the signal on the scale of BP's).
* ``brsf`` — batchwise random-magnitude sign-concordant feedback: ``B = |R| ⊙ sign(W)``, ``R`` redrawn
  at every backward pass.
* ``frsf`` — fixed random-magnitude sign-concordant feedback: ``B = |R| ⊙ sign(W)``, ``R`` fixed.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

FA_KINDS = ("fa", "usf", "brsf", "frsf")


class _FeedbackLinearFn(torch.autograd.Function):
    """y = x W^T + b, with dL/dx = dL/dy B instead of dL/dy W."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor) -> Tensor:
        ctx.save_for_backward(x, feedback)
        ctx.has_bias = bias is not None
        out = x @ weight.t()
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, feedback = ctx.saved_tensors
        grad_x = grad_out @ feedback if ctx.needs_input_grad[0] else None
        grad_w = grad_out.reshape(-1, grad_out.shape[-1]).t() @ x.reshape(-1, x.shape[-1])
        grad_b = grad_out.reshape(-1, grad_out.shape[-1]).sum(0) if ctx.has_bias else None
        return grad_x, grad_w, grad_b, None


class FeedbackLinear(nn.Linear):
    """An ``nn.Linear`` whose backward pass uses a feedback matrix chosen by ``kind``."""

    def __init__(self, in_features: int, out_features: int, kind: str, bias: bool = True) -> None:
        if kind not in FA_KINDS:
            raise ValueError(f"FeedbackLinear kind must be one of {FA_KINDS}, got {kind!r}")
        super().__init__(in_features, out_features, bias=bias)
        self.kind = kind
        # A fixed random matrix with nn.Linear's own initial scale (used by fa; |R| for frsf).
        bound = 1.0 / math.sqrt(in_features)
        self.register_buffer("R", torch.empty(out_features, in_features).uniform_(-bound, bound))

    def feedback_matrix(self) -> Tensor:
        """The matrix B that carries the error to this layer's input."""
        w = self.weight.detach()
        if self.kind == "fa":
            return self.R
        if self.kind == "usf":
            return torch.sign(w) * w.abs().mean()
        if self.kind == "frsf":
            return self.R.abs() * torch.sign(w)
        bound = 1.0 / math.sqrt(self.in_features)  # brsf: fresh magnitudes at every call
        return torch.empty_like(w).uniform_(0, bound) * torch.sign(w)

    def forward(self, x: Tensor) -> Tensor:
        return _FeedbackLinearFn.apply(x, self.weight, self.bias, self.feedback_matrix())

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, kind={self.kind}"
