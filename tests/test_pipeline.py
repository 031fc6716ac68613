"""The Snakemake pipeline: every profile's DAG resolves, and the smoke profile runs end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.paths import ROOT

CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *args,
    ]
    env = os.environ | {"DFA_PROGRESS": "0"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)


@pytest.mark.parametrize("profile", ["smoke", "default"])
def test_dag_resolves(tmp_path: Path, profile: str) -> None:
    done = snakemake(tmp_path, "--dry-run", "--config", f"profile={profile}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    graphs = CONFIG["profiles"][profile]["graphs"]
    assert graphs["batch_seeds"]  # one job per experiment × method, running every seed
    jobs = sum(len(spec["methods"]) for spec in graphs["experiments"].values())
    assert re.search(rf"^train_graphs\s+{jobs}$", done.stdout, re.M), done.stdout[-3000:]


def test_unknown_profile_is_named(tmp_path: Path) -> None:
    done = snakemake(tmp_path, "--dry-run", "--config", "profile=huge")
    assert done.returncode != 0 and "unknown profile 'huge'" in done.stdout + done.stderr


@pytest.mark.slow
def test_smoke_pipeline_end_to_end(tmp_path: Path) -> None:
    done = snakemake(tmp_path, "--config", "profile=smoke")
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    report = (tmp_path / "results" / "REPORT.md").read_text()
    for domain, section in CONFIG["profiles"]["smoke"].items():
        assert f"## {domain}" in report
        for exp, spec in section["experiments"].items():
            for method in spec["methods"]:
                for seed in spec.get("seeds", section.get("seeds", [0])):
                    assert (tmp_path / "results" / domain / exp / method / f"seed{seed}" / "final.json").exists()
    assert "not run: no result yet" not in report
