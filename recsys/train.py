"""Train a CTR model on a prepared Criteo-format dataset with one feedback method, searching lr × dropout.

python -m recsys.train --config recsys/configs/deepfm_synthetic.yaml --out results/x feedback.kind=dfa

For each point of the grid ``search.lr × search.dropout`` (BP and DFA have their own grids: the paper
tuned them separately), a fresh model trains with Adam for at most ``train.epochs`` epochs and stops after
``train.patience`` epochs without a better validation AUC. The point and epoch with the best validation
AUC are selected; the test AUC and log loss of that epoch are reported. The test split never takes part
in a choice. One unit of progress (and of ``--stop-after``) is one epoch of one grid point.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

from common import distributed, kinds
from common.alignment import due, measure_alignment
from common.config import ConfigError, to_dict
from common.feedback import Feedback, backward
from common.metrics import BestTracker
from common.run import DIVERGED_FACTOR, cli, pick_device, start_run
from recsys.config import RecsysConfig
from recsys.data import Split, load_data, warn_if_few_steps
from recsys.models import build_model

KINDS = kinds.select("bp", "direct", "frozen")  # BP and every direct and frozen kind


class GridSearch:
    """One model at a time, one per (lr, dropout) grid point, with early stopping; checkpointable."""

    def __init__(self, cfg: RecsysConfig, field_dims: tuple[int, ...], device: torch.device) -> None:
        self.cfg, self.field_dims, self.device = cfg, field_dims, device
        self.grid = list(itertools.product(cfg.search.lr, cfg.search.dropout))
        if not self.grid:
            raise ConfigError("search.lr and search.dropout must each hold at least one value")
        self.trackers = [BestTracker() for _ in self.grid]
        self.stale = [0] * len(self.grid)  # epochs since the last better validation AUC
        self.index = -1
        self.model: nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    def start(self, index: int) -> None:
        """A fresh model and optimizer for grid point ``index`` (seeded: independent of what ran before)."""
        lr, dropout = self.grid[index]
        torch.manual_seed(self.cfg.seed * 1_000 + index)
        model = build_model(self.cfg.model, self.field_dims, dropout, self.cfg.feedback, seed=self.cfg.seed)
        self.model = distributed.sync_batchnorm(model).to(self.device)  # several processes: whole-batch statistics
        distributed.broadcast(self.model)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=lr, weight_decay=self.cfg.train.weight_decay)
        self.index = index

    def stopped(self, index: int) -> bool:
        return self.stale[index] >= self.cfg.train.patience

    def diverge(self, index: int) -> None:
        """Grid point ``index`` diverged: it trains no further and cannot be selected."""
        self.trackers[index] = BestTracker()
        self.stale[index] = self.cfg.train.patience

    def diverged(self, metrics: dict[str, float]) -> bool:
        """A non-finite metric, or a training log loss 1000× that of predicting 0.5 everywhere (ln 2)."""
        values = [v for v in metrics.values() if isinstance(v, float)]
        return not all(map(math.isfinite, values)) or metrics["train/logloss"] > DIVERGED_FACTOR * math.log(2)

    def record(self, index: int, epoch: int, metrics: dict[str, float]) -> None:
        better = self.trackers[index].update(metrics["val/auc"], epoch, metrics)
        self.stale[index] = 0 if better else self.stale[index] + 1

    def best(self) -> int:
        """The grid point with the best validation AUC."""
        scores = [float("-inf") if t.best is None else t.best for t in self.trackers]
        return max(range(len(self.grid)), key=scores.__getitem__)

    def state_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "model": self.model.state_dict() if self.model else None,
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "trackers": [t.state_dict() for t in self.trackers],
            "stale": list(self.stale),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["index"] >= 0:
            self.start(state["index"])
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        for tracker, saved in zip(self.trackers, state["trackers"], strict=True):
            tracker.load_state_dict(saved)
        self.stale = list(state["stale"])


def feedbacks(model: nn.Module) -> list[Feedback]:
    return [m for m in model.modules() if isinstance(m, Feedback)]


def train_epoch(
    model: nn.Module, opt: torch.optim.Optimizer, data: Split, cfg: RecsysConfig, seed: int
) -> tuple[float, float]:
    """One pass over the shuffled training split, each batch shared among the processes (common.distributed);
    returns the mean training log loss and the seconds per step."""
    model.train()
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    batch, fbs, total = cfg.train.batch_size, feedbacks(model), 0.0
    params = [p for group in opt.param_groups for p in group["params"]]
    tail = len(data) % batch  # BatchNorm cannot train on one row, nor a process on none: such a tail is left out
    stop = len(data) - tail if 0 < tail < max(2, distributed.world().size) else len(data)
    began = time.perf_counter()
    for start in range(0, stop, batch):
        idx = order[start : start + batch].to(data.y.device)
        mine = distributed.shard(idx)  # this process's rows of the batch
        loss = F.binary_cross_entropy_with_logits(model(data.x[mine].long()), data.y[mine])
        loss = loss * distributed.shard_weight(len(mine), len(idx))
        opt.zero_grad(set_to_none=True)
        backward(loss, *fbs)
        loss = distributed.average_gradients(params, loss)  # before clipping: it sees the batch's norm
        if cfg.train.clip_grad_norm:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.train.clip_grad_norm)
        opt.step()
        total += loss.item() * len(idx)  # .item() waits for the device: the timing below is the steps'
    return total / stop, (time.perf_counter() - began) / max(1, -(-stop // batch))


@torch.no_grad()
def test(model: nn.Module, data: Split, batch: int, prefix: str) -> dict[str, float]:
    """AUC and log loss of the model on one split."""
    model.eval()
    logits = torch.cat([model(data.x[i : i + batch].long()) for i in range(0, len(data), batch)])
    logits, y = logits.double().cpu(), data.y.double().cpu()
    if not torch.isfinite(logits).all():  # a diverged model: no AUC to compute (the caller records it)
        return {f"{prefix}/auc": math.nan, f"{prefix}/logloss": math.nan}
    return {
        f"{prefix}/auc": float(roc_auc_score(y.numpy(), logits.numpy())),
        f"{prefix}/logloss": F.binary_cross_entropy_with_logits(logits, y).item(),
    }


def alignment(model: nn.Module, data: Split, rows: int, seed: int) -> dict[str, float]:
    """DFA/BP alignment on the first ``rows`` training rows (common.alignment)."""
    (fb,) = feedbacks(model)
    x, y = data.x[:rows].long(), data.y[:rows]
    model.train()
    return measure_alignment(fb, model.parameters(), lambda: F.binary_cross_entropy_with_logits(model(x), y), seed)


def main(argv: list[str] | None = None) -> dict:
    run = start_run(argv, RecsysConfig, "recsys", KINDS, __doc__.splitlines()[0])
    cfg: RecsysConfig = run.cfg

    data = load_data(cfg.data)
    device = distributed.setup(pick_device(cfg.train.device))  # under torchrun: this process's GPU
    train, val, test_split = (data.splits[s].to(device) for s in ("train", "val", "test"))
    warn_if_few_steps(len(train), cfg.train.batch_size)
    search = GridSearch(cfg, data.field_dims, device)
    epochs = cfg.train.epochs

    start = run.resume(search=search)
    for unit in run.units(start, len(search.grid) * epochs, "epoch"):
        index, epoch = divmod(unit, epochs)
        if search.stopped(index):  # early-stopped: this grid point's remaining epochs are skipped
            continue
        if search.index != index:
            search.start(index)
        model = search.model
        distributed.reseed(cfg.seed, unit)  # several processes: each its own dropout masks
        seed = (cfg.seed * 1_000 + index) * 1_000 + epoch
        train_loss, step_s = train_epoch(model, search.optimizer, train, cfg, seed)
        metrics = {"train/logloss": train_loss, "train/step_s": step_s}
        metrics |= test(model, val, cfg.train.eval_batch_size, "val")
        metrics |= test(model, test_split, cfg.train.eval_batch_size, "test")
        metrics = distributed.from_main(metrics)  # early stopping decides alike on every process
        lr, dropout = search.grid[index]
        if search.diverged(metrics):  # this learning rate diverged; the other grid points go on
            search.diverge(index)
            run.log(unit + 1, {"grid": index, "lr": lr, "dropout": dropout, "epoch": epoch + 1, "diverged": True})
            run.checkpoint(unit + 1)
            continue
        if due(cfg.feedback.align_every, epoch) and any(fb.projector is not None for fb in feedbacks(model)):
            metrics |= alignment(model, train, cfg.train.batch_size, seed=unit)
        search.record(index, epoch + 1, metrics)
        run.log(unit + 1, {"grid": index, "lr": lr, "dropout": dropout, "epoch": epoch + 1, **metrics})
        run.checkpoint(unit + 1)

    if all(t.best is None for t in search.trackers):
        run.diverge(len(search.grid) * epochs, "train/logloss", math.nan)  # every grid point diverged
    best = search.best()
    chosen = search.trackers[best]
    lr, dropout = search.grid[best]
    final = {k: chosen.metrics[k] for k in ("test/auc", "test/logloss", "val/auc", "val/logloss")}
    grid = [
        {"lr": g_lr, "dropout": g_dropout, "best_epoch": t.step, "val/auc": t.best}
        for (g_lr, g_dropout), t in zip(search.grid, search.trackers, strict=True)
    ]
    budget = {
        "epochs": epochs,
        "patience": cfg.train.patience,
        "batch_size": cfg.train.batch_size,
        "grid_points": len(search.grid),
        "train_rows": len(train),
    }
    if distributed.world().size > 1:
        budget["processes"] = distributed.world().size
    return run.finish(
        final,
        budget=budget,
        data=data.source.as_dict(),
        model=to_dict(cfg.model),
        selected={"grid": best, "lr": lr, "dropout": dropout, "epoch": chosen.step},
        grid=grid,
        dataset={k: data.stats[k] for k in ("lines", "rows", "malformed", "splits", "field_dims", "generator")},
    )


if __name__ == "__main__":
    cli(main, runs=True)
