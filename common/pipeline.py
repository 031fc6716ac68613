"""Pipeline (model-parallel) DFA: a network cut into P stages on P processes, each stage learning as soon as
the output error reaches it.

Under backpropagation a stage learns only once the stage above has sent it ``dL/dh``: the backward is a chain,
and pipeline schedules (GPipe, 1F1B, zero-bubble) can only fill the idle time that chain leaves. Under DFA
every stage learns from the one global error ``e = dL/dy`` through the fixed matrix ``B``, so no stage waits
for another's gradient. One training step of M micro-batches, on stage p of P:

* **forward** — micro-batch after micro-batch, activations flow up the stages; a stage's input is detached
  (no gradient flows back to the stage below);
* **error** — the last stage computes the loss and ``e_m`` of micro-batch m and sends ``e_m`` to every other
  stage at once (one send per stage);
* **learn** — as soon as stage p holds ``e_m`` and the feedback points of micro-batch m, it projects
  ``e_m`` (the same ``e @ B`` as single-process DFA, :meth:`common.feedback.Feedback.signals`) and runs ONE
  backward over its points: local weight gradients only. Micro-batch m's graph is then dropped, which frees
  its activations.

Stage p runs ``P - 1 - p`` forwards ahead of its first learn step (the time ``e`` takes to come back), then
alternates forward and learn: F1 F2 W1 F3 W2 … on the first of two stages, F1 W1 F2 W2 … on the last.

A stage module is written like a model under :mod:`common.feedback`: it marks its feedback points with
``marks.point(h)`` and, on the last stage, the place where ``e`` is read with ``marks.output(y)``::

    def forward(self, h: Tensor, marks: Marks = UNMARKED) -> Tensor:
        for layer in self.layers:
            h = marks.point(torch.relu(layer(h)))  # DFA: the next layer sees h.detach()
        return h

so that one module serves both this pipeline and a BP pipeline (``torch.distributed.pipelining`` calls
``module(h)``: the marks are the identity). Launch: :func:`spawn` (P local processes, a file store: no port
to choose) or ``torchrun`` and :func:`common.distributed.setup`. Backend: gloo on CPU, NCCL on CUDA.
"""

from __future__ import annotations

import datetime
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor, nn
from torch.autograd.graph import get_gradient_edge

_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64, torch.int64)
_META = 8  # int64 header of a tensor's first transfer: [points before it, dtype, ndim, *shape (≤ 5 dims)]
_TAG_ACT, _TAG_ERR = 1, 2  # gloo matches messages by tag; activations and errors never share a channel
TIMEOUT = datetime.timedelta(minutes=10)
"""How long a process waits for the others (a failed peer ends the run instead of hanging it for 30 min)."""


class Marks(Protocol):
    """What a stage module calls on its feedback points and its output."""

    def point(self, h: Tensor) -> Tensor: ...

    def output(self, y: Tensor) -> Tensor: ...


class _Unmarked:
    """Marks that change nothing: the plain forward of BP."""

    def point(self, h: Tensor) -> Tensor:
        return h

    def output(self, y: Tensor) -> Tensor:
        return y


UNMARKED: Marks = _Unmarked()


@dataclass
class StageTape:
    """What one micro-batch's forward recorded on one stage: its feedback points (with their graphs) and, on
    the last stage, the output ``y`` with its graph below the marker and the leaf the loss reads instead."""

    points: list[Tensor] = field(default_factory=list)
    y: Tensor | None = None
    y_leaf: Tensor | None = None  # after the loss's backward, y_leaf.grad is e

    def point(self, h: Tensor) -> Tensor:
        if h.requires_grad:
            self.points.append(h)
        return h.detach()  # the cut: no gradient flows below a point

    def output(self, y: Tensor) -> Tensor:
        self.y, self.y_leaf = y, y.detach().requires_grad_()
        return self.y_leaf


def learn(tape: StageTape, e: Tensor, signals: list[Tensor]) -> None:
    """One stage's DFA backward for one micro-batch: ONE autograd call over the stage's points, each receiving
    its signal (``signals``: this stage's blocks of ``e @ B``), and over the output with ``e`` itself when
    layers sit between the last point and the output marker. Autograd computes local weight gradients only
    and frees the tape's activations as it goes."""
    roots = [get_gradient_edge(h) for h in tape.points]  # edges, not tensors: no reference keeps them alive
    grads = [s.to(h.dtype).reshape(h.shape) for h, s in zip(tape.points, signals, strict=True)]
    if tape.y is not None and tape.y.requires_grad:  # e.g. a classifier head above the last point
        roots.append(get_gradient_edge(tape.y))
        grads.append(e)
    tape.points, tape.y = [], None
    if roots:
        torch.autograd.backward(roots, grads)


class DFAPipeline:
    """This process's stage of a DFA pipeline (one stage per rank); :meth:`step` runs its part of one step.

    Args:
        module: the stage, ``forward(h, marks)`` (see the module docstring); its parameters are this rank's.
        stage_index: which stage this is; it runs on rank ``stage_index`` of ``group``.
        num_stages: P, the size of ``group``.
        n_microbatches: M; every batch is cut into M equal micro-batches along its first dimension.
        signals: ``e (N, d_err) -> [signal (N, d_l) of every point of the whole network]``, e.g. the
            ``Feedback.signals`` of the whole model built with kind=dfa; this stage uses its own points' signals.
        loss_fn: ``(output of the last stage, target) -> mean loss of the micro-batch`` (last stage only).
        group: the process group of the pipeline (default: the whole world).

    The first step also sends a small header ahead of the first activation and the first ``e`` (shape, dtype,
    and how many points the stages below hold); later steps must keep the shapes of the first.
    """

    def __init__(
        self,
        module: nn.Module,
        stage_index: int,
        num_stages: int,
        n_microbatches: int,
        signals: Callable[[Tensor], list[Tensor]],
        loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
        group: dist.ProcessGroup | None = None,
    ) -> None:
        if num_stages > 1 and (not dist.is_initialized() or dist.get_world_size(group) != num_stages):
            raise RuntimeError(f"a {num_stages}-stage pipeline needs a process group of {num_stages} processes")
        if not 0 <= stage_index < num_stages or n_microbatches < 1:
            raise ValueError(f"stage {stage_index} of {num_stages}, {n_microbatches} micro-batches: out of range")
        self.module, self.index, self.num_stages, self.n_micro = module, stage_index, num_stages, n_microbatches
        self.signals, self.loss_fn, self.group = signals, loss_fn, group
        self.is_first, self.is_last = stage_index == 0, stage_index == num_stages - 1
        if self.is_last and loss_fn is None:
            raise ValueError("the last stage of a DFA pipeline needs a loss_fn")
        self.device = next(module.parameters(), torch.empty(0)).device
        # What the first step's headers teach: this stage's first point, its input's and e's shape and dtype.
        self._first_point: int | None = 0 if self.is_first else None
        self._input: tuple[torch.Size, torch.dtype] | None = None
        self._sent: dict[tuple[int, int], torch.Size] = {}  # (stage, tag) -> shape announced by the header
        self._error: tuple[torch.Size, torch.dtype] | None = None

    # -- one training step --------------------------------------------------------------------------------
    def step(self, x: Tensor | None = None, target: Tensor | None = None) -> list[Tensor]:
        """Forward, error and local learning of M micro-batches; gradients accumulate in ``.grad`` (the loss of
        each micro-batch is divided by M, so that they add up to the gradient of the whole batch's mean loss).

        ``x`` (the batch) on the first stage, ``target`` on the last. Returns the last stage's micro-batch
        losses (detached; an empty list on the other stages).
        """
        inputs = _split(x, self.n_micro, "input") if self.is_first else None
        targets = _split(target, self.n_micro, "target") if self.is_last else None
        state = _StepState()
        lag = self.num_stages - 1 - self.index  # forwards between micro-batch m's and e_m's arrival
        for k in range(self.n_micro + lag):
            if k < self.n_micro:
                self._forward(k, inputs[k] if inputs else None, targets[k] if targets else None, state)
            if k >= lag:
                self._learn(k - lag, state)
        for work, _ in state.sends:
            work.wait()
        return state.losses

    def _forward(self, m: int, x: Tensor | None, target: Tensor | None, state: _StepState) -> None:
        h = x if x is not None else self._receive_input(m, state)
        tape = StageTape()
        out = self.module(h, tape)
        del h  # the stage's graph keeps what it needs of its input
        if not self.is_last:
            if out.requires_grad:
                raise RuntimeError(f"stage {self.index} must end with a feedback point (marks.point)")
            self._send(out, self.index + 1, _TAG_ACT, self._first_point + len(tape.points), state)
            if self._error is not None:
                self._post_errors(m, state)  # e_m lands while the next micro-batches compute
        else:
            if tape.y_leaf is None:
                raise RuntimeError("the last stage must mark its output with marks.output(y)")
            loss = self.loss_fn(out, target)
            (loss / self.n_micro).backward()  # true gradients above the output marker, and e in y_leaf.grad
            e = tape.y_leaf.grad
            for stage in range(self.num_stages - 1):
                self._send(e, stage, _TAG_ERR, self._first_point + len(tape.points), state)
            state.errors[m] = e
            state.losses.append(loss.detach())
        state.tapes[m] = tape

    def _learn(self, m: int, state: _StepState) -> None:
        """Project e_m and run one backward over this stage's points of micro-batch m: local weight gradients."""
        tape, e = state.tapes.pop(m), self._wait_error(m, state)
        every = self.signals(e.reshape(-1, e.shape[-1]))
        if self.is_last and len(every) != self._first_point + len(tape.points):
            raise RuntimeError(
                f"the stages hold {self._first_point + len(tape.points)} feedback points, signals() gives {len(every)}"
            )
        learn(tape, e, every[self._first_point : self._first_point + len(tape.points)])
        del tape, e, every
        state.sends = [(work, t) for work, t in state.sends if not work.is_completed()]  # free what has left

    # -- communication ------------------------------------------------------------------------------------
    def _send(self, t: Tensor, stage: int, tag: int, points: int, state: _StepState) -> None:
        """Send ``t`` to ``stage``; the first time on this channel, a header first. Kept until sent."""
        t = t.contiguous()
        if (stage, tag) not in self._sent:
            header = _header(t, points)
            state.sends.append((dist.isend(header, group=self.group, group_dst=stage, tag=tag), header))
            self._sent[stage, tag] = t.shape
        elif t.shape != self._sent[stage, tag]:
            raise RuntimeError(
                f"stage {self.index} sends {tuple(t.shape)} to stage {stage}, first sent "
                f"{tuple(self._sent[stage, tag])}: every step must keep the first one's shapes"
            )
        state.sends.append((dist.isend(t, group=self.group, group_dst=stage, tag=tag), t))

    def _receive_input(self, m: int, state: _StepState) -> Tensor:
        if self._input is None:  # first step: a header precedes the first activation
            self._first_point, self._input = self._receive_header(self.index - 1, _TAG_ACT)
        if m not in state.inputs:
            state.inputs[m] = self._post(self._input, self.index - 1, _TAG_ACT)
        buffer, work = state.inputs.pop(m)
        if m + 1 < self.n_micro:  # post the next receive now: it arrives while this micro-batch computes
            state.inputs[m + 1] = self._post(self._input, self.index - 1, _TAG_ACT)
        work.wait()
        return buffer

    def _post_errors(self, m: int, state: _StepState) -> None:
        """Post the receives of e up to micro-batch m, in order (a channel delivers in the order of sends)."""
        while state.errors_posted <= m:
            state.errors[state.errors_posted] = self._post(self._error, self.num_stages - 1, _TAG_ERR)
            state.errors_posted += 1

    def _wait_error(self, m: int, state: _StepState) -> Tensor:
        if self.is_last:
            return state.errors.pop(m)
        if self._error is None:  # first step: a header precedes the first e
            _, self._error = self._receive_header(self.num_stages - 1, _TAG_ERR)
        self._post_errors(m, state)
        buffer, work = state.errors.pop(m)
        work.wait()
        return buffer

    def _post(self, meta: tuple[torch.Size, torch.dtype], stage: int, tag: int) -> tuple[Tensor, dist.Work]:
        buffer = torch.empty(meta[0], dtype=meta[1], device=self.device)
        return buffer, dist.irecv(buffer, group=self.group, group_src=stage, tag=tag)

    def _receive_header(self, stage: int, tag: int) -> tuple[int, tuple[torch.Size, torch.dtype]]:
        header = torch.empty(_META, dtype=torch.int64, device=self.device)
        dist.irecv(header, group=self.group, group_src=stage, tag=tag).wait()
        points, dtype, ndim, *shape = header.tolist()
        return points, (torch.Size(shape[:ndim]), _DTYPES[dtype])


@dataclass
class _StepState:
    """One step's bookkeeping: recorded tapes, errors (or their pending receives), receives posted ahead,
    sends in flight with their tensors (which must live until sent), losses."""

    tapes: dict[int, StageTape] = field(default_factory=dict)
    errors: dict[int, Any] = field(default_factory=dict)
    errors_posted: int = 0
    inputs: dict[int, tuple[Tensor, dist.Work]] = field(default_factory=dict)
    sends: list[tuple[dist.Work, Tensor]] = field(default_factory=list)
    losses: list[Tensor] = field(default_factory=list)


def _split(t: Tensor | None, n: int, name: str) -> tuple[Tensor, ...]:
    if t is None:
        raise ValueError(f"this stage's step needs the {name}")
    if t.shape[0] % n:
        raise ValueError(f"a batch of {t.shape[0]} does not cut into {n} equal micro-batches ({name})")
    return t.chunk(n)


def _header(t: Tensor, points_before: int) -> Tensor:
    if t.dim() > _META - 3:
        raise ValueError(f"tensors of {t.dim()} dimensions cannot cross a stage boundary (at most {_META - 3})")
    values = [points_before, _DTYPES.index(t.dtype), t.dim(), *t.shape]
    return torch.tensor(values + [0] * (_META - len(values)), dtype=torch.int64, device=t.device)


# -- launching P processes -----------------------------------------------------------------------------------
def default_backend() -> str:
    """NCCL where CUDA is available, gloo otherwise."""
    return "nccl" if torch.cuda.is_available() else "gloo"


def spawn(fn: Callable[..., None], nprocs: int, args: tuple = (), backend: str | None = None) -> None:
    """Run ``fn(rank, *args)`` on ``nprocs`` new local processes joined in one process group.

    The processes meet through a file store in a fresh temporary folder, so no port has to be free. ``fn``
    must be importable by name (a module-level function). An exception in any process is raised here.
    """
    with tempfile.TemporaryDirectory(prefix="dfa-pipeline-") as folder:
        store = Path(folder) / "store"
        mp.spawn(_joined, args=(fn, nprocs, store, backend or default_backend(), args), nprocs=nprocs)


def _joined(rank: int, fn: Callable[..., None], nprocs: int, store: Path, backend: str, args: tuple) -> None:
    if backend == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, init_method=f"file://{store}", rank=rank, world_size=nprocs, timeout=TIMEOUT)
    try:
        fn(rank, *args)
    finally:
        dist.destroy_process_group()
