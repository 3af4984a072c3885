"""STAGE export: cleanup, face budget, axis/scale changes and the format registry (glb / obj / ply / stl).

GLB materials are PBR metallic-roughness with metallicFactor and roughnessFactor written explicitly:
viewers treat a missing metallicFactor as 1.0 (fully metallic), which is how several peers' assets
end up rendered as dark chrome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from .errors import InputError
from .files import atomic_path
from .meshio import has_texture, texture_image, validate_mesh
from .meshops import CleanupOptions, CleanupReport, cleanup, decimate

FORMATS = ("glb", "obj", "ply", "stl")


@dataclass(frozen=True)
class ExportOptions:
    faces: int | None = None  # face budget (quadric edge collapse); None keeps every face
    scale: float = 1.0
    up: str = "y"  # "y": glTF convention; "z": rotate so +Y up becomes +Z up (Blender/CAD)
    center: bool = False  # move the bounding-box centre to the origin
    clean: bool = False  # remove floaters, degenerate/duplicate faces, small holes
    cleanup: CleanupOptions = field(default_factory=CleanupOptions)
    metallic: float = 0.0
    roughness: float = 0.8

    def __post_init__(self) -> None:
        if self.up not in ("y", "z"):
            raise InputError(f"--up {self.up}: choose y or z")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise InputError(f"--scale {self.scale}: must be a positive number")
        if self.faces is not None and self.faces < 4:
            raise InputError(f"--faces {self.faces}: must be at least 4")
        for name in ("metallic", "roughness"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"--{name} {getattr(self, name)}: must be within [0, 1]")


@dataclass
class ExportResult:
    mesh: trimesh.Trimesh
    cleanup: CleanupReport | None = None


Y_UP_TO_Z_UP = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


def prepare(mesh: trimesh.Trimesh, opts: ExportOptions = ExportOptions()) -> ExportResult:
    """Apply cleanup, face budget and transforms; the input mesh is left untouched."""
    validate_mesh(mesh)
    report = None
    out = mesh
    if opts.clean:
        out, report = cleanup(out, opts.cleanup)
    if opts.faces is not None:
        out = decimate(out, opts.faces)
    out = out.copy() if out is mesh else out
    if opts.center:
        out.apply_translation(-out.bounds.mean(axis=0))
    if opts.scale != 1.0:
        out.apply_scale(opts.scale)
    if opts.up == "z":
        out.apply_transform(Y_UP_TO_Z_UP)
    return ExportResult(out, report)


def pbr_material(mesh: trimesh.Trimesh, opts: ExportOptions) -> trimesh.visual.material.PBRMaterial:
    """A PBR material with explicit metallic/roughness; base colour texture kept when there is one."""
    old = getattr(mesh.visual, "material", None)
    base = None
    if isinstance(old, trimesh.visual.material.PBRMaterial) and old.baseColorFactor is not None:
        base = old.baseColorFactor
    return trimesh.visual.material.PBRMaterial(
        name="latentgen",
        baseColorTexture=texture_image(mesh) if has_texture(mesh) else None,
        baseColorFactor=base,
        metallicFactor=float(opts.metallic),
        roughnessFactor=float(opts.roughness),
        doubleSided=False,
    )


def _with_pbr(mesh: trimesh.Trimesh, opts: ExportOptions) -> trimesh.Trimesh:
    """A copy whose visual is our PBR material, whatever the mesh had: texture + UVs, untextured UVs, vertex or face
    colours (kept as COLOR_0; a glTF mesh with colours but no material renders fully metallic), or nothing."""
    out = mesh.copy()
    uv = getattr(mesh.visual, "uv", None)
    if uv is not None and len(uv) != len(mesh.vertices):
        uv = None
    out.visual = trimesh.visual.TextureVisuals(uv=uv, material=pbr_material(mesh, opts))
    if mesh.visual.kind in ("vertex", "face"):
        out.visual.vertex_attributes["color"] = np.asarray(mesh.visual.vertex_colors, dtype=np.uint8)
    return out


def unit_normals(mesh: trimesh.Trimesh) -> np.ndarray:
    """Vertex normals [V, 3] safe for glTF: vertices with no usable face (unreferenced, or only in
    zero-area faces) get +Y instead of a zero vector, which the glTF validator rejects."""
    normals = np.array(mesh.vertex_normals, dtype=np.float64)
    length = np.linalg.norm(normals, axis=1)
    bad = ~np.isfinite(length) | (length < 0.5)
    normals[bad] = (0.0, 1.0, 0.0)
    normals[~bad] /= length[~bad, None]
    return normals


def _write_glb(mesh: trimesh.Trimesh, path: Path, opts: ExportOptions) -> None:
    out = _with_pbr(mesh, opts)
    out.vertex_normals = unit_normals(mesh)
    data = trimesh.exchange.gltf.export_glb(trimesh.Scene(out), include_normals=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _write_obj(mesh: trimesh.Trimesh, path: Path, opts: ExportOptions) -> None:
    """OBJ + STEM.mtl + STEM_texture.png (linked by relative names; not STEM.png, which is often the photo the
    mesh was made from). The OBJ is renamed last, so a reader that finds it also finds its material."""
    out = mesh.copy()
    textured = has_texture(mesh)
    if textured:
        img = texture_image(mesh)
        out.visual = trimesh.visual.TextureVisuals(
            uv=mesh.visual.uv,
            # white diffuse: viewers multiply Kd by map_Kd, and trimesh's default Kd (0.4) would darken the texture
            material=trimesh.visual.material.SimpleMaterial(
                image=img, name=f"{path.stem}_texture", diffuse=[255, 255, 255, 255], ambient=[255, 255, 255, 255]
            ),
        )
    text, extra = trimesh.exchange.obj.export_obj(
        out, include_texture=True, return_texture=True, mtl_name=f"{path.stem}.mtl", include_normals=True
    )
    if not textured:  # UVs without a texture: keep the `vt`s, not trimesh's grey stand-in material and image
        text = "".join(line for line in text.splitlines(True) if not line.startswith(("mtllib ", "usemtl ")))
        extra = {}
    for name, blob in extra.items():
        with atomic_path(path.with_name(Path(name).name)) as tmp:
            tmp.write_bytes(blob)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _write_ply(mesh: trimesh.Trimesh, path: Path, opts: ExportOptions) -> None:
    with atomic_path(path) as tmp:
        mesh.export(str(tmp), file_type="ply", encoding="binary")


def _write_stl(mesh: trimesh.Trimesh, path: Path, opts: ExportOptions) -> None:
    with atomic_path(path) as tmp:
        mesh.export(str(tmp), file_type="stl")


WRITERS: dict[str, Callable[[trimesh.Trimesh, Path, ExportOptions], None]] = {
    "glb": _write_glb,
    "obj": _write_obj,
    "ply": _write_ply,
    "stl": _write_stl,
}


def format_of(path: Path, fmt: str | None = None) -> str:
    fmt = (fmt or Path(path).suffix.lstrip(".")).lower()
    if fmt not in WRITERS:
        raise InputError(f"{path}: unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def write_mesh(
    mesh: trimesh.Trimesh, path: Path, opts: ExportOptions = ExportOptions(), fmt: str | None = None
) -> None:
    """Write `mesh` as it is (no cleanup/transform) in the format of `path`'s suffix, atomically."""
    path = Path(path)
    WRITERS[format_of(path, fmt)](mesh, path, opts)


def export(
    mesh: trimesh.Trimesh, path: Path, opts: ExportOptions = ExportOptions(), fmt: str | None = None
) -> ExportResult:
    """prepare() then write_mesh(): what `latentgen export` does."""
    format_of(path, fmt)  # fail on a bad suffix before any work
    result = prepare(mesh, opts)
    write_mesh(result.mesh, path, opts, fmt)
    return result
