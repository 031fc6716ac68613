# NLP: a Transformer language model on WikiText (Table 5). `snakemake --cores 2 nlp`
#
# Each run needs the BPE tokenizer and the encoded splits of its corpus × BPE setting; `nlp_data` makes
# them once under data/cache/nlp (shared by every run and every results folder) and Snakemake redoes
# them only when the raw text or nlp/data.py changes. WikiText-103 is the user's to provide: when its
# files are absent, the profile's WikiText-103 experiments are left out (with a notice) and the report
# marks their cells "not run".
import shlex

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
NLP_CACHE = ROOT / "data" / "cache" / "nlp"
NLP_CACHE_FILES = ("tokenizer.json", "train.npy", "valid.npy", "test.npy", "meta.json")


def nlp_run_config(exp, method="bp", extra=()):
    """The resolved NLPConfig of one run, exactly as `python -m nlp.train` will build it."""
    from common.config import load_config
    from nlp.config import NLPConfig

    overrides = [f"feedback.kind={method}", *extra]
    return load_config(NLPConfig, ROOT / "nlp" / "configs" / f"{exp}.yaml", overrides)


def nlp_data_inputs(wildcards):
    """The cached tokens a run reads (its corpus × BPE setting)."""
    from nlp.data import cache_dir

    data = nlp_run_config(wildcards.exp, wildcards.method, shlex.split(run_overrides(wildcards))).data
    return [str(cache_dir(data) / "meta.json")]


def nlp_raw_inputs(wildcards):
    """The raw splits a cache is made from: the corpus in its usual place (see nlp.data.CORPORA)."""
    from nlp.config import DataConfig
    from nlp.data import source_files

    return [str(p) for p in source_files(DataConfig(corpus=wildcards.nlp_corpus)).values()]


def nlp_drop_missing_corpora():
    """Leave out the experiments whose corpus files are absent (WikiText-103 before the user provides it)."""
    from nlp.data import source_files

    section = domain_cfg("nlp")
    left_out = {}
    for exp, spec in list(section.get("experiments", {}).items()):
        overrides = [*section.get("overrides", []), *(spec or {}).get("overrides", [])]
        missing = [p for p in source_files(nlp_run_config(exp, extra=overrides).data).values() if not p.exists()]
        if missing:
            left_out.setdefault(str(missing[0]), []).append(exp)
            del section["experiments"][exp]
    for path, exps in left_out.items():
        print(f"[nlp] {path} is absent (see nlp/data.py CORPORA): left out {', '.join(exps)}", file=sys.stderr)


nlp_drop_missing_corpora()
DOMAIN_INPUTS["nlp"] = nlp_data_inputs


wildcard_constraints:
    nlp_corpus=r"wikitext2|wikitext103",
    nlp_vocab=r"\d+",
    nlp_case=r"lower|cased",


rule nlp_data:
    """Learn the BPE on the training split and encode the three splits (python -m nlp.data)."""
    input:
        raw=nlp_raw_inputs,
        code=str(ROOT / "nlp" / "data.py"),
    output:
        [str(NLP_CACHE / "{nlp_corpus}_bpe{nlp_vocab}_{nlp_case}" / name) for name in NLP_CACHE_FILES],
    params:
        lowercase=lambda w: str(w.nlp_case == "lower").lower(),
    threads: 2
    shell:
        "RAYON_NUM_THREADS={threads} PYTHONPATH={ROOT} {PYTHON} -m nlp.data data.corpus={wildcards.nlp_corpus} "
        "data.vocab_size={wildcards.nlp_vocab} data.lowercase={params.lowercase}"


rule nlp:
    input:
        runs("nlp"),
