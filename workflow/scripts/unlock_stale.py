"""Clear Snakemake's lock on a working directory when no Snakemake is working there any more.

    python workflow/scripts/unlock_stale.py [--directory DIR] [--snakefile FILE]   # `make reproduce` runs it first

Snakemake locks the files a run reads and writes (``DIR/.snakemake/locks/``) and removes the lock when it
ends. A Snakemake that is killed (``kill -9``, a closed terminal, the out-of-memory killer) leaves the lock
behind, and the next run refuses to start ("Directory cannot be locked"). This clears the lock with
``snakemake --unlock`` only when no Snakemake process works in ``DIR``, that is, none has ``DIR`` as its
``--directory``/``-d`` argument or, without one, as its working directory. Otherwise it names the process
and prints the exact command to run once that process has ended. A process whose working directory cannot
be read counts as working in ``DIR``: an unsure answer never removes a live run's lock.

Exit status: 0 when ``DIR`` is not locked (any more), 1 when a Snakemake process holds it or the unlock failed.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SnakemakeProcess:
    """A running Snakemake: its pid, command line and working directory (None: not readable)."""

    pid: int
    cmdline: tuple[str, ...]
    workdir: Path | None


def locks(directory: Path) -> list[Path]:
    """The lock files Snakemake keeps for ``directory`` (none when it is not locked)."""
    folder = directory / ".snakemake" / "locks"
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def is_snakemake(cmdline: list[str] | tuple[str, ...]) -> bool:
    """``snakemake ...``, ``python .../bin/snakemake ...`` or ``python -m snakemake ...``."""
    head = list(cmdline[:3])
    return any(Path(arg).name == "snakemake" for arg in head) or ("-m", "snakemake") in pairwise(head)


def workdir_of(cmdline: list[str] | tuple[str, ...], cwd: Path | None) -> Path | None:
    """Where a Snakemake command works: its ``--directory``/``-d`` (relative to its cwd), else its cwd."""
    for i, arg in enumerate(cmdline):
        value = None
        if arg in ("--directory", "-d") and i + 1 < len(cmdline):
            value = cmdline[i + 1]
        elif arg.startswith("--directory="):
            value = arg.split("=", 1)[1]
        if value is not None:
            path = Path(value)
            if path.is_absolute():
                return path.resolve()
            return (cwd / path).resolve() if cwd is not None else None
    return cwd.resolve() if cwd is not None else None


def snakemake_processes() -> list[SnakemakeProcess]:
    """Every running Snakemake but this process and its ancestors (make, a shell)."""
    own = {psutil.Process().pid, *(p.pid for p in psutil.Process().parents())}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["pid"] in own or not is_snakemake(cmdline):
            continue
        try:
            cwd = Path(proc.cwd())
        except (psutil.AccessDenied, psutil.ZombieProcess):
            cwd = None
        except psutil.NoSuchProcess:
            continue
        found.append(SnakemakeProcess(proc.info["pid"], tuple(cmdline), workdir_of(cmdline, cwd)))
    return found


def holders(directory: Path) -> list[SnakemakeProcess]:
    """The Snakemake processes that work in ``directory``, or might (working directory unreadable)."""
    directory = directory.resolve()
    return [p for p in snakemake_processes() if p.workdir is None or p.workdir == directory]


def unlock_command(directory: Path, snakefile: Path) -> list[str]:
    """``snakemake --unlock`` for this directory, with the Snakemake of this environment."""
    snakemake = Path(sys.executable).with_name("snakemake")
    launcher = [str(snakemake)] if snakemake.exists() else [sys.executable, "-m", "snakemake"]
    return [*launcher, "--unlock", "--snakefile", str(snakefile), "--directory", str(directory), "--cores", "1"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", type=Path, default=Path.cwd(), help="Snakemake's working directory")
    parser.add_argument("--snakefile", type=Path, default=ROOT / "Snakefile")
    args = parser.parse_args(argv)
    directory = args.directory.resolve()
    if not locks(directory):
        return 0
    command = shlex.join(unlock_command(directory, args.snakefile.resolve()))
    if running := holders(directory):
        for proc in running:
            where = "in this directory" if proc.workdir else "in a directory it does not let us read"
            print(f"Snakemake (pid {proc.pid}) is running {where}: {shlex.join(proc.cmdline)}", file=sys.stderr)
        pids = " ".join(str(p.pid) for p in running)
        print(
            f"{directory} is locked by the run above. Let it finish, or stop it (kill {pids}) and then run:\n"
            f"  {command}",
            file=sys.stderr,
        )
        return 1
    print(f"{directory}: no Snakemake is running here; clearing the lock it left behind.", file=sys.stderr)
    done = subprocess.run(shlex.split(command), capture_output=True, text=True)
    if done.returncode != 0 or locks(directory):
        print(done.stdout + done.stderr, file=sys.stderr)
        print(f"error: could not clear the lock; run: {command}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
