"""latentgen: a picture of an object -> a textured 3D asset, through a 3D latent diffusion pipeline.

The library API mirrors the CLI stages; every function here is what the matching command calls.
"""

import os as _os

__version__ = "0.1.0"

# numba tries TBB first and warns when the installed TBB is too old; its own work queue needs nothing extra
_os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

from .artifacts import Latent, View, ViewSet, load_latent, load_viewset, save_latent, save_viewset  # noqa: E402
from .bake import BakeOptions, bake  # noqa: E402
from .camera import Camera, orbit_camera  # noqa: E402
from .errors import ConfigError, DeviceError, InputError, LatentgenError, StageError, WeightsError  # noqa: E402
from .export import ExportOptions, export  # noqa: E402
from .meshio import load_mesh, normalize_unit_cube  # noqa: E402
from .paint import PaintOptions, paint  # noqa: E402
from .runtime import Runtime, pick_runtime  # noqa: E402

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
