# The whole reproduction: `snakemake --cores 2 --config profile=default` (see config/config.yaml).
# One domain alone: `snakemake --cores 2 vision` (or graphs, recsys, nerf, nlp).
from pathlib import Path


configfile: str(Path(workflow.basedir) / "config" / "config.yaml")


include: "workflow/rules/common.smk"


for _rules in sorted(Path(workflow.basedir, "workflow", "rules").glob("*.smk")):
    if _rules.name not in ("common.smk", "report.smk"):

        include: str(_rules)


include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        REPORT,
