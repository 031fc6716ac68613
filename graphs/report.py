"""Extra report section of the graphs domain: Table 3 in the paper's own layout (datasets × models × methods).

Called by ``common.report`` with the domain's runs; every number comes from the runs' final.json and the
paper's from ``graphs/claims.yaml``.
"""

from __future__ import annotations

import statistics

from common.claims import load_claims
from common.datasets import datasets
from common.paths import ROOT
from common.report import DomainContext

MODELS = {"cheb": "ChebConv", "gcn": "GraphConv", "spline": "SplineConv", "gat": "GATConv", "dna": "DNAConv"}
METHODS = ("bp", "dfa", "shallow")


def sections(ctx: DomainContext) -> list[str]:
    """Markdown: one row per dataset, one column per model × method, 'ours (paper)' in each cell."""
    paper = {
        (cell["experiment"], cell["method"]): cell.get("paper")
        for table in load_claims(ROOT / "graphs" / "claims.yaml")["tables"]
        if table["id"] == "table3"
        for cell in table["cells"]
    }
    accuracy: dict[tuple[str, str], list[float]] = {}
    diverged = {(f["experiment"], f["method"]) for f in ctx.finals if f.get("diverged")}
    for final in ctx.finals:
        if "test/acc" in final["metrics"]:
            accuracy.setdefault((final["experiment"], final["method"]), []).append(100 * final["metrics"]["test/acc"])
    columns = [
        (m, k) for m in MODELS for k in METHODS if any((e, k) in accuracy.keys() | diverged for e in _experiments(m))
    ]
    if not columns:
        return []
    lines = [
        "#### Table 3 in the paper's layout: test accuracy (%), ours mean over seeds (paper)",
        "",
        "| dataset | " + " | ".join(f"{MODELS[m]} {k}" for m, k in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for dataset in datasets("graphs"):
        cells = []
        for model, method in columns:
            key = (f"{model}_{dataset}", method)
            ours = f"{statistics.fmean(accuracy[key]):.1f}" if key in accuracy else "—"
            ours = "diverged" if key in diverged else ours  # never a mean over the seeds that survived
            cells.append(ours + (f" ({paper[key]:.1f})" if paper.get(key) is not None else ""))
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return ["\n".join(lines) + "\n"]


def _experiments(model: str) -> list[str]:
    return [f"{model}_{dataset}" for dataset in datasets("graphs")]
