"""The nlp rules: the paper profile's DAG resolves, with WikiText-103 runs only when its files are present."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from common.paths import ROOT
from nlp.config import DataConfig
from nlp.data import cache_dir, source_files


def test_paper_dag_leaves_out_wikitext103_without_its_files(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path)]
    command += ["nlp", "--cores", "4", "--dry-run", "--config", "profile=paper"]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ | {"DFA_PROGRESS": "0"}, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    wt103 = source_files(DataConfig(corpus="wikitext103"))["train"]
    if wt103.exists():
        assert "transformer_wikitext103" in out
    else:
        assert f"[nlp] {wt103} is absent" in out and "left out transformer_wikitext103," in out
    wikitext2_cache = cache_dir(DataConfig(corpus="wikitext2", vocab_size=16000))
    assert wikitext2_cache.exists() or "nlp_data" in out  # the 16k BPE of the paper profile is prepared by a rule
