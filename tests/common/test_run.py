"""A run folder never yields a silent wrong result: stale or corrupt checkpoints are set aside, divergence
ends a run as diverged, a second writer is refused, checkpoints never run code, lost metrics come back, and
a time-limited run completes through repeated invocations with the result of an uninterrupted one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import common.run
from common.claims import DIVERGED, Results, judge_table
from common.paths import ROOT
from common.run import EXIT_RESUBMIT, Diverged, RunLockedError
from common.rundir import FolderLock, code_fingerprint, mismatch, set_aside
from vision.train import main

CONFIG = str(ROOT / "vision" / "configs" / "mlp800x2_mnist.yaml")
TINY = ["data.train_limit=256", "data.test_limit=128", "model.hidden=[32]", "train.batch_size=64", "train.epochs=3"]


def _train(out: Path, *extra: str) -> dict:
    return main(["--config", CONFIG, "--out", str(out), "--threads", "1", *TINY, *extra])


def _files(out: Path) -> tuple[bytes, list[dict]]:
    """final.json, and the metric lines without their wall times."""
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return (out / "final.json").read_bytes(), [{k: v for k, v in r.items() if k != "time_s"} for r in lines]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[dict]]:
    """An uninterrupted run of the tiny setting."""
    out = tmp_path_factory.mktemp("reference") / "run"
    _train(out)
    return _files(out)


def _superseded(out: Path) -> list[str]:
    return sorted(p.name.split("-", 1)[1] for p in (out / "superseded").iterdir())


def test_changed_setting_does_not_resume_the_old_checkpoint(tmp_path: Path, reference) -> None:
    out = tmp_path / "run"
    _train(out, "train.epochs=4")  # a finished 4-epoch run in the folder
    _train(out)  # the same folder asked for 3 epochs
    assert _files(out) == reference
    assert _superseded(out) == ["stale"]
    kept = next((out / "superseded").iterdir())
    assert json.loads((kept / "final.json").read_text())["budget"]["epochs"] == 4  # nothing lost


def test_changed_learning_rate_after_an_interruption_starts_afresh(tmp_path: Path, reference) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match="stopped after 1 epoch"):
        _train(out, "train.lr=0.5", "--stop-after", "1")
    _train(out)
    assert _files(out) == reference


def test_changed_code_does_not_resume(tmp_path: Path, reference, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit):
        _train(out, "--stop-after", "1")
    real = common.run.fingerprint
    monkeypatch.setattr(common.run, "fingerprint", lambda *a: real(*a) | {"code": "edited"})
    _train(out)
    assert _files(out) == reference
    assert _superseded(out) == ["stale"]


def test_code_fingerprint_follows_the_code_but_not_the_report(tmp_path: Path) -> None:
    for package in ("common", "hardware", "vision"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "a.py").write_text("x = 1\n")
    (tmp_path / "vision" / "report.py").write_text("y = 1\n")
    before = code_fingerprint("vision", tmp_path)
    (tmp_path / "vision" / "report.py").write_text("y = 2\n")
    code_fingerprint.cache_clear()
    assert code_fingerprint("vision", tmp_path) == before
    (tmp_path / "vision" / "a.py").write_text("x = 2\n")
    code_fingerprint.cache_clear()
    assert code_fingerprint("vision", tmp_path) != before
    assert mismatch({"config": "c", "code": before}, {"config": "c", "code": "other"}) == "the code changed"


def test_interrupted_run_resumes_identically(tmp_path: Path, reference) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit):
        _train(out, "--stop-after", "2")
    _train(out)
    assert _files(out) == reference
    assert not (out / "superseded").exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],  # truncated
        lambda b: b"",  # empty
        lambda b: bytes(len(b)),  # zeroed
        lambda b: os.urandom(4096),  # random bytes
    ],
    ids=["truncated", "empty", "zeroed", "random"],
)
def test_corrupt_checkpoint_is_set_aside_and_the_run_restarts(tmp_path: Path, reference, damage, capsys) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit):
        _train(out, "--stop-after", "1")
    path = out / "checkpoint.pt"
    path.write_bytes(damage(path.read_bytes()))
    _train(out)
    assert _files(out) == reference
    assert _superseded(out) == ["unreadable"]
    assert f"not resuming {path}" in capsys.readouterr().err


def test_another_domains_checkpoint_is_not_resumed(tmp_path: Path, reference) -> None:
    out = tmp_path / "run"
    out.mkdir()
    torch.save(
        {"unit": 1, "objects": {"search": {}}, "rng": {}, "metrics": [], "fingerprint": {}}, out / "checkpoint.pt"
    )
    _train(out)
    assert _files(out) == reference


def test_checkpoint_that_would_run_code_is_never_loaded(tmp_path: Path, reference) -> None:
    out, marker = tmp_path / "run", tmp_path / "pwned"
    out.mkdir()

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"unit": 1, "objects": {}, "rng": Payload(), "metrics": []}, out / "checkpoint.pt")
    _train(out)
    assert not marker.exists()
    assert _files(out) == reference


def test_deleted_metrics_come_back_from_the_checkpoint(tmp_path: Path, reference) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit):
        _train(out, "--stop-after", "2")
    (out / "metrics.jsonl").unlink()
    _train(out)
    assert _files(out) == reference


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from common.rundir import FolderLock; "
         "FolderLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); time.sleep(60)", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            _train(out)
    finally:
        holder.kill()
        holder.wait()
    _train(out)  # the kernel dropped the dead holder's lock: no stale lock


def test_the_lock_is_held_per_process(tmp_path: Path) -> None:
    lock = FolderLock(tmp_path)
    lock.acquire()
    FolderLock(tmp_path).acquire()  # the same process may reopen its own folder (several seeds, tests)
    lock.release()


def test_divergence_ends_the_run_as_diverged(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(Diverged, match="train/loss"):
        _train(out, "train.lr=1e6")
    final = json.loads((out / "final.json").read_text())
    assert final["metrics"] == {} and final["diverged"]["metric"] == "train/loss"
    assert not (out / "checkpoint.pt").exists()  # the diverged state is never checkpointed
    table = {"id": "t", "metric": "test/err", "cells": [{"row": "a", "column": "b", "experiment": final["experiment"],
                                                          "method": "bp", "paper": 2.0, "tolerance": 100}]}  # fmt: skip
    (cell,) = judge_table(table, Results([final], "vision"), reduced=True, missing_why=lambda *a: "")
    assert cell.verdict == DIVERGED and cell.delta is None and "diverged" in cell.ours.fmt(2)


def test_time_limit_completes_through_repeated_invocations(tmp_path: Path, reference) -> None:
    out, invocations = tmp_path / "run", 0
    original = common.run.Run._out_of_time
    common.run.Run._out_of_time = lambda self, used: True  # as if every unit reached the limit
    try:
        while True:
            invocations += 1
            try:
                _train(out, "--time-limit", "0.001")
                break
            except SystemExit as stop:
                assert stop.code == EXIT_RESUBMIT
    finally:
        common.run.Run._out_of_time = original
    assert invocations == 3  # one epoch per invocation: each makes progress
    assert _files(out) == reference


def test_time_limit_leaves_before_the_limit_with_a_real_clock(tmp_path: Path) -> None:
    """A budget shorter than the run: the command leaves with status 75, resumable (checked in a subprocess)."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "vision.train", "--config", CONFIG, "--out", str(out), "--threads", "1",
               *TINY, "train.epochs=1000000", "--time-limit", "0.1"]  # fmt: skip
    began = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=os.environ | {"DFA_PROGRESS": "0"})
    assert result.returncode == EXIT_RESUBMIT, result.stderr
    assert "before the time limit" in result.stderr
    assert time.perf_counter() - began < 60
    assert (out / "checkpoint.pt").exists() and not (out / "final.json").exists()


def test_set_aside_moves_everything_but_the_lock(tmp_path: Path) -> None:
    (tmp_path / "final.json").write_text("{}")
    (tmp_path / ".lock").write_text("1")
    moved = set_aside(tmp_path, "stale")
    assert (moved / "final.json").exists() and (tmp_path / ".lock").exists()
    assert set_aside(tmp_path, "stale") is None  # nothing left to move


def test_tensorboard_events_are_written_beside_the_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFA_TENSORBOARD", "1")
    out = tmp_path / "run"
    _train(out)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("test/err")] == [1, 2, 3]
