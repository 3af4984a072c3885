"""Reference CPU rasterizer: numba-jitted, parallel over bands of image rows.

How it works. Every triangle gets a pixel bounding box (after clipping it to the near plane) and is binned into
bands of `BAND` rows; each band is then drawn by one thread, triangles in increasing face order, so no two threads
ever write the same pixel and the result does not depend on the thread count.

Inside a band a triangle is three affine "edge functions" u_k(x, y) of the pixel centre and one affine depth key:
- perspective: u = M^-1 d with M = [X0 X1 X2] (camera-space corners as columns) and d the pixel's ray direction
  (z = -1). The ray hits the triangle iff all u_k >= 0; then s = u0 + u1 + u2 = 1 / depth and bary = u / s, which
  is perspective-correct by construction (2D homogeneous rasterization). Nothing is projected, so triangles that
  cross the camera plane need no geometric clipping: a pixel is kept iff near <= depth <= far.
- orthographic and UV: screen-space barycentrics; depth is interpolated linearly.
The nearest surface wins (larger 1/depth, or smaller depth); ties keep the lower face id.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from ..camera import Camera
from .base import Fragments, check_camera, check_mesh_arrays, empty_fragments, uv_corners

BAND = 8  # image rows per work item: small enough to balance threads, large enough to bin few triangles twice
_SPAN_MIN_WIDTH = 8  # triangles wider than this get an exact per-row x-span instead of a full bbox scan


@njit(inline="always")
def _coefficients(pts, faces, t, perspective, focal, cx, cy):
    """Affine plane coefficients (a, b, c) with value = a * x + b * y + c at pixel centre (x, y).

    Returns 12 numbers: three edge functions u0, u1, u2 then the depth key (larger = nearer), plus a validity flag.
    """
    i0, i1, i2 = faces[t, 0], faces[t, 1], faces[t, 2]
    x0, y0, z0 = pts[i0, 0], pts[i0, 1], pts[i0, 2]
    x1, y1, z1 = pts[i1, 0], pts[i1, 1], pts[i1, 2]
    x2, y2, z2 = pts[i2, 0], pts[i2, 1], pts[i2, 2]
    if perspective:
        # rows of M^-1 = adj(M) / det: cross products of the camera-space corners
        c0x, c0y, c0z = y1 * z2 - z1 * y2, z1 * x2 - x1 * z2, x1 * y2 - y1 * x2
        c1x, c1y, c1z = y2 * z0 - z2 * y0, z2 * x0 - x2 * z0, x2 * y0 - y2 * x0
        c2x, c2y, c2z = y0 * z1 - z0 * y1, z0 * x1 - x0 * z1, x0 * y1 - y0 * x1
        det = x0 * c0x + y0 * c0y + z0 * c0z
        scale = math.sqrt((x0 * x0 + y0 * y0 + z0 * z0) * (x1 * x1 + y1 * y1 + z1 * z1) * (x2 * x2 + y2 * y2 + z2 * z2))
        ok = abs(det) > 1e-12 * scale  # edge-on to the camera: zero area on screen
        if not ok:
            det = 1.0
        k = 1.0 / (focal * det)
        # d = ((x - cx) / f, (cy - y) / f, -1)  =>  u_i = c_i . d / det
        a0, b0, e0 = c0x * k, -c0y * k, (c0y * cy - c0x * cx) * k - c0z / det
        a1, b1, e1 = c1x * k, -c1y * k, (c1y * cy - c1x * cx) * k - c1z / det
        a2, b2, e2 = c2x * k, -c2y * k, (c2y * cy - c2x * cx) * k - c2z / det
        return a0, b0, e0, a1, b1, e1, a2, b2, e2, a0 + a1 + a2, b0 + b1 + b2, e0 + e1 + e2, ok
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    ok = abs(area) > 1e-10
    if not ok:
        area = 1.0
    r = 1.0 / area
    a0, b0, e0 = (y1 - y2) * r, (x2 - x1) * r, (x1 * y2 - x2 * y1) * r
    a1, b1, e1 = (y2 - y0) * r, (x0 - x2) * r, (x2 * y0 - x0 * y2) * r
    a2, b2, e2 = (y0 - y1) * r, (x1 - x0) * r, (x0 * y1 - x1 * y0) * r
    ak = -(a0 * z0 + a1 * z1 + a2 * z2)
    bk = -(b0 * z0 + b1 * z1 + b2 * z2)
    ek = -(e0 * z0 + e1 * z1 + e2 * z2)
    return a0, b0, e0, a1, b1, e1, a2, b2, e2, ak, bk, ek, ok


@njit(inline="always")
def _project(x, y, z, focal, cx, cy):
    d = -z
    return cx + focal * x / d, cy - focal * y / d


@njit(parallel=True, cache=True)
def _bounding_boxes(pts, faces, perspective, focal, cx, cy, near, far, height, width):
    """[F, 4] int32 pixel boxes (row0, row1, col0, col1), inclusive; row0 > row1 marks a culled triangle."""
    nf = faces.shape[0]
    boxes = np.empty((nf, 4), dtype=np.int32)
    for t in prange(nf):
        boxes[t, 0], boxes[t, 1] = 1, 0
        finite = True
        for c in range(3):
            for a in range(3):
                if not math.isfinite(pts[faces[t, c], a]):
                    finite = False
        if not finite:
            continue
        coef = _coefficients(pts, faces, t, perspective, focal, cx, cy)
        if not coef[12]:
            continue
        xmin, xmax, ymin, ymax = np.inf, -np.inf, np.inf, -np.inf
        n_front, n_beyond = 0, 0
        for c in range(3):
            depth = -pts[faces[t, c], 2] if perspective else pts[faces[t, c], 2]
            n_front += depth >= near
            n_beyond += depth > far
        if n_front == 0 or n_beyond == 3:
            continue
        if not perspective:
            for c in range(3):
                px, py = pts[faces[t, c], 0], pts[faces[t, c], 1]
                xmin, xmax, ymin, ymax = min(xmin, px), max(xmax, px), min(ymin, py), max(ymax, py)
        else:
            # project the part of the triangle in front of the near plane (its clipped polygon's corners)
            for c in range(3):
                pa, pb = faces[t, c], faces[t, (c + 1) % 3]
                da, db = -pts[pa, 2], -pts[pb, 2]
                if da >= near:
                    px, py = _project(pts[pa, 0], pts[pa, 1], pts[pa, 2], focal, cx, cy)
                    xmin, xmax, ymin, ymax = min(xmin, px), max(xmax, px), min(ymin, py), max(ymax, py)
                if (da >= near) != (db >= near):
                    s = (near - da) / (db - da)
                    qx = pts[pa, 0] + s * (pts[pb, 0] - pts[pa, 0])
                    qy = pts[pa, 1] + s * (pts[pb, 1] - pts[pa, 1])
                    px, py = _project(qx, qy, -near, focal, cx, cy)
                    xmin, xmax, ymin, ymax = min(xmin, px), max(xmax, px), min(ymin, py), max(ymax, py)
        # pixel j is sampled at j + 0.5: covered columns are ceil(xmin - 0.5) .. floor(xmax - 0.5)
        c0 = math.ceil(max(xmin - 0.5, -1.0))
        c1 = math.floor(min(xmax - 0.5, width))
        r0 = math.ceil(max(ymin - 0.5, -1.0))
        r1 = math.floor(min(ymax - 0.5, height))
        c0, r0 = max(c0, 0), max(r0, 0)
        c1, r1 = min(c1, width - 1), min(r1, height - 1)
        if c0 <= c1 and r0 <= r1:
            boxes[t, 0], boxes[t, 1], boxes[t, 2], boxes[t, 3] = r0, r1, c0, c1
    return boxes


@njit(cache=True)
def _bin(boxes, n_bands):
    """-> (band_start [n_bands + 1], items): the ids of the faces touching band b are
    items[band_start[b]:band_start[b + 1]], ascending. Serial: O(F) and cheap next to drawing."""
    counts = np.zeros(n_bands + 1, dtype=np.int64)
    for t in range(boxes.shape[0]):
        if boxes[t, 0] <= boxes[t, 1]:
            for b in range(boxes[t, 0] // BAND, boxes[t, 1] // BAND + 1):
                counts[b + 1] += 1
    band_start = np.cumsum(counts)
    pos = band_start[:-1].copy()
    items = np.empty(band_start[-1], dtype=np.int64)
    for t in range(boxes.shape[0]):
        if boxes[t, 0] <= boxes[t, 1]:
            for b in range(boxes[t, 0] // BAND, boxes[t, 1] // BAND + 1):
                items[pos[b]] = t
                pos[b] += 1
    return band_start, items


@njit(inline="always")
def _row_span(a0, e0, a1, e1, a2, e2, c0, c1):
    """Columns c0..c1 narrowed to where the three edge functions u = a * x + e are >= 0 (1-pixel safety margin)."""
    lo, hi = c0 - 0.5, c1 + 1.5  # in continuous x
    for k in range(3):
        a, e = (a0, e0) if k == 0 else ((a1, e1) if k == 1 else (a2, e2))
        if a > 0:
            lo = max(lo, -e / a)
        elif a < 0:
            hi = min(hi, -e / a)
        elif e < 0:
            return 1, 0
    if not (lo <= hi):
        return 1, 0
    return max(c0, int(math.floor(lo - 0.5)) - 1), min(c1, int(math.ceil(hi - 0.5)) + 1)


@njit(parallel=True, cache=True)
def _draw_bands(pts, faces, boxes, band_start, items, order, perspective, focal, cx, cy, kmin, kmax, height, width):
    face_id = np.empty((height, width), dtype=np.int32)
    bary = np.empty((height, width, 3), dtype=np.float32)
    depth = np.empty((height, width), dtype=np.float32)
    for k in prange(order.shape[0]):
        band = order[k]
        r_lo = band * BAND
        r_hi = min(r_lo + BAND, height) - 1
        key = np.full((r_hi - r_lo + 1, width), -np.inf)  # larger = nearer: 1/depth (perspective) or -depth
        face_id[r_lo : r_hi + 1] = -1
        bary[r_lo : r_hi + 1] = 0.0
        for idx in range(band_start[band], band_start[band + 1]):
            t = items[idx]
            a0, b0, e0, a1, b1, e1, a2, b2, e2, ak, bk, ek, _ = _coefficients(pts, faces, t, perspective, focal, cx, cy)
            c0, c1 = boxes[t, 2], boxes[t, 3]
            wide = c1 - c0 > _SPAN_MIN_WIDTH
            for i in range(max(boxes[t, 0], r_lo), min(boxes[t, 1], r_hi) + 1):
                y = i + 0.5
                f0, f1, f2, fk = b0 * y + e0, b1 * y + e1, b2 * y + e2, bk * y + ek  # row constants
                j0, j1 = _row_span(a0, f0, a1, f1, a2, f2, c0, c1) if wide else (c0, c1)
                for j in range(j0, j1 + 1):
                    x = j + 0.5
                    u0 = a0 * x + f0
                    u1 = a1 * x + f1
                    u2 = a2 * x + f2
                    if u0 < 0.0 or u1 < 0.0 or u2 < 0.0:
                        continue
                    kv = ak * x + fk
                    if kv > key[i - r_lo, j] and kmin <= kv <= kmax:
                        key[i - r_lo, j] = kv
                        face_id[i, j] = t
                        s = u0 + u1 + u2
                        bary[i, j, 0], bary[i, j, 1], bary[i, j, 2] = u0 / s, u1 / s, u2 / s
        for i in range(r_lo, r_hi + 1):
            for j in range(width):
                kv = key[i - r_lo, j]
                if kv == -np.inf:
                    depth[i, j] = np.inf
                else:
                    depth[i, j] = 1.0 / kv if perspective else 0.0 - kv  # 0.0 - kv: no -0.0 in UV rasters
    return face_id, bary, depth


def _band_order(n_bands: int) -> np.ndarray:
    """Band visiting order for prange: each thread's contiguous share takes every T-th band, so a centred object
    spreads evenly over the threads."""
    threads = numba.get_num_threads()
    return np.concatenate([np.arange(s, n_bands, threads) for s in range(threads)]).astype(np.int64)


def _raster(pts, faces, perspective, focal, cx, cy, near, far, height, width) -> tuple[np.ndarray, ...]:
    boxes = _bounding_boxes(pts, faces, perspective, focal, cx, cy, near, far, height, width)
    n_bands = (height + BAND - 1) // BAND
    band_start, items = _bin(boxes, n_bands)
    if perspective:
        kmin, kmax = 1.0 / far, 1.0 / near
    else:
        kmin, kmax = -far, -near
    return _draw_bands(
        pts, faces, boxes, band_start, items, _band_order(n_bands), perspective, focal, cx, cy, kmin, kmax, height, width
    )


class CpuRasterizer:
    """Numba rasterizer; see latentgen.render.Rasterizer for the conventions."""

    name = "cpu"

    def rasterize(self, vertices: np.ndarray, faces: np.ndarray, camera: Camera) -> Fragments:
        v, f = check_mesh_arrays(vertices, faces)
        check_camera(camera)
        h, w = camera.height, camera.width
        perspective = camera.projection == "perspective"
        focal, cx, cy = camera.focal_px(), w / 2, h / 2
        if len(f) == 0:
            return empty_fragments(h, w, f)
        w2c = camera.w2c
        cam = v @ w2c[:3, :3].T + w2c[:3, 3]  # [V, 3] camera space
        if perspective:
            pts = np.ascontiguousarray(cam)
        else:  # orthographic: pixel coordinates and depth
            pts = np.stack([cx + focal * cam[:, 0], cy - focal * cam[:, 1], -cam[:, 2]], axis=1)
        face_id, bary, depth = _raster(pts, f, perspective, focal, cx, cy, camera.near, camera.far, h, w)
        return Fragments(face_id, bary, depth, f)

    def rasterize_uv(self, uvs: np.ndarray, faces: np.ndarray | None, size: int) -> Fragments:
        uv_v, uv_f, out_faces = uv_corners(uvs, faces, size)
        if len(uv_f) == 0:
            return empty_fragments(size, size, out_faces)
        # texel (i, j) centre (j + 0.5, i + 0.5) <-> uv ((j + 0.5) / size, 1 - (i + 0.5) / size); depth 0 everywhere
        pts = np.stack([uv_v[:, 0] * size, (1.0 - uv_v[:, 1]) * size, np.zeros(len(uv_v))], axis=1)
        face_id, bary, depth = _raster(pts, uv_f, False, 1.0, 0.0, 0.0, -1.0, 1.0, size, size)
        return Fragments(face_id, bary, depth, out_faces)
