"""Hook-style DFA: the contrast that ``bench/dfa_speed.py`` times next to :mod:`common.feedback`.

The authors' TinyDFA (``tinydfa/light_dfa.py``, used by their NeRF code) and biotorch implement DFA with
gradient hooks: the backward graph stays whole, the output's backward projects ``e`` once, and a hook on
each feedback point overwrites the gradient arriving from above with that point's signal ``B_l e``. The
weight updates equal those of :mod:`common.feedback`, but every input gradient below a point is still
computed and then thrown away: the work of BP plus the projection.

:func:`use_hook_feedback` swaps the :class:`~common.feedback.Feedback` modules of a model built for
``dfa`` for :class:`HookFeedback` ones with the same projector (the same ``B``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from common.feedback import Feedback
from common.projectors import Projector


class _Signals:
    """The signals of one forward pass: written by the output's backward, read by the point hooks."""

    def __init__(self) -> None:
        self.values: list[Tensor] = []


class _ProjectError(torch.autograd.Function):
    """Identity on the output; its backward projects ``e`` to every point in one product."""

    @staticmethod
    def forward(ctx: Any, y: Tensor, projector: Projector, signals: _Signals) -> Tensor:
        ctx.projector, ctx.signals = projector, signals
        return y.view_as(y)

    @staticmethod
    def backward(ctx: Any, e: Tensor) -> tuple[Tensor, None, None]:
        projector = ctx.projector
        ctx.signals.values = projector.split(projector(e.reshape(-1, projector.d_err)))
        return e, None, None  # e continues down the whole chain, as in BP


class HookFeedback(nn.Module):
    """Feedback points that keep the graph and overwrite the gradient passing through them."""

    def __init__(self, feedback: Feedback) -> None:
        super().__init__()
        if feedback.projector is None:
            raise ValueError(f"hook-style DFA needs a model built for dfa, got feedback.kind={feedback.kind!r}")
        self.projector, self.d_err, self.dims = feedback.projector, feedback.d_err, feedback.dims
        self._signals, self._count = _Signals(), 0

    def point(self, h: Tensor) -> Tensor:
        """Register the hook that replaces the gradient of ``h`` by its DFA signal; ``h`` goes on attached."""
        if torch.is_grad_enabled() and h.requires_grad:
            signals, index = self._signals, self._count
            h.register_hook(lambda grad: signals.values[index].reshape(grad.shape).to(grad.dtype))
            self._count += 1
        return h

    def output(self, y: Tensor) -> Tensor:
        """Mark the output; its backward projects the error for the points of this forward pass."""
        signals, self._signals, self._count = self._signals, _Signals(), 0
        return _ProjectError.apply(y, self.projector, signals) if y.requires_grad else y


def use_hook_feedback(model: nn.Module) -> nn.Module:
    """Replace every Feedback module of ``model`` (built with kind dfa) by a HookFeedback, in place."""
    swapped: dict[int, HookFeedback] = {}
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Feedback):
                if id(child) not in swapped:  # a Feedback shared by several modules gets one HookFeedback
                    swapped[id(child)] = HookFeedback(child)
                setattr(parent, name, swapped[id(child)])
    if not swapped:
        raise ValueError(f"{type(model).__name__} has no Feedback module to replace")
    return model
