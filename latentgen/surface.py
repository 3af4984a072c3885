"""Occupancy field -> grid -> triangle mesh.

Grid (the reference's, `VanillaVolumeDecoder`): per axis `np.linspace(-b, b, R + 1, dtype=float32)`,
`grid[i, j, k] = f(x_i, y_j, z_k)`, float32, surface at `level` (0 for occupancy logits, > level inside).

* `dense_grid` evaluates every point, in chunks (queries never interact, so chunking changes nothing).
* `coarse_to_fine_grid` evaluates a coarse grid, then level by level refines only the cells that can hold
  surface and returns a grid whose marching-cubes mesh equals the dense one (see its docstring).
* `extract_mesh` runs skimage's Lewiner marching cubes and maps voxel indices to space either geometrically
  (index i -> x_i, "exact") or as the reference does (i -> i / (R + 1) * 2b - b, "reference": the mesh comes
  out scaled by R / (R + 1) towards the min corner); faces are reversed in both, giving outward normals for
  a field that is positive inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import trimesh
from skimage.measure import marching_cubes
from torch import Tensor

from .errors import StageError

SdfFn = Callable[[Tensor], Tensor]  # xyz [Q, 3] float32 -> values [Q] (float32)
ProgressFn = Callable[[str, float], None]
MAPPINGS = ("exact", "reference")


def _quiet(phase: str, done: float) -> None: ...


@dataclass
class Volume:
    """grid: [R+1, R+1, R+1] float32 over [-bounds, bounds]^3. queries: decoder evaluations spent on it;
    levels: (resolution, queries) per refinement level (one entry for a dense grid)."""

    grid: Tensor
    bounds: float
    queries: int
    levels: list[tuple[int, int]] = field(default_factory=list)

    @property
    def resolution(self) -> int:
        return self.grid.shape[0] - 1


def grid_axis(resolution: int, bounds: float, count: int | None = None) -> Tensor:
    """Coordinates of grid indices 0 .. count-1 (default R): exactly the reference's float32 linspace for
    0..R, continued with the same spacing beyond R (coarse-to-fine pads the grid to a multiple of its strides)."""
    if resolution < 1:
        raise ValueError(f"resolution must be >= 1, got {resolution}")
    count = resolution + 1 if count is None else count
    axis = np.linspace(-bounds, bounds, resolution + 1, dtype=np.float32)
    if count > resolution + 1:
        step = 2 * bounds / resolution
        extra = (np.arange(resolution + 1, count, dtype=np.float64) * step - bounds).astype(np.float32)
        axis = np.concatenate([axis, extra])
    return torch.from_numpy(axis[:count].copy())


def _evaluate(sdf: SdfFn, xyz: Tensor, chunk: int, done: Callable[[int], None] = lambda n: None) -> Tensor:
    """xyz: [Q, 3] -> float32 [Q], `chunk` queries at a time."""
    out = torch.empty(len(xyz), dtype=torch.float32)
    for s in range(0, len(xyz), chunk):
        out[s : s + chunk] = sdf(xyz[s : s + chunk]).reshape(-1).float()
        done(min(s + chunk, len(xyz)))
    return out


def _points(axis: Tensor, ijk: Tensor) -> Tensor:
    """Integer grid indices [Q, 3] -> xyz [Q, 3] float32."""
    return torch.stack([axis[ijk[:, 0]], axis[ijk[:, 1]], axis[ijk[:, 2]]], dim=1)


def dense_grid(
    sdf: SdfFn, resolution: int, bounds: float = 1.01, chunk: int = 16384, progress: ProgressFn = _quiet
) -> Volume:
    """Evaluate all (R+1)^3 grid points, in the reference's order, `chunk` at a time."""
    axis = grid_axis(resolution, bounds)
    n = resolution + 1
    total = n**3
    out = torch.empty(total, dtype=torch.float32)
    for s in range(0, total, chunk):
        flat = torch.arange(s, min(s + chunk, total))
        ijk = torch.stack([flat // (n * n), flat // n % n, flat % n], dim=1)
        out[s : s + len(flat)] = sdf(_points(axis, ijk)).reshape(-1).float()
        progress("dense grid", (s + len(flat)) / total)
    return Volume(out.view(n, n, n), bounds, total, [(resolution, total)])


# ------------------------------------------------------------------------------ boolean grid helpers
# Grids of points are [n, n, n]; the cells between them are [n-1, n-1, n-1]. Shifted views keep these bool ops
# cheap in memory at 385^3 (no float max-pooling).

_CORNERS = [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]


def _cell_any(p: Tensor) -> Tensor:
    """Point mask [n]^3 -> cells with any true corner [n-1]^3."""
    n = p.shape[0] - 1
    out = torch.zeros((n, n, n), dtype=torch.bool)
    for a, b, c in _CORNERS:
        out |= p[a : a + n, b : b + n, c : c + n]
    return out


def _cell_all(p: Tensor) -> Tensor:
    return ~_cell_any(~p)


def _cells_to_points(cells: Tensor) -> Tensor:
    """Cell mask [n-1]^3 -> points that are a corner of a marked cell [n]^3."""
    n = cells.shape[0]
    out = torch.zeros((n + 1,) * 3, dtype=torch.bool)
    for a, b, c in _CORNERS:
        out[a : a + n, b : b + n, c : c + n] |= cells
    return out


def _crossing_cells(grid: Tensor, level: float) -> Tensor:
    """Cells whose corners fall on both sides of the level, with marching cubes' own test (inside: v > level)."""
    inside = grid > level
    return _cell_any(inside) & ~_cell_all(inside)


def _edge_jump(grid: Tensor, level: float) -> float | None:
    """Median |value difference| across grid edges the surface crosses: the field's rise over one cell near the
    surface, in value units. None if no edge is crossed."""
    inside = grid > level
    jumps = []
    for dim in range(3):
        n = grid.shape[dim]
        a, b = grid.narrow(dim, 0, n - 1), grid.narrow(dim, 1, n - 1)
        cross = inside.narrow(dim, 0, n - 1) != inside.narrow(dim, 1, n - 1)
        jumps.append((a[cross] - b[cross]).abs())
    j = torch.cat(jumps)
    return float(j.median()) if len(j) else None


def refinement_plan(resolution: int, min_resolution: int) -> tuple[int, int]:
    """(levels L, padded resolution R') with R' = 2^L * ceil(R / 2^L) and the coarsest grid ceil(R / 2^L)
    >= min_resolution: as many halvings as keep the coarse grid fine enough to see every part of the shape."""
    levels = 0
    while math.ceil(resolution / 2 ** (levels + 1)) >= min_resolution:
        levels += 1
    step = 2**levels
    return levels, step * math.ceil(resolution / step)


def _upsample(grid: Tensor, known: Tensor) -> tuple[Tensor, Tensor]:
    """Grid [n]^3 -> [2n-1]^3: known points copied to even indices, the rest trilinear (which keeps the sign of
    a cell whose corners share one), marked unknown."""
    n = 2 * grid.shape[0] - 1
    fine = torch.nn.functional.interpolate(grid[None, None], size=(n, n, n), mode="trilinear", align_corners=True)[0, 0]
    fine[::2, ::2, ::2] = grid
    fine_known = torch.zeros((n, n, n), dtype=torch.bool)
    fine_known[::2, ::2, ::2] = known
    return fine, fine_known


def coarse_to_fine_grid(
    sdf: SdfFn,
    resolution: int,
    bounds: float = 1.01,
    level: float = 0.0,
    min_resolution: int = 32,
    band: float = 3.0,
    chunk: int = 16384,
    progress: ProgressFn = _quiet,
) -> Volume:
    """A grid whose marching-cubes surface equals `dense_grid`'s, evaluating the field only near the surface.

    Level 0 evaluates every point of a grid 2^L times coarser than R (R padded up to a multiple of 2^L; the
    padding is cut off at the end). Each next level doubles the resolution: the grid is upsampled (new points
    trilinear, "unknown"), then these points are evaluated: the corners of every cell that straddles the level,
    and every point whose value lies within `band` x (the field's typical rise over one cell near the surface:
    half the median jump across surface-crossing edges of the coarser level) of it. The band finds surface
    the coarser grid only brushed (thin parts, small bubbles). Then, until nothing changes, every cell that
    straddles the level with a corner still unknown gets that corner evaluated ("closure"): a surface found
    anywhere is followed to its full extent, whatever the band.

    Result: every cell straddling the level has all 8 corners evaluated exactly and every unknown point lies on
    the same side as its cell's corners, so marching cubes yields exactly the dense grid's triangles, on the one
    assumption that no surface component hides where the coarser grid stayed farther than the band from the
    level. Values at unknown points are interpolations (fine for meshing, not an exact field).
    """
    levels, padded = refinement_plan(resolution, min_resolution)
    if levels == 0:
        return dense_grid(sdf, resolution, bounds, chunk, progress)
    axis = grid_axis(resolution, bounds, padded + 1)

    def evaluate(grid: Tensor, known: Tensor, todo: Tensor, stride: int, step: int) -> int:
        ijk = todo.nonzero()  # [Q, 3] indices at this level
        if len(ijk):
            report = lambda done: progress("decode", (step + done / len(ijk)) / (levels + 1))  # noqa: E731
            vals = _evaluate(sdf, _points(axis, ijk * stride), chunk, report)
            grid[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = vals
            known[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
        return len(ijk)

    stride = 2**levels
    n = padded // stride + 1
    grid, known = torch.empty((n, n, n), dtype=torch.float32), torch.zeros((n, n, n), dtype=torch.bool)
    stats = [(n - 1, evaluate(grid, known, ~known, stride, 0))]
    for step in range(1, levels + 1):
        jump = _edge_jump(grid, level)
        grid, known = _upsample(grid, known)
        stride //= 2
        dist = (grid - level).abs_()
        if jump is not None:
            near = dist < band * jump / 2
        else:  # no surface seen yet: look closer where the field comes nearest the level
            near = dist <= torch.quantile(dist.flatten()[:: max(1, dist.numel() // 1_000_000)], 0.01)
        del dist
        todo = (_cells_to_points(_crossing_cells(grid, level)) | near) & ~known
        del near
        count = evaluate(grid, known, todo, stride, step)
        del todo
        while True:  # closure
            open_cells = _crossing_cells(grid, level) & _cell_any(~known)
            if not open_cells.any():
                break
            count += evaluate(grid, known, _cells_to_points(open_cells) & ~known, stride, step)
        stats.append((grid.shape[0] - 1, count))
    progress("decode", 1.0)
    r1 = resolution + 1
    return Volume(grid[:r1, :r1, :r1].contiguous(), bounds, sum(q for _, q in stats), stats)


# ------------------------------------------------------------------------------ marching cubes


def extract_mesh(
    grid: Tensor | np.ndarray, bounds: float = 1.01, level: float = 0.0, mapping: str = "exact"
) -> trimesh.Trimesh:
    """Marching cubes (skimage, Lewiner) of a [R+1]^3 grid over [-bounds, bounds]^3 -> outward-facing mesh.

    mapping "exact": vertex index i -> -b + i * 2b / R (where the grid samples really are);
    "reference": i -> i / (R + 1) * 2b - b and trimesh processing, as hy3dgen's MCSurfaceExtractor +
    export_to_trimesh (for parity)."""
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping {mapping!r}: choose one of {MAPPINGS}")
    volume = grid.detach().cpu().numpy() if isinstance(grid, Tensor) else np.asarray(grid)
    volume = np.ascontiguousarray(volume, dtype=np.float32)
    if volume.ndim != 3 or len(set(volume.shape)) != 1:
        raise ValueError(f"expected a cubic grid [R+1]^3, got {volume.shape}")
    if not (volume.min() <= level < volume.max()):
        raise StageError(
            f"no surface: the field lies entirely {'above' if volume.min() > level else 'below'} level {level} "
            f"in the box [-{bounds}, {bounds}]^3 (range {volume.min():.3g} .. {volume.max():.3g})"
        )
    verts, faces, _, _ = marching_cubes(volume, level, method="lewiner")
    r = volume.shape[0] - 1
    faces = np.ascontiguousarray(faces[:, ::-1])  # skimage winds them inward for a field that is positive inside
    if mapping == "reference":
        vertices = verts / np.array([r + 1] * 3) * (2 * bounds) - bounds
        return trimesh.Trimesh(vertices, faces)  # process=True, as export_to_trimesh
    vertices = verts.astype(np.float64) * (2 * bounds / r) - bounds
    return trimesh.Trimesh(vertices, faces, process=False)
