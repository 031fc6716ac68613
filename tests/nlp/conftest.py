"""A tiny WikiText-format corpus (the first lines of the shipped WikiText-2 splits) and the overrides that
shrink any NLP config to a seconds-long run on it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.paths import ROOT

SHIPPED = ROOT / "data" / "wikitext2" / "wikitext-2"
LINES = {"train": 300, "valid": 60, "test": 60}


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with wiki.{train,valid,test}.tokens cut from the shipped WikiText-2."""
    root = tmp_path_factory.mktemp("tiny_wikitext")
    for split, n in LINES.items():
        lines = (SHIPPED / f"wiki.{split}.tokens").read_text(encoding="utf-8").splitlines(keepends=True)
        (root / f"wiki.{split}.tokens").write_text("".join(lines[:n]), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tiny(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Overrides for a 2-layer, 32-wide model on the tiny corpus, evaluated every step."""
    cache = tmp_path_factory.mktemp("nlp_cache")
    return [
        f"data.root={tiny_corpus}",
        f"data.cache={cache}",
        "data.vocab_size=320",
        "data.seq_len=16",
        "model.n_layer=2",
        "model.n_head=2",
        "model.d_model=32",
        "model.d_ff=64",
        "train.batch_size=4",
        "train.eval_batch_size=16",
        "train.max_steps=2",
        "train.eval_every=1",
        "train.warmup=10",
    ]


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: tiny tensors gain nothing from more, and a loaded machine loses a lot."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
