"""Training samples from an exact SDF: surface points with normals, sharp-edge points, labelled query points.

Pipeline for one shape (all seeded, numpy in and out):
1. `sdf_grid`: the SDF on a (res+1)^3 lattice over [-1, 1]^3, evaluated exactly only near the surface (coarse-to-fine:
   a cell whose centre is farther from the surface than its half diagonal cannot hold surface, because the SDF is
   1-Lipschitz); elsewhere the lattice only gets the right sign. Marching cubes needs nothing more.
2. `extract_mesh`: skimage marching cubes on that lattice -> a closed triangle mesh.
3. `surface_samples`: area-uniform points on the mesh, then Newton-projected onto the exact zero level set of the
   SDF (|sdf| < 1e-6 after projection); normals are the normalised SDF gradient there.
4. `sharp_samples`: points on mesh edges whose dihedral angle is large (creases and tight curvature, as Hunyuan3D /
   Dora pick sharp-edge samples), projected the same way.
5. `query_samples`: uniform points in [-1, 1]^3 plus surface points jittered at several scales, labelled with the
   exact SDF value and occupancy (sdf < 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from skimage.measure import marching_cubes

SdfFn = Callable[[np.ndarray], np.ndarray]  # xyz [N, 3] -> sdf [N]


@dataclass(frozen=True)
class SampleConfig:
    grid_res: int = 128  # marching-cubes lattice over [-1, 1]^3 (cells of 2 / grid_res)
    n_surface: int = 8192  # surface points with normals
    n_sharp: int = 4096  # sharp-edge points with normals
    n_uniform: int = 8192  # query points uniform in [-1, 1]^3
    n_near: int = 16384  # query points near the surface, split evenly over near_sigmas
    near_sigmas: tuple[float, ...] = (0.005, 0.03)  # std of the Gaussian offsets, world units
    sharp_angle_deg: float = 30.0  # mesh edges bending more than this are sharp

    def __post_init__(self) -> None:
        if self.grid_res < 16 or self.grid_res % 16:
            raise ValueError(f"grid_res must be a multiple of 16, got {self.grid_res}")
        if min(self.n_surface, self.n_sharp, self.n_uniform, self.n_near) < 0 or not self.near_sigmas:
            raise ValueError("sample counts must be >= 0 and near_sigmas non-empty")


@dataclass
class ShapeSamples:
    """Everything `sample_shape` draws for one shape (float32 arrays)."""

    surface: np.ndarray  # [P, 6] xyz + unit normal, on the zero level set
    sharp: np.ndarray  # [S, 6] xyz + unit normal, near creases (uniform surface points if the shape has none)
    points: np.ndarray  # [Q, 3] query points: n_uniform uniform first, then the near-surface ones
    sdf: np.ndarray  # [Q] exact signed distance at `points` (negative inside)
    n_sharp_found: int  # how many of `sharp` really lie on sharp edges
    mesh_vertices: np.ndarray = field(repr=False)  # [V, 3] marching-cubes mesh, reused for rendering
    mesh_faces: np.ndarray = field(repr=False)  # [F, 3] int64, outward (counter-clockwise) winding
    mesh_normals: np.ndarray = field(repr=False)  # [V, 3] unit outward normals

    @property
    def occupancy(self) -> np.ndarray:
        """[Q] uint8, 1 inside."""
        return (self.sdf < 0).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------------
# Lattice and mesh


def lattice_points(res: int) -> np.ndarray:
    """Coordinates [res + 1] of the lattice over [-1, 1]."""
    return np.linspace(-1.0, 1.0, res + 1)


def sdf_grid(sdf: SdfFn, res: int = 128, coarse: int | None = None) -> np.ndarray:
    """SDF on the (res+1)^3 lattice over [-1, 1]^3, [i, j, k] = (x_i, y_j, z_k), float32.

    Exact wherever a lattice cell can touch the surface; elsewhere only the sign is right (and the value is a
    coarse cell's centre distance). Cells are refined by halving from `coarse` cells per side until cells are two
    lattice steps wide; then every lattice point of the surviving cells is evaluated.
    """
    coarse = coarse or res // 8
    if res % coarse or (res // coarse) & (res // coarse - 1):
        raise ValueError(f"res / coarse must be a power of two, got {res} / {coarse}")
    x = lattice_points(res)
    vol = np.empty((res + 1,) * 3, np.float32)
    # level 0: every coarse cell's centre; lattice points take the value of their (floor) coarse cell
    r = coarse
    cells = np.stack(np.meshgrid(*[np.arange(r)] * 3, indexing="ij"), -1).reshape(-1, 3)
    d = sdf(_cell_centres(cells, r))
    idx = np.minimum(np.arange(res + 1) // (res // r), r - 1)
    vol[:] = d.reshape(r, r, r)[np.ix_(idx, idx, idx)]
    active = cells[np.abs(d) <= _half_diagonal(r)]
    while r < res // 2:
        cells = (active[:, None, :] * 2 + _CHILDREN[None]).reshape(-1, 3)  # the 8 children of each active cell
        r *= 2
        d = sdf(_cell_centres(cells, r))
        keep = np.abs(d) <= _half_diagonal(r)
        _paint(vol, cells[~keep], d[~keep], res // r)  # surface-free cells: one sign over the whole closed cell
        active = cells[keep]
    # finest level (cells of 2 lattice steps): evaluate all 27 lattice points of each, once
    pts = (active[:, None, :] * 2 + _OFFSETS3[None]).reshape(-1, 3)
    mark = np.zeros(vol.size, bool)  # dedupe shared lattice points (a mask is ~10x faster than np.unique here)
    mark[np.ravel_multi_index(pts.T, vol.shape)] = True
    flat = np.flatnonzero(mark)
    ijk = np.stack(np.unravel_index(flat, vol.shape), -1)
    vol.reshape(-1)[flat] = sdf(x[ijk])
    return vol


_CHILDREN = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3)
_OFFSETS3 = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)


def _cell_centres(cells: np.ndarray, r: int) -> np.ndarray:
    return -1.0 + (cells + 0.5) * (2.0 / r)


def _half_diagonal(r: int) -> float:
    return math.sqrt(3) / r * (1 + 1e-9)  # half of sqrt(3) * cell size 2 / r


def _paint(vol: np.ndarray, cells: np.ndarray, values: np.ndarray, f: int) -> None:
    """Set every lattice point of each cell (f steps wide, closed) to that cell's value."""
    if len(cells) == 0:
        return
    offs = np.stack(np.meshgrid(*[np.arange(f + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pts = (cells[:, None, :] * f + offs[None]).reshape(-1, 3)
    vol[pts[:, 0], pts[:, 1], pts[:, 2]] = np.repeat(values, len(offs))


def extract_mesh(sdf: SdfFn, res: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Marching cubes of the zero level set -> (vertices [V, 3] float64, faces [F, 3] int64, normals [V, 3]).

    The lattice covers [-1, 1]^3 and shapes stay inside [-0.9, 0.9]^3, so the mesh is closed. Faces wind
    counter-clockwise seen from outside; normals point outwards.
    """
    vol = sdf_grid(sdf, res)
    if vol.min() >= 0 or vol.max() <= 0:
        raise ValueError("the SDF has no zero crossing on the lattice (empty or unbounded shape)")
    h = 2.0 / res
    # with gradient_direction="descent" (default) skimage winds faces outwards for a field that grows outwards,
    # as an SDF does; its normals point down the gradient (inwards), so they are flipped
    verts, faces, normals, _ = marching_cubes(vol, level=0.0, spacing=(h, h, h), allow_degenerate=False)
    verts = verts.astype(np.float64) - 1.0
    faces = faces.astype(np.int64)
    normals = -normals.astype(np.float64)
    return verts, faces, normals


# ----------------------------------------------------------------------------------------------------------------
# Projection onto the zero level set


def sdf_and_gradient(sdf: SdfFn, p: np.ndarray, h: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Forward differences in one batched call: p [N, 3] -> (sdf [N], gradient [N, 3])."""
    n = len(p)
    stacked = np.concatenate([p, p + [h, 0, 0], p + [0, h, 0], p + [0, 0, h]])
    d = sdf(stacked)
    d0 = d[:n]
    return d0, (d[n:].reshape(3, n).T - d0[:, None]) / h


def project_to_surface(
    sdf: SdfFn, p: np.ndarray, tol: float = 1e-6, iterations: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newton steps p <- p - sdf(p) grad / |grad|^2 until |sdf| < tol.

    -> (points [N, 3], unit outward normals [N, 3], converged [N] bool). An exact SDF lands in one step (the step is
    the distance along the gradient); bounds (CSG interiors) and creases take a few more.
    """
    p = np.array(p, dtype=np.float64)
    normals = np.zeros_like(p)
    done = np.zeros(len(p), bool)
    todo = np.arange(len(p))
    for _ in range(iterations + 1):
        if len(todo) == 0:
            break
        d, g = sdf_and_gradient(sdf, p[todo])
        g2 = np.einsum("ij,ij->i", g, g)
        ok = np.abs(d) < tol
        normals[todo[ok]] = g[ok] / np.sqrt(g2[ok])[:, None]
        done[todo[ok]] = True
        move = ~ok & (g2 > 1e-12)
        p[todo[move]] -= (d[move] / g2[move])[:, None] * g[move]
        todo = todo[move]
    return p, normals, done


# ----------------------------------------------------------------------------------------------------------------
# Surface, sharp-edge and query samples


def sample_triangles(vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniform by area on a triangle mesh -> [n, 3]."""
    tri = vertices[faces]  # [F, 3, 3]
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    cdf = np.cumsum(area)
    fid = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(faces) - 1)
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1  # fold the unit square onto the triangle
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    t = tri[fid]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])


def _projected(sdf: SdfFn, candidates: np.ndarray, n: int) -> np.ndarray:
    """Project candidates onto the surface and keep the first n that converged -> [<= n, 6]."""
    p, nrm, ok = project_to_surface(sdf, candidates)
    return np.concatenate([p[ok], nrm[ok]], axis=1)[:n]


def surface_samples(
    sdf: SdfFn, vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """n points on the exact zero level set with outward unit normals -> [n, 6] float64."""
    out = np.empty((0, 6))
    while len(out) < n:  # a few candidates at creases may fail to converge: draw more
        need = n - len(out)
        out = np.concatenate(
            [out, _projected(sdf, sample_triangles(vertices, faces, need + need // 16 + 8, rng), need)]
        )
    return out


def sharp_edges(vertices: np.ndarray, faces: np.ndarray, angle_deg: float) -> np.ndarray:
    """Mesh edges whose two faces meet at more than `angle_deg` -> [E, 2] vertex indices."""
    fn = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), 1e-30)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])  # [3F, 2], face of row i: i % F
    face_of = np.tile(np.arange(len(faces)), 3)
    key = np.minimum(e[:, 0], e[:, 1]) * len(vertices) + np.maximum(e[:, 0], e[:, 1])
    order = np.argsort(key, kind="stable")
    k = key[order]
    pair = np.nonzero(k[1:] == k[:-1])[0]  # manifold mesh: each edge appears twice, consecutive after sorting
    fa, fb = face_of[order[pair]], face_of[order[pair + 1]]
    sharp = np.einsum("ij,ij->i", fn[fa], fn[fb]) < math.cos(math.radians(angle_deg))
    return e[order[pair[sharp]]]


def sharp_samples(
    sdf: SdfFn, vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator, angle_deg: float = 30.0
) -> tuple[np.ndarray, int]:
    """n points near creases / tight curvature with normals -> ([n, 6], how many came from sharp edges).

    Points are drawn on the sharp mesh edges by length and projected onto the exact surface. A shape with no sharp
    edge (a smooth blob) gets uniform surface samples instead, so the array always has n rows.
    """
    edges = sharp_edges(vertices, faces, angle_deg)
    out = np.empty((0, 6))
    if len(edges) and n:
        a, b = vertices[edges[:, 0]], vertices[edges[:, 1]]
        length = np.linalg.norm(b - a, axis=1)
        cdf = np.cumsum(length)
        tries = 0
        while len(out) < n and tries < 4:
            need = n - len(out)
            m = need + need // 16 + 8
            eid = np.minimum(np.searchsorted(cdf, rng.random(m) * cdf[-1], side="right"), len(edges) - 1)
            t = rng.random(m)[:, None]
            out = np.concatenate([out, _projected(sdf, a[eid] + t * (b[eid] - a[eid]), need)])
            tries += 1
    found = len(out)
    if found < n:
        out = np.concatenate([out, surface_samples(sdf, vertices, faces, n - found, rng)])
    return out, found


def query_samples(
    sdf: SdfFn,
    surface: np.ndarray,
    n_uniform: int,
    n_near: int,
    sigmas: tuple[float, ...],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points in [-1, 1]^3, then surface points [.., 3+] jittered by N(0, sigma^2) for each sigma ->
    (points [Q, 3] float32, sdf [Q] float32). Labels are computed at the float32 points, so they match exactly."""
    chunks = [rng.uniform(-1.0, 1.0, (n_uniform, 3))]
    counts = np.full(len(sigmas), n_near // len(sigmas))
    counts[: n_near % len(sigmas)] += 1
    for sigma, m in zip(sigmas, counts, strict=True):
        base = surface[rng.integers(len(surface), size=m), :3]
        chunks.append(base + rng.normal(0.0, sigma, (m, 3)))
    pts = np.clip(np.concatenate(chunks), -1.0, 1.0).astype(np.float32)
    return pts, sdf(pts.astype(np.float64)).astype(np.float32)


def sample_shape(sdf: SdfFn, config: SampleConfig = SampleConfig(), seed: int = 0) -> ShapeSamples:
    """All samples for one shape (`sdf`: e.g. Shape.sdf). Deterministic in (sdf, config, seed)."""
    rng = np.random.default_rng(seed)
    verts, faces, normals = extract_mesh(sdf, config.grid_res)
    surface = surface_samples(sdf, verts, faces, max(config.n_surface, 1), rng)
    sharp, found = sharp_samples(sdf, verts, faces, config.n_sharp, rng, config.sharp_angle_deg)
    points, dist = query_samples(sdf, surface, config.n_uniform, config.n_near, config.near_sigmas, rng)
    return ShapeSamples(
        surface=surface[: config.n_surface].astype(np.float32),
        sharp=sharp.astype(np.float32),
        points=points,
        sdf=dist,
        n_sharp_found=found,
        mesh_vertices=verts,
        mesh_faces=faces,
        mesh_normals=normals,
    )
