"""Scene loaders: Blender, npz and LLFF layouts on generated fixtures; missing or malformed input is named."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from common.paths import DataMissingError
from nerf.config import DataConfig
from nerf.data import LLFF_BOUND_FACTOR, area_downscale, load_scene

from .conftest import SIZE, forward_cameras, orbit, write_llff, write_npz


def test_blender_composites_on_white_and_derives_the_focal(blender_scene: Path) -> None:
    scene = load_scene(DataConfig(format="blender", root=str(blender_scene)))
    assert scene.images["train"].shape == (4, SIZE, SIZE, 3) and scene.images["test"].shape == (2, SIZE, SIZE, 3)
    assert math.isclose(scene.focal, 0.5 * SIZE / math.tan(0.5 * 0.69), rel_tol=1e-9)
    assert torch.allclose(scene.poses["train"], torch.from_numpy(orbit(4)).float())
    from PIL import Image

    rgba = np.asarray(Image.open(blender_scene / "train" / "r_1.png"), dtype=np.float32) / 255
    white = rgba[..., :3] * rgba[..., 3:] + 1 - rgba[..., 3:]
    assert np.allclose(scene.images["train"][1].numpy(), white, atol=1e-6)
    assert scene.background == 1.0 and not scene.ndc

    half = load_scene(DataConfig(format="blender", root=str(blender_scene), downscale=2, white_background=False))
    assert half.images["train"].shape[1:3] == (SIZE // 2, SIZE // 2) and math.isclose(half.focal, scene.focal / 2)
    assert half.background == 0.0


def test_area_downscale_averages_blocks() -> None:
    image = np.arange(4 * 6 * 1, dtype=np.float32).reshape(4, 6, 1)
    small = area_downscale(image, 2)
    assert small.shape == (2, 3, 1) and small[0, 0, 0] == np.mean([0, 1, 6, 7])


def test_npz_layout_with_and_without_split(tmp_path: Path) -> None:
    scene = load_scene(DataConfig(format="npz", root=str(write_npz(tmp_path / "a.npz")), white_background=False))
    assert len(scene.images["train"]) == 4 and len(scene.images["test"]) == 2
    assert math.isclose(scene.focal, SIZE * 1.4)
    bare = load_scene(DataConfig(format="npz", root=str(write_npz(tmp_path / "b.npz", 101, 3, split=False))))
    assert len(bare.images["train"]) == 100 and len(bare.images["test"]) == 4  # the tiny-NeRF convention
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="missing arrays"):
        load_scene(DataConfig(format="npz", root=str(tmp_path / "bad.npz")))


def test_llff_poses_are_turned_scaled_and_recentred(llff_scene: Path) -> None:
    scene = load_scene(DataConfig(format="llff", root=str(llff_scene), llff_factor=2, llff_hold=4, ndc=True))
    assert scene.images["train"].shape[1:3] == (SIZE, SIZE) and math.isclose(scene.focal, 20.0)  # 40 px at 32 px
    assert len(scene.images["test"]) == 3 and len(scene.images["train"]) == 6  # views 0, 4, 8 held out
    assert (scene.near, scene.far) == (0.0, 1.0) and scene.ndc and scene.background == 0.0

    poses = torch.cat([scene.poses["test"], scene.poses["train"]])[[0, 3, 4, 5, 1, 6, 7, 8, 2]]  # file order
    original = torch.from_numpy(forward_cameras(9)).float()
    scale = 1 / (3.0 * LLFF_BOUND_FACTOR)
    assert torch.allclose(poses[:, :3, 3].mean(0), torch.zeros(3), atol=1e-5)  # recentred
    for i, j in [(0, 1), (2, 7), (5, 3)]:  # relative poses survive, with distances scaled
        rel = torch.linalg.inv(poses[i]) @ poses[j]
        ref = torch.linalg.inv(original[i]) @ original[j]
        assert torch.allclose(rel[:3, :3], ref[:3, :3], atol=1e-5)
        assert torch.allclose(rel[:3, 3], ref[:3, 3] * scale, atol=1e-5)
    rays = scene.rays("test", 0)
    assert len(rays) == SIZE * SIZE and torch.isfinite(rays.directions).all()
    assert torch.allclose(rays.origins[:, 2], torch.full((SIZE * SIZE,), -1.0), atol=1e-5)  # NDC near plane


def test_llff_prefers_the_downscaled_folder(tmp_path: Path) -> None:
    root = write_llff(tmp_path / "llff", factor_folder=True)
    scene = load_scene(DataConfig(format="llff", root=str(root), llff_factor=2))
    assert scene.images["train"].shape[1:3] == (SIZE, SIZE)
    assert scene.near > 0 and not scene.ndc  # metric bounds without NDC


def test_missing_data_names_the_file_and_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataMissingError, match=r"transforms_train\.json(.|\n)*nerf_synthetic"):
        load_scene(DataConfig(format="blender", root=str(tmp_path / "nowhere")))
    with pytest.raises(DataMissingError, match=r"poses_bounds\.npy(.|\n)*nerf_llff_data"):
        load_scene(DataConfig(format="llff", root=str(tmp_path / "nowhere")))


def test_malformed_scenes_are_named(tmp_path: Path, blender_scene: Path, llff_scene: Path) -> None:
    (blender_scene / "transforms_test.json").write_text(json.dumps({"frames": []}))
    with pytest.raises(ValueError, match="camera_angle_x"):
        load_scene(DataConfig(format="blender", root=str(blender_scene)))
    np.save(llff_scene / "poses_bounds.npy", np.zeros((9, 15)))
    with pytest.raises(ValueError, match=r"\(N, 17\)"):
        load_scene(DataConfig(format="llff", root=str(llff_scene)))
    with pytest.raises(ValueError, match="data.ndc"):
        load_scene(DataConfig(format="npz", root=str(write_npz(tmp_path / "c.npz")), ndc=True))
