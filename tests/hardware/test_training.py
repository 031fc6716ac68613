"""DFA training with the optical projector: it learns, it repeats from the seed and it resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.paths import ROOT
from vision.train import main

CONFIG = ROOT / "vision" / "configs" / "mlp800x2_mnist.yaml"
TINY = ["feedback.kind=optical", "data.train_limit=256", "data.test_limit=128", "train.batch_size=64"]


def _run(tmp_path: Path, name: str, *overrides: str, extra: tuple[str, ...] = ()) -> Path:
    out = tmp_path / name
    main(["--config", str(CONFIG), "--out", str(out), "--threads", "1", *extra, *TINY, *overrides])
    return out


def test_optical_dfa_learns_and_logs_alignment(tmp_path: Path) -> None:
    out = _run(tmp_path, "run", "data.train_limit=2048", "train.epochs=2", "feedback.align_every=1")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["test/err"] < 50  # chance is 90%
    assert records[-1]["align/cos/p0"] > 0.05  # the optical signal is aligned with the true gradient


def test_same_seed_gives_identical_final_json(tmp_path: Path) -> None:
    a, b, c = (_run(tmp_path, name, "train.epochs=1", f"seed={seed}") for name, seed in (("a", 3), ("b", 3), ("c", 4)))
    assert (a / "final.json").read_bytes() == (b / "final.json").read_bytes()
    assert (a / "final.json").read_bytes() != (c / "final.json").read_bytes()


def test_interrupted_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    """The camera noise comes from the run's checkpointed random state: a resumed run is the same run."""
    whole = _run(tmp_path, "whole", "train.epochs=2")
    with pytest.raises(SystemExit, match="stopped after 1 epoch"):
        _run(tmp_path, "cut", "train.epochs=2", extra=("--stop-after", "1"))
    cut = _run(tmp_path, "cut", "train.epochs=2")
    assert (whole / "final.json").read_bytes() == (cut / "final.json").read_bytes()
