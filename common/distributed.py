"""Data parallelism over several processes (``torchrun``): each process trains the same model on its shard of
every batch, and the gradients are averaged before the update, so N processes take the step one process
would take on the whole batch::

    torchrun --standalone --nproc_per_node 2 -m nlp.train --config ... --out ...

A training loop uses it in this order (every call is a no-op in a single process)::

    device = distributed.setup(pick_device(cfg.train.device))   # join torchrun's group; cuda:LOCAL_RANK
    start = run.resume(model=model, ...)                        # every rank loads the same checkpoint
    distributed.broadcast(model)                                # ... and starts from rank 0's weights
    for step in run.units(start, total, "step"):
        distributed.reseed(cfg.seed, step)                      # this rank's dropout / jitter / noise
        x, y = (distributed.shard(t) for t in batches(step))    # this rank's rows of the global batch
        loss = loss_fn(model(x), y) * distributed.shard_weight(len(x), len(global_batch))
        fb.backward(loss)                                       # BP: loss.backward(); DFA: two autograd calls
        loss = distributed.average_gradients(params, loss)      # ONE bucketed all-reduce: the mean over ranks
        clip, then opt.step()                                   # on the averaged gradients

**Why not DistributedDataParallel.** DDP's reducer hooks every parameter and reduces a bucket as soon as its
gradients are ready, finishing the reduction at the end of the autograd call that fired its first hook.
DFA's backward is two autograd calls: ``loss.backward()`` (the layers above the last feedback point, and
``e``), then one ``torch.autograd.backward`` over the points with the signals ``B e`` (every layer below).
The reducer would close its reduction after the first call with the lower layers not ready: an error, or,
with ``find_unused_parameters``, those layers "reduced" as zeros before their gradients exist. Under
``no_sync()`` the reducer is off and all DDP still does is broadcast the weights once, so this module does
that broadcast and, after the whole backward, one all-reduce of all gradients (in buckets of
``BUCKET_MB``, as DDP's). The price is that communication no longer overlaps the backward. BP takes the same
path, so every kind trains through the same code.

**Why N processes equal one.** Rank r's loss is the mean over its n_r rows, weighted by ``N·n_r / n``
(1 for equal shards). Its error ``e_r = dL_r/dy`` on its rows is then N times the error of the whole
batch's mean loss on those rows. DFA's signals ``B e`` and the weight gradients they give are linear in
``e``, as are BP's gradients, and the frozen layers of ``shallow`` get none on any rank; so the mean of the
ranks' gradients is the whole batch's gradient, for every kind. What couples rows is made global:
:class:`SyncBatchNorm` normalises with the statistics of the whole batch, and clipping, the optimizer and
the logged loss come after the reduction. What stays per rank is randomness: dropout masks, NeRF's
stratified jitter and the optical camera's noise are drawn from each rank's own stream (:func:`reseed`),
like a second device would draw them. With those off, N processes reproduce one process up to the order of
floating-point sums (tests/*/test_ddp.py).
"""

from __future__ import annotations

import atexit
import datetime
import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

BUCKET_MB = 25.0
"""Gradients are all-reduced in flat buffers of at most this size (DistributedDataParallel's default)."""
TIMEOUT = datetime.timedelta(minutes=30)
"""How long a collective waits for the slowest rank before the run fails (a lost peer must not hang a job)."""

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one run (torchrun's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes the run's files."""
        return self.rank == 0


def world() -> World:
    """The world torchrun describes in the environment; one process without it."""
    env = os.environ
    return World(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def setup(device: torch.device) -> torch.device:
    """Join the process group of a torchrun launch (NCCL on CUDA, gloo on the CPU) and return this process's
    device: ``cuda:LOCAL_RANK`` on GPUs, ``device`` otherwise. In a single process: ``device``, nothing joined."""
    here = world()
    if here.size == 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", here.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():  # several seeds in one process (--seeds) join once
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
        atexit.register(dist.destroy_process_group)
    return device


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def shard(batch: Tensor) -> Tensor:
    """This rank's contiguous rows of a global batch (sizes differ by at most one row): a view."""
    here = world()
    return batch.tensor_split(here.size)[here.rank] if here.size > 1 else batch


def shard_weight(rows: int, total: int) -> float:
    """The factor on a rank's mean loss over ``rows`` of a ``total``-row batch that makes the mean of the
    ranks' gradients the whole batch's: ``world size × rows / total`` (exactly 1.0 in one process)."""
    return world().size * rows / total


def reseed(seed: int, unit: int) -> None:
    """Under several processes, give this rank its own random stream for ``unit`` (a step or an epoch):
    dropout, jitter and device noise differ between ranks, as between devices, and depend only on
    (seed, rank, unit), so a resumed run draws what an uninterrupted one draws. One process: no-op (its
    stream is the run's, saved in the checkpoint)."""
    here = world()
    if here.size > 1:
        torch.manual_seed(((seed * 1_000_003 + unit) * 1_009 + here.rank) % 2**63)


@torch.no_grad()
def broadcast(*modules: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (what DistributedDataParallel does at construction)."""
    if not _active():
        return
    for module in modules:
        for tensor in module.state_dict().values():  # the state dict's tensors share the modules' storage
            dist.broadcast(tensor, src=0)


@torch.no_grad()
def average_gradients(params: Iterable[Tensor], *values: Tensor) -> tuple[Tensor, ...] | Tensor:
    """Replace every gradient by its mean over the ranks, with one all-reduce per bucket of ``BUCKET_MB``.

    ``values`` (e.g. the detached loss) ride along in the same buckets; their means are returned (the
    value itself when there is one, a tuple otherwise). A parameter without a gradient (a frozen layer) has
    none on every rank, since every rank runs the same graph, and is left out.
    """
    means = [v.detach().reshape(1).clone() for v in values]
    if _active():
        tensors = [p.grad for p in params if p.grad is not None] + means
        for bucket in _buckets(tensors, int(BUCKET_MB * 2**20)):
            flat = torch.cat([t.reshape(-1) for t in bucket])
            dist.all_reduce(flat)  # a sum: gloo has no mean
            flat /= dist.get_world_size()
            offset = 0
            for t in bucket:
                t.copy_(flat[offset : offset + t.numel()].view_as(t))
                offset += t.numel()
    means = [m.reshape(v.shape) for m, v in zip(means, values, strict=True)]
    return means[0] if len(means) == 1 else tuple(means)


def _buckets(tensors: list[Tensor], limit: int) -> Iterable[list[Tensor]]:
    """Consecutive runs of tensors of one dtype and device, each at most ``limit`` bytes (or one tensor)."""
    bucket: list[Tensor] = []
    size = 0
    for t in tensors:
        nbytes = t.numel() * t.element_size()
        if bucket and (size + nbytes > limit or (t.dtype, t.device) != (bucket[0].dtype, bucket[0].device)):
            yield bucket
            bucket, size = [], 0
        bucket.append(t)
        size += nbytes
    if bucket:
        yield bucket


def all_sum(value: float) -> float:
    """The sum of a number over the ranks (e.g. a training loss summed over each rank's rows)."""
    if not _active():
        return value
    total = torch.tensor([value], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(total)
    return float(total)


def from_main(obj: T) -> T:
    """Rank 0's ``obj`` on every rank (a picklable value, e.g. evaluation metrics). Every rank computed its
    own; adopting rank 0's keeps decisions that depend on it (early stopping, a plateau schedule, the best
    checkpoint) identical on all ranks even if a GPU kernel's rounding differed between them."""
    if not _active():
        return obj
    box: list[Any] = [obj]
    dist.broadcast_object_list(box, src=0, device=_collective_device())
    return box[0]


def _collective_device() -> torch.device:
    """Where small collectives run: NCCL needs CUDA tensors, gloo takes CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class _AllReduceSum(torch.autograd.Function):
    """The sum of a tensor over the ranks, differentiable: every rank's loss depends on the sum, so the
    gradient of a rank's input is the sum of the gradients that reach the output on every rank."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        total = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        total = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total


class SyncBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics are those of the global batch, summed over every rank: the
    normalisation one process would compute on the whole batch. PyTorch's own ``nn.SyncBatchNorm`` runs on
    GPUs only; this one runs on any device and backend (gloo included), with the same parameters, buffers
    and state dict as ``nn.BatchNorm1d``. Its all-reduces are differentiable, so the backward sums the
    gradients of the statistics over the ranks, as the whole batch's backward would. (N, C) or (N, C, L).
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and _active()):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]  # every dimension but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)
        rows = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        sums = _AllReduceSum.apply(torch.cat([x.sum(dims), rows]))  # (C + 1,): Σx per channel, then n
        count = sums[-1]
        mean = sums[:-1] / count
        centred = x - mean.view(shape)
        var = _AllReduceSum.apply((centred * centred).sum(dims)) / count  # biased, as BatchNorm normalises
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach() * count / (count - 1).clamp(min=1))
        return y

    @torch.no_grad()
    def _update_running(self, mean: Tensor, unbiased_var: Tensor) -> None:
        self.num_batches_tracked += 1
        momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
        self.running_var.lerp_(unbiased_var.to(self.running_var.dtype), momentum)


def sync_batchnorm(module: nn.Module) -> nn.Module:
    """Under several processes, turn every ``nn.BatchNorm1d`` inside ``module`` into a :class:`SyncBatchNorm`
    with the same state (in place; returns ``module``). One process: ``module`` unchanged."""
    if world().size == 1:
        return module
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm1d:
            sync = SyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            sync.load_state_dict(child.state_dict())
            device = next(itertools.chain(child.parameters(), child.buffers()), torch.empty(0)).device
            setattr(module, name, sync.to(device))
        else:
            sync_batchnorm(child)
    return module
