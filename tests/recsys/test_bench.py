"""The preprocessing benchmark runs end to end on a small file and reports what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.recsys_preprocess import TIME, measure
from recsys.config import GeneratorConfig
from recsys.generate import generate


@pytest.mark.skipif(not Path(TIME).exists(), reason=f"{TIME} is not installed")
def test_benchmark_reports_speed_and_memory(tmp_path):
    src = tmp_path / "rows.txt"
    generate(GeneratorConfig(rows=3000, seed=1), src)
    result = measure(src, tmp_path / "prepared")
    assert result["rows"] == 3000 and result["peak_rss_mib"] > 0
    assert result["rows_per_s_cpu"] > 0 and result["criteo_extrapolated_cpu_min"] > 0
    assert len(list((tmp_path / "prepared").glob("file-*/x_train.npy"))) == 1  # where data.cache=prepared looks
