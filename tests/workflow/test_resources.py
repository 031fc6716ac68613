"""Resources and launch of the workflow's jobs: several GPUs start a run through torchrun, and a resource that
a domain cannot use, or a misspelled one, is an error that names its key in config/config.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.test_pipeline import dry_run_jobs
from tests.workflow.conftest import snakemake


def with_resources(tmp_path: Path, domain: str, resources: dict) -> Path:
    """A config file that gives the smoke profile's `domain` these training resources."""
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({"profiles": {"smoke": {domain: {"resources": resources, "threads": 2}}}}))
    return extra


def test_several_gpus_launch_through_torchrun(tmp_path: Path) -> None:
    extra = with_resources(tmp_path, "nlp", {"gpus": 2, "runtime": 90})
    done = snakemake(
        tmp_path, "--dry-run", "--printshellcmds", "nlp", "--configfile", str(extra), "--config", "profile=smoke"
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = [job for job in dry_run_jobs(done.stdout) if job["rule"] == "train"]
    assert runs
    for job in runs:
        assert job["command"].startswith("torchrun --standalone --nproc_per_node 2 -m nlp.train "), job
        assert "--threads 2 " in job["command"]  # per process
        assert (job["gpu"], job["cpus_per_task"], job["runtime"], job["mem_mb"]) == ("2", "4", "90", "2000"), job
        # inside a SLURM job only, the run leaves with a checkpoint before the runtime (90 - 4 min) is up
        assert "${SLURM_JOB_ID:+--time-limit 86}" in job["command"], job["command"]


@pytest.mark.parametrize(
    ("domain", "resources", "message"),
    [
        ("vision", {"gpus": 2}, "profiles.smoke.vision.resources.gpus: 2 GPUs per run needs torchrun"),
        ("nerf", {"mem_gb": 4}, "profiles.smoke.nerf.resources: unknown key 'mem_gb'"),
        ("nerf", {"runtime": 0}, "profiles.smoke.nerf.resources.runtime: expected an integer >= 1, got 0"),
    ],
)
def test_bad_resources_are_named(tmp_path: Path, domain: str, resources: dict, message: str) -> None:
    extra = with_resources(tmp_path, domain, resources)
    done = snakemake(tmp_path, "--dry-run", "--configfile", str(extra), "--config", "profile=smoke")
    assert done.returncode != 0 and message in done.stdout + done.stderr, done.stdout[-2000:] + done.stderr[-2000:]
