"""Vision's extra report sections: BioTorch's table in its own layout (ours beside BioTorch's), and per layer of each
convolutional experiment, the numbers that explain the verdicts: for the FA family the ratio of feedback to
forward weight norms |B| / |W| and the angle between B and W (BioTorch's figures), for DFA the angle between its
weight updates and BP's and the cosine of its signals with BP's gradients (common.alignment), at the last
measurement, mean over seeds. Every number comes from the runs; BioTorch's from ``vision/claims.yaml``.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common.claims import load_claims
from common.paths import ROOT
from common.report import DomainContext
from common.run import read_jsonl

METHODS = ("bp", "fa", "usf", "brsf", "frsf", "dfa", "shallow")
FA_FAMILY = ("fa", "usf", "brsf", "frsf")
TABLES = ("biotorch_mnist", "biotorch_fmnist", "biotorch_cifar10")
_LAYER = re.compile(r"^(fa/ratio|fa/angle|align/angle|align/cos)/[lp](\d+)$")


def sections(ctx: DomainContext) -> list[str]:
    columns = _columns()
    parts = [biotorch_layout(ctx, columns)]
    for experiment, title in columns:
        if any(e == experiment for e, _ in ctx.run_dirs):
            parts.append(per_layer(ctx, experiment, title))
    return [p for p in parts if p]


def _columns() -> list[tuple[str, str]]:
    """(experiment, column title) of BioTorch's tables, in their order."""
    claims = load_claims(ROOT / "vision" / "claims.yaml")
    seen: dict[str, str] = {}
    for table in claims["tables"]:
        if table["id"] in TABLES:
            for cell in table["cells"]:
                seen.setdefault(cell["experiment"], str(cell["row"]))
    return list(seen.items())


def _paper() -> dict[tuple[str, str], float]:
    claims = load_claims(ROOT / "vision" / "claims.yaml")
    return {
        (cell["experiment"], cell["method"]): cell["paper"]
        for table in claims["tables"]
        if table["id"] in TABLES
        for cell in table["cells"]
        if cell.get("paper") is not None
    }


def biotorch_layout(ctx: DomainContext, columns: list[tuple[str, str]]) -> str:
    """Methods × experiments, 'ours (BioTorch)' in each cell: test error (%) of the best-validation model."""
    errors: dict[tuple[str, str], list[float]] = defaultdict(list)
    for final in ctx.finals:
        if not final.get("diverged") and "test/err" in final.get("metrics", {}):
            errors[(final["experiment"], final["method"])].append(final["metrics"]["test/err"])
    shown = [(e, t) for e, t in columns if any((e, m) in errors for m in METHODS)]
    if not shown:
        return ""
    paper = _paper()
    lines = [
        "#### BioTorch's benchmark in its layout: test error (%), ours mean over seeds (BioTorch)",
        "",
        f"*Profile `{ctx.profile}`: budgets in the scale lines above; BioTorch trains 100 (MNIST) or 250 (CIFAR-10) "
        "epochs. A diverged run counts as none.*",
        "",
        "| method | " + " | ".join(t for _, t in shown) + " |",
        "|---|" + "---|" * len(shown),
    ]
    for method in METHODS:
        cells = []
        for experiment, _ in shown:
            ours = errors.get((experiment, method))
            text = f"{statistics.fmean(ours):.2f}" if ours else "—"
            if (experiment, method) in paper:
                text += f" ({paper[(experiment, method)]:.2f})"
            cells.append(text)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _last_layer_stats(dirs: list[Path]) -> dict[str, float]:
    """Mean over seeds of each per-layer key at its last measurement."""
    values: dict[str, list[float]] = defaultdict(list)
    for run_dir in dirs:
        last: dict[str, float] = {}
        for record in read_jsonl(run_dir / "metrics.jsonl"):
            last |= {k: v for k, v in record.items() if _LAYER.match(k) and v is not None}
        for key, value in last.items():
            values[key].append(value)
    return {key: statistics.fmean(v) for key, v in values.items()}


def per_layer(ctx: DomainContext, experiment: str, title: str) -> str:
    """A figure and a table: per layer, |B| / |W| and angle(B, W) for the FA family; per point, DFA's update angle
    and signal cosine with BP."""
    stats = {m: _last_layer_stats(ctx.run_dirs.get((experiment, m), [])) for m in METHODS}
    stats = {m: s for m, s in stats.items() if s}
    if not stats:
        return ""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    panels = [
        (axes[0], "fa/ratio", FA_FAMILY, "‖B‖ / ‖W‖ (feedback / forward weight norm)", "layer"),
        (axes[1], "fa/angle", FA_FAMILY, "angle(B, W) [deg]", "layer"),
        (axes[2], "align/angle", ("dfa",), "DFA: angle(DFA update, BP update) [deg]", "feedback point"),
    ]
    rows = []
    for ax, prefix, methods, ylabel, xlabel in panels:
        for method in methods:
            series = _series(stats.get(method, {}), prefix)
            if series:
                ax.plot(range(len(series)), series, marker="o", label=method)
                rows.append((method, ylabel, series))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    cosines = _series(stats.get("dfa", {}), "align/cos")
    if cosines:
        rows.append(("dfa", "DFA: cosine(signal, BP gradient)", cosines))
    fig.suptitle(f"{title}: per layer, at the last measurement (mean over seeds)")
    fig.tight_layout()
    out = ctx.fig_dir / f"vision_{experiment}_per_layer.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    width = max(len(s) for _, _, s in rows)
    lines = [
        f"#### {title}: feedback per layer (first layer first; conv layers, then the fully connected ones)",
        "",
        f"![{title}: per-layer feedback]({ctx.rel(out)})",
        "",
        "| method | quantity | " + " | ".join(str(i) for i in range(width)) + " |",
        "|---|---|" + "---|" * width,
    ]
    for method, quantity, series in rows:
        cells = [f"{v:.2f}" for v in series] + [""] * (width - len(series))
        lines.append(f"| {method} | {quantity} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _series(stats: dict[str, float], prefix: str) -> list[float]:
    keyed = {int(m.group(2)): v for k, v in stats.items() if (m := _LAYER.match(k)) and m.group(1) == prefix}
    return [keyed[i] for i in sorted(keyed)]
