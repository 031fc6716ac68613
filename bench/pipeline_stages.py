"""The models of ``bench/pipeline_speed.py`` cut into pipeline stages, and where each stage runs.

A model is a chain of *units* with a forward cost each: the blocks and the head of a vision network (the
bench's MLP: linear layers), or the nlp Transformer's blocks (the first with the embedding, whose cost is negligible)
and its vocabulary head. :func:`split` cuts the chain into S contiguous chunks, one pipeline stage each, so
that the busiest process holds as little work as possible; every schedule (BP and DFA alike) gets the best
cut for its own layout: one stage per process (GPipe, 1F1B, DFA), a loop of two per process (interleaved
zero-bubble: stages r and r + P on rank r) or a V (ZBV: stages r and 2P - 1 - r on rank r).

A stage module runs under both learning rules (see :mod:`common.pipeline`): ``forward(h)`` is BP's, and
``forward(h, tape)`` marks DFA's feedback points and output. Its layers are the model's own modules.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from common.pipeline import UNMARKED, Marks
from nlp.models import Transformer

Layout = Literal["single", "loop", "v"]


def owner(stage: int, num_stages: int, ranks: int, layout: Layout) -> int:
    """The rank that holds ``stage`` of ``num_stages`` under ``layout`` (``num_stages`` = ranks × stages per rank)."""
    if layout == "v":
        return stage if stage < ranks else 2 * ranks - 1 - stage
    return stage % ranks


def split(costs: Sequence[float], ranks: int, layout: Layout) -> list[tuple[int, int]]:
    """Cut units ``0..len(costs)`` into contiguous chunks (``ranks`` of them, or ``2 × ranks`` for loop and v
    layouts): the cut whose busiest rank holds the least cost, then whose costliest chunk is the cheapest.
    Returns ``[(first, end), ...]`` unit ranges, one per stage."""
    chunks = ranks if layout == "single" else 2 * ranks
    if len(costs) < chunks:
        raise ValueError(f"{len(costs)} units cannot fill {chunks} pipeline stages")

    def badness(cuts: tuple[int, ...]) -> tuple[float, float]:
        bounds = (0, *cuts, len(costs))
        chunk_costs = [sum(costs[a:b]) for a, b in itertools.pairwise(bounds)]
        load = [0.0] * ranks
        for stage, cost in enumerate(chunk_costs):
            load[owner(stage, chunks, ranks, layout)] += cost
        return max(load), max(chunk_costs)

    best = min(itertools.combinations(range(1, len(costs)), chunks - 1), key=badness)
    return list(itertools.pairwise((0, *best, len(costs))))


# -- the vision networks (the bench's MLP) -----------------------------------------------------------------------
def chain_costs(model: nn.Module) -> list[float]:
    """Weights of each block, then of the head: a linear layer's multiply-adds per sample."""
    return [float(sum(p.numel() for p in unit.parameters())) for unit in (*model.blocks, model.head)]


class ChainStage(nn.Module):
    """Units ``first..end-1`` of a :class:`vision.models.FeedbackNet`: its blocks, a feedback point after each
    (as ``FeedbackNet.forward``), and the head, if held, marked as the output (``e = dL/dlogits``)."""

    def __init__(self, model: nn.Module, first: int, end: int) -> None:
        super().__init__()
        n = len(model.blocks)
        self.blocks = nn.ModuleList(model.blocks[first : min(end, n)])
        self.head = model.head if end == n + 1 else None

    def forward(self, h: Tensor, marks: Marks = UNMARKED) -> Tensor:
        for block in self.blocks:
            h = block(h)  # (B, d) or (B, C, H, W)
            # A point is (samples, features); no view of a flat output (the zero-bubble schedules detach it in place)
            h = marks.point(h) if h.dim() == 2 else marks.point(h.flatten(1)).view_as(h)
        return marks.output(self.head(h)) if self.head is not None else h  # (B, classes)


# -- the nlp Transformer ------------------------------------------------------------------------------------------
def transformer_costs(model: Transformer, seq_len: int) -> list[float]:
    """Multiply-adds per token: one unit per block (the first also holds the embedding), then the head."""
    c = model.cfg
    block = 4 * c.d_model**2 + 2 * c.d_model * c.d_ff + 2 * seq_len * c.d_model  # projections, feed-forward, attention
    return [float(block)] * c.n_layer + [float(c.d_model * model.vocab_size)]


class TransformerStage(nn.Module):
    """Units ``first..end-1`` of a :class:`nlp.models.Transformer`: unit 0 is the embedding and block 0, unit
    ``n_layer`` the vocabulary head. A feedback point after each block (macro; micro adds the block's inner
    points); the output marker sits on the last block's output, below the head, as in the model
    (``error_at: hidden``)."""

    def __init__(self, model: Transformer, first: int, end: int) -> None:
        super().__init__()
        n = model.cfg.n_layer
        if model.cfg.error_at != "hidden" or model.cfg.embedding_point:
            raise ValueError("the pipeline stages follow the default Transformer (error_at hidden, no embedding point)")
        self.scale, self.micro = math.sqrt(model.cfg.d_model), model.cfg.placement == "micro"
        self.wte = model.wte if first == 0 else None
        self.drop = model.drop
        if first == 0:
            self.register_buffer("pe", model.pe, persistent=False)
        self.blocks = nn.ModuleList(model.blocks[first : min(end, n)])
        self.head = model.head if end == n + 1 else None

    def forward(self, h: Tensor, marks: Marks = UNMARKED) -> Tensor:
        if self.wte is not None:  # h: token ids (B, T); as Transformer.forward
            h = self.drop(self.wte(h) * self.scale + self.pe[: h.shape[1]])  # (B, T, d)
        inner = marks.point if self.micro else UNMARKED.point
        for block in self.blocks:
            h = marks.point(block(h, inner))  # (B, T, d)
        return self.head(marks.output(h)) if self.head is not None else h  # (B, T, V) or (B, T, d)


def stage_modules(model: nn.Module, ranks: int, layout: Layout, seq_len: int = 0) -> list[nn.Module]:
    """The model cut for ``layout`` on ``ranks`` processes: one module per stage, in pipeline order."""
    if isinstance(model, Transformer):
        return [TransformerStage(model, a, b) for a, b in split(transformer_costs(model, seq_len), ranks, layout)]
    if isinstance(getattr(model, "blocks", None), nn.ModuleList) and hasattr(model, "head"):  # a vision FeedbackNet
        return [ChainStage(model, a, b) for a, b in split(chain_costs(model), ranks, layout)]
    raise TypeError(f"no pipeline stages for {type(model).__name__}")


def stage_input(stages: list[nn.Module], stage: int, x: Tensor) -> Tensor:
    """What ``stage`` receives for input ``x``: the outputs of the stages before it (no graph)."""
    with torch.no_grad():
        for module in stages[:stage]:
            x = module(x)
    return x
