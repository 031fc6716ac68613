"""Projectors (seeded, buffers, layouts) and the alignment measurement."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from common.alignment import due, measure_alignment
from common.feedback import Feedback, FeedbackConfig
from common.projectors import ProjectorConfig, RandomProjector


def test_projector_is_seeded_a_buffer_and_never_a_parameter() -> None:
    cfg = ProjectorConfig()
    a, b, c = (RandomProjector(3, (4, 6), cfg, seed) for seed in (1, 1, 2))
    assert torch.equal(a.B, b.B) and not torch.equal(a.B, c.B)
    fb = Feedback(FeedbackConfig(kind="dfa"), d_err=3, dims=(4, 6))
    assert "projector.B" in fb.state_dict() and not list(fb.parameters())


def test_layouts_give_the_documented_slices() -> None:
    e = torch.randn(5, 3)
    shared = RandomProjector(3, (4, 6), ProjectorConfig(layout="shared"), 0)
    s4, s6 = shared.split(shared(e))
    assert shared.B.shape == (3, 6) and torch.allclose(s4, s6[:, :4])
    indep = RandomProjector(3, (4, 6), ProjectorConfig(layout="independent", dist="gaussian"), 0)
    _, i6 = indep.split(indep(e))
    assert indep.B.shape == (3, 10) and torch.allclose(i6, e @ indep.B[:, 4:])


class OneHidden(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1, self.l2 = nn.Linear(6, 8), nn.Linear(8, 3)
        self.fb = Feedback(FeedbackConfig(kind="dfa"), d_err=3, dims=(8,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fb.output(self.l2(self.fb.point(torch.tanh(self.l1(x)))))


def test_alignment_is_perfect_when_b_equals_the_output_weights() -> None:
    torch.manual_seed(0)
    model = OneHidden()
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))

    def loss_fn() -> torch.Tensor:
        return F.cross_entropy(model(x), y)

    random = measure_alignment(model.fb, model.parameters(), loss_fn)
    assert random["align/cos/p0"] < 0.9 and random["align/angle/p0"] > 10
    # With B = W2 the DFA signal at the last hidden layer IS the BP gradient (e @ W2).
    model.fb.projector.B.copy_(model.l2.weight.detach())
    aligned = measure_alignment(model.fb, model.parameters(), loss_fn)
    assert abs(aligned["align/cos/p0"] - 1) < 1e-5 and aligned["align/angle/p0"] < 0.5
    assert all(p.grad is None for p in model.parameters())  # the measurement left no gradients


def test_alignment_is_due_every_n_units_and_never_at_zero() -> None:
    assert [k for k in range(10) if due(3, k)] == [0, 3, 6, 9]
    assert not any(due(0, k) for k in range(10))
