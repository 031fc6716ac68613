"""Your own Criteo-format file by path: prepared on first use, keyed by content, named in final.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from common.config import load_config
from common.paths import ROOT, DataMissingError
from common.provenance import file_sha256
from recsys.config import ModelConfig, RecsysConfig
from recsys.data import file_dataset
from recsys.preprocess import main as preprocess_main
from recsys.train import main as train_main

README_CONFIG = ROOT / "recsys" / "configs" / "deepfm_synthetic.yaml"
SMALL = ["model.mlp_dims=[16,16]", "train.epochs=6", "train.batch_size=256"]


def write_clicks(path: Path, rows: int = 4000, seed: int = 0) -> Path:
    """``rows`` lines in the Kaggle train.txt layout: label, 13 integers (some empty), 26 hexadecimal
    categoricals; the click probability depends on three categorical fields and one integer field."""
    rng = np.random.default_rng(seed)
    cats = rng.integers(20, size=(rows, 26))  # 20 values per field
    ints = rng.poisson(3.0, size=(rows, 13))
    weights = rng.normal(0, 1.5, size=(3, 20))
    logit = weights[0, cats[:, 0]] + weights[1, cats[:, 5]] + weights[2, cats[:, 9]] + 0.4 * (ints[:, 0] - 3)
    labels = rng.random(rows) < 1 / (1 + np.exp(-(logit - 1.0)))
    lines = []
    for r in range(rows):
        integers = ["" if rng.random() < 0.1 else str(v) for v in ints[r]]
        hexes = [f"{0x9E3779B1 * (f + 1) + v * 7919 & 0xFFFFFFFF:08x}" for f, v in enumerate(cats[r])]
        lines.append("\t".join([str(int(labels[r])), *integers, *hexes]) + "\n")
    path.write_text("".join(lines))
    return path


@pytest.fixture(scope="module")
def clicks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clicks(tmp_path_factory.mktemp("own") / "clicks.txt")


def _train(tmp_path: Path, *overrides: str, name: str = "run") -> dict:
    argv = ["--config", str(README_CONFIG), "--out", str(tmp_path / name), "--threads", "1", *SMALL, *overrides]
    train_main(argv)
    return json.loads((tmp_path / name / "final.json").read_text())


def test_readme_command_learns_on_a_small_file_and_names_it(clicks: Path, tmp_path: Path) -> None:
    for kind, auc in (("bp", 0.75), ("dfa", 0.65)):  # DFA's grid has lower rates: it learns more slowly
        overrides = (f"data.path={clicks}", f"data.cache={tmp_path / 'cache'}", f"feedback.kind={kind}")
        final = _train(tmp_path, *overrides, name=kind)
        assert final["metrics"]["test/auc"] > auc, kind  # the click model's first-order effects are learnable
    data = final["data"]
    assert data["name"] == "clicks.txt" and data["path"] == clicks.resolve().as_posix()
    assert data["bytes"] == clicks.stat().st_size and data["sha256"] == file_sha256(clicks)[:12]
    rows = final["dataset"]["rows"]
    assert rows == 4000 and f"{rows:,} rows" in data["detail"]  # measured by the preprocessing
    assert "synthetic" not in json.dumps(data) and "generated" not in json.dumps(data)


def test_preprocess_and_train_agree(clicks: Path, tmp_path: Path) -> None:
    cache = tmp_path / "prepared"
    preprocess_main(["--input", str(clicks), "--out", str(cache)])
    (folder,) = cache.glob("file-*")
    assert folder == file_dataset(clicks, cache)[1].root
    stamp = (folder / "stats.json").stat().st_mtime_ns
    final = _train(tmp_path, f"data.path={clicks}", f"data.cache={cache}", "train.epochs=1")
    assert (folder / "stats.json").stat().st_mtime_ns == stamp  # read, not prepared again
    assert final["dataset"]["rows"] == json.loads((folder / "stats.json").read_text())["rows"]


def test_the_cache_follows_the_content(clicks: Path, tmp_path: Path) -> None:
    edited = tmp_path / "clicks.txt"
    edited.write_bytes(clicks.read_bytes())
    same = file_dataset(edited, tmp_path)[1].root
    assert same == file_dataset(clicks, tmp_path)[1].root  # the same content elsewhere: the same arrays
    lines = edited.read_text().splitlines(keepends=True)
    edited.write_text("".join(lines[:-1]))
    assert file_dataset(edited, tmp_path)[1].root != same
    with pytest.raises(DataMissingError, match="absent.txt"):
        _train(tmp_path, f"data.path={tmp_path / 'absent.txt'}", f"data.cache={tmp_path}")


def test_row_counts_are_measured_not_typed() -> None:
    for path in (ROOT / "recsys" / "datasets").glob("*.yaml"):
        description = yaml.safe_load(path.read_text()).get("description", "")
        assert not re.search(r"\d[\d.,]*\s*[kM]?\s*rows", description), path.name


def test_defaults_learn_on_small_files_and_paper_configs_keep_the_paper_init() -> None:
    assert ModelConfig().first_order_init == 0.01
    for model in ("fm", "deepfm", "afn"):  # the models with a first-order term
        cfg = load_config(RecsysConfig, ROOT / "recsys" / "configs" / f"{model}_criteo.yaml", [])
        assert cfg.model.first_order_init == 1.0, model
