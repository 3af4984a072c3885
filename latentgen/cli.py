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
BackendOpt = Annotated[str, typer.Option("--backend", help="Rasterizer: auto, cpu or nvdiffrast (CUDA).")]


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
    backend: BackendOpt = "auto",
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
        rasterizer = get_rasterizer(backend, device=STATE.device)
        with out.progress(mesh.name) as progress:
            progress("render", 0.0)
            grid = turntable_grid(m, views=views, size=size, rasterizer=rasterizer, elevation=elevation)
            progress("render", 1.0)
        with atomic_path(output) as tmp:
            Image.fromarray(grid).save(tmp, format="PNG")
    out.result(f"wrote {output} ({views} views, {size} px)", input=str(mesh), output=str(output))


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
