"""A training set from the user's own meshes (and photos), in the layout and index format of latentgen.data.dataset,
so ShapeDataset, train_vae and train_dit read it as they read the procedural set.

    index = build_mesh_dataset("my_meshes", "data/mine", MeshDatasetConfig(), workers=2, progress=print)
    index["skipped"]   # [{"source": "chairs/broken.obj", "reason": "..."}]: files that could not be used

Input. Every mesh file under `meshes` (obj, ply, glb, gltf, off, stl; any depth; hidden files and folders skipped).
- family: the first folder below `meshes` (chairs/a.obj and chairs/office/b.glb are both "chairs"; files directly in
  `meshes` are "mesh"), so a folder per category works with any layout inside it.
- name: the path below `meshes` without its suffix, "/" -> "__", unsafe characters -> "_" (plus a hash of the path
  when two files would get one name). seed: crc32 of the path (drives every random draw of that mesh).
- split: per family, of the n meshes that could be used, round(heldout_fraction * n) are held out (at least 1 when
  the fraction is > 0 and n >= 2, never all n): those whose path hashes lowest, so the choice is deterministic and
  does not depend on the order files are listed in (adding meshes to a family can move others between splits).
- conditioning image: a picture next to the mesh with the same stem (png / jpg / jpeg / webp; not one that an .mtl or
  .gltf in that folder names as a texture) is used as the shape's image: its foreground (alpha, else GrabCut, as
  latentgen.image does for inputs) is cut out and framed as the renders are; its camera is the front view fitted to
  that mask (latentgen.views.input_camera), i.e. the photo is assumed to show the front. Otherwise the mesh is
  rendered `images_per_shape` times from the jittered input-view camera with its own texture / vertex / face colours
  (grey when it has none), lit and anti-aliased as the procedural shapes are (data.render.render_lit).

Per mesh (`prepare_mesh`, `sample_mesh`):
1. turned to +Y up (up_axis="z": +Z up, -Y front, as Blender and most CAD / STL files, becomes +Y up, +Z front), its
   bounding box centred and its longest side scaled to 2 * 0.9 (data.shapes.EXTENT), as the procedural shapes;
   vertices welded by position for sampling.
2. faces rewound consistently when they are not (trimesh.repair.fix_winding) and flipped as a whole when the winding
   number says the mesh is inside out.
3. surface [P, 6]: area-uniform points with their face normals (what `latentgen encode` feeds the encoder);
   sharp [S, 6]: points on edges whose faces meet at more than sample.sharp_angle_deg, normal = bisector of the two
   faces (uniform surface points when the mesh has no such edge; n_sharp_found says how many are real);
   points [Q, 3]: sample.n_uniform uniform in [-1, 1]^3, then sample.n_near near the surface at sample.near_sigmas.
4. sdf [Q]: the exact distance to the nearest triangle, negative where the generalized winding number exceeds 0.5
   (data.mesh_sdf.MeshSDF: correct for closed meshes, and the robust choice for scans with holes, open or
   self-intersecting meshes, where a ray-parity test such as trimesh's `contains` fails). occupancy = sdf < 0.
   A mesh with no inside query at all (an open sheet, a double-sided surface) is skipped: it teaches no volume.
The npz holds the keys of data.dataset plus source (path below `meshes`), source_sha1 (of the mesh file and its
photos: a changed file is rebuilt on the next run) and transform [4, 4] (file coordinates -> dataset coordinates).
Its pose is the up-axis rotation. sample.grid_res is not used (there is no marching cubes here).

Resumable and atomic as build_dataset: images first, npz last. A file that cannot be used (unreadable, no faces, no
volume, unusable photo) is skipped with a one-line reason, returned in "skipped" and listed in index.json.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import re
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np
import trimesh
from PIL import Image

from ..camera import Camera
from ..errors import ConfigError, InputError, LatentgenError
from ..files import atomic_path
from ..image import foreground_mask, load_image
from ..meshio import MESH_SUFFIXES, load_mesh
from ..pointcloud import sample_uniform
from ..render import Fragments
from ..render.base import Rasterizer
from ..render.shading import corner_normals, surface_color
from ..views import input_camera as fit_input_camera
from .dataset import DATA_FORMAT, load_index, parse_sample_render
from .mesh_sdf import MeshSDF
from .render import RenderConfig, input_camera, random_lighting, render_lit
from .sampling import SampleConfig, query_samples
from .shapes import EXTENT

ProgressFn = Callable[[str, float], None]
SkipFn = Callable[[str, str], None]  # (source path below the meshes folder, reason)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
UP_AXES = ("y", "z")
TOP_FAMILY = "mesh"  # family of the files directly in the meshes folder
GREY = 0.72  # sRGB albedo of meshes without colours
PLACEHOLDER_RGB = (100, 100, 100)  # trimesh.visual.material.color_image's default colour


def _quiet(phase: str, done: float) -> None: ...


def _ignore(source: str, reason: str) -> None: ...


@dataclass(frozen=True)
class MeshDatasetConfig:
    heldout_fraction: float = 0.1  # share of each family held out (see the module docstring)
    images_per_shape: int = 1  # renders of a mesh that has no photo next to it (0: no images at all)
    up_axis: str = "y"  # "y": +Y up, +Z front (glTF, most OBJ); "z": +Z up, -Y front (Blender, CAD, STL)
    sample: SampleConfig = field(default_factory=SampleConfig)  # counts and sigmas as the procedural set; no grid_res
    render: RenderConfig = field(default_factory=RenderConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.heldout_fraction < 1:
            raise ConfigError(f"heldout_fraction must be in [0, 1), got {self.heldout_fraction}")
        if self.images_per_shape < 0:
            raise ConfigError(f"images_per_shape must be >= 0, got {self.images_per_shape}")
        if self.up_axis not in UP_AXES:
            raise ConfigError(f"up_axis must be one of {', '.join(UP_AXES)}, not {self.up_axis!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> MeshDatasetConfig:
        raw = dict(raw)
        if unknown := raw.keys() - {f.name for f in fields(cls)}:
            raise ConfigError(f"mesh dataset config: unknown keys {sorted(unknown)}")
        return cls(**parse_sample_render(raw))


@dataclass(frozen=True)
class MeshItem:
    source: str  # posix path of the mesh below the meshes folder
    name: str
    family: str
    seed: int
    split: str  # "train" or "heldout"
    photos: tuple[str, ...] = ()  # conditioning pictures next to the mesh (paths below the meshes folder)

    def image_count(self, config: MeshDatasetConfig) -> int:
        if config.images_per_shape == 0:
            return 0
        return len(self.photos) or config.images_per_shape


# ----------------------------------------------------------------------------------------------------------------
# Finding meshes, names, families, splits


def find_mesh_items(meshes: Path, exclude: Path | None = None) -> list[MeshItem]:
    """Every mesh file under `meshes` as a MeshItem (split "train"; `split_items` decides), sorted by path.
    Files under `exclude` (the dataset folder, if it sits inside) are ignored."""
    meshes = Path(meshes)
    if not meshes.is_dir():
        raise InputError(f"{meshes}: no such folder of meshes")
    skip = exclude.resolve() if exclude is not None else None
    sources: list[Path] = []
    for path in sorted(meshes.rglob("*")):
        rel = path.relative_to(meshes)
        if path.suffix.lower() not in MESH_SUFFIXES or any(p.startswith(".") for p in rel.parts):
            continue
        if not path.is_file() or (skip is not None and path.resolve().is_relative_to(skip)):
            continue
        sources.append(rel)
    names = _unique_names([s.with_suffix("").as_posix() for s in sources], [s.as_posix() for s in sources])
    textures: dict[Path, str] = {}
    items = []
    for rel, name in zip(sources, names, strict=True):
        folder = (meshes / rel).parent
        if folder not in textures:
            textures[folder] = _texture_references(folder)
        family = rel.parts[0] if len(rel.parts) > 1 else TOP_FAMILY
        photos = tuple(
            p.relative_to(meshes).as_posix()
            for p in sorted(folder.glob(f"{glob_escape(rel.stem)}.*"))
            if p.suffix.lower() in IMAGE_SUFFIXES and p.stem == rel.stem and p.name.lower() not in textures[folder]
        )
        items.append(MeshItem(rel.as_posix(), name, family, _hash(rel.as_posix()), "train", photos))
    return items


def glob_escape(text: str) -> str:
    """A literal file name part for Path.glob ([, ], *, ? are pattern characters)."""
    return re.sub(r"([\[\]*?])", r"[\1]", text)


def _hash(text: str) -> int:
    return zlib.crc32(text.encode())


def _unique_names(stems: list[str], sources: list[str]) -> list[str]:
    """Safe file names from relative paths without suffix; a name two paths share gets each path's hash appended."""
    base = [re.sub(r"[^A-Za-z0-9_.-]", "_", s.replace("/", "__")).strip(".") or "mesh" for s in stems]
    counts: dict[str, int] = {}
    for b in base:
        counts[b] = counts.get(b, 0) + 1
    return [b if counts[b] == 1 else f"{b}-{_hash(src):08x}" for b, src in zip(base, sources, strict=True)]


def _texture_references(folder: Path) -> str:
    """Lower-cased text of the material files (.mtl) and glTF files in `folder`: pictures named there are textures."""
    texts = []
    for p in folder.iterdir():
        if p.suffix.lower() in (".mtl", ".gltf") and p.is_file():
            texts.append(p.read_text(errors="replace").lower())
    return "\n".join(texts)


def split_items(items: list[MeshItem], fraction: float) -> list[MeshItem]:
    """Hold out round(fraction * n) items of each family (see the module docstring) -> training items first, each
    part sorted by family and path."""
    by_family: dict[str, list[MeshItem]] = {}
    for it in items:
        by_family.setdefault(it.family, []).append(it)
    train, held = [], []
    for family in sorted(by_family):
        members = sorted(by_family[family], key=lambda it: (it.seed, it.source))
        n = len(members)
        k = min(max(round(fraction * n), 1 if fraction > 0 and n >= 2 else 0), n - 1)
        held += [MeshItem(it.source, it.name, it.family, it.seed, "heldout", it.photos) for it in members[:k]]
        train += members[k:]
    return sorted(train, key=_family_order) + sorted(held, key=_family_order)


def _family_order(it: MeshItem) -> tuple[str, str]:
    return it.family, it.source


# ----------------------------------------------------------------------------------------------------------------
# One mesh: normalise, label, sample


@dataclass(eq=False)
class PreparedMesh:
    """A mesh in dataset coordinates: the welded, consistently wound surface and its SDF, plus the file's own
    (unwelded, coloured) mesh moved alike for rendering."""

    surface: trimesh.Trimesh  # welded, consistently and outwards wound
    sdf: MeshSDF
    visual: trimesh.Trimesh  # the loaded mesh with its texture / colours; geometry untouched
    vertices: np.ndarray  # [V, 3] the loaded mesh's vertices in dataset coordinates (render geometry)
    transform: np.ndarray  # [4, 4] file -> dataset coordinates
    rotation: np.ndarray  # [3, 3] the up-axis part of it


def up_rotation(up_axis: str) -> np.ndarray:
    """[3, 3] rotation from the file's axes to +Y up, +Z front."""
    if up_axis == "y":
        return np.eye(3)
    return np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # (x, y, z) -> (x, z, -y): +Z up -> +Y, -Y -> +Z


def normalize_transform(vertices: np.ndarray, up_axis: str = "y", extent: float = EXTENT) -> np.ndarray:
    """[4, 4]: rotate to +Y up, centre the bounding box, longest side -> 2 * extent."""
    rot = up_rotation(up_axis)
    v = np.asarray(vertices, np.float64) @ rot.T
    lo, hi = v.min(0), v.max(0)
    size = float((hi - lo).max())
    if not np.isfinite(size) or size <= 0:
        raise InputError("mesh has no extent (all vertices at one point)")
    s = 2.0 * extent / size
    t = np.eye(4)
    t[:3, :3] = s * rot
    t[:3, 3] = -s * (lo + hi) / 2
    return t


def prepare_mesh(mesh: trimesh.Trimesh, up_axis: str = "y") -> PreparedMesh:
    """Normalise a loaded mesh and build its SDF. Raises InputError for a mesh without surface. Input untouched."""
    transform = normalize_transform(mesh.vertices, up_axis)
    vertices = np.asarray(mesh.vertices, np.float64) @ transform[:3, :3].T + transform[:3, 3]
    surface = trimesh.Trimesh(vertices, np.asarray(mesh.faces), process=True)  # welded: sharp edges need neighbours
    surface.update_faces(surface.nondegenerate_faces())
    if len(surface.faces) == 0 or surface.area <= 0:
        raise InputError("mesh has no surface area (all its faces are degenerate)")
    if not surface.is_winding_consistent:
        trimesh.repair.fix_winding(surface)
    sdf = MeshSDF(surface.vertices, surface.faces)
    if _inside_out(surface, sdf):
        surface.invert()
        sdf = MeshSDF(surface.vertices, surface.faces)
    return PreparedMesh(surface, sdf, mesh, vertices, transform, up_rotation(up_axis))


def _inside_out(surface: trimesh.Trimesh, sdf: MeshSDF, n: int = 512) -> bool:
    """True when the winding number is mostly negative on both sides of the surface: the solid it bounds is wound
    inside out (1 inside, 0 outside becomes -1 and 0; an open sheet gives about +-0.5 and stays as it is)."""
    points, normals = sample_uniform(surface, n, np.random.default_rng(0))
    eps = 1e-3
    both = sdf.winding_number(np.concatenate([points + eps * normals, points - eps * normals]))
    return float(both.mean()) < -0.25


def sharp_edge_samples(
    mesh: trimesh.Trimesh, n: int, angle_deg: float, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """n points on edges whose two faces meet at more than angle_deg, length-weighted, with the faces' bisector as
    normal -> ([n, 6], how many lie on such edges: n, or 0 when the mesh has none and uniform samples fill in)."""
    sharp = mesh.face_adjacency_angles > np.radians(angle_deg)
    edges, pairs = mesh.face_adjacency_edges[sharp], mesh.face_adjacency[sharp]
    v = np.asarray(mesh.vertices)
    length = np.linalg.norm(v[edges[:, 1]] - v[edges[:, 0]], axis=1)
    if n == 0 or length.sum() <= 0:
        return np.concatenate(sample_uniform(mesh, n, rng), axis=1), 0
    pick = rng.choice(len(edges), size=n, p=length / length.sum())
    t = rng.random((n, 1))
    points = v[edges[pick, 0]] + t * (v[edges[pick, 1]] - v[edges[pick, 0]])
    fn = mesh.face_normals
    normals = fn[pairs[pick, 0]] + fn[pairs[pick, 1]]
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(norm > 1e-6, normals / np.maximum(norm, 1e-12), fn[pairs[pick, 0]])  # a fold: either face
    return np.concatenate([points, normals], axis=1), n


def sample_mesh(prepared: PreparedMesh, config: SampleConfig, rng: np.random.Generator) -> dict:
    """Training samples of a prepared mesh -> dict of float32 arrays: surface [P, 6], sharp [S, 6], points [Q, 3],
    sdf [Q], occupancy [Q] uint8, and n_sharp_found."""
    surface = np.concatenate(sample_uniform(prepared.surface, max(config.n_surface, 1), rng), axis=1)
    sharp, found = sharp_edge_samples(prepared.surface, config.n_sharp, config.sharp_angle_deg, rng)
    points, sdf = query_samples(
        prepared.sdf.signed_distance, surface, config.n_uniform, config.n_near, config.near_sigmas, rng
    )
    if len(sdf) and not (sdf < 0).any():
        raise InputError("mesh encloses no volume: no sample point is inside it (open sheet? double-sided surface?)")
    return {
        "surface": surface[: config.n_surface].astype(np.float32),
        "sharp": sharp.astype(np.float32),
        "points": points,
        "sdf": sdf,
        "occupancy": (sdf < 0).astype(np.uint8),
        "n_sharp_found": found,
    }


# ----------------------------------------------------------------------------------------------------------------
# Conditioning images


def render_mesh_view(
    prepared: PreparedMesh,
    rng: np.random.Generator,
    config: RenderConfig = RenderConfig(),
    rasterizer: Rasterizer | None = None,
) -> tuple[np.ndarray, Camera]:
    """One jittered render of the mesh with its own colours -> (RGBA uint8 [size, size, 4], its camera)."""
    mesh = prepared.visual
    faces = np.asarray(mesh.faces, np.int64)
    # one vertex per face corner: crease-aware shading normals (hard CAD edges stay hard), same face ids
    corners = prepared.vertices[faces].reshape(-1, 3)
    corner_faces = np.arange(3 * len(faces), dtype=np.int64).reshape(-1, 3)
    normals = corner_normals(prepared.vertices, faces).reshape(-1, 3)
    yaw = rng.uniform(-config.max_yaw_deg, config.max_yaw_deg)
    pitch = rng.uniform(-config.max_pitch_deg, config.max_pitch_deg)
    camera = input_camera(corners, config.size, yaw, pitch, config.framing, config.border, config.ortho_scale)
    lighting = random_lighting(rng)

    def albedo(fid: np.ndarray, bary: np.ndarray) -> np.ndarray:  # texture / vertex / face colours at pixels
        frags = Fragments(fid[None], bary[None], np.zeros((1, len(fid)), np.float32), faces)
        return surface_color(mesh, frags)

    coloured = has_colors(mesh) and albedo(np.zeros(1, np.int32), np.full((1, 3), 1 / 3, np.float32)) is not None
    grey = np.full((len(corners), 3), GREY, np.float32)
    exact = np.full(len(faces), coloured)
    image = render_lit(
        corners, corner_faces, normals, grey, camera, lighting, config.supersample, exact, albedo, rasterizer
    )
    return image, camera


def has_colors(mesh: trimesh.Trimesh) -> bool:
    """True when the mesh has a texture, vertex or face colours of its own; not for trimesh's placeholder (a 2x2 grey
    image it gives meshes that have UVs but no material)."""
    visual = mesh.visual
    if visual is None or visual.kind not in ("texture", "vertex", "face"):
        return False
    image = getattr(getattr(visual, "material", None), "image", None)
    if visual.kind == "texture" and image is not None and image.size == (2, 2):
        return bool((np.asarray(image.convert("RGB")) != PLACEHOLDER_RGB).any())
    return True


def frame_photo(path: Path, vertices: np.ndarray, config: RenderConfig = RenderConfig()) -> tuple[np.ndarray, Camera]:
    """A photo of the mesh's object -> (RGBA uint8 [size, size, 4]: the object cut out by latentgen.image's mask,
    centred, its longer side (1 - border) of the frame, as the renders; the front camera fitted to it)."""
    rgba = np.asarray(load_image(path))  # [H, W, 4]
    try:
        mask = foreground_mask(rgba, "auto")
    except InputError as e:
        raise InputError(f"{path.name}: {e}") from e
    rows, cols = np.nonzero(mask)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop = np.dstack([rgba[r0:r1, c0:c1, :3], mask[r0:r1, c0:c1]])
    size = config.size
    scale = max(1, round(size * (1 - config.border))) / max(r1 - r0, c1 - c0)
    h, w = max(1, round((r1 - r0) * scale)), max(1, round((c1 - c0) * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    crop = cv2.resize(crop, (w, h), interpolation=interp)
    out = np.zeros((size, size, 4), np.uint8)
    out[..., :3] = 255
    top, left = (size - h) // 2, (size - w) // 2
    out[top : top + h, left : left + w] = crop
    out[out[..., 3] == 0, :3] = 255  # background RGB white under alpha 0, as the renders
    return out, fit_input_camera(vertices, out[..., 3])


# ----------------------------------------------------------------------------------------------------------------
# Building the folder


def _stream(item: MeshItem, purpose: int) -> np.random.Generator:
    """Reproducible random stream per (mesh, purpose): 1 samples, 2 images."""
    return np.random.default_rng([item.seed, purpose])


def source_digest(meshes: Path, item: MeshItem) -> str:
    """sha1 of the mesh file and its photos (names and bytes)."""
    h = hashlib.sha1()
    for rel in (item.source, *item.photos):
        h.update(rel.encode() + b"\0")
        try:
            with open(Path(meshes) / rel, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except OSError as e:
            raise InputError(f"{rel}: cannot read ({e.strerror})") from e
    return h.hexdigest()


def is_built(root: Path, item: MeshItem, digest: str) -> bool:
    npz = Path(root) / "shapes" / f"{item.name}.npz"
    if not npz.exists():
        return False
    try:
        with np.load(npz) as z:
            return "source_sha1" in z and str(z["source_sha1"]) == digest
    except (OSError, ValueError):  # unreadable (foreign or damaged) file: build it again
        return False


def build_mesh_item(
    meshes: Path, root: Path, item: MeshItem, config: MeshDatasetConfig, rasterizer: Rasterizer | None = None
) -> bool:
    """Write one mesh's npz and images under `root`. Returns False if it was there already, from the same files.
    Raises InputError when the mesh or its photo cannot be used."""
    meshes, root = Path(meshes), Path(root)
    digest = source_digest(meshes, item)
    if is_built(root, item, digest):
        return False
    prepared = prepare_mesh(load_mesh(meshes / item.source), config.up_axis)
    samples = sample_mesh(prepared, config.sample, _stream(item, 1))
    cameras = []
    rng = _stream(item, 2)
    for k in range(item.image_count(config)):
        if item.photos:
            image, camera = frame_photo(meshes / item.photos[k], prepared.surface.vertices, config.render)
        else:
            image, camera = render_mesh_view(prepared, rng, config.render, rasterizer)
        with atomic_path(root / "images" / f"{item.name}_{k}.png") as tmp:
            Image.fromarray(image, "RGBA").save(tmp, compress_level=3)
        cameras.append(camera)
    with atomic_path(root / "shapes" / f"{item.name}.npz") as tmp:
        np.savez(
            tmp,
            **samples,
            n_uniform=np.int64(config.sample.n_uniform),
            family=np.str_(item.family),
            seed=np.int64(item.seed),
            pose=prepared.rotation,
            cameras=np.asarray([c.c2w for c in cameras], np.float64).reshape(-1, 4, 4),
            ortho_scales=np.asarray([c.ortho_scale for c in cameras], np.float64),
            source=np.str_(item.source),
            source_sha1=np.str_(digest),
            transform=prepared.transform,
        )
    return True


def _worker_init() -> None:
    import numba

    numba.set_num_threads(1)  # one process per core: kernels run single-threaded inside each


def _build_one(args: tuple[str, str, MeshItem, dict]) -> tuple[str, str | None]:
    meshes, root, item, raw = args
    try:
        build_mesh_item(Path(meshes), Path(root), item, MeshDatasetConfig.from_dict(raw))
    except LatentgenError as e:
        return item.source, str(e).removeprefix(f"{Path(meshes) / item.source}: ")  # the caller names the file
    return item.source, None


def build_mesh_dataset(
    meshes: Path,
    root: Path,
    config: MeshDatasetConfig = MeshDatasetConfig(),
    workers: int = 1,
    progress: ProgressFn = _quiet,
    skipped: SkipFn = _ignore,
) -> dict:
    """Build (or finish, or update) the dataset folder `root` from the mesh files under `meshes`; returns the index
    it writes to index.json, whose "skipped" lists the files that could not be used, with the reason.

    workers > 1 builds meshes in that many spawned processes (a script calling it needs the usual
    `if __name__ == "__main__":` guard). progress("meshes", fraction) after each mesh; skipped(source, reason) as
    soon as a file is found unusable. A folder built with another config raises ConfigError.
    """
    meshes, root = Path(meshes), Path(root)
    items = find_mesh_items(meshes, exclude=root)
    if not items:
        raise InputError(f"{meshes}: holds no mesh files ({', '.join(MESH_SUFFIXES)})")
    _check_or_write_config(root, config)
    failed: dict[str, str] = {}
    progress("meshes", 0.0)

    def finished(n: int, source: str, reason: str | None) -> None:
        if reason is not None:
            failed[source] = reason
            skipped(source, reason)
        progress("meshes", n / len(items))

    todo, n = [], 0
    for it in items:  # finished meshes are known without starting a worker
        try:
            done = is_built(root, it, source_digest(meshes, it))
        except InputError as e:
            n += 1
            finished(n, it.source, str(e).removeprefix(f"{it.source}: "))
            continue
        if done:
            n += 1
            finished(n, it.source, None)
        else:
            todo.append(it)
    jobs = [(str(meshes), str(root), it, config.to_dict()) for it in todo]
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            n += 1
            finished(n, *_build_one(job))
    else:
        with mp.get_context("spawn").Pool(min(workers, len(jobs)), initializer=_worker_init) as pool:
            for result in pool.imap_unordered(_build_one, jobs):
                n += 1
                finished(n, *result)
    built = split_items([it for it in items if it.source not in failed], config.heldout_fraction)
    index = make_mesh_index(meshes, config, built, [{"source": s, "reason": failed[s]} for s in sorted(failed)])
    with atomic_path(root / "index.json") as tmp:
        tmp.write_text(json.dumps(index, indent=1) + "\n")
    return index


def make_mesh_index(meshes: Path, config: MeshDatasetConfig, items: list[MeshItem], skipped: list[dict]) -> dict:
    """The index.json contents: data.dataset's format plus the meshes folder, each item's source and the skips."""
    return json.loads(
        json.dumps(
            {
                "format": DATA_FORMAT,
                "config": config.to_dict(),
                "families": sorted({it.family for it in items}),
                "items": [
                    {
                        "name": it.name,
                        "split": it.split,
                        "family": it.family,
                        "seed": it.seed,
                        "npz": f"shapes/{it.name}.npz",
                        "images": [f"images/{it.name}_{k}.png" for k in range(it.image_count(config))],
                        "source": it.source,
                    }
                    for it in items
                ],
                "meshes": str(Path(meshes).resolve()),
                "skipped": skipped,
            }
        )
    )


def _check_or_write_config(root: Path, config: MeshDatasetConfig) -> None:
    path = root / "config.json"
    if path.exists():
        try:
            old = MeshDatasetConfig.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError, ValueError, ConfigError) as e:
            raise ConfigError(f"{root}: holds a dataset built with another config ({e}); use a new folder") from e
        if old != config:
            raise ConfigError(f"{root}: holds a dataset built with another config; use a new folder")
        return
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(config.to_dict(), indent=2) + "\n")


def item_sdf(root: Path, item: dict) -> MeshSDF:
    """The SDF of one item of a mesh dataset, in dataset coordinates, from its source file (for evaluation on a
    finer grid than the stored queries). item: an entry of index["items"]."""
    index = load_index(root)
    config = MeshDatasetConfig.from_dict(index["config"])
    return prepare_mesh(load_mesh(Path(index["meshes"]) / item["source"]), config.up_axis).sdf
