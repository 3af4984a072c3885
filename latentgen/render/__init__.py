"""Rasterization for previews, texture baking and view rendering.

`get_rasterizer()` returns a backend implementing the `Rasterizer` protocol: "cpu" (numba, always available) or
"nvdiffrast" (CUDA, optional extra `latentgen[cuda]`). Both return numpy `Fragments` (face id, perspective-correct
barycentrics, depth) under the same conventions, so everything downstream (interpolate, sample_texture,
render_mesh, turntable_grid, baking) is backend-independent.
"""

from __future__ import annotations

import importlib.util
import logging

from ..errors import DeviceError, InputError
from .base import Fragments, Rasterizer
from .preview import frame_cameras, turntable_grid
from .shading import corner_normals, interpolate, render_mesh, sample_texture

__all__ = [
    "BACKENDS",
    "Fragments",
    "Rasterizer",
    "corner_normals",
    "frame_cameras",
    "get_rasterizer",
    "interpolate",
    "render_mesh",
    "sample_texture",
    "turntable_grid",
]

BACKENDS = ("auto", "cpu", "nvdiffrast")
log = logging.getLogger(__name__)


def get_rasterizer(name: str = "auto", device=None) -> Rasterizer:
    """Pick a rasterizer backend.

    name: "cpu", "nvdiffrast", or "auto" (nvdiffrast when a CUDA device is in use and nvdiffrast works, else cpu).
    device: torch device (or string) for nvdiffrast; None means "cuda" when asked for nvdiffrast, "auto" otherwise.
    Raises DeviceError when nvdiffrast is asked for but CUDA or the nvdiffrast package is missing, InputError for an
    unknown name.
    """
    if name not in BACKENDS:
        raise InputError(f"unknown rasterizer {name!r}: choose one of {', '.join(BACKENDS)}")
    if name == "cpu":
        return _cpu()
    if name == "auto" and (str(device).startswith("cpu") or importlib.util.find_spec("nvdiffrast") is None):
        return _cpu()  # decided without importing torch, which takes seconds
    from ..runtime import pick_device  # the one place that looks at the hardware

    if name == "nvdiffrast":
        from .nvdiffrast import NvdiffrastRasterizer

        return NvdiffrastRasterizer(pick_device(str(device) if device is not None else "cuda"))
    dev = pick_device(str(device) if device is not None else "auto")
    if dev.type != "cuda":
        return _cpu()
    from .nvdiffrast import NvdiffrastRasterizer

    try:
        return NvdiffrastRasterizer(dev)
    except DeviceError as e:
        log.info("rasterizer: falling back to cpu (%s)", e)
        return _cpu()


def _cpu() -> Rasterizer:
    from .cpu import CpuRasterizer  # numba import and cache load only when used

    return CpuRasterizer()
