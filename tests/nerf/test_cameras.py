"""Camera model: pixel rays against an independent pinhole projection; NDC rays against the NDC projection."""

from __future__ import annotations

import math

import torch

from nerf.cameras import camera_rays, forward_facing_path, look_at, make_rays, ndc_rays, orbit_path

from .conftest import orbit


def random_c2w(seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    c2w = torch.eye(4, dtype=torch.float64)
    c2w[:3, :3], c2w[:3, 3] = q, torch.randn(3, generator=gen, dtype=torch.float64) * 3
    return c2w


def project_opencv(points: torch.Tensor, c2w: torch.Tensor, focal: float, height: int, width: int) -> torch.Tensor:
    """Pixel coordinates (u, v) of world points through K [R | t] in the OpenCV convention (y down, z forward)."""
    c2w_cv = c2w @ torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64))
    w2c = torch.linalg.inv(c2w_cv)
    cam = points @ w2c[:3, :3].T + w2c[:3, 3]
    k = torch.tensor([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=torch.float64)
    pix = cam @ k.T
    return pix[..., :2] / pix[..., 2:]


def test_each_pixel_ray_projects_back_to_that_pixel_centre() -> None:
    height, width, focal = 6, 9, 7.5
    c2w = random_c2w(0)
    origins, dirs = camera_rays(c2w[None].float(), height, width, focal)  # (1, H, W, 3)
    assert torch.allclose(origins[0, 2, 3], c2w[:3, 3].float())
    for depth in (0.5, 3.0):
        points = (origins + depth * dirs)[0].double()
        uv = project_opencv(points, c2w, focal, height, width)
        rows, cols = torch.meshgrid(
            torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij"
        )
        assert torch.allclose(uv[..., 0], cols + 0.5, atol=1e-4)
        assert torch.allclose(uv[..., 1], rows + 0.5, atol=1e-4)


def test_directions_have_unit_depth_along_the_viewing_axis() -> None:
    c2w = random_c2w(1)
    _, dirs = camera_rays(c2w[None].float(), 5, 5, 4.0)
    forward = -c2w[:3, 2].float()
    assert torch.allclose(dirs @ forward, torch.ones(1, 5, 5), atol=1e-5)
    assert torch.allclose(dirs[0, 2, 2], forward, atol=1e-6)  # odd size: the centre pixel looks straight ahead


def test_field_of_view_matches_the_focal_length() -> None:
    width, angle = 64, 0.6911112070083618  # NeRF-Synthetic's camera_angle_x
    focal = 0.5 * width / math.tan(0.5 * angle)
    d = torch.tensor([[-width / 2 / focal, 0.0, -1.0], [width / 2 / focal, 0.0, -1.0]])  # the image's side edges
    cos = torch.nn.functional.cosine_similarity(d[0], d[1], dim=0)
    assert math.isclose(math.acos(cos), angle, rel_tol=1e-6)


def ndc_of_points(p: torch.Tensor, height: int, width: int, focal: float, near: float) -> torch.Tensor:
    """The NDC projection of camera-frame points (NeRF appendix C), written independently of ndc_rays."""
    x, y, z = p.unbind(-1)
    return torch.stack([-(2 * focal / width) * x / z, -(2 * focal / height) * y / z, 1 + 2 * near / z], -1)


def points_of_ndc(q: torch.Tensor, height: int, width: int, focal: float, near: float) -> torch.Tensor:
    """Inverse of :func:`ndc_of_points`."""
    z = 2 * near / (q[..., 2] - 1)
    return torch.stack([-q[..., 0] * z * width / (2 * focal), -q[..., 1] * z * height / (2 * focal), z], -1)


def test_ndc_rays_round_trip() -> None:
    height, width, focal, near = 8, 12, 10.0, 1.0
    c2w = torch.eye(4, dtype=torch.float64)
    c2w[:3, 3] = torch.tensor([0.2, -0.1, 0.3])
    o, d = camera_rays(c2w[None].float(), height, width, focal)
    o, d = o.reshape(-1, 3).double(), d.reshape(-1, 3).double()
    o_ndc, d_ndc = ndc_rays(o, d, height, width, focal, near)
    assert torch.allclose(o_ndc[:, 2], torch.full_like(o_ndc[:, 2], -1.0))  # the near plane maps to z = -1
    assert torch.allclose((o_ndc + d_ndc)[:, 2], torch.ones_like(o_ndc[:, 2]))  # infinity maps to z = +1

    ts = torch.tensor([0.0, 0.5, 2.0, 10.0, 1000.0], dtype=torch.float64)
    t_near = -(near + o[:, 2]) / d[:, 2]
    world = o[:, None] + (t_near[:, None] + ts)[..., None] * d[:, None]  # (R, T, 3) beyond the near plane
    q = ndc_of_points(world, height, width, focal, near)
    s = ((q - o_ndc[:, None]) * d_ndc[:, None]).sum(-1) / (d_ndc * d_ndc).sum(-1)[:, None]
    on_ray = o_ndc[:, None] + s[..., None] * d_ndc[:, None]
    assert torch.allclose(on_ray, q, atol=1e-9)  # world points along the ray lie on the NDC ray
    assert (s.diff(dim=1) > 0).all() and (s >= -1e-12).all() and (s < 1).all()  # in order, within [0, 1)
    assert torch.allclose(points_of_ndc(on_ray, height, width, focal, near), world, atol=1e-6)  # and back


def test_make_rays_flattens_views_rows_columns_and_keeps_world_viewdirs() -> None:
    poses = torch.from_numpy(orbit(3)).float()
    rays = make_rays(poses, 4, 5, 6.0)
    assert len(rays) == 3 * 4 * 5
    o, d = camera_rays(poses, 4, 5, 6.0)
    assert torch.equal(rays.origins.view(3, 4, 5, 3), o) and torch.equal(rays.directions.view(3, 4, 5, 3), d)
    assert torch.allclose(rays.viewdirs.norm(dim=-1), torch.ones(len(rays)))
    ndc = make_rays(torch.eye(4)[None], 4, 5, 6.0, ndc=True)
    assert torch.allclose(
        ndc.viewdirs, torch.nn.functional.normalize(camera_rays(torch.eye(4)[None], 4, 5, 6.0)[1], dim=-1).view(-1, 3)
    )


def test_turntable_paths_look_at_their_targets() -> None:
    poses = torch.from_numpy(orbit(8, radius=4.0, elevation_deg=30.0)).float()
    path = orbit_path(poses, 12)
    assert path.shape == (12, 4, 4)
    assert torch.allclose(path[:, :3, 3].norm(dim=-1), torch.full((12,), 4.0), atol=1e-4)
    looking = -path[:, :3, 2]  # each camera looks at the origin
    assert torch.allclose(looking, -path[:, :3, 3] / 4.0, atol=1e-4)
    assert torch.allclose(path[:, 2, 3], torch.full((12,), 4.0 * math.sin(math.radians(30))), atol=1e-4)

    forward = forward_facing_path(torch.eye(4)[None].repeat(4, 1, 1), 2.0, 8.0, 6)
    focus = torch.tensor([0.0, 0.0, -3.2])  # harmonic mean of 2 and 8
    to_focus = torch.nn.functional.normalize(focus - forward[:, :3, 3], dim=-1)
    assert torch.allclose(-forward[:, :3, 2], to_focus, atol=1e-5)
    assert torch.allclose(
        look_at(torch.zeros(3), torch.tensor([0.0, 0.0, -1.0]), torch.tensor([0.0, 1.0, 0.0])), torch.eye(4)
    )
