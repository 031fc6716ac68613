"""Where DFA's speed comes from, checked on the operators autograd actually runs (torch.profiler).

Under DFA a backward must run, besides the loss's own gradient: ONE projection ``e @ B`` for all points,
the weight gradients, and nothing else — no input-gradient matmul below a point, no copy of ``e``, and
at most one cast or contiguous copy per distinct block of the projection (never one per point). BP runs
the same matmul detector as a positive control, so the tests fail if the detector goes blind.
"""

from __future__ import annotations

import contextlib
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from common.feedback import Feedback, FeedbackConfig
from common.projectors import ProjectorConfig
from tests.conftest import peak_bytes

N, D_IN, D_ERR = 32, 5, 3
WIDTHS = (7, 13, 11, 9)  # distinct, the widest not last: shapes tell every matmul apart
COPIES = {"aten::clone", "aten::copy_", "aten::_to_copy", "aten::contiguous"}


class DeepMLP(nn.Module):
    """x (N, 5) → hidden ReLU layers, each followed by a point → (N, 3), returned in fp32 (as NeRF does).

    ``error_at="hidden"`` reads e at the last point instead, below the head (as the Transformer LM does):
    the output marker then sits on the cut point itself, a leaf tensor.
    """

    def __init__(self, kind: str, widths: tuple[int, ...], layout: str = "shared", error_at: str = "logits"):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise((D_IN, *widths, D_ERR)))
        cfg = FeedbackConfig(kind=kind, projector=ProjectorConfig(layout=layout))
        self.error_at = error_at
        self.fb = Feedback(cfg, d_err=D_ERR if error_at == "logits" else widths[-1], dims=widths, seed=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *hidden, head = self.layers
        for layer in hidden:
            x = self.fb.point(F.relu(layer(x)))
        if self.error_at == "logits":
            return self.fb.output(head(x).float())
        return head(self.fb.output(x.requires_grad_())).float()


def _backward_ops(kind: str, widths: tuple[int, ...] = WIDTHS, bf16: bool = False, **options: str) -> list:
    """(name, input shapes) of every aten operator that ``fb.backward`` runs for one batch."""
    torch.manual_seed(0)
    model = DeepMLP(kind, widths, **options)
    x, y = torch.randn(N, D_IN), torch.randint(0, D_ERR, (N,))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        loss = F.cross_entropy(model(x), y)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as prof:
        model.fb.backward(loss)
    return [(e.name, e.input_shapes) for e in prof.events() if e.name.startswith("aten::")]


def _matmuls(ops: list, width: int) -> dict[str, int]:
    """Sort the backward's matmuls: e (N, d_err) @ B (d_err, width) is the projection, grad^T (d_out, N) @
    h (N, d_in) a weight gradient, and grad (N, d_out) @ W (d_out, d_in) an input gradient."""
    kinds = {"input_grad": 0, "weight_grad": 0, "projection": 0}
    for name, shapes in ops:
        if name != "aten::mm":
            continue
        (rows, inner), (_, cols) = shapes[0], shapes[1]
        if (rows, inner, cols) == (N, D_ERR, width):
            kinds["projection"] += 1
        elif rows == N:
            kinds["input_grad"] += 1
        elif inner == N:
            kinds["weight_grad"] += 1
        else:
            raise AssertionError(f"unexpected matmul {shapes}")
    return kinds


@pytest.mark.parametrize("layout", ["shared", "independent"])
def test_dfa_backward_is_one_projection_and_weight_gradients(layout: str) -> None:
    width = max(WIDTHS) if layout == "shared" else sum(WIDTHS)
    ops = _backward_ops("dfa", layout=layout)
    assert _matmuls(ops, width) == {"input_grad": 0, "weight_grad": len(WIDTHS) + 1, "projection": 1}


def test_bp_backward_computes_every_input_gradient_but_the_first() -> None:
    # The control: the detector sees BP's input gradients (all but the first layer's: x needs no gradient).
    n_layers = len(WIDTHS) + 1
    assert _matmuls(_backward_ops("bp"), max(WIDTHS)) == {
        "input_grad": n_layers - 1,
        "weight_grad": n_layers,
        "projection": 0,
    }


@pytest.mark.parametrize("error_at", ["logits", "hidden"])
def test_dfa_backward_copies_nothing_when_points_match_the_projection(error_at: str) -> None:
    # e is autograd's own gradient tensor (kept by a hook, where retain_grad would clone it, or left in the
    # .grad of a leaf output) and every point of the projection's width and dtype takes it as it is.
    ops = [name for name, _ in _backward_ops("dfa", widths=(8, 8, 8), error_at=error_at)]
    assert not COPIES & set(ops), ops


def test_dfa_backward_copies_each_narrower_block_once() -> None:
    # Widths 8, 4, 4, 8, 4 under the shared layout: the 4-wide points read a strided slice, made contiguous
    # once for all three of them.
    ops = _backward_ops("dfa", widths=(8, 4, 4, 8, 4))
    assert [shapes[0] for name, shapes in ops if name == "aten::clone"] == [[N, 4]]


def test_dfa_backward_casts_the_projection_once_per_dtype() -> None:
    # Under bf16 autocast the points are bf16 and e is fp32 (the output is returned in fp32): the (N, 8)
    # projection is cast once for all three points. (Autocast's own casts of weights and of e are other shapes.)
    ops = _backward_ops("dfa", widths=(8, 8, 8), bf16=True)
    assert [shapes[0] for name, shapes in ops if name == "aten::_to_copy" and shapes[0] == [N, 8]] == [[N, 8]]


def _peak_bytes(kind: str, width: int = 256, depth: int = 6, samples: int = 64) -> int:
    """Peak of the bytes allocated during a forward and backward of a deep MLP (profiler memory events)."""
    torch.manual_seed(0)
    model = DeepMLP(kind, (width,) * depth)
    x, y = torch.randn(samples, D_IN), torch.randint(0, D_ERR, (samples,))
    return peak_bytes(lambda: model.fb.backward(F.cross_entropy(model(x), y)))


def test_dfa_frees_each_activation_during_the_backward_as_bp_does() -> None:
    # Autograd gets the points' graph edges, not the tensors, so no activation outlives its layer's gradient:
    # DFA's peak stays within one signal of BP's. (Holding the points keeps every activation alive while the
    # weight gradients pile up: here ~5 signals more.)
    signal_bytes = 64 * 256 * 4
    assert _peak_bytes("dfa") <= _peak_bytes("bp") + signal_bytes
