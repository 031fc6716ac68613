"""The speed bench at a tiny size: it runs end to end, its JSON has the promised shape, and its hook-style
contrast computes the same DFA updates as the core (so the bench compares two costs of one method)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.dfa_speed import METHODS, SIZES, make_learner, workloads
from bench.hook_dfa import HookFeedback
from bench.speed_report import render_readme

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_writes_the_promised_json(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "bench.dfa_speed", "--quick", "--device", "cpu", "--reps", "2", "--warmup", "0"]
    subprocess.run([*cmd, "--json", str(out)], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)

    record = json.loads(out.read_text())
    assert record["device"]["type"] == "cpu"
    assert len(record["load"]["before"]) == len(record["load"]["after"]) == 3
    assert record["settings"]["precisions"] == ["fp32", "bf16"] and not record["settings"]["default_sizes"]
    names = ["mlp-64", "transformer-macro", "transformer-micro", "nerf"]
    expected_rows = [(name, precision) for name in names for precision in ("fp32", "bf16")]
    assert [(row["workload"], row["precision"]) for row in record["rows"]] == expected_rows
    for row in record["rows"]:
        methods = row["methods"]
        assert set(methods) == set(METHODS)
        assert set(row["ratio"]) == set(row["cpu_time_ratio"]) == {"dfa", "hook"}
        for stats in methods.values():
            assert len(stats["times_ms"]) == len(stats["cpu_times_ms"]) == 2
            assert 0 < stats["q1_ms"] <= stats["median_ms"] <= stats["q3_ms"]
            assert stats["peak_mib"] > 0
        assert row["ratio"]["dfa"] == pytest.approx(methods["dfa"]["median_ms"] / methods["bp"]["median_ms"])
        assert "target" not in row  # targets hold at the default sizes only
    readme = render_readme([record])
    assert all(f"| {name} | fp32 |" in readme for name in names) and record["command"] in readme


@pytest.mark.parametrize("workload", workloads(SIZES["quick"], ("mlp", "transformer", "nerf")), ids=lambda w: w.name)
def test_hook_style_dfa_computes_the_cores_updates(workload) -> None:
    device = torch.device("cpu")
    batch = workload.batch(device)
    grads = {}
    for method in ("dfa", "hook"):
        learner = make_learner(workload, method, device)
        learner.model.eval()  # no dropout: both copies see the same function
        learner.backward(workload.loss(learner.model, batch))
        grads[method] = {n: p.grad for n, p in learner.model.named_parameters()}
    assert any(isinstance(m, HookFeedback) for m in make_learner(workload, "hook", device).model.modules())
    assert grads["dfa"].keys() == grads["hook"].keys()
    for name, grad in grads["dfa"].items():
        torch.testing.assert_close(grads["hook"][name], grad, msg=name)
