"""A lock left by a killed Snakemake is cleared; a live Snakemake's lock never is (workflow/scripts/unlock_stale.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.paths import ROOT

SCRIPT = ROOT / "workflow" / "scripts" / "unlock_stale.py"
SLOW_RULE = 'rule slow:\n    output: "done.txt"\n    shell: "sleep 120 && touch {output}"\n'


def unlock(workdir: Path, snakefile: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), "--directory", str(workdir), "--snakefile", str(snakefile)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def snakemake(workdir: Path, snakefile: Path) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(workdir), "--cores", "1"]


def wait_for(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_stale_lock_cleared_only_when_its_snakemake_is_gone(tmp_path: Path) -> None:
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(SLOW_RULE)
    workdir = tmp_path / "work"
    locks = workdir / ".snakemake" / "locks"
    # A live run, started from another folder: it works in `workdir` through its --directory argument.
    live = subprocess.Popen(snakemake(workdir, snakefile), cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for(lambda: locks.is_dir() and any(locks.iterdir()), "Snakemake to lock its directory")
        held = unlock(workdir, snakefile)
        assert held.returncode == 1, held.stderr
        assert f"pid {live.pid}" in held.stderr and f"kill {live.pid}" in held.stderr
        assert "--unlock" in held.stderr and any(locks.iterdir())  # the exact command, and the lock kept
    finally:
        os.killpg(live.pid, signal.SIGKILL)  # a killed run: no chance to remove its lock (its `sleep` too)
        live.wait()
    assert any(locks.iterdir())
    refused = subprocess.run(snakemake(workdir, snakefile), capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "cannot be locked" in refused.stdout + refused.stderr

    cleared = unlock(workdir, snakefile)
    assert cleared.returncode == 0, cleared.stderr
    assert "no Snakemake is running here" in cleared.stderr
    assert not locks.exists() or not any(locks.iterdir())
    assert unlock(workdir, snakefile).returncode == 0  # nothing locked: nothing to do


def test_where_a_snakemake_works(tmp_path: Path) -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from unlock_stale import is_snakemake, workdir_of
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert is_snakemake([".venv/bin/python", "-m", "snakemake", "--cores", "2"])
    assert is_snakemake(["/usr/bin/python3", "/repo/.venv/bin/snakemake", "-n"])
    assert not is_snakemake(["python", "-m", "vision.train", "--out", "snakemake"])
    assert workdir_of(["snakemake", "-d", "runs"], tmp_path) == tmp_path / "runs"
    assert workdir_of(["snakemake", f"--directory={tmp_path}/x"], Path("/")) == tmp_path / "x"
    assert workdir_of(["snakemake", "--cores", "2"], tmp_path) == tmp_path
    assert workdir_of(["snakemake", "--cores", "2"], None) is None  # unreadable: counts as working here
