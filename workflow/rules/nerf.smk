# NeRF (Table 1): coarse + fine networks trained with bp, dfa and shallow. `snakemake --cores 2 nerf`
# Scenes: data/nerf (lego 100 px and 200 px ship; see data/nerf/README.md for lego 400 px and LLFF).


rule nerf:
    input:
        runs("nerf"),
