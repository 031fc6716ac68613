# Training: one generic rule for every run (`python -m <domain>.train`), and for the domains whose profile
# sets `batch_seeds` one rule per domain whose jobs train all seeds of an experiment × method in one process.
#
# Each job declares what it needs (config.yaml `resources`, see workflow/rules/common.smk): runtime,
# mem_mb, cpus_per_task and gpu. A job with gpu=N > 1 starts through torchrun, one process per GPU. Inside a
# SLURM job the run leaves with a checkpoint shortly before its runtime is up (exit status 75) and
# `retries` (profiles/slurm) resubmits it; the new job resumes from the checkpoint.
BATCHED = batched_domains()
TRAIN_INPUTS = {  # what a run reads: its config (and bases), the code it executes, its domain's prepared inputs
    "config": str(ROOT / "{domain}" / "configs" / "{exp}.yaml"),
    "bases": lambda w: config_inputs(w)[1:],
    "code": lambda w: code_files(w.domain),
    "extra": lambda w: DOMAIN_INPUTS.get(w.domain, lambda w: [])(w),
}
TRAIN_PARAMS = {  # params are rerun triggers: a changed value reruns the job, a changed resource does not
    "launch": lambda w: launcher(w.domain),
    "profile": PROFILE,  # recorded in final.json
    "overrides": run_overrides,
}
TRAIN_COMMAND = (  # `{params.which}`: `seed=K` (one run) or `--seeds K,K,...` (a batched job)
    "{params.launch} --config {input.config} --out {params.out} --profile {params.profile} --threads {threads} "
    "${{SLURM_JOB_ID:+--time-limit {resources.run_minutes}}} {params.which} feedback.kind={wildcards.method} "
    "{params.overrides} 2> >(tee {log} >&2)"
)


wildcard_constraints:
    domain="|".join(DOMAINS),
    seed=r"\d+",
    method=r"[a-z_]+",
    exp=r"[A-Za-z0-9_\-]+",


rule train:
    """One run: python -m <domain>.train with the profile's overrides."""
    wildcard_constraints:
        domain="|".join(d for d in DOMAINS if d not in BATCHED) or "(?!)",
    input:
        **TRAIN_INPUTS,
    output:
        f"{RESULTS}/{{domain}}/{{exp}}/{{method}}/seed{{seed}}/final.json",
    params:
        **TRAIN_PARAMS,
        out=lambda w, output: str(Path(output[0]).parent),
        which=lambda w: f"seed={w.seed}",
    threads: lambda w: domain_threads(w.domain)  # per process; cpus_per_task counts every process
    resources:
        **train_resources(seeds=1),
    log:
        f"{RESULTS}/{{domain}}/{{exp}}/{{method}}/seed{{seed}}/train.log",
    shell:
        TRAIN_COMMAND


for _domain in BATCHED:
    _seeds = [str(seed) for seed in domain_cfg(_domain).get("seeds", [0])]

    rule:
        """All seeds of one experiment × method, one after another in one process."""
        name:
            f"train_{_domain}"
        wildcard_constraints:
            domain=_domain,
        input:
            **TRAIN_INPUTS,
        output:
            [f"{RESULTS}/{{domain}}/{{exp}}/{{method}}/seed{seed}/final.json" for seed in _seeds],
        params:
            **TRAIN_PARAMS,
            out=lambda w, output: Path(output[0]).parent.parent,  # DIR of DIR/seed<K>
            which=f"--seeds {','.join(_seeds)}",
        threads: lambda w: domain_threads(w.domain)
        resources:
            **train_resources(seeds=len(_seeds)),  # the seeds share the job's time
        log:
            f"{RESULTS}/{{domain}}/{{exp}}/{{method}}/train.log",
        shell:
            TRAIN_COMMAND
