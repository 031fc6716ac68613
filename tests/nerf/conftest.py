"""Tiny scenes in each layout the NeRF loaders read (Blender, tiny-NeRF npz, LLFF), written to tmp_path."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nerf.cameras import look_at

SIZE = 16  # pixels: the smallest side SSIM's 11 × 11 window accepts, with margin


def orbit(n: int, radius: float = 4.0, elevation_deg: float = 30.0) -> np.ndarray:
    """(n, 4, 4) OpenGL camera-to-world matrices on a circle around the origin, z up."""
    up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    el = math.radians(elevation_deg)
    poses = []
    for k in range(n):
        th = 2 * math.pi * k / n
        pos = radius * torch.tensor([math.cos(el) * math.cos(th), math.cos(el) * math.sin(th), math.sin(el)])
        poses.append(look_at(pos.double(), torch.zeros(3, dtype=torch.float64), up).numpy())
    return np.stack(poses)


def images(n: int, channels: int, seed: int = 0) -> np.ndarray:
    """Smooth random images (n, SIZE, SIZE, channels) as uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    base = rng.uniform(0, 1, (n, 1, 1, channels)) * 0.5 + 0.25 * (x + y)[None, :, :, None]
    return (np.clip(base, 0, 1) * 255).astype(np.uint8)


def write_blender(root: Path, n_train: int = 4, n_test: int = 2, angle: float = 0.69) -> Path:
    for split, n in (("train", n_train), ("test", n_test), ("val", 1)):
        (root / split).mkdir(parents=True, exist_ok=True)
        frames = []
        for k, (pose, im) in enumerate(zip(orbit(n), images(n, 4, seed=len(split)), strict=True)):
            Image.fromarray(im, "RGBA").save(root / split / f"r_{k}.png")
            frames.append({"file_path": f"./{split}/r_{k}", "transform_matrix": pose.tolist()})
        (root / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": angle, "frames": frames}))
    return root


def write_npz(path: Path, n_train: int = 4, n_test: int = 2, split: bool = True) -> Path:
    n = n_train + n_test
    arrays = {
        "images": images(n, 3).astype(np.float32) / 255,
        "poses": orbit(n).astype(np.float32),
        "focal": np.float64(SIZE * 1.4),
    }
    if split:
        arrays["split"] = np.array(["train"] * n_train + ["test"] * n_test)
    np.savez(path, **arrays)
    return path


def llff_matrix(c2w: np.ndarray, height: int, width: int, focal: float) -> np.ndarray:
    """An OpenGL c2w (4, 4) in the LLFF file layout: 3 × 5, columns (down, right, backwards, centre, hwf)."""
    right, up, back, centre = c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3]
    return np.stack([-up, right, back, centre, [height, width, focal]], axis=1)


def forward_cameras(n: int) -> np.ndarray:
    """(n, 4, 4) cameras of a forward-facing capture: a small grid of positions, all looking at -z."""
    poses = []
    for k in range(n):
        c2w = np.eye(4)
        c2w[:3, 3] = [0.3 * (k % 3 - 1), 0.2 * (k // 3 - 1), 0.1 * k]
        poses.append(c2w)
    return np.stack(poses)


def write_llff(root: Path, n: int = 9, full: int = 2 * SIZE, focal: float = 40.0, factor_folder: bool = False) -> Path:
    """An LLFF scene whose images are ``full`` px (or ``images_2/`` at half size); depth bounds 3..20."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [np.concatenate([llff_matrix(c2w, full, full, focal).ravel(), [3.0, 20.0]]) for c2w in forward_cameras(n)]
    np.save(root / "poses_bounds.npy", np.stack(rows))
    folder, side = (root / "images_2", full // 2) if factor_folder else (root / "images", full)
    folder.mkdir()
    for k, im in enumerate(images(n, 3)):
        Image.fromarray(im).resize((side, side)).save(folder / f"IMG_{k:04d}.png")
    return root


@pytest.fixture
def blender_scene(tmp_path: Path) -> Path:
    return write_blender(tmp_path / "blender")


@pytest.fixture
def npz_scene(tmp_path: Path) -> Path:
    return write_npz(tmp_path / "scene.npz")


@pytest.fixture
def llff_scene(tmp_path: Path) -> Path:
    return write_llff(tmp_path / "llff")
