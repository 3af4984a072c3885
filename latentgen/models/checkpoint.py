"""Find, read and strictly load checkpoints: reference (Hunyuan3D-2) folders unchanged, and our own format.

Folder kinds:
* our own: `config.json` (the model's config dataclass) + `model.safetensors`;
* reference: `config.yaml` + `model{.fp16,}.{safetensors,ckpt}`. The YAML is either one component
  (`{target, params}`, e.g. `hunyuan3d-vae-v2-0`) or a combined pipeline (`{model, vae, conditioner, ...}`,
  e.g. `hunyuan3d-dit-v2-0`) whose single weights file prefixes keys with `model.` / `vae.` / `conditioner.`.
* a model root holding such folders (`tencent/Hunyuan3D-2` layout, or our `weights/tiny/`): `resolve_checkpoint`
  picks one for a component, optionally by `variant`.

Only tensors and configs are read: safetensors, or `torch.load(weights_only=True)`; YAML via `yaml.safe_load`;
no `target` class is ever imported. Loading is strict (missing / unexpected / mis-shaped / non-float tensors
are a WeightsError naming them) and assigns tensors into a model built on the meta device, so a big model
never exists twice in memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import torch
import yaml
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from ..config import write_config
from ..errors import ConfigError, WeightsError
from ..files import atomic_dir

M = TypeVar("M", bound=nn.Module)

# preference order inside one folder (the reference default is variant "fp16" + safetensors)
WEIGHT_FILES = ("model.safetensors", "model.fp16.safetensors", "model.fp16.ckpt", "model.ckpt")
# folder names of our own format per component, in a model root
OWN_FOLDERS = {"vae": "shapevae", "model": "dit", "conditioner": "conditioner"}
# reference config `target` class names per component (the module path is ignored)
REFERENCE_TARGETS = {"vae": ("ShapeVAE",), "model": ("Hunyuan3DDiT",), "conditioner": ("SingleImageEncoder",)}
GET_WEIGHTS_HINT = (
    "pass --weights DIR: a checkpoint folder (config.yaml or config.json + model*.safetensors) or a model root "
    "holding them, e.g. `huggingface-cli download tencent/Hunyuan3D-2 --include 'hunyuan3d-vae-v2-0/*' "
    "--local-dir DIR` (encoding needs an encoder-bearing VAE such as tencent/Hunyuan3D-2mini "
    "hunyuan3d-vae-v2-mini-withencoder)"
)


# ---------------------------------------------------------------------------------------------- reading


def read_state(path: Path, mmap: bool = False) -> dict[str, Tensor]:
    """All tensors of a .safetensors / .ckpt / .pt / .pth file, as stored (dtype and names unchanged).

    `mmap` (pickle files only) leaves tensor data on disk until touched: for peeking at names."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such checkpoint file")
    try:
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt") as f:
                return {k: f.get_tensor(k) for k in f.keys()}
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)  # weights_only: no code runs
    except (OSError, SafetensorError, RuntimeError, ValueError, EOFError) as e:
        raise WeightsError(f"{path}: unreadable checkpoint ({e})") from e
    if isinstance(state, dict) and set(state) == {"state_dict"}:  # Lightning-style wrapper
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()):
        raise WeightsError(f"{path}: expected a flat dict of named tensors")
    return state


def state_keys(path: Path) -> set[str]:
    """Tensor names of a checkpoint file without reading the tensors (safetensors header / mmap'd pickle)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                return set(f.keys())
        except (OSError, SafetensorError) as e:
            raise WeightsError(f"{path}: unreadable checkpoint ({e})") from e
    return set(read_state(path, mmap=True))


def split_components(state: dict[str, Tensor]) -> dict[str, dict[str, Tensor]]:
    """Combined reference file {'model.x': t, 'vae.y': u, ...} -> {'model': {'x': t}, 'vae': {'y': u}, ...}."""
    parts: dict[str, dict[str, Tensor]] = {}
    for key, tensor in state.items():
        component, dot, rest = key.partition(".")
        if not dot:
            raise WeightsError(f"tensor {key!r} has no component prefix (expected model./vae./conditioner.)")
        parts.setdefault(component, {})[rest] = tensor
    return parts


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: unreadable config ({e})") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping")
    return raw


def reference_params(raw: dict[str, Any], component: str, source: str) -> dict[str, Any] | None:
    """Constructor params of `component` in a reference config.yaml, or None if it does not define it.

    Accepts a single-component file ({target, params}) whose target class matches, or a combined file with a
    top-level `component` entry. Nothing is imported: only the class name of `target` is compared."""
    if "target" in raw:
        entry = raw
    elif isinstance(raw.get(component), dict):
        entry = raw[component]
    else:
        return None
    target = str(entry.get("target", ""))
    if target.rsplit(".", 1)[-1] not in REFERENCE_TARGETS.get(component, ()):
        return None
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{source}: `params` of {target} is not a mapping")
    return dict(params)


# ---------------------------------------------------------------------------------------------- folders


@dataclass(frozen=True)
class Checkpoint:
    """One component's weights: where they are and the raw constructor params found next to them."""

    folder: Path
    weights: Path
    params: dict[str, Any] = field(hash=False)
    component: str  # "vae", "model", "conditioner"
    prefix: str = ""  # "vae." when the component sits in a combined file
    reference: bool = True  # config.yaml (reference) or config.json (ours)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def standalone(self) -> bool:
        return not self.prefix

    @cached_property
    def keys(self) -> frozenset[str]:
        n = len(self.prefix)
        return frozenset(k[n:] for k in state_keys(self.weights) if k.startswith(self.prefix))

    def read(self) -> dict[str, Tensor]:
        """This component's tensors, prefix stripped. From a combined safetensors file only this component's
        tensors are read (the VAE is a few % of a DiT checkpoint)."""
        if not self.prefix:
            return read_state(self.weights)
        if self.weights.suffix == ".safetensors":
            n = len(self.prefix)
            try:
                with safe_open(str(self.weights), framework="pt") as f:
                    state = {k[n:]: f.get_tensor(k) for k in f.keys() if k.startswith(self.prefix)}
            except (OSError, SafetensorError) as e:
                raise WeightsError(f"{self.weights}: unreadable checkpoint ({e})") from e
        else:
            state = split_components(read_state(self.weights)).get(self.prefix.rstrip("."), {})
        if not state:
            raise WeightsError(f"{self.weights}: no {self.prefix}* tensors for component {self.component!r}")
        return state

    def __str__(self) -> str:
        return f"{self.weights}" + (f" [{self.prefix}*]" if self.prefix else "")


def weights_file(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise WeightsError(f"{folder}: no weights file (looked for {', '.join(WEIGHT_FILES)})")


def open_checkpoint(folder: Path, component: str) -> Checkpoint | None:
    """The checkpoint of `component` in one folder, or None if the folder's config does not describe it."""
    folder = Path(folder)
    if (folder / "config.json").is_file():
        if folder.name != OWN_FOLDERS.get(component) and not _json_describes(folder / "config.json", component):
            return None
        try:
            params = json.loads((folder / "config.json").read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"{folder / 'config.json'}: unreadable config ({e})") from e
        return Checkpoint(folder, weights_file(folder), params, component, "", reference=False)
    if (folder / "config.yaml").is_file():
        raw = read_yaml(folder / "config.yaml")
        params = reference_params(raw, component, str(folder / "config.yaml"))
        if params is None:
            return None
        prefix = "" if "target" in raw else f"{component}."
        return Checkpoint(folder, weights_file(folder), params, component, prefix, reference=True)
    return None


_JSON_MARKERS = {"vae": {"embed_dim", "num_decoder_layers"}, "model": {"depth_single_blocks"}}


def _json_describes(path: Path, component: str) -> bool:
    """A config.json not in a conventionally named folder: recognise the component by its telltale keys."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(raw, dict) and _JSON_MARKERS.get(component, {"\0"}) <= raw.keys()


def is_checkpoint_folder(folder: Path) -> bool:
    return (folder / "config.json").is_file() or (folder / "config.yaml").is_file()


def _variant_matches(name: str, variant: str) -> bool:
    """`--variant turbo` matches hunyuan3d-vae-v2-0-turbo; `mini-turbo`, `0`, or a full folder name also work."""
    if name == variant:
        return True
    tokens, want = name.split("-"), variant.split("-")
    return any(tokens[i : i + len(want)] == want for i in range(len(tokens) - len(want) + 1))


def resolve_checkpoint(
    path: Path,
    component: str,
    variant: str | None = None,
    accept: Callable[[Checkpoint], bool] | None = None,
    prefer: Iterable[str] = (),
    need: str = "",
) -> Checkpoint:
    """The checkpoint of `component` under `path` (a checkpoint folder, or a model root of such folders).

    In a root, candidates are the sub-folders describing the component (stand-alone or inside a combined file);
    `variant` filters them by name; `accept` filters by content (e.g. "has encoder weights", described by `need`
    in errors); among the rest, names listed in `prefer` win, then stand-alone over combined, then the shortest
    name (the plain `hunyuan3d-vae-v2-0` before its `-turbo` sibling)."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"{path}: no such weights folder; {GET_WEIGHTS_HINT}")
    if not path.is_dir():
        raise WeightsError(f"{path}: --weights must be a folder; {GET_WEIGHTS_HINT}")
    if is_checkpoint_folder(path):
        ckpt = open_checkpoint(path, component)
        if ckpt is None:
            raise WeightsError(f"{path}: its config does not describe a {component!r} model; {GET_WEIGHTS_HINT}")
        if variant is not None and not _variant_matches(ckpt.name, variant):
            raise ConfigError(f"--variant {variant}: {path} is a single checkpoint folder ({ckpt.name})")
        if accept is not None and not accept(ckpt):
            raise WeightsError(f"{ckpt}: {need or 'not usable here'}; {GET_WEIGHTS_HINT}")
        return ckpt
    found = [c for sub in sorted(p for p in path.iterdir() if p.is_dir()) if (c := open_checkpoint(sub, component))]
    if not found:
        raise WeightsError(f"{path}: no {component!r} checkpoint folder inside; {GET_WEIGHTS_HINT}")
    names = ", ".join(c.name for c in found)
    if variant is not None:
        found = [c for c in found if _variant_matches(c.name, variant)]
        if not found:
            raise ConfigError(f"--variant {variant}: no match under {path} (available: {names})")
    if accept is not None:
        found = [c for c in found if accept(c)]
        if not found:
            raise WeightsError(f"{path}: none of {names} {need or 'is usable here'}; {GET_WEIGHTS_HINT}")
    ranked = list(prefer)
    return min(
        found,
        key=lambda c: (
            ranked.index(c.name) if c.name in ranked else len(ranked),
            not c.standalone,
            len(c.name),
            c.name,
        ),
    )


# ---------------------------------------------------------------------------------------------- loading


def _names(keys: Iterable[str], limit: int = 4) -> str:
    keys = sorted(keys)
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def check_state(model: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """WeightsError naming every kind of mismatch between `state` and the model's own state dict."""
    want = model.state_dict()
    missing = want.keys() - state.keys()
    extra = state.keys() - want.keys()
    common = want.keys() & state.keys()
    shaped = {k for k in common if tuple(want[k].shape) != tuple(state[k].shape)}
    # a float parameter takes any float dtype (fp16 files load into fp32/bf16 models); anything else must match
    typed = {
        k
        for k in common - shaped
        if (want[k].is_floating_point() != state[k].is_floating_point())
        or (not want[k].is_floating_point() and want[k].dtype != state[k].dtype)
    }
    if not (missing or extra or shaped or typed):
        return
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({_names(missing)})")
    if extra:
        problems.append(f"{len(extra)} unexpected ({_names(extra)})")
    if shaped:
        k = sorted(shaped)[0]
        detail = f"{k!r} is {list(state[k].shape)}, model wants {list(want[k].shape)}"
        problems.append(
            f"{len(shaped)} mis-shaped ({detail}" + (f"; also {_names(shaped - {k})})" if len(shaped) > 1 else ")")
        )
    if typed:
        k = sorted(typed)[0]
        detail = f"{k!r} is {state[k].dtype}, model wants {want[k].dtype}"
        problems.append(
            f"{len(typed)} of wrong dtype ({detail}" + (f"; also {_names(typed - {k})})" if len(typed) > 1 else ")")
        )
    raise WeightsError(f"{source}: checkpoint does not fit the model: " + "; ".join(problems))


def load_exact(
    model: nn.Module,
    state: dict[str, Tensor],
    source: str,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> nn.Module:
    """Strictly load `state` into `model` (built on any device, typically meta), assigning the tensors.

    Float tensors are cast to `dtype` (default: each parameter's own dtype) and moved to `device` one by one,
    and popped from `state` as they go, so peak memory stays near one copy of the model."""
    check_state(model, state, source)
    want = model.state_dict()
    for key in list(state):
        tensor, own = state.pop(key), want[key]
        to_dtype = (dtype or own.dtype) if tensor.is_floating_point() else tensor.dtype
        to_device = device if device is not None else ("cpu" if own.is_meta else own.device)
        state[key] = tensor.to(device=to_device, dtype=to_dtype).contiguous()
    model.load_state_dict(state, strict=True, assign=True)
    leftovers = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftovers:  # a tensor the checkpoint cannot fill (non-persistent buffer): a model bug, not a user error
        raise RuntimeError(f"{type(model).__name__}: {_names(leftovers)} left on the meta device after loading")
    return model


def build_exact(
    factory: Callable[[], M], state: dict[str, Tensor], source: str, dtype: torch.dtype, device: torch.device | str
) -> M:
    """`factory()` on the meta device (no memory, no random init), then `load_exact`; returns it in eval mode."""
    with torch.device("meta"):
        model = factory()
    load_exact(model, state, source, dtype, device)
    return model.eval().requires_grad_(False)


def save_checkpoint(model: nn.Module, config: Any, folder: Path) -> None:
    """Our own format: `folder/config.json` (the config dataclass) + `folder/model.safetensors`, written atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_dir(Path(folder)) as tmp:
        write_config(config, tmp / "config.json")
        weights = tmp / "model.safetensors"
        save_file(tensors, str(weights), metadata={"format": "latentgen.weights/1"})
        # safetensors writes its file 0600; give it the mode the umask gives config.json (the temp folder was
        # made under the umask), so weights exported for a team or a server are readable like any other output
        os.chmod(weights, tmp.stat().st_mode & 0o666)
