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
    margin: float = 1.05,
) -> list[Camera]:
    """`views` perspective cameras evenly spaced around the +Y axis, all framing the same bounding sphere.

    The first view is the front (azimuth 0: camera on +Z of the object's centre); the azimuth grows towards +X.
    The sphere (centre of the bounding box, radius to the farthest vertex) fits the frame whatever the angle.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if views < 1 or size < 1:
        raise ValueError(f"need at least one view of at least 1 pixel, got views={views}, size={size}")
    if len(v) == 0 or not np.isfinite(v).all():
        raise ValueError("cannot frame a mesh with no vertices or non-finite ones")
    center = (v.min(0) + v.max(0)) / 2
    radius = max(float(np.linalg.norm(v - center, axis=1).max()), 1e-9)
    distance = margin * radius / math.sin(math.radians(fov_deg) / 2)
    cams = []
    for k in range(views):
        cam = orbit_camera(360.0 * k / views, elevation, distance, size=size, fov_deg=fov_deg)
        c2w = cam.c2w.copy()
        c2w[:3, 3] += center
        cams.append(
            Camera(c2w, size, size, fov_deg=fov_deg, near=max(distance - radius * 1.01, distance * 1e-3),
                   far=distance + radius * 1.01)
        )
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
