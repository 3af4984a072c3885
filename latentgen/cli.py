"""The `latentgen` command line: a thin layer over the library. No math here.

Exit codes: 0 ok, 1 some inputs of a batch failed, 2 bad input or usage, 3 weights or config error,
4 runtime or device error (130 on Ctrl-C).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

try:  # typer >= 0.20 vendors click; its exceptions are not click's
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer on top of click
    from click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from . import __version__
from .errors import EXIT_BATCH_FAILED, EXIT_RUNTIME, EXIT_USAGE, InputError, LatentgenError
from .ui import Output

app = typer.Typer(
    name="latentgen",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
    help="Turn a picture of an object into a textured 3D asset. Each pipeline stage is its own command.",
    epilog="Exit codes: 0 ok, 1 some inputs of a batch failed, 2 bad input or usage, 3 weights/config error, "
    "4 runtime/device error.",
)


class State:
    """Global options, set once by the callback."""

    device: str = "auto"
    out: Output = Output()


STATE = State()

# ---- option aliases (one place) -------------------------------------------------------------------------
OutFile = Annotated[Path, typer.Option("--output", "-o", help="Output file; its suffix picks the format.")]
FacesOpt = Annotated[int | None, typer.Option("--faces", help="Face budget: decimate to exactly N faces (quadric).")]
SizeOpt = Annotated[int, typer.Option("--size", help="Size of each rendered view in pixels.", min=16, max=4096)]
RasterizerOpt = Annotated[
    str, typer.Option("--rasterizer", help="auto (nvdiffrast on CUDA when installed, else cpu), cpu or nvdiffrast.")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"latentgen {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
    json_: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (progress, results) for scripts.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the Python traceback of errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    STATE.device = device
    STATE.out = Output(quiet=quiet, json=json_, debug=debug)


@contextmanager
def user_errors(**context) -> Iterator[None]:
    """The error boundary of a command: a LatentgenError becomes one line on stderr and its exit code."""
    try:
        yield
    except LatentgenError as e:
        if STATE.out.debug:
            traceback.print_exc()
        STATE.out.error(str(e), e.exit_code, **context)
        raise typer.Exit(e.exit_code) from None


def run_batch(items: list[tuple], fn) -> None:
    """Run fn(*item) for each item. One item: its error is the command's error. Several: a failing
    item is reported as `skipped` and the batch goes on; exit 1 at the end if any failed."""
    if len(items) == 1:
        with user_errors(input=str(items[0][0])):
            fn(*items[0])
        return
    failed = 0
    for item in items:
        try:
            fn(*item)
        except LatentgenError as e:
            failed += 1
            if STATE.out.debug:
                traceback.print_exc()
            STATE.out.error(f"skipped: {e}", e.exit_code, input=str(item[0]))
    if failed:
        STATE.out.info(f"{failed} of {len(items)} inputs failed")
        raise typer.Exit(EXIT_BATCH_FAILED)


def _outputs_for(inputs: list[Path], output: Path, fmt: str | None) -> list[Path]:
    """One input -> `output` as given; several -> `output` is a folder, one file per input stem."""
    if len(inputs) == 1 and not output.is_dir():
        return [output]
    if output.exists() and not output.is_dir():
        raise InputError(f"{output}: several inputs need an output folder")
    if fmt is None:
        raise InputError("several inputs: give --format for the files written into the output folder")
    stems: dict[str, int] = {}
    outs = []
    for p in inputs:
        n = stems.get(p.stem, 0)
        stems[p.stem] = n + 1
        outs.append(output / (f"{p.stem}.{fmt}" if n == 0 else f"{p.stem}_{n}.{fmt}"))
    return outs


# ---- export ---------------------------------------------------------------------------------------------
@app.command("export")
def export_cmd(
    inputs: Annotated[
        list[Path], typer.Argument(help="Mesh file(s): glb, gltf, obj, ply, stl, off.", show_default=False)
    ],
    output: OutFile,
    faces: FacesOpt = None,
    scale: Annotated[float, typer.Option("--scale", help="Multiply coordinates by S.")] = 1.0,
    up: Annotated[str, typer.Option("--up", help="Up axis of the output: y (glTF) or z (Blender/CAD).")] = "y",
    center: Annotated[bool, typer.Option("--center", help="Move the bounding-box centre to the origin.")] = False,
    clean: Annotated[
        bool, typer.Option("--clean", help="Remove floaters, degenerate/duplicate faces; close small holes.")
    ] = False,
    fmt: Annotated[str | None, typer.Option("--format", help="glb, obj, ply or stl (default: from -o).")] = None,
    roughness: Annotated[float, typer.Option("--roughness", help="GLB roughnessFactor.")] = 0.8,
) -> None:
    """Convert, clean and decimate meshes. Textures survive (GLB: PBR, metallic 0).

    Example: latentgen export examples/spot/spot.obj -o spot.glb --faces 4000
    """
    from .export import ExportOptions, export, format_of
    from .files import check_output_path
    from .meshio import load_mesh

    out = STATE.out
    with user_errors():
        opts = ExportOptions(faces=faces, scale=scale, up=up, center=center, clean=clean, roughness=roughness)
        targets = _outputs_for(inputs, output, fmt)
        for t in targets:
            format_of(t, fmt)
            check_output_path(t)

    def one(src: Path, dst: Path) -> None:
        with out.progress(src.name) as progress:
            progress("export", 0.0)
            result = export(load_mesh(src), dst, opts, fmt)
            progress("export", 1.0)
        faces_n, verts_n = len(result.mesh.faces), len(result.mesh.vertices)
        out.result(f"wrote {dst} ({faces_n} faces)", input=str(src), output=str(dst), faces=faces_n, vertices=verts_n)

    run_batch(list(zip(inputs, targets, strict=True)), one)


# ---- render ---------------------------------------------------------------------------------------------
@app.command("render")
def render_cmd(
    mesh: Annotated[Path, typer.Argument(help="Mesh file to preview.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file for the turntable grid.")] = Path(
        "preview.png"
    ),
    views: Annotated[int, typer.Option("--views", help="Number of views around the vertical axis.", min=1, max=64)] = 4,
    size: SizeOpt = 512,
    elevation: Annotated[float, typer.Option("--elevation", help="Camera elevation in degrees.")] = 20.0,
    rasterizer: RasterizerOpt = "auto",
) -> None:
    """Render a turntable grid of a mesh: textured when it has a texture, shaded normals otherwise.

    Example: latentgen render examples/spot/spot.obj -o spot.png --views 4 --size 384
    """
    from PIL import Image

    from .files import atomic_path, check_output_path
    from .meshio import load_mesh
    from .render import get_rasterizer, turntable_grid

    out = STATE.out
    with user_errors(input=str(mesh)):
        if output.suffix.lower() != ".png":
            raise InputError(f"{output}: the preview is written as PNG; use a .png name")
        check_output_path(output)
        m = load_mesh(mesh)
        rast = get_rasterizer(rasterizer, device=STATE.device)
        with out.progress(mesh.name) as progress:
            progress("render", 0.0)
            grid = turntable_grid(m, views=views, size=size, rasterizer=rast, elevation=elevation)
            progress("render", 1.0)
        with atomic_path(output) as tmp:
            Image.fromarray(grid).save(tmp, format="PNG")
    out.result(f"wrote {output} ({views} views, {size} px)", input=str(mesh), output=str(output))


def _interrupt(signum, frame) -> None:
    """SIGTERM (a scheduler stopping the job) unwinds like Ctrl-C, so temp folders are cleaned up."""
    raise KeyboardInterrupt


# ---- image2mesh -----------------------------------------------------------------------------------------
@app.command("image2mesh")
def image2mesh_cmd(
    inputs: Annotated[
        list[str], typer.Argument(help="Pictures: files, folders (their images) or globs ('shots/*.jpg').")
    ],
    outdir: Annotated[Path, typer.Option("--output", "-o", help="Output folder: one sub-folder per input.")] = Path(
        "out"
    ),
    steps: Annotated[int | None, typer.Option("--steps", help="Sampling steps (default: the model's).")] = None,
    guidance: Annotated[
        float | None, typer.Option("--guidance", help="Classifier-free guidance scale (default: the model's).")
    ] = None,
    seed: SeedOpt = 1234,
    candidates: CandidatesOpt = None,
    resolution: ModelResolutionOpt = None,
    faces: Annotated[int, typer.Option("--faces", help="Face budget of the asset.")] = 40000,
    texture_size: Annotated[int, typer.Option("--texture-size", help="Texture side in texels.")] = 2048,
    no_texture: Annotated[bool, typer.Option("--no-texture", help="Stop after the shape (no paint, no bake).")] = False,
    fmt: Annotated[str, typer.Option("--format", help="glb or obj.")] = "glb",
    mask: MaskOpt = "auto",
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Skip inputs whose folder is complete (resume a killed batch).")
    ] = False,
    smoke: Annotated[
        bool,
        typer.Option("--smoke", help="Smoke test for CI: tiny settings (4 steps, 64^3, 256 px) that run in seconds."),
    ] = False,
    paint_backend: Annotated[
        str, typer.Option("--paint-backend", help="projection (no weights) or hunyuan (Hunyuan3D-Paint).")
    ] = "projection",
    paint_weights: Annotated[
        Path | None,
        typer.Option(
            "--paint-weights",
            help="hunyuan: folder holding hunyuan3d-paint-v2-0/ and hunyuan3d-delight-v2-0/ (default: --weights).",
        ),
    ] = None,
    weights: WeightsOpt = None,
    variant: VariantOpt = None,
    dtype: DtypeOpt = "auto",
) -> None:
    """Picture(s) -> textured 3D asset(s): generate-shape, decode, paint, bake and export in one process.

    Per input OUTDIR/<stem>/ holds <stem>.glb, shape.latent, shape.ply, views/, preview.png, mask.png and
    run.json; OUTDIR/manifest.jsonl records every input's outcome. Exit 1 when some inputs failed.

    Example: latentgen image2mesh examples/images/ -o out --weights tests/fixtures/ckpt/tiny-hunyuan3d-2 --smoke
    """
    import signal

    from .bake import BakeOptions
    from .batch import expand_inputs, run_image2mesh
    from .encode import DecodeOptions
    from .paint import PaintOptions
    from .pipeline import Image2MeshOptions, load_models
    from .runtime import pick_runtime
    from .shape import ShapeOptions

    out = STATE.out
    if smoke:
        steps, resolution = steps or 4, min(resolution or 64, 64)
        texture_size, faces = min(texture_size, 256), min(faces, 5000)
    with user_errors():
        if fmt not in ("glb", "obj"):
            raise InputError(f"--format {fmt}: choose glb or obj")
        files = expand_inputs(inputs)
        rt = pick_runtime(STATE.device, dtype)
        painter = "projection" if no_texture else paint_backend
        if painter == "hunyuan":
            smoke_steps = 4 if smoke else 30
            painter = _painter(
                "hunyuan", paint_weights or weights, smoke_steps, 2.0, seed, "canonical", False, False, dtype
            )
        models = load_models(_weights(weights), rt, variant, painter=painter)
        resolution = resolution or models.shape.default_resolution()
        opts = Image2MeshOptions(
            shape=ShapeOptions(steps=steps, guidance=guidance, seed=seed, candidates=candidates),
            decode=DecodeOptions(resolution=resolution),
            faces=faces,
            texture=not no_texture,
            paint=PaintOptions(view_size=256 if smoke else 512),
            bake=BakeOptions(texture_size=texture_size, faces=faces),
            mask=mask,
        )
    settings = dict(
        steps=steps or models.shape.default_steps(),
        guidance=guidance,
        seed=seed,
        candidates=candidates or models.shape.default_candidates(),
        resolution=resolution,
        faces=faces,
        texture_size=texture_size,
        texture=not no_texture,
        format=fmt,
        mask=mask,
        device=str(rt.device),
        dtype=str(rt.dtype).replace("torch.", ""),
        variant=variant,
        smoke=smoke,
        paint_backend=paint_backend,
    )
    signal.signal(signal.SIGTERM, _interrupt)

    def event(kind: str, **data) -> None:
        out.event(kind, **data)
        if out.json:
            return
        if kind == "failed":
            out.error(f"skipped: {data['error']}", data["exit_code"])
        elif kind == "done":
            out.result(f"wrote {data['output']} ({data['seconds']:.1f} s)")
        elif kind == "skipped":
            out.info(f"skipped {data['input']}: {data['reason']}")

    done, skipped, failed = run_image2mesh(
        files, outdir, models, opts, settings, fmt, skip_existing, event, progress_for=out.progress
    )
    out.event("summary", done=done, skipped=skipped, failed=failed, manifest=str(outdir / "manifest.jsonl"))
    out.info(f"{done} done, {skipped} skipped, {failed} failed; manifest: {outdir / 'manifest.jsonl'}")
    if failed:
        raise typer.Exit(EXIT_BATCH_FAILED)


# ---- shape autoencoder ----------------------------------------------------------------------------------
WeightsOpt = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        help="A checkpoint folder (config.yaml/config.json + weights) or a model root holding several "
        "(Hunyuan3D-2 layout). Default: $LATENTGEN_WEIGHTS, else the shipped weights/tiny.",
    ),
]
VariantOpt = Annotated[
    str | None, typer.Option("--variant", help="Which checkpoint of a model root: e.g. turbo, mini, fast.")
]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="auto (fp16 on CUDA, fp32 on CPU), fp32, bf16 or fp16.")]
ModelResolutionOpt = Annotated[
    int | None,
    typer.Option(
        "--resolution",
        help="Marching-cubes grid cells per axis (default: the model's; 256 for Hunyuan3D-2, whose 384 is 'high').",
    ),
]
CandidatesOpt = Annotated[
    int | None,
    typer.Option(
        "--candidates",
        help="Sample this many shapes (seeds SEED, SEED+1, ...) and keep the one whose outline from the picture's "
        "viewpoint best matches the picture (default: the model's; 4 for the shipped weights, 1 for Hunyuan3D-2).",
    ),
]
SeedOpt = Annotated[
    int, typer.Option("--seed", help="Random seed; the same seed on the same device repeats the output.")
]


def _shape_export(faces: int | None):
    """Postprocessing of a decoded surface, the same for decode and generate-shape: floaters and degenerate
    faces removed, face budget. Holes are not closed: marching cubes on a bounded grid makes none."""
    from .export import ExportOptions
    from .meshops import CleanupOptions

    return ExportOptions(faces=faces or None, clean=True, cleanup=CleanupOptions(max_hole_edges=0))  # 0: no budget


def _weights(weights: Path | None) -> Path:
    from .info import default_weights

    return weights if weights is not None else default_weights()


@app.command("encode")
def encode_cmd(
    mesh: Annotated[Path, typer.Argument(help="Mesh to encode.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Latent file to write.")] = Path("shape.latent"),
    points: Annotated[
        int | None, typer.Option("--points", help="Uniform surface samples (default: from the checkpoint config).")
    ] = None,
    sharp_points: Annotated[
        int | None, typer.Option("--sharp-points", help="Sharp-edge samples (default: from the checkpoint config).")
    ] = None,
    posterior: Annotated[
        str | None,
        typer.Option(
            "--posterior",
            help="'sample' (seeded, as hy3dgen encodes) or 'mean' of the posterior; default: the checkpoint's "
            "encode_posterior (sample for Hunyuan3D-2, mean for latentgen's own models).",
        ),
    ] = None,
    seed: SeedOpt = 0,
    weights: WeightsOpt = None,
    variant: VariantOpt = None,
    dtype: DtypeOpt = "auto",
) -> None:
    """Encode a mesh into a shape latent with an encoder-bearing ShapeVAE.

    Example: latentgen encode examples/spot/spot.obj -o spot.latent --weights tests/fixtures/ckpt/tiny-hunyuan3d-2
    """
    from .artifacts import save_latent
    from .encode import EncodeOptions, encode
    from .files import check_output_path
    from .meshio import load_mesh
    from .models.shapevae import load_shapevae
    from .runtime import pick_runtime

    out = STATE.out
    with user_errors(input=str(mesh)):
        check_output_path(output)
        m = load_mesh(mesh)
        rt = pick_runtime(STATE.device, dtype)
        vae = load_shapevae(_weights(weights), rt, variant, need_encoder=True)
        with out.progress(mesh.name) as progress:
            latent = encode(m, vae, EncodeOptions(points, sharp_points, seed=seed, posterior=posterior), progress)
        save_latent(latent, output)
    n, c = latent.tokens.shape
    out.result(f"wrote {output} ({n} x {c} latent, model {latent.model})", output=str(output), tokens=[n, c])


@app.command("decode")
def decode_cmd(
    latent_file: Annotated[Path, typer.Argument(help="Latent file (.latent).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Mesh to write: .ply, .glb, .obj or .stl.")] = Path(
        "shape.ply"
    ),
    resolution: ModelResolutionOpt = None,
    faces: Annotated[int | None, typer.Option("--faces", help="Face budget of the output mesh (0: none).")] = 40000,
    dense: Annotated[
        bool,
        typer.Option(
            "--dense",
            help="Evaluate every grid point (slow; the default coarse-to-fine gives the same mesh, but for specks "
            "smaller than a coarse cell).",
        ),
    ] = False,
    weights: WeightsOpt = None,
    variant: VariantOpt = None,
    dtype: DtypeOpt = "auto",
) -> None:
    """Decode a shape latent into a mesh (occupancy field + marching cubes).

    Grid and face budget default to generate-shape's, so decoding its --latent-out gives the same mesh.

    Example: latentgen decode spot.latent -o spot.ply --weights tests/fixtures/ckpt/tiny-hunyuan3d-2
    """
    from .artifacts import load_latent
    from .encode import DecodeOptions, decode
    from .export import export, format_of
    from .files import check_output_path
    from .models.shapevae import load_shapevae
    from .runtime import pick_runtime
    from .shape import stored_resolution

    out = STATE.out
    with user_errors(input=str(latent_file)):
        format_of(output)
        check_output_path(output)
        latent = load_latent(latent_file)
        root = _weights(weights)
        opts = DecodeOptions(resolution=resolution or stored_resolution(root), dense=dense)
        rt = pick_runtime(STATE.device, dtype)
        vae = load_shapevae(root, rt, variant, prefer=[latent.model] if latent.model else ())
        with out.progress(latent_file.name) as progress:
            mesh = decode(latent, vae, opts, progress)
        result = export(mesh, output, _shape_export(faces))
    n = len(result.mesh.faces)
    out.result(f"wrote {output} ({n} faces)", output=str(output), faces=n, vertices=len(result.mesh.vertices))


# ---- generate-shape -------------------------------------------------------------------------------------
MaskOpt = Annotated[
    str,
    typer.Option(
        "--mask",
        help="How to separate the object from the background: auto (alpha if present, else grabcut), alpha, "
        "grabcut (no model needed) or rembg (needs `pip install rembg` and its model already on disk).",
    ),
]


def _save_png(array, path: Path) -> None:
    from PIL import Image

    from .files import atomic_path

    image = array if isinstance(array, Image.Image) else Image.fromarray(array)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


@app.command("generate-shape")
def generate_shape_cmd(
    image: Annotated[Path, typer.Argument(help="Photo of one object (png, jpg, webp, bmp, tiff).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Mesh to write: .glb, .obj, .ply or .stl.")] = Path(
        "shape.glb"
    ),
    latent_out: Annotated[Path | None, typer.Option("--latent-out", help="Also write the shape latent here.")] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", help="Sampling steps (default: the checkpoint's: 50, or 5 for turbo).")
    ] = None,
    guidance: Annotated[
        float | None,
        typer.Option("--guidance", help="Classifier-free guidance scale (default: the model's; 5.0 for Hunyuan3D-2)."),
    ] = None,
    seed: SeedOpt = 1234,
    candidates: CandidatesOpt = None,
    resolution: ModelResolutionOpt = None,
    faces: Annotated[int | None, typer.Option("--faces", help="Face budget of the output mesh (0: none).")] = 40000,
    mask: MaskOpt = "auto",
    rembg: Annotated[bool, typer.Option("--rembg", help="Shorthand for --mask rembg.")] = False,
    weights: WeightsOpt = None,
    variant: VariantOpt = None,
    dtype: DtypeOpt = "auto",
    keep_intermediates: Annotated[
        bool,
        typer.Option(
            "--keep-intermediates",
            help="Also write OUT.input.png (what the model sees), OUT.mask.png and OUT.latent next to the mesh.",
        ),
    ] = False,
) -> None:
    """Generate a 3D shape from a photo: DINOv2 tokens -> flow-matching DiT -> ShapeVAE -> mesh.

    Example: latentgen generate-shape photo.png -o shape.glb --weights tests/fixtures/ckpt/tiny-hunyuan3d-2 --steps 5
    """
    from .artifacts import save_latent
    from .encode import DecodeOptions, decode
    from .export import export, format_of
    from .files import check_output_path
    from .image import load_image, mask_to_png, prepare_image
    from .runtime import pick_runtime
    from .shape import ShapeOptions, generate_shape, load_shape_models

    out = STATE.out
    with user_errors(input=str(image)):
        format_of(output)
        check_output_path(output)
        stem = output.with_suffix("")
        if keep_intermediates:
            latent_out = latent_out or stem.with_name(stem.name + ".latent")
        if latent_out is not None:
            check_output_path(latent_out)  # before any work: a mesh without its latent would be half the output
        picture = load_image(image)  # a bad picture fails here, not after a model load
        opts = ShapeOptions(steps=steps, guidance=guidance, seed=seed, candidates=candidates)
        export_opts = _shape_export(faces)
        rt = pick_runtime(STATE.device, dtype)
        models = load_shape_models(_weights(weights), rt, variant)
        decode_opts = DecodeOptions(resolution=resolution or models.default_resolution())
        method = "rembg" if rembg else mask
        prep = prepare_image(picture, method, models.image_size, models.border_ratio, source=image)
        with out.progress(image.name) as progress:
            latent = generate_shape(prep, models, opts, progress)
            mesh = decode(latent, models.vae, decode_opts, progress)
        result = export(mesh, output, export_opts)
        if keep_intermediates:
            _save_png(prep.rgb, stem.with_name(stem.name + ".input.png"))
            _save_png(mask_to_png(prep.foreground), stem.with_name(stem.name + ".mask.png"))
        if latent_out is not None:
            save_latent(latent, latent_out)
    n = len(result.mesh.faces)
    kept = int(latent.extra.get("chosen", 0))  # which candidate was kept, and how well each outline matched
    scores = [float(s) for s in latent.extra.get("silhouette_ious", "").split()]
    chosen = f"; kept candidate {kept + 1} of {len(scores)}, outline IoU {scores[kept]:.2f}" if scores else ""
    out.result(
        f"wrote {output} ({n} faces; foreground: {prep.method}{chosen})",
        output=str(output),
        faces=n,
        seed=seed,
        candidate=kept,
        candidate_ious=scores,
    )


# ---- paint / bake ---------------------------------------------------------------------------------------
def _painter(backend: str, weights, steps, guidance, seed, views, no_delight, offload, dtype):
    """The paint backend by name; hunyuan is built here, with its weights and options, once."""
    if backend != "hunyuan":
        return backend
    from .paint import get_backend
    from .paint_hunyuan import HunyuanOptions, parse_views
    from .runtime import pick_runtime

    options = HunyuanOptions(
        steps=steps, guidance=guidance, seed=seed, views=parse_views(views), delight=not no_delight, offload=offload
    )
    if weights is None:
        from .errors import ConfigError

        raise ConfigError(
            "--backend hunyuan needs --weights ROOT holding hunyuan3d-paint-v2-0/ and "
            "hunyuan3d-delight-v2-0/ (from tencent/Hunyuan3D-2)"
        )
    return get_backend("hunyuan", weights=weights, options=options, runtime=pick_runtime(STATE.device, dtype))


@app.command("paint")
def paint_cmd(
    mesh: Annotated[Path, typer.Argument(help="Mesh to paint (e.g. from generate-shape).", show_default=False)],
    image: Annotated[Path, typer.Argument(help="The picture the mesh was made from.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="View-set folder to write.")] = Path("views"),
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="projection: the picture is the front view; other views are baked by fill. "
            "hunyuan: Hunyuan3D-Paint multi-view diffusion (needs --weights).",
        ),
    ] = "projection",
    mirror: Annotated[
        bool, typer.Option("--mirror", help="Use the mirrored picture as the back view (roughly symmetric objects).")
    ] = False,
    view_size: Annotated[int, typer.Option("--view-size", help="Side of each view image in pixels.")] = 512,
    align: Annotated[
        str, typer.Option("--align", help="Input camera fit: silhouette (refined by overlap) or bbox.")
    ] = "silhouette",
    mask: MaskOpt = "auto",
    rembg: Annotated[bool, typer.Option("--rembg", help="Shorthand for --mask rembg.")] = False,
    rasterizer: RasterizerOpt = "auto",
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            help="hunyuan: folder holding hunyuan3d-paint-v2-0/ and hunyuan3d-delight-v2-0/ (tencent/Hunyuan3D-2 "
            "layout).",
        ),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="hunyuan: denoising steps.")] = 30,
    guidance: Annotated[
        float, typer.Option("--guidance", help="hunyuan: classifier-free guidance scale (1 = off).")
    ] = 2.0,
    seed: Annotated[int, typer.Option("--seed", help="hunyuan: noise seed.")] = 0,
    views_opt: Annotated[
        str,
        typer.Option(
            "--views", help="hunyuan: canonical, or AZ:EL[:WEIGHT],... in degrees; elevations -20, 0, 20, -90, 90."
        ),
    ] = "canonical",
    no_delight: Annotated[
        bool, typer.Option("--no-delight", help="hunyuan: keep the picture's lighting (skip the delight model).")
    ] = False,
    offload: Annotated[
        bool,
        typer.Option("--offload", help="hunyuan: each model on the GPU only while it runs (less GPU memory, slower)."),
    ] = False,
    dtype: DtypeOpt = "auto",
) -> None:
    """Make the view set that `bake` turns into a texture: the picture as the front view plus normal and
    position maps of the six canonical views (projection), or six views painted by Hunyuan3D-Paint (hunyuan).

    Example: latentgen paint shape.glb photo.png -o views
    """
    from .artifacts import save_viewset
    from .files import check_input_file, check_output_path
    from .image import prepare_image
    from .meshio import load_mesh
    from .paint import PaintOptions, paint
    from .render import get_rasterizer

    out = STATE.out
    with user_errors(input=str(mesh)):
        check_output_path(output.parent / f"{output.name}.probe")  # the folder itself is replaced atomically
        opts = PaintOptions(view_size=view_size, mirror=mirror, align=align)
        m = load_mesh(mesh)
        check_input_file(image, "image")
        prep = prepare_image(image, "rembg" if rembg else mask)
        rast = get_rasterizer(rasterizer, device=STATE.device)
        painter = _painter(backend, weights, steps, guidance, seed, views_opt, no_delight, offload, dtype)
        with out.progress(mesh.name) as progress:
            views = paint(m, prep, opts, painter, progress, rasterizer=rast)
        save_viewset(views, output)
    overlap = views.meta.get("input_silhouette_iou")
    note = f"; silhouette overlap {overlap:.2f}" if isinstance(overlap, float) else ""
    out.result(f"wrote {output}/ ({len(views.views)} views{note})", output=str(output), views=len(views.views))


@app.command("bake")
def bake_cmd(
    mesh: Annotated[Path, typer.Argument(help="Mesh the views were painted for.", show_default=False)],
    views: Annotated[Path, typer.Argument(help="View-set folder (from paint).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Textured mesh: .glb or .obj.")] = Path("textured.glb"),
    texture_size: Annotated[int, typer.Option("--texture-size", help="Texture side in texels.")] = 2048,
    faces: Annotated[
        int, typer.Option("--faces", help="Face budget applied before unwrapping (0 keeps every face).")
    ] = 40000,
    fmt: Annotated[str | None, typer.Option("--format", help="glb or obj (default: from -o).")] = None,
    roughness: Annotated[float, typer.Option("--roughness", help="PBR roughness (metallic is 0).")] = 0.8,
    uv_max_boundary: Annotated[
        float,
        typer.Option(
            "--uv-max-boundary",
            help="xatlas: chart boundary limit, times sqrt(surface area); 0 = none (~10x slower unwrap).",
        ),
    ] = 0.5,
    uv_max_cost: Annotated[
        float, typer.Option("--uv-max-cost", help="xatlas: chart growing cost; lower = more, flatter charts.")
    ] = 2.0,
    uv_padding: Annotated[int, typer.Option("--uv-padding", help="xatlas: texels between charts (0..64).")] = 2,
    rasterizer: RasterizerOpt = "auto",
) -> None:
    """Bake a view set into a UV texture: unwrap (xatlas), back-project, fill unseen texels, write GLB/OBJ.

    Example: latentgen bake shape.glb views -o textured.glb --texture-size 1024
    """
    from .artifacts import load_viewset
    from .bake import BakeOptions, UnwrapOptions, bake
    from .export import ExportOptions, format_of, write_mesh
    from .files import check_output_path
    from .meshio import load_mesh
    from .render import get_rasterizer

    out = STATE.out
    with user_errors(input=str(mesh)):
        kind = format_of(output, fmt)
        if kind not in ("glb", "obj"):
            raise InputError(f"{output}: {kind} cannot hold a texture; write .glb or .obj")
        check_output_path(output)
        unwrap = UnwrapOptions(max_boundary=uv_max_boundary, max_cost=uv_max_cost, padding=uv_padding)
        opts = BakeOptions(texture_size=texture_size, faces=faces or None, roughness=roughness, unwrap=unwrap)
        m = load_mesh(mesh)
        view_set = load_viewset(views)
        rast = get_rasterizer(rasterizer, device=STATE.device)
        with out.progress(mesh.name) as progress:
            textured = bake(m, view_set, opts, progress, rasterizer=rast)
        write_mesh(textured, output, ExportOptions(roughness=roughness), fmt)
    n = len(textured.faces)
    out.result(f"wrote {output} ({n} faces, {texture_size}^2 texture)", output=str(output), faces=n)


# ---- info -----------------------------------------------------------------------------------------------
@app.command("info")
def info_cmd() -> None:
    """Show versions, the compute device, rasterizer backends and the weights latentgen can find."""
    from .info import collect_info

    with user_errors():
        facts = collect_info(STATE.device)
    out = STATE.out
    if out.json:
        out.event("result", **facts)
        return
    for key, value in facts.items():
        if isinstance(value, dict):
            out.out.print(f"[bold]{key}[/]")
            for k, v in value.items():
                out.out.print(f"  {k}: {v}")
        else:
            out.out.print(f"[bold]{key}[/]: {value}")


from . import cli_train  # noqa: E402,F401  - registers `train data|vae|dit` and `eval` on app


def main() -> None:
    """Console entry point: usage errors become one line with exit code 2; bugs one line with exit 4."""
    try:
        rv = app(standalone_mode=False)
    except NoArgsIsHelpError as e:  # `latentgen` alone (or a group without a command) prints help
        typer.echo(e.ctx.get_help() if e.ctx else "")
        rv = 0
    except UsageError as e:
        STATE.out.error(e.format_message(), EXIT_USAGE)
        sys.exit(EXIT_USAGE)
    except ClickException as e:
        STATE.out.error(e.format_message(), e.exit_code)
        sys.exit(e.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        STATE.out.error("interrupted", 130)
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:  # noqa: BLE001 - last resort: a bug still gets one line and a code
        if STATE.out.debug:
            traceback.print_exc()
        STATE.out.error(f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)", EXIT_RUNTIME)
        sys.exit(EXIT_RUNTIME)
    sys.exit(rv if isinstance(rv, int) else 0)
