"""``bench/README.md``: regenerated, whole, from the latest record of each bench that reports there.

``bench/latest/<device>.json`` holds the latest run of ``bench/dfa_speed.py`` on each device type and
``bench/latest/pipeline/<device>.json`` that of ``bench/pipeline_speed.py``; either bench's ``--write-readme``
(or ``--publish``) rewrites the file from all of them, so that neither erases the other's section.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.pipeline_report import render_section
from bench.speed_report import render_readme
from common.run import atomic_write_text

BENCH_DIR = Path(__file__).resolve().parent


def write_readme() -> None:
    """Rewrite bench/README.md from the records in bench/latest/."""
    latest = BENCH_DIR / "latest"
    speed = [json.loads(path.read_text()) for path in sorted(latest.glob("*.json"))]
    pipeline = [json.loads(path.read_text()) for path in sorted((latest / "pipeline").glob("*.json"))]
    text = render_readme(speed)
    if pipeline:
        text += "\n" + render_section(pipeline)
    atomic_write_text(BENCH_DIR / "README.md", text)
