# NLP: a Transformer language model on WikiText (Table 5). `snakemake --cores 2 nlp`
#
# Each run needs the BPE tokenizer and the encoded splits of its corpus × BPE setting; `nlp_data` makes
# them once under data/cache/nlp (shared by every run and every results folder) and Snakemake redoes
# them only when the raw text, nlp/data.py or nlp/corpus.py changes. WikiText-103 is the user's to provide:
# when its files are absent, the profile's WikiText-103 experiments are left out (workflow/rules/inputs.smk) and
# the report marks their cells "not run".


wildcard_constraints:
    nlp_corpus=r"wikitext2|wikitext103",
    nlp_vocab=r"\d+",
    nlp_case=r"lower|cased",


rule nlp_data:
    """Learn the BPE on the training split and encode the three splits (python -m nlp.data)."""
    input:
        raw=nlp_raw_inputs,
        code=[str(ROOT / "nlp" / f"{name}.py") for name in ("data", "corpus")],
    output:
        [str(NLP_CACHE / "{nlp_corpus}_bpe{nlp_vocab}_{nlp_case}" / name) for name in NLP_CACHE_FILES],
    params:
        lowercase=lambda w: str(w.nlp_case == "lower").lower(),
    threads: 2
    resources:
        **scheduler_resources("nlp", "prepare", job_threads),
    log:
        str(NLP_CACHE / "{nlp_corpus}_bpe{nlp_vocab}_{nlp_case}.log"),
    shell:
        "RAYON_NUM_THREADS={threads} python -m nlp.data data.corpus={wildcards.nlp_corpus} "
        "data.vocab_size={wildcards.nlp_vocab} data.lowercase={params.lowercase} 2> >(tee {log} >&2)"


rule nlp:
    input:
        runs("nlp"),
