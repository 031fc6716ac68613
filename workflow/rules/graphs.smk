# Graphs: GCNs on the Planetoid graphs (shipped), Tables 3 and 4. `snakemake --cores 2 graphs`
#
# PyG processes each graph's raw files into data/cache/planetoid/<Name>/processed once; `planetoid` does it
# before the runs, because two runs processing the same graph at the same time would race on its files.
import shlex

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def graphs_run_data(wildcards):
    """The resolved DataConfig of one run, exactly as `python -m graphs.train` will build it."""
    from common.config import load_config
    from graphs.config import GraphsConfig

    overrides = [f"feedback.kind={wildcards.method}", *shlex.split(run_overrides(wildcards))]
    return load_config(GraphsConfig, ROOT / "graphs" / "configs" / f"{wildcards.exp}.yaml", overrides).data


def graphs_processed(wildcards):
    """The processed graph a run reads."""
    from graphs.data import resolve

    data = graphs_run_data(wildcards)
    return [str(resolve(data.cache) / data.name / "processed" / "data.pt")]


def graphs_raw_files(name):
    from graphs.data import raw_files, resolve
    from graphs.config import DataConfig

    return raw_files(resolve(DataConfig.root), name)


rule planetoid:
    """Process one Planetoid graph (offline) into the cache."""
    input:
        lambda w: [str(p) for p in graphs_raw_files(w.name)],
    output:
        str(ROOT / "data" / "cache" / "planetoid" / "{name}" / "processed" / "data.pt"),
    wildcard_constraints:
        name="Cora|CiteSeer|PubMed",
    shell:
        "PYTHONPATH={ROOT} {PYTHON} -m graphs.data {wildcards.name}"


DOMAIN_INPUTS["graphs"] = graphs_processed


rule graphs:
    input:
        runs("graphs"),
