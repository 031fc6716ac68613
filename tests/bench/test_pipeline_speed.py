"""The pipeline bench: its stages are the models cut up (same outputs, same DFA updates), its cuts balance the
processes, its cost model is the formula it states, and a quick run on 2 processes measures every method."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.distributed.pipelining._utils import generate_stage_to_rank_mapping

from bench.pipeline_report import cost_model, flop_model, render_section
from bench.pipeline_speed import METHODS, SIZES, loss_fn, workloads
from bench.pipeline_stages import owner, split, stage_input, stage_modules
from common.pipeline import DFAPipeline

ROOT = Path(__file__).resolve().parents[2]
QUICK = workloads(SIZES["quick"], ("mlp", "transformer"))


@pytest.mark.parametrize("layout", ["single", "loop", "v"])
@pytest.mark.parametrize("workload", QUICK, ids=lambda w: w.name)
def test_stages_chain_to_the_models_output(workload, layout: str) -> None:
    model = workload.build("bp").eval()
    x, _ = workload.batch(torch.device("cpu"))
    stages = stage_modules(model, 2, layout, getattr(workload, "seq_len", 0))
    assert len(stages) == (2 if layout == "single" else 4)
    assert sum(len(list(s.parameters())) for s in stages) == len(list(model.parameters()))  # each weight once
    with torch.no_grad():
        torch.testing.assert_close(stage_input(stages, len(stages), x), model(x))


@pytest.mark.parametrize("workload", QUICK, ids=lambda w: w.name)
def test_a_stage_of_micro_batches_learns_what_the_model_learns(workload) -> None:
    """The whole model as one stage of DFAPipeline (M = 2) gives the gradients of the model's own DFA backward:
    the stage modules mark the model's feedback points and read e where the model does."""
    x, y = workload.batch(torch.device("cpu"))
    reference = workload.build("dfa").eval()  # no dropout: both see the same function
    reference.fb.backward(workload.loss(reference, (x, y)))
    model = workload.build("dfa").eval()
    (whole,) = stage_modules(model, 1, "single", getattr(workload, "seq_len", 0))
    DFAPipeline(whole, 0, 1, 2, model.fb.signals, loss_fn).step(x, y)
    expected = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, expected[name].grad, rtol=1e-5, atol=1e-7, msg=name)


def test_split_balances_the_busiest_process() -> None:
    assert split([1, 1, 1, 1, 1, 1], 2, "single") == [(0, 3), (3, 6)]
    assert split([1, 1, 1, 1, 4], 2, "single") == [(0, 4), (4, 5)]
    # V: rank 0 holds the first and the last chunk, so a heavy last unit pairs with a light first chunk.
    cuts = split([1, 1, 1, 1, 1, 1, 3], 2, "v")
    loads = [0.0, 0.0]
    for stage, (a, b) in enumerate(cuts):
        loads[owner(stage, 4, 2, "v")] += sum([1, 1, 1, 1, 1, 1, 3][a:b])
    assert max(loads) == 5
    with pytest.raises(ValueError, match="cannot fill 4 pipeline stages"):
        split([1, 1, 1], 2, "loop")


@pytest.mark.parametrize("ranks", [2, 3])
def test_owner_follows_torch_layouts(ranks: int) -> None:
    for layout, style in (("loop", "loop"), ("v", "v")):
        torch_map = generate_stage_to_rank_mapping(ranks, 2 * ranks, style=style)
        assert [owner(s, 2 * ranks, ranks, layout) for s in range(2 * ranks)] == [
            torch_map[s] for s in range(2 * ranks)
        ]


def test_cost_model_is_its_formula_and_reduces_to_flops() -> None:
    # f = i = w = 1 per stage: BP's backward costs 2, DFA's learning 1, the last stage's forward as any other.
    parts = [{"bp_forward": 1.0, "bp_backward": 2.0, "dfa_forward": 1.0, "dfa_learn": 1.0}] * 2
    model = cost_model(parts, 8)
    assert model["chain_ms"] == 27 and model["zero_bubble_ms"] == 24 and model["dfa_ms"] == 17
    flops = flop_model(2, 8)
    assert model["chain"] == pytest.approx(flops["chain"]) and model["zero_bubble"] == pytest.approx(17 / 24)
    assert flops["zero_bubble"] == pytest.approx(17 / 24)


@pytest.mark.slow
def test_quick_run_measures_every_method(tmp_path: Path) -> None:
    out = tmp_path / "pipeline.json"
    cmd = [sys.executable, "-m", "bench.pipeline_speed", "--quick", "--repeats", "2", "--warmup", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*cmd, "--json", str(out)], cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    record = json.loads(out.read_text())
    assert record["device"]["processes"] == 2 and record["device"]["backend"] == "gloo"
    assert len(record["load"]["before"]) == len(record["load"]["after"]) == 3
    names = [(row["workload"], row["n_micro"]) for row in record["rows"]]
    assert names == [("mlp-64", 4), ("transformer-macro", 4), ("transformer-micro", 4)]
    for row in record["rows"]:
        assert set(row["methods"]) == set(METHODS) and not row["skipped"]
        for stats in row["methods"].values():
            assert len(stats["times_ms"]) == 2 and 0 < stats["q1_ms"] <= stats["median_ms"] <= stats["q3_ms"]
        assert len(row["parts"]) == 2 and all(v > 0 for p in row["parts"] for v in p.values())
        best_chain = min(row["methods"][n]["median_ms"] for n in ("gpipe", "1f1b"))
        assert row["ratio"]["chain"] == pytest.approx(row["methods"]["dfa"]["median_ms"] / best_chain)
        assert "target" not in row  # targets hold at the default sizes only
    section = render_section([record])
    assert "| mlp-64 | 4 |" in section and record["command"] in section and "What this shows" in section
