"""The Transformer: causal masking, where the feedback points sit, and the DFA update against its formula."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from common.feedback import FeedbackConfig
from nlp.config import ModelConfig
from nlp.models import Transformer

VOCAB = 50
SMALL = ModelConfig(n_layer=3, n_head=2, d_model=16, d_ff=24, max_len=32)


def make(kind: str = "bp", seed: int = 0, **changes) -> Transformer:
    torch.manual_seed(seed)
    cfg = ModelConfig(**{**SMALL.__dict__, **changes})
    return Transformer(cfg, VOCAB, FeedbackConfig(kind=kind), seed=seed)


@pytest.mark.parametrize("placement", ["macro", "micro"])
@pytest.mark.parametrize("kind", ["bp", "dfa"])
def test_a_later_token_never_changes_earlier_outputs(kind: str, placement: str) -> None:
    model = make(kind, placement=placement).eval()
    idx = torch.randint(VOCAB, (2, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = model(idx)
        for t in range(11):
            changed = idx.clone()
            changed[:, t + 1] = (changed[:, t + 1] + 1) % VOCAB
            after = model(changed)
            torch.testing.assert_close(after[:, : t + 1], before[:, : t + 1], rtol=0, atol=1e-6)
            assert not torch.allclose(after[:, t + 1], before[:, t + 1])  # the changed position does see it


def _recorded_points(model: Transformer, idx: torch.Tensor) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    original = model.fb.point

    def spy(h: torch.Tensor) -> torch.Tensor:
        seen.append(h.detach().clone())
        return original(h)

    model.fb.point = spy  # instance attribute shadows the method
    try:
        with torch.no_grad():
            model(idx)
    finally:
        del model.fb.point
    return seen


def _module_outputs(model: Transformer, idx: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    outputs: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    hooks = [
        modules[name].register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out.clone()))
        for name in names
    ]
    with torch.no_grad():
        model(idx)
    for hook in hooks:
        hook.remove()
    return outputs


def test_macro_points_are_the_block_outputs() -> None:
    model = make("bp", placement="macro").eval()
    idx = torch.randint(VOCAB, (2, 8))
    points = _recorded_points(model, idx)
    assert [name for name, _ in model.points()] == ["block0.out", "block1.out", "block2.out"]
    outputs = _module_outputs(model, idx, [f"blocks.{i}.ln2" for i in range(3)])
    assert len(points) == 3
    for i, point in enumerate(points):
        torch.testing.assert_close(point, outputs[f"blocks.{i}.ln2"])


def test_micro_points_follow_attention_norm_ff_activation_and_block() -> None:
    model = make("bp", placement="micro").eval()
    idx = torch.randint(VOCAB, (2, 8))
    points = _recorded_points(model, idx)
    names = [f"blocks.{i}.{m}" for i in range(3) for m in ("ln1", "fc1", "ln2")]
    outputs = _module_outputs(model, idx, names)
    assert [width for _, width in model.points()] == [16, 24, 16] * 3
    assert len(points) == 9
    for i in range(3):
        attn, ff, out = points[3 * i : 3 * i + 3]
        torch.testing.assert_close(attn, outputs[f"blocks.{i}.ln1"])  # after attention + norm
        torch.testing.assert_close(ff, F.relu(outputs[f"blocks.{i}.fc1"]))  # after the feed-forward activation
        torch.testing.assert_close(out, outputs[f"blocks.{i}.ln2"])  # after the block


def test_embedding_point_comes_first() -> None:
    model = make("dfa", embedding_point=True)
    assert model.points()[0] == ("embedding", 16)
    assert model.fb.dims == (16, 16, 16, 16)


def _loss(model: Transformer, idx: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(idx[:, :-1]).flatten(0, 1), idx[:, 1:].flatten())


def test_dfa_update_equals_the_projected_error_backpropagated_through_one_block() -> None:
    """Brute force: every block l gets dW = (∂h_l/∂W)ᵀ (B[:, :d]ᵀ e) with e = dL/dh_L; the head its true gradient."""
    model = make("dfa", placement="macro").eval()  # eval: no dropout, so the two passes are the same function
    idx = torch.randint(VOCAB, (3, 9), generator=torch.Generator().manual_seed(2))
    model.fb.backward(_loss(model, idx))
    got = {name: p.grad.clone() for name, p in model.named_parameters()}

    # The same computation written out: blocks on detached inputs, e read above the last block.
    x, y = idx[:, :-1], idx[:, 1:]
    h = model.wte(x) * math.sqrt(16) + model.pe[: x.shape[1]]
    outs = []
    for block in model.blocks:
        outs.append(block(h, lambda t: t))
        h = outs[-1].detach()
    top = h.requires_grad_()
    loss = F.cross_entropy(model.head(top).flatten(0, 1), y.flatten())
    e, *head_grads = torch.autograd.grad(loss, [top, model.head.weight, model.head.bias])
    signal = (e.reshape(-1, 16) @ model.fb.projector.B[:, :16]).reshape(e.shape)

    torch.testing.assert_close(got["head.weight"], head_grads[0])
    torch.testing.assert_close(got["head.bias"], head_grads[1])
    for i, (block, out) in enumerate(zip(model.blocks, outs, strict=True)):
        inputs = [model.wte.weight, *block.parameters()] if i == 0 else list(block.parameters())
        expected = torch.autograd.grad(out, inputs, grad_outputs=signal, retain_graph=True)
        names = (["wte.weight"] if i == 0 else []) + [f"blocks.{i}.{n}" for n, _ in block.named_parameters()]
        for name, grad in zip(names, expected, strict=True):
            torch.testing.assert_close(got[name], grad, msg=name)


def test_shallow_trains_only_the_vocabulary_layer() -> None:
    model = make("shallow", placement="micro")
    model.fb.backward(_loss(model, torch.randint(VOCAB, (2, 9))))
    trained = {name for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert trained == {"head.weight", "head.bias"}


@pytest.mark.parametrize("error_at", ["hidden", "logits"])
def test_dfa_reaches_every_parameter(error_at: str) -> None:
    model = make("dfa", placement="micro", error_at=error_at)
    assert model.fb.d_err == (16 if error_at == "hidden" else VOCAB)
    model.fb.backward(_loss(model, torch.randint(VOCAB, (2, 9))))
    untrained = [name for name, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert untrained == []


def test_too_long_a_sequence_is_refused() -> None:
    with pytest.raises(ValueError, match=r"model.max_len=32"):
        make()(torch.zeros(1, 33, dtype=torch.long))
