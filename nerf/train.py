"""Train NeRF on one scene with one feedback method, then render and score the held-out views (Table 1).

python -m nerf.train --config nerf/configs/nerf4x128_lego100.yaml --out results/x feedback.kind=dfa

The run folder gets metrics.jsonl (training PSNR, learning rate, iterations/s, learning-curve PSNR,
DFA/BP alignment), final.json (test PSNR and SSIM), renders/ (test views, ground truth and depth
maps as PNG) and turntable.gif (novel views: colour | depth).
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from common import distributed, kinds
from common.alignment import due, measure_alignment
from common.feedback import backward
from common.run import Run, cli, pick_device, progress, read_jsonl, start_run
from nerf import health
from nerf.cameras import Rays
from nerf.config import NerfConfig, TrainConfig
from nerf.data import Scene, load_scene
from nerf.images import depth_to_uint8, save_gif, save_png, to_uint8
from nerf.metrics import mse_to_psnr, psnr, ssim
from nerf.models import NeRF
from nerf.render import RenderOut, render_rays

KINDS = kinds.select("bp", "direct", "frozen")  # BP and every direct and frozen kind


def make_networks(cfg: NerfConfig, device: torch.device) -> list[NeRF]:
    """The coarse network and, when fine samples are asked for, the fine one (each with its own B)."""
    count = 2 if cfg.sampling.fine else 1
    return [NeRF(cfg.model, cfg.feedback, seed=2 * cfg.seed + i).to(device) for i in range(count)]


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """lr × rate^(step / decay_steps): the authors' continuous exponential decay."""
    return cfg.lr * cfg.lr_decay_rate ** (step / cfg.lr_decay_steps)


def sample_pixels(
    cfg: TrainConfig, seed: int, step: int, n_views: int, height: int, width: int, gen: torch.Generator
) -> Tensor:
    """Indices of the ``cfg.rays`` training rays of ``step`` in (view, row, column) order: (R,), on ``gen``'s device.

    ``gen`` is reseeded from (seed, step): the batch is a function of the step alone, the same in every
    process of a torchrun launch (each trains on its shard) and after a resume.
    """
    gen.manual_seed(seed * 1_000_003 + step)
    n, device = cfg.rays, gen.device
    if cfg.batching == "image":
        views = torch.randint(n_views, (1,), device=device, generator=gen).expand(n)
    else:
        views = torch.randint(n_views, (n,), device=device, generator=gen)
    top, bottom, left, right = 0, height, 0, width
    if step < cfg.precrop_iters:  # the centre only, so that early steps do not collapse to the background
        dh, dw = max(1, int(height * cfg.precrop_frac / 2)), max(1, int(width * cfg.precrop_frac / 2))
        top, bottom, left, right = height // 2 - dh, height // 2 + dh, width // 2 - dw, width // 2 + dw
    rows = torch.randint(top, bottom, (n,), device=device, generator=gen)
    cols = torch.randint(left, right, (n,), device=device, generator=gen)
    return (views * height + rows) * width + cols


def autocast(cfg: NerfConfig, device: torch.device) -> contextlib.AbstractContextManager:
    if cfg.train.amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def render(
    nets: list[NeRF], rays: Rays, scene: Scene, cfg: NerfConfig, train: bool
) -> tuple[RenderOut, RenderOut | None]:
    fine = nets[1] if len(nets) > 1 else None
    return render_rays(nets[0], fine, rays, scene.near, scene.far, cfg.sampling, scene.background, train)


def train_step(nets: list[NeRF], opt, rays: Rays, target: Tensor, scene: Scene, cfg: NerfConfig, device) -> Tensor:
    """One step on this process's shard ``rays`` of the batch (all of it in one process), the gradients averaged
    over processes (common.distributed); returns the batch's MSE of the final (fine, else coarse) colours."""
    for net in nets:
        net.train()
    with autocast(cfg, device):
        coarse, fine = render(nets, rays, scene, cfg, train=True)
    weight = distributed.shard_weight(len(target), cfg.train.rays)
    loss = F.mse_loss(coarse.rgb, target)
    if fine is not None:
        loss = loss + F.mse_loss(fine.rgb, target)
    opt.zero_grad(set_to_none=True)
    backward(loss * weight, *(net.fb for net in nets))
    final = fine if fine is not None else coarse
    params = [p for group in opt.param_groups for p in group["params"]]
    mse = distributed.average_gradients(params, F.mse_loss(final.rgb.detach(), target) * weight)
    opt.step()
    return mse


@torch.no_grad()
def render_view(nets: list[NeRF], rays: Rays, scene: Scene, cfg: NerfConfig, device) -> tuple[RenderOut, RenderOut]:
    """Render all rays of one view in chunks of ``eval.chunk``: (final, coarse) outputs, on the CPU."""
    for net in nets:
        net.eval()
    finals, coarses = [], []
    for start in range(0, len(rays), cfg.eval.chunk):
        with autocast(cfg, device):
            coarse, fine = render(nets, rays[start : start + cfg.eval.chunk].to(device), scene, cfg, train=False)
        coarses.append(coarse)
        finals.append(fine if fine is not None else coarse)

    def cat(outs: list[RenderOut]) -> RenderOut:
        return RenderOut(
            *(torch.cat([getattr(o, k).float().cpu() for o in outs]) for k in ("rgb", "depth", "acc")),
            weights=torch.empty(0),
        )

    return cat(finals), cat(coarses)


@torch.no_grad()
def test(nets: list[NeRF], scene: Scene, cfg: NerfConfig, device, views: list[int], out: Path | None) -> dict:
    """PSNR and SSIM of the rendered test ``views`` and the pixel spread of renders and truths (nerf.health);
    with ``out``, also save renders and depth maps."""
    h, w = scene.height, scene.width
    keys = ("test/psnr", "test/ssim", "test/psnr_coarse", "test/render_std", "test/truth_std")
    scores: dict[str, list[float]] = {key: [] for key in keys}
    for k, index in enumerate(progress(views, desc="nerf: test views", unit="view", leave=False)):
        final, coarse = render_view(nets, scene.rays("test", index), scene, cfg, device)
        image, truth = final.rgb.view(h, w, 3), scene.images["test"][index]
        scores["test/psnr"].append(psnr(image, truth))
        scores["test/psnr_coarse"].append(psnr(coarse.rgb.view(h, w, 3), truth))
        scores["test/render_std"].append(float(image.std()))
        scores["test/truth_std"].append(float(truth.std()))
        if out is not None:
            scores["test/ssim"].append(ssim(image, truth))
            if k < cfg.eval.render_views:
                save_png(to_uint8(image), out / "renders" / f"test_{index:03d}.png")
                save_png(to_uint8(truth), out / "renders" / f"gt_{index:03d}.png")
                depth = depth_to_uint8(final.depth.view(h, w), final.acc.view(h, w), scene.near, scene.far)
                save_png(depth, out / "renders" / f"depth_{index:03d}.png")
    return {key: float(np.mean(values)) for key, values in scores.items() if values}


@torch.no_grad()
def turntable(nets: list[NeRF], scene: Scene, cfg: NerfConfig, device, path: Path) -> None:
    """A GIF of novel views around the scene, colour beside depth."""
    factor = cfg.eval.turntable_downscale
    h, w = scene.height // factor, scene.width // factor
    frames = []
    for c2w in progress(scene.turntable(cfg.eval.turntable_frames), desc="nerf: turntable", unit="frame", leave=False):
        final, _ = render_view(nets, scene.camera_rays(c2w[None], factor), scene, cfg, device)
        depth = depth_to_uint8(final.depth.view(h, w), final.acc.view(h, w), scene.near, scene.far)
        frames.append(np.concatenate([to_uint8(final.rgb.view(h, w, 3)), depth], axis=1))
    save_gif(frames, path)


def alignment(net: NeRF, rays: Rays, target: Tensor, scene: Scene, cfg: NerfConfig, seed: int) -> dict[str, float]:
    """DFA/BP alignment at the coarse network's feedback points, on its own loss term for one batch."""

    def loss() -> Tensor:
        coarse, _ = render_rays(net, None, rays, scene.near, scene.far, cfg.sampling, scene.background, train=True)
        return F.mse_loss(coarse.rgb, target)

    return measure_alignment(net.fb, net.parameters(), loss, seed=seed)


class TrainWindow:
    """The summed training MSE since the last log line, and the step that window began at. It is part of the
    checkpoint, so that a resumed run logs the same training PSNR as an uninterrupted one."""

    def __init__(self, device: torch.device) -> None:
        self.sum, self.start = torch.zeros((), device=device), 0

    def add(self, mse: Tensor) -> None:
        self.sum += mse

    def psnr(self, done: int) -> float:
        return mse_to_psnr(self.sum / (done - self.start))  # waits for the device's queued steps

    def reset(self, done: int) -> None:
        self.sum.zero_()
        self.start = done

    def state_dict(self) -> dict:
        return {"sum": self.sum.cpu(), "start": self.start}

    def load_state_dict(self, state: dict) -> None:
        self.sum.copy_(state["sum"])
        self.start = int(state["start"])


def fit(run: Run, cfg: NerfConfig, scene: Scene, nets: list[NeRF], device: torch.device) -> int:
    """Train ``nets`` on the scene's training rays from the run's checkpoint on; returns the steps done (fewer
    than ``train.iters`` when ``train.max_minutes`` ran out). Monitors run on the main process only."""
    main_rank = distributed.world().main
    train_rays = scene.rays("train").to(device)  # (V·H·W) rays
    train_rgb = scene.images["train"].reshape(-1, 3).to(device)
    n_views = len(scene.images["train"])
    monitor_views = list(range(0, len(scene.images["test"]), cfg.eval.test_stride))[: cfg.eval.monitor_views]
    params = [p for net in nets for p in net.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.train.lr, fused=device.type == "cuda")
    window = TrainWindow(device)
    start = run.resume(**dict(zip(("coarse", "fine"), nets, strict=False)), optimizer=opt, window=window)
    distributed.broadcast(*nets)
    pixels = torch.Generator(device)
    timed_from, tick, done = start, time.perf_counter(), start  # steps per second of this invocation
    for step in run.units(start, cfg.train.iters, "step"):
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg.train, step)
        index = sample_pixels(cfg.train, cfg.seed, step, n_views, scene.height, scene.width, pixels)
        index = distributed.shard(index)  # this process's rays of the batch
        distributed.reseed(cfg.seed, step)  # several processes: each its own stratified jitter
        batch, target = train_rays[index], train_rgb[index]
        window.add(train_step(nets, opt, batch, target, scene, cfg, device))
        done = step + 1
        metrics: dict[str, float] = {}
        if done % cfg.train.log_every == 0 or done == cfg.train.iters:
            train_psnr = window.psnr(done)
            metrics |= {"train/psnr": train_psnr, "lr": learning_rate(cfg.train, step)}
            metrics["its"] = (done - timed_from) / (time.perf_counter() - tick)
            run.bar.set_postfix(psnr=f"{train_psnr:.2f}")
            window.reset(done)
            timed_from, tick = done, time.perf_counter()
        paused = time.perf_counter()
        if main_rank and cfg.eval.every and done % cfg.eval.every == 0:
            metrics["monitor/psnr"] = test(nets, scene, cfg, device, monitor_views, out=None)["test/psnr"]
        if main_rank and nets[0].fb.projector is not None and due(cfg.feedback.align_every, done):
            metrics |= health.finite_alignment(alignment(nets[0], batch, target, scene, cfg, seed=done))
        tick += time.perf_counter() - paused  # evaluations are not training time: `its` counts steps per second
        if metrics:
            run.log(done, metrics)
        out_of_time = cfg.train.max_minutes > 0 and run.elapsed >= 60 * cfg.train.max_minutes
        if done % cfg.train.checkpoint_every == 0 or done == cfg.train.iters or out_of_time:
            run.checkpoint(done)
        if out_of_time:
            break
    return done


def conclude(run: Run, cfg: NerfConfig, scene: Scene, nets: list[NeRF], device: torch.device, trained: int) -> dict:
    """The final test on every ``eval.test_stride``-th test view, the renders and turntable, and the record."""
    test_views = list(range(0, len(scene.images["test"]), cfg.eval.test_stride))
    final = test(nets, scene, cfg, device, test_views, run.out)
    if cfg.eval.turntable_frames:
        turntable(nets, scene, cfg, device, run.out / "turntable.gif")
    budget = {
        "iters": cfg.train.iters,
        "rays_per_step": cfg.train.rays,
        "samples": [cfg.sampling.coarse, cfg.sampling.fine],
        "network": f"{cfg.model.depth}x{cfg.model.width}",
        "resolution": f"{scene.width}x{scene.height}",
        "test_views": len(test_views),
    }
    if cfg.train.max_minutes:
        budget |= {"max_minutes": cfg.train.max_minutes, "iters_done": trained}
    if distributed.world().size > 1:
        budget["processes"] = distributed.world().size
    warnings = health.warnings(final, read_jsonl(run.out / "metrics.jsonl"))
    for warning in warnings:
        print(f"[nerf] warning: {warning}", file=sys.stderr)
    return run.finish(
        {k: final[k] for k in ("test/psnr", "test/ssim", "test/psnr_coarse")},
        budget=budget,
        data=scene.describe().as_dict(),
        **({"warnings": warnings} if warnings else {}),
    )


def main(argv: list[str] | None = None) -> dict:
    run = start_run(argv, NerfConfig, "nerf", KINDS, __doc__.splitlines()[0])
    cfg: NerfConfig = run.cfg
    device = distributed.setup(pick_device(cfg.train.device))  # under torchrun: this process's GPU
    scene = load_scene(cfg.data)
    nets = make_networks(cfg, device)
    trained = fit(run, cfg, scene, nets, device)
    if not distributed.world().main:  # under torchrun the final test and pictures are rank 0's: same weights
        return run.finish({}, budget={}, data=None)
    return conclude(run, cfg, scene, nets, device, trained)


if __name__ == "__main__":
    cli(main, runs=True)
