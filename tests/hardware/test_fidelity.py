"""Fidelity of the recovered projection: the 8-bit target, and degradation with fewer bits or more noise."""

from __future__ import annotations

import itertools

import pytest
import torch

from hardware.config import FidelityConfig
from hardware.fidelity import error_vectors, measure, setting

CFG = FidelityConfig(vectors=384)


@pytest.fixture(scope="module")
def errors() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {kind: error_vectors(kind, CFG.vectors, CFG.d_err, CFG.logit_std, gen) for kind in CFG.errors}


def cosines(param: str, values: list[float], e: torch.Tensor) -> list[float]:
    return [measure(CFG, setting(CFG.optical, param, v), e)["cos_ternary"] for v in values]


@pytest.mark.parametrize("kind", CFG.errors)
def test_eight_bits_without_noise_reaches_the_target(errors: dict, kind: str) -> None:
    base = CFG.optical.camera
    assert base.bits == 8 and not base.shot_noise and base.read_noise == 0
    point = measure(CFG, CFG.optical, errors[kind])
    assert point["cos_ternary"] >= 0.95
    assert point["cos_error"] < point["cos_ternary"]  # ternarization costs more than the camera


@pytest.mark.parametrize(
    "param, values",
    [
        ("bits", [2, 3, 4, 6, 8]),  # more bits: better
        ("full_well", [30.0, 300.0, 3_000.0, 30_000.0]),  # more photons: less shot noise, better
        ("read_noise", [3_000.0, 1_000.0, 300.0, 0.0]),  # less read noise: better
    ],
)
def test_fidelity_improves_monotonically(errors: dict, param: str, values: list[float]) -> None:
    for kind, e in errors.items():
        curve = cosines(param, values, e)
        assert all(a < b for a, b in itertools.pairwise(curve)), (kind, curve)
        assert curve[0] < 0.9  # the worst setting is visibly worse
