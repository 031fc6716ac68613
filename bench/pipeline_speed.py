"""Step time of pipeline-parallel training on P processes: BP under PyTorch's own schedules, and DFA.

Each row trains one model cut into pipeline stages (bench/pipeline_stages.py), M micro-batches per step, and
times full steps (zero_grad, the pipeline's forwards and backwards, Adam step) of:

* ``gpipe``, ``1f1b`` — BP, ``torch.distributed.pipelining``'s ScheduleGPipe and Schedule1F1B, one stage per
  process;
* ``interleaved-zb``, ``zbv`` — BP, ScheduleInterleavedZeroBubble and ScheduleZBVZeroBubble, which split the
  backward into input and weight gradients and fill the pipeline's bubble with the weight gradients; two
  stages per process (a loop, a V);
* ``dfa`` — :class:`common.pipeline.DFAPipeline`: the last stage sends ``e`` to every stage, which learns at
  once; one stage per process.

All copies start from the same weights (bench/workloads.py), see the same batch cut into the same M
micro-batches, and run on the same processes with the same threads; they are timed in turn, in a rotating
order. A step's time is the slowest process's wall time from a common barrier. Each process also times its
own stage's parts on one micro-batch, without communication (forward, BP backward, DFA forward, DFA learning),
for the cost model of bench/pipeline_report.py.

    python -m bench.pipeline_speed --write-readme                        # spawns P=2 processes; bench/README.md
    torchrun --nproc-per-node 2 -m bench.pipeline_speed --write-readme   # the same, launched by torchrun
    python -m bench.pipeline_speed --quick --json /tmp/pipeline.json     # seconds: a smoke run
    python -m bench.pipeline_speed --publish results/bench/pipeline_speed_cpu.json  # an earlier run → README
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor
from torch.distributed.pipelining import (
    PipelineStage,
    Schedule1F1B,
    ScheduleGPipe,
    ScheduleInterleavedZeroBubble,
    ScheduleZBVZeroBubble,
)

from bench.dfa_speed import describe_device, write_json
from bench.pipeline_report import attach_verdicts, table
from bench.pipeline_stages import Layout, owner, stage_input, stage_modules
from bench.readme import BENCH_DIR, write_readme
from bench.workloads import MLPWorkload, TransformerConfig, TransformerWorkload, Workload
from common.distributed import setup
from common.pipeline import DFAPipeline, StageTape, default_backend, learn, spawn
from common.run import cli

SCHEDULES: dict[str, tuple[type, Layout]] = {
    "gpipe": (ScheduleGPipe, "single"),
    "1f1b": (Schedule1F1B, "single"),
    "interleaved-zb": (ScheduleInterleavedZeroBubble, "loop"),
    "zbv": (ScheduleZBVZeroBubble, "v"),
}
METHODS = (*SCHEDULES, "dfa")
FAMILIES = ("mlp", "transformer")
PARTS = ("bp_forward", "bp_backward", "dfa_forward", "dfa_learn")


@dataclass(frozen=True)
class Sizes:
    """The sizes of one bench profile, and how many steps are timed."""

    mlp_width: int
    """Width of the MLP's 9 hidden layers (784 → width × 9 → 10)."""
    mlp_batch: int
    """MLP samples per step (all micro-batches together)."""
    lm_batch: int
    """Transformer sequences per step."""
    lm_seq_len: int
    """Tokens per sequence."""
    lm_vocab: int
    """Vocabulary of the Transformer's embedding and head."""
    lm: TransformerConfig
    """The Transformer's architecture (rows for macro and for micro feedback points)."""
    micro: tuple[int, ...]
    """Micro-batches per step, one row each."""
    repeats: int
    """Timed steps per method."""
    warmup: int
    """Untimed steps per method first."""


SIZES = {
    # The shapes: the 10-layer MLP at width 1024, batch 4096; the paper's 6 × 512 Transformer (16k BPE of
    # the shipped WikiText-2) on 16 sequences of 128 tokens: 2 sequences per micro-batch at M = 8.
    "default": Sizes(1024, 4096, 16, 128, 16000, TransformerConfig(), (4, 8), repeats=10, warmup=2),
    "quick": Sizes(64, 64, 8, 16, 128, TransformerConfig(n_layer=3, n_head=2, d_model=32, d_ff=64), (4,), 2, 1),
}


def loss_fn(out: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of (..., classes) scores: the MLP's labels and the Transformer's next tokens alike."""
    return F.cross_entropy(out.flatten(0, -2), target.flatten())


# -- the methods on this process ---------------------------------------------------------------------------------
def make_step(method: str, workload: Workload, n_micro: int, batch: tuple[Tensor, Tensor]) -> Callable[[], None]:
    """This process's part of one training step of ``method`` (built fresh from the workload's seed)."""
    rank, ranks = dist.get_rank(), dist.get_world_size()
    x, y = batch
    device = x.device
    model = workload.build("dfa" if method == "dfa" else "bp").to(device).train()
    if method == "dfa":
        modules = stage_modules(model, ranks, "single", _seq_len(workload))
        mine = modules[rank]
        last = rank == ranks - 1
        pipe = DFAPipeline(mine, rank, ranks, n_micro, model.fb.signals, loss_fn if last else None)
        run = lambda: pipe.step(x if rank == 0 else None, y if last else None)  # noqa: E731
        params = list(mine.parameters())
    else:
        schedule_cls, layout = SCHEDULES[method]
        modules = stage_modules(model, ranks, layout, _seq_len(workload))
        held = [s for s in range(len(modules)) if owner(s, len(modules), ranks, layout) == rank]
        stages = [PipelineStage(modules[s], s, len(modules), device) for s in held]
        schedule = schedule_cls(stages[0] if layout == "single" else stages, n_micro, loss_fn=loss_fn)
        args = (x,) if 0 in held else ()
        kwargs = {"target": y, "losses": []} if len(modules) - 1 in held else {}
        # No merged output: DFA returns none, and concatenating the Transformer's logits would cost BP time.
        run = lambda: schedule.step(*args, return_outputs=False, **kwargs)  # noqa: E731
        params = [p for s in held for p in modules[s].parameters()]
    fused = {"fused": True} if device.type == "cuda" else {"foreach": True}
    optimizer = torch.optim.Adam(params, lr=1e-4, **fused)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        run()
        optimizer.step()

    return step


def _seq_len(workload: Workload) -> int:
    return getattr(workload, "seq_len", 0)


def time_steps(steps: dict[str, Callable[[], None]], repeats: int, warmup: int) -> dict[str, list[list[float]]]:
    """[wall ms of the slowest process, CPU ms of all processes] of each timed step of each method."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    names, samples = list(steps), {name: [] for name in steps}
    for rep in range(repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:  # rotate who goes first
            dist.barrier()
            wall, cpu = time.perf_counter(), time.process_time()
            steps[name]()
            _sync()
            mine = torch.tensor([time.perf_counter() - wall, time.process_time() - cpu], dtype=torch.float64)
            every = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
            dist.all_gather(every, mine)
            samples[name].append([max(t[0].item() for t in every) * 1e3, sum(t[1].item() for t in every) * 1e3])
    return samples


def time_parts(workload: Workload, n_micro: int, batch: tuple[Tensor, Tensor], repeats: int) -> dict[str, float]:
    """Median CPU ms of this process's stage's parts on one micro-batch, alone (no communication, no optimizer):
    BP forward (with the loss on the last stage) and backward; DFA forward (with the loss and e on the last
    stage) and learning (projection and local weight gradients)."""
    rank, ranks = dist.get_rank(), dist.get_world_size()
    x, y = (t.chunk(n_micro)[0] for t in batch)
    last = rank == ranks - 1
    bp_model, dfa_model = workload.build("bp").to(x.device).train(), workload.build("dfa").to(x.device).train()
    bp_stages = stage_modules(bp_model, ranks, "single", _seq_len(workload))
    dfa_stages = stage_modules(dfa_model, ranks, "single", _seq_len(workload))
    h_bp, h_dfa = stage_input(bp_stages, rank, x), stage_input(dfa_stages, rank, x)
    counts, e_whole = _dfa_points_and_error(dfa_stages, x, y, n_micro)
    first_point = sum(counts[:rank])
    times: dict[str, list[float]] = {part: [] for part in PARTS}
    for _ in range(repeats):
        h = h_bp.detach().requires_grad_(rank > 0 and h_bp.is_floating_point())  # as in the pipeline: no dL/dx
        clock = _Clock()
        out = bp_stages[rank](h)
        out = loss_fn(out, y) if last else out
        times["bp_forward"].append(clock.lap())
        out.backward(None if last else torch.randn_like(out))
        times["bp_backward"].append(clock.lap())
        del h, out

        tape, clock = StageTape(), _Clock()
        out = dfa_stages[rank](h_dfa, tape)
        e = e_whole
        if last:
            (loss_fn(out, y) / n_micro).backward()
            e = tape.y_leaf.grad
        times["dfa_forward"].append(clock.lap())
        every = dfa_model.fb.signals(e.reshape(-1, e.shape[-1]))
        learn(tape, e, every[first_point : first_point + len(tape.points)])
        times["dfa_learn"].append(clock.lap())
        del tape, out, e, every
    return {part: statistics.median(ms) for part, ms in times.items()}


def _dfa_points_and_error(stages: list, x: Tensor, y: Tensor, n_micro: int) -> tuple[list[int], Tensor]:
    """Feedback points per stage, and e, of one micro-batch through the whole DFA chain on this process."""
    counts, h = [], x
    for stage in stages:
        tape = StageTape()
        h = stage(h, tape)
        counts.append(len(tape.points))
    (loss_fn(h, y) / n_micro).backward()
    return counts, tape.y_leaf.grad


class _Clock:
    """Milliseconds since the previous lap (or the clock's creation): on CPU, of this process's CPU time — with
    one thread and no communication, the wall time the part takes on a quiet machine, which other processes'
    load stretches but hardly its CPU time; on GPU, of wall time after the GPU's queued work."""

    def __init__(self) -> None:
        self.read = time.perf_counter if _on_gpu() else time.process_time
        _sync()
        self.t = self.read()

    def lap(self) -> float:
        _sync()
        now = self.read()
        ms, self.t = (now - self.t) * 1e3, now
        return ms


# -- one row: a workload at one M, on every process ------------------------------------------------------------
def measure_row(workload: Workload, n_micro: int, sizes: Sizes, methods: tuple[str, ...]) -> dict[str, Any] | None:
    """Time every method at one shape; on rank 0, the row (medians, each stage's parts), elsewhere None."""
    device = _device()
    batch = workload.batch(device)
    steps, skipped = {}, {}
    for method in methods:
        try:
            steps[method] = make_step(method, workload, n_micro, batch)
        except ValueError as exc:  # a schedule that cannot run at this shape refuses to be built, on every rank
            skipped[method] = str(exc)
    samples = time_steps(steps, sizes.repeats, sizes.warmup)
    del steps
    parts = [None] * dist.get_world_size()
    dist.all_gather_object(parts, time_parts(workload, n_micro, batch, sizes.repeats))
    if dist.get_rank() != 0:
        return None
    return {
        "workload": workload.name,
        "size": workload.size,
        "n_micro": n_micro,
        "methods": {name: _summary(s) for name, s in samples.items()},
        "skipped": skipped,
        "parts": parts,
        "load_1m": os.getloadavg()[0],
    }


def _summary(samples: list[list[float]]) -> dict[str, Any]:
    wall = [w for w, _ in samples]
    q1, median, q3 = statistics.quantiles(wall, n=4, method="inclusive") if len(wall) > 1 else wall * 3
    cpu = [c for _, c in samples]
    return {"median_ms": median, "q1_ms": q1, "q3_ms": q3, "times_ms": wall, "cpu_median_ms": statistics.median(cpu),
            "cpu_times_ms": cpu}  # fmt: skip


def _on_gpu() -> bool:
    return dist.get_backend() == "nccl"


def _sync() -> None:
    """Wait for the GPU's queued work, so that a clock read after it measures it (nothing to wait for on CPU)."""
    if _on_gpu():
        torch.cuda.synchronize()


def _device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if _on_gpu() else torch.device("cpu")


# -- every process's program -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    """What one run measures (picklable: spawned processes receive it)."""

    sizes: Sizes
    families: tuple[str, ...]
    methods: tuple[str, ...]
    threads: int
    default_sizes: bool


def run(options: Options) -> dict[str, Any] | None:
    """Measure every row on this process (all processes take part); rank 0 returns the record."""
    torch.set_num_threads(options.threads)
    rank, sizes = dist.get_rank(), options.sizes
    record: dict[str, Any] = {
        "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "device": describe_device(_device()) | {"processes": dist.get_world_size(), "backend": dist.get_backend()},
        "settings": asdict(sizes)
        | {"methods": list(options.methods), "default_sizes": options.default_sizes, "optimizer": "Adam"},
        "load": {"before": list(os.getloadavg())},
        "rows": [],
    }
    if rank == 0:
        print(f"{record['device']['name']}, {dist.get_world_size()} processes: load {record['load']['before']}")
    for workload in workloads(sizes, options.families):
        for n_micro in sizes.micro:
            row = measure_row(workload, n_micro, sizes, options.methods)
            if row is not None:
                attach_verdicts(row, dist.get_world_size(), options.default_sizes)
                record["rows"].append(row)
                print(table([row]).splitlines()[-1], flush=True)
    record["load"]["after"] = list(os.getloadavg())
    return record if rank == 0 else None


def workloads(sizes: Sizes, families: tuple[str, ...]) -> list[Workload]:
    chosen: list[Workload] = []
    if "mlp" in families:
        chosen.append(MLPWorkload(sizes.mlp_width, sizes.mlp_batch))
    if "transformer" in families:  # macro points (the authors' default), and micro: DFA cuts inside the blocks too
        chosen += [
            TransformerWorkload(placement, sizes.lm_batch, sizes.lm_seq_len, sizes.lm_vocab, sizes.lm)
            for placement in ("macro", "micro")
        ]
    return chosen


def _spawned(rank: int, options: Options, out: str) -> None:
    if (record := run(options)) is not None:
        Path(out).write_text(json.dumps(record))


# -- command line ----------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nproc", type=int, default=2, help="processes (pipeline stages) to spawn (default 2)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 timed steps (a smoke run)")
    parser.add_argument("--families", default=",".join(FAMILIES), help=f"comma-separated subset of {FAMILIES}")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    parser.add_argument("--micro", help="micro-batches per step, e.g. 4,8 (default: the profile's)")
    parser.add_argument("--repeats", type=int, help="timed steps per method (default: the profile's)")
    parser.add_argument("--warmup", type=int, help="untimed steps per method first (default: the profile's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    parser.add_argument("--json", type=Path, help="output (default: results/bench/pipeline_speed_<device>.json)")
    parser.add_argument("--write-readme", action="store_true", help="also record the run in bench/latest/pipeline/ "
                        "and rewrite bench/README.md")  # fmt: skip
    parser.add_argument("--publish", type=Path, help="measure nothing: record this JSON of an earlier run")
    return parser.parse_args(argv)


def _choices(text: str, allowed: tuple[str, ...], flag: str) -> tuple[str, ...]:
    chosen = tuple(text.split(","))
    if unknown := sorted(set(chosen) - set(allowed)):
        raise SystemExit(f"{flag}: {unknown} not among {list(allowed)}")
    return chosen


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    args = parse_args(argv)
    if args.publish:
        record = json.loads(args.publish.read_text())
        publish(record)
        return record
    sizes = SIZES["quick" if args.quick else "default"]
    sizes = replace(
        sizes,
        micro=tuple(int(m) for m in args.micro.split(",")) if args.micro else sizes.micro,
        repeats=args.repeats or sizes.repeats,
        warmup=sizes.warmup if args.warmup is None else args.warmup,
    )
    options = Options(
        sizes,
        _choices(args.families, FAMILIES, "--families"),
        _choices(args.methods, METHODS, "--methods"),
        args.threads,
        default_sizes=not args.quick,
    )
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # launched by torchrun: this is one of the processes
        setup(torch.device("cuda" if default_backend() == "nccl" else "cpu"))  # joins torchrun's group
        if (record := run(options)) is None:
            return None
    else:
        with tempfile.TemporaryDirectory(prefix="pipeline-speed-") as folder:
            out = Path(folder) / "record.json"
            spawn(_spawned, args.nproc, args=(options, str(out)))
            record = json.loads(out.read_text())
    nproc = os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE"))
    launcher = f"torchrun --nproc-per-node {nproc} -m" if "RANK" in os.environ else "python -m"
    record["command"] = " ".join([f"{launcher} bench.pipeline_speed", *(sys.argv[1:] if argv is None else argv)])
    print(table(record["rows"]))
    write_json(args.json or Path("results/bench") / f"pipeline_speed_{record['device']['type']}.json", record)
    if args.write_readme:
        publish(record)
    return record


def publish(record: dict[str, Any]) -> None:
    """Keep ``record`` as its device's latest pipeline run and regenerate bench/README.md."""
    write_json(BENCH_DIR / "latest" / "pipeline" / f"{record['device']['type']}.json", record)
    write_readme()


if __name__ == "__main__":
    cli(main)
