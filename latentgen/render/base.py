"""What every rasterizer backend returns and offers (re-exported by latentgen.render)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..camera import Camera


@dataclass(frozen=True)
class Fragments:
    """Per-pixel visibility of one raster pass.

    face_id: [H, W] int32, index into `faces` of the nearest triangle, -1 on background.
    bary:    [H, W, 3] float32, perspective-correct weights of that triangle's 3 corners (sum 1; 0 on background).
    depth:   [H, W] float32, distance along the viewing axis (inf on background; 0 on covered texels of a UV raster).
    faces:   [F, 3] int64, the triangles that were rasterized, so attributes can be interpolated.
    """

    face_id: np.ndarray
    bary: np.ndarray
    depth: np.ndarray
    faces: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """[H, W] bool, True where a triangle covers the pixel centre."""
        return self.face_id >= 0


@runtime_checkable
class Rasterizer(Protocol):
    """Triangle rasterizer. Inputs and outputs are numpy arrays whatever the device.

    Conventions (identical for every backend):
    - pixel (i, j) is sampled at its centre (j + 0.5, i + 0.5), row 0 at the top (see latentgen.camera);
    - both triangle orientations are drawn (no back-face culling); the nearest surface wins, ties go to the lower
      face id;
    - geometry is clipped exactly at the camera's near and far planes (per pixel), so a triangle crossing the near
      plane keeps its visible part;
    - degenerate triangles (zero area on screen, or edge-on to the camera) and non-finite vertices draw nothing.
    """

    name: str

    def rasterize(self, vertices: np.ndarray, faces: np.ndarray, camera: Camera) -> Fragments:
        """vertices: [V, 3] world coords, faces: [F, 3] vertex indices -> Fragments of camera.height x camera.width."""
        ...

    def rasterize_uv(self, uvs: np.ndarray, faces: np.ndarray | None, size: int) -> Fragments:
        """Rasterize a UV layout into a size x size texture.

        uvs: [V, 2] indexed by `faces`, or [F, 3, 2] per face corner (then `faces` is optional and only passed
        through to Fragments.faces, so vertex attributes of the mesh can be interpolated into the texture).
        Texel (row i, col j) is sampled at uv = ((j + 0.5) / size, 1 - (i + 0.5) / size): u grows to the right,
        v grows upwards, so image row 0 holds v close to 1. This is the glTF / trimesh convention for a texture image
        stored top row first: the raster can be saved as the texture PNG as it is. UV coordinates are not wrapped
        (parts outside [0, 1]^2 are lost). Overlapping charts: the lower face id wins. depth is 0 on covered texels.
        """
        ...


def empty_fragments(height: int, width: int, faces: np.ndarray) -> Fragments:
    """All background."""
    return Fragments(
        np.full((height, width), -1, np.int32),
        np.zeros((height, width, 3), np.float32),
        np.full((height, width), np.inf, np.float32),
        faces,
    )


def check_camera(camera: Camera) -> None:
    if not 0 < camera.near < camera.far:
        raise ValueError(f"camera needs 0 < near < far, got near={camera.near}, far={camera.far}")


def check_mesh_arrays(vertices: np.ndarray, faces: np.ndarray, dim: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """-> (vertices [V, dim] float64 C-contiguous, faces [F, 3] int64 C-contiguous), or ValueError."""
    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != dim:
        raise ValueError(f"expected vertices of shape [V, {dim}], got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"expected triangle faces of shape [F, 3], got {f.shape}")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"faces index vertices outside [0, {len(v)})")
    return v, f


def uv_corners(uvs: np.ndarray, faces: np.ndarray | None, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-vertex [V, 2] or per-corner [F, 3, 2] uvs -> (uv vertices [U, 2], uv faces [F, 3], faces to report)."""
    if size < 1:
        raise ValueError(f"texture size must be positive, got {size}")
    uvs = np.asarray(uvs)
    if uvs.ndim == 3:
        if uvs.shape[1:] != (3, 2) or (faces is not None and len(uvs) != len(faces)):
            raise ValueError(f"per-corner uvs must be [F, 3, 2], one row per face, got {uvs.shape}")
        uv_f = np.arange(3 * len(uvs), dtype=np.int64).reshape(-1, 3)
        out_faces = uv_f if faces is None else np.ascontiguousarray(faces, dtype=np.int64)
        return np.ascontiguousarray(uvs.reshape(-1, 2), dtype=np.float64), uv_f, out_faces
    if faces is None:
        raise ValueError("per-vertex uvs [V, 2] need faces")
    uv_v, uv_f = check_mesh_arrays(uvs, faces, dim=2)
    return uv_v, uv_f, uv_f
