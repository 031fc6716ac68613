"""common.rehearse: the plan of a profile's jobs, the expressions of config.yaml's `rehearse:` section, the count
of weights, and a rehearsal of paper jobs at their real size (a subset: the suite's budget, see below)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from torch import nn

from common import rehearse
from common.feedback import Feedback, FeedbackConfig
from common.paths import ROOT

CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def distinct_jobs(profile: str) -> int:
    """Experiment × method pairs of a profile of config.yaml."""
    sections = CONFIG["profiles"][profile].values()
    return sum(len(spec["methods"]) for section in sections for spec in (section.get("experiments") or {}).values())


@pytest.mark.parametrize("profile", ["paper", "default"])
def test_a_profile_with_a_rehearse_section_plans_every_distinct_job_once(profile: str) -> None:
    jobs = rehearse.plan(CONFIG, profile)
    assert len(jobs) == distinct_jobs(profile) and len({j.name for j in jobs}) == len(jobs)


def test_the_paper_plan_holds_the_workflows_overrides() -> None:
    jobs = rehearse.plan(CONFIG, "paper")
    gcn = next(j for j in jobs if j.name == "graphs/gcn_cora/bp")
    assert gcn.seeds == 10 and gcn.overrides == ("feedback.align_every=1", "tsne.enabled=true")
    plateau = next(j for j in jobs if j.name == "nlp/transformer_wikitext2_micro_plateau/dfa")
    assert plateau.overrides[-1] == "train.epochs=22"  # experiment overrides after the profile's
    for job in jobs:  # every stand-in concerns data that is absent here, and only that
        if job.stand_in is not None:
            assert not (ROOT / job.stand_in.missing).exists()


def test_a_stand_in_applies_only_while_the_users_data_is_absent() -> None:
    config = {
        "profiles": {"p": {"nerf": {"experiments": {"a_lego": {"methods": ["bp"]}, "b_fern": {"methods": ["dfa"]}}}}},
        "rehearse": {
            "p": {
                "nerf": {
                    "units": 2,
                    "time": "1",
                    "steps": "1",
                    "stand_ins": [
                        {"missing": "README.md", "experiments": "*_lego", "overrides": ["x=1"], "note": "present"},
                        {"missing": "no/such/file", "experiments": "*_fern", "overrides": ["y=2"], "note": "absent"},
                    ],
                }
            }
        },
    }
    a, b = rehearse.plan(config, "p")
    assert a.stand_in is None and b.stand_in is not None and b.stand_in.overrides == ("y=2",)
    assert rehearse.command(b, Path("out"), 1, ["z=3"])[-3:] == ["feedback.kind=dfa", "y=2", "z=3"]


def test_a_profile_or_domain_without_rehearsal_settings_is_an_error() -> None:
    assert "smoke" not in CONFIG["rehearse"]
    with pytest.raises(ValueError, match=r"no `rehearse.smoke` section"):
        rehearse.plan(CONFIG, "smoke")
    nlp = {"experiments": {"x": {"methods": ["bp"]}}}
    config = {"profiles": {"p": {"nlp": nlp}}, "rehearse": {"p": {"vision": {}}}}
    with pytest.raises(ValueError, match="no entry for nlp"):
        rehearse.plan(config, "p")
    with pytest.raises(ValueError, match="unknown keys"):
        rehearse.Rehearsal.parse({"units": 1, "time": "1", "steps": "1", "step": "2"}, "here")


def test_expressions_read_the_config_the_metric_lines_and_the_cpu_samples() -> None:
    config = {"train": {"epochs": 3, "batch_size": 512}, "search": {"lr": [1e-3, 1e-4]}}
    lines = [{"step": 1, "epoch": 0.25, "time_s": 2.0}, {"step": 2, "epoch": 0.5, "time_s": 5.5, "its": 4.0}]
    cpu = [10.0, 17.0]
    assert rehearse.evaluate("len(search.lr) * train.epochs * ceil(1000 / train.batch_size)", config, lines) == 12
    assert rehearse.evaluate('train.epochs * round(log("step") / log("epoch"))', config, lines) == 12
    assert rehearse.evaluate('1 / log("its")', config, lines) == 0.25
    assert rehearse.evaluate("wall(2) - wall(1)", config, lines) == 3.5
    assert rehearse.evaluate("(cpu(2) - cpu(1)) // 2", config, lines, cpu) == 3
    for bad, message in [
        ('__import__("os")', "not allowed"),
        ("train.lr", "no key 'train.lr'"),
        ("cpu(3)", "asks for metric line 3"),
        ('log("val/ppl")', "has no 'val/ppl'"),
        ("train.epochs.__class__", "no key"),
        ("[1][0]", "not allowed"),
    ]:
        with pytest.raises(ValueError, match=message):
            rehearse.evaluate(bad, config, lines, cpu)


def test_weights_count_trained_parameters_not_fixed_matrices_or_statistics() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.bn, self.head = nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Linear(8, 2)
            self.fb = Feedback(FeedbackConfig(kind="dfa"), d_err=2, dims=(8,))

    net = Net()
    assert any(name.endswith(".B") for name in net.state_dict())  # the DFA matrix is in the state dict...
    assert rehearse._weights(net.state_dict()) == sum(p.numel() for p in net.parameters())  # ...not counted


# The rehearsal of paper jobs at their real size, as the command runs them. The suite affords a subset (about two
# CPU-minutes): NeRF 4×128 on 1024 rays × 192 samples (on the lego_200 stand-in), DeepFM on Criteo's fields with
# the paper's MLP and batch (on the 30k-row generated dataset, prepared here, instead of the 2M-row stand-in),
# vision's 800×2 MLP on all of MNIST and GCN on Cora. The Transformer and every other job: the full rehearsal
# (README, "Paper scale").
SUBSET = ["nerf/nerf4x128_lego400/dfa", "recsys/deepfm_criteo/dfa", "vision/mlp800x2_mnist/dfa", "graphs/gcn_cora/dfa"]


@pytest.fixture(scope="module")
def smoke_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from recsys.data import dataset_paths, load_dataset_config
    from recsys.generate import generate
    from recsys.preprocess import prepare

    cache = tmp_path_factory.mktemp("recsys_cache")
    cfg = load_dataset_config("synthetic_smoke")
    generate(cfg.generator, dataset_paths("synthetic_smoke", cache, cfg).raw)
    prepare("synthetic_smoke", str(cache))
    return cache


@pytest.mark.slow
def test_paper_jobs_rehearse_at_their_real_size(tmp_path: Path, smoke_cache: Path, capsys) -> None:
    args = ["--profile", "paper", "--threads", "1", "--out", str(tmp_path), "--no-prepare"]
    args += [f"--only={job}" for job in SUBSET]
    args += ["--set", "recsys:data.dataset=synthetic_smoke", "--set", f"recsys:data.cache={smoke_cache}"]
    assert rehearse.main(args) == 0
    records = {r["job"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "jobs").rglob("*.json"))}
    assert sorted(records) == sorted(SUBSET) and all(r["ok"] for r in records.values())
    nerf, recsys = records["nerf/nerf4x128_lego400/dfa"], records["recsys/deepfm_criteo/dfa"]
    assert nerf["steps"] == 500_000 and records["graphs/gcn_cora/dfa"]["steps"] == 250
    assert nerf["weights"] == 2 * nerf_weights()  # coarse and fine, 4 × 128: the paper's network, not a toy
    assert recsys["steps"] == 30 * -(-int(0.8 * 45840617) // 2048)  # 30 epochs of Criteo's 80% in batches of 2048
    assert all(r["step_s"] > 0 and r["peak_rss_gib"] > 0.1 for r in records.values())
    table = (tmp_path / "REHEARSAL.md").read_text()
    assert table == capsys.readouterr().out and all(f"`{job}`" in table for job in SUBSET)
    assert "| nerf | 1 | 1 |" in table and "stand-in" in table


def nerf_weights() -> int:
    from common.config import load_config
    from nerf.config import NerfConfig
    from nerf.models import NeRF

    cfg = load_config(NerfConfig, ROOT / "nerf" / "configs" / "nerf4x128_lego400.yaml", ["feedback.kind=dfa"])
    return sum(p.numel() for p in NeRF(cfg.model, cfg.feedback).parameters())


@pytest.mark.slow
def test_a_job_that_fails_is_reported_with_its_reason(tmp_path: Path) -> None:
    args = ["--profile", "paper", "--out", str(tmp_path), "--only=graphs/gcn_cora/bp", "--set", "graphs:train.lr=-1"]
    assert rehearse.main(args) == 1
    record = json.loads((tmp_path / "jobs" / "graphs" / "gcn_cora" / "bp.json").read_text())
    assert not record["ok"] and "train.lr" in record["reason"]
    assert "did not pass" in (tmp_path / "REHEARSAL.md").read_text()


@pytest.mark.slow
def test_a_record_is_reused_only_for_the_same_command(tmp_path: Path) -> None:
    """A record made with another ``--set`` is not what this invocation asks for: it is rehearsed again."""
    args = ["--profile", "paper", "--out", str(tmp_path), "--only=graphs/gcn_cora/bp", "--threads", "1"]
    saved = tmp_path / "jobs" / "graphs" / "gcn_cora" / "bp.json"
    assert rehearse.main([*args, "--set", "graphs:train.lr=-1"]) == 1 and not json.loads(saved.read_text())["ok"]
    assert rehearse.main(args) == 0 and json.loads(saved.read_text())["ok"]
    first = saved.read_text()
    assert rehearse.main(args) == 0 and saved.read_text() == first  # the same command: its record is reused


@pytest.mark.slow
def test_a_second_rehearsal_of_a_job_waits_for_the_first(tmp_path: Path) -> None:
    """Two rehearsals into one folder: the one that finds a job's lock held waits, rather than emptying the run
    folder of the other (which failed it "without a message"). The lock is held here, then given up."""
    job = "graphs/gcn_cora/bp"
    (tmp_path / "jobs" / "graphs" / "gcn_cora").mkdir(parents=True)
    args = ["--profile", "paper", "--out", str(tmp_path), f"--only={job}", "--no-prepare", "--threads", "1"]
    with rehearse.job_lock(tmp_path / "jobs" / f"{job}.lock", job):
        second = subprocess.Popen(
            [sys.executable, "-m", "common.rehearse", *args], cwd=ROOT, stderr=subprocess.PIPE, text=True
        )
        assert "another rehearsal is running it" in second.stderr.readline()
        assert second.poll() is None and not (tmp_path / "jobs" / f"{job}.json").exists()
    assert second.wait(timeout=300) == 0, second.stderr.read()
    assert json.loads((tmp_path / "jobs" / f"{job}.json").read_text())["ok"]


def test_random_images_have_the_shape_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "images.npz"
    assert rehearse.main(["--random-images", str(path), "64,32,32,3", "16", "10"]) == 0
    data = np.load(path)
    assert data["x"].shape == (64, 32, 32, 3) and data["x"].dtype == np.uint8
    assert data["x_test"].shape == (16, 32, 32, 3)
    assert set(np.unique(data["y"])) <= set(range(10)) and len(data["y_test"]) == 16


def test_publish_writes_the_page_and_replaces_only_the_readmes_table(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "# x\n\n<!-- rehearsal paper cpu begin -->\nold\n<!-- rehearsal paper cpu end -->\n\n## after\n"
    )
    text = "intro\n\n| domain | jobs |\n|---|---:|\n| nlp | 1 |\n\n| job | weights |\n|---|---:|\n| `nlp/a/bp` | 1 |\n"
    page = rehearse.publish(text, "paper", "cpu", root=tmp_path)
    assert page == tmp_path / "docs" / "rehearsal" / "paper-cpu.md" and "`nlp/a/bp`" in page.read_text()
    readme = (tmp_path / "README.md").read_text()
    assert "| nlp | 1 |" in readme and "old" not in readme and "`nlp/a/bp`" not in readme
    assert readme.startswith("# x\n") and readme.endswith("<!-- rehearsal paper cpu end -->\n\n## after\n")
    rehearse.publish(text, "paper", "cpu", root=tmp_path)  # a second time: the same README
    assert (tmp_path / "README.md").read_text() == readme


def test_publish_needs_the_readmes_markers(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# no markers\n")
    with pytest.raises(SystemExit, match="rehearsal paper cpu begin"):
        rehearse.publish("intro\n", "paper", "cpu", root=tmp_path)


def test_a_job_above_the_memory_its_domain_asks_for_is_reported() -> None:
    profile = {"nlp": {"resources": {"mem_mb": 4096}}, "vision": {"experiments": {}}}
    config = {"resources": {"runtime": 30, "mem_mb": 2000, "gpus": 0}, "profiles": {"p": profile}}
    mem_mb = rehearse.declared_memory(config, "p")
    assert mem_mb["nlp"] == 4096 and mem_mb["vision"] == 2000
    fits = rehearse.Record("nlp/a/bp", "nlp", 1, ok=True, weights=1, step_s=1.0, steps=1, peak_rss_gib=3.9)
    over = rehearse.Record("vision/b/dfa", "vision", 1, ok=True, weights=1, step_s=1.0, steps=1, peak_rss_gib=2.5)
    assert rehearse.memory_short([fits], mem_mb) == []
    (line,) = rehearse.memory_short([fits, over], mem_mb)
    assert "vision/b/dfa" in line and "1.95 GiB" in line
    text = rehearse.report([fits, over], "p", "CPU x", mem_mb)
    assert "| nlp | 1 | 1 |" in text and "| 3.90 | 4.0 |" in text and "Memory asked for is too small" in text
