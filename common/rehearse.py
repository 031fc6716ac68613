"""Dress rehearsal of a profile: every distinct job (experiment × method) at its real size for a few steps and
one evaluation, timed on this machine, with the cost of its whole budget estimated.

    python -m common.rehearse --profile paper                  # every job → results/rehearsal/paper/REHEARSAL.md
    python -m common.rehearse --profile paper --only 'nlp/*'   # some jobs (a glob on domain/experiment/method)
    python -m common.rehearse --profile paper --publish        # and keep it: docs/rehearsal/, README.md's table
    python -m common.rehearse --profile default                # what the default profile's training steps cost here

A job runs as the pipeline runs it, ``python -m <domain>.train --config <domain>/configs/<experiment>.yaml
feedback.kind=<method> <the profile's overrides>``, one seed, with ``--stop-after N`` and the overrides of
``rehearse.<profile>.<domain>`` in config/config.yaml. Those change how often a job logs and evaluates, and on
how much data, never its model or batch: its ``config.yaml`` keeps the budget, and its metric lines time the
steps. Per domain (see config/config.yaml)::

    units:     N, the units (epochs or steps, as the domain counts them) each job trains: --stop-after N
    overrides: the rehearsal's own overrides (logging, slices of data to train and evaluate on)
    time:      seconds per step, an expression (below), or {cpu: ..., gpu: ...}: one for each kind of machine
    steps:     the job's whole budget in those steps, an expression, e.g. ``train.iters``
    networks:  the checkpoint objects that hold the networks (weights are counted there; default [model])
    facts:     named numbers for the expressions, each a number or {experiment glob: number} (the first glob
               that matches the job's experiment gives its value): the size of a dataset, for instance
    stand_ins: data a user provides and what runs while it is absent, each {missing: path, experiments: glob,
               overrides: [...], scale: factor on steps (the real data's size over the stand-in's), note,
               prepare: {creates: path, run: [commands]}}; the table says which jobs ran on a stand-in

An expression holds numbers, ``+ - * / //``, ``len ceil round min max``, facts, dotted keys of the run's
resolved config (``train.epochs``, ``search.lr``), ``log("key")`` (a value of the run's last metric line),
``wall(k)`` (the run's own ``time_s`` at its k-th metric line) and ``cpu(k)``: the CPU seconds its process had
used when that line appeared (all threads; read from /proc as the lines come). On a CPU machine shared with
other work, CPU seconds are what a step costs (core-seconds), while wall seconds grow with the load. On a GPU,
a step costs its wall time, which the runs log themselves.

Each job is reported: its weights (parameters and persistent buffers of its networks, less the fixed feedback
matrices B and R and BatchNorm statistics), the seconds of a step, the peak resident memory of its process
(``wait4``'s ru_maxrss), and steps × seconds, per seed and over the profile's seeds. A job that fails (an
error, memory, a time-out) is reported with its reason and the rehearsal exits with status 1; so does one whose
peak memory passes the ``mem_mb`` its domain asks the scheduler for (config.yaml's ``resources``). The sums per
domain are the hours the profile would take on this machine (``REHEARSAL.md``, also printed). Records are kept
per job in ``<out>/jobs/``: a second invocation reuses those that ran the command it would run (the same
overrides, ``--set`` and threads), and redoes the others (``--fresh`` redoes every job).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import fcntl
import fnmatch
import json
import math
import operator
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from common.config import ConfigError
from common.machine import cpu_name
from common.paths import DOMAINS, ROOT
from common.resources import job_resources
from common.run import CHECKPOINT, METRICS, atomic_write_text, read_jsonl

CONFIG = ROOT / "config" / "config.yaml"
FIXED_BUFFERS = ("B", "R", "running_mean", "running_var", "num_batches_tracked")
"""State-dict entries that are not trained weights: DFA's projection B, FA's feedback R, BatchNorm statistics."""
GIB = 2**30
POLL_S = 0.05
"""How often the rehearsal looks for a job's new metric lines (and samples its CPU time)."""


# -- the plan -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StandIn:
    """Data that replaces a user-provided dataset while it is absent."""

    missing: str
    """The user's file (from the repository root); the stand-in applies while it does not exist."""
    experiments: str
    """Glob on the experiment ids it concerns."""
    overrides: tuple[str, ...]
    note: str
    scale: float = 1.0
    """The real data's size over the stand-in's: a budget counted in the stand-in's epochs is this much longer."""
    prepare: dict[str, Any] | None = None
    """{creates: path, run: [commands]}: how to make the stand-in, run once if ``creates`` does not exist."""


@dataclass(frozen=True)
class Rehearsal:
    """How one domain's jobs are rehearsed (``rehearse.<profile>.<domain>`` in config/config.yaml)."""

    units: int
    time: dict[str, str]
    """Seconds per step on a ``cpu`` machine and on a ``gpu`` one."""
    steps: str
    overrides: tuple[str, ...] = ()
    networks: tuple[str, ...] = ("model",)
    stand_ins: tuple[StandIn, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)

    def facts_of(self, experiment: str) -> dict[str, float]:
        """The facts' values for one experiment (a {glob: value} fact takes the first glob that matches)."""
        values = {}
        for name, fact in self.facts.items():
            if isinstance(fact, dict):
                matches = [v for glob, v in fact.items() if fnmatch.fnmatch(experiment, glob)]
                if not matches:
                    raise ConfigError(f"fact '{name}' has no value for experiment {experiment} (globs {list(fact)})")
                fact = matches[0]
            values[name] = float(fact)
        return values

    @classmethod
    def parse(cls, data: dict[str, Any], where: str) -> Rehearsal:
        known = {"units", "time", "steps", "overrides", "networks", "stand_ins", "facts"}
        if unknown := set(data) - known:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
        if missing := {"units", "time", "steps"} - set(data):
            raise ConfigError(f"{where}: {sorted(missing)} must be set")
        stand_ins = []
        for k, entry in enumerate(data.get("stand_ins") or []):
            try:
                stand_ins.append(StandIn(**{**entry, "overrides": tuple(entry.get("overrides", ()))}))
            except TypeError as err:
                raise ConfigError(f"{where}.stand_ins[{k}]: {err}") from None
        time = data["time"] if isinstance(data["time"], dict) else {"cpu": data["time"], "gpu": data["time"]}
        if set(time) != {"cpu", "gpu"}:
            raise ConfigError(f"{where}.time: one expression, or {{cpu: ..., gpu: ...}}, got {data['time']!r}")
        return cls(
            int(data["units"]),
            {k: str(v) for k, v in time.items()},
            str(data["steps"]),
            tuple(data.get("overrides") or ()),
            tuple(data.get("networks") or ("model",)),
            tuple(stand_ins),
            dict(data.get("facts") or {}),
        )


@dataclass(frozen=True)
class Job:
    """One distinct job of a profile: an experiment × method, rehearsed on one seed."""

    domain: str
    experiment: str
    method: str
    seeds: int
    """Runs the profile makes of it (its seeds): the cost of the job times this."""
    overrides: tuple[str, ...]
    """The profile's overrides of this run, as the workflow applies them."""
    rehearsal: Rehearsal
    stand_in: StandIn | None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.experiment}/{self.method}"


def plan(config: dict[str, Any], profile: str) -> list[Job]:
    """Every distinct job of ``profile``, read as workflow/rules/common.smk reads the matrix (profile-wide, then
    experiment, then method overrides), with the stand-in of any user data that is absent."""
    if profile not in config.get("profiles", {}):
        known = sorted(config.get("profiles", {}))
        raise ConfigError(f"config/config.yaml has no profile '{profile}' (it has {known})")
    settings = (config.get("rehearse") or {}).get(profile)
    if not settings:
        raise ConfigError(f"config/config.yaml has no `rehearse.{profile}` section: say how its domains are rehearsed")
    jobs = []
    for domain in DOMAINS:
        section = config["profiles"][profile].get(domain) or {}
        experiments = section.get("experiments") or {}
        if not experiments:
            continue
        if domain not in settings:
            raise ConfigError(
                f"config/config.yaml: `rehearse.{profile}` has no entry for {domain}, which the profile runs"
            )
        rehearsal = Rehearsal.parse(settings[domain], f"rehearse.{profile}.{domain}")
        for experiment, spec in experiments.items():
            spec = spec or {}
            seeds = len(spec.get("seeds", section.get("seeds", [0])))
            stand_in = next(
                (
                    s
                    for s in rehearsal.stand_ins
                    if fnmatch.fnmatch(experiment, s.experiments) and not (ROOT / s.missing).exists()
                ),
                None,
            )
            for method in spec["methods"]:
                by_method = (spec.get("method_overrides") or {}).get(method, [])
                overrides = (*section.get("overrides", []), *spec.get("overrides", []), *by_method)
                jobs.append(Job(domain, experiment, method, seeds, tuple(overrides), rehearsal, stand_in))
    return jobs


# -- expressions of the rehearse section ----------------------------------------------------------------------
_FUNCTIONS: dict[str, Callable[..., Any]] = {"len": len, "ceil": math.ceil, "round": round, "min": min, "max": max}
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_OPERATORS[ast.FloorDiv] = operator.floordiv


def evaluate(
    text: str,
    config: dict[str, Any],
    lines: list[dict[str, Any]],
    cpu: list[float] | None = None,
    facts: dict[str, float] | None = None,
) -> float:
    """The value of an expression of the rehearse section (module docstring) for one run: ``config`` is its
    resolved config, ``lines`` its metric lines, ``cpu`` the CPU seconds of its process when each line appeared,
    ``facts`` the domain's facts for its experiment. Anything else in the expression is an error naming it."""
    facts = facts or {}

    def at(series: list[float], k: Any, what: str) -> float:
        if not isinstance(k, int) or not 1 <= k <= len(series):
            raise ValueError(f"'{text}': {what}({k}) asks for metric line {k}; the run logged {len(series)}")
        return series[k - 1]

    def dotted(node: ast.expr) -> str:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            return f"{dotted(node.value)}.{node.attr}"
        raise ValueError(f"'{ast.unparse(node)}' in '{text}' is not a config key")

    def value(node: ast.expr) -> Any:
        match node:
            case ast.Constant(value=int() | float() | str() as constant):
                return constant
            case ast.BinOp(left, op, right) if type(op) in _OPERATORS:
                return _OPERATORS[type(op)](value(left), value(right))
            case ast.UnaryOp(ast.USub(), operand):
                return -value(operand)
            case ast.Call(ast.Name("log"), [key], []):
                if not lines or value(key) not in lines[-1]:
                    raise ValueError(f"'{text}': the run's last metric line has no {value(key)!r}")
                return lines[-1][value(key)]
            case ast.Call(ast.Name(name), args, []) if name in _FUNCTIONS:
                return _FUNCTIONS[name](*(value(a) for a in args))
            case ast.Call(ast.Name("wall"), [k], []):
                return at([line["time_s"] for line in lines], value(k), "wall")
            case ast.Call(ast.Name("cpu"), [k], []):
                return at(cpu or [], value(k), "cpu")
            case ast.Name(name) if name in facts:
                return facts[name]
            case ast.Name() | ast.Attribute():
                found: Any = config
                for part in dotted(node).split("."):
                    if not isinstance(found, dict) or part not in found:
                        raise ValueError(f"'{text}': the run's config has no key '{dotted(node)}'")
                    found = found[part]
                return found
        raise ValueError(f"'{text}': '{ast.unparse(node)}' is not allowed in a rehearse expression")

    return float(value(ast.parse(text, mode="eval").body))


# -- one job ------------------------------------------------------------------------------------------------
@dataclass
class Record:
    """What the rehearsal of one job found."""

    job: str
    domain: str
    seeds: int
    threads: int = 1
    ok: bool = False
    reason: str = ""
    stand_in: str = ""
    weights: int | None = None
    step_s: float | None = None
    steps: float | None = None
    peak_rss_gib: float | None = None
    wall_s: float | None = None
    command: list[str] = field(default_factory=list)

    @property
    def hours_per_seed(self) -> float | None:
        return None if self.step_s is None or self.steps is None else self.step_s * self.steps / 3600


def command(job: Job, out: Path, threads: int, extra: list[str]) -> list[str]:
    """The job's training command with the rehearsal's overrides (then the stand-in's, then ``extra``)."""
    stand_in = job.stand_in.overrides if job.stand_in else ()
    return [
        sys.executable,
        *("-m", f"{job.domain}.train", "--config", f"{job.domain}/configs/{job.experiment}.yaml"),
        *("--out", str(out), "--profile", "rehearsal", "--threads", str(threads)),
        *("--stop-after", str(job.rehearsal.units), f"feedback.kind={job.method}"),
        *job.overrides,
        *job.rehearsal.overrides,
        *stand_in,
        *extra,
    ]


def rehearse(job: Job, folder: Path, threads: int, extra: list[str], timeout_s: float, machine: str) -> Record:
    """Run one job's rehearsal in ``folder`` (emptied first) and measure it on this ``machine`` (cpu or gpu);
    never raises for the job's failure."""
    record = Record(job.name, job.domain, job.seeds, threads, stand_in=job.stand_in.note if job.stand_in else "")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    run_dir = folder / "run"
    record.command = command(job, run_dir, threads, extra)
    env = os.environ | {"PYTHONPATH": str(ROOT), "DFA_PROGRESS": "0"}
    began = time.perf_counter()
    with open(folder / "stderr.log", "w") as err, open(folder / "stdout.log", "w") as out:
        process = subprocess.Popen(record.command, cwd=ROOT, env=env, stdout=out, stderr=err)
        status, usage, cpu = _wait(process, timeout_s, run_dir / METRICS)
    record.wall_s = round(time.perf_counter() - began, 1)
    record.peak_rss_gib = round(usage.ru_maxrss * 1024 / GIB, 2)  # ru_maxrss: KiB on Linux
    stderr = (folder / "stderr.log").read_text(errors="replace")
    stopped = f"stopped after {job.rehearsal.units} " in stderr
    if status is None:
        record.reason = f"timed out after {timeout_s / 60:.0f} min (--timeout)"
    elif status < 0:
        record.reason = f"killed by signal {-status}" + (" (out of memory, most likely)" if status == -9 else "")
    elif status != 0 and not stopped:
        record.reason = _last_lines(stderr)
    elif diverged := _diverged(run_dir):
        record.reason = f"diverged: {diverged}"
    else:
        try:
            _measure(job, run_dir, record, cpu, machine)
            record.ok = True
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            record.reason = f"{type(err).__name__}: {err}"
    (run_dir / CHECKPOINT).unlink(missing_ok=True)  # weighed already: a paper-size checkpoint is large
    return record


def _wait(process: subprocess.Popen, timeout_s: float, metrics: Path) -> tuple[int | None, Any, list[float]]:
    """Wait for ``process`` (killing it after ``timeout_s``). Returns its exit code (-signal; None if timed out),
    its resource usage (os.wait4 gives it for this child alone, where RUSAGE_CHILDREN would give the largest
    yet), and the CPU seconds it had used when each line of ``metrics`` appeared (sampled every POLL_S)."""
    deadline = time.monotonic() + timeout_s
    cpu: list[float] = []
    while True:
        if (lines := _count_lines(metrics)) > len(cpu):
            used = _cpu_seconds(process.pid)  # lines that came together share one sample
            cpu += [used] * (lines - len(cpu)) if used is not None else []
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            if (lines := _count_lines(metrics)) > len(cpu):  # written just before the exit: its CPU total
                cpu += [usage.ru_utime + usage.ru_stime] * (lines - len(cpu))
            return process.returncode, usage, cpu
        if time.monotonic() > deadline:
            process.kill()
            _, _, usage = os.wait4(process.pid, 0)
            process.returncode = -9
            return None, usage, cpu
        time.sleep(POLL_S)


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process, all its threads (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14 and 15


def _diverged(run_dir: Path) -> str:
    """What a run that ended as diverged (common.run) says of it; '' for any other run."""
    final = run_dir / "final.json"
    if not final.exists() or "diverged" not in (record := json.loads(final.read_text())):
        return ""
    what = record["diverged"]
    return f"{what['metric']} = {what['value']} at step {what['step']}"


def _last_lines(text: str, n: int = 6) -> str:
    lines = [line for line in text.splitlines() if line.strip() and "Warning" not in line]
    return " | ".join(lines[-n:])[-800:] or "failed without a message"


def _measure(job: Job, run_dir: Path, record: Record, cpu: list[float], machine: str) -> None:
    """Weights, seconds per step and steps of the budget, from the run's config, metric lines and checkpoint."""
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())["config"]
    lines = read_jsonl(run_dir / METRICS)
    facts = job.rehearsal.facts_of(job.experiment)
    record.step_s = evaluate(job.rehearsal.time[machine], resolved, lines, cpu, facts)
    steps = evaluate(job.rehearsal.steps, resolved, lines, cpu, facts)
    record.steps = round(steps * (job.stand_in.scale if job.stand_in else 1.0))
    objects = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True)["objects"]
    record.weights = sum(_weights(_find(objects, path)) for path in job.rehearsal.networks)


def _find(objects: dict[str, Any], path: str) -> dict[str, Any]:
    found: Any = objects
    for part in path.split("."):
        if not isinstance(found, dict) or part not in found:
            raise KeyError(f"the checkpoint holds no '{path}' (rehearse ... networks)")
        found = found[part]
    return found


def _weights(state: dict[str, Any]) -> int:
    """Trained weights in a module's state dict: floating tensors, less the fixed feedback matrices and
    BatchNorm statistics (FIXED_BUFFERS)."""
    return sum(
        t.numel()
        for name, t in state.items()
        if isinstance(t, torch.Tensor) and t.is_floating_point() and name.rsplit(".", 1)[-1] not in FIXED_BUFFERS
    )


def prepare(stand_in: StandIn) -> str:
    """Make a stand-in's data if it does not exist yet (e.g. generate and preprocess rows): '' when it is
    there, else why it could not be made."""
    if not stand_in.prepare or (ROOT / stand_in.prepare["creates"]).exists():
        return ""
    for line in stand_in.prepare["run"]:
        words = [sys.executable if w == "python" else w for w in shlex.split(line)]
        print(f"[rehearse] preparing a stand-in: {line}", file=sys.stderr)
        done = subprocess.run(
            words, cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)}, capture_output=True, text=True
        )
        if done.returncode != 0:
            return f"preparing its stand-in failed: `{line}`: {_last_lines(done.stderr)}"
    return ""


def random_images(path: Path, shape: tuple[int, ...], test: int, classes: int, seed: int = 0) -> None:
    """An .npz of uniformly random 8-bit images and labels (keys x, y, x_test, y_test): a stand-in with the shape
    of an image dataset that may not be redistributed, for jobs whose cost depends on the shape alone."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        x=rng.integers(0, 256, shape, dtype=np.uint8),
        y=rng.integers(0, classes, shape[0]),
        x_test=rng.integers(0, 256, (test, *shape[1:]), dtype=np.uint8),
        y_test=rng.integers(0, classes, test),
    )


# -- the table --------------------------------------------------------------------------------------------
def device_name() -> str:
    """What the jobs ran on: the GPU's name, or the CPU's model and core count."""
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU {cpu_name()} ({os.cpu_count()} cores)"


def declared_memory(config: dict[str, Any], profile: str) -> dict[str, int]:
    """Per domain the profile runs, the ``mem_mb`` its training jobs ask the scheduler for (common.resources)."""
    return {d: job_resources(config, profile, d)["mem_mb"] for d in DOMAINS if config["profiles"][profile].get(d)}


def memory_short(records: list[Record], mem_mb: dict[str, int]) -> list[str]:
    """The jobs that used more memory here than their domain's ``mem_mb`` asks the scheduler for."""
    return [
        f"`{r.job}` used {r.peak_rss_gib:.2f} GiB; {r.domain}'s `mem_mb` asks for {mem_mb[r.domain] / 1024:.2f} GiB"
        for r in records
        if r.domain in mem_mb and (r.peak_rss_gib or 0.0) * 1024 > mem_mb[r.domain]
    ]


def report(records: list[Record], profile: str, device: str, mem_mb: dict[str, int] | None = None) -> str:
    """The rehearsal as markdown: hours and memory per domain (against ``mem_mb``, what its jobs ask the
    scheduler for), then every job."""
    unit = "GPU hours" if device.startswith("GPU") else "CPU core-hours"
    mem_mb = mem_mb or {}
    failed = [r for r in records if not r.ok]
    lines = [
        f"Dress rehearsal of the `{profile}` profile (`python -m common.rehearse --profile {profile}`) on {device}, "
        f"{'/'.join(sorted({str(r.threads) for r in records}))} thread(s) per job: every distinct job at its real "
        "size, a few steps and one evaluation each. Estimated cost = steps of the job's budget × seconds per "
        "step measured here: on a CPU, the CPU seconds of the job's process (core-seconds: the load of other "
        "work on the machine does not inflate them), on a GPU its wall seconds. Start-up, data preparation and "
        "evaluations beyond those an epoch-long step includes are not counted.",
        "",
        f"| domain | jobs | runs (× seeds) | {unit}, one seed of each | {unit}, every run "
        "| largest peak memory (GiB) | `mem_mb` asked (GiB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for domain in DOMAINS:
        mine = [r for r in records if r.domain == domain]
        if not mine:
            continue
        one = sum(r.hours_per_seed or 0.0 for r in mine)
        every = sum((r.hours_per_seed or 0.0) * r.seeds for r in mine)
        peak = max((r.peak_rss_gib or 0.0 for r in mine), default=0.0)
        asked = mem_mb[domain] / 1024 if domain in mem_mb else None
        lines.append(
            f"| {domain} | {len(mine)} | {sum(r.seeds for r in mine)} | {_hours(one)} | {_hours(every)} "
            f"| {peak:.2f} | {_number(asked, 1)} |"
        )
    total_one = sum(r.hours_per_seed or 0.0 for r in records)
    total = sum((r.hours_per_seed or 0.0) * r.seeds for r in records)
    runs = sum(r.seeds for r in records)
    lines.append(f"| **all** | {len(records)} | {runs} | **{_hours(total_one)}** | **{_hours(total)}** | | |")
    lines += [
        "",
        "Peak memory is the resident memory of a job's process here, on the rehearsal's slices of data: a run that "
        "holds a larger dataset in memory needs more than this.",
    ]
    if failed:
        lines += ["", f"**{len(failed)} job(s) did not pass** (their cost is not in the sums):", ""]
        lines += [f"* `{r.job}`: {r.reason}" for r in failed]
    if short := memory_short(records, mem_mb):
        lines += ["", "**Memory asked for is too small** (config/config.yaml, `resources.mem_mb`):", ""]
        lines += [f"* {line}" for line in short]
    notes = sorted({r.stand_in for r in records if r.stand_in})
    lines += [
        "",
        "| job | weights | s / step | peak memory (GiB) | steps | hours / seed | seeds | ran on |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in records:
        if not r.ok:
            lines.append(
                f"| `{r.job}` | | | {_number(r.peak_rss_gib, 2)} | | | {r.seeds} | **failed**: {r.reason[:120]} |"
            )
            continue
        where = f"stand-in {notes.index(r.stand_in) + 1}" if r.stand_in else "its data"
        lines.append(
            f"| `{r.job}` | {r.weights / 1e6:,.2f} M | {_number(r.step_s, 3)} | {_number(r.peak_rss_gib, 2)} "
            f"| {r.steps:,.0f} | {_hours(r.hours_per_seed)} | {r.seeds} | {where} |"
        )
    if notes:
        lines += ["", "Stand-ins (the user's data is absent here):", ""]
        lines += [f"{k}. {note}" for k, note in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _hours(value: float | None) -> str:
    """Hours to three significant digits (0.00412, 4.12, 41.2), whole hours from 100 on (4,120)."""
    if value is None:
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def publish(text: str, profile: str, machine: str, root: Path = ROOT) -> Path:
    """Keep a whole-profile rehearsal with the code: every job in ``docs/rehearsal/<profile>-<machine>.md``, and
    the hours per domain in README.md between the markers ``<!-- rehearsal <profile> <machine> begin -->`` and
    ``... end -->`` (which must be there: they say where the table goes). Returns the page written."""
    page = root / "docs" / "rehearsal" / f"{profile}-{machine}.md"
    begin, end = f"<!-- rehearsal {profile} {machine} begin -->", f"<!-- rehearsal {profile} {machine} end -->"
    readme = (root / "README.md").read_text()
    if readme.count(begin) != 1 or readme.count(end) != 1 or readme.index(begin) > readme.index(end):
        raise SystemExit(f"README.md needs one line '{begin}' and, below it, one line '{end}': the table goes between")
    link = page.relative_to(root).as_posix()
    summary = text.split("\n| job |")[0].rstrip()  # the introduction, the hours per domain and any failed jobs
    block = f"{begin}\n{summary}\n\nEvery job, its size, step time and peak memory: [{link}]({link}).\n{end}"
    head, rest = readme.split(begin)
    page.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(page, f"# Dress rehearsal of the `{profile}` profile ({machine})\n\n{text}")
    atomic_write_text(root / "README.md", head + block + rest.split(end, 1)[1])
    return page


# -- command line -----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper", help="the profile of config/config.yaml to rehearse")
    parser.add_argument("--only", action="append", default=[], metavar="GLOB", help="jobs domain/experiment/method")
    parser.add_argument(
        "--out", type=Path, help="where runs, records and REHEARSAL.md go (results/rehearsal/<profile>)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads per job (default: on a GPU the profile's, at most the cores; on a CPU 1, see below)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="minutes a job may take before it is failed")
    parser.add_argument("--fresh", action="store_true", help="redo jobs that have a record from an earlier invocation")
    parser.add_argument("--set", action="append", default=[], metavar="DOMAIN:KEY=VALUE", help="one more override")
    parser.add_argument("--no-prepare", action="store_true", help="do not make stand-in data that is missing")
    parser.add_argument(
        "--publish", action="store_true", help="also write docs/rehearsal/ and README.md's table (the whole profile)"
    )
    parser.add_argument("--config", type=Path, default=CONFIG, help=argparse.SUPPRESS)
    parser.add_argument(
        "--random-images",
        nargs=4,
        metavar=("FILE", "SHAPE", "TEST", "CLASSES"),
        help="only write a stand-in .npz of random images, e.g. FILE 2048,32,32,3 512 10 (a stand-in's prepare step)",
    )
    args = parser.parse_args(argv)
    if args.random_images:
        file, shape, test, classes = args.random_images
        random_images(ROOT / file, tuple(int(n) for n in shape.split(",")), int(test), int(classes))
        return 0

    config = yaml.safe_load(args.config.read_text())
    jobs = [
        j for j in plan(config, args.profile) if not args.only or any(fnmatch.fnmatch(j.name, g) for g in args.only)
    ]
    if not jobs:
        parser.error(f"no job of profile '{args.profile}' matches {args.only}")
    if args.publish and (args.only or args.set or args.out):
        parser.error("--publish keeps a rehearsal of the whole profile as the pipeline runs it: no --only/--set/--out")
    out = args.out or ROOT / "results" / "rehearsal" / args.profile
    extra: dict[str, list[str]] = {}
    for item in args.set:
        domain, _, override = item.partition(":")
        if domain not in DOMAINS or "=" not in override:
            parser.error(f"--set {item!r}: expected DOMAIN:KEY=VALUE with DOMAIN one of {list(DOMAINS)}")
        extra.setdefault(domain, []).append(override)
    device = device_name()
    machine = "gpu" if torch.cuda.is_available() else "cpu"
    records = []
    for k, job in enumerate(jobs, 1):
        saved = out / "jobs" / f"{job.name}.json"
        saved.parent.mkdir(parents=True, exist_ok=True)
        threads = args.threads or _default_threads(config, args.profile, job.domain, machine)
        folder, overrides = out / "runs" / job.name, extra.get(job.domain, [])
        with job_lock(saved.with_suffix(".lock"), job.name):
            record = _reusable(saved, command(job, folder / "run", threads, overrides)) if not args.fresh else None
            if record is None:
                unprepared = prepare(job.stand_in) if job.stand_in and not args.no_prepare else ""
                if unprepared:
                    record = Record(job.name, job.domain, job.seeds, threads, reason=unprepared)
                else:
                    record = rehearse(job, folder, threads, overrides, 60 * args.timeout, machine)
                atomic_write_text(saved, json.dumps(asdict(record), indent=1) + "\n")
        records.append(record)
        status = "ok" if record.ok else f"FAILED: {record.reason}"
        measured = f"{record.step_s:.3f} s/step × {record.steps:,.0f} steps" if record.ok else ""
        print(f"[{k}/{len(jobs)}] {job.name}: {measured} {status}", file=sys.stderr)
    mem_mb = declared_memory(config, args.profile)
    text = report(records, args.profile, device, mem_mb)
    (out / "REHEARSAL.md").write_text(text)
    print(text, end="")
    if args.publish:
        page = publish(text, args.profile, machine)
        print(f"[rehearse] wrote {page.relative_to(ROOT)} and README.md", file=sys.stderr)
    return 0 if all(r.ok for r in records) and not memory_short(records, mem_mb) else 1


def _reusable(saved: Path, wanted: list[str]) -> Record | None:
    """The record of an earlier invocation, if it ran the command this one would (the same overrides, ``--set``
    and threads; the interpreter and the form of the ``--out`` path aside); None to rehearse the job again."""

    def key(cmd: list[str]) -> list[str]:
        at = cmd.index("--out") if "--out" in cmd else len(cmd)
        return cmd[1:at] + cmd[at + 2 :]

    if not saved.exists():
        return None
    record = Record(**json.loads(saved.read_text()))
    if key(record.command) != key(wanted):
        print(f"[rehearse] {record.job}: its record ran another command; rehearsing it again", file=sys.stderr)
        return None
    return record


@contextlib.contextmanager
def job_lock(path: Path, name: str) -> Iterator[None]:
    """Hold an OS lock on ``path`` while one job is rehearsed. Two rehearsals into the same folder (``--only``
    sets that overlap, to use more cores) would otherwise empty each other's run folder mid-run: the second one
    waits here for the first, then reuses its record."""
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[rehearse] {name}: another rehearsal is running it; waiting for its record", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _default_threads(config: dict[str, Any], profile: str, domain: str, machine: str) -> int:
    """On a CPU, one: a step's core-seconds are then its cost whatever else runs, whereas idle OpenMP threads
    spin while they wait for a core that other work holds, and count (3 to 8 times the one-thread figure was
    seen at a load of 3 to 4 on 2 cores). On a GPU, the profile's threads, at most the cores."""
    if machine == "cpu":
        return 1
    return min(int((config["profiles"][profile].get(domain) or {}).get("threads", 1)), os.cpu_count() or 1)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ConfigError as err:  # the rehearse section or the profile is the user's to fix
        sys.exit(f"error: {err}")
