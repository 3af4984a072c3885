"""Optional CUDA backend on nvdiffrast (`pip install 'latentgen[cuda]'`), same outputs as the CPU backend.

nvdiffrast rasterizes clip-space positions with the OpenGL conventions: image row 0 is the bottom (NDC y = -1),
pixel centres sit at +0.5, geometry is clipped to -w <= z <= w (the near and far planes), both orientations are
drawn, and each pixel gets (u, v, z/w, face + 1) where the perspective-correct weights of the face's corners are
(u, v, 1 - u - v). We flip rows, shift the face id to -1 = background, expand the weights to 3, and take depth by
interpolating the camera-space depth of the corners (exact for a perspective-correct interpolant, and more precise
than inverting z/w). Triangle ids travel as float32 in nvdiffrast, hence the 2^24 face limit.
"""

from __future__ import annotations

import subprocess

import numpy as np

from ..camera import Camera
from ..errors import DeviceError
from .base import Fragments, check_camera, check_mesh_arrays, empty_fragments, uv_corners

MAX_FACES = 1 << 24  # float32 represents every integer triangle id below this


class NvdiffrastRasterizer:
    """nvdiffrast.torch RasterizeCudaContext on one CUDA device; numpy in, numpy out."""

    name = "nvdiffrast"

    def __init__(self, device) -> None:
        import torch

        try:
            import nvdiffrast.torch as dr
        except ImportError as e:
            raise DeviceError(f"nvdiffrast is not installed ({e}): pip install 'latentgen[cuda]'") from e
        self.device = torch.device(device)
        if self.device.type != "cuda":
            raise DeviceError(f"nvdiffrast needs a CUDA device, not {self.device}")
        try:  # the first context JIT-compiles nvdiffrast's CUDA plugin, which needs a compiler and the CUDA headers
            self._ctx = dr.RasterizeCudaContext(device=self.device)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DeviceError(f"nvdiffrast could not start on {self.device}: {first}") from e
        self._dr = dr
        self._torch = torch

    def rasterize(self, vertices: np.ndarray, faces: np.ndarray, camera: Camera) -> Fragments:
        torch = self._torch
        v, f = check_mesh_arrays(vertices, faces)
        check_camera(camera)
        h, w = camera.height, camera.width
        if len(f) == 0:
            return empty_fragments(h, w, f)
        w2c = torch.as_tensor(camera.w2c, dtype=torch.float64, device=self.device)
        cam = torch.as_tensor(v, device=self.device) @ w2c[:3, :3].T + w2c[:3, 3]  # [V, 3] float64
        hom = torch.cat([cam, torch.ones_like(cam[:, :1])], dim=1)
        clip = hom @ torch.as_tensor(camera.gl_projection(), dtype=torch.float64, device=self.device).T  # [V, 4]
        tri = torch.as_tensor(f, device=self.device)
        face_id, bary = self._raster(clip, tri, h, w)
        corner_depth = (-cam[:, 2])[tri]  # [F, 3]
        fg = face_id >= 0
        depth = torch.full((h, w), float("inf"), dtype=torch.float64, device=self.device)
        depth[fg] = (bary[fg].double() * corner_depth[face_id[fg]]).sum(-1)
        return Fragments(*_to_numpy(face_id, bary, depth), f)

    def rasterize_uv(self, uvs: np.ndarray, faces: np.ndarray | None, size: int) -> Fragments:
        torch = self._torch
        uv_v, uv_f, out_faces = uv_corners(uvs, faces, size)
        if len(uv_f) == 0:
            return empty_fragments(size, size, out_faces)
        # one vertex per corner so each face gets its own depth: overlapping charts resolve to the lower face id
        corners = torch.as_tensor(uv_v[uv_f].reshape(-1, 2), dtype=torch.float64, device=self.device)  # [3F, 2]
        n = len(uv_f)
        z = torch.arange(n, dtype=torch.float64, device=self.device).repeat_interleave(3) / n * 1.8 - 0.9
        # uv (0, 0) -> NDC (-1, -1): nvdiffrast's row 0 is v near 0, flipped below to our row 0 = v near 1
        clip = torch.stack([corners[:, 0] * 2 - 1, corners[:, 1] * 2 - 1, z, torch.ones_like(z)], dim=1)
        tri = torch.arange(3 * n, device=self.device).reshape(n, 3)
        face_id, bary = self._raster(clip, tri, size, size)
        depth = torch.full((size, size), float("inf"), dtype=torch.float64, device=self.device)
        depth[face_id >= 0] = 0.0
        return Fragments(*_to_numpy(face_id, bary, depth), out_faces)

    def _raster(self, clip, tri, h: int, w: int):
        """clip [V, 4], tri [F, 3] -> face_id [H, W] int64 (-1 = none), bary [H, W, 3] float32, row 0 at the top."""
        torch = self._torch
        if len(tri) >= MAX_FACES:
            raise ValueError(f"nvdiffrast handles at most {MAX_FACES - 1} triangles, got {len(tri)}")
        pos = clip.float().contiguous()[None]  # [1, V, 4]
        rast, _ = self._dr.rasterize(self._ctx, pos, tri.int().contiguous(), resolution=[h, w], grad_db=False)
        rast = rast[0].flip(0)  # [H, W, 4]
        face_id = rast[..., 3].round().long() - 1
        u, v = rast[..., 0], rast[..., 1]
        bary = torch.stack([u, v, 1 - u - v], dim=-1)
        bary[face_id < 0] = 0
        return face_id, bary


def _to_numpy(face_id, bary, depth) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return face_id.int().cpu().numpy(), bary.float().cpu().numpy(), depth.float().cpu().numpy()
