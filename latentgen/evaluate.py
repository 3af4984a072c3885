"""Evaluation of a ShapeVAE and of the image -> shape pipeline, on data never seen in training. Seeded.

    report = evaluate(EvalInputs(weights="weights/tiny", data="out/train/data", meshes=..., images=...), EvalOptions())

* VAE volume IoU at resolution^3: encode a shape's surface samples, decode the occupancy on the grid
  (coarse-to-fine, as `latentgen decode`), compare with the true inside/outside at the same grid points:
  exact signed distances for held-out procedural shapes, `trimesh` containment (ray tests) for real meshes.
  Real meshes are normalised as the training shapes are (bbox centred, longest side 2 * 0.9).
* Image -> shape silhouette IoU: generate a shape from the image, decode it (floaters removed, as every command
  delivers it: pipeline.shape_postprocess), render its silhouette from the front
  (input) camera, recentre that mask exactly as the input image is recentred (image.recenter, border 0.15) and
  compare with the input's foreground mask. Comparing recentred masks makes the figure independent of framing.
  Generation samples as generate-shape does, with the weights' default number of candidates (EvalOptions.candidates
  overrides it): with several, the kept one is chosen by this same kind of outline agreement (at 64^3, 128 px).
* Ceilings (EvalOptions.ceilings): the same held-out pictures against their shapes' VAE reconstructions and against
  the true shapes, so a low image -> shape figure can be put on the VAE, on the camera jitter or on the DiT.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import trimesh

from .artifacts import Latent
from .config import config_hash
from .encode import DecodeOptions, decode, decode_volume
from .errors import InputError, StageError
from .image import prepare_image
from .models.shapevae import ShapeVAE
from .pointcloud import normalize_mesh, sample_sharp, sample_uniform
from .silhouette import iou, silhouette_score
from .surface import grid_axis

ProgressFn = Callable[[str, float], None]
EXTENT = 0.9  # training shapes: longest side spans [-0.9, 0.9] (latentgen.data.shapes.EXTENT)
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def _quiet(phase: str, fraction: float) -> None: ...


@dataclass(frozen=True)
class EvalOptions:
    resolution: int = 128  # volume IoU grid (cells per axis)
    per_family: int = 0  # held-out procedural shapes per family (0: all)
    image_resolution: int = 128  # decoding resolution of generated shapes for silhouettes
    steps: int | None = None  # sampling steps / guidance: None = the weights' defaults
    guidance: float | None = None
    candidates: int | None = None  # shapes sampled per picture, the best silhouette kept: None = the weights' default
    seed: int = 1234
    vae: bool = True  # which figures: VAE reconstruction, image -> shape
    image: bool = True
    # image -> shape on held-out shapes: also score the shapes' own VAE reconstructions and (procedural data) the true
    # shapes against the same pictures, the ceilings that tell a VAE miss from a DiT miss
    ceilings: bool = False


@dataclass(frozen=True)
class EvalInputs:
    weights: Path  # a weights root (weights/tiny) or a ShapeVAE folder (then only VAE figures)
    data: Path | None = None  # procedural dataset folder (its held-out split is used)
    meshes: Path | None = None  # folder of real meshes
    images: Path | None = None  # folder of real photos


# ---------------------------------------------------------------------------------------------- VAE


def grid_points(resolution: int, bounds: float) -> np.ndarray:
    """The (R+1)^3 grid points of surface.dense_grid, [n^3, 3] float32, in its (i, j, k) -> (x, y, z) order."""
    axis = grid_axis(resolution, bounds).numpy()
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)


def volume_iou(
    vae: ShapeVAE, surface: np.ndarray, sharp: np.ndarray, inside: np.ndarray, resolution: int, bounds: float = 1.01
) -> float:
    """surface [P, 6], sharp [S, 6]: encoder input (xyz + normal); inside: [(R+1)^3] bool truth at
    grid_points(R, bounds). Point-query encoders pick their queries as at inference (farthest points)."""
    latent = reconstruct(vae, surface, sharp)
    volume = decode_volume(latent, vae, DecodeOptions(resolution=resolution, bounds=bounds))
    return iou(volume.grid.numpy().ravel() > 0, inside)


def _truth(data: Path, index: dict, item: dict) -> Callable[[np.ndarray], np.ndarray]:
    """xyz [n, 3] -> inside [n] bool of a held-out item: the exact SDF of a procedural shape, or the source
    mesh's inside test (generalised winding number) for a dataset built from meshes."""
    if "meshes" in index:
        from .data.meshes import item_sdf

        return item_sdf(data, item).contains
    shape = _procedural_shape(index, item)
    return lambda xyz: shape.sdf(xyz.astype(np.float64)) < 0


def _procedural_shape(index: dict, item: dict):
    """A held-out item of a procedural dataset as built: its family's shape with the item's seed and pose."""
    from .data.dataset import DatasetConfig, Item, _stream
    from .data.shapes import make_shape

    config = DatasetConfig.from_dict(index["config"])
    pose_rng = _stream(Item("heldout", item["family"], item["seed"]), 0)
    yaw = pose_rng.uniform(-config.max_object_yaw_deg, config.max_object_yaw_deg)
    tilt = pose_rng.uniform(-config.max_object_tilt_deg, config.max_object_tilt_deg)
    return make_shape(item["family"], item["seed"], yaw_deg=yaw, tilt_deg=tilt)


def reconstruct(vae: ShapeVAE, surface: np.ndarray, sharp: np.ndarray) -> Latent:
    """surface [P, 6], sharp [S, 6] (xyz + normal) -> the shape's latent, encoded as at inference."""
    from .train.vae import encoder_points, encoder_queries

    batch = {"surface": torch.from_numpy(surface).float()[None], "sharp": torch.from_numpy(sharp).float()[None]}
    queries = encoder_queries(batch, vae.config)
    with torch.inference_mode():
        z = vae.encode(encoder_points(batch), queries)[0].float().cpu()
    return Latent(z, vae.name, config_hash(vae.config), 0, {})


def procedural_vae_rows(vae: ShapeVAE, data: Path, opts: EvalOptions, progress: ProgressFn = _quiet) -> list[dict]:
    """Volume IoU of every held-out shape of a dataset folder (procedural: exact SDF truth; meshes: winding number)."""
    from .data.dataset import load_index

    index = load_index(data)
    items = _pick(index, opts.per_family)
    grid = grid_points(opts.resolution, 1.01)
    rng = np.random.default_rng(opts.seed)
    c = vae.config
    rows = []
    for n, it in enumerate(items):
        with np.load(Path(data) / it["npz"]) as z:
            surface, sharp = z["surface"], z["sharp"]
        surface, sharp = _take(surface, c.pc_size, rng), _take(sharp, c.pc_sharpedge_size, rng)
        inside = _truth(Path(data), index, it)(grid)
        score = volume_iou(vae, surface, sharp, inside, opts.resolution)
        rows.append({"name": it["name"], "family": it["family"], "iou": score})
        progress("vae held-out shapes", (n + 1) / len(items))
    return rows


def mesh_vae_rows(vae: ShapeVAE, folder: Path, opts: EvalOptions, progress: ProgressFn = _quiet) -> list[dict]:
    """Volume IoU of each real mesh in `folder` (and its sub-folders), truth by containment tests."""
    from .meshio import load_mesh

    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in MESH_SUFFIXES)
    grid = grid_points(opts.resolution, 1.01)
    c = vae.config
    rows = []
    for n, path in enumerate(paths):
        mesh = normalize_mesh(load_mesh(path), EXTENT)
        rng = np.random.default_rng(opts.seed)
        uniform = np.concatenate(sample_uniform(mesh, c.pc_size, rng), axis=1)
        sharp = sample_sharp(mesh, c.pc_sharpedge_size, rng)
        sharp = np.concatenate(sharp, axis=1) if sharp is not None else uniform[: c.pc_sharpedge_size]
        inside = mesh.contains(grid)
        rows.append(
            {
                "name": path.stem,
                "family": "real mesh",
                "watertight": bool(mesh.is_watertight),
                "iou": volume_iou(vae, uniform.astype(np.float32), sharp.astype(np.float32), inside, opts.resolution),
            }
        )
        progress("vae real meshes", (n + 1) / len(paths))
    return rows


def _pick(index: dict, per_family: int) -> list[dict]:
    held = [it for it in index["items"] if it["split"] == "heldout"]
    if per_family <= 0:
        return held
    counts: dict[str, int] = {}
    out = []
    for it in held:
        if counts.get(it["family"], 0) < per_family:
            out.append(it)
            counts[it["family"]] = counts.get(it["family"], 0) + 1
    return out


def _take(a: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return a[rng.choice(len(a), n, replace=n > len(a))]


# ---------------------------------------------------------------------------------------------- image -> shape


def image_rows(models, images: list[tuple[str, str, object]], opts: EvalOptions, progress: ProgressFn = _quiet) -> list:
    """images: (name, family, path or PIL image). Silhouette IoU and generation seconds per image."""
    from .pipeline import shape_postprocess
    from .shape import ShapeOptions, generate_shape

    shape_opts = ShapeOptions(steps=opts.steps, guidance=opts.guidance, seed=opts.seed, candidates=opts.candidates)
    rows = []
    for n, (name, family, image) in enumerate(images):
        prep = prepare_image(image, "auto", models.image_size, models.border_ratio)
        t0 = time.perf_counter()
        latent = generate_shape(prep, models, shape_opts)
        seconds = time.perf_counter() - t0
        try:
            mesh = shape_postprocess(decode(latent, models.vae, DecodeOptions(resolution=opts.image_resolution)), None)
            score = silhouette_score(mesh, prep.mask)
        except StageError:  # no surface in the decoded volume: the model failed on this image, it scores 0
            score = 0.0
        rows.append({"name": name, "family": family, "iou": score, "sample_seconds": round(seconds, 2)})
        progress("image -> shape", (n + 1) / len(images))
    return rows


def ceiling_rows(models, data: Path, opts: EvalOptions, progress: ProgressFn = _quiet) -> tuple[list, list]:
    """The held-out pictures scored against (their shapes' VAE reconstructions, the true shapes): what image ->
    shape could reach through this VAE, and with a perfect shape (only the pictures' camera jitter is left).
    The true shapes need a procedural dataset (exact SDFs); for a dataset built from meshes that list is empty."""
    from .data.dataset import load_index
    from .data.sampling import extract_mesh
    from .pipeline import shape_postprocess

    index = load_index(data)
    rng = np.random.default_rng(opts.seed)
    c = models.vae.config
    vae_rows, true_rows = [], []
    items = [it for it in _pick(index, opts.per_family) if it["images"]]
    for n, it in enumerate(items):
        prep = prepare_image(Path(data) / it["images"][0], "auto", models.image_size, models.border_ratio)
        with np.load(Path(data) / it["npz"]) as z:
            surface, sharp = _take(z["surface"], c.pc_size, rng), _take(z["sharp"], c.pc_sharpedge_size, rng)
        latent = reconstruct(models.vae, surface, sharp)
        row = {"name": it["name"], "family": it["family"]}
        try:
            mesh = shape_postprocess(decode(latent, models.vae, DecodeOptions(resolution=opts.image_resolution)), None)
            vae_rows.append({**row, "iou": silhouette_score(mesh, prep.mask)})
        except StageError:
            vae_rows.append({**row, "iou": 0.0})
        if "meshes" not in index:
            sdf = _procedural_shape(index, it).sdf
            v, f, _ = extract_mesh(lambda xyz, sdf=sdf: sdf(xyz.astype(np.float64)), opts.image_resolution)
            true = trimesh.Trimesh(v, f, process=False)
            true_rows.append({**row, "iou": silhouette_score(true, prep.mask)})
        progress("image -> shape ceilings", (n + 1) / len(items))
    return vae_rows, true_rows


def heldout_images(data: Path, per_family: int) -> list[tuple[str, str, Path]]:
    from .data.dataset import load_index

    index = load_index(data)
    return [(it["name"], it["family"], Path(data) / it["images"][0]) for it in _pick(index, per_family) if it["images"]]


def folder_images(folder: Path) -> list[tuple[str, str, Path]]:
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return [(p.stem, "real image", p) for p in paths]


# ---------------------------------------------------------------------------------------------- report


def summarise(rows: list[dict], key: str = "iou") -> dict:
    """{"mean": .., "n": .., "per_family": {family: mean}}."""
    if not rows:
        return {"mean": None, "n": 0, "per_family": {}}
    fams: dict[str, list[float]] = {}
    for r in rows:
        fams.setdefault(r["family"], []).append(r[key])
    return {
        "mean": round(float(np.mean([r[key] for r in rows])), 4),
        "n": len(rows),
        "per_family": {f: round(float(np.mean(v)), 4) for f, v in sorted(fams.items())},
    }


def evaluate(inputs: EvalInputs, opts: EvalOptions = EvalOptions(), rt=None, progress: ProgressFn = _quiet) -> dict:
    """All figures that the inputs allow -> a JSON-able report (summaries + per-item rows)."""
    from .models.shapevae import load_shapevae
    from .runtime import pick_runtime

    rt = rt or pick_runtime("cpu")
    if inputs.data is None and inputs.meshes is None and inputs.images is None:
        raise InputError("nothing to evaluate: give a procedural dataset, a mesh folder and/or an image folder")
    report: dict = {"weights": str(inputs.weights), "options": opts.__dict__}
    if opts.vae and (inputs.data is not None or inputs.meshes is not None):
        vae = load_shapevae(Path(inputs.weights), rt, need_encoder=True)
        if inputs.data is not None:
            rows = procedural_vae_rows(vae, inputs.data, opts, progress)
            report["vae_heldout"] = {**summarise(rows), "rows": rows}
        if inputs.meshes is not None:
            rows = mesh_vae_rows(vae, inputs.meshes, opts, progress)
            report["vae_meshes"] = {**summarise(rows), "rows": rows}
    if opts.image and (inputs.data is not None or inputs.images is not None):
        from .shape import load_shape_models

        models = load_shape_models(Path(inputs.weights), rt)
        if inputs.data is not None:
            rows = image_rows(models, heldout_images(inputs.data, opts.per_family), opts, progress)
            report["image_heldout"] = {**summarise(rows), "sample_seconds": _mean(rows, "sample_seconds"), "rows": rows}
            if opts.ceilings:
                vae_rows, true_rows = ceiling_rows(models, inputs.data, opts, progress)
                report["image_heldout_vae"] = {**summarise(vae_rows), "rows": vae_rows}
                if true_rows:
                    report["image_heldout_true"] = {**summarise(true_rows), "rows": true_rows}
        if inputs.images is not None:
            rows = image_rows(models, folder_images(inputs.images), opts, progress)
            report["image_real"] = {**summarise(rows), "sample_seconds": _mean(rows, "sample_seconds"), "rows": rows}
    return report


def _mean(rows: list[dict], key: str) -> float | None:
    return round(float(np.mean([r[key] for r in rows])), 3) if rows else None


# ---------------------------------------------------------------------------------------------- report
BARS = {"vae_heldout": 0.85, "vae_meshes": 0.5, "image_heldout": 0.75, "image_real": 0.5}
TITLES = {
    "vae_heldout": "VAE volume IoU, held-out procedural shapes",
    "vae_meshes": "VAE volume IoU, real meshes",
    "image_heldout": "image -> shape silhouette IoU, held-out procedural renders",
    "image_real": "image -> shape silhouette IoU, real photos",
    "image_heldout_vae": "ceiling: the held-out shapes' VAE reconstructions against their pictures",
    "image_heldout_true": "ceiling: the true held-out shapes against their pictures (camera jitter only)",
}


def markdown(report: dict) -> str:
    """The report as Markdown tables: each figure against its bar of issue 6, then per family (or item)."""
    lines = ["| figure | mean | n | bar |", "| --- | --- | --- | --- |"]
    for key, title in TITLES.items():
        if key in report:
            r = report[key]
            lines.append(f"| {title} | {r['mean']:.3f} | {r['n']} | {BARS.get(key, '-')} |")
    for key, title in TITLES.items():
        if key in report:
            fams = report[key]["per_family"]
            if len(fams) > 1:
                lines += ["", f"{title}, per family:", "", "| family | IoU |", "| --- | --- |"]
                lines += [f"| {f} | {v:.3f} |" for f, v in fams.items()]
            else:
                lines += ["", f"{title}, per item:", "", "| item | IoU |", "| --- | --- |"]
                lines += [f"| {r['name']} | {r['iou']:.3f} |" for r in report[key]["rows"]]
    return "\n".join(lines) + "\n"
