"""The feedback core: one module that turns any model into a BP, DFA or shallow learner.

A model marks its **feedback points** after the non-linearity of each hidden block and its **output**,
where the global error ``e = dL/dy`` is read::

    h = fb.point(torch.tanh(self.fc1(x)))     # (N, d_1)
    h = fb.point(torch.tanh(self.fc2(h)))     # (N, d_2)
    y = fb.output(self.fc3(h))                # (N, d_err)
    ...
    fb.backward(loss)                         # instead of loss.backward()

Kinds (``feedback.kind``) are registered in :mod:`common.kinds`; the core acts on their family only:

* ``chain`` (``bp``; the FA family ``fa``, ``usf``, ``brsf``, ``frsf``) — points and output are the
  identity; ``backward`` is ``loss.backward()``. FA and its variants change the *layers*
  (:mod:`common.fa`), not the core.
* ``direct`` (``dfa``; ``optical`` and ``dfa_ternary`` from :mod:`hardware.kinds`) — each point cuts the
  graph: the next block sees ``h.detach()``. ``backward`` first runs ``loss.backward()``, which trains the
  layers above the last point with their true gradient and yields ``e``; then ONE projection by the
  kind's projector gives every point its signal (``e @ B`` for ``dfa``), and ONE
  ``torch.autograd.backward`` over all points computes the local weight gradients. Because the input
  of every block is detached, autograd never computes an input gradient below a point: this is
  where DFA saves work over BP (a hook that rewrites gradients on the way down saves nothing).
* ``frozen`` (``shallow``) — points cut the graph and receive nothing: only the layers above the last
  point train.

The batch dimensions of points and output are flattened: nodes (graphs), rays × samples (NeRF),
batch × time (Transformer) all count as samples, and every point must carry the same number of
samples as the output.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.graph import GradientEdge, get_gradient_edge

from common import kinds
from common.config import NonNegativeInt
from common.projectors import Projector, ProjectorConfig


@dataclass(frozen=True)
class FeedbackConfig:
    """How hidden layers learn."""

    kind: str = "bp"
    """A registered kind (common.kinds): bp, fa, usf, brsf, frsf, dfa, shallow, and from hardware optical and
    dfa_ternary. Each domain accepts the kinds of the families it supports."""
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    """The fixed random matrix of the direct kinds (ignored by the others)."""
    align_every: NonNegativeInt = 0
    """Measure DFA/BP alignment every this many steps or epochs (0: never). See common.alignment."""
    optical: dict[str, Any] = field(default_factory=dict)
    """Parameters of the optical emulator (``hardware.config.OpticalConfig``): all of them for kind=optical, the
    ternarization threshold for dfa_ternary. A free-form mapping here, checked by hardware."""


@dataclass
class _Tape:
    """What one forward pass recorded: the point tensors (with their graphs), the output, and the error
    ``e = dL/dy`` once the loss's backward has passed the output."""

    points: list[Tensor] = field(default_factory=list)
    output: Tensor | None = None
    error: Tensor | None = None

    def watch(self, y: Tensor) -> None:
        """Make the backward leave ``e = dL/dy`` in ``self.error``, without copying it."""

        tape = weakref.ref(self)  # a strong reference would close the cycle tape → y → grad_fn → hook → tape

        def keep(grad: Tensor | None) -> None:
            if (alive := tape()) is not None:
                alive.error = grad

        if y.grad_fn is None:  # a leaf (e.g. the cut last point made to require grad): autograd puts e in y.grad
            y.register_post_accumulate_grad_hook(lambda leaf: keep(leaf.grad))
        else:  # the hook receives autograd's own tensor; retain_grad() would store a copy of it
            y.register_hook(keep)


class Feedback(nn.Module):
    """Feedback points, the output marker, the projector and the DFA backward of one network.

    Args:
        cfg: the feedback configuration.
        d_err: size of the error vector (the last dimension of the output).
        dims: the last dimension of each feedback point, in the order a forward pass meets them.
        seed: the run seed; B is drawn from ``cfg.projector.seed`` and this seed together.
    """

    def __init__(self, cfg: FeedbackConfig, d_err: int, dims: tuple[int, ...] | list[int], seed: int = 0):
        super().__init__()
        family = kinds.get(cfg.kind).family  # an unknown kind is an error naming the registered ones
        if not dims:
            raise ValueError("a Feedback needs at least one point dimension")
        self.kind, self.d_err, self.dims = cfg.kind, d_err, tuple(int(d) for d in dims)
        self.direct = family == "direct"  # points record and receive the projected error
        self.cuts = family != "chain"  # points detach their input (direct and frozen kinds)
        self.projector: Projector | None = None
        if self.direct:
            self.projector = make_projector(cfg, d_err, self.dims, seed)
        self._tapes: list[_Tape] = []
        self._current = _Tape()
        self._probe = False  # record points without cutting (alignment measurement)

    # -- marking the network ------------------------------------------------------------------------
    def point(self, h: Tensor) -> Tensor:
        """Mark a feedback point; returns the tensor the next block must use."""
        recording = torch.is_grad_enabled() and h.requires_grad and (self._probe or self.direct)
        if recording:
            index = len(self._current.points)
            if index >= len(self.dims) or h.shape[-1] != self.dims[index]:
                raise RuntimeError(
                    f"feedback point {index} has width {h.shape[-1]}, but the model declared dims={self.dims}"
                )
            self._current.points.append(h)
        if self._probe:
            return h
        return h.detach() if self.cuts else h

    def output(self, y: Tensor) -> Tensor:
        """Mark the output whose gradient is the global error ``e``; closes the current tape."""
        if self._current.points:
            if len(self._current.points) != len(self.dims):
                raise RuntimeError(
                    f"a forward pass met {len(self._current.points)} feedback points, expected {len(self.dims)}"
                )
            if y.requires_grad:
                self._current.watch(y)
            self._current.output = y
            self._tapes.append(self._current)
        self._current = _Tape()
        return y

    # -- learning -----------------------------------------------------------------------------------
    def backward(self, loss: Tensor) -> None:
        """Replace ``loss.backward()``; see :func:`backward` for several networks at once."""
        backward(loss, self)

    def signals(self, e: Tensor) -> list[Tensor]:
        """The DFA signal of every point for an error ``e`` of shape (..., d_err), each (N, d_l)."""
        if self.projector is None:
            raise RuntimeError(f"feedback.kind={self.kind!r} has no projector")
        flat = e.reshape(-1, self.d_err)
        return self.projector.split(self.projector(flat))

    def reset(self) -> None:
        """Drop recorded tapes (e.g. after a forward pass that will not be followed by backward)."""
        self._tapes, self._current = [], _Tape()

    @contextlib.contextmanager
    def probing(self) -> Iterator[None]:
        """Record points without cutting the graph: the BP pass of an alignment measurement."""
        previous, self._probe = self._probe, True
        try:
            yield
        finally:
            self._probe = previous

    def take_tapes(self) -> list[_Tape]:
        """Hand over (and forget) the tapes recorded since the last backward."""
        tapes, self._tapes = self._tapes, []
        return tapes

    def extra_repr(self) -> str:
        return f"kind={self.kind}, d_err={self.d_err}, dims={self.dims}"


def backward(loss: Tensor, *feedbacks: Feedback) -> None:
    """Backward pass for a loss that depends on one or more networks with feedback points.

    1. ``loss.backward()``: true gradients for everything above the last point of each network
       (output layers, parameter-free renderers, vocabulary heads), and ``e = dL/dy`` at each output.
    2. Per network, ONE projection of the flattened ``e`` to all its points.
    3. ONE ``torch.autograd.backward`` over the points of all networks: local weight gradients only.
    """
    loss.backward()
    edges, signals = _collect_signals(feedbacks)
    if edges:
        torch.autograd.backward(edges, signals)


def _collect_signals(feedbacks: tuple[Feedback, ...]) -> tuple[list[GradientEdge], list[Tensor]]:
    """The graph edge of every recorded point and the signal it receives; the tapes are dropped on return.

    Autograd gets the points' edges rather than the point tensors: with no Python reference left to an
    activation, autograd frees it as soon as its layer's gradient is done, as in BP. (Holding the points
    would keep every activation alive until the end of the backward.)
    """
    edges: list[GradientEdge] = []
    signals: list[Tensor] = []
    for fb in feedbacks:
        for tape in fb.take_tapes():
            if not fb.direct or tape.error is None:  # no error: the loss ignored this output
                continue
            signals += _point_signals(fb, tape)
            edges += [get_gradient_edge(h) for h in tape.points]
    return edges, signals


def _point_signals(fb: Feedback, tape: _Tape) -> list[Tensor]:
    """Each point's block of the ONE projection of ``e``, in the point's dtype and shape.

    Under the shared layout every point of one width reads the same columns: such points share one tensor,
    cast to their dtype and made contiguous once (a narrower slice is strided), not once per point.
    """
    ready: dict[tuple[int, int, torch.dtype], Tensor] = {}
    grads = []
    for h, s in zip(tape.points, fb.signals(tape.error), strict=True):  # s: (N, d_l), a view of the projection
        if h.numel() // h.shape[-1] != s.shape[0]:
            raise RuntimeError(
                f"a feedback point holds {h.numel() // h.shape[-1]} samples but the output holds "
                f"{s.shape[0]}: points and output must share their batch dimensions"
            )
        key = (s.data_ptr(), s.shape[1], h.dtype)  # which columns, in which dtype
        if key not in ready:
            ready[key] = s.to(h.dtype).contiguous()  # no copy when s is already both
        grads.append(ready[key].view(h.shape))
    return grads


def make_projector(cfg: FeedbackConfig, d_err: int, dims: tuple[int, ...], seed: int) -> Projector:
    """The projector of a direct kind, from its registered factory; B's seed mixes the matrix and run seeds."""
    matrix_seed = cfg.projector.seed + 1_000_003 * seed
    return kinds.get(cfg.kind).projector(cfg, d_err, dims, matrix_seed)
