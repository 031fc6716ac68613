"""kill -9 at random moments of a graphs run (shipped Cora), then resume: the same final.json and metric lines."""

import pytest

from common.paths import ROOT


@pytest.mark.slow
def test_killed_run_resumes_byte_identical(crash_resume) -> None:
    config = ROOT / "graphs" / "configs" / "gcn_cora.yaml"
    crash_resume(
        "graphs.train", ["--config", config, "train.epochs=80", "train.checkpoint_every=5", "feedback.kind=dfa"]
    )
