"""kill -9 at random moments of a language-model run (a tiny WikiText cut), then resume: the same final.json
and metric lines."""

import pytest

from common.paths import ROOT


@pytest.mark.slow
def test_killed_run_resumes_byte_identical(crash_resume, tiny: list[str]) -> None:
    config = ROOT / "nlp" / "configs" / "transformer_wikitext2.yaml"
    longer = [*tiny, "train.max_steps=60", "train.eval_every=6"]
    crash_resume("nlp.train", ["--config", config, *longer, "feedback.kind=dfa"])
