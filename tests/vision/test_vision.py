"""Vision domain: every experiment × method runs, runs are repeatable and resumable, bad input is named."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from common.config import ConfigError
from common.paths import ROOT, DataMissingError
from vision.config import DataConfig
from vision.data import load, read_idx
from vision.train import KINDS, main

CONFIGS = sorted((ROOT / "vision" / "configs").glob("mlp*.yaml"))  # the conv nets: tests/vision/test_conv.py
TINY = ["train.epochs=1", "data.train_limit=256", "data.test_limit=128", "train.batch_size=64"]


def _run(tmp_path: Path, config: Path, *overrides: str, name: str = "run", extra: tuple[str, ...] = ()) -> Path:
    out = tmp_path / name
    main(["--config", str(config), "--out", str(out), "--threads", "1", *extra, *TINY, *overrides])
    return out


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
@pytest.mark.parametrize("kind", [k for k in KINDS if k != "optical"])
def test_every_experiment_and_method_runs(tmp_path: Path, config: Path, kind: str, read_final) -> None:
    final = read_final(_run(tmp_path, config, f"feedback.kind={kind}", "feedback.align_every=1"))
    assert final["method"] == kind and final["experiment"] == config.stem
    assert 0 <= final["metrics"]["test/err"] <= 100


def test_learning_happens_and_dfa_logs_alignment(tmp_path: Path) -> None:
    out = _run(
        tmp_path, CONFIGS[0], "feedback.kind=dfa", "feedback.align_every=1", "data.train_limit=2048", "train.epochs=2"
    )
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["test/err"] < 50  # chance is 90%
    assert {"align/cos/p0", "align/angle/p1"} <= set(records[-1])


def test_same_seed_gives_identical_final_json(tmp_path: Path) -> None:
    a = _run(tmp_path, CONFIGS[0], "feedback.kind=dfa", "seed=3", name="a")
    b = _run(tmp_path, CONFIGS[0], "feedback.kind=dfa", "seed=3", name="b")
    c = _run(tmp_path, CONFIGS[0], "feedback.kind=dfa", "seed=4", name="c")
    assert (a / "final.json").read_bytes() == (b / "final.json").read_bytes()
    assert (a / "final.json").read_bytes() != (c / "final.json").read_bytes()


def test_interrupted_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    args = ("feedback.kind=dfa", "train.epochs=3")
    whole = _run(tmp_path, CONFIGS[0], *args, name="whole")
    with pytest.raises(SystemExit, match="stopped after 1 epoch"):
        _run(tmp_path, CONFIGS[0], *args, name="cut", extra=("--stop-after", "1"))
    cut = tmp_path / "cut"
    assert not (cut / "final.json").exists() and (cut / "checkpoint.pt").exists()
    _run(tmp_path, CONFIGS[0], *args, name="cut")
    assert (whole / "final.json").read_bytes() == (cut / "final.json").read_bytes()
    steps = [json.loads(line)["step"] for line in (cut / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]


def test_bad_config_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'train.learning_rate'"):
        _run(tmp_path, CONFIGS[0], "train.learning_rate=0.1")


def test_missing_dataset_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataMissingError, match="train-images-idx3-ubyte.gz"):
        load(DataConfig(path=str(tmp_path)))


def test_truncated_idx_file_is_reported(tmp_path: Path) -> None:
    source = ROOT / "data" / "mnist" / "raw"
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(source / name, tmp_path / name)
    raw = gzip.decompress((source / "t10k-images-idx3-ubyte.gz").read_bytes())[:5000]
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    with pytest.raises(ValueError, match="truncated"):
        load(DataConfig(path=str(tmp_path)))


def test_shipped_mnist_is_intact() -> None:
    labels = read_idx(ROOT / "data" / "mnist" / "raw" / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,)
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
