"""One training run: command line, output folder, atomic results, checkpoints, resume and progress.

Every domain's ``python -m <domain>.train`` starts the same way::

    run = start_run(argv, VisionConfig, "vision", KINDS, "Train an MLP on MNIST")   # run.cfg: the config
    start = run.resume(model=model, optimizer=opt)     # 0 for a fresh run
    for epoch in run.units(start, cfg.train.epochs, "epoch"):
        ...
        run.log(epoch, {"test/acc": acc})
        run.checkpoint(epoch + 1, model=model, optimizer=opt)
    run.finish({"test/acc": acc}, budget={"epochs": cfg.train.epochs}, data="MNIST (shipped)")

    if __name__ == "__main__":
        cli(main, runs=True)   # errors end with their message; --seeds 0,1,2 runs three seeds in turn

The folder holds ``config.yaml`` (the resolved config), ``metrics.jsonl`` (one line per evaluation,
with wall time), ``checkpoint.pt`` and, last, ``final.json``, which is deterministic for a seed (no
timings) and is what the pipeline tracks. Writes go through a temporary file and ``os.replace``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm import tqdm

from common.config import to_dict
from common.seeding import rng_state, seed_everything, set_rng_state

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class RunArgs:
    """What every ``<domain>.train`` command line carries besides the config overrides."""

    config: Path
    out: Path
    profile: str = "adhoc"
    threads: int | None = None
    stop_after: int | None = None
    overrides: list[str] = field(default_factory=list)


def parse_args(argv: list[str] | None, description: str, epilog: str | None = None) -> RunArgs:
    """Parse ``--config FILE --out DIR [--profile P] [--threads N] [--stop-after N] [key=value ...]``."""
    parser = argparse.ArgumentParser(description=description, epilog=epilog)
    parser.add_argument("--config", type=Path, required=True, help="experiment YAML (<domain>/configs/*.yaml)")
    parser.add_argument("--out", type=Path, required=True, help="run folder (results/<domain>/<exp>/<method>/seedK)")
    parser.add_argument("--profile", default="adhoc", help="pipeline profile recorded in final.json")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument(
        "--stop-after",
        type=int,
        default=None,
        metavar="N",
        help="leave after N units (epochs/steps) of this invocation with a checkpoint; run again to resume",
    )
    parser.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. train.lr=0.01 feedback.kind=dfa")
    ns = parser.parse_args(argv)
    return RunArgs(ns.config, ns.out, ns.profile, ns.threads, ns.stop_after, list(ns.overrides))


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
    """Run a command-line entry point. A bad config key, a missing dataset or a bad claims file is the
    user's to fix: it ends the program with its message (exit status 1) instead of a traceback.
    ``runs``: ``main(argv)`` trains one run, and ``--seeds`` runs several (see :func:`per_seed`)."""
    from common.claims import ClaimsError
    from common.config import ConfigError
    from common.paths import DataMissingError

    try:
        for argv in per_seed(sys.argv[1:]) if runs else [None]:
            main(argv)
    except (ConfigError, DataMissingError, ClaimsError) as err:
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
        self.out.mkdir(parents=True, exist_ok=True)
        self.experiment = args.config.stem
        self.method = cfg.feedback.kind
        self.seed = cfg.seed
        self._elapsed_before = 0.0
        self._t0 = time.perf_counter()
        seed_everything(cfg.seed, args.threads)
        atomic_write_text(self.out / "config.yaml", yaml.safe_dump(self._header() | {"config": to_dict(cfg)}))

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

    # -- checkpoints --------------------------------------------------------------------------------
    def resume(self, **objects: Any) -> int:
        """Load the checkpoint into ``objects`` (anything with ``load_state_dict``) if one exists.

        Returns the unit to start from (0 for a fresh run). ``metrics.jsonl`` is cut back to the
        checkpoint so that a resumed run writes exactly the lines an uninterrupted one would.
        """
        path = self.out / CHECKPOINT
        if not path.exists():
            (self.out / "metrics.jsonl").unlink(missing_ok=True)
            return 0
        state = torch.load(path, map_location="cpu", weights_only=False)
        for name, obj in objects.items():
            if name not in state["objects"]:
                raise RuntimeError(f"{path} has no state for '{name}': delete it to start afresh")
            obj.load_state_dict(state["objects"][name])
        set_rng_state(state["rng"])
        self._elapsed_before = state["elapsed"]
        self._truncate_metrics(state["unit"])
        print(f"[{self.domain}] resumed {self.out} at {state['unit']}", file=sys.stderr)
        return int(state["unit"])

    def checkpoint(self, unit: int, **objects: Any) -> None:
        """Save ``objects`` and the random state so that the run can continue at ``unit``."""
        state = {
            "unit": unit,
            "objects": {name: obj.state_dict() for name, obj in objects.items()},
            "rng": rng_state(),
            "elapsed": self.elapsed,
        }
        tmp = self.out / (CHECKPOINT + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.out / CHECKPOINT)

    def stop_at(self, start: int) -> int | None:
        """The unit after which this invocation leaves (``--stop-after``; None: it runs to the end).
        A loop that checkpoints only now and then checkpoints at this unit too, so the run can resume."""
        return None if self.args.stop_after is None else start + self.args.stop_after

    def units(self, start: int, total: int, unit: str) -> Iterator[int]:
        """Iterate ``start..total-1`` with a progress bar, leaving early if ``--stop-after`` says so.

        While iterating, the bar is ``run.bar`` (e.g. ``run.bar.set_postfix(psnr=...)``).
        """
        self.bar = bar = progress(
            range(start, total),
            desc=f"{self.domain}/{self.experiment}/{self.method}",
            unit=unit,
            initial=start,
            total=total,
        )
        stop = self.stop_at(start)
        for index in bar:
            if index == stop:
                bar.close()
                raise SystemExit(f"stopped after {index - start} {unit}(s) as asked; run again to resume")
            yield index

    # -- results ------------------------------------------------------------------------------------
    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Append one line to ``metrics.jsonl`` (with the wall time so far)."""
        line = {"step": step, **{k: _plain(v) for k, v in metrics.items()}, "time_s": round(self.elapsed, 3)}
        with open(self.out / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(line) + "\n")

    def finish(self, metrics: dict[str, float], budget: dict[str, Any], data: str, **extra: Any) -> dict:
        """Write ``final.json``: deterministic for a seed (no timings), written last and atomically."""
        final = self._header() | {
            "metrics": {k: _plain(v) for k, v in metrics.items()},
            "budget": budget,
            "data": data,
            **{k: _plain(v) for k, v in extra.items()},
        }
        atomic_write_text(self.out / "final.json", json.dumps(final, indent=2, sort_keys=True) + "\n")
        print(
            f"[{self.domain}] {self.out}: {json.dumps(final['metrics'])} ({self.elapsed:.1f}s)",
            file=sys.stderr,
        )
        return final

    def _truncate_metrics(self, unit: int) -> None:
        path = self.out / "metrics.jsonl"
        if not path.exists():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut by the interruption
                continue
            if record.get("step", 0) <= unit:  # lines logged at or before the checkpointed unit
                kept.append(line + "\n")
        atomic_write_text(path, "".join(kept))


def progress(iterable: Any = None, **kwargs: Any) -> tqdm:
    """A tqdm bar; set ``DFA_PROGRESS=0`` to silence it. Off a terminal it updates every 10 s."""
    disable = os.environ.get("DFA_PROGRESS", "1") == "0"
    mininterval = 0.5 if sys.stderr.isatty() else 10.0
    return tqdm(iterable, disable=disable, mininterval=mininterval, dynamic_ncols=True, **kwargs)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file so readers never see half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All records of a ``metrics.jsonl`` file (empty if it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, float):
        return round(value, 6)  # deterministic text; far below any reported precision
    return value
