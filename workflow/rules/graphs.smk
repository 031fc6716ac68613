# Graphs: GCNs on the Planetoid graphs (shipped), Tables 3 and 4. `snakemake --cores 2 graphs`
#
# PyG processes each graph's raw files into data/cache/planetoid/<Name>/processed once; `planetoid` does it
# before the runs, because two runs processing the same graph at the same time would race on its files.


rule planetoid:
    """Process one Planetoid graph (offline) into the cache."""
    input:
        graphs_raw_files,
    output:
        str(ROOT / "data" / "cache" / "planetoid" / "{name}" / "processed" / "data.pt"),
    wildcard_constraints:
        name="Cora|CiteSeer|PubMed",
    threads: 1
    resources:
        **scheduler_resources("graphs", "prepare", job_threads),
    log:
        str(ROOT / "data" / "cache" / "planetoid" / "{name}" / "process.log"),
    shell:
        "python -m graphs.data {wildcards.name} 2> >(tee {log} >&2)"


rule graphs:
    input:
        runs("graphs"),
