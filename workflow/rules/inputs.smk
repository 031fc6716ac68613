# What each domain's runs read besides their config and code (functions only; the rules that make these
# files are in the domain's own .smk): graphs' processed Planetoid copies, nlp's tokenized corpus, recsys'
# prepared arrays; vision's image files. Experiments whose user-provided data is absent (WikiText-103, the real
# Criteo train.txt, CIFAR-10) are left out here, before any target lists its runs.
from nlp.config import DataConfig as NLPDataConfig
from nlp.data import cache_dir as nlp_cache_dir
from nlp.data import source_files as nlp_source_files
from recsys.data import CACHE_DIR, CRITEO_HOW_TO, PREPARED, load_dataset_config
from recsys.data import resolve as recsys_resolve
from vision.data import source_files as vision_source_files

NLP_CACHE = ROOT / "data" / "cache" / "nlp"
NLP_CACHE_FILES = ("tokenizer.json", "train.npy", "valid.npy", "test.npy", "meta.json")
RECSYS_CACHE = str(ROOT / CACHE_DIR)  # absolute: the workflow may run with --directory elsewhere


# -- graphs -------------------------------------------------------------------------------------------------
def graphs_processed(wildcards):
    """The processed Planetoid graph a run reads (a graph of your own, .npz or a PyG class, needs none)."""
    from graphs.data import resolve

    data = run_config("graphs", wildcards.exp, wildcards.method).data
    if getattr(data, "format", "planetoid") != "planetoid":
        return []
    return [str(resolve(data.cache) / data.name / "processed" / "data.pt")]


def graphs_raw_files(wildcards):
    """The shipped raw files of one Planetoid graph."""
    from graphs.config import DataConfig
    from graphs.data import raw_files, resolve

    return [str(p) for p in raw_files(resolve(DataConfig.root), wildcards.name)]


# -- nlp ----------------------------------------------------------------------------------------------------
def nlp_data_inputs(wildcards):
    """The cached tokens a run reads (its corpus × BPE setting)."""
    return [str(nlp_cache_dir(run_config("nlp", wildcards.exp, wildcards.method).data) / "meta.json")]


def nlp_raw_inputs(wildcards):
    """The raw splits a cache is made from: the corpus in its usual place (see nlp.data.CORPORA)."""
    return [str(p) for p in nlp_source_files(NLPDataConfig(corpus=wildcards.nlp_corpus)).values()]


# -- recsys -------------------------------------------------------------------------------------------------
def recsys_dataset(exp, method):
    """The dataset a run reads: its resolved data.dataset."""
    return run_config("recsys", exp, method).data.dataset


def recsys_datasets():
    """Every dataset the profile's recsys runs read."""
    experiments = domain_cfg("recsys").get("experiments", {})
    return sorted({recsys_dataset(exp, method) for exp, spec in experiments.items() for method in spec["methods"]})


def recsys_user_file(cfg):
    """The user's Criteo file a run reads ([] for generated data)."""
    dataset = load_dataset_config(cfg.data.dataset)
    return [recsys_resolve(dataset.path)] if dataset.source == "file" else []


def recsys_raw(wildcards):
    """The text a dataset is preprocessed from; a user's file that is missing is reported with where to get it."""
    cfg = load_dataset_config(wildcards.dataset)
    if cfg.source == "generated":
        return f"{RECSYS_CACHE}/{wildcards.dataset}/train.txt"
    if not recsys_resolve(cfg.path).exists():
        raise FileNotFoundError(f"recsys dataset '{wildcards.dataset}' reads {cfg.path}, which is missing. {CRITEO_HOW_TO}")
    return str(recsys_resolve(cfg.path))


def recsys_run_inputs(wildcards):
    """What a run reads besides its config: the prepared dataset, and the model files (a subpackage)."""
    models = sorted(str(p) for p in (ROOT / "recsys" / "models").glob("*.py"))
    return [f"{RECSYS_CACHE}/{recsys_dataset(wildcards.exp, wildcards.method)}/stats.json", *models]


# -- vision -------------------------------------------------------------------------------------------------
def vision_data_files(wildcards):
    """The image files a run reads (the shipped IDX files, the user's CIFAR-10 batches or .npz)."""
    return [str(p) for p in vision_source_files(run_config("vision", wildcards.exp, wildcards.method).data)]


drop_missing_data("nlp", lambda cfg: nlp_source_files(cfg.data).values(), "nlp/data.py CORPORA")
drop_missing_data("recsys", recsys_user_file, "data/criteo/README.txt")
drop_missing_data("vision", lambda cfg: vision_source_files(cfg.data), "vision/data.py CIFAR_HOW_TO")
DOMAIN_INPUTS.update(graphs=graphs_processed, nlp=nlp_data_inputs, recsys=recsys_run_inputs, vision=vision_data_files)
