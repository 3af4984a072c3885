"""JSON config files for config dataclasses: written next to weights, unknown keys rejected."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError
from .files import atomic_path

T = TypeVar("T")


def config_from_dict(cls: type[T], raw: dict[str, Any], source: str = "config") -> T:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a JSON object")
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    if unknown := raw.keys() - known:
        raise ConfigError(f"{source}: unknown keys {sorted(unknown)} for {cls.__name__}")
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    except TypeError as e:
        raise ConfigError(f"{source}: {e}") from e


def read_json_object(
    path: Path, missing: type[Exception] = ConfigError, missing_hint: str = "no config file"
) -> dict[str, Any]:
    """A JSON file holding one object. A missing file raises `missing` (a WeightsError where a whole weights
    folder is absent), anything unreadable or not an object a ConfigError."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise missing(f"{path}: {missing_hint}") from e
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: unreadable config ({e})") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return raw


def read_config(cls: type[T], path: Path) -> T:
    return config_from_dict(cls, read_json_object(path), str(path))


def config_to_dict(config: Any) -> dict[str, Any]:
    if not is_dataclass(config):
        raise TypeError(f"{config!r} is not a dataclass")
    return asdict(config)


def write_config(config: Any, path: Path) -> None:
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(config_to_dict(config), indent=2, sort_keys=True) + "\n")


def config_hash(config: Any) -> str:
    """Short stable hash of a config, stored in latent files to catch mismatched decoders."""
    blob = json.dumps(config_to_dict(config), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
