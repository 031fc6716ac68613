"""nerf.train under torchrun: two processes on half the rays of every step take the steps of one process on all
of them, and a run interrupted under torchrun resumes to the result of an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

CONFIG = "nerf/configs/nerf4x128_lego100.yaml"
TOLERANCE = 1e-5
"""Largest parameter difference allowed after 3 Adam steps: float32 sums taken in another order."""
SMALL = ["train.rays=64", "sampling.coarse=8", "sampling.fine=8", "eval.turntable_frames=0", "eval.render_views=1"]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    objects = torch.load(run_dir / "checkpoint.pt", weights_only=True)["objects"]
    return {f"{net}.{k}": v for net in ("coarse", "fine") for k, v in objects[net].items()}


def largest_difference(a: Path, b: Path) -> float:
    wa, wb = weights(a), weights(b)
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


@pytest.mark.slow
def test_two_processes_on_half_the_rays_equal_one(tmp_path: Path, npz_scene: Path, launch, read_final) -> None:
    # Stratified jitter off: each process draws its own (as a second GPU would), so only then are they equal.
    args = [f"data.root={npz_scene}", *SMALL, "train.iters=3", "sampling.perturb=false", "feedback.kind=dfa"]
    one, two = tmp_path / "one", tmp_path / "two"
    launch("nerf.train", ["--config", CONFIG, "--out", one, "--threads", 1, *args])
    launch("nerf.train", ["--config", CONFIG, "--out", two, "--threads", 1, *args], processes=2)
    difference = largest_difference(one, two)
    print(f"nerf dfa: largest parameter difference after 3 steps, 2 processes vs 1: {difference:.1e}")
    assert difference < TOLERANCE
    assert read_final(two)["metrics"] == pytest.approx(read_final(one)["metrics"], rel=1e-4)
    assert read_final(two)["budget"]["processes"] == 2
    assert (two / "renders").is_dir()  # rank 0 ran the final test and wrote its pictures


@pytest.mark.slow
def test_an_interrupted_torchrun_resumes_to_the_uninterrupted_result(tmp_path: Path, npz_scene: Path, launch) -> None:
    # Jitter on: each process's stream depends on (seed, rank, step) only, so the resumed run draws the same.
    args = [f"data.root={npz_scene}", *SMALL, "train.iters=4", "train.checkpoint_every=100", "feedback.kind=dfa"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    common = ["--config", CONFIG, "--threads", 1, *args]
    launch("nerf.train", ["--out", whole, *common], processes=2)
    stopped = launch("nerf.train", ["--out", cut, "--stop-after", 2, *common], processes=2, check=False)
    assert stopped.returncode != 0 and "stopped after 2 step" in stopped.stderr
    assert not (cut / "final.json").exists()
    launch("nerf.train", ["--out", cut, *common], processes=2)
    assert largest_difference(whole, cut) == 0.0
    assert (whole / "final.json").read_bytes() == (cut / "final.json").read_bytes()
