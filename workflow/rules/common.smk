# Shared pieces of the workflow: the profile's run matrix and the one generic training rule.
# A domain's .smk adds its target rule (e.g. `rule vision`) and, if its runs need prepared inputs,
# a function in DOMAIN_INPUTS (e.g. a tokenizer or preprocessed arrays).
import shlex
import sys
from pathlib import Path

PYTHON = sys.executable
ROOT = Path(workflow.basedir)  # the repository; runs may write elsewhere (snakemake --directory DIR)
PROFILE = config["profile"]
RESULTS = config.get("results", "results")
REPORT = f"{RESULTS}/REPORT.md"
DOMAINS = ("vision", "graphs", "recsys", "nerf", "nlp")
if PROFILE not in config["profiles"]:
    raise ValueError(f"unknown profile '{PROFILE}'; config/config.yaml defines {list(config['profiles'])}")
DOMAIN_INPUTS = {}  # domain -> function(wildcards) -> list of files a run needs besides its config
REPORT_INPUTS = []  # files besides the runs' final.json that the report reads (e.g. hardware sweeps)


def domain_cfg(domain):
    """The profile's section for a domain ({} when the profile does not run it)."""
    return config["profiles"][PROFILE].get(domain) or {}


def experiment_cfg(domain, exp):
    return domain_cfg(domain)["experiments"][exp] or {}


def runs(domain):
    """Every final.json the profile asks of a domain."""
    section = domain_cfg(domain)
    return [
        f"{RESULTS}/{domain}/{exp}/{method}/seed{seed}/final.json"
        for exp, spec in section.get("experiments", {}).items()
        for method in spec["methods"]
        for seed in spec.get("seeds", section.get("seeds", [0]))
    ]


def run_overrides(wildcards):
    """Profile-wide, then experiment-specific, then method-specific config overrides of one run."""
    section = domain_cfg(wildcards.domain)
    spec = experiment_cfg(wildcards.domain, wildcards.exp)
    by_method = spec.get("method_overrides", {}).get(wildcards.method, [])
    overrides = [*section.get("overrides", []), *spec.get("overrides", []), *by_method]
    return " ".join(shlex.quote(item) for item in overrides)  # list values like x=[1, 2] stay one argument


def code_inputs(wildcards):
    """The code a run executes: a change to it re-runs the experiment (report-only code excluded)."""
    files = [str(p) for p in (ROOT / wildcards.domain).glob("*.py") if p.name != "report.py"]
    core = ["config", "feedback", "projectors", "fa", "alignment", "run", "seeding", "metrics", "paths"]
    files += [str(ROOT / "common" / f"{name}.py") for name in core]
    if wildcards.method == "optical":  # the emulator is part of an optical run
        files += [str(ROOT / "hardware" / f"{name}.py") for name in ("config", "medium", "camera", "optical")]
    return sorted(files)


wildcard_constraints:
    domain="|".join(DOMAINS),
    seed=r"\d+",
    method=r"[a-z_]+",
    exp=r"[A-Za-z0-9_\-]+",


def batched_domains():
    """Domains whose profile section sets `batch_seeds`: each experiment × method is one job over the
    domain's seeds (an experiment may then not name seeds of its own)."""
    batched = []
    for domain in DOMAINS:
        section = domain_cfg(domain)
        if section.get("batch_seeds"):
            own = [exp for exp, spec in section.get("experiments", {}).items() if spec and "seeds" in spec]
            if own:
                raise ValueError(f"profile '{PROFILE}', {domain}: batch_seeds uses the domain's seeds, but {own} set their own")
            batched.append(domain)
    return batched


BATCHED = batched_domains()
TRAIN_INPUTS = {  # what a run reads: its config, the code it executes, and its domain's prepared inputs
    "config": str(ROOT / "{domain}" / "configs" / "{exp}.yaml"),
    "code": code_inputs,
    "extra": lambda w: DOMAIN_INPUTS.get(w.domain, lambda w: [])(w),
}


def train_command(which_runs):
    """`python -m <domain>.train` for one job; `which_runs` is `seed=K` (one run) or `--seeds K,K,...`."""
    return (
        "PYTHONPATH={ROOT} {PYTHON} -m {wildcards.domain}.train --config {input.config} --out {params.out} "
        f"--profile {{PROFILE}} --threads {{threads}} {which_runs} feedback.kind={{wildcards.method}} "
        "{params.overrides} 2> >(tee {log} >&2)"
    )


rule train:
    """One run: python -m <domain>.train with the profile's overrides."""
    wildcard_constraints:
        domain="|".join(d for d in DOMAINS if d not in BATCHED) or "(?!)",
    input:
        **TRAIN_INPUTS,
    output:
        f"{RESULTS}/{{domain}}/{{exp}}/{{method}}/seed{{seed}}/final.json",
    params:
        overrides=run_overrides,
        out=lambda w, output: str(Path(output[0]).parent),
    threads: lambda w: domain_cfg(w.domain).get("threads", 1)
    log:
        f"{RESULTS}/{{domain}}/{{exp}}/{{method}}/seed{{seed}}/train.log",
    shell:
        train_command("seed={wildcards.seed}")


for _domain in BATCHED:
    _seeds = ",".join(str(seed) for seed in domain_cfg(_domain).get("seeds", [0]))

    rule:
        """All seeds of one experiment × method, one after another in one process."""
        name:
            f"train_{_domain}"
        wildcard_constraints:
            domain=_domain,
        input:
            **TRAIN_INPUTS,
        output:
            [f"{RESULTS}/{{domain}}/{{exp}}/{{method}}/seed{seed}/final.json" for seed in _seeds.split(",")],
        params:
            overrides=run_overrides,
            out=lambda w: f"{RESULTS}/{w.domain}/{w.exp}/{w.method}",
        threads: lambda w: domain_cfg(w.domain).get("threads", 1)
        log:
            f"{RESULTS}/{{domain}}/{{exp}}/{{method}}/train.log",
        shell:
            train_command(f"--seeds {_seeds}")
