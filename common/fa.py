"""Feedback alignment and its sign-symmetric variants, as drop-in ``nn.Linear`` and ``nn.Conv2d``.

The forward pass is the ordinary one. The backward pass sends the error down with a feedback weight ``B``
(same shape as ``W``) instead of ``W``; the weight gradient is unchanged. For a convolution, ``B`` is a
kernel: the input gradient is the transposed convolution of the output gradient with ``B``.

* ``fa``   — Lillicrap et al. 2016, "Random synaptic feedback weights support error backpropagation
  for deep learning": ``B`` fixed and random.
* ``usf``  — uniform sign-concordant feedback (Liao, Leibo & Poggio 2016; Xiao et al. 2018):
  ``B = sign(W) * mean|W|`` (the magnitude keeps the signal on the scale of BP's).
* ``brsf`` — batchwise random-magnitude sign-concordant feedback: ``B = |R| ⊙ sign(W)``, ``R`` redrawn
  at every forward pass.
* ``frsf`` — fixed random-magnitude sign-concordant feedback: ``B = |R| ⊙ sign(W)``, ``R`` fixed.

``R`` is drawn uniform in ``[-bound, bound)`` with the layer's own initial scale, ``bound = 1/sqrt(fan_in)``
(PyTorch's default for the weights), or another bound through :meth:`FeedbackWeight.reset_feedback`.
:func:`feedback_stats` gives, per layer, the two numbers BioTorch plots (Sanfiz & Akrout 2021): the
norm ratio ``|B| / |W|`` and the angle between ``B`` and ``W``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FA_KINDS = ("fa", "usf", "brsf", "frsf")


class FeedbackWeight:
    """What a layer with a feedback weight shares: the kind, the fixed random ``R`` and the rule for ``B``.

    Mixed into an ``nn.Linear`` or ``nn.Conv2d`` after its own ``__init__`` (which draws ``W``), so that ``R``
    is drawn after ``W`` from the same generator.
    """

    weight: Tensor
    kind: str
    feedback_bound: float

    def _init_feedback(self, kind: str) -> None:
        if kind not in FA_KINDS:
            raise ValueError(f"{type(self).__name__} kind must be one of {FA_KINDS}, got {kind!r}")
        self.kind = kind
        self.register_buffer("R", torch.empty_like(self.weight))  # type: ignore[attr-defined]
        self.reset_feedback(1.0 / math.sqrt(self.weight[0].numel()))  # fan_in = in (× kernel) per output

    def reset_feedback(self, bound: float) -> None:
        """Redraw ``R`` uniform in [-bound, bound); brsf draws its magnitudes with the same bound."""
        self.feedback_bound = bound
        with torch.no_grad():
            self.R.uniform_(-bound, bound)

    def feedback_weight(self) -> Tensor:
        """The weight ``B`` that carries the error to this layer's input."""
        w = self.weight.detach()
        if self.kind == "fa":
            return self.R
        if self.kind == "usf":
            return torch.sign(w) * w.abs().mean()
        if self.kind == "frsf":
            return self.R.abs() * torch.sign(w)
        return torch.empty_like(w).uniform_(0, self.feedback_bound) * torch.sign(w)  # brsf: fresh magnitudes


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


class _FeedbackConv2dFn(torch.autograd.Function):
    """y = conv2d(x, W) + b, with dL/dx = conv_transpose2d(dL/dy, B) instead of the same with W."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor, conv: nn.Conv2d) -> Tensor:
        ctx.save_for_backward(x, feedback)
        ctx.geometry = (conv.stride, conv.padding, conv.dilation, conv.groups)
        ctx.bias_shape = None if bias is None else list(bias.shape)
        stride, padding, dilation, groups = ctx.geometry
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, feedback = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.geometry
        # One call for all three gradients: the input gradient reads `feedback` as the kernel; the weight and
        # bias gradients read only x, dL/dy and the kernel's shape, which B shares with W.
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.bias_shape is not None]
        grad_x, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad_out, x, feedback, ctx.bias_shape, stride, padding, dilation, False, [0, 0], groups, mask
        )
        return grad_x, grad_w, grad_b, None, None


class FeedbackLinear(FeedbackWeight, nn.Linear):
    """An ``nn.Linear`` whose backward pass uses a feedback matrix chosen by ``kind``."""

    def __init__(self, in_features: int, out_features: int, kind: str, bias: bool = True) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias=bias)
        self._init_feedback(kind)

    def forward(self, x: Tensor) -> Tensor:
        return _FeedbackLinearFn.apply(x, self.weight, self.bias, self.feedback_weight())

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, kind={self.kind}"


class FeedbackConv2d(FeedbackWeight, nn.Conv2d):
    """An ``nn.Conv2d`` (zero padding) whose backward pass uses a feedback kernel chosen by ``kind``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, kind: str, **conv: object) -> None:
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, **conv)  # type: ignore[arg-type]
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ValueError("FeedbackConv2d supports numeric zero padding only")
        self._init_feedback(kind)

    def forward(self, x: Tensor) -> Tensor:
        return _FeedbackConv2dFn.apply(x, self.weight, self.bias, self.feedback_weight(), self)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, kind={self.kind}"


def linear(d_in: int, d_out: int, kind: str, bias: bool = True) -> nn.Linear:
    """A ``FeedbackLinear`` for the FA kinds, an ``nn.Linear`` for every other kind."""
    return FeedbackLinear(d_in, d_out, kind, bias) if kind in FA_KINDS else nn.Linear(d_in, d_out, bias)


def conv2d(c_in: int, c_out: int, kernel_size: int, kind: str, **conv: object) -> nn.Conv2d:
    """A ``FeedbackConv2d`` for the FA kinds, an ``nn.Conv2d`` for every other kind."""
    if kind in FA_KINDS:
        return FeedbackConv2d(c_in, c_out, kernel_size, kind, **conv)
    return nn.Conv2d(c_in, c_out, kernel_size, **conv)  # type: ignore[arg-type]


@torch.no_grad()
def feedback_stats(model: nn.Module) -> dict[str, float]:
    """Per feedback layer ``l`` (in module order): ``fa/ratio/l{l}`` = |B| / |W| (Frobenius norms) and
    ``fa/angle/l{l}`` = the angle in degrees between B and W flattened. brsf's B is one draw, taken under a
    forked random state so that measuring never shifts training's random stream."""
    stats: dict[str, float] = {}
    layers = [m for m in model.modules() if isinstance(m, FeedbackWeight)]
    devices = sorted({layer.weight.device for layer in layers if layer.weight.device.type == "cuda"}, key=str)
    with torch.random.fork_rng(devices=devices):
        for index, layer in enumerate(layers):
            w, b = layer.weight.flatten().float(), layer.feedback_weight().flatten().float()
            stats[f"fa/ratio/l{index}"] = (b.norm() / w.norm()).item()
            cos = F.cosine_similarity(b, w, dim=0).clamp(-1, 1)
            stats[f"fa/angle/l{index}"] = math.degrees(math.acos(cos.item()))
    return stats
