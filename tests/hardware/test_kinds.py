"""The hardware kinds: ``optical`` and ``dfa_ternary`` (the emulator's ternarized error, projected digitally)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from common import kinds
from common.config import ConfigError
from common.feedback import Feedback, FeedbackConfig
from common.paths import ROOT
from common.projectors import ProjectorConfig
from hardware.kinds import TernaryProjector
from hardware.optical import OpticalProjector
from vision.train import main

D_ERR, DIMS = 10, (12, 7)


def _feedback(kind: str, threshold: float = 0.3, **projector: object) -> Feedback:
    cfg = FeedbackConfig(kind=kind, projector=ProjectorConfig(**projector), optical={"threshold": threshold})
    return Feedback(cfg, d_err=D_ERR, dims=DIMS, seed=2)


def test_hardware_registers_its_kinds_as_direct() -> None:
    assert kinds.get("optical").family == kinds.get("dfa_ternary").family == "direct"
    assert isinstance(_feedback("optical").projector, OpticalProjector)


@pytest.mark.parametrize("layout", ["shared", "independent"])
def test_dfa_ternary_projects_the_ternary_code_with_dfas_matrix(layout: str) -> None:
    """By hand: t = sign(e)·[|e| ≥ 0.3·max|e|], α = mean |e| over the kept components, signal = α t @ B_dfa."""
    ternary, digital = _feedback("dfa_ternary", layout=layout), _feedback("dfa", layout=layout)
    torch.testing.assert_close(ternary.projector.B, digital.projector.B)  # the same B as dfa, seed for seed
    e = torch.tensor([[0.5, -0.1, -1.0, 0.2, 0.0, 0.31, -0.29, 0.0, 0.9, -0.4]])
    t = torch.tensor([[1.0, 0, -1, 0, 0, 1, 0, 0, 1, -1]])
    alpha = (0.5 + 1.0 + 0.31 + 0.9 + 0.4) / 5
    torch.testing.assert_close(ternary.projector(e), alpha * t @ digital.projector.B)
    assert not torch.allclose(ternary.projector(e), digital.projector(e))  # the quantization is all that differs


def test_dfa_ternary_reads_the_optical_threshold() -> None:
    e = torch.randn(64, D_ERR)
    # Threshold 0 keeps every non-zero component: t = sign(e), α = mean |e|.
    zero = _feedback("dfa_ternary", threshold=0.0)
    expected = e.abs().mean(1, keepdim=True) * torch.sign(e) @ zero.projector.B
    torch.testing.assert_close(zero.projector(e), expected)
    # Threshold 1 keeps only the largest component of each vector.
    one = _feedback("dfa_ternary", threshold=1.0)
    top = torch.zeros_like(e).scatter_(1, e.abs().argmax(1, keepdim=True), 1.0) * e
    torch.testing.assert_close(one.projector(e), top @ one.projector.B)
    assert isinstance(zero.projector, TernaryProjector) and "threshold=0.0" in repr(zero.projector)
    with pytest.raises(ConfigError, match=r"feedback\.optical\.threshold"):
        _feedback("dfa_ternary", threshold=1.5)


def test_dfa_ternary_keeps_bfloat16_errors_in_bfloat16() -> None:
    fb = _feedback("dfa_ternary")
    e = torch.randn(5, D_ERR)
    signal = fb.projector(e.bfloat16())
    assert signal.dtype == torch.bfloat16
    torch.testing.assert_close(signal.float(), fb.projector(e), atol=0.05, rtol=0.05)


def test_dfa_ternary_trains_mnist_through_a_domain(tmp_path: Path) -> None:
    """The new kind runs in a domain with no change to it: the vision MLP learns."""
    config = ROOT / "vision" / "configs" / "mlp800x2_mnist.yaml"
    args = ["--config", str(config), "--threads", "1", "feedback.kind=dfa_ternary", "data.train_limit=2048"]
    args += ["data.test_limit=256", "train.epochs=2", "train.batch_size=64", "feedback.align_every=1"]
    main(["--out", str(tmp_path / "a"), *args])
    final = json.loads((tmp_path / "a" / "final.json").read_text())
    assert final["method"] == "dfa_ternary" and final["metrics"]["test/err"] < 50  # chance: 90%
    last = json.loads((tmp_path / "a" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["align/cos/p0"] > 0.05  # the ternary signal is aligned with the true gradient
