"""Shared test set-up: quiet progress bars, repository root on sys.path, a run-folder helper."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DFA_PROGRESS", "0")


@pytest.fixture
def read_final():
    """Read a run folder's final.json."""

    def read(run_dir: Path) -> dict:
        return json.loads((Path(run_dir) / "final.json").read_text())

    return read
