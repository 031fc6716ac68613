"""The smoke profile through a real SLURM (``--profile profiles/slurm``) gives every ``final.json`` byte for byte
as a local run (``--profile profiles/local``) does.

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

from common.paths import ROOT

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


def snakemake(workdir: Path, smk_profile: str) -> tuple[subprocess.CompletedProcess, float]:
    """The smoke profile in ``workdir`` with one of the repository's Snakemake profiles; and its wall time."""
    command = [
        *(sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")),
        *("--directory", str(workdir), "--profile", str(ROOT / "profiles" / smk_profile)),
        *("--config", "profile=smoke"),
    ]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ | {"DFA_PROGRESS": "0"}, timeout=3600)
    return done, time.perf_counter() - began


def finals(workdir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(workdir)): p.read_bytes() for p in sorted(workdir.glob("results/**/final.json"))}


@pytest.mark.skipif(why_not_slurm() is not None, reason=why_not_slurm() or "")
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
