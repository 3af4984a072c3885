"""The one place that looks at the hardware and picks device and dtype."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import DeviceError, InputError

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    dtype: torch.dtype  # weights/activations; sampler state and SDF grids stay float32

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"


def pick_device(device: str = "auto") -> torch.device:
    if device not in DEVICES and not device.startswith("cuda:"):
        raise InputError(f"--device {device}: choose one of {', '.join(DEVICES)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"--device {device}: no CUDA GPU is visible to torch {torch.__version__}")
    return dev


def pick_runtime(device: str = "auto", dtype: str = "auto") -> Runtime:
    """Resolve `--device` / `--dtype`. fp16 is never chosen on CPU (its matmuls are ~100x slower there)."""
    dev = pick_device(device)
    if dtype == "auto":
        dtype = "float16" if dev.type == "cuda" else "float32"
    if dtype not in DTYPES:
        raise InputError(f"--dtype {dtype}: choose one of auto, {', '.join(DTYPES)}")
    return Runtime(dev, DTYPES[dtype])
