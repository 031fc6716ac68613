"""kill -9 at random moments of a click-through run (grid search, early stopping), then resume: the same
final.json and metric lines."""

import pytest

from common.paths import ROOT


@pytest.mark.slow
def test_killed_run_resumes_byte_identical(crash_resume, smoke_cache: str) -> None:
    config = ROOT / "recsys" / "configs" / "deepfm_synthetic.yaml"
    tiny = ["data.dataset=synthetic_smoke", f"data.cache={smoke_cache}", "data.train_limit=8192",
            "model.mlp_dims=[8,8]", "train.batch_size=512", "train.epochs=3", "search.lr=[0.001,0.003]"]  # fmt: skip
    crash_resume("recsys.train", ["--config", config, *tiny, "feedback.kind=dfa"])
