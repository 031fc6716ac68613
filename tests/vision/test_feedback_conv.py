"""Convolutions in every feedback kind, against hand-written references on tiny convolutions.

* FA family: the input gradient is the transposed convolution of dL/dy with the layer's feedback kernel B,
  the weight and bias gradients are BP's; B follows each kind's rule.
* DFA: a conv block's point receives ``e @ B`` reshaped to its C×H×W output; its kernel gradient is the
  convolution of that signal (times the ReLU's derivative) with the block's input. No input gradient is
  computed below a point, and activations are freed during the backward as under BP.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from common.fa import FA_KINDS, FeedbackConv2d, feedback_stats
from common.feedback import FeedbackConfig
from tests.conftest import peak_bytes
from vision.models import FeedbackNet


def _conv_grads_by_loops(x: torch.Tensor, kernel: torch.Tensor, g: torch.Tensor, stride: int, pad: int):
    """dL/dx with ``kernel`` as the backward kernel, dL/dW and dL/db of y = conv(x, W) + b, by explicit loops."""
    n, c_in, height, width = x.shape
    c_out, _, k, _ = kernel.shape
    grad_x = torch.zeros(n, c_in, height + 2 * pad, width + 2 * pad, dtype=torch.float64)
    grad_w = torch.zeros(kernel.shape, dtype=torch.float64)
    xp = F.pad(x.double(), (pad, pad, pad, pad))
    for b, o, i, oy, ox, ky, kx in itertools.product(
        range(n), range(c_out), range(c_in), range(g.shape[2]), range(g.shape[3]), range(k), range(k)
    ):
        iy, ix = oy * stride + ky, ox * stride + kx
        grad_x[b, i, iy, ix] += g[b, o, oy, ox].double() * kernel[o, i, ky, kx].double()
        grad_w[o, i, ky, kx] += g[b, o, oy, ox].double() * xp[b, i, iy, ix]
    return grad_x[:, :, pad : pad + height, pad : pad + width], grad_w, g.double().sum(dim=(0, 2, 3))


@pytest.mark.parametrize("kind", FA_KINDS)
def test_fa_conv_sends_the_error_down_through_its_feedback_kernel(kind: str) -> None:
    torch.manual_seed(0)
    layer = FeedbackConv2d(2, 3, 3, kind, stride=2, padding=1)
    x = torch.randn(2, 2, 5, 5, requires_grad=True)
    with torch.random.fork_rng():  # brsf draws B in its forward pass: take the same draw here
        kernel = layer.feedback_weight().clone()
    y = layer(x)
    g = torch.randn_like(y)
    y.backward(g)
    grad_x, grad_w, grad_b = _conv_grads_by_loops(x.detach(), kernel, g, stride=2, pad=1)
    torch.testing.assert_close(x.grad.double(), grad_x, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(layer.weight.grad.double(), grad_w, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(layer.bias.grad.double(), grad_b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(kernel, layer.weight.detach())  # the error does not go down through W


def test_fa_conv_kernels_follow_each_kinds_rule() -> None:
    torch.manual_seed(0)
    conv = {kind: FeedbackConv2d(3, 4, 3, kind) for kind in FA_KINDS}
    bound = 1 / (3 * 3 * 3) ** 0.5  # 1/sqrt(fan_in): the scale of torch's own initialisation
    for kind, layer in conv.items():
        w, r, b = layer.weight.detach(), layer.R, layer.feedback_weight()
        assert r.abs().max() <= bound and r.shape == w.shape
        if kind == "fa":
            assert torch.equal(b, r)
        elif kind == "usf":
            torch.testing.assert_close(b, torch.sign(w) * w.abs().mean())
        elif kind == "frsf":
            assert torch.equal(b, r.abs() * torch.sign(w))
        else:  # brsf: sign-concordant, magnitudes redrawn at every call
            assert torch.equal(torch.sign(b), torch.sign(w)) and b.abs().max() <= bound
            assert not torch.equal(b, layer.feedback_weight())

    # BioTorch's per-layer figures: |B| / |W| and the angle between B and W (layer 0 is fa, layer 1 usf).
    stats = feedback_stats(nn.Sequential(*conv.values()))
    w, r = conv["fa"].weight.detach().flatten(), conv["fa"].R.flatten()
    assert stats["fa/ratio/l0"] == pytest.approx((r.norm() / w.norm()).item(), rel=1e-6)
    cos = torch.dot(r, w) / (r.norm() * w.norm())
    assert stats["fa/angle/l0"] == pytest.approx(torch.rad2deg(torch.acos(cos)).item(), rel=1e-5)
    w = conv["usf"].weight.detach().flatten()
    assert stats["fa/ratio/l1"] == pytest.approx((w.numel() ** 0.5 * w.abs().mean() / w.norm()).item(), rel=1e-5)
    assert stats["fa/angle/l1"] < 45  # sign(W) points roughly where W does


class ConvDFA(nn.Module):
    """x (N, 2, 4, 4) → conv 3×3 (3) → ReLU → point (3×2×2) → linear (4), as the vision nets are built."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(2, 3, 3)
        self.net = FeedbackNet(
            [nn.Sequential(self.conv, nn.ReLU())],
            nn.Sequential(nn.Flatten(), nn.Linear(12, 4)),
            FeedbackConfig(kind=kind),
            dims=[12],
            n_classes=4,
            seed=5,
        )


def test_dfa_signal_of_a_conv_block_is_e_B_reshaped_to_its_channels_and_pixels() -> None:
    model = ConvDFA("dfa")
    x, y = torch.randn(2, 2, 4, 4), torch.tensor([1, 3])
    seen: dict[str, torch.Tensor] = {}

    def keep_gradient(_module: nn.Module, _inputs: tuple, h: torch.Tensor) -> None:
        h.register_hook(lambda g: seen.setdefault("h", g))

    model.net.blocks[0].register_forward_hook(keep_gradient)
    logits = model.net(x)
    model.net.fb.backward(F.cross_entropy(logits, y))

    with torch.no_grad():  # by hand: e = dL/dlogits, the signal e B_1 laid out as (N, C, H, W)
        e = (torch.softmax(logits, 1) - F.one_hot(y, 4).float()) / 2
        signal = (e @ model.net.fb.projector.B[:, :12]).view(2, 3, 2, 2)
        pre = F.conv2d(x, model.conv.weight, model.conv.bias)
        delta = signal * (pre > 0)
        _, grad_w, grad_b = _conv_grads_by_loops(x, model.conv.weight, delta, stride=1, pad=0)
    torch.testing.assert_close(seen["h"], signal)
    torch.testing.assert_close(model.conv.weight.grad.double(), grad_w, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(model.conv.bias.grad.double(), grad_b, rtol=1e-5, atol=1e-7)


def _two_block_net(kind: str) -> tuple[FeedbackNet, list[torch.Tensor]]:
    """conv → ReLU | conv → ReLU | linear, recording the input every block and the head receive."""
    torch.manual_seed(0)
    blocks = [
        nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()),
        nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()),
    ]
    net = FeedbackNet(
        blocks, nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 8, 10)), FeedbackConfig(kind=kind), [512, 512], 10, 0
    )
    inputs: list[torch.Tensor] = []
    for module in (*net.blocks, net.head):
        module.register_forward_pre_hook(lambda _m, args: inputs.append(args[0]))
    return net, inputs


def test_dfa_computes_no_input_gradient_below_a_conv_point() -> None:
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,))
    for kind, expect in (("bp", True), ("dfa", False), ("shallow", False)):
        net, inputs = _two_block_net(kind)
        net.fb.backward(F.cross_entropy(net(x), y))
        # The second block and the head read the tensors leaving the points: under DFA they do not require
        # grad, so autograd builds no input-gradient convolution for the layers above a point.
        assert [t.requires_grad for t in inputs[1:]] == [expect, expect], kind
        assert all(p.grad is not None for p in net.blocks.parameters()) == (kind != "shallow"), kind


def _peak_bytes(kind: str) -> int:
    """Peak bytes allocated during the forward and backward of a 4-block conv net (profiler memory events)."""
    torch.manual_seed(0)
    blocks = [nn.Sequential(nn.Conv2d(3 if i == 0 else 8, 8, 3, padding=1), nn.ReLU()) for i in range(4)]
    net = FeedbackNet(
        blocks, nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 8, 10)), FeedbackConfig(kind=kind), [512] * 4, 10, 0
    )
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 10, (16,))
    return peak_bytes(lambda: net.fb.backward(F.cross_entropy(net(x), y)))


def test_dfa_frees_conv_activations_during_the_backward_as_bp_does() -> None:
    # The flattened point is a view of the block's output: autograd still gets only its graph edge, so no
    # activation outlives its layer's gradient and DFA's peak stays within one signal (and its copy) of BP's.
    signal_bytes = 16 * 512 * 4  # as big as one activation: holding the four would add 4
    assert _peak_bytes("dfa") <= _peak_bytes("bp") + 2 * signal_bytes
