"""kill -9 at random moments of a NeRF run (the shipped 100 px lego), then resume: the same final.json and
metric lines (the running training PSNR included)."""

import pytest

from common.paths import ROOT


@pytest.mark.slow
def test_killed_run_resumes_byte_identical(crash_resume) -> None:
    config = ROOT / "nerf" / "configs" / "nerf4x128_lego100.yaml"
    tiny = ["train.iters=60", "train.rays=64", "train.log_every=7", "train.checkpoint_every=5", "sampling.coarse=8",
            "sampling.fine=8", "eval.test_stride=25", "eval.render_views=1", "eval.turntable_frames=0"]  # fmt: skip
    crash_resume("nerf.train", ["--config", config, *tiny, "feedback.kind=dfa"])
