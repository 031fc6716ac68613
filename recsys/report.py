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
        name = final["data"].split(":")[0]
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


def curves(ctx: DomainContext) -> list[str]:
    """Validation AUC per epoch of each run's selected grid point (one panel per experiment)."""
    series: dict[str, dict[str, list[tuple[list[int], list[float]]]]] = defaultdict(lambda: defaultdict(list))
    for (experiment, method), dirs in sorted(ctx.run_dirs.items()):
        for run_dir in dirs:
            final = json.loads((run_dir / "final.json").read_text())
            records = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("grid") == final["selected"]["grid"]]
            if records:
                series[experiment][method].append(([r["epoch"] for r in records], [r["val/auc"] for r in records]))
    if not series:
        return []
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.6), squeeze=False)
    for ax, (experiment, methods) in zip(axes[0], sorted(series.items()), strict=True):
        for method, runs in sorted(methods.items()):
            for i, (epochs, aucs) in enumerate(runs):
                ax.plot(
                    epochs, aucs, marker="o", color=f"C{sorted(methods).index(method)}", label=None if i else method
                )
        ax.set_title(experiment)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation AUC")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(ctx.fig_dir) / "recsys_validation_auc.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    caption = "Validation AUC per epoch at each run's selected learning rate and dropout"
    return [f"![{caption}]({ctx.rel(out)})\n\n*{caption}.*\n"]
