"""A procedural training set on disk, and a torch Dataset that reads it.

Layout of a dataset folder:
    config.json            the DatasetConfig it was built with (a rebuild with another config is refused)
    index.json             format tag, config, families, and one entry per shape (split, family, seed, files)
    shapes/NAME.npz        per shape: surface [P, 6], sharp [S, 6], points [Q, 3], sdf [Q], occupancy [Q] (uint8),
                           n_uniform, n_sharp_found, family, seed, pose [3, 3], and per image the orthographic
                           camera: cameras [K, 4, 4] (camera-to-world) and ortho_scales [K]
    images/NAME_K.png      RGBA conditioning images (K = 0 .. images_per_shape - 1)
NAME is FAMILY_SEED (seed zero-padded to 6 digits). Training seeds are 0 .. train_per_family - 1 of each family;
held-out seeds start at heldout_seed_start, so the two never overlap.

`build_dataset` is resumable: a shape whose npz exists is skipped (its images are written first and the npz last,
each atomically, so an npz marks a finished shape). Shapes are independent and can be built by several processes.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset as TorchDataset

from ..errors import ConfigError, InputError
from ..files import atomic_path
from .render import RenderConfig, render_conditioning
from .sampling import SampleConfig, sample_shape
from .shapes import FAMILIES, make_shape

DATA_FORMAT = "latentgen.shapedata/1"
ProgressFn = Callable[[str, float], None]


def _quiet(phase: str, done: float) -> None: ...


@dataclass(frozen=True)
class DatasetConfig:
    families: tuple[str, ...] = tuple(FAMILIES)
    train_per_family: int = 100
    heldout_per_family: int = 10
    heldout_seed_start: int = 1_000_000
    images_per_shape: int = 1
    max_object_yaw_deg: float = 0.0  # pose the object itself (labels follow); 0: canonical, front facing +Z
    max_object_tilt_deg: float = 0.0
    sample: SampleConfig = field(default_factory=SampleConfig)
    render: RenderConfig = field(default_factory=RenderConfig)

    def __post_init__(self) -> None:
        if unknown := [f for f in self.families if f not in FAMILIES]:
            raise ConfigError(f"unknown shape families {unknown}; choose from {', '.join(FAMILIES)}")
        if min(self.train_per_family, self.heldout_per_family, self.images_per_shape) < 0:
            raise ConfigError("counts must be >= 0")
        if self.heldout_seed_start < self.train_per_family:
            raise ConfigError("held-out seeds must start after the training seeds")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> DatasetConfig:
        raw = dict(raw)
        known = {f.name for f in fields(cls)}
        if unknown := raw.keys() - known:
            raise ConfigError(f"dataset config: unknown keys {sorted(unknown)}")
        raw["families"] = tuple(raw.get("families", cls.families))
        return cls(**parse_sample_render(raw))


def parse_sample_render(raw: dict) -> dict:
    """A config dict with its "sample" / "render" sub-dicts (as JSON stores them) turned into their dataclasses."""
    raw = dict(raw)
    if "sample" in raw:
        s = dict(raw["sample"])
        s["near_sigmas"] = tuple(s.get("near_sigmas", SampleConfig.near_sigmas))
        raw["sample"] = SampleConfig(**s)
    if "render" in raw:
        raw["render"] = RenderConfig(**raw["render"])
    return raw


@dataclass(frozen=True)
class Item:
    split: str  # "train" or "heldout"
    family: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.family}_{self.seed:06d}"


def dataset_items(config: DatasetConfig) -> list[Item]:
    """Every shape of the dataset, training shapes first, in a fixed order."""
    train = [Item("train", f, s) for f in config.families for s in range(config.train_per_family)]
    held = [
        Item("heldout", f, config.heldout_seed_start + k)
        for f in config.families
        for k in range(config.heldout_per_family)
    ]
    return train + held


def _stream(item: Item, purpose: int) -> np.random.Generator:
    """Independent, reproducible random stream per (shape, purpose): 0 pose, 1 samples, 2 images."""
    return np.random.default_rng([zlib.crc32(item.family.encode()), item.seed, purpose])


def build_item(root: Path, item: Item, config: DatasetConfig) -> bool:
    """Write one shape's npz and images under `root`. Returns False if it was already there (skipped)."""
    root = Path(root)
    npz = root / "shapes" / f"{item.name}.npz"
    if npz.exists():
        return False
    pose_rng = _stream(item, 0)
    yaw = pose_rng.uniform(-config.max_object_yaw_deg, config.max_object_yaw_deg)
    tilt = pose_rng.uniform(-config.max_object_tilt_deg, config.max_object_tilt_deg)
    shape = make_shape(item.family, item.seed, yaw_deg=yaw, tilt_deg=tilt)
    samples = sample_shape(shape.sdf, config.sample, int(_stream(item, 1).integers(2**63)))
    image_rng = _stream(item, 2)
    cameras = []
    for k in range(config.images_per_shape):
        image, camera = render_conditioning(
            shape, samples.mesh_vertices, samples.mesh_faces, samples.mesh_normals, image_rng, config.render
        )
        with atomic_path(root / "images" / f"{item.name}_{k}.png") as tmp:
            Image.fromarray(image, "RGBA").save(tmp, compress_level=3)
        cameras.append(camera)
    with atomic_path(npz) as tmp:
        np.savez(
            tmp,
            surface=samples.surface,
            sharp=samples.sharp,
            points=samples.points,
            sdf=samples.sdf,
            occupancy=samples.occupancy,
            n_uniform=np.int64(config.sample.n_uniform),
            n_sharp_found=np.int64(samples.n_sharp_found),
            family=np.str_(item.family),
            seed=np.int64(item.seed),
            pose=shape.rotation,
            cameras=np.asarray([c.c2w for c in cameras], np.float64).reshape(-1, 4, 4),
            ortho_scales=np.asarray([c.ortho_scale for c in cameras], np.float64),
        )
    return True


def _worker_init() -> None:
    import numba

    numba.set_num_threads(1)  # one process per core: kernels run single-threaded inside each


def _build_one(args: tuple[str, Item, dict]) -> str:
    root, item, raw = args
    build_item(Path(root), item, DatasetConfig.from_dict(raw))
    return item.name


def build_dataset(
    root: Path, config: DatasetConfig = DatasetConfig(), workers: int = 1, progress: ProgressFn = _quiet
) -> dict:
    """Build (or finish building) the dataset folder `root`; returns the index it writes to index.json.

    workers > 1 builds shapes in that many spawned processes (so a script calling it needs the usual
    `if __name__ == "__main__":` guard). progress("shapes", fraction) after each finished shape.
    """
    root = Path(root)
    _check_or_write_config(root, config)
    items = dataset_items(config)
    todo = [it for it in items if not (root / "shapes" / f"{it.name}.npz").exists()]
    done = len(items) - len(todo)
    progress("shapes", done / max(len(items), 1))
    if workers <= 1:
        for it in todo:
            build_item(root, it, config)
            done += 1
            progress("shapes", done / len(items))
    else:
        raw = config.to_dict()
        with mp.get_context("spawn").Pool(workers, initializer=_worker_init) as pool:
            for _ in pool.imap_unordered(_build_one, [(str(root), it, raw) for it in todo]):
                done += 1
                progress("shapes", done / len(items))
    index = make_index(config, items)
    with atomic_path(root / "index.json") as tmp:
        tmp.write_text(json.dumps(index, indent=1) + "\n")
    return index


def make_index(config: DatasetConfig, items: list[Item]) -> dict:
    """The index.json contents (JSON types only: lists, not tuples)."""
    return json.loads(
        json.dumps(
            {
                "format": DATA_FORMAT,
                "config": config.to_dict(),
                "families": list(config.families),
                "items": [
                    {
                        "name": it.name,
                        "split": it.split,
                        "family": it.family,
                        "seed": it.seed,
                        "npz": f"shapes/{it.name}.npz",
                        "images": [f"images/{it.name}_{k}.png" for k in range(config.images_per_shape)],
                    }
                    for it in items
                ],
            }
        )
    )


def _check_or_write_config(root: Path, config: DatasetConfig) -> None:
    path = root / "config.json"
    if path.exists():
        try:
            old = DatasetConfig.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as e:
            raise ConfigError(f"{path}: unreadable dataset config ({e})") from e
        if old != config:
            raise ConfigError(f"{root}: holds a dataset built with another config; use a new folder")
        return
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(config.to_dict(), indent=2) + "\n")


def load_index(root: Path) -> dict:
    path = Path(root) / "index.json"
    try:
        index = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise InputError(f"{root}: no index.json (build the dataset first)") from e
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: unreadable ({e})") from e
    if index.get("format") != DATA_FORMAT:
        raise InputError(f"{path}: not a {DATA_FORMAT} index")
    return index


# ----------------------------------------------------------------------------------------------------------------
# Reading


class ShapeDataset(TorchDataset):
    """Training examples from a dataset folder (a map-style torch Dataset, for torch.utils.data.DataLoader).

    Each item is a dict of torch tensors:
        surface [n_surface, 6], sharp [n_sharp, 6]   random subsets of the stored points (xyz + normal)
        points [n_queries, 3], sdf [n_queries], occupancy [n_queries]
            a random subset keeping the stored ratio of uniform to near-surface queries
        image [H, W, 4] uint8 (one of the shape's images), or image_transform(rgba array) if given
        family (int index into `families`), and "name" (str)
    Counts left as None return everything stored. Subsets depend on (seed, epoch, index): call set_epoch(e) for
    fresh subsets each epoch (DataLoader workers then stay reproducible).
    """

    def __init__(
        self,
        root: Path,
        split: str = "train",
        n_surface: int | None = None,
        n_sharp: int | None = None,
        n_queries: int | None = None,
        images: bool = True,
        image_transform: Callable[[np.ndarray], object] | None = None,
        seed: int = 0,
    ):
        self.root = Path(root)
        index = load_index(self.root)
        if split not in ("train", "heldout", "all"):
            raise InputError(f"split must be train, heldout or all, not {split!r}")
        self.items = [it for it in index["items"] if split == "all" or it["split"] == split]
        self.families = index["families"]
        self.n_surface, self.n_sharp, self.n_queries = n_surface, n_sharp, n_queries
        self.images, self.image_transform = images, image_transform
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        it = self.items[i]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        with np.load(self.root / it["npz"]) as z:
            data = {k: z[k] for k in ("surface", "sharp", "points", "sdf", "occupancy", "n_uniform")}
        out = {
            "surface": torch.from_numpy(_subset(data["surface"], self.n_surface, rng)),
            "sharp": torch.from_numpy(_subset(data["sharp"], self.n_sharp, rng)),
            "family": self.families.index(it["family"]),
            "name": it["name"],
        }
        q = _query_subset(len(data["points"]), int(data["n_uniform"]), self.n_queries, rng)
        out["points"] = torch.from_numpy(data["points"][q])
        out["sdf"] = torch.from_numpy(data["sdf"][q])
        out["occupancy"] = torch.from_numpy(data["occupancy"][q])
        if self.images and it["images"]:
            path = self.root / it["images"][int(rng.integers(len(it["images"])))]
            rgba = np.asarray(Image.open(path).convert("RGBA"))
            out["image"] = self.image_transform(rgba) if self.image_transform else torch.from_numpy(rgba.copy())
        return out


def _subset(a: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    if n is None or n >= len(a):
        return a if n is None else a[rng.integers(len(a), size=n)]  # asking for more than stored: resample
    return a[rng.choice(len(a), n, replace=False)]


def _query_subset(total: int, n_uniform: int, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of n queries, uniform and near-surface ones in their stored proportion."""
    if n is None:
        return np.arange(total)
    k = min(int(round(n * n_uniform / max(total, 1))), n_uniform)
    near = total - n_uniform
    uni = rng.choice(n_uniform, k, replace=k > n_uniform)
    nr = n_uniform + rng.choice(near, n - k, replace=(n - k) > near) if near else rng.choice(n_uniform, n - k)
    return np.concatenate([uni, nr])
