# The whole reproduction: `snakemake --profile profiles/local --config profile=default` (see config/config.yaml),
# on a SLURM cluster `snakemake --profile profiles/slurm --config profile=paper`. One domain alone:
# `snakemake --profile profiles/local vision` (or graphs, recsys, nerf, nlp, hardware).
#
# `snakemake --lint` leaves one kind of warning, on purpose: "Specify a conda environment or container for
# each rule". Every rule runs the one environment made from requirements.lock (the interpreter that runs
# Snakemake, see workflow/rules/common.smk); environment.yml installs that lock with `pip -r`, a relative
# path that Snakemake's copy of an environment file (under .snakemake/conda) could not resolve.
from pathlib import Path


configfile: str(Path(workflow.basedir) / "config" / "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"  # functions only, then the rules, the report last
include: "workflow/rules/inputs.smk"


for _rules in sorted(Path(workflow.basedir, "workflow", "rules").glob("*.smk")):
    if _rules.name not in ("common.smk", "inputs.smk", "report.smk"):

        include: str(_rules)


include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        REPORT,
        REPORT_HTML,
