"""Mesh cleanup and face budget. Pure functions: each returns a new mesh and leaves its input untouched.

Texture coordinates (per-vertex UVs, as trimesh stores them) survive every operation here.
"""

from __future__ import annotations

from dataclasses import dataclass

import fast_simplification
import numpy as np
import pymeshlab
import trimesh
from scipy import sparse

from .errors import InputError
from .meshio import has_texture


@dataclass(frozen=True)
class CleanupOptions:
    min_component_ratio: float = 0.02  # drop pieces whose bbox diagonal is below this share of the whole's
    max_hole_edges: int = 30  # close holes bounded by at most this many edges (0: leave holes)
    remove_degenerate: bool = True


@dataclass
class CleanupReport:
    faces_before: int
    faces_after: int
    components_removed: int = 0
    degenerate_removed: int = 0
    duplicate_removed: int = 0
    holes_closed: int = 0


def _weld(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """(unique positions [U, 3], faces re-indexed onto them [F, 3]): UV seams and split normals
    no longer cut the connectivity."""
    rounded = np.ascontiguousarray(np.round(mesh.vertices, 9) + 0.0)  # + 0.0 turns -0.0 into 0.0
    rows = rounded.view(np.dtype((np.void, rounded.itemsize * 3))).ravel()  # 1-D unique is ~3x faster
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    return rounded[first], inverse.reshape(-1)[mesh.faces]


def _face_keys(faces: np.ndarray) -> np.ndarray:
    """One int64 per face, equal for faces with the same three vertices in any order. [F]"""
    f = np.sort(faces, axis=1).astype(np.int64)
    n = int(f.max()) + 1
    if n < 2**21:
        return (f[:, 0] * n + f[:, 1]) * n + f[:, 2]
    return np.unique(f, axis=0, return_inverse=True)[1].reshape(-1)


def _position_welded_faces(mesh: trimesh.Trimesh) -> np.ndarray:
    return _weld(mesh)[1]


def component_labels(mesh: trimesh.Trimesh) -> np.ndarray:
    """Connected component id per face (faces sharing a vertex position are connected). [F]"""
    faces = _position_welded_faces(mesh)
    n_faces, n_verts = len(faces), int(faces.max()) + 1
    # face-vertex incidence; two faces are connected through any shared vertex
    rows = np.repeat(np.arange(n_faces), 3)
    inc = sparse.csr_matrix((np.ones(len(rows)), (rows, faces.reshape(-1))), shape=(n_faces, n_verts))
    graph = sparse.bmat([[None, inc], [inc.T, None]]).tocsr()
    _, labels = sparse.csgraph.connected_components(graph, directed=False)
    return labels[:n_faces]


def _keep_faces(mesh: trimesh.Trimesh, keep: np.ndarray) -> trimesh.Trimesh:
    out = mesh.copy()
    out.update_faces(keep)
    out.remove_unreferenced_vertices()
    return out


def remove_floaters(mesh: trimesh.Trimesh, min_ratio: float) -> tuple[trimesh.Trimesh, int]:
    """Drop connected pieces whose bounding-box diagonal is below `min_ratio` of the whole mesh's."""
    labels = component_labels(mesh)
    n = labels.max() + 1
    if n == 1 or min_ratio <= 0:
        return mesh, 0
    corners = mesh.vertices[mesh.faces]  # [F, 3, 3]
    lo = np.full((n, 3), np.inf)
    hi = np.full((n, 3), -np.inf)
    np.minimum.at(lo, labels, corners.min(axis=1))
    np.maximum.at(hi, labels, corners.max(axis=1))
    diag = np.linalg.norm(hi - lo, axis=1)
    whole = np.linalg.norm(mesh.bounds[1] - mesh.bounds[0])
    small = diag < min_ratio * whole
    if small.all():  # never delete everything: keep the biggest piece
        small[np.argmax(diag)] = False
    return _keep_faces(mesh, ~small[labels]), int(small.sum())


def remove_bad_faces(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, int, int]:
    """Remove zero-area faces and duplicate faces (same three positions, any order)."""
    welded = _position_welded_faces(mesh)
    tri = mesh.vertices[mesh.faces]
    area2 = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    scale = max(float(np.ptp(mesh.vertices, axis=0).max()), 1e-30)
    degenerate = (
        (area2 <= (1e-12 * scale) ** 2)
        | (welded[:, 0] == welded[:, 1])
        | (welded[:, 1] == welded[:, 2])
        | (welded[:, 0] == welded[:, 2])
    )
    _, first = np.unique(_face_keys(welded), return_index=True)
    unique = np.zeros(len(welded), bool)
    unique[first] = True
    keep = unique & ~degenerate
    if keep.all():
        return mesh, 0, 0
    if not keep.any():
        raise InputError("mesh has only degenerate faces")
    return _keep_faces(mesh, keep), int(degenerate.sum()), int((~unique & ~degenerate).sum())


def close_small_holes(mesh: trimesh.Trimesh, max_edges: int) -> tuple[trimesh.Trimesh, int]:
    """Fill holes with at most `max_edges` boundary edges (pymeshlab). Textured meshes are left as they are:
    new faces would have no texture coordinates."""
    if max_edges <= 0 or has_texture(mesh) or mesh.is_watertight:
        return mesh, 0
    ms = pymeshlab.MeshSet()
    ms.add_mesh(pymeshlab.Mesh(mesh.vertices.astype(np.float64), mesh.faces.astype(np.int32)))
    ms.meshing_remove_duplicate_vertices()
    before = ms.current_mesh().face_number()
    try:
        ms.meshing_close_holes(maxholesize=int(max_edges), newfaceselected=False, selfintersection=False)
    except pymeshlab.PyMeshLabException:
        return mesh, 0  # non-manifold input: pymeshlab refuses; keep the holes rather than fail the export
    m = ms.current_mesh()
    added = m.face_number() - before
    if added <= 0:
        return mesh, 0
    out = trimesh.Trimesh(m.vertex_matrix(), m.face_matrix(), process=False)
    return out, added


def cleanup(mesh: trimesh.Trimesh, opts: CleanupOptions = CleanupOptions()) -> tuple[trimesh.Trimesh, CleanupReport]:
    report = CleanupReport(len(mesh.faces), len(mesh.faces))
    out = mesh
    if opts.remove_degenerate:
        out, report.degenerate_removed, report.duplicate_removed = remove_bad_faces(out)
    out, report.components_removed = remove_floaters(out, opts.min_component_ratio)
    out, report.holes_closed = close_small_holes(out, opts.max_hole_edges)
    if out is mesh:
        out = mesh.copy()
    out.remove_unreferenced_vertices()
    report.faces_after = len(out.faces)
    return out, report


def decimate(mesh: trimesh.Trimesh, faces: int) -> trimesh.Trimesh:
    """Quadric edge collapse down to `faces` faces; texture coordinates are kept.

    The count is exact whenever the topology allows it: a closed manifold mesh always has an even
    number of faces, so an odd budget gives budget - 1 there. Meshes already within budget are returned
    as a copy.
    """
    if faces < 4:
        raise InputError(f"--faces {faces}: a mesh needs at least 4 faces")
    if len(mesh.faces) <= faces:
        return mesh.copy()
    if has_texture(mesh):
        return _decimate_textured(mesh, faces)
    v, f = _weld(mesh)
    # fast-simplification is ~20x faster than pymeshlab at similar error (notes/machine.md); it stops at
    # an even count, so aim slightly above and let pymeshlab take the last few faces exactly.
    margin = max(8, faces // 200)
    if len(f) > faces + margin:
        v, f = fast_simplification.simplify(v.astype(np.float32), f.astype(np.int64), target_count=faces + margin)
    ms = pymeshlab.MeshSet()
    ms.add_mesh(pymeshlab.Mesh(np.asarray(v, np.float64), np.asarray(f, np.int32)))
    for _ in range(4):  # a pass can stop short on awkward topology; a few more usually reach the budget
        ms.meshing_decimation_quadric_edge_collapse(
            targetfacenum=faces, preservenormal=True, optimalplacement=True, autoclean=False
        )
        if ms.current_mesh().face_number() <= faces:
            break
    m = ms.current_mesh()
    return top_up(trimesh.Trimesh(m.vertex_matrix(), m.face_matrix(), process=False), faces)


def top_up(mesh: trimesh.Trimesh, faces: int) -> trimesh.Trimesh:
    """Reach exactly `faces` after a collapse stopped a little short, without changing the shape: split
    interior edges at their midpoints (+2 faces each) and, for an odd remainder, one boundary edge (+1).
    Per-vertex UVs are interpolated. A closed mesh cannot reach an odd count; it stays one short."""
    missing = faces - len(mesh.faces)
    if missing <= 0:
        return mesh
    v = np.array(mesh.vertices, np.float64)  # copies: the input mesh is never modified
    f = np.array(mesh.faces, np.int64)
    uv = np.array(mesh.visual.uv, np.float64) if has_texture(mesh) else None
    for _ in range(missing):
        need = faces - len(f)
        if need <= 0:
            break
        edges = np.sort(np.stack([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], axis=1).reshape(-1, 2), axis=1)
        _, inverse, counts = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
        uses = counts[inverse.reshape(-1)]
        lengths = np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1)
        want = 2 if need >= 2 else 1  # interior edges are shared by 2 faces, boundary edges by 1
        candidates = np.flatnonzero(uses == want)
        if len(candidates) == 0:
            break
        a, b = edges[candidates[np.argmax(lengths[candidates])]]
        mid = len(v)
        v = np.vstack([v, (v[a] + v[b]) / 2])
        if uv is not None:
            uv = np.vstack([uv, (uv[a] + uv[b]) / 2])
        new_faces = []
        for fi in np.flatnonzero(np.isin(f, [a, b]).sum(axis=1) == 2):
            tri = f[fi].tolist()
            i, j = tri.index(a), tri.index(b)
            # replace the edge's end vertices one at a time, keeping the winding
            first, second = list(tri), list(tri)
            first[j], second[i] = mid, mid
            f[fi] = first
            new_faces.append(second)
        f = np.vstack([f, new_faces])
    out = trimesh.Trimesh(v, f, process=False)
    if uv is not None:
        out.visual = trimesh.visual.TextureVisuals(uv=uv, material=mesh.visual.material)
    return out


def _decimate_textured(mesh: trimesh.Trimesh, faces: int) -> trimesh.Trimesh:
    """pymeshlab's texture-aware quadric collapse on wedge UVs, then back to per-vertex UVs."""
    uv = np.asarray(mesh.visual.uv, np.float64)
    ms = pymeshlab.MeshSet()
    ms.add_mesh(pymeshlab.Mesh(mesh.vertices.astype(np.float64), mesh.faces.astype(np.int32), v_tex_coords_matrix=uv))
    ms.compute_texcoord_transfer_vertex_to_wedge()
    # per-vertex UVs split every seam vertex in two, so the unwrapped mesh is a set of loose charts whose
    # borders the collapse must keep (a baked 40k-face mesh stalled near 18k); welding equal positions with
    # the UVs now on the face corners makes seams texture seams inside one connected surface (pymeshlab's merge,
    # not _weld: its re-indexed faces would lose the corner UVs pymeshlab's texture-aware collapse needs)
    ms.meshing_merge_close_vertices(threshold=pymeshlab.PercentageValue(1e-4))
    # a pass can still stop short on awkward topology: repeat until the budget holds
    for _ in range(6):
        ms.meshing_decimation_quadric_edge_collapse_with_texture(
            targetfacenum=faces, preservenormal=True, optimalplacement=False, preserveboundary=True, boundaryweight=2.0
        )
        if ms.current_mesh().face_number() <= faces:
            break
    m = ms.current_mesh()
    f = m.face_matrix()
    wedge = m.wedge_tex_coord_matrix().reshape(-1, 3, 2)  # [F, 3, 2]
    corners = m.vertex_matrix()[f].reshape(-1, 3)  # one vertex per face corner, then weld equal (pos, uv)
    key = np.concatenate([corners, wedge.reshape(-1, 2)], axis=1)
    uniq, inverse = np.unique(np.round(key, 9), axis=0, return_inverse=True)
    out = trimesh.Trimesh(uniq[:, :3], inverse.reshape(-1, 3), process=False)
    out.visual = trimesh.visual.TextureVisuals(uv=uniq[:, 3:], material=mesh.visual.material)
    return top_up(out, faces)
