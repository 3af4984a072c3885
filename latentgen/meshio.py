"""Mesh files in and out. Always one `trimesh.Trimesh` in memory (scenes are flattened, textures kept).

Conventions: glTF axes (+Y up, +Z front, +X right), metres. Between stages meshes are normalised to
[-1, 1]^3 (`normalize_unit_cube`) and written as `.ply` (float32 positions, no material).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

from .errors import InputError
from .files import atomic_path, check_input_file

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off")


def load_mesh(path: Path) -> trimesh.Trimesh:
    """Read any mesh trimesh reads; raise InputError with one line on anything unusable."""
    path = check_input_file(Path(path), "mesh file")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(
            f"{path}: unknown mesh format {path.suffix or '(no suffix)'}; use one of {', '.join(MESH_SUFFIXES)}"
        )
    try:
        loaded = trimesh.load(str(path), process=False, maintain_order=True)
    except Exception as e:  # noqa: BLE001 - trimesh raises anything from its many parsers
        raise InputError(f"{path}: cannot read mesh ({type(e).__name__}: {_first_line(e)})") from e
    mesh = as_single_mesh(loaded, str(path))
    validate_mesh(mesh, str(path))
    return mesh


def _colors_as_vertex_colors(mesh: trimesh.Trimesh) -> None:
    """glTF COLOR_0 next to an untextured material loads as a `color` vertex attribute of a TextureVisuals, which
    copies and Scene.dump drop; make it plain vertex colours, so they are shown and survive conversion."""
    vis = mesh.visual
    if not isinstance(vis, trimesh.visual.TextureVisuals) or has_texture(mesh):
        return
    color = vis.vertex_attributes.get("color")
    if color is not None and len(color) == len(mesh.vertices):
        mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.asarray(color))


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else "unknown error"


def as_single_mesh(obj, source: str = "mesh") -> trimesh.Trimesh:
    """Flatten a Scene (applying node transforms) into one Trimesh; refuse point clouds and paths."""
    for geometry in obj.geometry.values() if isinstance(obj, trimesh.Scene) else [obj]:
        if isinstance(geometry, trimesh.Trimesh):
            _colors_as_vertex_colors(geometry)
    if isinstance(obj, trimesh.Scene):
        meshes = [g for g in obj.dump(concatenate=False) if isinstance(g, trimesh.Trimesh) and len(g.faces)]
        if not meshes:
            raise InputError(f"{source}: holds no triangle mesh")
        obj = meshes[0] if len(meshes) == 1 else trimesh.util.concatenate(meshes)
    if not isinstance(obj, trimesh.Trimesh):
        raise InputError(f"{source}: holds no triangle mesh (found {type(obj).__name__})")
    return obj


def validate_mesh(mesh: trimesh.Trimesh, source: str = "mesh") -> None:
    if len(mesh.faces) == 0:
        raise InputError(f"{source}: mesh has no faces")
    if not np.isfinite(mesh.vertices).all():
        raise InputError(f"{source}: mesh has NaN or infinite vertex coordinates")
    if mesh.faces.min() < 0 or mesh.faces.max() >= len(mesh.vertices):
        raise InputError(f"{source}: faces reference vertices that do not exist")


NONMANIFOLD_MAX_SHARE = 0.01  # more edges than this shared by 3+ faces: not a surface (a soup, stacked copies)


def welded_surface(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Plain welded copy (no visuals, no degenerate faces); InputError unless it is a surface.

    Refuses meshes that are not surfaces (many edges shared by three or more faces). A few such edges, as
    decimation sometimes leaves, do not disturb the unwrap or the baking and are let through. `paint` and
    `bake` both run it, so a mesh that cannot be baked is refused before any view is painted.
    """
    validate_mesh(mesh)
    plain = trimesh.Trimesh(np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64), process=False)
    plain.merge_vertices()  # UV seams and split normals of the input must not cut the surface
    plain.update_faces(plain.nondegenerate_faces())
    plain.remove_unreferenced_vertices()
    if len(plain.faces) == 0:
        raise InputError("mesh has only degenerate faces")
    edges = np.sort(plain.edges, axis=1)
    key = edges[:, 0] * len(plain.vertices) + edges[:, 1]
    _, counts = np.unique(key, return_counts=True)
    if (bad := int((counts > 2).sum())) > NONMANIFOLD_MAX_SHARE * len(counts):
        raise InputError(
            f"mesh is not manifold: {bad} of {len(counts)} edges are shared by more than two faces; repair it "
            "first (e.g. MeshLab: Repair non-manifold edges)"
        )
    return plain


def has_texture(mesh: trimesh.Trimesh) -> bool:
    vis = mesh.visual
    if not isinstance(vis, trimesh.visual.TextureVisuals) or vis.uv is None or len(vis.uv) != len(mesh.vertices):
        return False
    return texture_image(mesh) is not None


def texture_image(mesh: trimesh.Trimesh):
    """The base-colour PIL image of a textured mesh, or None (also for trimesh's stand-in, see is_placeholder)."""
    mat = getattr(mesh.visual, "material", None)
    if mat is None:
        return None
    img = getattr(mat, "baseColorTexture", None)
    if img is None:
        img = getattr(mat, "image", None)
    return None if is_placeholder(img) else img


PLACEHOLDER_RGBA = (100, 100, 100, 255)  # trimesh.visual.material.color_image's default colour


def is_placeholder(image) -> bool:
    """True for the 2x2 grey image trimesh invents for meshes that have UVs but no texture (an OBJ without
    material, a PLY with s/t): not a texture of the mesh."""
    if image is None or getattr(image, "size", None) != (2, 2):
        return False
    return bool((np.asarray(image.convert("RGBA")) == PLACEHOLDER_RGBA).all())


def normalize_unit_cube(mesh: trimesh.Trimesh, extent: float = 1.0) -> tuple[trimesh.Trimesh, np.ndarray]:
    """Centre the bounding box at the origin and scale its longest side to 2*extent.

    Returns (normalised copy, T) with T the 4x4 that was applied; `denormalize(m, T)` undoes it.
    """
    lo, hi = mesh.bounds
    size = float((hi - lo).max())
    if not np.isfinite(size) or size <= 0:
        raise InputError("mesh is degenerate: its bounding box has no extent")
    s = 2.0 * extent / size
    transform = np.diag([s, s, s, 1.0])
    transform[:3, 3] = -s * (lo + hi) / 2
    out = mesh.copy()
    out.apply_transform(transform)
    return out, transform


def denormalize(mesh: trimesh.Trimesh, transform: np.ndarray) -> trimesh.Trimesh:
    out = mesh.copy()
    out.apply_transform(np.linalg.inv(transform))
    return out


def save_ply(mesh: trimesh.Trimesh, path: Path) -> None:
    """Geometry-only PLY for passing meshes between stages (binary, float32 positions)."""
    plain = trimesh.Trimesh(mesh.vertices.astype(np.float32), mesh.faces, process=False)
    with atomic_path(Path(path)) as tmp:
        plain.export(str(tmp), file_type="ply", encoding="binary")


def mesh_files_in(folder: Path) -> list[Path]:
    """Mesh files directly inside `folder`, sorted (for batch inputs)."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in MESH_SUFFIXES and p.is_file())
