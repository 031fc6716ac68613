"""Cost model: each domain's DFA projection of one training step on an optical device, versus digitally.

    python -m hardware.cost --config hardware/configs/cost.yaml --out results/hardware --threads 2

For a workload of ``N`` error vectors of dimension ``d`` projected to ``width`` outputs:

* **device** — ``frames = FRAMES_PER_VECTOR · N · passes`` (four frames per vector, see
  :mod:`hardware.optical`); ``passes = ⌈(d + n_ref) / mirrors⌉ · ⌈width / pixels⌉``: an input larger than
  the micromirror array is sent in parts whose recovered projections add (the recovery is linear), an
  output larger than the camera needs another part of the medium. Time = frames / frame rate; energy =
  time × device power. Host-side work (ternarization, transfers, the read-out arithmetic) is not counted,
  and four frames is an upper bound: an all-zero ``x⁺`` or ``x⁻`` frame need not be sent (with ``d = 1``,
  one of the two always is).
* **digital** — the median measured time of the same product, ``(N, d) @ (d, width)`` in float32 with
  ``torch.matmul``, on this CPU with the faster of 1 and ``--threads`` threads (and on the GPU when one
  is present); energy = time × an *assumed* power (see :class:`~hardware.config.CostConfig`).
* **break-even** — device time grows with ``N`` only, digital time with ``N · d · width``: at the
  measured digital rate ``R`` (multiply-adds per second), the device wins once ``d · width`` exceeds
  ``FRAMES_PER_VECTOR · R / frame_rate`` (an extrapolation: ``R`` itself changes with the shape).

Device figures and their sources are in :mod:`hardware.config`. The timings are wall-clock medians on a
possibly shared machine: ``cost.json`` records the load average around the measurement.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from typing import Any

import torch

from common.config import load_config, to_dict
from common.machine import cpu_name
from common.run import atomic_write_text, cli, parse_args
from common.seeding import seed_everything
from hardware.config import CostConfig, DeviceConfig, Workload
from hardware.optical import FRAMES_PER_VECTOR


def device_cost(work: Workload, device: DeviceConfig, reference_ratio: float) -> dict[str, float]:
    """Frames, time (s) and energy (J) of one step's projection on the optical device."""
    n_reference = max(1, round(reference_ratio * work.d_err))
    passes = math.ceil((work.d_err + n_reference) / device.input_mirrors) * math.ceil(work.width / device.output_pixels)
    frames = FRAMES_PER_VECTOR * work.vectors * passes
    seconds = frames / device.frame_rate
    return {
        "mirrors": work.d_err + n_reference,
        "passes": passes,
        "frames": frames,
        "device_s": seconds,
        "device_j": seconds * device.power_w,
    }


def time_matmul(n: int, d: int, width: int, device: torch.device, repeats: int) -> tuple[float, float]:
    """Median and minimum seconds of ``(n, d) @ (d, width)`` in float32 on ``device``.

    After three single calls (warm-up, and the fastest sets the count), each of ``repeats`` samples times
    enough back-to-back calls to last ≥ 10 ms: a single call of a small product is shorter than the
    timer's resolution and the scheduler's noise.
    """
    gen = torch.Generator().manual_seed(0)
    e = torch.randn(n, d, generator=gen).to(device)
    b = torch.randn(d, width, generator=gen).to(device)

    def timed(calls: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(calls):
            out = e @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        del out
        return (time.perf_counter() - start) / calls

    calls = max(1, math.ceil(0.01 / min(timed(1) for _ in range(3))))
    samples = [timed(calls) for _ in range(repeats)]
    return statistics.median(samples), min(samples)


def time_cpu(shape: tuple[int, int, int], threads: int, repeats: int) -> tuple[float, float, int]:
    """The faster of one thread and ``threads`` threads: median, minimum and the thread count used.

    A small product gains nothing from a second thread, and on a busy machine a thread that waits for
    its partner at a barrier inflates the time by orders of magnitude: the digital side gets its best setting.
    """
    before = torch.get_num_threads()
    timings = {}
    try:
        for count in sorted({1, threads}):
            torch.set_num_threads(count)
            timings[count] = time_matmul(*shape, torch.device("cpu"), repeats)
    finally:
        torch.set_num_threads(before)
    count = min(timings, key=lambda c: timings[c][0])
    return (*timings[count], count)


def estimate(cfg: CostConfig, threads: int) -> dict[str, Any]:
    """The cost table: one row per workload, device and digital side by side."""
    gpu = torch.device("cuda") if torch.cuda.is_available() else None
    load_before = os.getloadavg()
    rows = []
    for work in cfg.workloads:
        row: dict[str, Any] = {
            "name": work.name,
            "domain": work.domain,
            "vectors": work.vectors,
            "d_err": work.d_err,
            "width": work.width,
            "source": work.source,
        }
        row |= device_cost(work, cfg.device, cfg.optical.reference_ratio)
        shape = (work.vectors, work.d_err, work.width)
        median, fastest, row["cpu_threads"] = time_cpu(shape, threads, cfg.repeats)
        row |= digital_cost("cpu", median, fastest, shape, cfg.cpu_power_w, cfg.device.frame_rate)
        if gpu is None:
            row |= {"gpu_s": None, "gpu_min_s": None, "gpu_j": None, "gpu_breakeven": None}
        else:
            median, fastest = time_matmul(*shape, gpu, cfg.repeats)
            row |= digital_cost("gpu", median, fastest, shape, cfg.gpu_power_w, cfg.device.frame_rate)
        rows.append(row)
    return {
        "device": to_dict(cfg.device),
        "cpu": {"name": cpu_name(), "threads": threads, "power_w": cfg.cpu_power_w},
        "gpu": {"name": torch.cuda.get_device_name(gpu), "power_w": cfg.gpu_power_w} if gpu else None,
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "frames_per_vector": FRAMES_PER_VECTOR,
        "rows": rows,
    }


def digital_cost(
    name: str, median: float, fastest: float, shape: tuple[int, int, int], watts: float, frame_rate: float
) -> dict[str, float]:
    """Time, energy and break-even ``d · width`` of one measured digital product."""
    macs_per_s = math.prod(shape) / median
    return {
        f"{name}_s": median,
        f"{name}_min_s": fastest,
        f"{name}_j": median * watts,
        # d·width above which the device (time ∝ vectors only) beats this measured digital rate
        f"{name}_breakeven": FRAMES_PER_VECTOR * macs_per_s / frame_rate,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv, __doc__.splitlines()[0])
    cfg = load_config(CostConfig, args.config, args.overrides)
    if not cfg.workloads:
        raise SystemExit(f"{args.config}: no workloads to cost")
    seed_everything(0, args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"profile": args.profile, "config": to_dict(cfg), **estimate(cfg, torch.get_num_threads())}
    atomic_write_text(args.out / "cost.json", json.dumps(record, indent=2) + "\n")
    for row in record["rows"]:
        print(
            f"[hardware] {row['name']}: {row['frames']} frames, device {row['device_s']:.3g} s, "
            f"cpu {row['cpu_s']:.3g} s",
        )
    return record


if __name__ == "__main__":
    cli(main)
