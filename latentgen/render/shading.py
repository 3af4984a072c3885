"""Backend-independent helpers on Fragments: attribute interpolation, texture sampling, preview shading."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import trimesh

from ..camera import Camera
from ..meshio import has_texture, texture_image
from .base import Fragments

if TYPE_CHECKING:
    from .base import Rasterizer

CLAY = np.array([0.80, 0.79, 0.77], dtype=np.float32)  # untextured base colour, a warm light grey


def interpolate(attr: np.ndarray, frags: Fragments) -> np.ndarray:
    """Barycentric interpolation of a per-vertex [V, C] or face-varying [F, 3, C] attribute -> [H, W, C].

    A 1-D per-vertex attribute [V] gives [H, W]. Background pixels get 0. The result is float32, or float64 when
    `attr` is float64 (e.g. positions).
    """
    attr = np.asarray(attr)
    squeeze = attr.ndim == 1
    if squeeze:
        attr = attr[:, None]
    dtype = np.result_type(attr.dtype, np.float32)
    h, w = frags.face_id.shape
    out = np.zeros((h, w, attr.shape[-1]), dtype=dtype)
    mask = frags.face_id >= 0
    out[mask] = _at_pixels(attr, frags, mask)
    return out[..., 0] if squeeze else out


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup with wrap-around (glTF REPEAT). texture: [Ht, Wt, C] (or [Ht, Wt]), uv: [..., 2] -> [..., C].

    Texel (r, c) is centred at uv ((c + 0.5) / Wt, 1 - (r + 0.5) / Ht): image row 0 is the top of the texture (v = 1),
    as in glTF and trimesh, and as written by Rasterizer.rasterize_uv. Values keep the texture's scale (uint8
    textures give floats in 0..255); non-finite uvs sample uv (0, 0).
    """
    tex = np.asarray(texture)
    squeeze = tex.ndim == 2
    if squeeze:
        tex = tex[..., None]
    uv = np.nan_to_num(np.asarray(uv, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    ht, wt = tex.shape[:2]
    x = uv[..., 0] * wt - 0.5
    y = (1.0 - uv[..., 1]) * ht - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = x0.astype(np.int64) % wt, y0.astype(np.int64) % ht
    x1, y1 = (x0 + 1) % wt, (y0 + 1) % ht
    dtype = np.result_type(tex.dtype, np.float32)
    t = tex.astype(dtype, copy=False)
    top = t[y0, x0] * (1 - fx) + t[y0, x1] * fx
    bottom = t[y1, x0] * (1 - fx) + t[y1, x1] * fx
    out = (top * (1 - fy) + bottom * fy).astype(dtype, copy=False)
    return out[..., 0] if squeeze else out


def corner_normals(vertices: np.ndarray, faces: np.ndarray, crease_deg: float = 50.0) -> np.ndarray:
    """Unit shading normals per face corner [F, 3, 3], smooth but crease-aware.

    A corner's normal is the area-weighted mean of the normals of the faces around its vertex position (vertices
    split at UV seams are welded, so seams do not show), counting only the faces within `crease_deg` of the corner's
    own face: hard CAD edges stay hard, and each side of an edge stays smooth.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    face_n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])  # [F, 3], length = 2 * area
    unit_n = _unit(face_n)
    _, weld = trimesh.grouping.unique_rows(v)  # vertex -> welded position id
    corner_pos = weld[f].ravel()  # [3F] position id of each corner
    n_pos = int(weld.max()) + 1 if len(weld) else 0
    vn = np.stack([np.bincount(corner_pos, np.repeat(face_n[:, c], 3), minlength=n_pos) for c in range(3)], 1)
    normals = _unit(vn[corner_pos]).reshape(-1, 3)  # [3F, 3] fully smooth
    cos_crease = math.cos(math.radians(crease_deg))
    # a position is near a crease when one of its faces turns more than crease_deg / 2 from the mean normal
    # (both faces of a 90-degree edge are 45 degrees off): only corners there get the exact, costlier treatment
    worst = np.ones(n_pos)
    np.minimum.at(worst, corner_pos, (normals * np.repeat(unit_n, 3, axis=0)).sum(-1))
    creased = np.flatnonzero(worst[corner_pos] < math.cos(math.radians(crease_deg / 2)))
    if len(creased):
        # average only the faces around the position turned less than crease_deg from the corner's own face
        order = np.argsort(corner_pos, kind="stable")
        start = np.searchsorted(corner_pos[order], np.arange(n_pos + 1))
        first, count = start[corner_pos[creased]], np.diff(start)[corner_pos[creased]]
        owner = np.repeat(np.arange(len(creased)), count)  # pair -> index into creased
        offset = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
        neighbour = order[np.repeat(first, count) + offset] // 3  # pair -> neighbour face
        near = (unit_n[neighbour] * unit_n[creased[owner] // 3]).sum(-1) >= cos_crease
        w = face_n[neighbour] * near[:, None]
        summed = np.stack([np.bincount(owner, w[:, c], minlength=len(creased)) for c in range(3)], 1)
        normals[creased] = _unit(summed)
    return normals.reshape(-1, 3, 3).astype(np.float32)


def surface_color(mesh: trimesh.Trimesh, frags: Fragments) -> np.ndarray | None:
    """Albedo [P, 3] in [0, 1] at the P covered pixels (row-major order of frags.mask), from the mesh's texture,
    vertex colours or face colours; None when the mesh has none of them."""
    visual = mesh.visual
    mask = frags.face_id >= 0
    if visual is None:
        return None
    kind = visual.kind
    if kind == "texture":
        material = getattr(visual, "material", None)
        factor = _color01(getattr(material, "baseColorFactor", None))  # PBRMaterial (glTF)
        colors = visual.vertex_attributes.get("color")  # glTF COLOR_0 next to a material
        if has_texture(mesh):  # not trimesh's grey stand-in for UVs without a texture
            tex = np.asarray(texture_image(mesh).convert("RGB"), dtype=np.float32) / 255.0
            color = sample_texture(tex, _at_pixels(np.asarray(visual.uv, np.float64), frags, mask))
        elif colors is not None and len(colors) == len(mesh.vertices):
            color = _at_pixels(np.asarray(colors)[:, :3].astype(np.float32) / 255.0, frags, mask)
        elif factor is not None:
            return np.tile(factor, (int(mask.sum()), 1))
        else:
            return None  # a material without colour of its own: shown as plain clay
        return color * factor if factor is not None else color
    if kind == "vertex":
        return _at_pixels(np.asarray(visual.vertex_colors)[:, :3].astype(np.float32) / 255.0, frags, mask)
    if kind == "face":
        return np.asarray(visual.face_colors)[frags.face_id[mask], :3].astype(np.float32) / 255.0
    return None


def shade(
    mesh: trimesh.Trimesh, frags: Fragments, camera: Camera, lit: bool = True, normals: np.ndarray | None = None
) -> np.ndarray:
    """Preview colours [H, W, 3] in [0, 1] (background 0).

    Textured / coloured meshes show their albedo, lightly shaded by a headlight and a key light from the upper left
    so the form reads; plain meshes are clay, tinted by their world normal (x red, y green, z blue) to show
    orientation. Both sides of a surface are lit alike (open meshes look right from inside). lit=False returns the
    bare albedo. normals: corner_normals(mesh.vertices, mesh.faces), when the caller already has them.
    """
    mask = frags.face_id >= 0
    out = np.zeros(mask.shape + (3,), dtype=np.float32)
    albedo = surface_color(mesh, frags)  # [P, 3] or None
    if albedo is not None and not lit:
        out[mask] = np.clip(albedo, 0.0, 1.0)
        return out
    if normals is None:
        normals = corner_normals(mesh.vertices, mesh.faces)
    normal = _unit(_at_pixels(normals, frags, mask))  # [P, 3]
    if camera.projection == "perspective":
        to_eye = _unit(camera.position - _at_pixels(np.asarray(mesh.vertices, np.float64), frags, mask))
    else:
        to_eye = -camera.forward[None]
    facing = (normal * to_eye).sum(-1, keepdims=True)
    normal = np.where(facing < 0, -normal, normal)  # back side: light it as the front
    key = camera.c2w[:3, :3] @ _unit(np.array([-0.45, 0.65, 0.6]))  # upper left, towards the viewer
    head = np.abs(facing)
    key_term = np.clip(normal @ key, 0.0, 1.0)[:, None]
    if albedo is None:
        base = 0.8 * CLAY + 0.2 * (0.5 + 0.5 * normal)
        color = base * (0.22 + 0.55 * head + 0.35 * key_term)
    else:
        color = albedo * (0.50 + 0.35 * head + 0.25 * key_term)
    out[mask] = np.clip(color, 0.0, 1.0)
    return out


def render_mesh(
    mesh: trimesh.Trimesh,
    camera: Camera,
    rasterizer: Rasterizer | None = None,
    background: tuple[int, int, int] = (255, 255, 255),
    lit: bool = True,
) -> np.ndarray:
    """Preview image [H, W, 4] uint8 RGBA: the texture if the mesh has one, else its vertex / face colours, else
    shaded clay (see `shade`). Background pixels hold `background` with alpha 0. rasterizer=None uses the CPU one."""
    if rasterizer is None:
        from .cpu import CpuRasterizer

        rasterizer = CpuRasterizer()
    frags = rasterizer.rasterize(mesh.vertices, mesh.faces, camera)
    mask = frags.face_id >= 0
    rgb = np.where(mask[..., None], shade(mesh, frags, camera, lit), np.asarray(background, np.float32) / 255.0)
    alpha = np.where(mask, 1.0, 0.0)[..., None]
    return to_uint8(np.concatenate([rgb, alpha], axis=-1))


def _at_pixels(attr: np.ndarray, frags: Fragments, mask: np.ndarray) -> np.ndarray:
    """interpolate() restricted to the covered pixels: per-vertex [V, C] or face-varying [F, 3, C] -> [P, C]."""
    fid = frags.face_id[mask]
    dtype = np.result_type(attr.dtype, np.float32)
    bary = frags.bary[mask].astype(dtype)  # [P, 3]
    out = None
    for k in range(3):
        corner = attr[fid, k] if attr.ndim == 3 else attr[frags.faces[fid, k]]  # [P, C]
        term = bary[:, k : k + 1] * corner
        out = term if out is None else out + term
    return out.astype(dtype, copy=False)


def to_uint8(image01: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image01 * 255.0), 0, 255).astype(np.uint8)


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def _color01(c) -> np.ndarray | None:
    """An RGB(A) colour given as uint8 0..255 or float 0..1 -> float32 RGB in [0, 1]; None stays None."""
    if c is None:
        return None
    c = np.asarray(c)
    rgb = c[:3].astype(np.float32)
    return rgb / 255.0 if c.dtype.kind in "ui" or rgb.max() > 1.0 else rgb
