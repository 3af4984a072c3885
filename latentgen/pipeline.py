"""image2mesh: the stages composed in memory, models loaded once.

    picture --prepare--> PreparedImage --generate_shape--> Latent --decode--> shape mesh
            --paint--> ViewSet --bake--> textured mesh

No files here: `batch.run_image2mesh` writes each input's folder; the CLI drives it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trimesh

from .artifacts import Latent, ViewSet
from .bake import BakeOptions, bake
from .encode import DecodeOptions, decode
from .export import ExportOptions, prepare
from .image import PreparedImage, prepare_image
from .meshops import CleanupOptions
from .paint import PaintBackend, PaintOptions, get_backend, paint
from .render import Rasterizer, get_rasterizer
from .runtime import Runtime
from .shape import ShapeModels, ShapeOptions, generate_shape, load_shape_models

ProgressFn = Callable[[str, float], None]
StageFn = Callable[[str, float], None]  # (stage name, seconds it took), called as each stage ends


def _quiet(phase: str, done: float) -> None: ...


@dataclass(frozen=True)
class Image2MeshOptions:
    shape: ShapeOptions = field(default_factory=ShapeOptions)
    decode: DecodeOptions | None = None  # None: DecodeOptions at the weights' default resolution
    faces: int | None = 40_000  # face budget of the shape (and of the baked mesh)
    texture: bool = True  # paint + bake; False stops at the untextured shape
    paint: PaintOptions = field(default_factory=PaintOptions)
    bake: BakeOptions = field(default_factory=BakeOptions)
    mask: str = "auto"  # foreground method for pictures without alpha (image.foreground_mask)


@dataclass(eq=False)
class PipelineModels:
    shape: ShapeModels
    rasterizer: Rasterizer
    weights: str  # where the weights came from, for run.json
    painter: PaintBackend  # built once per batch (the hunyuan backend holds its weights)


@dataclass(eq=False)
class Image2MeshResult:
    image: PreparedImage
    latent: Latent
    shape: trimesh.Trimesh  # cleaned, within the face budget, [-1, 1]^3
    views: ViewSet | None
    textured: trimesh.Trimesh | None
    seconds: dict[str, float]


def load_models(
    weights: Path,
    rt: Runtime,
    variant: str | None = None,
    rasterizer: str = "auto",
    painter: PaintBackend | str = "projection",
) -> PipelineModels:
    """Everything image2mesh needs, loaded once for a whole batch (painter: a name, or a built backend)."""
    shape = load_shape_models(weights, rt, variant)
    return PipelineModels(shape, get_rasterizer(rasterizer, device=rt.device), str(weights), get_backend(painter))


def shape_postprocess(mesh: trimesh.Trimesh, faces: int | None) -> trimesh.Trimesh:
    """What a decoded surface gets before anyone sees it: floaters and degenerate faces removed, face budget.
    Holes are left alone: marching cubes on a bounded grid closes every surface it cuts."""
    return prepare(mesh, ExportOptions(faces=faces, clean=True, cleanup=CleanupOptions(max_hole_edges=0))).mesh


def image2mesh(
    image: Path | PreparedImage,
    models: PipelineModels,
    opts: Image2MeshOptions = Image2MeshOptions(),
    progress: ProgressFn = _quiet,
    on_stage: StageFn | None = None,
) -> Image2MeshResult:
    """One picture -> shape latent, shape mesh, view set and textured mesh. Reads the picture when given a path."""
    seconds: dict[str, float] = {}

    def timed(stage: str, fn):
        t0 = time.perf_counter()
        value = fn()
        seconds[stage] = round(time.perf_counter() - t0, 3)
        if on_stage is not None:
            on_stage(stage, seconds[stage])
        return value

    sm = models.shape
    prep = (
        image
        if isinstance(image, PreparedImage)
        else timed("prepare", lambda: prepare_image(image, opts.mask, sm.image_size, sm.border_ratio))
    )
    latent = timed("generate", lambda: generate_shape(prep, sm, opts.shape, progress))
    decode_opts = opts.decode or DecodeOptions(resolution=sm.default_resolution())
    shape = timed("decode", lambda: shape_postprocess(decode(latent, sm.vae, decode_opts, progress), opts.faces))
    views = textured = None
    if opts.texture:
        r = models.rasterizer
        views = timed("paint", lambda: paint(shape, prep, opts.paint, models.painter, progress, rasterizer=r))
        textured = timed("bake", lambda: bake(shape, views, opts.bake, progress, rasterizer=r))
    return Image2MeshResult(prep, latent, shape, views, textured, seconds)
