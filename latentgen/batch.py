"""Batch inputs and bookkeeping: expand files/folders/globs, name outputs by stem, keep a manifest.

A batch never stops at a bad input: each input's outcome is one line in `OUTDIR/manifest.jsonl`, appended
and flushed as it happens, so a killed batch leaves a consistent record of what finished.
"""

from __future__ import annotations

import gc
import glob
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import InputError, LatentgenError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def expand_inputs(patterns: Iterable[str | Path], suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    """Files as given (whatever their suffix: a bad file is the batch's to report), folders (their files
    with a matching suffix, sorted), and globs. Duplicates are dropped, order is kept."""
    found: list[Path] = []
    for pattern in map(str, patterns):
        path = Path(pattern)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        elif path.exists() or not glob.has_magic(pattern):
            found.append(path)  # missing files stay in the list and fail as inputs, with a clear reason
        else:
            matches = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
            if not matches:
                raise InputError(f"{pattern}: no file matches this pattern")
            found += matches
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve() if p.exists() else p
        if key not in seen:
            seen.add(key)
            unique.append(p)
    if not unique:
        raise InputError("no input files (folders given hold no image files)")
    return unique


def output_names(inputs: list[Path]) -> list[str]:
    """One folder name per input: its stem, with `_2`, `_3`, ... when stems collide (`a/x.png`, `b/x.jpg`)."""
    counts: dict[str, int] = {}
    names = []
    taken = {p.stem for p in inputs}
    for p in inputs:
        n = counts.get(p.stem, 0) + 1
        counts[p.stem] = n
        name = p.stem if n == 1 else f"{p.stem}_{n}"
        while n > 1 and name in taken:  # `x_2.png` may itself be an input
            n += 1
            name = f"{p.stem}_{n}"
        taken.add(name)
        names.append(name)
    return names


class Manifest:
    """Append-only JSON lines; each record is written whole and flushed to disk before the next."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict) -> None:
        line = json.dumps(record, default=str) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash mid-write is ignored
        return out


# ---- image2mesh over many inputs --------------------------------------------------------------------------
RUN_FORMAT = "latentgen.run/1"
EventFn = Callable[..., None]  # event(kind, **data)


def is_complete(folder: Path) -> bool:
    """An input counts as done only when its folder holds a run.json that says so (written last)."""
    try:
        return json.loads((Path(folder) / "run.json").read_text()).get("status") == "complete"
    except (OSError, ValueError):
        return False


def remove_stale_temps(outdir: Path) -> None:
    """Temp folders left by a run that was killed outright (SIGKILL, power loss)."""
    if Path(outdir).is_dir():
        for p in Path(outdir).glob(".*.tmp"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)


def versions() -> dict[str, str]:
    import importlib.metadata

    from . import __version__

    out = {"latentgen": __version__}
    for pkg in ("torch", "transformers", "diffusers", "trimesh", "xatlas"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def write_outputs(folder: Path, name: str, result, fmt: str, settings: dict, weights: str, rasterizer) -> None:
    """Everything one input produces, into `folder` (a fresh temp folder; the caller renames it)."""
    from PIL import Image

    from .artifacts import save_latent, save_viewset
    from .export import ExportOptions, write_mesh
    from .image import mask_to_png
    from .meshio import save_ply
    from .render import turntable_grid

    final = result.textured if result.textured is not None else result.shape
    write_mesh(final, folder / f"{name}.{fmt}", ExportOptions(roughness=settings.get("roughness", 0.8)))
    save_latent(result.latent, folder / "shape.latent")
    save_ply(result.shape, folder / "shape.ply")
    if result.views is not None:
        save_viewset(result.views, folder / "views")
    mask_to_png(result.image.foreground).save(folder / "mask.png")
    Image.fromarray(turntable_grid(final, views=4, size=256, rasterizer=rasterizer)).save(folder / "preview.png")
    run = {
        "format": RUN_FORMAT,
        "status": "complete",
        "input": str(result.image.source),
        "output": f"{name}.{fmt}",
        "foreground": result.image.method,
        "settings": settings,
        "seed": settings.get("seed"),
        "weights": weights,
        "model": result.latent.model,
        "sampling": dict(result.latent.extra),  # sampler, steps, guidance; candidates, the kept one and their IoUs
        "versions": versions(),
        "seconds": result.seconds,
        "faces": len(final.faces),
    }
    (folder / "run.json").write_text(json.dumps(run, indent=2, default=str) + "\n")


def run_image2mesh(
    inputs: list[Path],
    outdir: Path,
    models,
    opts,
    settings: dict,
    fmt: str = "glb",
    skip_existing: bool = False,
    event: EventFn | None = None,
    progress_for: Callable[[str], object] | None = None,
) -> tuple[int, int, int]:
    """Run image2mesh on each input into OUTDIR/<name>/; returns (done, skipped, failed).

    Each folder is built as a hidden temp folder and renamed into place when complete, so an interrupted
    batch (Ctrl-C, SIGTERM) leaves only complete folders; the manifest gets one line per finished input."""
    from contextlib import nullcontext

    from .files import atomic_dir
    from .pipeline import image2mesh

    event = event or (lambda kind, **data: None)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(outdir)
    manifest = Manifest(outdir / "manifest.jsonl")
    done = skipped = failed = 0
    for src, name in zip(inputs, output_names(inputs), strict=True):
        folder = outdir / name
        if skip_existing and is_complete(folder):
            skipped += 1
            event("skipped", input=str(src), output=str(folder), reason="complete output exists")
            continue
        t0 = time.perf_counter()
        try:
            ctx = progress_for(src.name) if progress_for else nullcontext(None)
            with ctx as progress:
                kwargs = {"progress": progress} if progress is not None else {}
                on_stage = lambda stage, sec, _src=src: event("stage", input=str(_src), stage=stage, seconds=sec)  # noqa: E731
                result = image2mesh(src, models, opts, on_stage=on_stage, **kwargs)

            # the folder and its manifest line appear together, even when a signal arrives in between
            def record(src=src, folder=folder, t0=t0) -> None:
                seconds = round(time.perf_counter() - t0, 3)
                manifest.append({"input": str(src), "status": "ok", "output": str(folder), "seconds": seconds})

            with atomic_dir(folder, on_commit=record) as tmp:
                write_outputs(tmp, name, result, fmt, settings, models.weights, models.rasterizer)
        except LatentgenError as e:
            failed += 1
            manifest.append({"input": str(src), "status": "failed", "error": str(e), "exit_code": e.exit_code})
            event("failed", input=str(src), error=str(e), exit_code=e.exit_code)
            continue
        finally:
            gc.collect()  # a long batch must not keep the last input's tensors and meshes alive
        done += 1
        seconds = round(time.perf_counter() - t0, 3)
        event("done", input=str(src), output=str(folder / f"{name}.{fmt}"), seconds=seconds)
    return done, skipped, failed
