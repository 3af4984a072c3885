"""Stage files: typed in-memory artifacts and their versioned on-disk formats.

| artifact | on disk |
| `Latent`  | `*.latent`: safetensors, tensor `tokens` float32 [N, C]; metadata format/model/config_hash/seed |
| `ViewSet` | folder: `views.json` + one PNG per image (colour, and optional normal/position maps) |
Meshes between stages are `.ply` (meshio.py); textured meshes `.glb`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from .camera import Camera
from .errors import InputError
from .files import atomic_dir, atomic_path

LATENT_FORMAT = "latentgen.latent/1"
VIEWSET_FORMAT = "latentgen.views/1"


@dataclass
class Latent:
    """A shape as a latent vector set. tokens: [N, C] float32 (unscaled: what the VAE decoder eats)."""

    tokens: torch.Tensor
    model: str = ""  # id of the ShapeVAE that can decode it
    config_hash: str = ""  # hash of that VAE's config, so a mismatched decoder can be spotted
    seed: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


def save_latent(latent: Latent, path: Path) -> None:
    meta = {
        "format": LATENT_FORMAT,
        "model": latent.model,
        "config_hash": latent.config_hash,
        "seed": "" if latent.seed is None else str(latent.seed),
        **{f"x_{k}": str(v) for k, v in latent.extra.items()},
    }
    tokens = latent.tokens.detach().to(torch.float32).cpu().contiguous()
    blob = _canonical_safetensors(save({"tokens": tokens}, metadata=meta))
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(blob)


def _canonical_safetensors(blob: bytes) -> bytes:
    """safetensors bytes with the JSON header re-written in sorted key order (data untouched).

    The library writes its metadata map in hash order, which changes from call to call; the same latent must
    give the same file bytes (same seed, same output). The header stays space-padded to 8 bytes, as written.
    """
    (size,) = struct.unpack("<Q", blob[:8])
    header = json.dumps(json.loads(blob[8 : 8 + size]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + blob[8 + size :]


def load_latent(path: Path) -> Latent:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such latent file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tokens = f.get_tensor("tokens") if "tokens" in f.keys() else None
    except (OSError, SafetensorError, ValueError) as e:
        raise InputError(f"{path}: not a latent file ({e})") from e
    if meta.get("format") != LATENT_FORMAT or tokens is None or tokens.ndim != 2:
        raise InputError(f"{path}: expected a {LATENT_FORMAT} file holding tokens [N, C]")
    if not torch.isfinite(tokens).all():
        raise InputError(f"{path}: latent holds NaN or infinite values")
    seed = meta.get("seed")
    extra = {k[2:]: v for k, v in meta.items() if k.startswith("x_")}
    return Latent(tokens, meta.get("model", ""), meta.get("config_hash", ""), int(seed) if seed else None, extra)


@dataclass
class View:
    """One view of a mesh: its camera, a colour image and optional geometry maps, all [H, W, *]."""

    camera: Camera
    color: np.ndarray | None = None  # [H, W, 3|4] uint8, alpha = where the view has content
    normal: np.ndarray | None = None  # [H, W, 3] uint8, world normal * 0.5 + 0.5
    position: np.ndarray | None = None  # [H, W, 3] uint8, encoded world position
    weight: float = 1.0  # how much the baker trusts this view
    name: str = ""


@dataclass
class ViewSet:
    views: list[View]
    meta: dict = field(default_factory=dict)  # source hashes, backend, ...


_MAPS = ("color", "normal", "position")


def save_viewset(views: ViewSet, folder: Path) -> None:
    """Write `folder/views.json` + PNGs atomically (the whole folder appears at once)."""
    entries = []
    with atomic_dir(Path(folder)) as tmp:
        for i, v in enumerate(views.views):
            entry = {"name": v.name or f"view_{i:02d}", "camera": v.camera.to_dict(), "weight": v.weight}
            for kind in _MAPS:
                arr = getattr(v, kind)
                if arr is None:
                    continue
                fname = f"view_{i:02d}_{kind}.png" if kind != "color" else f"view_{i:02d}.png"
                Image.fromarray(np.ascontiguousarray(arr)).save(tmp / fname)
                entry[kind] = fname
            entries.append(entry)
        doc = {"format": VIEWSET_FORMAT, "meta": views.meta, "views": entries}
        (tmp / "views.json").write_text(json.dumps(doc, indent=2) + "\n")


def _read_png(folder: Path, name: str, camera: Camera) -> np.ndarray:
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise InputError(f"{folder}/views.json: image name {name!r} must be a plain file name inside the folder")
    path = folder / name
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im.convert("RGBA" if im.mode in ("RGBA", "LA", "PA") else "RGB"))
    except FileNotFoundError as e:
        raise InputError(f"{path}: missing image listed in views.json") from e
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable image ({e})") from e
    if arr.shape[:2] != (camera.height, camera.width):
        raise InputError(
            f"{path}: image is {arr.shape[1]}x{arr.shape[0]} but its camera says {camera.width}x{camera.height}"
        )
    return arr


def load_viewset(folder: Path) -> ViewSet:
    folder = Path(folder)
    doc_path = folder / "views.json"
    if not folder.is_dir():
        raise InputError(f"{folder}: not a view-set folder")
    try:
        doc = json.loads(doc_path.read_text())
    except FileNotFoundError as e:
        raise InputError(f"{folder}: no views.json in the folder") from e
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{doc_path}: unreadable ({e})") from e
    if not isinstance(doc, dict) or doc.get("format") != VIEWSET_FORMAT:
        raise InputError(f"{doc_path}: expected format {VIEWSET_FORMAT}")
    views = []
    try:
        for i, e in enumerate(doc["views"]):
            cam = Camera.from_dict(e["camera"])
            maps = {k: _read_png(folder, e[k], cam) for k in _MAPS if k in e}
            views.append(
                View(cam, weight=float(e.get("weight", 1.0)), name=str(e.get("name", f"view_{i:02d}")), **maps)
            )
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{doc_path}: malformed view entry ({e})") from e
    if not views:
        raise InputError(f"{doc_path}: holds no views")
    return ViewSet(views, dict(doc.get("meta", {})))
