# Recsys: CTR models on Criteo-format data, the paper's Table 2. `snakemake --cores 2 recsys`
# Each dataset (recsys/datasets/<name>.yaml) is prepared once into data/cache/recsys/<name>/ and shared by
# the runs on it: generated (recsys.generate) when its source is the generator, then preprocessed; Snakemake
# redoes neither while the dataset's YAML and code are unchanged. The real Criteo train.txt is the user's to
# provide: while it is absent, the profile's experiments on it are left out (with a notice) and the report
# marks their cells "not run".
import shlex
from types import SimpleNamespace

from common.config import load_config
from recsys.config import RecsysConfig
from recsys.data import CACHE_DIR, CRITEO_HOW_TO, PREPARED, load_dataset_config, resolve

RECSYS_CACHE = str(ROOT / CACHE_DIR)  # absolute: the workflow may run with --directory elsewhere


def recsys_dataset(wildcards):
    """The dataset a run reads: its resolved data.dataset (experiment YAML, method, profile overrides)."""
    overrides = [*shlex.split(run_overrides(wildcards)), f"feedback.kind={wildcards.method}"]
    return load_config(RecsysConfig, ROOT / "recsys" / "configs" / f"{wildcards.exp}.yaml", overrides).data.dataset


def recsys_datasets():
    """Every dataset the profile's recsys runs read."""
    experiments = domain_cfg("recsys").get("experiments", {})
    return sorted(
        {
            recsys_dataset(SimpleNamespace(domain="recsys", exp=exp, method=method))
            for exp, spec in experiments.items()
            for method in spec["methods"]
        }
    )


def recsys_drop_missing_files():
    """Leave out the experiments whose dataset is a user's file that is absent (the real Criteo train.txt)."""
    experiments = domain_cfg("recsys").get("experiments", {})
    left_out = {}
    for exp, spec in list(experiments.items()):
        name = recsys_dataset(SimpleNamespace(domain="recsys", exp=exp, method=spec["methods"][0]))
        cfg = load_dataset_config(name)
        if cfg.source == "file" and not resolve(cfg.path).exists():
            left_out.setdefault(cfg.path, []).append(exp)
            del experiments[exp]
    for path, exps in left_out.items():
        print(f"[recsys] {path} is absent (see data/criteo/README.txt): left out {', '.join(exps)}", file=sys.stderr)


def recsys_raw(wildcards):
    """The text a dataset is preprocessed from; a user's file that is missing is reported with where to get it."""
    cfg = load_dataset_config(wildcards.dataset)
    if cfg.source == "generated":
        return f"{RECSYS_CACHE}/{wildcards.dataset}/train.txt"
    if not resolve(cfg.path).exists():
        raise FileNotFoundError(f"recsys dataset '{wildcards.dataset}' reads {cfg.path}, which is missing. {CRITEO_HOW_TO}")
    return str(resolve(cfg.path))


def recsys_run_inputs(wildcards):
    """What a run reads besides its config: the prepared dataset, and the model files (a subpackage)."""
    models = sorted(str(p) for p in (ROOT / "recsys" / "models").glob("*.py"))
    return [f"{RECSYS_CACHE}/{recsys_dataset(wildcards)}/stats.json", *models]


recsys_drop_missing_files()
DOMAIN_INPUTS["recsys"] = recsys_run_inputs


rule recsys_generate:
    """Criteo-format rows from the hidden click model (datasets whose source is the generator)."""
    input:
        config=str(ROOT / "recsys" / "datasets" / "{dataset}.yaml"),
        code=[str(ROOT / "recsys" / f"{name}.py") for name in ("generate", "config", "reader")],
    output:
        raw=f"{RECSYS_CACHE}/{{dataset}}/train.txt",
        info=f"{RECSYS_CACHE}/{{dataset}}/train.txt.json",
    log:
        f"{RECSYS_CACHE}/{{dataset}}/generate.log",
    shell:
        "PYTHONPATH={ROOT} {PYTHON} -m recsys.generate --dataset {wildcards.dataset} 2> >(tee {log} >&2)"


rule recsys_preprocess:
    """Text → int32 ids and training-split vocabularies (two streaming passes, bounded memory)."""
    input:
        raw=recsys_raw,
        config=str(ROOT / "recsys" / "datasets" / "{dataset}.yaml"),
        code=[str(ROOT / "recsys" / f"{name}.py") for name in ("preprocess", "reader", "data", "config")],
    output:
        [f"{RECSYS_CACHE}/{{dataset}}/{name}" for name in PREPARED],
    log:
        f"{RECSYS_CACHE}/{{dataset}}/preprocess.log",
    shell:
        "PYTHONPATH={ROOT} {PYTHON} -m recsys.preprocess --dataset {wildcards.dataset} 2> >(tee {log} >&2)"


rule recsys_data:
    """Prepare every dataset the profile's recsys runs read: `snakemake --cores 2 recsys_data`."""
    input:
        [f"{RECSYS_CACHE}/{name}/stats.json" for name in recsys_datasets()],


rule recsys:
    input:
        runs("recsys"),
