"""Hostile-user audit: bad inputs and injected faults across the domains, each with the outcome it must have.

    python tests/audit/faults.py [--only vision,graphs] [--out /tmp/audit]

Every case runs the real command line in a subprocess and is classified by what a user would see:

* ``error``    — exit status 1, a message starting ``error:`` (or argparse's ``error:``), no traceback;
* ``diverged`` — exit status 0 and ``final.json`` marked ``diverged``, with no metrics;
* ``same``     — the run survives the fault and its ``final.json`` equals an undisturbed run's, byte for byte;
* ``refused``  — a second writer is turned away while the first finishes correctly.

A case whose outcome differs is a failure: ``traceback`` (a Python traceback reached the user) or
``silent`` (exit 0 with a result that is not what the case requires). The summary counts both; the goal is 0.
Not part of the test suite (it takes minutes); the suite tests each mechanism directly.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = os.environ | {"DFA_PROGRESS": "0", "DFA_TENSORBOARD": "0", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}

# One small, real run per domain (shipped data; recsys on its generated smoke set).
BASE = {
    "vision": ["vision/configs/mlp800x2_mnist.yaml", "data.train_limit=512", "data.test_limit=256", "train.epochs=3"],
    "graphs": ["graphs/configs/gcn_cora.yaml", "train.epochs=30", "train.checkpoint_every=3"],
    "nerf": ["nerf/configs/nerf4x128_lego100.yaml", "train.iters=30", "train.rays=64", "train.log_every=5",
             "train.checkpoint_every=5", "sampling.coarse=8", "sampling.fine=8", "eval.test_stride=25",
             "eval.render_views=1", "eval.turntable_frames=0"],
    "nlp": ["nlp/configs/transformer_wikitext2.yaml", "data.vocab_size=4096", "data.train_tokens=20000",
            "data.valid_tokens=4096", "data.seq_len=32", "model.n_layer=2", "model.n_head=2", "model.d_model=32",
            "model.d_ff=64", "train.batch_size=8", "train.max_steps=12", "train.eval_every=3", "train.warmup=10"],
    "recsys": ["recsys/configs/deepfm_synthetic.yaml", "data.dataset=synthetic_smoke", "data.train_limit=8192",
               "model.mlp_dims=[16,16]", "train.batch_size=1024", "train.epochs=2"],
}  # fmt: skip


LONGER = {
    "vision": ["train.epochs=40"],
    "graphs": ["train.epochs=3000"],
    "nerf": ["train.iters=400"],
    "nlp": ["train.max_steps=300"],
    "recsys": ["train.epochs=8", "data.train_limit=30000"],
}
"""Settings that make a run last long enough for a second command to meet it."""


@dataclass
class Case:
    domain: str
    name: str
    expect: str  # error | diverged | same | refused
    overrides: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    prepare: Callable[[Path], None] | None = None  # damages the run folder (or the files it reads) first
    command: list[str] | None = None  # a whole command instead of <domain>.train


def train_command(domain: str, out: Path, overrides: list[str], options: list[str]) -> list[str]:
    config, *base = BASE[domain]
    return [sys.executable, "-m", f"{domain}.train", "--config", config, "--out", str(out), "--threads", "1",
            *options, *base, *overrides]  # fmt: skip


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=1800)


def interrupt(domain: str, out: Path, after: int = 1) -> None:
    """Leave a run folder as an interrupted run would: a checkpoint and no final.json."""
    run(train_command(domain, out, [], ["--stop-after", str(after)]))


def damage(how: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def prepare(out: Path) -> None:
        path = out / "checkpoint.pt"
        path.write_bytes(how(path.read_bytes()))

    return prepare


def bad_inputs() -> list[Case]:
    cases = []
    shared = [("zero batch", "train.batch_size=0"), ("negative batch", "train.batch_size=-4"),
              ("zero epochs", "train.epochs=0"), ("negative epochs", "train.epochs=-1"),
              ("unknown key", "train.lrr=0.1"), ("wrong type", "train.lr=fast"), ("unknown kind", "feedback.kind=nope"),
              ("huge lr", "train.lr=1e38"), ("bad YAML value", "train.lr=[0.1")]  # fmt: skip
    for domain in BASE:
        for name, override in shared:
            if (domain == "nerf" and "epochs" in override) or (domain in ("nerf", "graphs") and "batch" in override):
                continue  # NeRF counts steps; graphs train full-batch
            if domain == "recsys" and "train.lr" in override:
                override = override.replace("train.lr", "search.lr")
            cases.append(Case(domain, name, "error", [override]))
        cases.append(Case(domain, "zero threads", "error", options=["--threads", "0"]))
        cases.append(Case(domain, "--out is a file", "error", prepare=lambda out: out.write_text("x")))
        cases.append(Case(domain, "missing config file", "error", command=[sys.executable, "-m", f"{domain}.train",
                          "--config", "nope.yaml", "--out", "/tmp/x"]))  # fmt: skip
    cases += [
        Case("vision", "hidden [0]", "error", ["model.hidden=[0]"]),
        Case("vision", "hidden []", "error", ["model.hidden=[]"]),
        Case("vision", "negative train_limit", "error", ["data.train_limit=-100"]),
        Case("vision", "missing data folder", "error", ["data.path=/nonexistent"]),
        Case("nlp", "zero max_steps is epochs", "same", ["train.max_steps=0", "train.epochs=1"]),
        Case("nlp", "negative max_steps", "error", ["train.max_steps=-5"]),
        Case("nlp", "zero vocabulary", "error", ["data.vocab_size=0"]),
        Case("nlp", "missing corpus", "error", ["data.root=/nonexistent"]),
        Case("nerf", "zero iters", "error", ["train.iters=0"]),
        Case("nerf", "zero rays", "error", ["train.rays=0"]),
        Case("nerf", "missing scene", "error", ["data.root=/nonexistent"]),
        Case("graphs", "unknown dataset", "error", ["data.name=Nope"]),
        Case("graphs", "dropout above 1", "error", ["model.dropout=1.5"]),
        Case("recsys", "empty lr grid", "error", ["search.lr=[]"]),
        Case("recsys", "missing cache", "error", ["data.cache=/nonexistent"]),
    ]
    return cases


def faults() -> list[Case]:
    cases = []
    for domain in BASE:
        cases += [
            Case(domain, "diverging lr", "diverged", ["train.lr=1e6" if domain != "recsys" else "search.lr=[1e6]"]),
            Case(domain, "truncated checkpoint", "same", prepare=damage(lambda b: b[: len(b) // 2])),
            Case(domain, "empty checkpoint", "same", prepare=damage(lambda b: b"")),
            Case(domain, "zeroed checkpoint", "same", prepare=damage(lambda b: bytes(len(b)))),
            Case(domain, "random checkpoint", "same", prepare=damage(lambda b: os.urandom(4096))),
            Case(domain, "deleted metrics.jsonl", "same", prepare=lambda out: (out / "metrics.jsonl").unlink()),
            Case(domain, "stale config (other lr)", "same", prepare=lambda out, d=domain: stale(d, out)),
            Case(domain, "second writer", "refused"),
            Case(domain, "kill -9 mid-run", "same", prepare=lambda out, d=domain: kill_mid_run(d, out)),
        ]
    return cases


def stale(domain: str, out: Path) -> None:
    """An interrupted run of another learning rate in the folder."""
    other = "train.lr=0.5" if domain != "recsys" else "search.lr=[0.5]"
    run(train_command(domain, out, [other], ["--stop-after", "1"]))


def kill_mid_run(domain: str, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    process = subprocess.Popen(train_command(domain, out, [], []), cwd=ROOT, env=ENV, stderr=subprocess.DEVNULL)
    while not (out / "checkpoint.pt").exists() and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def classify(case: Case, work: Path, references: dict[str, bytes]) -> str:
    out = work / f"{case.domain}-{case.name.replace(' ', '_').replace('/', '_')}"
    shutil.rmtree(out, ignore_errors=True)
    if case.expect == "same" and case.prepare is not None and "kill" not in case.name and "stale" not in case.name:
        interrupt(case.domain, out)
    if case.prepare is not None:
        case.prepare(out)
    command = case.command or train_command(case.domain, out, case.overrides, case.options)
    if case.expect == "refused":  # a longer run, so that the second command finds the first still at work
        command = train_command(case.domain, out, LONGER[case.domain], [])
        first = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not (out / ".lock").exists():
            time.sleep(0.05)
        second = run(command)
        first.wait()
        refused = second.returncode == 1 and "being written by another process" in second.stderr
        steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
        ok = refused and first.returncode == 0 and (out / "final.json").exists() and len(steps) == len(set(steps))
        return "ok" if ok else ("traceback" if "Traceback" in second.stderr else "silent")
    done = run(command)
    if "Traceback" in done.stderr:
        return "traceback"
    if case.expect == "error":
        return "ok" if done.returncode != 0 and "error:" in done.stderr else "silent"
    final = out / "final.json"
    if case.expect == "diverged":
        record = json.loads(final.read_text()) if final.exists() else {}
        return "ok" if done.returncode == 0 and record.get("diverged") and not record.get("metrics") else "silent"
    if case.name == "zero max_steps is epochs":
        return "ok" if done.returncode == 0 and final.exists() else "silent"
    return "ok" if done.returncode == 0 and final.read_bytes() == references[case.domain] else "silent"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BASE), help="comma-separated domains")
    parser.add_argument("--out", type=Path, default=Path("/tmp/dfa-audit"))
    args = parser.parse_args()
    domains = args.only.split(",")
    references = {}
    for domain in domains:
        ref = args.out / f"{domain}-reference"
        shutil.rmtree(ref, ignore_errors=True)
        done = run(train_command(domain, ref, [], []))
        if done.returncode != 0:
            raise SystemExit(f"the undisturbed {domain} run failed:\n{done.stderr[-3000:]}")
        references[domain] = (ref / "final.json").read_bytes()
    counts: dict[str, dict[str, int]] = {}
    for group, cases in (("bad inputs", bad_inputs()), ("faults", faults())):
        for case in (c for c in cases if c.domain in domains):
            outcome = classify(case, args.out, references)
            counts.setdefault(group, {}).setdefault(outcome, 0)
            counts[group][outcome] += 1
            print(f"{group:10s} {case.domain:7s} {case.name:28s} expect {case.expect:8s} -> {outcome}", flush=True)
    print()
    for group, outcome in counts.items():
        total = sum(outcome.values())
        print(f"{group}: {total} cases, {outcome.get('ok', 0)} as required, "
              f"{outcome.get('traceback', 0)} tracebacks, {outcome.get('silent', 0)} silent wrong results")  # fmt: skip


if __name__ == "__main__":
    main()
