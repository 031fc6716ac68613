# Vision: fully connected nets and LeNet on MNIST and Fashion-MNIST (shipped); LeNet and CIFAR ResNets on
# CIFAR-10 when the user has put its python batches in data/cifar10 (otherwise those experiments are left out,
# workflow/rules/inputs.smk, and the report marks them "not run"). `snakemake --cores 2 vision`


rule vision:
    input:
        runs("vision"),
