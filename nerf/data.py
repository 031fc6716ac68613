"""Scenes for NeRF: the Blender layout (NeRF-Synthetic), the tiny-NeRF .npz layout and LLFF.

Every loader returns a :class:`Scene`: images per split on the chosen background, camera-to-world
poses in the OpenGL convention of :mod:`nerf.cameras`, one pinhole camera (H, W, focal), the ray
bounds, and a camera path for the turntable of novel views.

* **blender** — ``transforms_{train,test}.json`` (``camera_angle_x``; per frame ``file_path`` without
  extension and a 4×4 ``transform_matrix``) and RGBA PNGs; focal = W / (2 tan(camera_angle_x / 2)).
* **npz** — ``images`` (N, H, W, 3) in [0, 1], ``poses`` (N, 4, 4), ``focal``, and optionally ``split``
  ('train' / 'test' per image); without it the first 100 images train and the rest test (tiny-NeRF).
* **llff** — ``poses_bounds.npy`` (N, 17): per image a 3×5 matrix flattened row-major, whose first four
  columns are the camera-to-world matrix with axes (down, right, backwards) and whose last column is
  (H, W, focal), followed by the near and far depth bounds of the scene in that view; images in
  ``images_<factor>/`` or ``images/``, in sorted file-name order. As in the NeRF release, the axes are
  turned to (right, up, backwards), the scene is scaled so that the nearest bound is 1 / 0.75, and the
  poses are recentred on their average.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from common.paths import ROOT, require_file
from common.provenance import DataSource, describe
from nerf.cameras import Rays, forward_facing_path, make_rays, orbit_path
from nerf.config import DataConfig

HOW_TO_GET = {
    "blender": (
        "data/nerf/lego_200 ships with the repository. For other scenes or resolutions download "
        "nerf_synthetic.zip (NeRF release, github.com/bmild/nerf), unzip it and set data.root=<scene folder> "
        "(data.downscale=2 gives 400 px from the 800 px originals); see data/nerf/README.md"
    ),
    "npz": "data/nerf/lego_tinynerf_format_100.npz ships with the repository; see data/nerf/README.md",
    "llff": (
        "download nerf_llff_data.zip (NeRF release, github.com/bmild/nerf), unzip it into data/nerf/ and set "
        "data.root=data/nerf/nerf_llff_data/<scene>; see data/nerf/README.md"
    ),
}
LLFF_BOUND_FACTOR = 0.75
"""The NeRF release scales LLFF scenes so that the nearest depth bound is 1 / 0.75 (beyond the NDC near plane)."""
NPZ_TRAIN_IMAGES = 100
"""Without a ``split`` array, the tiny-NeRF notebook trains on the first 100 images."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SHIPPED = ("data/nerf/lego_200", "data/nerf/lego_tinynerf_format_100.npz")
"""The scenes that ship with the repository (named so in final.json)."""


@dataclass
class Scene:
    """Images and cameras of one scene."""

    name: str
    images: dict[str, Tensor]
    """split ('train', 'test') → (N, H, W, 3) float32 in [0, 1], composited on ``background``."""
    poses: dict[str, Tensor]
    """split → (N, 4, 4) camera-to-world matrices."""
    height: int
    width: int
    focal: float
    near: float
    far: float
    background: float
    """Colour that the renderer adds behind the scene: 1 (white), 0 (black, or none for real scenes)."""
    ndc: bool
    forward_facing: bool
    """Cameras face one way (LLFF): novel views circle in their plane; else they orbit the origin."""
    depth_bounds: tuple[float, float]
    """Nearest and farthest scene depth in scene units (where a forward-facing path looks)."""
    root: Path | None = None
    """The scene folder or file."""
    files: list[Path] = field(default_factory=list)
    """The files read (cameras and images), which :meth:`describe` hashes."""

    def rays(self, split: str, index: int | None = None, downscale: int = 1) -> Rays:
        """The rays of every view of ``split`` (or of view ``index``), N·H·W in (view, row, column) order."""
        poses = self.poses[split] if index is None else self.poses[split][index : index + 1]
        return self.camera_rays(poses, downscale)

    def camera_rays(self, poses: Tensor, downscale: int = 1) -> Rays:
        """Rays of arbitrary cameras with this scene's intrinsics, optionally at 1/``downscale`` resolution."""
        h, w = self.height // downscale, self.width // downscale
        return make_rays(poses, h, w, self.focal / downscale, self.ndc)

    def turntable(self, frames: int) -> Tensor:
        """(frames, 4, 4) cameras of novel views: an orbit, or a circle for a forward-facing scene."""
        if self.forward_facing:
            return forward_facing_path(self.poses["train"], *self.depth_bounds, frames)
        return orbit_path(self.poses["train"], frames)

    def describe(self) -> DataSource:
        """Name, path, size and content hash of the files read, with the resolution and views used."""
        n_train, n_test = len(self.images["train"]), len(self.images["test"])
        detail = f"{self.width}×{self.height} px, {n_train} train / {n_test} test views"
        shipped = self.root is not None and self.root.resolve() in {(ROOT / p).resolve() for p in SHIPPED}
        name = f"{self.name[:-1]}, shipped)" if shipped and self.name.endswith(")") else self.name
        return describe(name, self.root, files=self.files or None, detail=detail)


def load_scene(cfg: DataConfig) -> Scene:
    """Load the scene that ``cfg`` describes."""
    root = Path(cfg.root) if Path(cfg.root).is_absolute() else ROOT / cfg.root
    if cfg.downscale < 1:
        raise ValueError(f"data.downscale must be ≥ 1, got {cfg.downscale}")
    if cfg.ndc and cfg.format != "llff":
        raise ValueError("data.ndc=true needs a forward-facing scene (data.format=llff)")
    loaders = {"blender": load_blender, "npz": load_npz, "llff": load_llff}
    scene = loaders[cfg.format](root, cfg)
    if cfg.train_views:
        scene.images["train"] = scene.images["train"][: cfg.train_views]
        scene.poses["train"] = scene.poses["train"][: cfg.train_views]
    return scene


def area_downscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` × ``factor`` blocks of an (H, W, C) image (H, W cropped to multiples)."""
    if factor == 1:
        return image
    h, w, c = image.shape
    h, w = h - h % factor, w - w % factor
    blocks = image[:h, :w].reshape(h // factor, factor, w // factor, factor, c)
    return blocks.mean(axis=(1, 3))


def read_image(path: Path, factor: int = 1) -> np.ndarray:
    """An image file as float32 (H, W, C) in [0, 1] (C = 3 or 4), area-downscaled by ``factor``."""
    with Image.open(path) as im:
        mode = "RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB"
        pixels = np.asarray(im.convert(mode), dtype=np.float32) / 255.0
    return area_downscale(pixels, factor)


def composite(rgba: np.ndarray, background: float) -> np.ndarray:
    """Straight RGBA (..., 4) over a uniform background → RGB (..., 3)."""
    if rgba.shape[-1] == 3:
        return rgba
    alpha = rgba[..., 3:]
    return rgba[..., :3] * alpha + background * (1.0 - alpha)


def load_blender(root: Path, cfg: DataConfig) -> Scene:
    """A NeRF-Synthetic scene: transforms_{train,test}.json and RGBA PNGs."""
    how = HOW_TO_GET["blender"]
    background = 1.0 if cfg.white_background else 0.0
    images, poses, angle, files = {}, {}, None, []
    for split in ("train", "test"):
        meta = json.loads(require_file(root / f"transforms_{split}.json", how).read_text())
        if "camera_angle_x" not in meta or not meta.get("frames"):
            raise ValueError(f"{root / f'transforms_{split}.json'}: needs 'camera_angle_x' and a list of 'frames'")
        angle = float(meta["camera_angle_x"])
        paths = [require_file(_frame_file(root, f), how) for f in meta["frames"]]
        files += [root / f"transforms_{split}.json", *paths]
        frames = [composite(read_image(path, cfg.downscale), background) for path in paths]
        images[split] = torch.from_numpy(np.stack(frames)).float()
        poses[split] = torch.tensor([f["transform_matrix"] for f in meta["frames"]], dtype=torch.float32)
    height, width = images["train"].shape[1:3]
    focal = 0.5 * width / math.tan(0.5 * angle)
    return Scene(
        name=f"'{root.name}' (Blender layout)",
        images=images,
        poses=poses,
        height=height,
        width=width,
        focal=focal,
        near=cfg.near,
        far=cfg.far,
        background=background,
        ndc=False,
        forward_facing=False,
        depth_bounds=(cfg.near, cfg.far),
        root=root,
        files=files,
    )


def _frame_file(root: Path, frame: dict) -> Path:
    path = root / frame["file_path"]
    return path if path.suffix.lower() in IMAGE_SUFFIXES else path.with_name(path.name + ".png")


def load_npz(path: Path, cfg: DataConfig) -> Scene:
    """The tiny-NeRF layout: one .npz with images (N, H, W, 3), poses (N, 4, 4), focal[, split]."""
    with np.load(require_file(path, HOW_TO_GET["npz"])) as npz:
        missing = [k for k in ("images", "poses", "focal") if k not in npz]
        if missing:
            raise ValueError(f"{path}: missing arrays {missing} (expected images, poses, focal[, split])")
        images = np.stack([area_downscale(im, cfg.downscale) for im in npz["images"].astype(np.float32)])
        poses = torch.from_numpy(npz["poses"].astype(np.float32))
        focal = float(npz["focal"]) / cfg.downscale
        split = npz["split"] if "split" in npz else np.array(["train"] * NPZ_TRAIN_IMAGES + ["test"] * len(images))
    if len(images) != len(poses):
        raise ValueError(f"{path}: {len(images)} images but {len(poses)} poses")
    split = split[: len(images)]
    masks = {s: torch.from_numpy(split == s) for s in ("train", "test")}
    if not masks["train"].any() or not masks["test"].any():
        raise ValueError(f"{path}: needs both train and test images (split holds {sorted(set(split.tolist()))})")
    tensor = torch.from_numpy(images)
    height, width = images.shape[1:3]
    return Scene(
        name=f"'{path.name}' (tiny-NeRF npz layout)",
        images={s: tensor[m] for s, m in masks.items()},
        poses={s: poses[m] for s, m in masks.items()},
        height=height,
        width=width,
        focal=focal,
        near=cfg.near,
        far=cfg.far,
        background=1.0 if cfg.white_background else 0.0,
        ndc=False,
        forward_facing=False,
        depth_bounds=(cfg.near, cfg.far),
        root=path,
        files=[path],
    )


def load_llff(root: Path, cfg: DataConfig) -> Scene:
    """A forward-facing LLFF scene: poses_bounds.npy and its images."""
    how = HOW_TO_GET["llff"]
    table = np.load(require_file(root / "poses_bounds.npy", how)).astype(np.float64)
    if table.ndim != 2 or table.shape[1] != 17:
        raise ValueError(f"{root / 'poses_bounds.npy'}: expected an (N, 17) array, got {table.shape}")
    mats, bounds = table[:, :15].reshape(-1, 3, 5), table[:, 15:]
    folder, factor = root / f"images_{cfg.llff_factor}", 1
    if not folder.is_dir():
        folder, factor = require_file(root / "images", how), cfg.llff_factor
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) != len(mats):
        raise ValueError(f"{folder}: {len(files)} images but poses_bounds.npy describes {len(mats)}")
    images = np.stack([read_image(f, factor * cfg.downscale)[..., :3] for f in files])
    height, width = images.shape[1:3]
    focal = float(mats[0, 2, 4]) * height / float(mats[0, 0, 4])

    # (down, right, backwards) → (right, up, backwards); scale; recentre on the average pose.
    c2w = np.concatenate([mats[:, :, 1:2], -mats[:, :, 0:1], mats[:, :, 2:4]], axis=2)
    scale = 1.0 / (bounds.min() * LLFF_BOUND_FACTOR)
    c2w[:, :, 3] *= scale
    bounds = bounds * scale
    poses = np.concatenate([c2w, np.tile([[[0.0, 0.0, 0.0, 1.0]]], (len(c2w), 1, 1))], axis=1)
    poses = np.linalg.inv(_average_pose(poses)) @ poses
    poses = torch.from_numpy(poses).float()

    test = np.arange(len(poses)) % cfg.llff_hold == 0 if cfg.llff_hold else np.zeros(len(poses), bool)
    if test.all() or not test.any():
        raise ValueError(f"{root}: data.llff_hold={cfg.llff_hold} leaves no train or no test views")
    masks = {"train": torch.from_numpy(~test), "test": torch.from_numpy(test)}
    tensor = torch.from_numpy(images).float()
    near, far = (0.0, 1.0) if cfg.ndc else (float(bounds.min()) * 0.9, float(bounds.max()))
    return Scene(
        name=f"'{root.name}' (LLFF layout)",
        images={s: tensor[m] for s, m in masks.items()},
        poses={s: poses[m] for s, m in masks.items()},
        height=height,
        width=width,
        focal=focal,
        near=near,
        far=far,
        background=0.0,
        ndc=cfg.ndc,
        forward_facing=True,
        depth_bounds=(float(bounds.min()), float(bounds.max())),
        root=root,
        files=[root / "poses_bounds.npy", *files],
    )


def _average_pose(poses: np.ndarray) -> np.ndarray:
    """The mean camera: mean centre, mean backwards axis, up from the mean up axis (4, 4)."""
    centre = poses[:, :3, 3].mean(0)
    z = poses[:, :3, 2].sum(0)
    z /= np.linalg.norm(z)
    x = np.cross(poses[:, :3, 1].sum(0), z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    avg = np.eye(4)
    avg[:3, 0], avg[:3, 1], avg[:3, 2], avg[:3, 3] = x, y, z, centre
    return avg
