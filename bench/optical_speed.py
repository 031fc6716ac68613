"""Throughput of the emulated OPU (hardware.optical): error vectors projected per second.

Everything a projection does is timed: ternarization, the four camera frames per vector (x⁺ + r, x⁺,
x⁻ + r, x⁻), intensities, noise, quantization and the recovery of the linear projection. Each row is
one shape (error dimension → camera pixels, the independent layout), one execution mode (``eager``
PyTorch, or ``compiled``: the per-pixel camera model fused by ``torch.compile``) and one camera (``ideal
noise-free 8-bit`` or the default ``noisy`` one: shot + read noise). The transmission matrix is cached,
as in training. Throughput is the median over ``--repeats`` timed calls after warm-up (compilation
included in the warm-up, reported apart), in wall-clock time and in CPU time of this process (vectors
per CPU-second: with one thread on a shared, oversubscribed machine, closer to what the code costs).

    python -m bench.optical_speed                          # the CPU table, JSON in results/bench/
    python -m bench.optical_speed --device cuda            # on a GPU
    python -m bench.optical_speed --quick --json /tmp/optical_speed.json   # seconds: a smoke run

Shapes: 10 → 1,600 is the 784-800-800-10 MNIST net (both hidden layers); 512 → 18,432 is the micro
Transformer's 18 feedback points (6 × (512 + 2,048 + 512)).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from common.machine import cpu_name
from common.run import atomic_write_text, cli
from hardware.config import CameraConfig, OpticalConfig
from hardware.optical import OpticalProjector

SHAPES = {"mnist": (10, (800, 800), 16_384), "transformer-micro": (512, (512, 2048, 512) * 6, 1_024)}
"""name: (d_err, feedback point widths, error vectors per call)."""
CAMERAS = {"ideal": CameraConfig(shot_noise=False, read_noise=0.0), "noisy": CameraConfig()}
TARGET = {"mnist": 1e5}
"""Vectors per second the emulator should reach on the 2-core CPU (the 10 → 1,600 shape)."""


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_row(shape: str, mode: str, camera: str, device: torch.device, repeats: int, scale: float) -> dict[str, Any]:
    """Warm up (matrix generation, compilation) then time ``repeats`` projections of one batch."""
    d_err, dims, batch = SHAPES[shape]
    batch = max(1, int(batch * scale))
    cfg = OpticalConfig(camera=CAMERAS[camera], compile=mode == "compiled")
    projector = OpticalProjector(d_err, dims, "independent", cfg, seed=0)
    e = torch.randn(batch, d_err, generator=torch.Generator().manual_seed(0)).to(device)
    start = time.perf_counter()
    projector(e[: max(1, batch // 7)])  # a different size first: dynamic shapes compile once
    projector(e)
    synchronize(device)
    warmup = time.perf_counter() - start
    times, cpu_times = [], []
    for _ in range(repeats):
        synchronize(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        projector(e)
        synchronize(device)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    median = statistics.median(times)
    return {
        "shape": shape,
        "d_err": d_err,
        "width": projector.width,
        "mode": mode,
        "camera": camera,
        "batch": batch,
        "vectors_per_s": batch / median,
        "best_vectors_per_s": batch / min(times),
        "vectors_per_cpu_s": batch / statistics.median(cpu_times),
        "median_s": median,
        "warmup_s": warmup,
        "target": TARGET.get(shape),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (CPU)")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--modes", nargs="+", default=["eager", "compiled"], choices=["eager", "compiled"])
    parser.add_argument("--quick", action="store_true", help="small batches, 2 repeats, eager only")
    parser.add_argument("--json", type=Path, default=Path("results") / "bench" / "optical_speed.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    modes, repeats, scale = (["eager"], 2, 1 / 64) if args.quick else (args.modes, args.repeats, 1.0)
    load_before = os.getloadavg()
    rows = [
        time_row(shape, mode, camera, device, repeats, scale)
        for shape in args.shapes
        for mode in modes
        for camera in CAMERAS
    ]
    record = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "cameras": {name: dataclasses.asdict(cam) for name, cam in CAMERAS.items()},
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps(record, indent=2) + "\n")
    print(f"{record['device']}, {record['threads']} threads, load {load_before[0]:.1f} → {os.getloadavg()[0]:.1f}")
    header = f"{'shape':<18} {'d → width':<13} {'mode':<9} {'camera':<6} {'batch':>6} {'vectors/s':>10}"
    print(f"{header} {'vec/cpu-s':>10} {'warm-up':>8}")
    for r in rows:
        target = f"  (target {r['target']:.0e})" if r["target"] else ""
        print(
            f"{r['shape']:<18} {str(r['d_err']) + ' → ' + str(r['width']):<13} {r['mode']:<9} {r['camera']:<6} "
            f"{r['batch']:>6} {r['vectors_per_s']:>10.4g} {r['vectors_per_cpu_s']:>10.4g} "
            f"{r['warmup_s']:>7.1f}s{target}"
        )
    print(f"wrote {args.json}")
    return record


if __name__ == "__main__":
    cli(main)
