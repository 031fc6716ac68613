# The report: every domain's runs and claims -> results/REPORT.md with its figures in results/figures, and
# the same as one self-contained page, results/REPORT.html (cheap; re-run freely). Both are marked for
# Snakemake's own report: `snakemake --report report.html --config profile=<name>` after a run.
REPORT_HTML = f"{RESULTS}/REPORT.html"


localrules:
    report,
    report_html,  # seconds each: on a cluster, not worth a place in the queue


rule report:
    input:
        [run for domain in DOMAINS for run in runs(domain)],
        REPORT_INPUTS,
        claims=[str(p) for p in sorted(ROOT.glob("*/claims.yaml"))],
        code=[str(ROOT / "common" / f"{name}.py") for name in ("report", "claims", "figures")],
        config=str(ROOT / "config" / "config.yaml"),
    output:
        md=REPORT,
        figures=report(
            directory(f"{RESULTS}/figures"),
            patterns=["{name}.png", "{name}.gif"],
            caption="../report/figures.rst",
            category="Figures",
            labels={"figure": "{name}"},
        ),
    params:
        profile=PROFILE,
        results=lambda w, output: Path(output.md).parent,
    threads: 1
    resources:
        **scheduler_resources(None, "report", job_threads),
    log:
        f"{RESULTS}/report.log",
    shell:
        "mkdir -p {output.figures} && python -m common.report --profile {params.profile} --results {params.results} "
        "--config {input.config} 2> >(tee {log} >&2)"


rule report_html:
    """REPORT.md as one page with its tables and figures inlined."""
    input:
        md=rules.report.output.md,
        figures=rules.report.output.figures,
        code=str(ROOT / "workflow" / "scripts" / "report_html.py"),
    output:
        report(REPORT_HTML, caption="../report/tables.rst", category="Report", labels={"page": "REPORT.md"}),
    threads: 1
    resources:
        **scheduler_resources(None, "report", job_threads),
    log:
        f"{RESULTS}/report_html.log",
    shell:
        "python {input.code} {input.md} {output} 2> >(tee {log} >&2)"
