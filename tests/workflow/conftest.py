"""Running the repository's Snakemake workflow from a test: in a temporary working directory, never in results/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from common.paths import ROOT


def snakemake(workdir: Path, *args: str, timeout: float = 3000) -> subprocess.CompletedProcess:
    """``snakemake --cores 2 ARGS`` on the repository's Snakefile, writing into ``workdir``. The timeout only
    guards against a hang: the smoke profile takes minutes on a quiet machine, far longer on a loaded one."""
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir)]
    env = os.environ | {"DFA_PROGRESS": "0"}
    return subprocess.run([*command, "--cores", "2", *args], capture_output=True, text=True, env=env, timeout=timeout)
