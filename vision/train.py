"""Train a fully connected net on MNIST with one feedback method.

python -m vision.train --config vision/configs/mlp800_mnist.yaml --out results/x feedback.kind=dfa
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from common.alignment import measure_alignment
from common.run import cli, start_run
from vision.config import VisionConfig
from vision.data import load_split
from vision.models import MLP

KINDS = ("bp", "fa", "usf", "brsf", "frsf", "dfa", "shallow", "optical")


def make_optimizer(cfg: VisionConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.train.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.train.lr, momentum=cfg.train.momentum, weight_decay=cfg.train.weight_decay
        )
    return torch.optim.Adam(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)


def lr_factor(cfg: VisionConfig, epoch: int) -> float:
    """Multiplier of the base learning rate during ``epoch`` (0-based)."""
    if cfg.train.schedule == "constant":
        return 1.0
    return 0.5 * (1 + math.cos(math.pi * epoch / cfg.train.epochs))


def train_epoch(model: MLP, opt: torch.optim.Optimizer, x: Tensor, y: Tensor, batch: int, epoch_seed: int) -> float:
    """One pass over the shuffled training set; returns the mean training loss."""
    model.train()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch_seed))
    total = 0.0
    for start in range(0, len(x), batch):
        idx = order[start : start + batch]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        model.fb.backward(loss)
        opt.step()
        total += loss.item() * len(idx)
    return total / len(x)


@torch.no_grad()
def test(model: MLP, x: Tensor, y: Tensor) -> dict[str, float]:
    model.eval()
    logits = model(x)
    wrong = int((logits.argmax(-1) != y).sum())
    return {
        "test/loss": F.cross_entropy(logits, y).item(),
        "test/acc": 1 - wrong / len(y),
        "test/err": 100 * wrong / len(y),
    }


def main(argv: list[str] | None = None) -> dict:
    run = start_run(argv, VisionConfig, "vision", KINDS, __doc__.splitlines()[0])
    cfg: VisionConfig = run.cfg

    x_train, y_train = load_split(Path(cfg.data.root), "train", cfg.data.train_limit)
    x_test, y_test = load_split(Path(cfg.data.root), "test", cfg.data.test_limit)
    model = MLP(cfg.model.hidden, cfg.model.activation, cfg.feedback, seed=cfg.seed)
    opt = make_optimizer(cfg, model)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: lr_factor(cfg, epoch))
    align_x, align_y = x_train[: cfg.train.align_batch], y_train[: cfg.train.align_batch]

    start = run.resume(model=model, optimizer=opt, scheduler=sched)
    metrics: dict[str, float] = {}
    for epoch in run.units(start, cfg.train.epochs, "epoch"):
        train_loss = train_epoch(model, opt, x_train, y_train, cfg.train.batch_size, cfg.seed * 10_000 + epoch)
        metrics = {"train/loss": train_loss, **test(model, x_test, y_test)}
        if cfg.feedback.align_every and model.fb.projector is not None and epoch % cfg.feedback.align_every == 0:
            model.train()
            metrics |= measure_alignment(
                model.fb, model.parameters(), lambda: F.cross_entropy(model(align_x), align_y), seed=epoch
            )
        run.log(epoch + 1, metrics)
        sched.step()
        run.checkpoint(epoch + 1, model=model, optimizer=opt, scheduler=sched)
    if not metrics:  # resumed after the last epoch: evaluate the restored model
        metrics = test(model, x_test, y_test)
    final = {k: metrics[k] for k in ("test/err", "test/acc", "test/loss")}
    budget = {"epochs": cfg.train.epochs, "train_images": len(x_train), "hidden": list(cfg.model.hidden)}
    return run.finish(
        final, budget=budget, data=f"MNIST (shipped IDX files), {len(x_train)} train / {len(x_test)} test"
    )


if __name__ == "__main__":
    cli(main, runs=True)
