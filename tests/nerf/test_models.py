"""The NeRF MLP: encoding, shapes, feedback points, and the DFA update against a hand-written formula."""

from __future__ import annotations

import pytest
import torch

from common.feedback import FeedbackConfig, backward
from nerf.config import ModelConfig
from nerf.models import NeRF, encode


def test_positional_encoding() -> None:
    x = torch.tensor([[0.5, -1.0, 2.0]])
    enc = encode(x, 10)
    assert enc.shape == (1, 63)
    assert torch.equal(enc[:, :3], x)
    assert torch.allclose(enc[0, 3 + 3 * 4 + 1], torch.sin(torch.tensor(16 * -1.0)))  # sin(2^4 · y)
    assert torch.allclose(enc[0, 33 + 3 * 9 + 2], torch.cos(torch.tensor(512 * 2.0)))  # cos(2^9 · z)


@pytest.mark.parametrize(("depth", "skips", "feature_relu", "points"), [(8, (4,), True, 10), (4, (), False, 5)])
def test_shapes_and_feedback_points(depth: int, skips: tuple, feature_relu: bool, points: int) -> None:
    cfg = ModelConfig(depth=depth, width=32, skips=skips, feature_relu=feature_relu)
    net = NeRF(cfg, FeedbackConfig(kind="dfa"))
    assert len(net.fb.dims) == points and net.fb.dims[-1] == 16
    raw = net(torch.randn(5, 7, 3), torch.nn.functional.normalize(torch.randn(5, 3), dim=-1))
    assert raw.shape == (5, 7, 4)
    (tape,) = net.fb.take_tapes()
    assert len(tape.points) == points and all(p.shape[0] == 35 for p in tape.points)  # rays × samples


def test_bad_skip_is_named() -> None:
    with pytest.raises(ValueError, match="model.skips"):
        NeRF(ModelConfig(depth=4, skips=(3,)), FeedbackConfig())


def test_dfa_update_of_the_first_layer_is_B_e_through_the_relu() -> None:
    torch.manual_seed(0)
    net = NeRF(ModelConfig(depth=2, width=8, skips=(), xyz_freqs=2, dir_freqs=1), FeedbackConfig(kind="dfa"), seed=3)
    points, viewdirs = torch.randn(3, 4, 3), torch.nn.functional.normalize(torch.randn(3, 3), dim=-1)
    target = torch.randn(3, 4, 4)
    raw = net(points, viewdirs)
    backward(((raw - target) ** 2).sum(), net.fb)

    e = 2 * (raw.detach() - target).reshape(-1, 4)  # dL/draw, one row per sample
    x = encode(points.reshape(-1, 3), 2)
    pre = net.trunk[0](x).detach()
    signal = (e @ net.fb.projector.B[:, :8]) * (pre > 0)  # B e, gated by the ReLU's derivative
    assert torch.allclose(net.trunk[0].weight.grad, signal.T @ x, atol=1e-5)
    assert torch.allclose(net.trunk[0].bias.grad, signal.sum(0), atol=1e-5)


def test_shallow_trains_only_the_output_heads() -> None:
    net = NeRF(ModelConfig(depth=3, width=16, skips=()), FeedbackConfig(kind="shallow"))
    backward(net(torch.randn(2, 5, 3), torch.nn.functional.normalize(torch.randn(2, 3), dim=-1)).sum(), net.fb)
    trained = {name.split(".")[0] for name, p in net.named_parameters() if p.grad is not None}
    assert trained == {"sigma", "rgb"}
