"""Turntable preview sheets for `latentgen render`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import trimesh

from ..camera import Camera, orbit_camera
from .shading import corner_normals, shade, to_uint8

if TYPE_CHECKING:
    from .base import Rasterizer


def frame_cameras(
    vertices: np.ndarray,
    views: int = 4,
    size: int = 512,
    elevation: float = 20.0,
    fov_deg: float = 35.0,
    margin: float = 1.08,
) -> list[Camera]:
    """`views` perspective cameras evenly spaced around the +Y axis through the centre of the vertices' bounding box.

    The first view is the front (azimuth 0: camera on +Z of the centre); the azimuth grows towards +X. All views share
    the smallest distance at which every vertex fits every view with `margin` to spare, so the object keeps one scale
    around the turntable and fills the frame.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if views < 1 or size < 1:
        raise ValueError(f"need at least one view of at least 1 pixel, got views={views}, size={size}")
    if len(v) == 0 or not np.isfinite(v).all():
        raise ValueError("cannot frame a mesh with no vertices or non-finite ones")
    center = (v.min(0) + v.max(0)) / 2
    rel = v - center
    radius = max(float(np.linalg.norm(rel, axis=1).max()), 1e-9)
    tan_half = math.tan(math.radians(fov_deg) / 2) / margin
    rotations = [orbit_camera(360.0 * k / views, elevation, 1.0).c2w[:3, :3] for k in range(views)]
    distance = 0.0
    for rot in rotations:
        xyz = rel @ rot  # [V, 3] along the camera's right, up, back axes
        # a vertex fits when |x|, |y| <= tan_half * its depth, and its depth is distance - z
        distance = max(distance, float((np.abs(xyz[:, :2]).max(1) / tan_half + xyz[:, 2]).max()))
    distance = max(distance, 1.01 * radius)  # never inside the bounding sphere
    near, far = max(distance - 1.01 * radius, 1e-3 * distance), distance + 1.01 * radius  # tight: depth precision
    cams = []
    for rot in rotations:
        c2w = np.eye(4)
        c2w[:3, :3], c2w[:3, 3] = rot, center + distance * rot[:, 2]
        cams.append(Camera(c2w, size, size, fov_deg=fov_deg, near=near, far=far))
    return cams


def turntable_grid(
    mesh: trimesh.Trimesh,
    views: int = 4,
    size: int = 512,
    rasterizer: Rasterizer | None = None,
    elevation: float = 20.0,
    supersample: int = 2,
    background: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """Contact sheet of `views` renders around the mesh -> RGB uint8 [rows * size, cols * size, 3].

    Views go left to right, then top to bottom, on a near-square grid (cols = ceil(sqrt(views))), starting at the
    front. Each view is rendered at `supersample` times the size and box-filtered down (anti-aliased edges).
    """
    if rasterizer is None:
        from .cpu import CpuRasterizer

        rasterizer = CpuRasterizer()
    cols = math.ceil(math.sqrt(views))
    rows = math.ceil(views / cols)
    bg = np.asarray(background, dtype=np.float32) / 255.0
    sheet = np.empty((rows * size, cols * size, 3), dtype=np.float32)
    sheet[:] = bg
    ss = max(1, int(supersample))
    normals = corner_normals(mesh.vertices, mesh.faces)
    for k, cam in enumerate(frame_cameras(mesh.vertices, views, size * ss, elevation)):
        frags = rasterizer.rasterize(mesh.vertices, mesh.faces, cam)
        rgb = np.where((frags.face_id >= 0)[..., None], shade(mesh, frags, cam, normals=normals), bg)  # [S*ss, S*ss, 3]
        r, c = divmod(k, cols)
        sheet[r * size : (r + 1) * size, c * size : (c + 1) * size] = _box_down(rgb, ss)
    return to_uint8(sheet)


def _box_down(image: np.ndarray, factor: int) -> np.ndarray:
    """[H * f, W * f, C] -> [H, W, C], mean of each f x f block (strided sums beat reshape().mean() here)."""
    out = np.zeros_like(image[::factor, ::factor])
    for a in range(factor):
        for b in range(factor):
            out += image[a::factor, b::factor]
    return out / (factor * factor)
