"""Training runs: every registered experiment × method, determinism, resume, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from common.config import ConfigError
from common.paths import ROOT, DataError, DataMissingError
from recsys.data import dataset_paths
from recsys.train import main

SMOKE = "synthetic_smoke"  # the dataset of the smoke_cache fixture
CONFIGS = sorted((ROOT / "recsys" / "configs").glob("*.yaml"))
TINY = ["model.mlp_dims=[8,8]", "model.lnn_dim=4", "model.cross_layers=2", "model.embed_dim=4", "train.batch_size=512"]


def run(tmp_path: Path, cache: str, config: Path, *overrides: str, out: str = "run", stop_after: int | None = None):
    argv = ["--config", str(config), "--out", str(tmp_path / out), "--threads", "1"]
    argv += ["--stop-after", str(stop_after)] if stop_after is not None else []
    argv += [f"data.dataset={SMOKE}", f"data.cache={cache}", "data.train_limit=4096", "data.eval_limit=2048"]
    return main([*argv, *TINY, *overrides])


def test_every_config_is_registered_and_complete():
    names = {p.stem for p in CONFIGS}
    for model in ("fm", "deepfm", "dcn", "afn"):
        assert {f"{model}_synthetic", f"{model}_criteo"} <= names


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_every_experiment_and_method_trains(tmp_path, smoke_cache, config):
    methods = ["bp"] if config.stem.startswith("fm_") else ["bp", "dfa", "shallow"]
    for method in methods:
        final = run(tmp_path, smoke_cache, config, f"feedback.kind={method}", "train.epochs=1", out=method)
        assert 0.0 < final["metrics"]["test/auc"] < 1.0 and final["metrics"]["test/logloss"] > 0
        assert final["selected"]["epoch"] == 1 and len(final["grid"]) >= 1


def test_optical_goes_through_the_dfa_path(tmp_path, smoke_cache):
    pytest.importorskip("hardware.optical")
    final = run(tmp_path, smoke_cache, ROOT / "recsys/configs/deepfm_synthetic.yaml", "feedback.kind=optical")
    assert 0.0 < final["metrics"]["test/auc"] < 1.0


def test_same_seed_same_final_json(tmp_path, smoke_cache):
    config = ROOT / "recsys/configs/dcn_synthetic.yaml"
    args = ("feedback.kind=dfa", "train.epochs=2", "feedback.align_every=1")
    run(tmp_path, smoke_cache, config, *args, out="a")
    run(tmp_path, smoke_cache, config, *args, out="b")
    assert (tmp_path / "a" / "final.json").read_text() == (tmp_path / "b" / "final.json").read_text()
    records = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert "align/cos/p0" in records[0]


def test_interrupted_run_resumes_to_the_same_result(tmp_path, smoke_cache):
    config = ROOT / "recsys/configs/afn_synthetic.yaml"
    args = ("feedback.kind=dfa", "train.epochs=2", "train.patience=1", "search.lr=[0.003,0.001]")
    whole = run(tmp_path, smoke_cache, config, *args, out="whole")
    for _ in range(3):  # 4 units (2 grid points × 2 epochs), one or two at a time
        with pytest.raises(SystemExit, match="stopped after"):
            run(tmp_path, smoke_cache, config, *args, out="parts", stop_after=1)
    resumed = run(tmp_path, smoke_cache, config, *args, out="parts", stop_after=1)
    assert resumed == whole

    def lines(name: str) -> list[dict]:
        records = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k not in ("time_s", "train/step_s")} for r in records]  # speeds

    assert lines("parts") == lines("whole")


def test_fm_refuses_feedback_it_cannot_use(tmp_path, smoke_cache):
    with pytest.raises(ConfigError, match="feedback.kind"):
        run(tmp_path, smoke_cache, ROOT / "recsys/configs/fm_synthetic.yaml", "feedback.kind=dfa")


def test_bad_config_key_is_named(tmp_path, smoke_cache):
    with pytest.raises(ConfigError, match="model.mlp_width"):
        run(tmp_path, smoke_cache, ROOT / "recsys/configs/deepfm_synthetic.yaml", "model.mlp_width=3")
    with pytest.raises(ConfigError, match="unknown dataset 'nope'"):
        run(tmp_path, smoke_cache, ROOT / "recsys/configs/deepfm_synthetic.yaml", "data.dataset=nope")
    with pytest.raises(ConfigError, match="'feedback.kind' must be one of"):
        run(tmp_path, smoke_cache, ROOT / "recsys/configs/deepfm_synthetic.yaml", "feedback.kind=fa")


def test_missing_and_stale_data_are_reported(tmp_path, smoke_cache):
    config = ROOT / "recsys/configs/deepfm_synthetic.yaml"
    with pytest.raises(DataMissingError, match="stats.json"):
        run(tmp_path, str(tmp_path / "empty_cache"), config)
    stale = tmp_path / "stale_cache"
    shutil.copytree(dataset_paths(SMOKE, smoke_cache).root, stale / SMOKE)
    stats = json.loads((stale / SMOKE / "stats.json").read_text())
    stats["dataset"]["generator"]["seed"] += 1
    (stale / SMOKE / "stats.json").write_text(json.dumps(stats))
    with pytest.raises(DataError, match="another version"):
        run(tmp_path, str(stale), config)
