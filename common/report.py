"""Build ``results/REPORT.md``: every paper table and claim beside our runs, with verdicts and figures.

    python -m common.report --profile default [--results results] [--config config/config.yaml]

For each domain that has a ``claims.yaml``, it reads the ``final.json`` of the runs recorded under the
profile, renders each paper table as ``paper | ours (mean ± std, n) | Δ | verdict``, evaluates the
qualitative claims, states the scale (profile, data, budget, compute time) and draws the figures the
claims file asks for. A domain may add sections with a module ``<domain>/report.py`` defining
``sections(ctx: DomainContext) -> list[str]`` (markdown). Nothing in the report is typed by hand.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common import figures
from common.claims import CellVerdict, ClaimVerdict, Results, judge_claim, judge_table, load_claims
from common.paths import DOMAINS, ROOT
from common.provenance import data_label
from common.run import atomic_write_text, cli, read_jsonl


@dataclass
class DomainContext:
    """What a domain's report hook gets: its runs, its profile section and where figures go."""

    domain: str
    profile: str
    section: dict[str, Any]
    finals: list[dict[str, Any]]
    run_dirs: dict[tuple[str, str], list[Path]]
    fig_dir: Path
    report_dir: Path

    def rel(self, path: Path) -> str:
        """A path relative to the report, for markdown links."""
        return str(path.relative_to(self.report_dir))


def collect(results: Path, domain: str, profile: str) -> tuple[list[dict], dict[tuple[str, str], list[Path]]]:
    """The ``final.json`` records of ``domain`` written under ``profile``, and their run folders."""
    finals, dirs = [], defaultdict(list)
    for path in sorted((results / domain).glob("*/*/seed*/final.json")):
        final = json.loads(path.read_text())
        if final.get("profile") != profile:
            continue
        finals.append(final)
        dirs[(final["experiment"], final["method"])].append(path.parent)
    return finals, dirs


def render_table(title: str, cite: str, cells: list[CellVerdict]) -> str:
    lines = [
        f"#### {title}",
        f"*Paper: {cite}.*" if cite else "",
        "",
        "| row | column | paper | ours (mean ± std, n) | Δ | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for c in cells:
        paper = "—" if c.paper is None else f"{c.paper:.{c.digits}f}"
        ours = "—" if c.ours is None else c.ours.fmt(c.digits)
        delta = "—" if c.delta is None else f"{c.delta:+.{c.digits}f}"
        lines.append(f"| {c.row} | {c.column} | {paper} | {ours} | {delta} | **{c.verdict}** |")
    return "\n".join(lines) + "\n"


def render_claims(verdicts: list[ClaimVerdict]) -> str:
    lines = ["#### Claims", "", "| claim | source | verdict | evidence (ours) |", "|---|---|---|---|"]
    for v in verdicts:
        note = f"<br>*Note: {v.note}*" if v.note else ""
        lines.append(f"| {v.text} | {v.cite} | **{v.verdict}** | {v.evidence or '—'}{note} |")
    return "\n".join(lines) + "\n"


def render_scale(ctx: DomainContext) -> str:
    data = sorted({data_label(f.get("data")) for f in ctx.finals})
    budgets = sorted({json.dumps(f.get("budget", {}), sort_keys=True) for f in ctx.finals})
    seconds = sum(_run_seconds(d) for dirs in ctx.run_dirs.values() for d in dirs)
    lines = [
        f"- profile: `{ctx.profile}` ({ctx.section.get('scale', 'reduced')} scale) — {ctx.section.get('note', '')}",
        f"- runs: {len(ctx.finals)}; compute: {seconds / 60:.1f} min of training time in total",
        f"- data: {'; '.join(data) if data else '—'}",
        f"- budgets: {'; '.join(budgets) if budgets else '—'}",
    ]
    for f in sorted(ctx.finals, key=lambda f: (f.get("experiment", ""), f.get("method", ""), f.get("seed", 0))):
        for warning in f.get("warnings", []):  # what a run found wrong with itself (e.g. a collapsed render)
            lines.append(f"- **warning** ({f.get('experiment')} {f.get('method')} seed {f.get('seed')}): {warning}")
    return "\n".join(lines) + "\n"


def render_figures(claims: dict[str, Any], ctx: DomainContext) -> str:
    """Draw or copy the figures listed in ``claims['figures']``; return their markdown."""
    parts = []
    for spec in claims.get("figures", []):
        exp = spec["experiment"]
        name = f"{ctx.domain}_{exp}_{spec['kind']}_{spec.get('method', '')}{spec.get('metric', '')}"
        out = ctx.fig_dir / (name.replace("/", "-").strip("_") + ".png")
        if spec["kind"] == "curves":
            runs = {m: dirs for (e, m), dirs in ctx.run_dirs.items() if e == exp}
            title = spec.get("title", f"{exp}: {spec['metric']}")
            made = figures.learning_curves(runs, spec["metric"], title, out)
        elif spec["kind"] == "alignment":
            dirs = ctx.run_dirs.get((exp, spec["method"]), [])
            made = figures.alignment_curves(dirs, spec.get("title", f"{exp} / {spec['method']}: alignment"), out)
        else:  # an image the run wrote itself (renders, t-SNE)
            dirs = ctx.run_dirs.get((exp, spec["method"]), [])
            source = dirs[0] / spec["file"] if dirs else None
            made = None
            if source is not None and source.exists():
                made = out.with_suffix(source.suffix)
                made.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, made)
        caption = spec.get("caption", out.stem)
        parts.append(f"![{caption}]({ctx.rel(made)})\n\n*{caption}*\n" if made else f"*{caption}: no runs yet.*\n")
    return "\n".join(parts)


def planned(sections: dict[str, Any], domain: str, experiment: str, method: str) -> bool:
    """Whether the profile's run matrix includes this experiment × method."""
    spec = (sections.get(domain) or {}).get("experiments", {}).get(experiment) or {}
    return method in spec.get("methods", [])


def domain_section(
    domain: str, profile: str, sections: dict, all_finals: list[dict], results: Path, claims_root: Path
) -> str:
    """The report section of one domain (or of ``hardware``, whose claims cite other domains)."""
    claims = load_claims(claims_root / domain / "claims.yaml")
    section = sections.get(domain) or {}
    finals, run_dirs = collect(results, domain, profile)
    ctx = DomainContext(domain, profile, section, finals, dict(run_dirs), results / "figures", results)
    reduced = section.get("scale", "reduced") != "paper"
    table_results = Results(all_finals, domain)

    def missing_why(experiment: str, method: str) -> str:
        where, exp, _ = table_results.key(experiment, method)
        if planned(sections, where, exp, method):
            return "no result yet (the run failed or is pending)"
        return f"not in the '{profile}' profile"

    parts = [f"## {domain}", "", claims.get("summary", ""), "", render_scale(ctx)]
    for table in claims.get("tables", []):
        cells = judge_table(table, table_results, reduced, missing_why)
        parts.append(render_table(table["title"], table.get("cite", ""), cells))
    verdicts = [judge_claim(c, table_results, reduced, missing_why) for c in claims.get("claims", [])]
    if verdicts:
        parts.append(render_claims(verdicts))
    parts.append(render_figures(claims, ctx))
    if (claims_root / domain / "report.py").exists():
        parts += importlib.import_module(f"{domain}.report").sections(ctx)
    return "\n".join(parts)


def build(profile: str, results: Path, config_path: Path, claims_root: Path = ROOT) -> Path:
    """Write ``results/REPORT.md`` for ``profile``; ``claims_root`` holds the ``<domain>/claims.yaml`` files."""
    config = yaml.safe_load(config_path.read_text())
    if profile not in config["profiles"]:
        raise SystemExit(f"unknown profile '{profile}' (known: {', '.join(config['profiles'])})")
    sections = config["profiles"][profile]
    results.mkdir(parents=True, exist_ok=True)
    body = [
        "# Reproduction report: Direct Feedback Alignment Scales to Modern Deep Learning Tasks and Architectures",
        "",
        f"Launay, Poli, Boniface & Krzakala, NeurIPS 2020 (arXiv:2006.12878). Profile: `{profile}`. "
        "Generated by `python -m common.report` from the runs' `final.json` files and each domain's "
        "`claims.yaml`; every number below comes from a run.",
        "",
        "Verdicts: **reproduced** (paper scale, within the stated tolerance); **consistent at reduced scale** "
        "(within tolerance or claim holds, at a reduced budget or on substitute data); **not reproduced**; "
        "**not run** (with the reason).",
        "",
    ]
    all_finals = [f for domain in DOMAINS for f in collect(results, domain, profile)[0]]
    for domain in (*DOMAINS, "hardware"):
        if (claims_root / domain / "claims.yaml").exists():
            body.append(domain_section(domain, profile, sections, all_finals, results, claims_root))
    out = results / "REPORT.md"
    atomic_write_text(out, "\n".join(body))
    return out


def _run_seconds(run_dir: Path) -> float:
    records = read_jsonl(run_dir / "metrics.jsonl")
    return float(records[-1].get("time_s", 0.0)) if records else 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    args = parser.parse_args(argv)
    print(build(args.profile, args.results, args.config))


if __name__ == "__main__":
    cli(main)
