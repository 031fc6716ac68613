"""Recsys sections of the report: the data each run read, the hyper-parameter selection, learning curves.

Called by :mod:`common.report` as ``sections(ctx)``; everything comes from the runs' ``final.json`` and
``metrics.jsonl`` files.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common.report import DomainContext
from common.run import read_jsonl


def sections(ctx: DomainContext) -> list[str]:
    if not ctx.finals:
        return []
    return [data_table(ctx.finals), selection_table(ctx.finals), *curves(ctx)]


def data_table(finals: list[dict[str, Any]]) -> str:
    """One row per dataset read: size, malformed lines by reason, splits, vocabulary, Bayes-optimal AUC."""
    by_data: dict[str, dict[str, Any]] = {}
    for final in finals:
        by_data.setdefault(json.dumps(final["dataset"], sort_keys=True), final)
    lines = [
        "#### Data read by the runs",
        "",
        "Malformed lines are skipped and counted by reason (wrong field count, label, integer, categorical). "
        "The Bayes-optimal AUC (generated data only) is that of the hidden click model's true probabilities.",
        "",
        "| data | lines read | rows kept | malformed (field count / label / integer / categorical) "
        "| train / val / test rows | positive rate (train) | vocabulary (39 fields) | Bayes-optimal AUC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for final in by_data.values():
        d = final["dataset"]
        bad = " / ".join(str(d["malformed"][k]) for k in ("field_count", "label", "integer", "categorical"))
        splits = " / ".join(f"{d['splits'][s]['rows']:,}" for s in ("train", "val", "test"))
        bayes = f"{d['generator']['bayes_auc']:.4f}" if d.get("generator") else "—"
        data = final["data"]  # a DataSource dict (older runs: "name: counts")
        name = f"{data['name']} (sha256 {data['sha256']})" if isinstance(data, dict) else data.split(":")[0]
        lines.append(
            f"| {name} | {d['lines']:,} | {d['rows']:,} | {bad} | {splits} | "
            f"{d['splits']['train']['positive_rate']:.4f} | {sum(d['field_dims']):,} | {bayes} |"
        )
    return "\n".join(lines) + "\n"


def selection_table(finals: list[dict[str, Any]]) -> str:
    """The grid of every run with each point's best validation AUC; the selected point in bold."""
    lines = [
        "#### Hyper-parameter selection (validation AUC only; each method has its own grid)",
        "",
        "| experiment | model | method | seed | lr × dropout: best validation AUC (epoch) | selected |",
        "|---|---|---|---|---|---|",
    ]
    for final in sorted(finals, key=lambda f: (f["experiment"], f["method"], f["seed"])):
        chosen = final["selected"]
        cells = []
        for point in final["grid"]:
            text = f"{point['lr']:g} × {point['dropout']:g}: {point['val/auc']:.4f} ({point['best_epoch']})"
            is_chosen = point["lr"] == chosen["lr"] and point["dropout"] == chosen["dropout"]
            cells.append(f"**{text}**" if is_chosen else text)
        selected = f"lr {chosen['lr']:g}, dropout {chosen['dropout']:g}, epoch {chosen['epoch']}"
        row = (final["experiment"], architecture(final["model"]), final["method"], final["seed"], "; ".join(cells))
        lines.append("| " + " | ".join(str(c) for c in row) + f" | {selected} |")
    return "\n".join(lines) + "\n"


def architecture(model: dict[str, Any]) -> str:
    """A short description of a model's size, e.g. ``emb 10, MLP 400×3``."""
    mlp = model["mlp_dims"]
    parts = [f"emb {model['embed_dim']}"]
    if model["name"] == "dcn":
        parts.append(f"{model['cross_layers']} cross")
    if model["name"] == "afn":
        parts.append(f"LNN {model['lnn_dim']}")
    if model["name"] != "fm":
        parts.append(f"MLP {mlp[0]}×{len(mlp)}" if len(set(mlp)) == 1 else f"MLP {'-'.join(map(str, mlp))}")
    return ", ".join(parts)


def selected_records(ctx: DomainContext) -> dict[str, dict[str, list[list[dict[str, Any]]]]]:
    """experiment → method → one list of metrics.jsonl records per seed, at the run's selected grid point."""
    found: dict[str, dict[str, list[list[dict[str, Any]]]]] = defaultdict(lambda: defaultdict(list))
    for (experiment, method), dirs in sorted(ctx.run_dirs.items()):
        for run_dir in dirs:
            chosen = json.loads((run_dir / "final.json").read_text())["selected"]["grid"]
            records = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("grid") == chosen]
            if records:
                found[experiment][method].append(records)
    return found


def curves(ctx: DomainContext) -> list[str]:
    """Validation AUC per epoch, and DFA's alignment with BP per feedback point, at the selected grid point."""
    records = selected_records(ctx)
    parts = []
    auc = {e: {m: [(r, "val/auc") for r in runs] for m, runs in methods.items()} for e, methods in records.items()}
    caption = "Validation AUC per epoch at each run's selected learning rate and dropout"
    parts += _panels(ctx, auc, "validation AUC", "recsys_validation_auc.png", caption)
    alignment: dict[str, dict[str, list[tuple[list[dict], str]]]] = {}
    for experiment, methods in records.items():
        for method, runs in methods.items():
            keys = sorted({k for r in runs[0] for k in r if k.startswith("align/cos/p")}, key=lambda k: int(k[11:]))
            for key in keys:
                alignment.setdefault(f"{experiment} ({method})", {})[f"point {key[11:]}"] = [(r, key) for r in runs]
    caption = (
        "Cosine between the DFA signal and the BP gradient at each feedback point (training batch; mean over "
        "samples), per epoch at the selected learning rate (the paper's appendix A)"
    )
    parts += _panels(ctx, alignment, "cosine(DFA signal, BP gradient)", "recsys_alignment.png", caption)
    return parts


def _panels(ctx: DomainContext, panels: dict, ylabel: str, name: str, caption: str) -> list[str]:
    """One panel per key of ``panels``, one line per label: [(records of a seed, metric key), ...]."""
    if not panels:
        return []
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (title, lines) in zip(axes[0], sorted(panels.items()), strict=True):
        for color, (label, runs) in enumerate(sorted(lines.items())):
            for seed, (run, key) in enumerate(runs):
                points = [(r["epoch"], r[key]) for r in run if r.get(key) is not None]
                ax.plot(*zip(*points, strict=True), marker="o", color=f"C{color}", label=None if seed else label)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(ctx.fig_dir) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return [f"![{caption}]({ctx.rel(out)})\n\n*{caption}.*\n"]
