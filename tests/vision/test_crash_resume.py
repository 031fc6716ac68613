"""kill -9 at random moments of a vision run, then resume: the same final.json and metric lines."""

import pytest

from common.paths import ROOT


@pytest.mark.slow
def test_killed_run_resumes_byte_identical(crash_resume) -> None:
    config = ROOT / "vision" / "configs" / "mlp800x2_mnist.yaml"
    tiny = ["data.train_limit=2048", "data.test_limit=256", "model.hidden=[64,64]", "train.epochs=8"]
    crash_resume("vision.train", ["--config", config, *tiny, "feedback.kind=dfa"])
