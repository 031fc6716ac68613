"""Pictures a run saves: rendered views and ground truth (PNG), depth maps (PNG) and a turntable (GIF)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image
from torch import Tensor

DEPTH_COLORMAP = "turbo_r"  # near = red, far = blue


def to_uint8(image: Tensor) -> np.ndarray:
    """(H, W, 3) float in [0, 1] → uint8 array."""
    return (image.detach().float().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def depth_to_uint8(depth: Tensor, acc: Tensor, near: float, far: float) -> np.ndarray:
    """Colour-mapped depth (H, W) → (H, W, 3) uint8. Empty space (low opacity) is shown at the far bound."""
    filled = depth + (1.0 - acc) * far  # expected depth with the background at the far bound
    scaled = ((filled - near) / (far - near)).clamp(0, 1).detach().cpu().numpy()
    rgba = matplotlib.colormaps[DEPTH_COLORMAP](scaled)
    return (rgba[..., :3] * 255 + 0.5).astype(np.uint8)


def save_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def save_gif(frames: list[np.ndarray], path: Path, fps: float = 12.5) -> None:
    """An endlessly looping GIF of (H, W, 3) uint8 frames."""
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
