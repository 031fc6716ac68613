"""Pinhole cameras: one ray per pixel, NDC rays for forward-facing scenes, and camera paths for novel views.

Convention (NeRF, OpenGL): a camera-to-world matrix ``c2w`` (4, 4) has columns x = right, y = up,
z = backwards (the camera looks along -z) and the camera centre. Pixel (row j, column i) of an H × W
image with focal length f (pixels) looks through its centre::

    d_cam = ((i + 0.5 - W/2) / f,  -(j + 0.5 - H/2) / f,  -1)

(The NeRF release omits the half-pixel offset; with images downscaled by area averaging the pixel
centre is the right sample point.) Directions are not normalised: a point at depth t along a ray is
``o + t d`` with t measured along the camera's viewing axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


def pixel_directions(height: int, width: int, focal: float) -> Tensor:
    """Camera-frame directions of every pixel centre: (H, W, 3), z = -1."""
    rows, cols = torch.meshgrid(
        torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij"
    )
    x = (cols + 0.5 - width / 2) / focal
    y = -(rows + 0.5 - height / 2) / focal
    return torch.stack([x, y, -torch.ones_like(x)], dim=-1)


def camera_rays(c2w: Tensor, height: int, width: int, focal: float) -> tuple[Tensor, Tensor]:
    """World-frame rays of every pixel of every camera.

    Args:
        c2w: (N, 4, 4) or (N, 3, 4) camera-to-world matrices.
    Returns:
        origins and directions, each (N, H, W, 3) float32.
    """
    c2w = c2w.to(torch.float64)
    d_cam = pixel_directions(height, width, focal)  # (H, W, 3)
    directions = torch.einsum("nij,hwj->nhwi", c2w[:, :3, :3], d_cam)  # (N, H, W, 3)
    origins = c2w[:, None, None, :3, 3].expand_as(directions)
    return origins.float().contiguous(), directions.float().contiguous()


def ndc_rays(origins: Tensor, directions: Tensor, height: int, width: int, focal: float, near: float = 1.0):
    """Map rays of a forward-facing camera to normalized device coordinates (NeRF, appendix C).

    The perspective projection sends the frustum between the plane z = -near and infinity to the cube
    [-1, 1]^3; a ray becomes a straight line o' + t' d' with t' ∈ [0, 1) from the near plane to infinity.
    Rays are first moved to their intersection with the near plane. Shapes (..., 3) → (..., 3).
    """
    t = -(near + origins[..., 2]) / directions[..., 2]
    o = origins + t[..., None] * directions
    ox, oy, oz = o.unbind(-1)
    dx, dy, dz = directions.unbind(-1)
    ax, ay = -2 * focal / width, -2 * focal / height
    o_ndc = torch.stack([ax * ox / oz, ay * oy / oz, 1 + 2 * near / oz], dim=-1)
    d_ndc = torch.stack([ax * (dx / dz - ox / oz), ay * (dy / dz - oy / oz), -2 * near / oz], dim=-1)
    return o_ndc, d_ndc


def look_at(position: Tensor, target: Tensor, up: Tensor) -> Tensor:
    """The c2w (4, 4) of a camera at ``position`` looking at ``target`` with ``up`` roughly upwards."""
    z = position - target
    z = z / z.norm()
    x = torch.linalg.cross(up, z)
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    c2w = torch.eye(4, dtype=position.dtype)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, position
    return c2w


def orbit_path(poses: Tensor, frames: int) -> Tensor:
    """A turntable around an object at the origin (NeRF-Synthetic): (frames, 4, 4).

    Radius and elevation are the mean of the training cameras'; the orbit's axis is their mean up vector.
    """
    poses = poses.to(torch.float64)
    centres = poses[:, :3, 3]
    up = poses[:, :3, 1].mean(0)
    up = up / up.norm()
    radius = centres.norm(dim=-1).mean()
    elevation = torch.asin((centres @ up) / centres.norm(dim=-1)).mean()
    e1 = torch.linalg.cross(up, centres[0])
    e1 = e1 / e1.norm()
    e2 = torch.linalg.cross(up, e1)
    path = []
    for k in range(frames):
        theta = 2 * math.pi * k / frames
        around = math.cos(theta) * e1 + math.sin(theta) * e2
        position = radius * (torch.cos(elevation) * around + torch.sin(elevation) * up)
        path.append(look_at(position, torch.zeros(3, dtype=torch.float64), up))
    return torch.stack(path).float()


def forward_facing_path(poses: Tensor, near: float, far: float, frames: int) -> Tensor:
    """A circle of camera positions in the plane of a forward-facing capture (LLFF): (frames, 4, 4).

    The poses are recentred (their average is the identity). The circle's radii are the 90th percentile
    of the cameras' offsets; every frame looks at the point on the viewing axis at the harmonic mean of
    the depth bounds.
    """
    poses = poses.to(torch.float64)
    offsets = poses[:, :3, 3].abs()
    rx, ry = torch.quantile(offsets[:, 0], 0.9), torch.quantile(offsets[:, 1], 0.9)
    focus = torch.tensor([0.0, 0.0, -2.0 / (1.0 / near + 1.0 / far)], dtype=torch.float64)
    up = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    path = []
    for k in range(frames):
        theta = 2 * math.pi * k / frames
        position = torch.stack([rx * math.cos(theta), ry * math.sin(theta), torch.zeros((), dtype=torch.float64)])
        path.append(look_at(position, focus, up))
    return torch.stack(path).float()


@dataclass
class Rays:
    """A batch of rays: origins and directions in the space the renderer samples (NDC for LLFF), and the
    unit world-frame viewing directions the network sees. Each field is (N, 3)."""

    origins: Tensor
    directions: Tensor
    viewdirs: Tensor

    def __len__(self) -> int:
        return self.origins.shape[0]

    def __getitem__(self, index: Tensor | slice) -> Rays:
        return Rays(self.origins[index], self.directions[index], self.viewdirs[index])

    def to(self, device: torch.device | str) -> Rays:
        return Rays(self.origins.to(device), self.directions.to(device), self.viewdirs.to(device))


def make_rays(c2w: Tensor, height: int, width: int, focal: float, ndc: bool = False) -> Rays:
    """All rays of the cameras ``c2w`` (N, 4, 4), flattened in (camera, row, column) order: N·H·W rays."""
    origins, directions = camera_rays(c2w, height, width, focal)
    viewdirs = directions / directions.norm(dim=-1, keepdim=True)
    if ndc:
        origins, directions = ndc_rays(origins, directions, height, width, focal)
    return Rays(origins.reshape(-1, 3), directions.reshape(-1, 3), viewdirs.reshape(-1, 3))
