"""Training-step speed and memory of BP, DFA (common.feedback) and hook-style DFA, side by side.

Each row times full training steps (zero_grad, forward, backward, Adam step) of three copies of one model
that start from the same weights: ``bp``; ``dfa``, the project's graph-cutting core (one projection, one
backward over all points, no input gradient below a point); and ``hook``, DFA done with gradient hooks on
an intact graph (bench/hook_dfa.py, as in the authors' TinyDFA and biotorch). The three are timed in
turn, in a rotating order, so that a change of machine load hits all of them; the table gives medians
and the ratio of each median to BP's.

Timing: CUDA events around each step on GPU; ``time.perf_counter`` on CPU. Memory: the peak of the bytes
allocated during one step above those live before it (parameters, optimizer state): from
``torch.cuda.max_memory_allocated`` on GPU, and on CPU from the allocation events of the PyTorch profiler.

    python -m bench.dfa_speed --device cpu --write-readme     # the CPU table of bench/README.md
    python -m bench.dfa_speed --device cuda --write-readme    # the GPU table (widths up to 4096)
    python -m bench.dfa_speed --quick --json /tmp/speed.json  # seconds: a smoke run
    python -m bench.dfa_speed --publish results/bench/dfa_speed_cpu.json  # put an earlier run in the README
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd import DeviceType

from bench.hook_dfa import use_hook_feedback
from bench.readme import write_readme
from bench.speed_report import attach_targets, fmt_load, table
from bench.workloads import MLPWorkload, NerfModelConfig, NerfWorkload, TransformerConfig, TransformerWorkload, Workload
from common.feedback import Feedback, backward
from common.machine import cpu_name
from common.run import atomic_write_text, cli

METHODS = ("bp", "dfa", "hook")
FAMILIES = ("mlp", "transformer", "nerf")
PRECISIONS = {"cpu": ("fp32", "bf16"), "cuda": ("fp32", "tf32", "bf16")}
BENCH_DIR = Path(__file__).resolve().parent
MEMORY_NOTE = {
    "cuda": "peak of torch.cuda.max_memory_allocated during one step, minus the bytes allocated before it",
    "cpu": "peak of the running sum of the CPU allocations and frees recorded by the PyTorch profiler "
    "(profile_memory=True) during one step",
}


@dataclass(frozen=True)
class Sizes:
    """The sizes of one bench profile, and how many steps are timed."""

    mlp_widths: tuple[int, ...]
    mlp_batch: int
    lm_batch: int  # sequences per step
    lm_seq_len: int
    lm_vocab: int
    lm: TransformerConfig
    nerf_rays: int
    nerf_samples: int  # per ray
    nerf: NerfModelConfig
    reps: int  # timed steps per method
    warmup: int  # untimed steps per method first


PAPER_LM, PAPER_NERF = TransformerConfig(), NerfModelConfig()  # 6 × d512 post-LN; 8 × 256 trunk
SIZES = {
    # Paper-sized Transformer (vocabulary of the nlp defaults) and NeRF MLP (1024 rays × (64 + 128) samples:
    # the fine network's batch) on GPU; on the CPU, fewer sequences and rays per step.
    "cuda": Sizes(
        mlp_widths=(256, 1024, 4096), mlp_batch=65536,
        lm_batch=64, lm_seq_len=128, lm_vocab=16000, lm=PAPER_LM,
        nerf_rays=1024, nerf_samples=192, nerf=PAPER_NERF,
        reps=30, warmup=5,
    ),
    "cpu": Sizes(
        mlp_widths=(256, 1024), mlp_batch=4096,
        lm_batch=8, lm_seq_len=128, lm_vocab=16000, lm=PAPER_LM,
        nerf_rays=64, nerf_samples=64, nerf=PAPER_NERF,
        reps=15, warmup=2,
    ),
    "quick": Sizes(
        mlp_widths=(64,), mlp_batch=256,
        lm_batch=2, lm_seq_len=16, lm_vocab=256, lm=TransformerConfig(n_layer=2, n_head=4, d_model=64, d_ff=128),
        nerf_rays=8, nerf_samples=16, nerf=NerfModelConfig(depth=3, width=32, skips=(1,)),
        reps=2, warmup=1,
    ),
}  # fmt: skip


# -- one training step --------------------------------------------------------------------------------------
@dataclass
class Learner:
    """One copy of a model with its optimizer and its way of running the backward."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    backward: Callable[[Tensor], None]


def make_learner(workload: Workload, method: str, device: torch.device) -> Learner:
    """``bp`` and ``dfa`` run common.feedback's backward; ``hook`` swaps in hook-style points."""
    model = workload.build("bp" if method == "bp" else "dfa")
    if method == "hook":
        use_hook_feedback(model)
    model.to(device).train()
    fused = {"fused": True} if device.type == "cuda" else {"foreach": True}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, **fused)
    if method == "hook":
        return Learner(model, optimizer, Tensor.backward)
    feedbacks = [m for m in model.modules() if isinstance(m, Feedback)]
    return Learner(model, optimizer, lambda loss: backward(loss, *feedbacks))


def train_step(learner: Learner, workload: Workload, batch: tuple[Tensor, ...], precision: str) -> None:
    """zero_grad, forward (bf16 autocast if asked), backward, optimizer step."""
    learner.optimizer.zero_grad(set_to_none=True)
    device_type = batch[0].device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        loss = workload.loss(learner.model, batch)
    learner.backward(loss)
    learner.optimizer.step()


@contextlib.contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """TF32 tensor-core matmuls for ``tf32``, full fp32 otherwise (bf16 autocast sets its own)."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def step_ms(device: torch.device, step: Callable[[], None]) -> tuple[float, float | None]:
    """Wall time of one step in milliseconds (CUDA events on GPU) and, on CPU, the process's CPU time.

    CPU time counts only the cycles this process ran: with one thread it barely moves when other processes
    load the machine, while wall time does.
    """
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        end.synchronize()
        return start.elapsed_time(end), None
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def step_peak_bytes(device: torch.device, step: Callable[[], None]) -> int:
    """Peak bytes allocated during one step above those live before it (see MEMORY_NOTE)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
        step()
    events = [
        e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]" and e.device_type() == DeviceType.CPU
    ]
    live = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        live += event.nbytes()
        peak = max(peak, live)
    return peak


# -- one row: a workload at one precision -------------------------------------------------------------------
def measure(workload: Workload, precision: str, device: torch.device, reps: int, warmup: int) -> dict[str, Any]:
    """Time ``reps`` interleaved steps of each method, then measure each method's peak step memory."""
    batch = workload.batch(device)
    learners = {method: make_learner(workload, method, device) for method in METHODS}
    steps = {
        method: (lambda lr=learner: train_step(lr, workload, batch, precision)) for method, learner in learners.items()
    }
    samples: dict[str, list[tuple[float, float | None]]] = {method: [] for method in METHODS}  # (wall, CPU) ms
    with matmul_precision(precision):
        for method in METHODS:
            for _ in range(warmup):
                steps[method]()
        for rep in range(reps):
            for method in METHODS[rep % 3 :] + METHODS[: rep % 3]:  # rotate who goes first
                samples[method].append(step_ms(device, steps[method]))
        peaks = {}
        for method in METHODS:
            learners[method].optimizer.zero_grad(set_to_none=True)  # free last step's gradients before measuring
            peaks[method] = step_peak_bytes(device, steps[method])
    summary = {method: _summary(samples[method], peaks[method]) for method in METHODS}
    row = {"workload": workload.name, "precision": precision, "size": workload.size, "methods": summary}
    row["ratio"] = {method: summary[method]["median_ms"] / summary["bp"]["median_ms"] for method in METHODS[1:]}
    if device.type == "cpu":
        bp_cpu = summary["bp"]["cpu_median_ms"]
        row["cpu_time_ratio"] = {method: summary[method]["cpu_median_ms"] / bp_cpu for method in METHODS[1:]}
    row["load_1m"] = os.getloadavg()[0]
    return row


def _summary(samples: list[tuple[float, float | None]], peak_bytes: int) -> dict[str, Any]:
    wall = [w for w, _ in samples]
    q1, median, q3 = statistics.quantiles(wall, n=4, method="inclusive") if len(wall) > 1 else wall * 3
    summary: dict[str, Any] = {"median_ms": median, "q1_ms": q1, "q3_ms": q3, "times_ms": wall}
    if cpu := [c for _, c in samples if c is not None]:
        summary |= {"cpu_median_ms": statistics.median(cpu), "cpu_times_ms": cpu}
    return summary | {"peak_mib": peak_bytes / 2**20}


def workloads(sizes: Sizes, families: tuple[str, ...]) -> list[Workload]:
    """The workloads of the selected families at the given sizes."""
    chosen: list[Workload] = []
    if "mlp" in families:
        chosen += [MLPWorkload(width, sizes.mlp_batch) for width in sizes.mlp_widths]
    if "transformer" in families:
        chosen += [
            TransformerWorkload(placement, sizes.lm_batch, sizes.lm_seq_len, sizes.lm_vocab, sizes.lm)
            for placement in ("macro", "micro")
        ]
    if "nerf" in families:
        chosen.append(NerfWorkload(sizes.nerf_rays, sizes.nerf_samples, sizes.nerf))
    return chosen


# -- command line ----------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: CUDA if available")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 timed steps (a smoke run)")
    parser.add_argument("--families", default=",".join(FAMILIES), help=f"comma-separated subset of {FAMILIES}")
    parser.add_argument("--widths", help="MLP widths, e.g. 256,1024 (default: per device)")
    parser.add_argument("--batch", type=int, help="MLP samples per step (default: per device)")
    parser.add_argument("--precisions", help="comma-separated subset of fp32, tf32 (CUDA), bf16 (default: all)")
    parser.add_argument("--reps", type=int, help="timed steps per method (default: per device)")
    parser.add_argument("--warmup", type=int, help="untimed steps per method first (default: per device)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="output (default: results/bench/dfa_speed_<device>.json)")
    parser.add_argument(
        "--write-readme", action="store_true", help="also record the run in bench/latest/ and rewrite bench/README.md"
    )
    parser.add_argument(
        "--publish", type=Path, help="measure nothing: record this JSON of an earlier run as --write-readme would"
    )
    return parser.parse_args(argv)


def _choices(text: str, allowed: tuple[str, ...], flag: str) -> tuple[str, ...]:
    chosen = tuple(text.split(","))
    if unknown := sorted(set(chosen) - set(allowed)):
        raise SystemExit(f"{flag}: {unknown} not among {list(allowed)}")
    return chosen


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.publish:
        record = json.loads(args.publish.read_text())
        publish(record)
        return record
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = SIZES["quick" if args.quick else device.type]
    sizes = replace(
        sizes,
        mlp_widths=tuple(int(w) for w in args.widths.split(",")) if args.widths else sizes.mlp_widths,
        mlp_batch=args.batch or sizes.mlp_batch,
        reps=args.reps or sizes.reps,
        warmup=sizes.warmup if args.warmup is None else args.warmup,
    )
    families = _choices(args.families, FAMILIES, "--families")
    precisions = (
        _choices(args.precisions, PRECISIONS[device.type], "--precisions")
        if args.precisions
        else PRECISIONS[device.type]
    )
    default_sizes = not (args.quick or args.widths or args.batch)

    record: dict[str, Any] = {
        "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python -m bench.dfa_speed", *(sys.argv[1:] if argv is None else argv)]),
        "device": describe_device(device),
        "settings": {
            "reps": sizes.reps,
            "warmup": sizes.warmup,
            "precisions": list(precisions),
            "default_sizes": default_sizes,
            "optimizer": "Adam",
            "memory": MEMORY_NOTE[device.type],
        },
        "load": {"before": list(os.getloadavg())},
        "rows": [],
    }
    print(f"{record['device']['name']}: load {fmt_load(record['load']['before'])}", flush=True)
    for workload in workloads(sizes, families):
        for precision in precisions:
            row = measure(workload, precision, device, sizes.reps, sizes.warmup)
            record["rows"].append(row)
            print(f"{row['workload']:>18} {precision}: DFA/BP {row['ratio']['dfa']:.3f}", flush=True)
    record["load"]["after"] = list(os.getloadavg())
    if default_sizes:
        attach_targets(record["rows"], device.type)
    print(table(record["rows"]))

    write_json(args.json or Path("results/bench") / f"dfa_speed_{device.type}.json", record)
    if args.write_readme:
        publish(record)
    return record


def publish(record: dict[str, Any]) -> None:
    """Keep ``record`` as its device's latest run in bench/latest/ and regenerate bench/README.md (bench/readme.py)."""
    write_json(BENCH_DIR / "latest" / f"{record['device']['type']}.json", record)
    write_readme()


def describe_device(device: torch.device) -> dict[str, Any]:
    """The device a bench ran on, as its record names it (type, model, torch version, threads)."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{cpu_name()}, {os.cpu_count()} cores"
    return {"type": device.type, "name": name, "torch": torch.__version__, "threads": torch.get_num_threads()}


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Write a bench record atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    cli(main)
