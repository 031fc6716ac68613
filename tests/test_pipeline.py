"""The Snakemake pipeline: every profile's DAG resolves, and the smoke profile runs end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from common.paths import ROOT
from tests.workflow.conftest import snakemake

CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def dry_run_jobs(stdout: str) -> list[dict[str, str]]:
    """The jobs of ``snakemake --dry-run --printshellcmds`` output: rule, resources (key=value) and command."""
    jobs = []
    for block in re.split(r"\n(?=\[[A-Z][a-z]{2} [A-Z][a-z]{2} )", stdout):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if rule:
            resources = re.search(r"^\s+resources: (.*)$", block, re.M)
            command = re.search(r"^Shell command: (.*)$", block, re.M)
            job = dict(item.split("=", 1) for item in resources.group(1).split(", ")) if resources else {}
            jobs.append(job | {"rule": rule.group(1), "command": command.group(1) if command else ""})
    return jobs


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_dag_resolves(tmp_path: Path, profile: str) -> None:
    done = snakemake(tmp_path, "--dry-run", "--printshellcmds", "--config", f"profile={profile}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    graphs = CONFIG["profiles"][profile]["graphs"]
    assert graphs["batch_seeds"]  # one job per experiment × method, running every seed
    jobs = sum(len(spec["methods"]) for spec in graphs["experiments"].values())
    assert re.search(rf"^train_graphs\s+{jobs}$", done.stdout, re.M), done.stdout[-3000:]
    # Every job that runs a command declares what a cluster scheduler needs, from config.yaml's resources.
    commands = [job for job in dry_run_jobs(done.stdout) if job["command"] not in ("", "None")]
    assert len(commands) > jobs
    for job in commands:
        assert {"runtime", "mem_mb", "cpus_per_task", "gpu"} <= set(job), job
        domain = re.search(r"-m (\w+)\.train ", job["command"])
        if domain and domain.group(1) in CONFIG["profiles"][profile]:
            section = CONFIG["profiles"][profile][domain.group(1)]
            wanted = CONFIG["resources"] | section.get("resources", {})
            assert int(job["runtime"]) == wanted["runtime"] and int(job["mem_mb"]) == wanted["mem_mb"], job
            assert int(job["gpu"]) == wanted["gpus"] and int(job["cpus_per_task"]) == section.get("threads", 1)
            assert job["command"].startswith(f"python -m {domain.group(1)}.train "), job


def test_unknown_profile_is_named(tmp_path: Path) -> None:
    done = snakemake(tmp_path, "--dry-run", "--config", "profile=huge")
    assert done.returncode != 0 and "unknown profile 'huge'" in done.stdout + done.stderr


@pytest.mark.slow
def test_smoke_pipeline_end_to_end(tmp_path: Path) -> None:
    done = snakemake(tmp_path, "--profile", str(ROOT / "profiles" / "local"), "--config", "profile=smoke")
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    report = (tmp_path / "results" / "REPORT.md").read_text()
    for domain, section in CONFIG["profiles"]["smoke"].items():
        assert f"## {domain}" in report
        for exp, spec in section["experiments"].items():
            for method in spec["methods"]:
                for seed in spec.get("seeds", section.get("seeds", [0])):
                    assert (tmp_path / "results" / domain / exp / method / f"seed{seed}" / "final.json").exists()
    assert "not run: no result yet" not in report
    page = (tmp_path / "results" / "REPORT.html").read_text()
    assert "<table>" in page and 'src="data:image/png;base64,' in page  # one page, figures inlined
    # Snakemake's own report: one file holding the page and every figure the rules mark with report()
    made = snakemake(tmp_path, "--report", str(tmp_path / "report.html"), "--config", "profile=smoke")
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    figures = sorted(p.name for p in (tmp_path / "results" / "figures").iterdir() if not p.name.startswith("."))
    assert figures and len(re.findall(r"^Adding ", made.stdout + made.stderr, re.M)) == len(figures) + 2
