"""What `latentgen info` reports: versions, device, rasterizer backends, weights found."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path

from . import __version__

PACKAGES = ("torch", "numpy", "trimesh", "pymeshlab", "xatlas", "numba", "diffusers", "transformers", "safetensors")

# Shipped weights live next to the package in a source checkout; LATENTGEN_WEIGHTS overrides.
SHIPPED_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


def weights_roots() -> list[Path]:
    roots = []
    if env := os.environ.get("LATENTGEN_WEIGHTS"):
        roots.append(Path(env))
    roots.append(SHIPPED_WEIGHTS)
    return roots


def default_weights() -> Path:
    """What `--weights` means when it is not given: $LATENTGEN_WEIGHTS, else the shipped `weights/tiny`."""
    from .errors import WeightsError
    from .models.checkpoint import GET_WEIGHTS_HINT

    if env := os.environ.get("LATENTGEN_WEIGHTS"):
        return Path(env)
    shipped = SHIPPED_WEIGHTS / "tiny"
    if shipped.is_dir():
        return shipped
    raise WeightsError(f"no weights given and none shipped in {shipped}; {GET_WEIGHTS_HINT}")


def find_weights() -> dict[str, str]:
    """Model folders (holding a config.json or config.yaml) under the weights roots."""
    found: dict[str, str] = {}
    for root in weights_roots():
        if not root.is_dir():
            continue
        for cfg in sorted([*root.glob("**/config.json"), *root.glob("**/config.yaml")]):
            found[str(cfg.parent.relative_to(root)) or "."] = str(cfg.parent)
    return found


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def rasterizer_backends() -> dict[str, str]:
    import importlib.util

    import torch

    nvdr = "not installed (pip install diffrp-nvdiffrast)"
    if importlib.util.find_spec("nvdiffrast") is not None:
        nvdr = "available" if torch.cuda.is_available() else "installed, needs a CUDA GPU"
    return {"cpu": "available (numba)", "nvdiffrast": nvdr}


def collect_info(device: str = "auto") -> dict:
    import torch

    from .runtime import pick_runtime

    rt = pick_runtime(device)
    dev = {
        "selected": str(rt.device),
        "default dtype": str(rt.dtype).replace("torch.", ""),
        "cuda available": torch.cuda.is_available(),
        "cpu threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        dev["gpu"] = torch.cuda.get_device_name(0)
    weights = find_weights() or {"(none)": "no weights found; pass --weights DIR or set LATENTGEN_WEIGHTS"}
    return {
        "latentgen": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "packages": {p: _version(p) for p in PACKAGES},
        "device": dev,
        "rasterizers": rasterizer_backends(),
        "weights": weights,
    }
