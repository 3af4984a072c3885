"""Signed distance and inside test of a triangle mesh, robust to holes: a BVH with exact distances and fast
generalized winding numbers (numba, no optional dependency).

    field = MeshSDF(vertices, faces)          # vertices [V, 3], faces [F, 3]
    d = field.signed_distance(points)         # points [N, 3] -> [N], negative inside
    w = field.winding_number(points)          # [N]: 1 inside a closed outward-wound mesh, 0 outside

Why not trimesh: `Trimesh.contains` and `trimesh.proximity` need embree or rtree (optional packages) and
`contains` counts ray crossings, which is wrong near holes of a non-watertight mesh (scans, game assets). The
generalized winding number (Jacobson et al. 2013) is the solid angle the surface subtends, over 4 pi: exactly 1 / 0
inside / outside a closed mesh, and a smooth, still reliable 0.5-threshold inside test when the mesh has holes or
self-intersections. It is evaluated as Barill et al. 2018 do ("fast winding numbers"): a BVH node farther than
`beta` times its radius counts as one dipole (its summed vector area at its area-weighted centroid); nearer nodes
open down to exact per-triangle solid angles. The distance is exact (closest point on the nearest triangle, found by
branch and bound in the same BVH). The sign comes from the winding number, so it needs consistently wound faces:
`MeshSDF` does not reorient them (see latentgen.data.meshes for that).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

LEAF_SIZE = 8  # triangles per BVH leaf
BETA = 2.5  # far-field criterion: node distance > BETA * node radius -> one dipole term (Barill et al. use 2)
REFINE = 0.1  # winding numbers this close to 0.5 are recomputed more exactly before the inside test
CHUNK = 4096  # query points per thread-pool job
STACK = 128  # traversal stack; a median-split BVH of 2^60 triangles is 61 levels deep


class MeshSDF:
    """Distance, winding number and signed distance of one triangle mesh (BVH built once, queries chunked over
    threads). threads: default numba's current thread count (1 inside dataset worker processes)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, threads: int | None = None):
        v = np.ascontiguousarray(vertices, dtype=np.float64)
        f = np.ascontiguousarray(faces, dtype=np.int64)
        if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
            raise ValueError(f"expected vertices [V, 3] and faces [F, 3] with F > 0, got {v.shape} and {f.shape}")
        tri = v[f]  # [F, 3, 3]
        order, self.lo, self.hi, self.left, self.start, self.count = _build(
            tri.mean(1), tri.min(1), tri.max(1), LEAF_SIZE
        )
        self.tri = np.ascontiguousarray(tri[order])  # [F, 3, 3] in leaf order
        self.center, self.varea, self.radius = _dipoles(self.tri, self.lo, self.hi, self.start, self.count)
        self.threads = max(1, int(threads or numba.get_num_threads()))

    @property
    def nodes(self) -> int:
        return len(self.lo)

    def unsigned_distance(self, points: np.ndarray) -> np.ndarray:
        """points [N, 3] -> exact distance to the nearest triangle [N] (float64)."""
        return self._run(_distance_kernel, points, ())

    def winding_number(self, points: np.ndarray, beta: float = BETA) -> np.ndarray:
        """points [N, 3] -> generalized winding number [N] (float64)."""
        return self._run(_winding_kernel, points, (self.center, self.varea, self.radius, float(beta)))

    def contains(self, points: np.ndarray) -> np.ndarray:
        """points [N, 3] -> inside [N] bool: winding number > 0.5.

        The dipole approximation is off by up to ~0.05 at BETA (measured against exact sums on scanned, CAD and
        open meshes), so points that land within REFINE of 0.5 are recomputed with a 3x stricter criterion
        (~10x smaller error); the rest cannot change side."""
        q = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        w = self.winding_number(q)
        close = np.flatnonzero(np.abs(w - 0.5) < REFINE)
        if len(close):
            w[close] = self.winding_number(q[close], 3 * BETA)
        return w > 0.5

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """points [N, 3] -> [N]: the exact unsigned distance, negative inside (`contains`)."""
        return np.where(self.contains(points), -1.0, 1.0) * self.unsigned_distance(points)

    def _run(self, kernel, points: np.ndarray, extra: tuple) -> np.ndarray:
        q = np.ascontiguousarray(np.asarray(points, dtype=np.float64).reshape(-1, 3))
        out = np.empty(len(q))
        bvh = (self.tri, self.lo, self.hi, self.left, self.start, self.count)
        jobs = [(q, *bvh, *extra, out, a, min(a + CHUNK, len(q))) for a in range(0, len(q), CHUNK)]
        if self.threads == 1 or len(jobs) <= 1:
            for job in jobs:
                kernel(*job)
        else:
            with ThreadPoolExecutor(min(self.threads, len(jobs))) as pool:  # the kernels release the GIL
                for future in [pool.submit(kernel, *job) for job in jobs]:
                    future.result()
        return out


# ----------------------------------------------------------------------------------------------------------------
# BVH


def _build(centroid: np.ndarray, tri_lo: np.ndarray, tri_hi: np.ndarray, leaf_size: int):
    """Median-split BVH over triangles (centroid, lower and upper bounds: [F, 3] each), built level by level in numpy
    -> (order [F]: triangles in leaf order, node lo / hi [M, 3], left child [M] (-1 for a leaf; the right child is
    left + 1), start / count [M]: each node's triangles are order[start : start + count]). Children have larger ids
    than their parent."""
    n_tri = len(centroid)
    order = np.arange(n_tri)
    starts, counts = np.zeros(1, np.int64), np.full(1, n_tri, np.int64)
    next_id = 1
    out: list[tuple[np.ndarray, ...]] = []
    while len(starts):
        offs = np.cumsum(counts) - counts  # segment offsets in the gathered arrays
        pos = np.arange(counts.sum()) - np.repeat(offs - starts, counts)  # positions in `order`, segment by segment
        tris = order[pos]
        lo, hi = np.minimum.reduceat(tri_lo[tris], offs), np.maximum.reduceat(tri_hi[tris], offs)
        spread = np.maximum.reduceat(centroid[tris], offs) - np.minimum.reduceat(centroid[tris], offs)
        split = (counts > leaf_size) & (spread.max(1) > 0)  # all centroids at one point: keep a big leaf
        left = np.where(split, next_id + 2 * (np.cumsum(split) - 1), -1)
        out.append((lo, hi, left, starts, counts))
        if not split.any():
            break
        # sort each splitting node's triangles along its longest centroid axis (segments keep their place)
        seg = np.repeat(np.arange(len(starts)), counts)
        keep = split[seg]
        axis = spread.argmax(1)
        key = centroid[tris[keep], axis[seg[keep]]]
        order[pos[keep]] = tris[keep][np.lexsort((key, seg[keep]))]
        half = counts[split] // 2
        starts = np.stack([starts[split], starts[split] + half], 1).reshape(-1)
        counts = np.stack([half, counts[split] - half], 1).reshape(-1)
        next_id += 2 * int(split.sum())
    lo, hi, left, start, count = (np.concatenate(parts) for parts in zip(*out, strict=True))
    return order, lo, hi, left, start, count


def _dipoles(tri: np.ndarray, lo: np.ndarray, hi: np.ndarray, start: np.ndarray, count: np.ndarray):
    """Per node: area-weighted centroid [M, 3], summed vector area (area x unit normal) [M, 3], and the radius [M] of
    a ball around that centroid holding the node's box. Every node's triangles are contiguous in `tri` (leaf
    order), so its sums are differences of prefix sums."""
    varea = 0.5 * np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # [F, 3]
    area = np.linalg.norm(varea, axis=1)
    per_tri = np.concatenate([varea, area[:, None], area[:, None] * tri.mean(1)], 1)  # [F, 7]
    prefix = np.concatenate([np.zeros((1, 7)), np.cumsum(per_tri, 0)])
    sums = prefix[start + count] - prefix[start]  # [M, 7]
    node_area = sums[:, 3:4]
    center = np.where(node_area > 0, sums[:, 4:] / np.where(node_area > 0, node_area, 1.0), (lo + hi) / 2)
    radius = np.linalg.norm(np.maximum(center - lo, hi - center), axis=1)
    return np.ascontiguousarray(center), np.ascontiguousarray(sums[:, :3]), radius


# ----------------------------------------------------------------------------------------------------------------
# Queries


@njit(cache=True, inline="always")
def _solid_angle(t, qx, qy, qz):
    """Signed solid angle of triangle t [3, 3] seen from q (Van Oosterom & Strackee); positive when its
    counter-clockwise normal points away from q."""
    ax, ay, az = t[0, 0] - qx, t[0, 1] - qy, t[0, 2] - qz
    bx, by, bz = t[1, 0] - qx, t[1, 1] - qy, t[1, 2] - qz
    cx, cy, cz = t[2, 0] - qx, t[2, 1] - qy, t[2, 2] - qz
    la = math.sqrt(ax * ax + ay * ay + az * az)
    lb = math.sqrt(bx * bx + by * by + bz * bz)
    lc = math.sqrt(cx * cx + cy * cy + cz * cz)
    det = ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx)
    den = la * lb * lc + (ax * bx + ay * by + az * bz) * lc + (ax * cx + ay * cy + az * cz) * lb
    den += (bx * cx + by * cy + bz * cz) * la
    return 2.0 * math.atan2(det, den)


@njit(nogil=True, cache=True)
def _winding_kernel(q, tri, lo, hi, left, start, count, center, varea, radius, beta, out, a, b):
    stack = np.empty(STACK, np.int64)
    for i in range(a, b):
        qx, qy, qz = q[i, 0], q[i, 1], q[i, 2]
        w = 0.0
        stack[0] = 0
        sp = 1
        while sp > 0:
            sp -= 1
            node = stack[sp]
            dx, dy, dz = center[node, 0] - qx, center[node, 1] - qy, center[node, 2] - qz
            d2 = dx * dx + dy * dy + dz * dz
            r = beta * radius[node]
            if d2 > r * r:  # far: the node's triangles as one dipole
                w += (dx * varea[node, 0] + dy * varea[node, 1] + dz * varea[node, 2]) / (d2 * math.sqrt(d2))
            elif left[node] < 0:
                for t in range(start[node], start[node] + count[node]):
                    w += _solid_angle(tri[t], qx, qy, qz)
            else:
                stack[sp] = left[node]
                stack[sp + 1] = left[node] + 1
                sp += 2
        out[i] = w / (4.0 * math.pi)


@njit(cache=True, inline="always")
def _box_d2(lo, hi, node, qx, qy, qz):
    dx = max(lo[node, 0] - qx, 0.0, qx - hi[node, 0])
    dy = max(lo[node, 1] - qy, 0.0, qy - hi[node, 1])
    dz = max(lo[node, 2] - qz, 0.0, qz - hi[node, 2])
    return dx * dx + dy * dy + dz * dz


@njit(cache=True, inline="always")
def _triangle_d2(t, px, py, pz):
    """Squared distance from p to triangle t [3, 3] (closest-point regions, Ericson, Real-Time Collision Detection)."""
    ax, ay, az = t[0, 0], t[0, 1], t[0, 2]
    abx, aby, abz = t[1, 0] - ax, t[1, 1] - ay, t[1, 2] - az
    acx, acy, acz = t[2, 0] - ax, t[2, 1] - ay, t[2, 2] - az
    apx, apy, apz = px - ax, py - ay, pz - az
    d1 = abx * apx + aby * apy + abz * apz
    d2 = acx * apx + acy * apy + acz * apz
    if d1 <= 0.0 and d2 <= 0.0:  # vertex a
        return apx * apx + apy * apy + apz * apz
    bpx, bpy, bpz = px - t[1, 0], py - t[1, 1], pz - t[1, 2]
    d3 = abx * bpx + aby * bpy + abz * bpz
    d4 = acx * bpx + acy * bpy + acz * bpz
    if d3 >= 0.0 and d4 <= d3:  # vertex b
        return bpx * bpx + bpy * bpy + bpz * bpz
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:  # edge ab
        s = d1 / (d1 - d3)
        ex, ey, ez = apx - s * abx, apy - s * aby, apz - s * abz
        return ex * ex + ey * ey + ez * ez
    cpx, cpy, cpz = px - t[2, 0], py - t[2, 1], pz - t[2, 2]
    d5 = abx * cpx + aby * cpy + abz * cpz
    d6 = acx * cpx + acy * cpy + acz * cpz
    if d6 >= 0.0 and d5 <= d6:  # vertex c
        return cpx * cpx + cpy * cpy + cpz * cpz
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:  # edge ac
        s = d2 / (d2 - d6)
        ex, ey, ez = apx - s * acx, apy - s * acy, apz - s * acz
        return ex * ex + ey * ey + ez * ez
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:  # edge bc
        s = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        ex = bpx - s * (t[2, 0] - t[1, 0])
        ey = bpy - s * (t[2, 1] - t[1, 1])
        ez = bpz - s * (t[2, 2] - t[1, 2])
        return ex * ex + ey * ey + ez * ez
    den = va + vb + vc
    if den <= 0.0:  # degenerate (zero-area) triangle: its edges were handled above
        return apx * apx + apy * apy + apz * apz
    v = vb / den
    w = vc / den
    ex, ey, ez = apx - v * abx - w * acx, apy - v * aby - w * acy, apz - v * abz - w * acz
    return ex * ex + ey * ey + ez * ez


@njit(nogil=True, cache=True)
def _distance_kernel(q, tri, lo, hi, left, start, count, out, a, b):
    stack = np.empty(STACK, np.int64)
    for i in range(a, b):
        qx, qy, qz = q[i, 0], q[i, 1], q[i, 2]
        best = np.inf
        stack[0] = 0
        sp = 1
        while sp > 0:
            sp -= 1
            node = stack[sp]
            if _box_d2(lo, hi, node, qx, qy, qz) >= best:
                continue
            if left[node] < 0:
                for t in range(start[node], start[node] + count[node]):
                    best = min(best, _triangle_d2(tri[t], qx, qy, qz))
                continue
            near, far = left[node], left[node] + 1
            dn, df = _box_d2(lo, hi, near, qx, qy, qz), _box_d2(lo, hi, far, qx, qy, qz)
            if dn > df:  # push the farther child first, so the nearer one is searched first
                near, far, dn, df = far, near, df, dn
            if df < best:
                stack[sp] = far
                sp += 1
            if dn < best:
                stack[sp] = near
                sp += 1
        out[i] = math.sqrt(best)
