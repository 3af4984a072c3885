"""STAGE paint: mesh + picture -> a view set (the colour pictures of the mesh that `bake` turns into a texture).

Every backend receives the same request, built here: the input picture as the front view (`reference`, its
camera fitted to the mesh, latentgen.views) and the six canonical views with their geometry maps (normal and
position, reference encoding) and no colour. A backend returns the views to bake:
- "projection" (no weights): the reference view itself, plus the canonical side / top / bottom views left
  without colour for the baker to fill; with `mirror`, the back view is the picture flipped left-right.
- a multi-view diffusion backend (e.g. Hunyuan3D-Paint) registers itself with `register_backend` and fills
  the canonical views' colours from the reference picture and the geometry maps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
import trimesh

from .artifacts import View, ViewSet
from .errors import InputError
from .image import PreparedImage, recenter
from .meshio import welded_surface
from .render import Rasterizer, get_rasterizer
from .views import (
    BORDER_RATIO,
    CANONICAL_VIEWS,
    MASK_THRESHOLD,
    MeshFrame,
    geometry_maps,
    input_camera,
    mirror_camera,
    refine_input_camera,
    silhouette_iou,
    vertex_normals_mean,
    view_camera,
)

ProgressFn = Callable[[str, float], None]
ALIGNS = ("bbox", "silhouette")


def _quiet(phase: str, done: float) -> None: ...


@dataclass(frozen=True)
class PaintOptions:
    view_size: int = 512  # side of every view image, in pixels
    mirror: bool = False  # projection backend: use the flipped picture as the back view
    align: str = "silhouette"  # input camera: "bbox" fit only, or refined by silhouette overlap
    border_ratio: float = BORDER_RATIO  # how an RGBA array input is recentred (as the conditioner's image)
    rasterizer: str = "auto"

    def __post_init__(self) -> None:
        if not 64 <= self.view_size <= 4096:
            raise InputError(f"--view-size {self.view_size}: must be within 64..4096")
        if self.align not in ALIGNS:
            raise InputError(f"align {self.align!r}: choose one of {', '.join(ALIGNS)}")
        if not 0 <= self.border_ratio < 1:
            raise InputError(f"border_ratio {self.border_ratio}: must be within [0, 1)")


@dataclass
class PaintRequest:
    """What a backend gets: the mesh, the picture as the front view, and the canonical views to fill."""

    mesh: trimesh.Trimesh
    reference: View  # input picture: colour RGBA (alpha = foreground), fitted camera, geometry maps
    views: list[View]  # CANONICAL_VIEWS order: camera, normal and position maps, weight; colour None
    frame: MeshFrame
    opts: PaintOptions
    rasterizer: Rasterizer


@runtime_checkable
class PaintBackend(Protocol):
    name: str

    def paint_views(self, request: PaintRequest, progress: ProgressFn) -> list[View]:
        """Return the views the baker should use (colour RGBA where painted, None where left to the baker)."""
        ...


class ProjectionBackend:
    """No model: the picture is projected as it is; what it does not show is filled by the baker."""

    name = "projection"

    def paint_views(self, request: PaintRequest, progress: ProgressFn) -> list[View]:
        out = [request.reference]
        for spec, view in zip(CANONICAL_VIEWS, request.views, strict=True):
            if spec.name == "front":  # the picture is the front view
                continue
            if spec.name == "back" and request.opts.mirror:
                out.append(_mirrored(request, spec.weight))
            else:
                out.append(view)
        progress("paint", 1.0)
        return out


def _mirrored(request: PaintRequest, weight: float) -> View:
    ref = request.reference
    cam = mirror_camera(ref.camera)
    normal, position, _ = geometry_maps(request.mesh, cam, request.frame, request.rasterizer)
    color = np.ascontiguousarray(ref.color[:, ::-1])
    return View(cam, color, normal, position, weight=weight, name="back_mirrored")


def _hunyuan(**settings) -> PaintBackend:
    from .paint_hunyuan import HunyuanBackend  # diffusers is imported only when this backend is asked for

    return HunyuanBackend(**settings)


BACKENDS: dict[str, Callable[..., PaintBackend]] = {"projection": ProjectionBackend, "hunyuan": _hunyuan}


def register_backend(name: str, factory: Callable[..., PaintBackend]) -> None:
    """Make `paint(..., backend=name)` build its backend with `factory()` (e.g. loading weights)."""
    BACKENDS[name] = factory


def get_backend(backend: str | PaintBackend, **settings) -> PaintBackend:
    """A registered backend by name, built with `settings` (e.g. hunyuan: weights=, options=, runtime=)."""
    if isinstance(backend, str):
        if backend not in BACKENDS:
            raise InputError(f"--backend {backend}: choose one of {', '.join(sorted(BACKENDS))}")
        return BACKENDS[backend](**settings)
    if not isinstance(backend, PaintBackend):
        raise TypeError(f"not a paint backend: {backend!r}")
    return backend


def reference_image(image: PreparedImage | np.ndarray, size: int, border_ratio: float) -> np.ndarray:
    """The picture as the input view's colour: RGBA uint8 [size, size, 4], alpha = foreground mask.

    A PreparedImage is already recentred (it is what the shape model saw) and is only resized; an RGBA array
    [H, W, 4] (alpha = foreground) is recentred first, like the conditioner's image.
    """
    if isinstance(image, PreparedImage):
        rgb, mask = np.asarray(image.rgb), np.asarray(image.mask)
    else:
        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[-1] != 4 or arr.dtype != np.uint8:
            raise InputError(f"expected a PreparedImage or an RGBA uint8 array [H, W, 4], got {arr.dtype} {arr.shape}")
        if not (arr[..., 3] >= MASK_THRESHOLD).any():
            raise InputError("the image has no foreground (alpha is empty)")
        rgb, mask = recenter(arr, size, border_ratio)
    if rgb.shape[:2] != (size, size):
        rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_CUBIC if size > len(rgb) else cv2.INTER_AREA)
        mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)
    return np.dstack([rgb, mask]).astype(np.uint8)


def mesh_digest(mesh: trimesh.Trimesh) -> str:
    h = hashlib.sha256(np.ascontiguousarray(mesh.vertices, np.float32).tobytes())
    h.update(np.ascontiguousarray(mesh.faces, np.int64).tobytes())
    return h.hexdigest()[:16]


def paint(
    mesh: trimesh.Trimesh,
    image: PreparedImage | np.ndarray,
    opts: PaintOptions = PaintOptions(),
    backend: str | PaintBackend = "projection",
    progress: ProgressFn = _quiet,
    rasterizer: Rasterizer | None = None,
) -> ViewSet:
    """Mesh + picture of it -> ViewSet. Reads no files; `mesh` and `image` are left untouched.

    image: a PreparedImage (latentgen.image.prepare_image: what the shape model saw) or an RGBA uint8 array
    (alpha = foreground), recentred here. backend: a registered name or a PaintBackend. rasterizer: a ready
    backend (e.g. get_rasterizer(name, device)); None picks opts.rasterizer.
    """
    welded_surface(mesh)  # refuse what `bake` would refuse (no faces, only degenerate ones, not a surface)
    painter = get_backend(backend)
    rasterizer = rasterizer or get_rasterizer(opts.rasterizer)
    size = opts.view_size
    frame = MeshFrame.of(mesh.vertices)
    normals = vertex_normals_mean(mesh.vertices, mesh.faces)
    rgba = reference_image(image, size, opts.border_ratio)
    camera = input_camera(mesh.vertices, rgba[..., 3])
    if opts.align == "silhouette":
        camera = refine_input_camera(mesh, camera, rgba[..., 3], rasterizer)
    iou = silhouette_iou(mesh, camera, rgba[..., 3], rasterizer)
    normal, position, _ = geometry_maps(mesh, camera, frame, rasterizer, normals)
    reference = View(camera, rgba, normal, position, weight=CANONICAL_VIEWS[0].weight, name="input")
    progress("geometry", 1 / (len(CANONICAL_VIEWS) + 1))
    views = []
    for k, spec in enumerate(CANONICAL_VIEWS):
        cam = view_camera(spec.azimuth, spec.elevation, frame, size)
        normal, position, _ = geometry_maps(mesh, cam, frame, rasterizer, normals)
        views.append(View(cam, None, normal, position, weight=spec.weight, name=spec.name))
        progress("geometry", (k + 2) / (len(CANONICAL_VIEWS) + 1))
    request = PaintRequest(mesh, reference, views, frame, opts, rasterizer)
    painted = painter.paint_views(request, progress)
    meta = {
        "backend": painter.name,
        "mesh_digest": mesh_digest(mesh),
        "mesh_bounds": np.asarray(mesh.bounds, float).round(6).tolist(),
        "input_silhouette_iou": round(iou, 4),
        "mirror": bool(opts.mirror),
        "align": opts.align,
        "geometry_maps": "hunyuan3d2",  # normal / position encoding: latentgen.views
    }
    return ViewSet(list(painted), meta)
