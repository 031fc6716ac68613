"""The feedback core against hand-written references: DFA's update formula, BP, FA and shallow."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from common.fa import FeedbackLinear
from common.feedback import Feedback, FeedbackConfig, backward
from common.projectors import ProjectorConfig

D_IN, D1, D2, D_OUT, BATCH = 5, 7, 6, 3, 4


class ThreeLayer(nn.Module):
    """x → tanh(W1 x) → point → tanh(W2 h1) → point → W3 h2 → output."""

    def __init__(self, kind: str, layout: str = "shared") -> None:
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(D_IN, D1), nn.Linear(D1, D2), nn.Linear(D2, D_OUT)
        cfg = FeedbackConfig(kind=kind, projector=ProjectorConfig(layout=layout))
        self.fb = Feedback(cfg, d_err=D_OUT, dims=(D1, D2), seed=3)
        self.inputs: list[torch.Tensor] = []
        for layer in (self.l1, self.l2, self.l3):
            layer.register_forward_pre_hook(lambda _m, args: self.inputs.append(args[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1 = self.fb.point(torch.tanh(self.l1(x)))
        h2 = self.fb.point(torch.tanh(self.l2(h1)))
        return self.fb.output(self.l3(h2))


def _data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, D_IN, generator=gen), torch.randint(0, D_OUT, (BATCH,), generator=gen)


@pytest.mark.parametrize("layout", ["shared", "independent"])
def test_dfa_update_matches_the_papers_formula(layout: str) -> None:
    torch.manual_seed(0)
    model = ThreeLayer("dfa", layout)
    x, y = _data()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    model.fb.backward(loss)

    # By hand: e = dL/dy, a_i the pre-activations, δW_i = [(B_i e) ⊙ f'(a_i)] h_{i-1}^T (the gradient,
    # i.e. minus the update).
    with torch.no_grad():
        a1 = x @ model.l1.weight.T + model.l1.bias
        h1 = torch.tanh(a1)
        a2 = h1 @ model.l2.weight.T + model.l2.bias
        h2 = torch.tanh(a2)
        out = h2 @ model.l3.weight.T + model.l3.bias
        e = (torch.softmax(out, 1) - F.one_hot(y, D_OUT).float()) / BATCH
        matrix = model.fb.projector.B
        b1, b2 = (matrix[:, :D1], matrix[:, :D2]) if layout == "shared" else (matrix[:, :D1], matrix[:, D1:])
        delta1 = (e @ b1) * (1 - h1**2)
        delta2 = (e @ b2) * (1 - h2**2)
    torch.testing.assert_close(model.l1.weight.grad, delta1.T @ x)
    torch.testing.assert_close(model.l1.bias.grad, delta1.sum(0))
    torch.testing.assert_close(model.l2.weight.grad, delta2.T @ h1)
    torch.testing.assert_close(model.l2.bias.grad, delta2.sum(0))
    # The output layer learns with its true gradient.
    torch.testing.assert_close(model.l3.weight.grad, e.T @ h2)
    torch.testing.assert_close(model.l3.bias.grad, e.sum(0))


def test_dfa_computes_no_input_gradient_below_a_point() -> None:
    torch.manual_seed(0)
    x, y = _data()
    for kind, expect_grad in (("bp", True), ("dfa", False), ("shallow", False)):
        model = ThreeLayer(kind)
        model.fb.backward(F.cross_entropy(model(x), y))
        # The inputs of layers 2 and 3 are the tensors leaving points: under DFA they do not require
        # grad, so autograd cannot build (or run) the input-gradient matmuls of the layers above.
        assert [inp.requires_grad for inp in model.inputs[1:]] == [expect_grad, expect_grad], kind


def test_batched_backward_equals_a_naive_per_layer_dfa() -> None:
    torch.manual_seed(0)
    x, y = _data(1)
    model = ThreeLayer("dfa", "independent")
    model.fb.backward(F.cross_entropy(model(x), y))
    batched = {n: p.grad.clone() for n, p in model.named_parameters()}

    # Naive DFA: cut by hand, then one autograd.grad per layer with its own slice of B.
    h1 = torch.tanh(model.l1(x))
    h2 = torch.tanh(model.l2(h1.detach()))
    out = model.l3(h2.detach())
    loss = F.cross_entropy(out, y)
    e = torch.autograd.grad(loss, out, retain_graph=True)[0]
    b1, b2 = model.fb.projector.B[:, :D1], model.fb.projector.B[:, D1:]
    naive = {}
    for name, h, layer, b in (("l1", h1, model.l1, b1), ("l2", h2, model.l2, b2)):
        naive[f"{name}.weight"], naive[f"{name}.bias"] = torch.autograd.grad(
            h, [layer.weight, layer.bias], grad_outputs=e @ b
        )
    naive["l3.weight"], naive["l3.bias"] = torch.autograd.grad(loss, [model.l3.weight, model.l3.bias])
    for name, grad in naive.items():
        torch.testing.assert_close(batched[name], grad, msg=name)


def test_bp_equals_plain_autograd() -> None:
    torch.manual_seed(0)
    x, y = _data(2)
    model = ThreeLayer("bp")
    model.fb.backward(F.cross_entropy(model(x), y))
    ours = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    h = torch.tanh(model.l2(torch.tanh(model.l1(x))))
    F.cross_entropy(model.l3(h), y).backward()
    for got, want in zip(ours, [p.grad for p in model.parameters()], strict=True):
        torch.testing.assert_close(got, want)


def test_fa_with_feedback_equal_to_weights_gives_bp_gradients() -> None:
    torch.manual_seed(0)
    x = torch.randn(BATCH, D_IN)
    bp_layers = [nn.Linear(D_IN, D1), nn.Linear(D1, D2), nn.Linear(D2, D_OUT)]
    fa_layers = [FeedbackLinear(layer.in_features, layer.out_features, "fa") for layer in bp_layers]
    for fa, bp in zip(fa_layers, bp_layers, strict=True):
        fa.load_state_dict(bp.state_dict() | {"R": bp.weight.detach().clone()})

    def run(layers: list[nn.Module]) -> list[torch.Tensor]:
        h = x
        for layer in layers[:-1]:
            h = torch.tanh(layer(h))
        layers[-1](h).pow(2).sum().backward()
        return [p.grad for layer in layers for p in (layer.weight, layer.bias)]

    for got, want in zip(run(fa_layers), run(bp_layers), strict=True):
        torch.testing.assert_close(got, want)


def test_fa_with_random_feedback_differs_from_bp() -> None:
    """The previous test could pass if FeedbackLinear ignored B; here B ≠ W must change the gradient."""
    torch.manual_seed(0)
    x = torch.randn(BATCH, D_IN)
    fa1, fa2 = FeedbackLinear(D_IN, D1, "fa"), FeedbackLinear(D1, D_OUT, "fa")
    bp1, bp2 = nn.Linear(D_IN, D1), nn.Linear(D1, D_OUT)
    bp1.load_state_dict({k: v for k, v in fa1.state_dict().items() if k != "R"})
    bp2.load_state_dict({k: v for k, v in fa2.state_dict().items() if k != "R"})
    fa2(torch.tanh(fa1(x))).sum().backward()
    bp2(torch.tanh(bp1(x))).sum().backward()
    torch.testing.assert_close(fa2.weight.grad, bp2.weight.grad)  # top layer: true gradient
    assert not torch.allclose(fa1.weight.grad, bp1.weight.grad)


@pytest.mark.parametrize("kind", ["usf", "brsf", "frsf"])
def test_sign_symmetric_feedback_keeps_the_sign_of_w(kind: str) -> None:
    layer = FeedbackLinear(D1, D2, kind)
    assert torch.equal(torch.sign(layer.feedback_weight()), torch.sign(layer.weight.detach()))


def test_shallow_trains_only_the_output_layer() -> None:
    torch.manual_seed(0)
    model = ThreeLayer("shallow")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = _data(3)
    model.fb.backward(F.cross_entropy(model(x), y))
    opt.step()
    for name, param in model.named_parameters():
        changed = not torch.equal(param, before[name])
        assert changed == name.startswith("l3"), name


def test_several_networks_share_one_backward() -> None:
    torch.manual_seed(0)
    x, y = _data(4)
    a, b = ThreeLayer("dfa"), ThreeLayer("dfa")
    backward(F.cross_entropy(a(x) + b(x), y), a.fb, b.fb)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in [*a.parameters(), *b.parameters()])


def test_points_must_match_declared_dims() -> None:
    fb = Feedback(FeedbackConfig(kind="dfa"), d_err=2, dims=(4,))
    with pytest.raises(RuntimeError, match="width 5"):
        fb.point(torch.randn(3, 5, requires_grad=True))


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="feedback.kind"):
        Feedback(FeedbackConfig(kind="dfaa"), d_err=2, dims=(4,))
