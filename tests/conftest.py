"""Shared test set-up: quiet progress bars, repository root on sys.path, run-folder helpers and the kill -9 harness."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DFA_PROGRESS", "0")
os.environ.setdefault("DFA_TENSORBOARD", "0")  # tests that check the events turn it on


def peak_bytes(step: Callable[[], object]) -> int:
    """Peak of the CPU bytes allocated while ``step()`` runs (the profiler's memory events, summed in time order)."""
    import torch

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        live += event.nbytes()
        peak = max(peak, live)
    return peak


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


TIMING_KEYS = ("time_s", "its", "train/step_s", "train/tokens_per_s")
"""Metric keys that measure speed, not learning: the only ones a resumed run may write differently."""


def _learning_lines(path: Path) -> list[dict]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in line.items() if k not in TIMING_KEYS} for line in lines]


@pytest.fixture
def crash_resume(tmp_path: Path):
    """``crash_resume("vision.train", args)``: run the command once uninterrupted, then again into another
    folder killed with SIGKILL at ``kills`` random moments (seeded) and restarted until it finishes; the two
    runs must write byte-identical ``final.json`` files and the same metric lines (speeds aside)."""

    def check(module: str, args: list, kills: int = 2, seed: int = 0) -> None:
        env = os.environ | {"DFA_PROGRESS": "0", "DFA_TENSORBOARD": "0", "OMP_NUM_THREADS": "1"}

        def command(out: Path) -> list[str]:
            return [sys.executable, "-m", module, "--out", str(out), "--threads", "1", *map(str, args)]

        began = time.perf_counter()
        subprocess.run(command(tmp_path / "whole"), cwd=ROOT, env=env, check=True, capture_output=True)
        duration = time.perf_counter() - began
        rng = random.Random(seed)
        for _ in range(kills):
            process = subprocess.Popen(command(tmp_path / "killed"), cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.3, 0.95) * duration)  # past start-up, usually mid-training
            process.send_signal(signal.SIGKILL)
            process.wait()
        for _ in range(5):  # a kill may land after the end: then this finds the run finished
            if subprocess.run(command(tmp_path / "killed"), cwd=ROOT, env=env, capture_output=True).returncode == 0:
                break
        assert (tmp_path / "killed" / "final.json").read_bytes() == (tmp_path / "whole" / "final.json").read_bytes()
        assert _learning_lines(tmp_path / "killed" / "metrics.jsonl") == _learning_lines(
            tmp_path / "whole" / "metrics.jsonl"
        )

    return check
