"""Each CTR layer against a brute-force loop, and where each model sends its DFA signal."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from common.feedback import Feedback, FeedbackConfig, backward
from recsys.config import ModelConfig
from recsys.models import MODELS, build_model
from recsys.models.layers import CrossLayer, FieldEmbedding, LogarithmicLayer, fm_interaction

FIELD_DIMS = (3, 5, 2, 7)


def test_fm_interaction_is_the_sum_over_field_pairs():
    e = torch.randn(6, 4, 3, dtype=torch.float64)
    brute = torch.zeros(6, 1, dtype=torch.float64)
    for b in range(6):
        for f in range(4):
            for g in range(f + 1, 4):
                brute[b, 0] += sum(e[b, f, k] * e[b, g, k] for k in range(3))
    torch.testing.assert_close(fm_interaction(e), brute)


def test_cross_layer_matches_its_formula():
    torch.manual_seed(0)
    layer = CrossLayer(5).double()
    torch.nn.init.normal_(layer.b)
    x0, x = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    w = layer.w.weight[0]
    brute = torch.empty(4, 5, dtype=torch.float64)
    for b in range(4):
        dot = sum(x[b, i] * w[i] for i in range(5))
        for i in range(5):
            brute[b, i] = x0[b, i] * dot + layer.b[i] + x[b, i]
    torch.testing.assert_close(layer(x0, x), brute)


def test_logarithmic_layer_matches_its_formula():
    torch.manual_seed(0)
    layer = LogarithmicLayer(n_fields=4, n_neurons=3).double()
    e = torch.randn(2, 4, 5, dtype=torch.float64)
    with torch.no_grad():
        out = layer(e)  # (2, 3·5)
    weight = layer.weight.detach()
    for b in range(2):
        for j in range(3):
            for k in range(5):
                s = sum(weight[j, f].item() * math.log1p(abs(e[b, f, k].item()) + 1e-7) for f in range(4))
                assert out[b, j * 5 + k].item() == pytest.approx(max(math.expm1(s), 0.0), rel=1e-9, abs=1e-12)


def test_field_embedding_offsets_each_field():
    emb = FieldEmbedding(FIELD_DIMS, 2)
    x = torch.tensor([[2, 4, 1, 6]])
    rows = [0 + 2, 3 + 4, 8 + 1, 10 + 6]
    torch.testing.assert_close(emb(x)[0], emb.table.weight[rows])


def _model(name: str, kind: str, **model) -> torch.nn.Module:
    cfg = ModelConfig(name=name, embed_dim=3, mlp_dims=(8, 6), cross_layers=3, lnn_dim=5, **model)
    torch.manual_seed(0)
    return build_model(cfg, FIELD_DIMS, dropout=0.0, feedback=FeedbackConfig(kind=kind), seed=0)


def _grads(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor | None]:
    model.zero_grad(set_to_none=True)
    loss = F.binary_cross_entropy_with_logits(model(x), y)
    backward(loss, *[m for m in model.modules() if isinstance(m, Feedback)])
    return {name: p.grad for name, p in model.named_parameters()}


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    x = torch.stack([torch.randint(0, d, (32,), generator=g) for d in FIELD_DIMS], dim=1)
    return x, torch.randint(0, 2, (32,), generator=g).float()


@pytest.mark.parametrize("name", sorted(set(MODELS) - {"fm"}))
def test_bp_is_plain_backpropagation(name, batch):
    model = _model(name, "bp")
    grads = _grads(model, *batch)
    model.zero_grad(set_to_none=True)
    F.binary_cross_entropy_with_logits(model(batch[0]), batch[1]).backward()
    for param_name, p in model.named_parameters():
        torch.testing.assert_close(grads[param_name], p.grad)


def test_deepfm_embeddings_learn_only_through_fm_under_dfa(batch):
    x, y = batch
    model = _model("deepfm", "dfa")
    grads = _grads(model, x, y)
    # Reference: the same loss with the MLP reading detached embeddings, backpropagated.
    model.zero_grad(set_to_none=True)
    e = model.embedding(x)
    h = model.mlp(e.flatten(1).detach(), model.fb)
    model.fb.reset()
    logit = (model.linear(x) + fm_interaction(e) + model.head(h)).squeeze(1)
    F.binary_cross_entropy_with_logits(logit, y).backward()
    torch.testing.assert_close(grads["embedding.table.weight"], model.embedding.table.weight.grad)
    assert grads["mlp.blocks.0.0.weight"] is not None and grads["mlp.blocks.0.0.weight"].abs().sum() > 0


def test_dcn_embeddings_receive_the_projected_error(batch):
    x, y = batch
    model = _model("dcn", "dfa")
    grads = _grads(model, x, y)
    logit = model(x)
    logit.retain_grad()
    F.binary_cross_entropy_with_logits(logit, y).backward()  # e = dL/dlogit
    model.fb.reset()
    d = len(FIELD_DIMS) * 3
    signal = (logit.grad[:, None] @ model.fb.projector.B[:, :d]).view(32, len(FIELD_DIMS), 3)  # B_0 e per sample
    expected = torch.zeros_like(model.embedding.table.weight)
    expected.index_add_(0, (x + model.embedding.offsets).flatten(), signal.reshape(-1, 3))
    torch.testing.assert_close(grads["embedding.table.weight"], expected)


@pytest.mark.parametrize(("embedding_feedback", "learns"), [(False, False), (True, True)])
def test_afn_embeddings_under_dfa(batch, embedding_feedback, learns):
    grads = _grads(_model("afn", "dfa", embedding_feedback=embedding_feedback), *batch)
    embedding_grad = grads["embedding.table.weight"]
    assert (embedding_grad is not None and embedding_grad.abs().sum() > 0) == learns


@pytest.mark.parametrize("name", sorted(set(MODELS) - {"fm"}))
def test_shallow_trains_only_above_the_last_point(name, batch):
    grads = _grads(_model(name, "shallow"), *batch)
    hidden = [n for n in grads if n.startswith(("mlp.", "cross.", "lnn."))]
    assert hidden and all(grads[n] is None for n in hidden)
    assert grads["head.weight"] is not None
