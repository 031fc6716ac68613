"""nlp.train under torchrun: two processes on half batches take the steps of one process on the whole batch
(DFA, and shallow's frozen blocks), with clipping after the gradients are averaged; only rank 0 writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

CONFIG = "nlp/configs/transformer_wikitext2.yaml"
TOLERANCE = 1e-5
"""Largest parameter difference allowed after 3 Adam steps of lr ~1e-3: float32 sums taken in another order."""


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """The model's weights in a run's checkpoint, less the key biases of attention (the middle third of
    ``qkv.bias``): softmax ignores a shift shared by all keys, so their gradient is zero in exact arithmetic,
    and Adam turns the rounding noise of that zero into steps of order lr that differ between any two
    orders of summation. They do not change the function (the evaluation below compares it)."""
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)["objects"]["model"]
    kept = {k: v for k, v in state.items() if v.is_floating_point()}
    for key in [k for k in kept if k.endswith("attn.qkv.bias")]:
        q, _, v = kept[key].chunk(3)
        kept[key] = torch.cat([q, v])
    return kept


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dfa", "shallow"])
def test_two_processes_on_half_batches_equal_one(tmp_path: Path, tiny: list[str], launch, read_final, kind) -> None:
    # Batches of 4: two rows per process. Dropout off: each process draws its own masks. Clipping at 0.5 acts.
    args = [*tiny, "train.max_steps=3", "train.eval_every=3", "train.warmup=1", "model.dropout=0"]
    args += [f"feedback.kind={kind}"]
    one, two = tmp_path / "one", tmp_path / "two"
    launch("nlp.train", ["--config", CONFIG, "--out", one, "--threads", 1, *args])
    launch("nlp.train", ["--config", CONFIG, "--out", two, "--threads", 1, *args], processes=2)
    a, b = weights(one), weights(two)
    difference = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f"nlp {kind}: largest parameter difference after 3 steps, 2 processes vs 1: {difference:.1e}")
    assert difference < TOLERANCE
    assert read_final(two)["budget"]["processes"] == 2
    for key, value in read_final(one)["metrics"].items():
        assert read_final(two)["metrics"][key] == pytest.approx(value, rel=1e-5)
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())  # rank 1 wrote nothing
