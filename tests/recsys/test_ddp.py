"""recsys.train under torchrun: two processes on (uneven) halves of every batch take the steps of one process
on the whole batch: Deep & Cross under DFA, BatchNorm on the whole batch's statistics, clipping after the
average."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

CONFIG = "recsys/configs/dcn_synthetic.yaml"
TOLERANCE = 1e-5
"""Largest parameter difference allowed after 4 Adam steps: float32 sums taken in another order."""


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """The model's weights in a run's checkpoint, less the biases of the linear layers that feed a BatchNorm and
    that BatchNorm's running mean, which tracks them. BatchNorm subtracts such a bias again, so its gradient is
    zero in exact arithmetic, and Adam turns the rounding noise of that zero into steps of order lr that differ
    between any two orders of summation (the evaluation below compares the function itself)."""
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)["objects"]["search"]["model"]
    blocks = [k.removesuffix("1.running_mean") for k in state if k.endswith(".1.running_mean")]
    noisy = {f"{block}0.bias" for block in blocks} | {f"{block}1.running_mean" for block in blocks}
    return {k: v for k, v in state.items() if v.is_floating_point() and k not in noisy}


@pytest.mark.slow
def test_two_processes_on_uneven_halves_equal_one(tmp_path: Path, smoke_cache: str, launch, read_final) -> None:
    # 2001 rows in batches of 512: three batches of 256 + 256 rows per process, then 465 = 233 + 232 rows.
    # Clipping at 0.01 acts on every step: it must see the averaged gradient.
    args = ["data.dataset=synthetic_smoke", f"data.cache={smoke_cache}", "data.train_limit=2001"]
    args += ["data.eval_limit=1000", "train.epochs=1", "train.batch_size=512", "train.clip_grad_norm=0.01"]
    args += ["model.mlp_dims=[16,16]", "model.cross_layers=2", "search.lr=[0.001]", "search.dropout=[0.0]"]
    args += ["feedback.kind=dfa"]
    one, two = tmp_path / "one", tmp_path / "two"
    launch("recsys.train", ["--config", CONFIG, "--out", one, "--threads", 1, *args])
    launch("recsys.train", ["--config", CONFIG, "--out", two, "--threads", 1, *args], processes=2)
    a, b = weights(one), weights(two)
    difference = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f"recsys dcn dfa: largest parameter difference after 4 steps, 2 processes vs 1: {difference:.1e}")
    assert difference < TOLERANCE
    scores_one, scores_two = read_final(one)["metrics"], read_final(two)["metrics"]
    for key in ("val/logloss", "test/logloss"):
        assert scores_two[key] == pytest.approx(scores_one[key], rel=1e-5)
    for key in ("val/auc", "test/auc"):  # a ranking: outputs equal to 6 digits may still swap near-ties
        assert scores_two[key] == pytest.approx(scores_one[key], abs=2e-4)
    assert read_final(two)["budget"]["processes"] == 2
