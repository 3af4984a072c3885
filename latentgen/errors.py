"""Typed errors. Each carries the exit code the CLI returns; str(e) is the one line it prints."""

from __future__ import annotations


class LatentgenError(Exception):
    """Base for errors the user can act on."""

    exit_code = 4


class InputError(LatentgenError):
    """An unusable file, path or value given by the user (exit 2)."""

    exit_code = 2


class OptionError(InputError):
    """An option value that cannot work (--steps 0, --resolution 1, an unknown --variant) (exit 2)."""


class ConfigError(LatentgenError):
    """A bad config.json / config.yaml next to weights, or an impossible model config (exit 3)."""

    exit_code = 3


class WeightsError(LatentgenError):
    """Weights missing, unreadable, or whose keys/shapes/dtypes differ from the model (exit 3)."""

    exit_code = 3


class DeviceError(LatentgenError):
    """A device or backend was asked for but is not there (CUDA, nvdiffrast) (exit 4)."""

    exit_code = 4


class StageError(LatentgenError):
    """A stage failed at run time on valid input (e.g. no surface found) (exit 4)."""

    exit_code = 4


EXIT_OK = 0
EXIT_BATCH_FAILED = 1
EXIT_USAGE = 2
EXIT_WEIGHTS = 3
EXIT_RUNTIME = 4
