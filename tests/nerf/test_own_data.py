"""Your own scene: Blender and LLFF folders at any resolution, named in final.json; a collapsed run says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.config import ConfigError, load_config
from common.paths import ROOT
from nerf.config import DataConfig, NerfConfig
from nerf.data import load_scene
from nerf.health import COLLAPSE_RATIO, UNDEFINED, finite_alignment, warnings
from nerf.train import main
from nlp.config import NLPConfig

from .conftest import SIZE, write_blender, write_llff

SMALL = [
    "train.iters=3",
    "train.rays=32",
    "train.log_every=1",
    "sampling.coarse=8",
    "sampling.fine=8",
    "model.depth=2",
    "model.width=16",
    "model.skips=[]",
    "eval.render_views=1",
    "eval.turntable_frames=0",
    "eval.chunk=256",
]


def _train(tmp_path: Path, config: str, *overrides: str, name: str = "run") -> dict:
    out = tmp_path / name
    main(["--config", str(ROOT / "nerf" / "configs" / config), "--out", str(out), "--threads", "1", *SMALL, *overrides])
    return json.loads((out / "final.json").read_text())


def test_readme_command_on_a_blender_folder(tmp_path: Path) -> None:
    scene = write_blender(tmp_path / "my scene")
    final = _train(tmp_path, "nerf8x256_lego200.yaml", f"data.root={scene}", "train.precrop_iters=2")
    data = final["data"]
    assert data["name"] == "'my scene' (Blender layout)" and data["path"] == scene.resolve().as_posix()
    assert data["detail"] == f"{SIZE}×{SIZE} px, 4 train / 2 test views"
    read = [*scene.glob("t*.json"), *scene.glob("train/*.png"), *scene.glob("test/*.png")]  # not val/
    assert data["bytes"] == sum(p.stat().st_size for p in read) - (scene / "transforms_val.json").stat().st_size


def test_readme_command_on_an_llff_folder(tmp_path: Path) -> None:
    scene = write_llff(tmp_path / "room", full=2 * SIZE)
    final = _train(tmp_path, "nerf4x256_fern.yaml", f"data.root={scene}", "data.llff_factor=2", "data.llff_hold=4")
    assert final["data"]["name"] == "'room' (LLFF layout)"
    assert final["data"]["detail"].startswith(f"{SIZE}×{SIZE} px, 6 train / 3 test views")


@pytest.mark.parametrize("downscale", [1, 2, 4])
def test_any_resolution(tmp_path: Path, downscale: int) -> None:
    scene = load_scene(DataConfig(root=str(write_blender(tmp_path / "b")), downscale=downscale))
    assert (scene.height, scene.width) == (SIZE // downscale, SIZE // downscale)
    assert scene.describe().detail.startswith(f"{SIZE // downscale}×{SIZE // downscale} px")


def test_the_shipped_scene_keeps_its_name() -> None:
    cfg = load_config(NerfConfig, ROOT / "nerf" / "configs" / "nerf4x128_lego100.yaml", [])
    source = load_scene(cfg.data).describe()
    assert source.name == "'lego_tinynerf_format_100.npz' (tiny-NeRF npz layout, shipped)"
    assert source.path == "data/nerf/lego_tinynerf_format_100.npz"


def test_a_collapsed_run_is_reported_not_hidden(tmp_path: Path) -> None:
    scene = write_blender(tmp_path / "scene")
    # A learning rate of 1 kills every ReLU at the first step: the render is the background everywhere.
    final = _train(
        tmp_path,
        "nerf8x256_lego200.yaml",
        f"data.root={scene}",
        "train.lr=1.0",
        "feedback.kind=dfa",
        "feedback.align_every=1",
    )
    assert any(w.startswith("collapsed render") and "train.precrop_iters" in w for w in final["warnings"])
    assert any(w.startswith("alignment undefined") for w in final["warnings"])
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(r.get(UNDEFINED) for r in records)  # counted, and the NaN values themselves left out
    assert "diverged" not in final and final["metrics"]["test/psnr"] > 0  # the loss stayed finite: not diverged


def test_health_checks() -> None:
    assert finite_alignment({"a": 0.5, "b": float("nan")}) == {"a": 0.5, UNDEFINED: 1}
    assert finite_alignment({"a": 0.5}) == {"a": 0.5}
    assert warnings({"test/render_std": 0.1, "test/truth_std": 0.2}, []) == []
    collapsed = {"test/render_std": COLLAPSE_RATIO * 0.2 * 0.9, "test/truth_std": 0.2}
    assert len(warnings(collapsed, [{"step": 3}, {"step": 7, UNDEFINED: 2}])) == 2


def test_amp_is_spelled_alike_in_nerf_and_nlp() -> None:
    for cls in (NerfConfig, NLPConfig):
        assert load_config(cls, None, []).train.amp == "none"
        assert load_config(cls, None, ["train.amp=none"]).train.amp == "none"
        with pytest.raises(ConfigError, match=r"'train.amp' must be one of \['none', 'bf16'\]"):
            load_config(cls, None, ["train.amp=off"])  # nlp's old spelling (YAML reads it as false)
