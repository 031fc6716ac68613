"""The DFA pipeline (common.pipeline) learns exactly what single-process DFA (common.feedback) learns.

A small network is cut into stages; after K optimizer steps on the same batches, the parameters of the
2-process pipeline (gloo, M micro-batches) equal those of one process running ``Feedback.backward`` on the
whole batch, to float32 rounding: the micro-batches only change the order of the sums (tolerance below).
Two placements of the output marker are covered: after a head (e = dL/dlogits, as the vision MLP) and on
the last point, with the head above it trained on its true gradient (as the nlp Transformer).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.feedback import Feedback, FeedbackConfig
from common.pipeline import UNMARKED, DFAPipeline, Marks, spawn
from common.projectors import ProjectorConfig

WIDTHS = (12, 16, 16, 16, 16, 3)  # input, four hidden layers (four feedback points), classes
BATCH, MICRO, STEPS = 32, 4, 3
CUTS = {1: ((0, 5),), 2: ((0, 2), (2, 5))}  # stages per process count: which layers each holds
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}  # float32, sums in another order


class Stage(nn.Module):
    """Layers ``first..last-1`` of the net: tanh and a point after each hidden layer; the head (the last
    layer) is marked as the output, either after it (``at="logits"``) or below it (``at="hidden"``)."""

    def __init__(self, layers: nn.ModuleList, first: int, last: int, at: str) -> None:
        super().__init__()
        self.layers, self.offset, self.at = nn.ModuleList(layers[first:last]), first, at
        self.has_head = last == len(layers)

    def forward(self, h: Tensor, marks: Marks = UNMARKED) -> Tensor:
        *hidden, last = self.layers
        for layer in hidden if self.has_head else self.layers:
            h = marks.point(torch.tanh(layer(h)))  # (N, 16)
        if not self.has_head:
            return h
        if self.at == "logits":
            return marks.output(last(h))  # (N, 3)
        if torch.is_grad_enabled() and not h.requires_grad:
            h.requires_grad_()  # the cut last point: Feedback reads e = dL/dh in its .grad (as nlp.models does)
        return last(marks.output(h))  # (N, 3)


def make_net(at: str) -> tuple[nn.ModuleList, Feedback]:
    torch.manual_seed(0)
    layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(WIDTHS))
    d_err = WIDTHS[-1] if at == "logits" else WIDTHS[-2]
    # Independent matrices: each point's signal differs, so a stage that read another stage's columns would fail.
    cfg = FeedbackConfig(kind="dfa", projector=ProjectorConfig(layout="independent"))
    return layers, Feedback(cfg, d_err=d_err, dims=WIDTHS[1:-1], seed=0)


def batches() -> list[tuple[Tensor, Tensor]]:
    gen = torch.Generator().manual_seed(1)
    return [(torch.randn(BATCH, WIDTHS[0], generator=gen), torch.randint(0, 3, (BATCH,), generator=gen))] * STEPS


def optimizer(params) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.5, momentum=0.9)


def single_process(at: str) -> dict[str, Tensor]:
    """The reference: the whole net as one module, marked by its Feedback, full-batch ``Feedback.backward``."""
    layers, fb = make_net(at)
    whole, opt = Stage(layers, 0, len(layers), at), optimizer(layers.parameters())
    for x, y in batches():
        opt.zero_grad()
        fb.backward(F.cross_entropy(whole(x, fb), y))
        opt.step()
    return {name: p.detach().clone() for name, p in layers.named_parameters()}


def pipeline_stage(at: str, rank: int, world: int) -> dict[str, Tensor]:
    """This rank's stage of the pipeline, trained STEPS steps; its parameters under their whole-net names."""
    layers, fb = make_net(at)
    first, last = CUTS[world][rank]
    stage = Stage(layers, first, last, at)
    pipe = DFAPipeline(stage, rank, world, MICRO, fb.signals, F.cross_entropy if rank == world - 1 else None)
    opt = optimizer(stage.parameters())
    for x, y in batches():
        opt.zero_grad()
        pipe.step(x if rank == 0 else None, y if rank == world - 1 else None)
        opt.step()
    return {
        f"{first + int(name.split('.')[1])}.{name.split('.')[2]}": p.detach() for name, p in stage.named_parameters()
    }


def _train_on_rank(rank: int, out: str) -> None:
    torch.set_num_threads(1)
    states = {at: pipeline_stage(at, rank, 2) for at in ("logits", "hidden")}
    torch.save(states, Path(out) / f"rank{rank}.pt")


@pytest.mark.parametrize("at", ["logits", "hidden"])
def test_one_stage_of_micro_batches_equals_feedback_backward(at: str) -> None:
    reference, piped = single_process(at), pipeline_stage(at, 0, 1)
    assert piped.keys() == reference.keys()
    for name, p in reference.items():
        torch.testing.assert_close(piped[name], p, **TOLERANCE, msg=name)
    untrained = dict(make_net(at)[0].named_parameters())
    assert all(not torch.equal(untrained[name], p) for name, p in reference.items())  # every layer learnt


@pytest.mark.slow
def test_two_process_pipeline_equals_single_process_dfa(tmp_path: Path) -> None:
    spawn(_train_on_rank, 2, args=(str(tmp_path),), backend="gloo")
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    for at in ("logits", "hidden"):
        piped = ranks[0][at] | ranks[1][at]
        reference = single_process(at)
        assert piped.keys() == reference.keys()
        for name, p in reference.items():
            torch.testing.assert_close(piped[name], p, **TOLERANCE, msg=f"{at}: {name}")


def test_bad_input_is_named() -> None:
    layers, fb = make_net("logits")
    pipe = DFAPipeline(Stage(layers, 0, 5, "logits"), 0, 1, 3, fb.signals, F.cross_entropy)
    with pytest.raises(ValueError, match="does not cut into 3 equal micro-batches"):
        pipe.step(torch.randn(32, 12), torch.zeros(32, dtype=torch.long))
    unmarked = DFAPipeline(Stage(layers, 0, 2, "logits"), 0, 1, 2, fb.signals, F.cross_entropy)
    with pytest.raises(RuntimeError, match="must mark its output"):
        unmarked.step(torch.randn(32, 12), torch.zeros(32, dtype=torch.long))
    with pytest.raises(ValueError, match="needs a loss_fn"):
        DFAPipeline(Stage(layers, 0, 5, "logits"), 0, 1, 2, fb.signals)
