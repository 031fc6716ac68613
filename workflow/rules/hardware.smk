# Hardware: the emulated optical processing unit. `snakemake --cores 2 hardware` runs its fidelity sweep,
# its cost model and every optical training run the profile lists (feedback.kind=optical in any domain).
HARDWARE_DIR = f"{RESULTS}/hardware"
EMULATOR_CODE = [str(ROOT / "hardware" / f"{name}.py") for name in ("config", "medium", "camera", "optical")]
EMULATOR_CODE += [str(ROOT / "common" / f"{name}.py") for name in ("config", "projectors", "run", "seeding")]


def hardware_cfg():
    """The profile's hardware section ({} when the profile does not run it)."""
    return config["profiles"][PROFILE].get("hardware") or {}


rule hardware_fidelity:
    """Cosine of the recovered optical projection to the ideal one, versus bits, noise and threshold."""
    input:
        config=str(ROOT / "hardware" / "configs" / "fidelity.yaml"),
        code=EMULATOR_CODE + [str(ROOT / "hardware" / "fidelity.py")],
    output:
        json=f"{HARDWARE_DIR}/fidelity.json",
        png=f"{HARDWARE_DIR}/fidelity.png",
    params:
        overrides=lambda w: " ".join(hardware_cfg().get("fidelity", [])),
    threads: 1  # small tensors: a second thread only waits
    log:
        f"{HARDWARE_DIR}/fidelity.log",
    shell:
        "PYTHONPATH={ROOT} {PYTHON} -m hardware.fidelity --config {input.config} --out {HARDWARE_DIR} "
        "--profile {PROFILE} --threads {threads} {params.overrides} 2> >(tee {log} >&2)"


rule hardware_cost:
    """Frames, time and energy of each domain's projection on the device, vs the measured digital product."""
    input:
        config=str(ROOT / "hardware" / "configs" / "cost.yaml"),
        code=EMULATOR_CODE + [str(ROOT / "hardware" / "cost.py")],
    output:
        f"{HARDWARE_DIR}/cost.json",
    params:
        overrides=lambda w: " ".join(hardware_cfg().get("cost", [])),
    threads: lambda w: hardware_cfg().get("threads", 1)  # the digital products are timed with these threads
    log:
        f"{HARDWARE_DIR}/cost.log",
    shell:
        "PYTHONPATH={ROOT} {PYTHON} -m hardware.cost --config {input.config} --out {HARDWARE_DIR} "
        "--profile {PROFILE} --threads {threads} {params.overrides} 2> >(tee {log} >&2)"


if hardware_cfg():
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
