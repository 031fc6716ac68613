"""The hardware outputs: the cost model's frame count, the sweep and cost files, the report section, the bench."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from bench.optical_speed import main as bench_main
from common.report import DomainContext
from hardware import cost, fidelity, report
from hardware.config import DeviceConfig, Workload

TINY_SWEEP = ["vectors=64", "sweep.bits=[4, 8]", "sweep.full_well=[1000.0]", "sweep.read_noise=[0.0]"]


def test_frames_follow_the_four_frame_scheme_and_the_array_sizes() -> None:
    work = Workload(name="w", domain="vision", vectors=5, d_err=10, dims=(100, 250), layout="independent")
    device = DeviceConfig(frame_rate=100.0, input_mirrors=8, output_pixels=100, power_w=2.0)
    row = cost.device_cost(work, device, reference_ratio=1.0)
    # 10 signal + 10 reference mirrors on an array of 8: 3 input parts; 350 pixels on a camera of 100: 4 parts.
    assert row["passes"] == 12 and row["frames"] == 4 * 5 * 12
    assert row["device_s"] == pytest.approx(row["frames"] / 100.0)
    assert row["device_j"] == pytest.approx(row["device_s"] * 2.0)


def _ctx(results: Path) -> DomainContext:
    return DomainContext("hardware", "adhoc", {}, [], {}, results / "figures", results)


def test_sweep_and_cost_files_render_in_the_report(tmp_path: Path) -> None:
    out = tmp_path / "hardware"
    fidelity.main(["--config", "hardware/configs/fidelity.yaml", "--out", str(out), "--threads", "1", *TINY_SWEEP])
    workloads = {"workloads": [{"name": "tiny", "domain": "vision", "vectors": 32, "d_err": 10, "dims": [64]}]}
    (tmp_path / "cost.yaml").write_text(yaml.safe_dump(workloads))
    cost.main(["--config", str(tmp_path / "cost.yaml"), "--out", str(out), "--threads", "1", "repeats=2"])
    record = json.loads((out / "cost.json").read_text())
    (row,) = record["rows"]
    assert row["frames"] == 4 * 32 and row["cpu_s"] > 0
    assert (row["gpu_s"] is None) == (not torch.cuda.is_available())

    fidelity_md, cost_md = report.sections(_ctx(tmp_path))
    assert "**met**" in fidelity_md and "![Fidelity" in fidelity_md and (out / "fidelity.png").exists()
    assert "| tiny | 32 | 10 → 64 | 128 |" in cost_md


def test_missing_outputs_are_reported_as_not_run(tmp_path: Path) -> None:
    fidelity_md, cost_md = report.sections(_ctx(tmp_path))
    assert "Not run" in fidelity_md and "Not run" in cost_md


def test_bench_quick_run_writes_its_table(tmp_path: Path) -> None:
    record = bench_main(["--quick", "--threads", "1", "--json", str(tmp_path / "speed.json")])
    assert {(r["shape"], r["camera"]) for r in record["rows"]} == {
        (shape, camera) for shape in ("mnist", "transformer-micro") for camera in ("ideal", "noisy")
    }
    assert all(r["vectors_per_s"] > 0 for r in record["rows"])
    assert json.loads((tmp_path / "speed.json").read_text())["rows"] == record["rows"]
