"""The emulated OPU: ternarization, medium, camera, the interference recovery, determinism and bad config."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from common.config import ConfigError, load_config
from common.feedback import Feedback, FeedbackConfig
from common.projectors import ProjectorConfig
from hardware.camera import Readout, read_out
from hardware.config import CameraConfig, OpticalConfig
from hardware.medium import TILE_ROWS, Medium
from hardware.optical import ENTRY_STD, OpticalProjector, ternarize
from vision.config import VisionConfig

IDEAL = OpticalConfig(camera=CameraConfig(bits=0, shot_noise=False, read_noise=0.0))
NOISELESS_8BIT = OpticalConfig(camera=CameraConfig(shot_noise=False, read_noise=0.0))


def test_ternarize_matches_the_rule_by_hand() -> None:
    e = torch.tensor([[0.5, -2.0, 0.1, 1.0], [0.0, 0.0, 0.0, 0.0], [-3.0, 0.0, 0.0, 0.0]])
    t, alpha = ternarize(e, threshold=0.25)  # row 0 keeps |e| >= 0.5
    assert t.tolist() == [[1, -1, 0, 1], [0, 0, 0, 0], [-1, 0, 0, 0]]
    assert alpha.squeeze(1).tolist() == pytest.approx([(0.5 + 2.0 + 1.0) / 3, 0.0, 3.0])
    assert ternarize(e[:1], 0.0)[0].abs().sum() == 4  # threshold 0: every non-zero component
    assert ternarize(e[:1], 1.0)[0].tolist() == [[0, -1, 0, 0]]  # threshold 1: the largest only


def test_alpha_is_the_least_squares_scale_of_the_code() -> None:
    e = torch.randn(64, 12, generator=torch.Generator().manual_seed(0))
    t, alpha = ternarize(e, 0.3)
    for scale in (0.9, 1.1):  # moving α away from its value never brings α t closer to e
        assert ((alpha * t - e).norm(dim=1) <= (scale * alpha * t - e).norm(dim=1) + 1e-6).all()


def test_medium_is_a_function_of_the_seed_alone() -> None:
    big = Medium(7, 1500, 7, seed=5, cache_bytes=2**30)
    uncached = Medium(7, 1500, 7, seed=5, cache_bytes=0)
    other = Medium(7, 1500, 7, seed=6, cache_bytes=2**30)
    a, b, c = big.matrix(), uncached.matrix(), other.matrix()
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])
    a_re, a_im, c_re, c_im = a
    assert (a_re.square() + a_im.square()).mean().item() == pytest.approx(1.0, abs=0.05)  # E|A|² = 1
    assert (c_re.square() + c_im.square()).mean().item() == pytest.approx(7.0, rel=0.1)  # E|c|² = n_ref


def test_camera_counts_are_integers_within_the_adc_range() -> None:
    cam = CameraConfig(bits=6, saturation=4.0, shot_noise=True, read_noise=50.0)
    readout = Readout.from_config(cam, reference_intensity=3.0)
    intensity = torch.rand(10_000, generator=torch.Generator().manual_seed(0)) * 40  # up to 3.3× saturation
    torch.manual_seed(0)
    counts = readout.detect(intensity)
    assert torch.equal(counts, counts.round())
    assert counts.min() >= 0 and counts.max() == 63  # saturated pixels clip at 2^6 − 1
    ideal = Readout.from_config(dataclasses.replace(cam, bits=0, shot_noise=False, read_noise=0.0), 3.0)
    assert torch.allclose(ideal.detect(intensity), intensity * ideal.counts_per_unit)  # no rounding, no clipping


def test_read_out_recovers_the_interference_term() -> None:
    """|F + c|² − |F|² − |c|² = 2 Re(conj(c) F), and |c|² cancels between the frames x⁺ and x⁻."""
    gen = torch.Generator().manual_seed(1)
    field = torch.randn(2, 5, 2 * 9, generator=gen)  # (frames x⁺/x⁻, n, [Re | Im] of 9 pixels)
    c_re, c_im = torch.randn(9, generator=gen), torch.randn(9, generator=gen)
    readout = Readout.from_config(IDEAL.camera, reference_intensity=1.0)
    f_re, f_im = field[..., :9], field[..., 9:]
    interference = 2 * (c_re * f_re + c_im * f_im)  # 2 Re(conj(c) F)
    expected = (interference[0] - interference[1]) * readout.counts_per_unit
    assert torch.allclose(read_out(field, c_re, c_im, readout), expected, atol=1e-5)


@pytest.mark.parametrize("d_err", [10, TILE_ROWS + 3])  # one row tile; several, summed
def test_ideal_camera_applies_the_effective_matrix_exactly(d_err: int) -> None:
    proj = OpticalProjector(d_err, (24, 40), "independent", dataclasses.replace(IDEAL, chunk_mb=0.01), seed=2)
    e = torch.randn(33, d_err, generator=torch.Generator().manual_seed(3))
    t, alpha = ternarize(e, IDEAL.threshold)
    expected = alpha * (t @ proj.effective_matrix())
    assert proj(e).shape == (33, 64)
    assert torch.allclose(proj(e), expected, atol=1e-5 * expected.abs().max().item())


def test_recovered_projection_has_the_digital_magnitude() -> None:
    """Entries of the normalised matrix have the digital B's variance: kind=optical is a drop-in for dfa."""
    proj = OpticalProjector(16, (4000,), "shared", IDEAL, seed=0, entry_std=ENTRY_STD["uniform"])
    std = proj.effective_matrix().std().item()
    assert std == pytest.approx(ENTRY_STD["uniform"] / 4000**0.5, rel=0.05)


def test_same_seed_same_projection_noise_included() -> None:
    e = torch.randn(50, 10, generator=torch.Generator().manual_seed(0))
    outputs = []
    for seed in (4, 4, 5):
        torch.manual_seed(0)  # the camera noise
        outputs.append(OpticalProjector(10, (300,), "shared", OpticalConfig(), seed=seed)(e))
    assert torch.equal(outputs[0], outputs[1]) and not torch.equal(outputs[0], outputs[2])


def test_chunking_and_cache_do_not_change_the_result() -> None:
    e = torch.randn(100, 10, generator=torch.Generator().manual_seed(0))
    whole = OpticalProjector(10, (2500,), "shared", NOISELESS_8BIT, seed=1)(e)
    small = dataclasses.replace(NOISELESS_8BIT, chunk_mb=0.05, cache_mb=0.0)
    assert torch.equal(OpticalProjector(10, (2500,), "shared", small, seed=1)(e), whole)


@pytest.mark.parametrize(
    "optical, key",
    [
        ({"camera": {"bitz": 8}}, "feedback.optical.camera.bitz"),
        ({"treshold": 0.3}, "feedback.optical.treshold"),
        ({"threshold": 1.5}, "feedback.optical.threshold"),
        ({"camera": {"saturation": 0}}, "feedback.optical.camera.saturation"),
    ],
)
def test_a_bad_optical_key_or_value_is_named(optical: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Feedback(FeedbackConfig(kind="optical", optical=optical), d_err=10, dims=(8,))


def test_optical_settings_flow_from_the_command_line() -> None:
    cfg = load_config(VisionConfig, None, ["feedback.kind=optical", "feedback.optical.camera.bits=4"])
    fb = Feedback(cfg.feedback, d_err=10, dims=(32, 16), seed=1)
    assert isinstance(fb.projector, OpticalProjector) and fb.projector.cfg.camera.bits == 4
    typo = load_config(VisionConfig, None, ["feedback.kind=optical", "feedback.optical.camera.bitz=4"])
    with pytest.raises(ConfigError, match=r"feedback\.optical\.camera\.bitz"):
        Feedback(typo.feedback, d_err=10, dims=(8,))


def test_projector_config_sets_layout_and_scale() -> None:
    cfg = FeedbackConfig(kind="optical", projector=ProjectorConfig(layout="independent", dist="gaussian", scale=2.0))
    fb = Feedback(cfg, d_err=10, dims=(32, 16), seed=0)
    assert fb.projector.width == 48
    signals = fb.signals(torch.randn(7, 10))
    assert [s.shape for s in signals] == [(7, 32), (7, 16)]
