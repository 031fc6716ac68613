"""A profile's overrides reach the programs as text, one argument each: never as shell code (issue 16)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.workflow.conftest import snakemake


def test_hardware_overrides_are_not_shell_code(tmp_path: Path) -> None:
    planted = tmp_path / "planted"
    extra = tmp_path / "extra.yaml"
    override = f"vectors=256; touch {planted}"
    extra.write_text(yaml.safe_dump({"profiles": {"smoke": {"hardware": {"fidelity": [override]}}}}))
    target = "results/hardware/fidelity.json"
    done = snakemake(tmp_path, target, "--configfile", str(extra), "--config", "profile=smoke")
    log = done.stdout + done.stderr
    assert not planted.exists(), "the override ran as a shell command"
    # The whole text reached hardware.fidelity as one override, whose value is not a number: a config error.
    assert done.returncode != 0 and "vectors" in log and "touch" in log, log[-3000:]
