# The report: every domain's runs and claims -> results/REPORT.md (cheap; re-run freely).


rule report:
    input:
        [run for domain in DOMAINS for run in runs(domain)],
        REPORT_INPUTS,
        claims=[str(p) for p in sorted(ROOT.glob("*/claims.yaml"))],
        code=[str(ROOT / "common" / f"{name}.py") for name in ("report", "claims", "figures")],
        config=str(ROOT / "config" / "config.yaml"),
    output:
        REPORT,
    shell:
        "PYTHONPATH={ROOT} {PYTHON} -m common.report --profile {PROFILE} --results {RESULTS} --config {input.config}"
