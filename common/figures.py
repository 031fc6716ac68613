"""Figures of the report, drawn from the runs' ``metrics.jsonl`` files (never from typed numbers).

* :func:`learning_curves` — one metric against the step, one line per method (mean over seeds, band
  = min..max over seeds).
* :func:`alignment_curves` — ``align/cos/p{l}`` (and the weight-update angle) against the step, one line
  per feedback point.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from common.run import read_jsonl

_POINT = re.compile(r"^align/(cos|angle)/p(\d+)$")


def _series(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [(r["step"], r[key]) for r in records if r.get(key) is not None]
    if not rows:
        return np.array([]), np.array([])
    steps, values = zip(*rows, strict=True)
    return np.asarray(steps, dtype=float), np.asarray(values, dtype=float)


def _mean_band(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    """Align seeds on their common steps; return steps, mean, min, max."""
    length = min(len(s) for s, _ in curves)
    steps = curves[0][0][:length]
    stack = np.stack([v[:length] for _, v in curves])
    return steps, stack.mean(0), stack.min(0), stack.max(0)


def learning_curves(run_dirs: dict[str, list[Path]], metric: str, title: str, out: Path) -> Path | None:
    """Plot ``metric`` per method; ``run_dirs`` maps a method to its seeds' run folders."""
    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = False
    for method, dirs in sorted(run_dirs.items()):
        curves = [c for c in (_series(read_jsonl(d / "metrics.jsonl"), metric) for d in dirs) if len(c[0])]
        if not curves:
            continue
        steps, mean, low, high = _mean_band(curves)
        (line,) = ax.plot(steps, mean, label=f"{method} (n={len(curves)})")
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
        drawn = True
    return _save(fig, ax, drawn, title, "step", metric, out)


def alignment_curves(dirs: list[Path], title: str, out: Path) -> Path | None:
    """Plot per-point cosine alignment (left) and weight-update angle (right), mean over seeds."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    by_key: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for d in dirs:
        records = read_jsonl(d / "metrics.jsonl")
        keys = {k for r in records for k in r if _POINT.match(k)}
        for key in keys:
            by_key[key].append(_series(records, key))
    for key in sorted(by_key, key=lambda k: (k.split("/")[1], int(_POINT.match(k).group(2)))):
        kind, point = _POINT.match(key).groups()
        steps, mean, _, _ = _mean_band(by_key[key])
        axes[0 if kind == "cos" else 1].plot(steps, mean, label=f"point {point}")
    axes[0].set_ylabel("cosine(DFA signal, BP gradient)")
    axes[1].set_ylabel("angle(DFA update, BP update) [deg]")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, None, bool(by_key), None, None, None, out)


def _save(fig, ax, drawn: bool, title, xlabel, ylabel, out: Path) -> Path | None:
    if not drawn:
        plt.close(fig)
        return None
    if ax is not None:
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
