"""The smoke profile through a real SLURM (``--profile profiles/slurm``) gives every ``final.json`` byte for byte
as a local run (``--profile profiles/local``) does; a run longer than its job's runtime leaves with a
checkpoint, is resubmitted (``retries``) and resumes, to the same ``final.json`` as an uninterrupted run.

Opt-in, it takes minutes: ``make test-cluster`` starts a single-node SLURM on this machine
(tests/cluster/start_slurm.sh, as root) and runs this file with DFA_TEST_CLUSTER=1. Anywhere else, CI
included, the test is skipped and pytest's summary says why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from common.paths import ROOT

ENV = os.environ | {"DFA_PROGRESS": "0"}
HOW = "run `make test-cluster` (it starts a single-node SLURM with tests/cluster/start_slurm.sh, as root)"


def why_not_slurm() -> str | None:
    """Why the cluster test cannot run here (None: it can)."""
    if os.environ.get("DFA_TEST_CLUSTER") != "1":
        return f"opt-in cluster test: {HOW}"
    if shutil.which("sbatch") is None:
        return f"SLURM is not installed (apt-get install -y slurm-wlm munge); then {HOW}"
    state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if state.returncode != 0 or not re.search(r"idle|mixed|allocated", state.stdout):
        return f"SLURM is not running (sinfo: {(state.stdout + state.stderr).strip()[:200]}); {HOW}"
    return None


def snakemake(workdir: Path, smk_profile: str, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """The smoke profile in ``workdir`` with one of the repository's Snakemake profiles; and its wall time."""
    command = [
        *(sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")),
        *("--directory", str(workdir), "--profile", str(ROOT / "profiles" / smk_profile), *args),
        *("--config", "profile=smoke"),
    ]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=3600)
    return done, time.perf_counter() - began


def finals(workdir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(workdir)): p.read_bytes() for p in sorted(workdir.glob("results/**/final.json"))}


NOT_HERE = why_not_slurm()
# A NeRF run of about four minutes on one core, in jobs of three minutes: each may train one minute.
LONG_NERF = {"resources": {"runtime": 3}, "overrides": [
    "train.iters=1500", "train.rays=128", "train.log_every=10", "train.checkpoint_every=1000", "sampling.coarse=8",
    "sampling.fine=8", "eval.every=1500", "eval.test_stride=3", "eval.render_views=2", "eval.turntable_frames=4",
    "eval.turntable_downscale=2", "feedback.align_every=100"]}  # fmt: skip


@pytest.mark.skipif(NOT_HERE is not None, reason=NOT_HERE or "")
def test_smoke_profile_on_slurm_matches_local(tmp_path: Path) -> None:
    cluster, cluster_s = snakemake(tmp_path / "slurm", "slurm")
    assert cluster.returncode == 0, cluster.stdout[-5000:] + cluster.stderr[-5000:]
    log = cluster.stdout + cluster.stderr
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    local, local_s = snakemake(tmp_path / "local", "local")
    assert local.returncode == 0, local.stdout[-5000:] + local.stderr[-5000:]

    on_slurm, here = finals(tmp_path / "slurm"), finals(tmp_path / "local")
    assert here and set(on_slurm) == set(here)
    differ = [path for path in here if on_slurm[path] != here[path]]
    assert not differ, f"final.json differs between SLURM and local runs: {differ}"
    assert submitted, "no job went through SLURM"
    print(
        f"\nSLURM: {len(submitted)} jobs submitted (sbatch job ids {submitted[0]}..{submitted[-1]}), "
        f"{cluster_s:.0f} s wall; local: {local_s:.0f} s wall; {len(here)} final.json files, all byte-identical"
    )


@pytest.mark.skipif(NOT_HERE is not None, reason=NOT_HERE or "")
def test_time_limited_run_resumes_through_resubmission(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({"profiles": {"smoke": {"nerf": LONG_NERF}}}))
    target = "results/nerf/nerf4x128_lego100/bp/seed0/final.json"
    done, seconds = snakemake(tmp_path / "slurm", "slurm", target, "--configfile", str(extra), "--retries", "10")
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    restarts = (done.stdout + done.stderr).count("Trying to restart job")
    logs = (tmp_path / "slurm" / ".snakemake" / "slurm_logs").rglob("*.log")  # failed jobs' logs are kept
    text = "".join(log.read_text() for log in logs)
    left = sorted(int(step) for step in re.findall(r"left at step (\d+) before the time limit", text))
    assert restarts >= 1 and len(left) == restarts, (restarts, left)

    reference = tmp_path / "reference" / "seed0"  # the same run in one go, without a time limit
    config = ROOT / "nerf" / "configs" / "nerf4x128_lego100.yaml"
    command = [sys.executable, "-m", "nerf.train", "--config", str(config), "--out", str(reference)]
    command += ["--profile", "smoke", "--threads", "1", "seed=0", "feedback.kind=bp"]
    ran = subprocess.run([*command, *LONG_NERF["overrides"]], capture_output=True, text=True, env=ENV, cwd=ROOT)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert (tmp_path / "slurm" / target).read_bytes() == (reference / "final.json").read_bytes()
    print(f"\nSLURM: left at steps {left}, {restarts} resubmissions, {seconds:.0f} s wall; final.json byte-identical")
