"""Surface point clouds for the ShapeVAE encoder, sampled as the Hunyuan3D-2 surface loader does.

Reference (`SharpEdgeSurfaceLoader`, GitHub): the mesh is centred on its bounding box and scaled so the longest
side spans [-0.9999, 0.9999]; uniform samples carry their face normal, sharp-edge samples lie on edges between
"sharp" vertices (a vertex whose normal deviates from one of its faces' normals: dot < 0.985), length-weighted,
with interpolated vertex normals; xyz and normals are stored as float16; columns are xyz, normal, label
(0 uniform, 1 sharp). Query points for the encoder are then chosen by farthest-point sampling.
Everything here is deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from .errors import InputError

NORMALIZE_SCALE = 0.9999  # reference: longest bbox side -> [-0.9999, 0.9999]
SHARP_COS = 0.985  # reference: vertex normal . face normal below this marks a sharp vertex


@dataclass
class SurfaceSamples:
    """Encoder input. uniform: [Pu, 7], sharp: [Ps, 7] float32; columns xyz, normal, sharp-edge label."""

    uniform: np.ndarray
    sharp: np.ndarray

    @property
    def all(self) -> np.ndarray:
        return np.concatenate([self.uniform, self.sharp])


def normalize_mesh(mesh: trimesh.Trimesh, scale: float = NORMALIZE_SCALE) -> trimesh.Trimesh:
    """A new mesh, vertices merged by position, centred on its bbox, longest side -> 2 * scale. Input untouched."""
    lo, hi = mesh.bounds
    extent = float((hi - lo).max())
    if not np.isfinite(extent) or extent <= 0:
        raise InputError("mesh has no extent (empty, flat to a point, or non-finite vertices)")
    vertices = (np.asarray(mesh.vertices, dtype=np.float64) - (lo + hi) / 2) * (2 * scale / extent)
    # no normals passed: vertices split only for shading (e.g. PLY with per-corner normals) get merged,
    # which sharp-edge detection needs
    return trimesh.Trimesh(vertices, np.asarray(mesh.faces), process=True)


def sample_uniform(mesh: trimesh.Trimesh, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Area-uniform surface samples -> points [count, 3], face normals [count, 3]."""
    points, face_index = trimesh.sample.sample_surface(mesh, count, seed=rng)
    return np.asarray(points), np.asarray(mesh.face_normals[face_index])


def sharp_edges(mesh: trimesh.Trimesh, cos_threshold: float = SHARP_COS) -> np.ndarray:
    """Directed face edges [E, 2] (vertex ids) whose two ends are sharp vertices, as the reference collects them.

    (The reference's per-vertex minimum uses a fancy-index assignment that keeps the last face rather than the
    minimum when a vertex repeats; a true minimum is taken here.)"""
    faces = np.asarray(mesh.faces)
    face_n, vert_n = mesh.face_normals, mesh.vertex_normals
    lowest = np.ones(len(mesh.vertices))
    for i in range(3):
        np.minimum.at(lowest, faces[:, i], np.einsum("ij,ij->i", vert_n[faces[:, i]], face_n))
    sharp = lowest < cos_threshold
    a = faces.T.reshape(-1)  # edges (f0,f1), (f1,f2), (f2,f0)
    b = faces[:, [1, 2, 0]].T.reshape(-1)
    keep = sharp[a] & sharp[b]
    return np.stack([a[keep], b[keep]], axis=1)


def sample_sharp(mesh: trimesh.Trimesh, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    """Length-weighted samples on sharp edges -> points, interpolated vertex normals (not renormalised, as the
    reference); None if the mesh has no sharp edge."""
    edges = sharp_edges(mesh)
    v, vn = np.asarray(mesh.vertices), mesh.vertex_normals
    length = np.linalg.norm(v[edges[:, 1]] - v[edges[:, 0]], axis=1) if len(edges) else np.zeros(0)
    if length.sum() <= 0:
        return None
    pick = rng.choice(len(edges), size=count, p=length / length.sum())
    w = rng.random((count, 1))
    a, b = edges[pick, 0], edges[pick, 1]
    points = w * v[a] + (1 - w) * v[b]
    normals = w * vn[a] + (1 - w) * vn[b]
    return points, normals


def _rows(points: np.ndarray, normals: np.ndarray, label: float) -> np.ndarray:
    xyzn = np.concatenate([points, normals], axis=1).astype(np.float16).astype(np.float32)  # reference precision
    return np.concatenate([xyzn, np.full((len(points), 1), label, np.float32)], axis=1)


def sample_surface(mesh: trimesh.Trimesh, num_uniform: int, num_sharp: int, seed: int = 0) -> SurfaceSamples:
    """Normalise `mesh` as the reference loader does and sample it. A mesh without sharp edges (a sphere) gets
    uniform samples in the sharp slot, labelled 0."""
    if len(mesh.faces) == 0:
        raise InputError("mesh has no faces to sample")
    if num_uniform < 0 or num_sharp < 0 or num_uniform + num_sharp == 0:
        raise InputError(f"point counts must be >= 0 and not both 0 (got {num_uniform} + {num_sharp})")
    rng = np.random.default_rng(seed)
    mesh = normalize_mesh(mesh)
    if mesh.area <= 0:
        raise InputError("mesh has zero surface area")
    uniform = _rows(*sample_uniform(mesh, num_uniform, rng), 0.0)
    if num_sharp == 0:
        return SurfaceSamples(uniform, np.zeros((0, 7), np.float32))
    sharp = sample_sharp(mesh, num_sharp, rng)
    sharp_rows = _rows(*sharp, 1.0) if sharp is not None else _rows(*sample_uniform(mesh, num_sharp, rng), 0.0)
    return SurfaceSamples(uniform, sharp_rows)


def farthest_point_sampling(points: np.ndarray, k: int, start: int = 0) -> np.ndarray:
    """Indices [k] of a greedy farthest-point subset of points [N, 3], starting at row `start`.

    Ties go to the lowest index (np.argmax), so the result is deterministic."""
    n = len(points)
    if not 0 < k <= n:
        raise InputError(f"cannot pick {k} farthest points out of {n}")
    pts = np.asarray(points, dtype=np.float32)
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = start
    dist = np.full(n, np.inf, dtype=np.float32)
    for i in range(1, k):
        d = pts - pts[chosen[i - 1]]
        np.minimum(dist, np.einsum("ij,ij->i", d, d), out=dist)
        chosen[i] = int(np.argmax(dist))
    return chosen
