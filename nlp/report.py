"""NLP's extra report sections: Table 5 in the paper's layout with perplexity ratios to BP (comparable across
corpora and scales, unlike perplexities), the baseline column's learning curves on one plot, and the training
throughput each run measured."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from common import figures
from common.datasets import datasets
from common.report import DomainContext
from common.run import read_jsonl

# (row, column, experiment suffix, method, paper perplexity on WikiText-103); the paper's shallow: "> 400".
TABLE5 = [
    ("BP", "baseline (Noam, β2 0.98)", "", "bp", 34.4),
    ("BP", "+ β2 0.999", "_beta999", "bp", 29.8),
    ("DFA macro", "baseline (Noam, β2 0.98)", "", "dfa", 95.0),
    ("DFA macro", "+ Adam (lr 5e-5)", "_adam", "dfa", 77.1),
    ("DFA macro", "+ β2 0.999", "_beta999", "dfa", 55.0),
    ("DFA macro", "+ LR schedule", "_plateau", "dfa", 52.0),
    ("DFA micro", "baseline (Noam, β2 0.98)", "_micro", "dfa", 182.0),
    ("DFA micro", "+ Adam (lr 5e-5)", "_micro_adam", "dfa", 166.0),
    ("DFA micro", "+ β2 0.999", "_micro_beta999", "dfa", 99.9),
    ("DFA micro", "+ LR schedule", "_micro_plateau", "dfa", 93.3),
    ("shallow", "baseline (Noam, β2 0.98)", "", "shallow", None),
]
BASELINE = [("BP", "", "bp"), ("DFA macro", "", "dfa"), ("DFA micro", "_micro", "dfa"), ("shallow", "", "shallow")]


def sections(ctx: DomainContext) -> list[str]:
    parts = []
    for corpus, name in ((d.key, d.title) for d in datasets("nlp").values()):
        if any(e.startswith(f"transformer_{corpus}") for e, _ in ctx.run_dirs):
            parts.append(side_by_side(ctx, corpus, name))
            parts.append(baseline_curves(ctx, corpus, name))
    if ctx.run_dirs:
        parts.append(throughput(ctx))
    return [p for p in parts if p]


def _ppl(ctx: DomainContext, experiment: str, method: str) -> float | None:
    dirs = ctx.run_dirs.get((experiment, method), [])
    finals = [json.loads((d / "final.json").read_text()) for d in dirs]
    if any(f.get("diverged") for f in finals):
        return None  # a diverged seed: no perplexity to show
    values = [f["metrics"]["val/ppl"] for f in finals]
    return statistics.fmean(values) if values else None


def side_by_side(ctx: DomainContext, corpus: str, name: str) -> str:
    """Every Table 5 cell: the paper's perplexity and ratio to its BP baseline beside ours."""
    ours_bp = _ppl(ctx, f"transformer_{corpus}", "bp")
    lines = [
        f"#### Table 5 layout: the paper (WikiText-103) beside ours ({name}), as perplexity and ratio to BP",
        "",
        "Perplexities of different corpora, tokenizers and budgets are not comparable; the ratio to the BP "
        "baseline of the same corpus and budget is the gap the paper's claims are about.",
        "",
        "| method | optimizer setting | paper ppl | paper ÷ BP | ours ppl | ours ÷ BP |",
        "|---|---|---|---|---|---|",
    ]
    for row, column, suffix, method, paper in TABLE5:
        ours = _ppl(ctx, f"transformer_{corpus}{suffix}", method)
        paper_txt = "> 400" if paper is None else f"{paper:.1f}"
        paper_ratio = "> 11.6" if paper is None else f"{paper / 34.4:.2f}"
        ours_txt = "—" if ours is None else f"{ours:.1f}"
        ratio = "—" if ours is None or ours_bp is None else f"{ours / ours_bp:.2f}"
        lines.append(f"| {row} | {column} | {paper_txt} | {paper_ratio} | {ours_txt} | {ratio} |")
    return "\n".join(lines) + "\n"


def baseline_curves(ctx: DomainContext, corpus: str, name: str) -> str:
    """Validation perplexity of BP, DFA macro, DFA micro and shallow (Noam baseline) on one plot."""
    runs = {
        label: ctx.run_dirs[(f"transformer_{corpus}{suffix}", method)]
        for label, suffix, method in BASELINE
        if (f"transformer_{corpus}{suffix}", method) in ctx.run_dirs
    }
    out = ctx.fig_dir / f"nlp_{corpus}_baseline_curves.png"
    title = f"{name}, Noam baseline: validation perplexity"
    made = figures.learning_curves(runs, "val/ppl", title, out) if runs else None
    if made is None:
        return ""
    caption = f"{name}: validation perplexity per BPE token against the step, BP, DFA macro, DFA micro and shallow"
    return f"![{caption}]({ctx.rel(made)})\n\n*{caption}.*\n"


def throughput(ctx: DomainContext) -> str:
    """Training tokens/s each run logged (mean over its evaluations; wall clock of the machine that ran it)."""
    lines = ["#### Training throughput", "", "| experiment | method | tokens/s (mean over evaluations) |"]
    lines.append("|---|---|---|")
    for (experiment, method), dirs in sorted(ctx.run_dirs.items()):
        rates = [r["train/tokens_per_s"] for d in dirs for r in read_jsonl(Path(d) / "metrics.jsonl")]
        if rates:
            lines.append(f"| {experiment} | {method} | {statistics.fmean(rates):,.0f} |")
    lines += ["", "*Wall-clock rates of the machine that ran the profile (shared or loaded machines run slower).*"]
    return "\n".join(lines) + "\n"
