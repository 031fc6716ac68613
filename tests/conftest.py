"""Shared test set-up: quiet progress bars, repository root on sys.path, a run-folder helper."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DFA_PROGRESS", "0")
os.environ.setdefault("DFA_TENSORBOARD", "0")  # tests that check the events turn it on


@pytest.fixture
def read_final():
    """Read a run folder's final.json."""

    def read(run_dir: Path) -> dict:
        return json.loads((Path(run_dir) / "final.json").read_text())

    return read


@pytest.fixture
def launch():
    """Run a training module from the repository root as a user would: ``launch("nlp.train", args, processes=2)``
    is ``torchrun --standalone --nproc_per_node 2 -m nlp.train args`` (one process: ``python -m nlp.train``).
    Returns the finished process; ``check`` fails the test, with its output, on a non-zero exit status."""

    def run(module: str, args: list, processes: int = 1, check: bool = True) -> subprocess.CompletedProcess:
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        command = [*(torchrun if processes > 1 else [sys.executable]), "-m", module, *map(str, args)]
        quiet = {"DFA_PROGRESS": "0", "DFA_TENSORBOARD": "0"}
        env = os.environ | quiet | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        if check and done.returncode != 0:
            pytest.fail(f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr[-4000:]}")
        return done

    return run
