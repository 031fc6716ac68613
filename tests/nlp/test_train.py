"""NLP runs: every experiment config trains for 2 steps, runs repeat and resume exactly, bad input is named."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from common.config import ConfigError
from common.paths import ROOT, DataMissingError
from nlp.train import KINDS, main

CONFIGS = sorted((ROOT / "nlp" / "configs").glob("*.yaml"))
DIGITAL = [k for k in KINDS if k != "optical"]
TIMINGS = ("time_s", "train/tokens_per_s")


def _run(tmp_path: Path, tiny: list[str], config: Path, *overrides: str, name: str = "run", extra=()) -> Path:
    out = tmp_path / name
    main(["--config", str(config), "--out", str(out), "--threads", "1", *extra, *tiny, *overrides])
    return out


def _metrics(run_dir: Path) -> list[dict]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in records]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_every_experiment_runs_two_steps(tmp_path: Path, tiny: list[str], config: Path, read_final) -> None:
    kinds = ["dfa"] if "micro" in config.stem else DIGITAL  # micro only changes where DFA's points sit
    for kind in kinds:
        final = read_final(_run(tmp_path, tiny, config, f"feedback.kind={kind}", name=kind))
        assert final["experiment"] == config.stem and final["method"] == kind
        assert final["budget"]["steps"] == 2 and math.isfinite(final["metrics"]["val/ppl"])


@pytest.mark.skipif(importlib.util.find_spec("hardware.optical") is None, reason="no optical emulator")
def test_optical_feedback_takes_the_dfa_path(tmp_path: Path, tiny: list[str], read_final) -> None:
    final = read_final(_run(tmp_path, tiny, CONFIGS[0], "feedback.kind=optical"))
    assert math.isfinite(final["metrics"]["val/ppl"])


@pytest.mark.parametrize("placement", ["macro", "micro"])
def test_dfa_logs_alignment_at_every_point(tmp_path: Path, tiny: list[str], placement: str) -> None:
    args = ("feedback.kind=dfa", f"model.placement={placement}", "feedback.align_every=1")
    out = _run(tmp_path, tiny, CONFIGS[0], *args)
    last = _metrics(out)[-1]
    points = 2 if placement == "macro" else 6
    assert {f"align/cos/p{i}" for i in range(points)} <= set(last) and f"align/cos/p{points}" not in last
    assert -1 <= last["align/cos/p0"] <= 1


def test_same_seed_gives_identical_results(tmp_path: Path, tiny: list[str]) -> None:
    args = ("feedback.kind=dfa", "model.placement=micro", "train.max_steps=3")
    a = _run(tmp_path, tiny, CONFIGS[0], *args, "seed=5", name="a")
    b = _run(tmp_path, tiny, CONFIGS[0], *args, "seed=5", name="b")
    c = _run(tmp_path, tiny, CONFIGS[0], *args, "seed=6", name="c")
    assert (a / "final.json").read_bytes() == (b / "final.json").read_bytes()
    assert _metrics(a) == _metrics(b)
    assert _metrics(a) != _metrics(c)


@pytest.mark.parametrize("schedule", ["noam", "plateau"])
def test_interrupted_run_resumes_to_the_same_result(tmp_path: Path, tiny: list[str], schedule: str) -> None:
    args = ("feedback.kind=dfa", f"train.schedule={schedule}", "train.max_steps=5", "train.eval_every=2")
    whole = _run(tmp_path, tiny, CONFIGS[0], *args, name="whole")
    with pytest.raises(SystemExit, match="stopped after 3 step"):  # mid-way between two evaluations
        _run(tmp_path, tiny, CONFIGS[0], *args, name="cut", extra=("--stop-after", "3"))
    cut = tmp_path / "cut"
    assert not (cut / "final.json").exists() and (cut / "checkpoint.pt").exists()
    _run(tmp_path, tiny, CONFIGS[0], *args, name="cut")
    assert (whole / "final.json").read_bytes() == (cut / "final.json").read_bytes()
    assert _metrics(whole) == _metrics(cut) and [r["step"] for r in _metrics(cut)] == [2, 4, 5]


def test_bad_config_key_is_named(tmp_path: Path, tiny: list[str]) -> None:
    with pytest.raises(ConfigError, match="'model.n_layers'"):
        _run(tmp_path, tiny, CONFIGS[0], "model.n_layers=2")


def test_unsupported_feedback_kind_is_refused(tmp_path: Path, tiny: list[str]) -> None:
    with pytest.raises(ConfigError, match="'feedback.kind' must be one of"):
        _run(tmp_path, tiny, CONFIGS[0], "feedback.kind=fa")


def test_missing_corpus_is_named(tmp_path: Path, tiny: list[str]) -> None:
    with pytest.raises(DataMissingError, match=r"wiki\.train\.tokens"):
        _run(tmp_path, tiny, CONFIGS[0], f"data.root={tmp_path}")
