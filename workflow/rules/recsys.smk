# Recsys: CTR models on Criteo-format data, the paper's Table 2. `snakemake --cores 2 recsys`
# Each dataset (recsys/datasets/<name>.yaml) is prepared once into data/cache/recsys/<name>/ and shared by
# the runs on it: generated (recsys.generate) when its source is the generator, then preprocessed; Snakemake
# redoes neither while the dataset's YAML and code are unchanged. The real Criteo train.txt is the user's to
# provide: while it is absent, the profile's experiments on it are left out (workflow/rules/inputs.smk) and
# the report marks their cells "not run".


rule recsys_generate:
    """Criteo-format rows from the hidden click model (datasets whose source is the generator)."""
    input:
        config=str(ROOT / "recsys" / "datasets" / "{dataset}.yaml"),
        code=[str(ROOT / "recsys" / f"{name}.py") for name in ("generate", "config", "reader")],
    output:
        raw=f"{RECSYS_CACHE}/{{dataset}}/train.txt",
        info=f"{RECSYS_CACHE}/{{dataset}}/train.txt.json",
    threads: 1
    resources:
        **scheduler_resources("recsys", "prepare", job_threads),
    log:
        f"{RECSYS_CACHE}/{{dataset}}/generate.log",
    shell:
        "python -m recsys.generate --dataset {wildcards.dataset} 2> >(tee {log} >&2)"


rule recsys_preprocess:
    """Text → int32 ids and training-split vocabularies (two streaming passes, bounded memory)."""
    input:
        raw=recsys_raw,
        config=str(ROOT / "recsys" / "datasets" / "{dataset}.yaml"),
        code=[str(ROOT / "recsys" / f"{name}.py") for name in ("preprocess", "scratch", "reader", "data", "config")],
    output:
        [f"{RECSYS_CACHE}/{{dataset}}/{name}" for name in PREPARED],
    threads: 1
    resources:
        **scheduler_resources("recsys", "prepare", job_threads),
    log:
        f"{RECSYS_CACHE}/{{dataset}}/preprocess.log",
    shell:
        "python -m recsys.preprocess --dataset {wildcards.dataset} 2> >(tee {log} >&2)"


rule recsys_data:
    """Prepare every dataset the profile's recsys runs read: `snakemake --cores 2 recsys_data`."""
    input:
        [f"{RECSYS_CACHE}/{name}/stats.json" for name in recsys_datasets()],


rule recsys:
    input:
        runs("recsys"),
