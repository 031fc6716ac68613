# Vision: fully connected nets on MNIST (shipped). `snakemake --cores 2 vision`


rule vision:
    input:
        runs("vision"),
