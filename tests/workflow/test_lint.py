"""`snakemake --lint` finds nothing but the one warning the Snakefile explains (no conda/container per rule:
every rule runs the environment of requirements.lock)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.workflow.conftest import snakemake

EXPLAINED = {"Specify a conda environment or container for each rule."}


def test_lint_is_clean(tmp_path: Path) -> None:
    done = snakemake(tmp_path, "--lint", "--config", "profile=smoke")
    output = done.stdout + done.stderr
    titles = set(re.findall(r"^    \* (.+?):?$", output, re.M))
    assert titles <= EXPLAINED, output[-4000:]
