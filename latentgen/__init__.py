"""latentgen: a picture of an object -> a textured 3D asset, through a 3D latent diffusion pipeline.

The library API mirrors the CLI stages; every function here is what the matching command calls.
"""

import os as _os

__version__ = "0.1.0"

# numba tries TBB first and warns when the installed TBB is too old; its own work queue needs nothing extra
_os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

# The public names, imported on first use: `latentgen --help` and `--version` should not wait for torch.
_EXPORTS = {
    "artifacts": ["Latent", "View", "ViewSet", "load_latent", "load_viewset", "save_latent", "save_viewset"],
    "bake": ["BakeOptions", "bake"],
    "camera": ["Camera", "orbit_camera"],
    "errors": ["ConfigError", "DeviceError", "InputError", "LatentgenError", "StageError", "WeightsError"],
    "export": ["ExportOptions", "export"],
    "meshio": ["load_mesh", "normalize_unit_cube"],
    "paint": ["PaintOptions", "paint"],
    "runtime": ["Runtime", "pick_runtime"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'latentgen' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])


__all__ = [
    "BakeOptions",
    "PaintOptions",
    "bake",
    "paint",
    "Camera",
    "ConfigError",
    "DeviceError",
    "ExportOptions",
    "InputError",
    "Latent",
    "LatentgenError",
    "Runtime",
    "StageError",
    "View",
    "ViewSet",
    "WeightsError",
    "export",
    "load_latent",
    "load_mesh",
    "load_viewset",
    "normalize_unit_cube",
    "orbit_camera",
    "pick_runtime",
    "save_latent",
    "save_viewset",
]
