# Hardware: the emulated optical processing unit. `snakemake --cores 2 hardware` runs its fidelity sweep,
# its cost model and every optical training run the profile lists (feedback.kind=optical in any domain).
# The profile's `fidelity:` and `cost:` overrides reach the programs quoted, one argument each.
HARDWARE_DIR = f"{RESULTS}/hardware"


rule hardware_fidelity:
    """Cosine of the recovered optical projection to the ideal one, versus bits, noise and threshold."""
    input:
        config=str(ROOT / "hardware" / "configs" / "fidelity.yaml"),
        code=code_files("hardware"),
    output:
        json=f"{HARDWARE_DIR}/fidelity.json",
        png=report(
            f"{HARDWARE_DIR}/fidelity.png",
            caption="../report/fidelity.rst",
            category="Hardware",
            labels={"figure": "optical projection fidelity"},
        ),
    params:
        out=lambda w, output: Path(output.json).parent,
        profile=PROFILE,
        overrides=lambda w: quoted(domain_cfg("hardware").get("fidelity", [])),
    threads: 1  # small tensors: a second thread only waits
    resources:
        **scheduler_resources("hardware", "train", job_threads),
    log:
        f"{HARDWARE_DIR}/fidelity.log",
    shell:
        "python -m hardware.fidelity --config {input.config} --out {params.out} --profile {params.profile} "
        "--threads {threads} {params.overrides} 2> >(tee {log} >&2)"


rule hardware_cost:
    """Frames, time and energy of each domain's projection on the device, vs the measured digital product."""
    input:
        config=str(ROOT / "hardware" / "configs" / "cost.yaml"),
        code=code_files("hardware"),
    output:
        f"{HARDWARE_DIR}/cost.json",
    params:
        out=lambda w, output: Path(output[0]).parent,
        profile=PROFILE,
        overrides=lambda w: quoted(domain_cfg("hardware").get("cost", [])),
    threads: lambda w: domain_cfg("hardware").get("threads", 1)  # the digital products are timed with these
    resources:
        **scheduler_resources("hardware", "train", job_threads),
    log:
        f"{HARDWARE_DIR}/cost.log",
    shell:
        "python -m hardware.cost --config {input.config} --out {params.out} --profile {params.profile} "
        "--threads {threads} {params.overrides} 2> >(tee {log} >&2)"


if domain_cfg("hardware"):
    REPORT_INPUTS += [
        rules.hardware_fidelity.output.json,
        rules.hardware_fidelity.output.png,
        rules.hardware_cost.output[0],
        str(ROOT / "hardware" / "report.py"),
    ]


rule hardware:
    input:
        rules.hardware_fidelity.output,
        rules.hardware_cost.output,
        [run for domain in DOMAINS for run in runs(domain) if "/optical/" in run],
