"""One training run: command line, output folder, atomic results, checkpoints, resume and progress.

Every domain's ``python -m <domain>.train`` starts the same way::

    run = start_run(argv, VisionConfig, "vision", FAMILIES, "Train an MLP on MNIST")   # run.cfg: the config
    start = run.resume(model=model, optimizer=opt)     # 0 for a fresh run
    for epoch in run.units(start, cfg.train.epochs, "epoch"):
        loss = ...; run.watch(loss)                    # the first loss is the scale divergence is judged by
        run.log(epoch, {"test/acc": acc})              # a non-finite or exploded value ends the run as diverged
        run.checkpoint(epoch + 1, model=model, optimizer=opt)
    run.finish({"test/acc": acc}, budget={"epochs": cfg.train.epochs}, data=describe(...))

    if __name__ == "__main__":
        cli(main, runs=True)   # errors end with their message; --seeds 0,1,2 runs three seeds in turn

The folder holds ``config.yaml`` (the resolved config), ``metrics.jsonl`` (one line per evaluation,
with wall time), ``tensorboard/`` (the same lines as TensorBoard events), ``checkpoint.pt`` and, last,
``final.json``, which is deterministic for a seed (no timings) and is what the pipeline tracks.

What makes a folder safe (see :mod:`common.rundir`):

* **A checkpoint belongs to one config and one code version.** It carries their fingerprint; a run resumes
  only from a checkpoint whose fingerprint matches. Otherwise, and for a checkpoint that cannot be read,
  the old run is moved whole to ``superseded/`` (nothing is deleted) and the run starts fresh, saying so.
* **The checkpoint is the record.** It holds the metric lines logged so far, so a resumed run rewrites
  ``metrics.jsonl`` exactly as an uninterrupted one would have written it, even if the file was lost.
* **One writer.** An OS lock refuses a second process writing into the same folder.
* **Divergence is a result, never a number.** A non-finite metric, or a loss 1000× above the run's first
  loss, ends the run: ``final.json`` says ``"diverged"`` (with where and what), no metrics, and the report
  shows *diverged*. The process exits with status 0 so that pipelines keep the record.
* **Time limits.** ``--time-limit MIN`` (a cluster job's wall time) leaves with a checkpoint before the limit
  and exits with status 75 (EX_TEMPFAIL); running the same command again resumes. ``--stop-after N`` leaves
  after N units (status 1, as an interruption). Either way the run checkpoints where it leaves.
* **Several processes** (``torchrun``): only rank 0 writes; every rank loads the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor
from tqdm import tqdm

from common.config import to_dict
from common.rundir import (
    FolderLock,
    RunLockedError,
    atomic_write,
    atomic_write_text,
    fingerprint,
    mismatch,
    set_aside,
)
from common.seeding import rng_state, seed_everything, set_rng_state

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
TENSORBOARD = "tensorboard"
EXIT_RESUBMIT = 75
"""Exit status of a run that left before its time limit with a checkpoint (EX_TEMPFAIL): run it again."""
DIVERGED_FACTOR = 1000.0
"""A loss this many times the run's first training loss is divergence, even when finite."""

__all__ = ["Diverged", "Run", "RunLockedError", "atomic_write_text", "cli", "pick_device", "start_run"]


class Diverged(Exception):
    """The run diverged; ``final.json`` already says so."""


@dataclass(frozen=True)
class RunArgs:
    """What every ``<domain>.train`` command line carries besides the config overrides."""

    config: Path
    out: Path
    profile: str = "adhoc"
    threads: int | None = None
    stop_after: int | None = None
    time_limit: float | None = None
    overrides: list[str] = field(default_factory=list)


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def parse_args(argv: list[str] | None, description: str, epilog: str | None = None) -> RunArgs:
    """Parse ``--config FILE --out DIR [--profile P] [--threads N] [--stop-after N] [--time-limit MIN]
    [key=value ...]``."""
    parser = argparse.ArgumentParser(description=description, epilog=epilog)
    parser.add_argument("--config", type=Path, required=True, help="experiment YAML (<domain>/configs/*.yaml)")
    parser.add_argument("--out", type=Path, required=True, help="run folder (results/<domain>/<exp>/<method>/seedK)")
    parser.add_argument("--profile", default="adhoc", help="pipeline profile recorded in final.json")
    parser.add_argument("--threads", type=_positive(int), default=None, help="torch intra-op threads")
    parser.add_argument(
        "--stop-after",
        type=_positive(int),
        default=None,
        metavar="N",
        help="leave after N units (epochs/steps) of this invocation with a checkpoint; run again to resume",
    )
    parser.add_argument(
        "--time-limit",
        type=_positive(float),
        default=None,
        metavar="MIN",
        help=f"leave with a checkpoint before MIN minutes of this invocation (exit status {EXIT_RESUBMIT}); "
        "run again to resume (a cluster job's wall time)",
    )
    parser.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. train.lr=0.01 feedback.kind=dfa")
    ns = parser.parse_intermixed_args(argv)  # options may come after the overrides
    if ns.out.exists() and not ns.out.is_dir():
        parser.error(f"--out {ns.out} is a file; give a folder (results/<domain>/<exp>/<method>/seedK)")
    return RunArgs(ns.config, ns.out, ns.profile, ns.threads, ns.stop_after, ns.time_limit, list(ns.overrides))


def _seed_list(text: str) -> list[int]:
    try:
        return [int(k) for k in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 0,1,2, got {text!r}") from None


def per_seed(argv: list[str]) -> list[list[str]]:
    """Expand ``--seeds 0,1,2 --out DIR ...`` into one command line per seed (``--out DIR/seed<k> ... seed=<k>``).

    A training process pays its start-up once: importing torch and PyG costs ~4 CPU-seconds, more than a
    whole Cora run, so the pipeline runs all seeds of a graphs experiment in one process. Each seed is still
    its own run (folder, checkpoint, final.json), identical to running it alone. Without ``--seeds``: ``[argv]``.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--seeds", type=_seed_list)
    parser.add_argument("--out", type=Path)
    ns, rest = parser.parse_known_args(argv)
    if ns.seeds is None:
        return [argv]
    if ns.out is None:
        raise SystemExit("--seeds needs --out DIR: the run of seed K goes to DIR/seedK")
    return [["--out", str(ns.out / f"seed{k}"), *rest, f"seed={k}"] for k in ns.seeds]


def start_run(argv: list[str] | None, config_cls: type, domain: str, kinds: tuple[str, ...], description: str) -> Run:
    """The first lines of every ``<domain>.train``: parse the command line, load the config, check the
    feedback kind against what the domain supports, open the run folder. The config is ``run.cfg``."""
    from common.config import ConfigError, load_config  # local: keeps this module's import light for the report

    seeds = "--seeds K,K,... --out DIR: train these seeds one after another in one process, into DIR/seed<K>."
    args = parse_args(argv, description, epilog=seeds)
    cfg = load_config(config_cls, args.config, args.overrides)
    if cfg.feedback.kind not in kinds:
        raise ConfigError(f"'feedback.kind' must be one of {list(kinds)} for {domain}, got {cfg.feedback.kind!r}")
    return Run(args, cfg, domain=domain)


def cli(main: Callable[[list[str] | None], object], runs: bool = False) -> None:
    """Run a command-line entry point. A bad config key, a missing or malformed dataset, a bad claims file or
    a folder another process writes is the user's to fix: it ends the program with its message (exit status
    1) instead of a traceback. A diverged run has already written its ``final.json``; the next seed goes on.
    ``runs``: ``main(argv)`` trains one run, and ``--seeds`` runs several (see :func:`per_seed`)."""
    from common.claims import ClaimsError
    from common.config import ConfigError
    from common.paths import DataError

    try:
        for argv in per_seed(sys.argv[1:]) if runs else [None]:
            try:
                main(argv)
            except Diverged as err:
                print(f"DIVERGED: {err}", file=sys.stderr)
    except (ConfigError, DataError, ClaimsError, RunLockedError) as err:
        sys.exit(f"error: {err}")


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when there is one, else the CPU; ``cuda`` without a GPU is an error that says so."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"device={name} was asked for but no CUDA device is available (use cpu or auto)")
    return torch.device(name)


class Run:
    """The output folder of one run and everything written into it."""

    def __init__(self, args: RunArgs, cfg: Any, domain: str) -> None:
        self.args, self.cfg, self.domain = args, cfg, domain
        self.out = args.out
        self.experiment = args.config.stem
        self.method = cfg.feedback.kind
        self.seed = cfg.seed
        self.rank = int(os.environ.get("RANK", "0"))
        self.writes = self.rank == 0  # under torchrun only rank 0 writes
        self._lock = FolderLock(self.out)
        if self.writes:
            self.out.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        self.fingerprint = fingerprint(domain, to_dict(cfg), args.threads)
        self._objects: dict[str, Any] = {}
        self._lines: list[str] = []  # every metrics.jsonl line of this run, kept in the checkpoint
        self._saved_unit: int | None = None  # the unit of the last checkpoint written or loaded
        self._loss_scale: float | None = None  # the first training loss (see watch)
        self._tb: Any = None
        self._elapsed_before = 0.0
        self._t0 = time.perf_counter()
        self._longest_unit = 0.0
        seed_everything(cfg.seed, args.threads)

    # -- identity -----------------------------------------------------------------------------------
    def _header(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "experiment": self.experiment,
            "method": self.method,
            "seed": self.seed,
            "profile": self.args.profile,
        }

    @property
    def elapsed(self) -> float:
        """Seconds of training so far, summed over resumed invocations."""
        return self._elapsed_before + time.perf_counter() - self._t0

    def say(self, message: str) -> None:
        """A line on stderr, prefixed with the domain (rank 0 only)."""
        if self.writes:
            print(f"[{self.domain}] {message}", file=sys.stderr)

    # -- checkpoints --------------------------------------------------------------------------------
    def resume(self, **objects: Any) -> int:
        """Load the checkpoint into ``objects`` (anything with ``load_state_dict``) if one may be resumed.

        Returns the unit to start from (0 for a fresh run). The objects are remembered: the run
        checkpoints them itself when it leaves early (``--stop-after``, ``--time-limit``).
        """
        self._objects = objects
        if self.writes:
            state = self._usable_checkpoint()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()  # rank 0 has set a stale checkpoint aside before the others look
        if not self.writes:
            state = self._read_checkpoint(self.out / CHECKPOINT) if (self.out / CHECKPOINT).exists() else None
        if state is None:
            self._lines = []
            self._write_record()
            return 0
        for name, obj in objects.items():
            if name not in state["objects"]:
                raise RuntimeError(f"{self.out / CHECKPOINT} has no state for '{name}'")
            obj.load_state_dict(state["objects"][name])
        set_rng_state(state["rng"])
        self._elapsed_before = state["elapsed"]
        self._lines = list(state["metrics"])
        self._loss_scale = state["loss_scale"]
        self._saved_unit = int(state["unit"])
        self._write_record()
        self.say(f"resumed {self.out} at {state['unit']}")
        return self._saved_unit

    def _usable_checkpoint(self) -> dict | None:
        """The checkpoint if it may be resumed; otherwise None, with the old run set aside and the reason said."""
        path = self.out / CHECKPOINT
        reason = None
        if path.exists():
            try:
                state = self._read_checkpoint(path)
            except pickle.UnpicklingError:
                reason = "unreadable"
                why = "it holds objects other than tensors and plain values (loading it could run code)"
            except Exception as err:  # truncated, empty, random bytes, a pickle that would run code, ...
                reason, why = "unreadable", f"it cannot be read ({type(err).__name__}: {str(err)[:200]})"
            else:
                why = mismatch(state.get("fingerprint"), self.fingerprint)
                if why is None:
                    return state
                reason = "stale"
        elif (self.out / "final.json").exists() or _has_lines(self.out / METRICS):
            reason, why = "incomplete", "it has results but no checkpoint to continue from"
        if reason is not None:
            moved = set_aside(self.out, reason)
            self.say(f"not resuming {path}: {why}. The old run is kept in {moved}; starting afresh.")
        return None

    @staticmethod
    def _read_checkpoint(path: Path) -> dict:
        # weights_only: a checkpoint holds tensors and plain values only; loading never runs code from it
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or not {"unit", "objects", "rng", "metrics"} <= set(state):
            raise ValueError("not a checkpoint of this project")
        return state

    def checkpoint(self, unit: int, **objects: Any) -> None:
        """Save ``objects`` (default: those given to :meth:`resume`) and the random state, so that the run
        can continue at ``unit``."""
        objects = objects or self._objects
        if not objects:
            raise RuntimeError("nothing to checkpoint: give the objects to run.resume(...) or run.checkpoint(...)")
        self._saved_unit = unit
        if not self.writes:
            return
        state = {
            "unit": unit,
            "objects": {name: obj.state_dict() for name, obj in objects.items()},
            "rng": rng_state(),
            "elapsed": self.elapsed,
            "fingerprint": self.fingerprint,
            "metrics": list(self._lines),
            "loss_scale": self._loss_scale,
        }
        atomic_write(self.out / CHECKPOINT, lambda tmp: torch.save(state, tmp))

    def units(self, start: int, total: int, unit: str) -> Iterator[int]:
        """Iterate ``start..total-1`` with a progress bar, leaving early (with a checkpoint of the objects
        given to :meth:`resume`) when ``--stop-after`` or ``--time-limit`` says so.

        While iterating, the bar is ``run.bar`` (e.g. ``run.bar.set_postfix(psnr=...)``).
        """
        self.bar = bar = progress(
            range(start, total),
            desc=f"{self.domain}/{self.experiment}/{self.method}",
            unit=unit,
            initial=start,
            total=total,
            disable=None if self.writes else True,
        )
        stop = None if self.args.stop_after is None else start + self.args.stop_after  # --stop-after
        began = last = time.perf_counter()
        for index in bar:
            now = time.perf_counter()
            if index > start:
                self._longest_unit = max(self._longest_unit, now - last)
                if index == stop:
                    self._leave(index, f"stopped after {index - start} {unit}(s) as asked; run again to resume")
                if self._out_of_time(now - began):
                    message = f"left at {unit} {index} before the time limit; run again to resume"
                    self._leave(index, message, status=EXIT_RESUBMIT)
            last = now
            yield index

    def _out_of_time(self, used: float) -> bool:
        """Would one more unit (as long as the longest so far, with a margin) pass ``--time-limit``?"""
        if self.args.time_limit is None:
            return False
        return used + 1.5 * self._longest_unit > 60 * self.args.time_limit

    def _leave(self, index: int, message: str, status: int | None = None) -> None:
        """Checkpoint at ``index`` (unless the loop just did) and exit: with ``message`` as the error (status 1)
        or, given a ``status``, with the message on stderr and that status."""
        self.bar.close()
        if self._saved_unit != index:
            self.checkpoint(index)
        self._close()
        if status is None:
            raise SystemExit(message)
        self.say(message)
        raise SystemExit(status)

    # -- results ------------------------------------------------------------------------------------
    def watch(self, loss: Tensor | float) -> None:
        """Call with each training loss; the first one sets the scale by which divergence is judged.
        (Only the first call reads the value, so this costs one device synchronisation per run.)"""
        if self._loss_scale is None:
            value = float(loss.detach() if isinstance(loss, Tensor) else loss)
            self._loss_scale = abs(value) if math.isfinite(value) else None
            if not math.isfinite(value):
                self.diverge(0, "train/loss", value)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Append one line to ``metrics.jsonl`` (with the wall time so far); a diverged value ends the run."""
        self.check(step, metrics)
        if self._loss_scale is None and (first := _number(metrics.get("train/loss"))) is not None:
            self._loss_scale = abs(first)  # no watch() call: the first logged training loss sets the scale
        line = json.dumps(
            {"step": step, **{k: _plain(v) for k, v in metrics.items()}, "time_s": round(self.elapsed, 3)}
        )
        self._lines.append(line)
        if self.writes:
            with open(self.out / METRICS, "a") as fh:
                fh.write(line + "\n")
            self._tensorboard(line)

    def check(self, step: int, metrics: dict[str, Any]) -> None:
        """End the run as diverged if a metric is not finite, or a loss is far above the first one."""
        for key, value in metrics.items():
            number = _number(value)
            if number is None:
                continue
            exploded = (
                key.endswith("loss")
                and self._loss_scale is not None
                and number > DIVERGED_FACTOR * max(self._loss_scale, 1e-3)
            )
            if not math.isfinite(number) or exploded:
                self.diverge(step, key, number)

    def diverge(self, step: int, key: str, value: float) -> None:
        """End the run as diverged at ``step`` because ``key`` reached ``value``: ``final.json`` says so."""
        what = f"{key} = {value:.4g} at step {step}"
        if math.isfinite(value):
            what += f" (over {DIVERGED_FACTOR:g}× the first training loss, {self._loss_scale:.4g})"
        final = self._header() | {"metrics": {}, "diverged": {"step": step, "metric": key, "value": str(value)}}
        if self.writes:
            atomic_write_text(self.out / "final.json", json.dumps(final, indent=2, sort_keys=True) + "\n")
        self._close()
        raise Diverged(f"{self.out}: {what}. final.json records the run as diverged; lower the learning rate.")

    def finish(self, metrics: dict[str, float], budget: dict[str, Any], data: Any, **extra: Any) -> dict:
        """Write ``final.json``: deterministic for a seed (no timings), written last and atomically."""
        self.check(self._saved_unit or 0, metrics)
        final = self._header() | {
            "metrics": {k: _plain(v) for k, v in metrics.items()},
            "budget": budget,
            "data": data,
            **{k: _plain(v) for k, v in extra.items()},
        }
        if self.writes:
            atomic_write_text(self.out / "final.json", json.dumps(final, indent=2, sort_keys=True) + "\n")
        self._close()
        self.say(f"{self.out}: {json.dumps(final['metrics'])} ({self.elapsed:.1f}s)")
        return final

    # -- files --------------------------------------------------------------------------------------
    def _write_record(self) -> None:
        """(Re)write config.yaml, metrics.jsonl and the TensorBoard events from the run's own record."""
        if not self.writes:
            return
        atomic_write_text(self.out / "config.yaml", yaml.safe_dump(self._header() | {"config": to_dict(self.cfg)}))
        atomic_write_text(self.out / METRICS, "".join(line + "\n" for line in self._lines))
        if (self.out / TENSORBOARD).exists():
            shutil.rmtree(self.out / TENSORBOARD)
        for line in self._lines:
            self._tensorboard(line)

    def _tensorboard(self, line: str) -> None:
        """The numbers of one metrics line as TensorBoard scalars (``DFA_TENSORBOARD=0`` turns this off)."""
        if os.environ.get("DFA_TENSORBOARD", "1") == "0":
            return
        if self._tb is None:
            from torch.utils.tensorboard import SummaryWriter  # lazy: imports tensorboard (~1 s)

            self._tb = SummaryWriter(log_dir=str(self.out / TENSORBOARD))
        record = json.loads(line)
        for key, value in record.items():
            if key != "step" and (number := _number(value)) is not None:
                self._tb.add_scalar(key, number, record["step"])

    def _close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        self._lock.release()


def _has_lines(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def _number(value: Any) -> float | None:
    """``value`` as a float if it is a real number (a bool or a string is not), else None."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def progress(iterable: Any = None, **kwargs: Any) -> tqdm:
    """A tqdm bar; set ``DFA_PROGRESS=0`` to silence it. Off a terminal it updates every 10 s."""
    disable = kwargs.pop("disable", None) or os.environ.get("DFA_PROGRESS", "1") == "0"
    mininterval = 0.5 if sys.stderr.isatty() else 10.0
    return tqdm(iterable, disable=disable, mininterval=mininterval, dynamic_ncols=True, **kwargs)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All records of a ``metrics.jsonl`` file (empty if it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, float):
        return round(value, 6)  # deterministic text; far below any reported precision
    return value
