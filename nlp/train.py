"""Train a causal Transformer language model on WikiText with one feedback method (the paper's Table 5).

python -m nlp.train --config nlp/configs/transformer_wikitext2.yaml --out results/x feedback.kind=dfa

The unit of the run is the optimizer step: every ``train.eval_every`` steps (default: each epoch) the
model is evaluated on the validation split (perplexity per BPE token), the line is logged, the best
evaluation kept, and a checkpoint written (model, optimizer, schedule, best, the loss meter and the
random state; the data position is the step itself). ``--stop-after N`` leaves after N steps with a
checkpoint; running the same command again resumes exactly.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau

from common import distributed, kinds
from common.alignment import due, measure_alignment
from common.metrics import BestTracker
from common.run import cli, pick_device, start_run
from nlp.config import NLPConfig, TrainConfig
from nlp.data import Chunks, TrainBatches, load
from nlp.models import Transformer

KINDS = kinds.select("bp", "direct", "frozen")  # BP and every direct and frozen kind


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """bf16 autocast of the forward pass when ``amp == 'bf16'``; a no-op otherwise."""
    if amp == "none":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Adam:
    params = [p for p in model.parameters() if p.requires_grad]
    fused = next(model.parameters()).is_cuda
    return torch.optim.Adam(
        params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay, fused=fused
    )


def make_schedule(cfg: TrainConfig, opt: torch.optim.Optimizer) -> LRScheduler | ReduceLROnPlateau:
    """Noam and constant are stepped after every update; plateau after every evaluation."""
    if cfg.schedule == "plateau":
        return ReduceLROnPlateau(opt, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience)
    if cfg.schedule == "noam":
        warmup = cfg.warmup
        return LambdaLR(opt, lambda s: min((s + 1) / warmup, math.sqrt(warmup / (s + 1))))  # update s+1 ≥ 1
    return LambdaLR(opt, lambda s: 1.0)


def lm_loss(model: Transformer, x: Tensor, y: Tensor) -> Tensor:
    """Mean next-token cross-entropy over the batch's B × T predictions."""
    return F.cross_entropy(model(x).flatten(0, 1).float(), y.flatten())


def train_step(model: Transformer, opt: torch.optim.Optimizer, x: Tensor, y: Tensor, cfg: TrainConfig) -> Tensor:
    """One update on the batch ``x, y`` (B, T): forward (under autocast) of this process's shard, the feedback
    method's backward, the gradients averaged over processes (common.distributed), clipping, Adam; the whole
    batch's mean loss, detached."""
    model.train()
    xs, ys = distributed.shard(x), distributed.shard(y)  # (B / processes, T): all of it in one process
    with autocast(x.device, cfg.amp):
        loss = lm_loss(model, xs, ys) * distributed.shard_weight(len(xs), len(x))
    opt.zero_grad(set_to_none=True)
    model.fb.backward(loss)
    loss = distributed.average_gradients(model.parameters(), loss)  # before clipping: it sees the batch's norm
    if cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    return loss


class Meter:
    """Training loss and tokens since the last evaluation; checkpointed so that a resumed round counts the same."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.loss_sum: Tensor | float = 0.0
        self.steps, self.tokens, self.t0 = 0, 0, time.perf_counter()

    def add(self, loss: Tensor, tokens: int) -> None:
        self.loss_sum = self.loss_sum + loss.double()  # stays on the device: no sync per step
        self.steps += 1
        self.tokens += tokens

    def summary(self) -> dict[str, float]:
        seconds = time.perf_counter() - self.t0
        return {"train/loss": float(self.loss_sum) / max(self.steps, 1), "train/tokens_per_s": self.tokens / seconds}

    def state_dict(self) -> dict[str, Any]:
        return {"loss_sum": float(self.loss_sum), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.reset()
        self.loss_sum, self.steps = torch.tensor(state["loss_sum"], dtype=torch.float64), state["steps"]


@torch.no_grad()
def evaluate(model: Transformer, chunks: Chunks, cfg: TrainConfig) -> dict[str, float]:
    """Perplexity per BPE token over every chunk of a split (each chunk is its own context)."""
    model.eval()
    total, count = torch.zeros((), dtype=torch.float64, device=chunks.tokens.device), 0
    for x, y in chunks.in_order(cfg.eval_batch_size):
        with autocast(x.device, cfg.amp):
            logits = model(x)
        total += F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), reduction="sum").double()
        count += y.numel()
    loss = total.item() / count
    return {"val/loss": loss, "val/ppl": math.exp(min(loss, 709.0))}  # exp overflows past 709: a diverged loss


def main(argv: list[str] | None = None) -> dict:
    run = start_run(argv, NLPConfig, "nlp", KINDS, __doc__.splitlines()[0])
    cfg: NLPConfig = run.cfg
    device = distributed.setup(pick_device(cfg.train.device))  # under torchrun: this process's GPU
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for what autocast leaves in fp32 (e.g. e @ B)

    data = load(cfg.data)
    train_chunks = Chunks(data.splits["train"].to(device), cfg.data.seq_len)
    valid_chunks = Chunks(data.splits["valid"].to(device), cfg.data.seq_len)
    batches = TrainBatches(train_chunks, cfg.train.batch_size, cfg.seed)
    model = Transformer(cfg.model, data.vocab_size, cfg.feedback, seed=cfg.seed).to(device)
    opt = make_optimizer(cfg.train, model)
    schedule = make_schedule(cfg.train, opt)
    plateau = isinstance(schedule, ReduceLROnPlateau)
    total = cfg.train.max_steps or cfg.train.epochs * batches.steps_per_epoch
    eval_every = cfg.train.eval_every or batches.steps_per_epoch
    align_x, align_y = train_chunks.gather(torch.arange(min(cfg.train.align_batch, train_chunks.n)))
    best, meter = BestTracker(higher_is_better=False), Meter()
    tokens_per_step = cfg.train.batch_size * cfg.data.seq_len

    start = run.resume(model=model, optimizer=opt, schedule=schedule, best=best, meter=meter)
    distributed.broadcast(model)
    for step in run.units(start, total, "step"):
        x, y = batches(step)  # the whole batch: every process draws it, each trains on its shard
        distributed.reseed(cfg.seed, step)  # several processes: each its own dropout masks
        loss = train_step(model, opt, x, y, cfg.train)
        run.watch(loss)
        meter.add(loss, tokens_per_step)
        if not plateau:
            schedule.step()
        done = step + 1
        if done % eval_every == 0 or done == total:
            metrics = {"epoch": done / batches.steps_per_epoch, "lr": opt.param_groups[0]["lr"]}
            metrics |= meter.summary() | evaluate(model, valid_chunks, cfg.train)
            if model.fb.projector is not None and due(cfg.feedback.align_every, done // eval_every):
                model.train()  # the function training differentiates (dropout on, same masks in both passes)
                with autocast(device, cfg.train.amp):
                    metrics |= measure_alignment(
                        model.fb, model.parameters(), lambda: lm_loss(model, align_x, align_y), seed=done
                    )
            metrics = distributed.from_main(metrics)  # the schedule and the best step agree on every process
            if plateau:
                schedule.step(metrics["val/loss"])
            best.update(metrics["val/loss"], done, metrics)
            run.log(done, metrics)
            run.bar.set_postfix(val_ppl=f"{metrics['val/ppl']:.1f}", best=f"{math.exp(best.best):.1f}")
            meter.reset()
            run.checkpoint(done)
            meter.t0 = time.perf_counter()  # tokens/s counts training: not the checkpoint just written

    final = {key: best.metrics[key] for key in ("val/ppl", "val/loss", "train/loss")}
    budget = {
        "steps": total,
        "epochs": round(total / batches.steps_per_epoch, 3),
        "train_tokens_seen": total * tokens_per_step,
        "batch": f"{cfg.train.batch_size} × {cfg.data.seq_len} tokens",
        "model": f"{cfg.model.n_layer} layers, d {cfg.model.d_model}, d_ff {cfg.model.d_ff}, {cfg.model.n_head} heads",
        "placement": cfg.model.placement,
        "optimizer": f"Adam β2 {cfg.train.beta2}, {cfg.train.schedule} lr {cfg.train.lr:g}",
    }
    if distributed.world().size > 1:
        budget["processes"] = distributed.world().size
    return run.finish(final, budget=budget, data=data.source.as_dict(), best_step=best.step, vocab_size=data.vocab_size)


if __name__ == "__main__":
    cli(main, runs=True)
