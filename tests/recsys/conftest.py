"""Recsys test fixtures: one small generated dataset, prepared once per session in a temporary cache."""

from __future__ import annotations

import pytest

from recsys.data import dataset_paths, load_dataset_config
from recsys.generate import generate
from recsys.preprocess import prepare

SMOKE = "synthetic_smoke"


@pytest.fixture(scope="session")
def smoke_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A cache folder holding the prepared ``synthetic_smoke`` dataset (generated, then preprocessed)."""
    cache = tmp_path_factory.mktemp("recsys_cache")
    cfg = load_dataset_config(SMOKE)
    generate(cfg.generator, dataset_paths(SMOKE, cache, cfg).raw)
    prepare(SMOKE, str(cache))
    return str(cache)
