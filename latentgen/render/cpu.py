"""Reference CPU rasterizer: numba-jitted kernels run on a few threads, each owning whole bands of image rows.

How it works. Every triangle gets a pixel bounding box (of its part in front of the near plane) and is binned into
bands of `BAND` rows; each band is then drawn by one thread, triangles in increasing face order, so no two threads
ever write the same pixel and the result does not depend on the thread count. The kernels are serial `nogil`
functions driven by a Python thread pool: they compile in a fraction of the time of numba `parallel=True` code, and
idle threads do not spin (which on a 2-core machine would slow down numpy and torch running next to them).

Inside a band a triangle is three affine "edge functions" u_k(x, y) of the pixel centre and one affine depth key:
- perspective: u = M^-1 d with M = [X0 X1 X2] (camera-space corners as columns) and d the pixel's ray direction
  (z = -1). The ray hits the triangle iff all u_k >= 0; then s = u0 + u1 + u2 = 1 / depth and bary = u / s, which
  is perspective-correct by construction (2D homogeneous rasterization). Nothing is projected, so triangles that
  cross the camera plane need no geometric clipping: a pixel is kept iff near <= depth <= far.
- orthographic and UV: screen-space barycentrics; depth is interpolated linearly.
The nearest surface wins (larger 1/depth, or smaller depth); ties keep the lower face id. Numbers are float64
throughout; outputs are stored as float32.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

from ..camera import Camera
from .base import Fragments, check_camera, check_mesh_arrays, empty_fragments, uv_corners

BAND = 8  # image rows per work item: small enough to balance threads, large enough to bin few triangles twice
_SPAN_MIN_WIDTH = 8  # triangles wider than this get an exact per-row x-span instead of a full bbox scan


@njit(nogil=True, cache=True)
def _transform(vertices, w2c, perspective, focal, cx, cy, near):
    """vertices [V, 3] world -> (pts [V, 3], pix [V, 2], finite [V]).

    pts: camera-space xyz (perspective) or (x_px, y_px, depth) (orthographic); pix: pixel coordinates (perspective:
    only for vertices in front of the near plane); finite: all coordinates finite. A plain loop: a BLAS matmul of
    [V, 3] x [3, 3] is slower and starts threads.
    """
    n = vertices.shape[0]
    pts, pix, finite = np.empty((n, 3)), np.zeros((n, 2)), np.empty(n, dtype=np.bool_)
    for i in range(n):
        x, y, z = vertices[i, 0], vertices[i, 1], vertices[i, 2]
        cam_x = w2c[0, 0] * x + w2c[0, 1] * y + w2c[0, 2] * z + w2c[0, 3]
        cam_y = w2c[1, 0] * x + w2c[1, 1] * y + w2c[1, 2] * z + w2c[1, 3]
        cam_z = w2c[2, 0] * x + w2c[2, 1] * y + w2c[2, 2] * z + w2c[2, 3]
        finite[i] = math.isfinite(cam_x) and math.isfinite(cam_y) and math.isfinite(cam_z)
        if perspective:
            pts[i, 0], pts[i, 1], pts[i, 2] = cam_x, cam_y, cam_z
            if -cam_z >= near:
                pix[i, 0], pix[i, 1] = cx - focal * cam_x / cam_z, cy + focal * cam_y / cam_z
        else:
            pts[i, 0], pts[i, 1], pts[i, 2] = cx + focal * cam_x, cy - focal * cam_y, -cam_z
            pix[i, 0], pix[i, 1] = pts[i, 0], pts[i, 1]
    return pts, pix, finite


@njit(cache=True)
def _coefficients(pts, faces, t, perspective, focal, cx, cy):
    """Affine planes value = a * x + b * y + e at pixel centre (x, y): 12 numbers, (a, b, e) of the edge functions
    u0, u1, u2, then of the depth key (larger = nearer). The triangle must have passed _degenerate."""
    i0, i1, i2 = faces[t, 0], faces[t, 1], faces[t, 2]
    x0, y0, z0 = pts[i0, 0], pts[i0, 1], pts[i0, 2]
    x1, y1, z1 = pts[i1, 0], pts[i1, 1], pts[i1, 2]
    x2, y2, z2 = pts[i2, 0], pts[i2, 1], pts[i2, 2]
    if perspective:
        # rows of M^-1 = adj(M) / det: cross products of the camera-space corners
        c0x, c0y, c0z = y1 * z2 - z1 * y2, z1 * x2 - x1 * z2, x1 * y2 - y1 * x2
        c1x, c1y, c1z = y2 * z0 - z2 * y0, z2 * x0 - x2 * z0, x2 * y0 - y2 * x0
        c2x, c2y, c2z = y0 * z1 - z0 * y1, z0 * x1 - x0 * z1, x0 * y1 - y0 * x1
        inv_det = 1.0 / (x0 * c0x + y0 * c0y + z0 * c0z)
        k = inv_det / focal
        # ray d = ((x - cx) / f, (cy - y) / f, -1)  =>  u_i = c_i . d / det
        a0, b0, e0 = c0x * k, -c0y * k, (c0y * cy - c0x * cx) * k - c0z * inv_det
        a1, b1, e1 = c1x * k, -c1y * k, (c1y * cy - c1x * cx) * k - c1z * inv_det
        a2, b2, e2 = c2x * k, -c2y * k, (c2y * cy - c2x * cx) * k - c2z * inv_det
        return a0, b0, e0, a1, b1, e1, a2, b2, e2, a0 + a1 + a2, b0 + b1 + b2, e0 + e1 + e2
    r = 1.0 / ((x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0))
    a0, b0, e0 = (y1 - y2) * r, (x2 - x1) * r, (x1 * y2 - x2 * y1) * r
    a1, b1, e1 = (y2 - y0) * r, (x0 - x2) * r, (x2 * y0 - x0 * y2) * r
    a2, b2, e2 = (y0 - y1) * r, (x1 - x0) * r, (x0 * y1 - x1 * y0) * r
    ak, bk, ek = -(a0 * z0 + a1 * z1 + a2 * z2), -(b0 * z0 + b1 * z1 + b2 * z2), -(e0 * z0 + e1 * z1 + e2 * z2)
    return a0, b0, e0, a1, b1, e1, a2, b2, e2, ak, bk, ek


@njit(cache=True)
def _degenerate(pts, faces, t, perspective):
    """Zero area on screen, or (perspective) a plane through the eye: the triangle draws nothing."""
    i0, i1, i2 = faces[t, 0], faces[t, 1], faces[t, 2]
    x0, y0, z0 = pts[i0, 0], pts[i0, 1], pts[i0, 2]
    x1, y1, z1 = pts[i1, 0], pts[i1, 1], pts[i1, 2]
    x2, y2, z2 = pts[i2, 0], pts[i2, 1], pts[i2, 2]
    if perspective:  # det [X0 X1 X2] = 6 x volume of (eye, X0, X1, X2), against the scale of the corners
        det = x0 * (y1 * z2 - z1 * y2) + y0 * (z1 * x2 - x1 * z2) + z0 * (x1 * y2 - y1 * x2)
        scale = (x0 * x0 + y0 * y0 + z0 * z0) * (x1 * x1 + y1 * y1 + z1 * z1) * (x2 * x2 + y2 * y2 + z2 * z2)
        return not det * det > 1e-24 * scale
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    return not abs(area) > 1e-10  # in square pixels


@njit(nogil=True, cache=True)
def _setup(pts, pix, finite, faces, t0, t1, perspective, focal, cx, cy, near, far, height, width, boxes):
    """boxes[t] for t in [t0, t1): inclusive pixel box (row0, row1, col0, col1) of the part of triangle t in front of
    the near plane, clamped to the height x width image; row0 > row1 marks a culled triangle (non-finite, outside the
    near..far range or the image, covering no pixel centre, or degenerate)."""
    for t in range(t0, t1):
        boxes[t, 0], boxes[t, 1] = 1, 0
        i0, i1, i2 = faces[t, 0], faces[t, 1], faces[t, 2]
        if not (finite[i0] and finite[i1] and finite[i2]):
            continue
        if perspective:
            d0, d1, d2 = -pts[i0, 2], -pts[i1, 2], -pts[i2, 2]
        else:
            d0, d1, d2 = pts[i0, 2], pts[i1, 2], pts[i2, 2]
        if max(d0, max(d1, d2)) < near or min(d0, min(d1, d2)) > far:
            continue
        if not perspective or min(d0, min(d1, d2)) >= near:
            xmin, xmax = min(pix[i0, 0], min(pix[i1, 0], pix[i2, 0])), max(pix[i0, 0], max(pix[i1, 0], pix[i2, 0]))
            ymin, ymax = min(pix[i0, 1], min(pix[i1, 1], pix[i2, 1])), max(pix[i0, 1], max(pix[i1, 1], pix[i2, 1]))
        else:  # crosses the near plane: box of the clipped polygon's corners, projected
            xmin, xmax, ymin, ymax = np.inf, -np.inf, np.inf, -np.inf
            for c in range(3):
                pa, pb = faces[t, c], faces[t, (c + 1) % 3]
                da, db = -pts[pa, 2], -pts[pb, 2]
                if da >= near:
                    xmin, xmax = min(xmin, pix[pa, 0]), max(xmax, pix[pa, 0])
                    ymin, ymax = min(ymin, pix[pa, 1]), max(ymax, pix[pa, 1])
                if (da >= near) != (db >= near):
                    s = (near - da) / (db - da)
                    px = cx + focal * (pts[pa, 0] + s * (pts[pb, 0] - pts[pa, 0])) / near
                    py = cy - focal * (pts[pa, 1] + s * (pts[pb, 1] - pts[pa, 1])) / near
                    xmin, xmax, ymin, ymax = min(xmin, px), max(xmax, px), min(ymin, py), max(ymax, py)
        # pixel j is sampled at j + 0.5: covered columns are ceil(xmin - 0.5) .. floor(xmax - 0.5)
        c0 = max(math.ceil(max(xmin - 0.5, -1.0)), 0)
        c1 = min(math.floor(min(xmax - 0.5, width)), width - 1)
        r0 = max(math.ceil(max(ymin - 0.5, -1.0)), 0)
        r1 = min(math.floor(min(ymax - 0.5, height)), height - 1)
        if c0 <= c1 and r0 <= r1 and not _degenerate(pts, faces, t, perspective):
            boxes[t, 0], boxes[t, 1], boxes[t, 2], boxes[t, 3] = r0, r1, c0, c1


@njit(nogil=True, cache=True)
def _bin(boxes, n_bands):
    """-> (band_start [n_bands + 1], items): the faces touching band b are items[band_start[b]:band_start[b + 1]],
    ascending. Serial: O(F), cheap next to drawing."""
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


@njit(cache=True)
def _row_span(a0, e0, a1, e1, a2, e2, c0, c1):
    """Columns c0..c1 narrowed to where the three edge functions u = a * x + e are >= 0 (1-pixel safety margin)."""
    lo, hi = c0 + 0.5, c1 + 0.5  # continuous x of the first and last pixel centre
    if a0 > 0:
        lo = max(lo, -e0 / a0)
    elif a0 < 0:
        hi = min(hi, -e0 / a0)
    if a1 > 0:
        lo = max(lo, -e1 / a1)
    elif a1 < 0:
        hi = min(hi, -e1 / a1)
    if a2 > 0:
        lo = max(lo, -e2 / a2)
    elif a2 < 0:
        hi = min(hi, -e2 / a2)
    if not lo <= hi:
        return 1, 0
    return max(c0, int(math.floor(lo - 0.5)) - 1), min(c1, int(math.ceil(hi - 0.5)) + 1)


@njit(nogil=True, cache=True)
def _draw(pts, faces, boxes, band_start, items, bands, perspective, focal, cx, cy, kmin, kmax, face_id, bary, depth):
    """Draw the listed bands into face_id [H, W], bary [H, W, 3], depth [H, W]; touches only those bands' rows."""
    height, width = face_id.shape
    key = np.empty((BAND, width))  # larger = nearer: 1/depth (perspective) or -depth
    for band in bands:
        r_lo = band * BAND
        r_hi = min(r_lo + BAND, height) - 1
        key[:] = -np.inf
        face_id[r_lo : r_hi + 1] = -1
        bary[r_lo : r_hi + 1] = 0.0
        for idx in range(band_start[band], band_start[band + 1]):
            t = items[idx]
            a0, b0, e0, a1, b1, e1, a2, b2, e2, ak, bk, ek = _coefficients(pts, faces, t, perspective, focal, cx, cy)
            c0, c1 = boxes[t, 2], boxes[t, 3]
            wide = c1 - c0 > _SPAN_MIN_WIDTH
            for i in range(max(boxes[t, 0], r_lo), min(boxes[t, 1], r_hi) + 1):
                y = i + 0.5
                f0, f1, f2, fk = b0 * y + e0, b1 * y + e1, b2 * y + e2, bk * y + ek  # row constants
                j0, j1 = c0, c1
                if wide:
                    j0, j1 = _row_span(a0, f0, a1, f1, a2, f2, c0, c1)
                for j in range(j0, j1 + 1):
                    x = j + 0.5
                    u0 = a0 * x + f0
                    u1 = a1 * x + f1
                    u2 = a2 * x + f2
                    if min(u0, min(u1, u2)) < 0.0:  # one well-predicted branch instead of three
                        continue
                    kv = ak * x + fk
                    if kv > key[i - r_lo, j] and kmin <= kv <= kmax:
                        key[i - r_lo, j] = kv
                        face_id[i, j] = t
                        inv_s = 1.0 / (u0 + u1 + u2)
                        bary[i, j, 0], bary[i, j, 1], bary[i, j, 2] = u0 * inv_s, u1 * inv_s, u2 * inv_s
        for i in range(r_lo, r_hi + 1):
            for j in range(width):
                kv = key[i - r_lo, j]
                if kv == -np.inf:
                    depth[i, j] = np.inf
                else:
                    depth[i, j] = 1.0 / kv if perspective else 0.0 - kv  # 0.0 - kv: no -0.0 in UV rasters


_pools: dict[int, ThreadPoolExecutor] = {}  # by worker count; threads are reused across calls


def _run(fn, jobs: list[tuple]) -> None:
    """fn(*job) for every job, on a thread pool when there are several (the kernels release the GIL)."""
    if len(jobs) == 1:
        fn(*jobs[0])
        return
    if len(jobs) not in _pools:
        _pools[len(jobs)] = ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="latentgen-raster")
    for future in [_pools[len(jobs)].submit(fn, *job) for job in jobs]:
        future.result()  # re-raises a kernel's exception here


def _raster(pts, pix, finite, faces, perspective, focal, cx, cy, near, far, height, width, threads):
    """-> face_id [H, W] int32, bary [H, W, 3] float32, depth [H, W] float32."""
    # fixed argument types: one compiled (and cached) specialisation per kernel
    focal, cx, cy, near, far = (float(x) for x in (focal, cx, cy, near, far))
    height, width = int(height), int(width)
    nf = len(faces)
    boxes = np.empty((nf, 4), dtype=np.int32)
    cuts = np.linspace(0, nf, threads + 1).astype(np.int64)  # contiguous face ranges, one per thread
    ranges = [(cuts[k], cuts[k + 1]) for k in range(threads) if cuts[k] < cuts[k + 1]]
    setup_args = (perspective, focal, cx, cy, near, far, height, width, boxes)
    _run(_setup, [(pts, pix, finite, faces, a, b, *setup_args) for a, b in ranges])
    n_bands = (height + BAND - 1) // BAND
    band_start, items = _bin(boxes, n_bands)
    kmin, kmax = (1.0 / far, 1.0 / near) if perspective else (-far, -near)
    face_id = np.empty((height, width), dtype=np.int32)
    bary = np.empty((height, width, 3), dtype=np.float32)
    depth = np.empty((height, width), dtype=np.float32)
    # thread k draws bands k, k + T, k + 2T, ...: a centred object spreads evenly over the threads
    draw_args = (perspective, focal, cx, cy, kmin, kmax, face_id, bary, depth)
    bands = [np.arange(k, n_bands, threads, dtype=np.int64) for k in range(min(threads, n_bands))]
    _run(_draw, [(pts, faces, boxes, band_start, items, b, *draw_args) for b in bands])
    return face_id, bary, depth


class CpuRasterizer:
    """Numba rasterizer; see latentgen.render.Rasterizer for the conventions.

    threads: worker threads (results do not depend on it); default NUMBA_NUM_THREADS, i.e. the usable CPU cores.
    """

    name = "cpu"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = max(1, int(threads or numba.config.NUMBA_NUM_THREADS))

    def rasterize(self, vertices: np.ndarray, faces: np.ndarray, camera: Camera) -> Fragments:
        v, f = check_mesh_arrays(vertices, faces)
        check_camera(camera)
        h, w = camera.height, camera.width
        perspective = camera.projection == "perspective"
        focal, cx, cy = camera.focal_px(), w / 2, h / 2
        if len(f) == 0:
            return empty_fragments(h, w, f)
        near, far = float(camera.near), float(camera.far)
        pts, pix, finite = _transform(v, np.ascontiguousarray(camera.w2c), perspective, focal, cx, cy, near)
        face_id, bary, depth = _raster(pts, pix, finite, f, perspective, focal, cx, cy, near, far, h, w, self.threads)
        return Fragments(face_id, bary, depth, f)

    def rasterize_uv(self, uvs: np.ndarray, faces: np.ndarray | None, size: int) -> Fragments:
        uv_v, uv_f, out_faces = uv_corners(uvs, faces, size)
        if len(uv_f) == 0:
            return empty_fragments(size, size, out_faces)
        # texel (i, j) centre (j + 0.5, i + 0.5) <-> uv ((j + 0.5) / size, 1 - (i + 0.5) / size); depth 0 everywhere
        pts = np.stack([uv_v[:, 0] * size, (1.0 - uv_v[:, 1]) * size, np.zeros(len(uv_v))], axis=1)
        pix, finite = np.ascontiguousarray(pts[:, :2]), np.isfinite(pts).all(1)
        # an orthographic view of the uv plane at depth 0 (near -1, far 1)
        args = (False, 1.0, 0.0, 0.0, -1.0, 1.0, size, size, self.threads)
        face_id, bary, depth = _raster(pts, pix, finite, uv_f, *args)
        return Fragments(face_id, bary, depth, out_faces)
