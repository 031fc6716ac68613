"""Train an image classifier (MLP, LeNet or CIFAR ResNet) with one feedback method.

python -m vision.train --config vision/configs/lenet_mnist.yaml --out results/x feedback.kind=dfa
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common import kinds
from common.alignment import due, measure_alignment
from common.fa import feedback_stats
from common.run import cli, pick_device, start_run
from vision.config import TrainConfig, VisionConfig
from vision.data import ImageData, Images, augment, load
from vision.models import FeedbackNet, build_model

KINDS = kinds.select("chain", "direct", "frozen")  # every chain (BP, FA family), direct and frozen kind
FINAL = ("test/err", "test/acc", "test/loss")


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(cfg: TrainConfig, epoch: int) -> float:
    """Multiplier of the base learning rate during ``epoch`` (0-based)."""
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "multistep":
        return cfg.gamma ** sum(epoch >= milestone for milestone in cfg.milestones)
    return 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs))


def train_epoch(
    model: FeedbackNet,
    opt: torch.optim.Optimizer,
    data: ImageData,
    cfg: VisionConfig,
    epoch_seed: int,
    watch: Callable[[Tensor], None] = lambda loss: None,
) -> float:
    """One pass over the shuffled training set; returns the mean training loss. ``watch`` sees every batch's
    loss (``Run.watch``: the first one is the scale by which divergence is judged)."""
    model.train()
    x, y = data.train.x, data.train.y
    gen = torch.Generator().manual_seed(epoch_seed)  # the order and the augmentations of this epoch
    order = torch.randperm(len(x), generator=gen)
    total = 0.0
    for start in range(0, len(x), cfg.train.batch_size):
        idx = order[start : start + cfg.train.batch_size].to(x.device)
        batch = augment(x[idx], data.pad_value, gen) if cfg.data.augment else x[idx]
        loss = F.cross_entropy(model(batch), y[idx])
        opt.zero_grad(set_to_none=True)
        model.fb.backward(loss)
        opt.step()
        total += loss.item() * len(idx)
        watch(loss)
    return total / len(x)


@torch.no_grad()
def evaluate(model: FeedbackNet, images: Images, batch: int, split: str) -> dict[str, float]:
    """Loss, accuracy and error (%) of ``split`` ("test" or "val"), ``batch`` images at a time."""
    model.eval()
    loss, wrong = 0.0, 0
    for start in range(0, len(images.y), batch):
        x, y = images.x[start : start + batch], images.y[start : start + batch]
        logits = model(x)
        loss += F.cross_entropy(logits, y).item() * len(y)
        wrong += int((logits.argmax(-1) != y).sum())
    n = len(images.y)
    return {f"{split}/loss": loss / n, f"{split}/acc": 1 - wrong / n, f"{split}/err": 100 * wrong / n}


@contextlib.contextmanager
def kept_batchnorm_stats(model: nn.Module) -> Iterator[None]:
    """Undo what forward passes in training mode do to batch-norm running statistics (a measurement must
    leave the model as it found it)."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d)]
    saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in norms]
    try:
        yield
    finally:
        for module, state in zip(norms, saved, strict=True):
            module.load_state_dict(state)


def diagnostics(model: FeedbackNet, data: ImageData, cfg: VisionConfig, epoch: int) -> dict[str, float]:
    """Per point, the alignment of DFA's signals and updates with BP's (common.alignment); per layer, the
    norm ratio and angle between the FA family's feedback and forward weights (common.fa)."""
    if not due(cfg.feedback.align_every, epoch):
        return {}
    metrics = feedback_stats(model)
    if model.fb.projector is not None:
        x, y = data.train.x[: cfg.train.align_batch], data.train.y[: cfg.train.align_batch]
        model.train()
        with kept_batchnorm_stats(model):
            metrics |= measure_alignment(model.fb, model.parameters(), lambda: F.cross_entropy(model(x), y), seed=epoch)
    return metrics


class BestEpoch:
    """The metrics of the epoch with the lowest validation error (the best-validation model); checkpointed."""

    def __init__(self) -> None:
        self.epoch, self.metrics = 0, {}

    def update(self, epoch: int, metrics: dict[str, float]) -> None:
        if not self.metrics or metrics["val/err"] < self.metrics["val/err"]:
            self.epoch, self.metrics = epoch, dict(metrics)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "metrics": self.metrics}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.metrics = state["epoch"], dict(state["metrics"])


def main(argv: list[str] | None = None) -> dict:
    run = start_run(argv, VisionConfig, "vision", KINDS, __doc__.splitlines()[0])
    cfg: VisionConfig = run.cfg
    device = pick_device(cfg.train.device)

    data = load(cfg.data).to(device)
    model = build_model(cfg.model, cfg.feedback, data.shape, data.n_classes, seed=cfg.seed).to(device)
    opt = make_optimizer(cfg.train, model)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: lr_factor(cfg.train, epoch))
    best = BestEpoch()

    start = run.resume(model=model, optimizer=opt, scheduler=sched, best=best)
    metrics: dict[str, float] = {}
    for epoch in run.units(start, cfg.train.epochs, "epoch"):
        train_loss = train_epoch(model, opt, data, cfg, cfg.seed * 10_000 + epoch, watch=run.watch)
        metrics = {"train/loss": train_loss, **evaluate(model, data.test, cfg.train.eval_batch, "test")}
        if data.val is not None:
            metrics |= evaluate(model, data.val, cfg.train.eval_batch, "val")
            best.update(epoch + 1, metrics)
        metrics |= diagnostics(model, data, cfg, epoch)
        run.log(epoch + 1, metrics)
        sched.step()
        run.checkpoint(epoch + 1)
    if data.val is not None:  # the best-validation model, evaluated on the test set
        final, extra = {k: best.metrics[k] for k in (*FINAL, "val/err")}, {"selected_epoch": best.epoch}
    else:
        final, extra = {k: (metrics or evaluate(model, data.test, cfg.train.eval_batch, "test"))[k] for k in FINAL}, {}
    budget = {"epochs": cfg.train.epochs, "train_images": len(data.train.y), "model": model_label(cfg)}
    return run.finish(final, budget=budget, data=data.source.as_dict(), **extra)


def model_label(cfg: VisionConfig) -> str:
    """The network in a few words, for the report's budget line."""
    m = cfg.model
    if m.name == "mlp":
        return f"mlp {'-'.join(map(str, m.hidden))} {m.activation}"
    return f"resnet-{m.depth}" if m.name == "resnet" else m.name


if __name__ == "__main__":
    cli(main, runs=True)
