"""REPORT.md as one self-contained page: tables rendered, every linked image inlined, a missing one named."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

from common.paths import ROOT

SCRIPT = ROOT / "workflow" / "scripts" / "report_html.py"
PNG = base64.b64decode(  # a 1 × 1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
REPORT = "# Report\n\n| row | ours |\n|---|---|\n| GCN | 80.1 |\n\n![curves](figures/curves.png)\n"


def render(folder: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), str(folder / "REPORT.md"), str(folder / "REPORT.html")]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_page_stands_alone(tmp_path: Path) -> None:
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "curves.png").write_bytes(PNG)
    (tmp_path / "REPORT.md").write_text(REPORT)
    done = render(tmp_path)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "REPORT.html").read_text()
    assert "<table>" in page and "<td>80.1</td>" in page and "<title>Report</title>" in page
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in page
    assert "figures/curves.png" not in page  # nothing outside the page is needed


def test_missing_figure_is_named(tmp_path: Path) -> None:
    (tmp_path / "REPORT.md").write_text(REPORT)
    done = render(tmp_path)
    assert done.returncode == 1 and "figures/curves.png" in done.stderr
    assert not (tmp_path / "REPORT.html").exists()
