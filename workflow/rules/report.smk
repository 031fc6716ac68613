# The report: every domain's runs and claims -> results/REPORT.md (cheap; re-run freely).


rule report:
    input:
        [run for domain in DOMAINS for run in runs(domain)],
        REPORT_INPUTS,
        claims=[f"{d}/claims.yaml" for d in DOMAINS if Path(d, "claims.yaml").exists()],
        code=["common/report.py", "common/claims.py", "common/figures.py"],
        config="config/config.yaml",
    output:
        REPORT,
    shell:
        "{PYTHON} -m common.report --profile {PROFILE} --results {RESULTS}"
