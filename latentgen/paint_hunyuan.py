"""The `hunyuan` paint backend: Hunyuan3D-Paint v2.0 multi-view diffusion, after Hunyuan3D-Delight.

    picture (front view) --recentre (border 0.2)--> --delight (InstructPix2Pix)--> reference RGB
    mesh --canonical cameras--> normal + position maps (reference encoding, latentgen.views)
    reference, maps --VAE (sampled posterior)--> latents --EulerAncestral v-prediction + CFG, PaintUNet--> views

Facts of the released models: ../shared/reference/hunyuan3d2-paint-anatomy.md. Weights come from a local ROOT
holding `hunyuan3d-paint-v2-0/` and `hunyuan3d-delight-v2-0/` (tencent/Hunyuan3D-2 layout). Only configs (JSON)
and tensors (safetensors, or torch.load(weights_only=True)) are read; the paint folder's `unet/modules.py` is
never imported. Differences from hy3dgen, on purpose: the reference branch runs once per generation instead of
every step (it does not depend on the step: same result); steps, guidance, seed, views and view size are
options; the delight model runs at the view size (hy3dgen: 512, the default); the sampler state is float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, UNet2DConditionModel
from PIL import Image
from torch import Tensor, nn

from .artifacts import View
from .config import read_json_object
from .errors import ConfigError, InputError, WeightsError
from .models.checkpoint import build_exact, read_state, state_keys
from .models.paint_unet import PaintUNet, init_kwargs
from .paint import PaintRequest, register_backend
from .runtime import Runtime, pick_runtime
from .views import CANONICAL_VIEWS, ViewSpec, geometry_maps, view_camera

ProgressFn = Callable[[str, float], None]
PAINT_FOLDER = "hunyuan3d-paint-v2-0"
DELIGHT_FOLDER = "hunyuan3d-delight-v2-0"
GET_WEIGHTS_HINT = (
    "download them with `huggingface-cli download tencent/Hunyuan3D-2 --include 'hunyuan3d-paint-v2-0/*' "
    "'hunyuan3d-delight-v2-0/*' --local-dir ROOT` and pass --weights ROOT"
)
RECENTER_BORDER = 0.2  # hy3dgen recentres the picture with this border before delight
DELIGHT_SEED = 42  # hy3dgen's delight noise: torch.manual_seed(42); ours is DELIGHT_SEED + seed
DELIGHT_COLOR_SCALE = 0.95  # colour re-matching of the delight output to the input (recorrect_rgb)
DEFAULT_VIEW_WEIGHT = 0.1  # bake weight of a --views entry that is not one of the canonical views
# camera id of a view: 12 azimuth bins of 30 deg at elevations -20 / 0 / 20, 4 bins of 90 deg at -90 / +90
ELEVATION_BINS = {-20: (1, 0), 0: (1, 12), 20: (1, 24), -90: (3, 36), 90: (3, 40)}  # elevation: (divisor, offset)


def _quiet(phase: str, done: float) -> None: ...


# ---------------------------------------------------------------------------------------------------------------
# Options and views


@dataclass(frozen=True)
class HunyuanOptions:
    steps: int = 30  # denoising steps of the paint model
    guidance: float = 2.0  # classifier-free guidance scale (<= 1: no CFG, one UNet pass per step)
    seed: int = 0
    views: tuple[ViewSpec, ...] = CANONICAL_VIEWS  # what to paint: (azimuth, elevation, bake weight, name)
    delight: bool = True  # remove baked-in lighting from the picture first
    delight_steps: int = 50
    map_supersample: int = 4  # geometry maps rendered this much larger, then resized (hy3dgen: 2048 -> 512)
    offload: bool = False  # keep models on the CPU, each moved to the GPU only while it runs

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= 1000 or not 1 <= self.delight_steps <= 1000:
            raise InputError(f"--steps {self.steps}: must be within 1..1000")
        if not math.isfinite(self.guidance) or self.guidance < 0:
            raise InputError(f"--guidance {self.guidance}: must be a non-negative number")
        if not 1 <= self.map_supersample <= 8:
            raise InputError(f"map_supersample {self.map_supersample}: must be within 1..8")
        if not self.views:
            raise InputError("--views: at least one view")
        for v in self.views:
            camera_id(v.azimuth, v.elevation)  # raises for an elevation the model has no camera id for


def camera_id(azimuth: float, elevation: float) -> int:
    """The paint model's camera id (0..43) of a view, as hy3dgen computes it from degrees."""
    if elevation not in ELEVATION_BINS:
        raise InputError(
            f"view elevation {elevation:g}: the paint model knows only {', '.join(map(str, sorted(ELEVATION_BINS)))}"
        )
    divisor, offset = ELEVATION_BINS[int(elevation)]
    return int(((azimuth // 30 + 9) % 12) // divisor + offset)


def parse_views(text: str) -> tuple[ViewSpec, ...]:
    """`--views` "AZ:EL[:WEIGHT],..." (degrees) -> view specs; "canonical" (or "") is the six canonical views.

    A view without a weight takes the canonical view's weight at the same angles, else DEFAULT_VIEW_WEIGHT."""
    if text.strip() in ("", "canonical"):
        return CANONICAL_VIEWS
    canonical = {(s.azimuth % 360, s.elevation): s for s in CANONICAL_VIEWS}
    specs = []
    for item in text.split(","):
        parts = item.strip().split(":")
        try:
            if len(parts) not in (2, 3):
                raise ValueError
            az, el = float(parts[0]), float(parts[1])
            known = canonical.get((az % 360, el))
            weight = float(parts[2]) if len(parts) == 3 else known.weight if known else DEFAULT_VIEW_WEIGHT
        except ValueError:
            raise InputError(f"--views {text!r}: expected AZ:EL[:WEIGHT] entries in degrees, e.g. 0:0,90:0") from None
        if not (math.isfinite(weight) and weight >= 0):
            raise InputError(f"--views {item.strip()!r}: weight must be a non-negative number")
        camera_id(az, el)
        name = known.name if known and len(parts) == 2 else f"az{az:g}_el{el:g}"
        specs.append(ViewSpec(az, el, weight, name))
    return tuple(specs)


# ---------------------------------------------------------------------------------------------------------------
# Weights


def _read_json(path: Path) -> dict[str, Any]:
    return read_json_object(path, WeightsError, f"missing; {GET_WEIGHTS_HINT}")


def find_weights(root: Path, need_delight: bool = True) -> tuple[Path, Path | None]:
    """ROOT (or one folder below it, e.g. a HY3DGEN_MODELS tree) -> (paint folder, delight folder or None)."""
    root = Path(root)
    if not root.is_dir():
        raise WeightsError(f"{root}: no such weights folder; {GET_WEIGHTS_HINT}")
    homes = [root] if (root / PAINT_FOLDER).is_dir() else [p for p in sorted(root.iterdir()) if p.is_dir()]
    homes = [p for p in homes if (p / PAINT_FOLDER).is_dir()]
    if not homes:
        raise WeightsError(f"{root}: no {PAINT_FOLDER}/ inside; {GET_WEIGHTS_HINT}")
    if len(homes) > 1:
        raise ConfigError(
            f"{root}: several model folders hold {PAINT_FOLDER}/ ({', '.join(p.name for p in homes)}); pick one"
        )
    home = homes[0]
    delight = home / DELIGHT_FOLDER
    if need_delight and not delight.is_dir():
        raise WeightsError(f"{home}: no {DELIGHT_FOLDER}/ inside (or pass --no-delight); {GET_WEIGHTS_HINT}")
    return home / PAINT_FOLDER, delight if need_delight else None


def _weight_files(folder: Path, stems: Sequence[str]) -> list[Path]:
    """Existing weight files of a diffusers / transformers component, preferred first."""
    names = [f"{stem}{v}.{ext}" for ext in ("safetensors", "bin") for stem in stems for v in ("", ".fp16")]
    found = [folder / n for n in names if (folder / n).is_file()]
    if not found:
        raise WeightsError(f"{folder}: no weights file (looked for {', '.join(names)}); {GET_WEIGHTS_HINT}")
    return found


def _pick_weights(model: nn.Module, folder: Path, stems: Sequence[str]) -> Path:
    """The first weights file whose tensor names fit the model; else the preferred one (its load names the
    mismatch). The released paint folder holds a .bin (what hy3dgen reads) and a later .safetensors."""
    files = _weight_files(folder, stems)
    want = set(model.state_dict())
    return next((f for f in files if _fit(state_keys(f), want)), files[0])


def _fit(keys: set[str], want: set[str]) -> bool:
    return keys == want or {_strip(k, want) for k in keys} == want


def _strip(key: str, want: set[str]) -> str:
    """transformers 5 CLIPTextModel names its weights without the `text_model.` prefix older files carry."""
    return key.removeprefix("text_model.") if key not in want else key


DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model",)
TRANSFORMERS_WEIGHTS = ("model", "pytorch_model")


def _load(
    factory: Callable[[], nn.Module], folder: Path, stems: Sequence[str], rt: Runtime, dtype: torch.dtype
) -> nn.Module:
    """Strictly load the component in `folder` (names checked before any tensor is read into the model)."""
    with torch.device("meta"):
        probe = factory()
    path = _pick_weights(probe, folder, stems)
    want = set(probe.state_dict())
    state = {_strip(k, want): v for k, v in read_state(path).items()}
    return build_exact(factory, state, str(path), dtype, rt.device)


def _unet_config(folder: Path) -> dict[str, Any]:
    path = folder / "unet" / "config.json"
    config = _read_json(path)
    init_kwargs(UNet2DConditionModel, config, str(path))  # unknown keys -> ConfigError
    return config


def _vae(folder: Path, rt: Runtime) -> AutoencoderKL:
    path = folder / "vae" / "config.json"
    kwargs = init_kwargs(AutoencoderKL, _read_json(path), str(path))
    # diffusers' force_upcast (default on): the SD VAE overflows in float16, so it runs in float32
    dtype = torch.float32 if kwargs.get("force_upcast", True) else rt.dtype
    return _load(lambda: AutoencoderKL(**kwargs), folder / "vae", DIFFUSERS_WEIGHTS, rt, dtype)


def _scheduler_config(folder: Path) -> dict[str, Any]:
    config = _read_json(folder / "scheduler" / "scheduler_config.json")
    if config.get("prediction_type", "epsilon") not in ("epsilon", "v_prediction"):
        raise ConfigError(f"{folder}/scheduler: prediction_type {config['prediction_type']!r} is not supported")
    return config


@dataclass(eq=False)
class PaintModels:
    unet: PaintUNet
    vae: AutoencoderKL
    scheduler_config: dict[str, Any]  # the released DDIM config; sampled with EulerAncestral 'trailing'
    source: Path


@dataclass(eq=False)
class DelightModels:
    unet: UNet2DConditionModel  # in_channels 8: noisy latents + image latents
    vae: AutoencoderKL
    prompt_embeds: Tensor  # [1, 77, D]: the text encoder's output for the empty prompt (all delight uses)
    scheduler_config: dict[str, Any]
    source: Path


def load_paint_models(folder: Path, rt: Runtime) -> PaintModels:
    """hunyuan3d-paint-v2-0/: unet (config.json + .safetensors or .bin, keys unet.* / unet_dual.*), vae, scheduler.
    The text encoder and tokenizer are not loaded: the model uses its learned text embeddings."""
    folder = Path(folder)
    config = _unet_config(folder)
    src = str(folder / "unet" / "config.json")
    unet = _load(lambda: PaintUNet(config, src), folder / "unet", DIFFUSERS_WEIGHTS, rt, rt.dtype)
    return PaintModels(unet, _vae(folder, rt), _scheduler_config(folder), folder)


def load_delight_models(folder: Path, rt: Runtime) -> DelightModels:
    """hunyuan3d-delight-v2-0/ (a StableDiffusionInstructPix2PixPipeline folder): unet, vae, scheduler, and the
    text encoder + tokenizer, used once here to encode the empty prompt."""
    folder = Path(folder)
    config = _unet_config(folder)
    kwargs = init_kwargs(UNet2DConditionModel, config, str(folder / "unet" / "config.json"))
    unet = _load(lambda: UNet2DConditionModel(**kwargs), folder / "unet", DIFFUSERS_WEIGHTS, rt, rt.dtype)
    if unet.config.in_channels != 2 * unet.config.out_channels:
        raise ConfigError(f"{folder}/unet: expected in_channels = 2 * out_channels (latents + image latents)")
    prompt = encode_empty_prompt(folder).to(rt.device, rt.dtype)
    return DelightModels(unet, _vae(folder, rt), prompt, _scheduler_config(folder), folder)


def encode_empty_prompt(folder: Path) -> Tensor:
    """CLIP text tower on the empty prompt padded to 77 tokens -> [1, 77, D] float32 (on the CPU, once)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    raw = _read_json(folder / "text_encoder" / "config.json")
    if raw.get("model_type") != "clip_text_model":
        raise ConfigError(f"{folder}/text_encoder/config.json: expected a CLIP text model")
    config = CLIPTextConfig.from_dict({k: v for k, v in raw.items() if k not in ("architectures", "dtype")})
    try:
        tokenizer = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"), local_files_only=True)
    except (OSError, ValueError, TypeError) as e:
        raise WeightsError(f"{folder}/tokenizer: unreadable tokenizer ({e})") from e

    def factory() -> CLIPTextModel:
        model = CLIPTextModel(config)
        # position ids are a non-persistent buffer: no checkpoint holds them
        model.embeddings.register_buffer(
            "position_ids", torch.arange(config.max_position_embeddings, device="cpu")[None], persistent=False
        )
        return model

    cpu = Runtime(torch.device("cpu"), torch.float32)
    encoder = _load(factory, folder / "text_encoder", TRANSFORMERS_WEIGHTS, cpu, torch.float32)
    ids = tokenizer(
        "", padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    )
    with torch.no_grad():
        return encoder(ids.input_ids)[0].float()


# ---------------------------------------------------------------------------------------------------------------
# Random draws and the sampler


class Draws(Protocol):
    """Where the random numbers come from, in hy3dgen's order (replayable in tests)."""

    def posterior(self, shape: tuple[int, ...]) -> Tensor:
        """eps of a VAE posterior sample (hy3dgen: the global RNG)."""
        ...

    def noise(self, shape: tuple[int, ...]) -> Tensor:
        """Initial latents, then one ancestral noise per step (hy3dgen: the pipeline's generator)."""
        ...


class SeededDraws:
    """Two generators seeded alike, as hy3dgen's seed_everything(seed) + Generator().manual_seed(seed)."""

    def __init__(self, seed: int, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self._posterior = torch.Generator(self.device).manual_seed(seed)
        self._noise = torch.Generator(self.device).manual_seed(seed)

    def posterior(self, shape: tuple[int, ...]) -> Tensor:
        return torch.randn(shape, generator=self._posterior, device=self.device)

    def noise(self, shape: tuple[int, ...]) -> Tensor:
        return torch.randn(shape, generator=self._noise, device=self.device)


@dataclass(frozen=True)
class Schedule:
    timesteps: Tensor  # [S] float32, what the UNet receives
    sigmas: Tensor  # [S + 1] float32, ending with 0
    init_noise_sigma: float
    prediction_type: str


def make_schedule(scheduler_config: dict[str, Any], steps: int, **overrides: Any) -> Schedule:
    """diffusers EulerAncestralDiscreteScheduler from the folder's config (as hy3dgen swaps it in) -> its tables."""
    scheduler = EulerAncestralDiscreteScheduler.from_config(scheduler_config, **overrides)
    scheduler.set_timesteps(steps, device="cpu")
    return Schedule(
        scheduler.timesteps.float(),
        scheduler.sigmas.float(),
        float(scheduler.init_noise_sigma),
        scheduler.config.prediction_type,
    )


def scale_input(x: Tensor, sigma: Tensor) -> Tensor:
    """Euler schedulers' scale_model_input: x / sqrt(sigma^2 + 1)."""
    return x / ((sigma**2 + 1) ** 0.5)


def ancestral_step(
    x: Tensor, model_out: Tensor, sigma_from: Tensor, sigma_to: Tensor, noise: Tensor, prediction_type: str
) -> Tensor:
    """One Euler-ancestral step (diffusers EulerAncestralDiscreteScheduler.step with the noise given). float32."""
    x, model_out = x.float(), model_out.float()
    if prediction_type == "v_prediction":
        x0 = model_out * (-sigma_from / (sigma_from**2 + 1) ** 0.5) + x / (sigma_from**2 + 1)
    else:
        x0 = x - sigma_from * model_out
    sigma_up = (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5
    sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
    x = x + (x - x0) / sigma_from * (sigma_down - sigma_from)
    return x + noise.to(x.device, x.dtype) * sigma_up


# ---------------------------------------------------------------------------------------------------------------
# Images <-> latents


@contextmanager
def _placed(module: nn.Module, rt: Runtime, offload: bool) -> Iterator[nn.Module]:
    """With offload, the module sits on the GPU only inside the block."""
    if offload:
        module.to(rt.device)
    try:
        yield module
    finally:
        if offload:
            module.to("cpu")
            if rt.is_cuda:
                torch.cuda.empty_cache()


def _vae_dtype(vae: AutoencoderKL) -> torch.dtype:
    return next(vae.parameters()).dtype


def encode_sampled(vae: AutoencoderKL, images: Tensor, eps: Tensor) -> Tensor:
    """images [K, 3, H, W] in [0, 1] -> scaled latents [K, 4, h, w] = (mean + std * eps) * scaling_factor."""
    dev = next(vae.parameters()).device
    dist = vae.encode(((images - 0.5) * 2).to(dev, _vae_dtype(vae))).latent_dist
    return (dist.mean.float() + dist.std.float() * eps.to(dev).float()) * vae.config.scaling_factor


def decode_latents(vae: AutoencoderKL, latents: Tensor) -> Tensor:
    """scaled latents [K, 4, h, w] -> decoded images [K, 3, H, W] float32 in about [-1, 1]. One at a time."""
    dev = next(vae.parameters()).device
    return torch.cat(
        [vae.decode((z[None] / vae.config.scaling_factor).to(dev, _vae_dtype(vae))).sample.float() for z in latents]
    )


def to_uint8(images: Tensor) -> np.ndarray:
    """[K, 3, H, W] in [-1, 1] -> uint8 [K, H, W, 3] (diffusers postprocess: clamp, x255, round)."""
    x = (images / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    return (x * 255).round().astype(np.uint8)


def reference_tensor(rgb: np.ndarray) -> Tensor:
    """Reference picture uint8 [H, W, 3] -> [1, 3, H, W] in [0, 1] (hy3dgen: float64 / 255)."""
    return (torch.from_numpy(np.ascontiguousarray(rgb)).double() / 255).permute(2, 0, 1)[None].float()


def maps_tensor(maps: np.ndarray) -> Tensor:
    """Geometry maps uint8 [N, H, W, 3] -> [N, 3, H, W] in [0, 1], through float16 as hy3dgen converts them."""
    x = torch.from_numpy(np.ascontiguousarray(maps)).float() / 255
    return x.half().float().permute(0, 3, 1, 2)


# ---------------------------------------------------------------------------------------------------------------
# Multi-view paint


def paint_multiview(
    models: PaintModels,
    reference: np.ndarray,
    normals: np.ndarray,
    positions: np.ndarray,
    camera_ids: Sequence[int],
    rt: Runtime,
    steps: int = 30,
    guidance: float = 2.0,
    draws: Draws | None = None,
    offload: bool = False,
    progress: ProgressFn = _quiet,
    on_step: Callable[[int, Tensor], None] | None = None,
) -> np.ndarray:
    """Reference RGB uint8 [S, S, 3] + geometry maps uint8 [N, S, S, 3] + camera ids [N] -> views uint8 [N, S, S, 3].

    As HunyuanPaintPipeline: VAE posterior samples of all images, initial noise x init_noise_sigma, then per step
    one UNet pass on the CFG batch [uncond, cond] (uncond = zero text, zero reference latents, ref_scale 0; the
    geometry and cameras are the same), EulerAncestral update. The reference features are computed once.
    on_step(i, latents [N, 4, h, w]) is called after each step.
    """
    n, size = len(normals), reference.shape[0]
    if reference.shape != (size, size, 3) or normals.shape != (n, size, size, 3) or positions.shape != normals.shape:
        raise ValueError("reference [S, S, 3] and maps [N, S, S, 3] of one square size expected")
    if len(camera_ids) != n:
        raise ValueError(f"{len(camera_ids)} camera ids for {n} views")
    draws = draws or SeededDraws(0, rt.device)
    unet, vae = models.unet, models.vae
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    if size % factor:
        raise ValueError(f"view size {size} is not a multiple of the VAE's {factor}")
    h = size // factor
    c = unet.latent_channels
    with torch.no_grad(), _placed(vae, rt, offload):
        ref = encode_sampled(vae, reference_tensor(reference), draws.posterior((1, c, h, h)))  # [1, 4, h, w]
        normal = encode_sampled(vae, maps_tensor(normals), draws.posterior((n, c, h, h)))  # [N, 4, h, w]
        position = encode_sampled(vae, maps_tensor(positions), draws.posterior((n, c, h, h)))
    schedule = make_schedule(models.scheduler_config, steps, timestep_spacing="trailing")
    latents = draws.noise((n, c, h, h)).to(rt.device).float() * schedule.init_noise_sigma  # [N, 4, h, w]

    text = unet.unet.learned_text_clip_gen.detach().to(rt.device)  # [1, 77, D]
    ids = torch.as_tensor(list(camera_ids), dtype=torch.int64, device=rt.device)[None]  # [1, N]
    cfg = guidance > 1
    batch = 2 if cfg else 1
    if cfg:  # batch [uncond, cond]
        ref_latents = torch.stack([torch.zeros_like(ref), ref])  # [2, 1, 4, h, w]
        text = torch.cat([torch.zeros_like(text), text])
        ref_scale: Tensor | float = torch.tensor([0.0, 1.0], device=rt.device)
    else:
        ref_latents, ref_scale = ref[None], 1.0
    normal_b = normal[None].expand(batch, -1, -1, -1, -1).to(rt.device)  # [B, N, 4, h, w]
    position_b = position[None].expand(batch, -1, -1, -1, -1).to(rt.device)
    ids = ids.expand(batch, -1)
    with torch.no_grad(), _placed(unet, rt, offload):
        features = unet.reference_features(ref_latents.to(rt.device))  # once: it does not depend on the step
        sigmas = schedule.sigmas.to(rt.device)
        for i, t in enumerate(schedule.timesteps):
            model_in = scale_input(latents, sigmas[i])[None].expand(batch, -1, -1, -1, -1)  # [B, N, 4, h, w]
            out = unet(model_in, t.to(rt.device), text, normal_b, position_b, ids, features, ref_scale=ref_scale)
            out = out.float()  # [(B * N), 4, h, w]
            if cfg:
                uncond, cond = out.chunk(2)
                out = uncond + guidance * (cond - uncond)
            noise = draws.noise((n, c, h, h))
            latents = ancestral_step(latents, out, sigmas[i], sigmas[i + 1], noise, schedule.prediction_type)
            if on_step is not None:
                on_step(i, latents)
            progress("paint", (i + 1) / steps)
    with torch.no_grad(), _placed(vae, rt, offload):
        return to_uint8(decode_latents(vae, latents))


# ---------------------------------------------------------------------------------------------------------------
# Delight


def recenter_rgba(rgba: np.ndarray, border_ratio: float = RECENTER_BORDER) -> np.ndarray:
    """hy3dgen recenter_image: crop to the alpha > 0 box, pad each side by int(side * border_ratio), centre on a
    square transparent white canvas (pixels copied as they are). rgba [H, W, 4] uint8 -> [S, S, 4] uint8."""
    rows, cols = np.nonzero(rgba[..., 3])
    if rows.size == 0:
        raise InputError("the picture has no foreground (alpha is empty)")
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    h, w = y1 - y0, x1 - x0
    side = max(w + 2 * int(w * border_ratio), h + 2 * int(h * border_ratio))
    out = np.zeros((side, side, 4), np.uint8)
    out[..., :3] = 255
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = rgba[y0:y1, x0:x1]
    return out


def delight_input(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Light_Shadow_Remover's preprocessing. image uint8 [H, W, 3|4] -> (what the model sees: RGB uint8
    [size, size, 3]; colour target float64 [size, size, 3]; alpha float64 [size, size, 1])."""
    mode = "RGBA" if image.shape[2] == 4 else "RGB"
    arr = np.array(Image.fromarray(np.ascontiguousarray(image), mode).resize((size, size)))  # PIL bicubic
    if mode == "RGBA":
        alpha = cv2.erode(arr[..., 3], np.ones((3, 3), np.uint8), iterations=1)
        arr[alpha == 0, :3] = 255
        arr[..., 3] = alpha
        return arr[..., :3].copy(), arr[..., :3] / 255.0, arr[..., 3:] / 255.0
    return arr, arr / 255.0, np.ones((size, size, 1))


def recorrect_rgb(src: np.ndarray, target: np.ndarray, alpha: np.ndarray, scale: float = DELIGHT_COLOR_SCALE):
    """Re-match the delight output's colour statistics (over alpha > 0.5) to the input's, per channel; kept only
    if it brings the output closer to the input. src, target [H, W, 3] float64 in [0, 1]; alpha [H, W, 1]."""
    fg = alpha[..., 0] > 0.5
    if fg.sum() < 2:
        return src
    out = np.empty_like(src)
    for ch in range(3):
        s, t = src[..., ch][fg], target[..., ch][fg]
        std_s = s.std(ddof=1)
        gain = t.std(ddof=1) / std_s if std_s > 0 else 1.0
        out[..., ch] = np.clip((src[..., ch] - scale * s.mean()) * gain + scale * t.mean(), 0, 1)
    return out if ((out - target) ** 2).mean() <= ((src - target) ** 2).mean() else src


def delight_output(out: np.ndarray, target: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Light_Shadow_Remover's postprocessing: colour re-match, composite over white, truncate. -> RGB uint8."""
    rgb = recorrect_rgb(out / 255.0, target, alpha)
    return ((rgb * alpha + (1 - alpha)) * 255).astype(np.uint8)


def delight_diffuse(
    models: DelightModels,
    rgb: np.ndarray,
    rt: Runtime,
    steps: int = 50,
    draws: Draws | None = None,
    offload: bool = False,
    progress: ProgressFn = _quiet,
    on_step: Callable[[int, Tensor], None] | None = None,
) -> np.ndarray:
    """InstructPix2Pix as hy3dgen calls it (empty prompt, guidance 1.0: no CFG, so image guidance has no effect).
    rgb uint8 [S, S, 3] -> uint8 [S, S, 3]. Noise drawn from `draws` (default: CPU generator, seed 42).
    on_step(i, latents [1, 4, h, w]) is called after each step."""
    draws = draws or SeededDraws(DELIGHT_SEED, "cpu")
    unet, vae = models.unet, models.vae
    x = torch.from_numpy(np.ascontiguousarray(rgb)).float().div(255).permute(2, 0, 1)[None]  # [1, 3, S, S]
    with torch.no_grad(), _placed(vae, rt, offload):
        dev = next(vae.parameters()).device
        image_latents = vae.encode((2 * x - 1).to(dev, _vae_dtype(vae))).latent_dist.mode()  # unscaled, [1, 4, h, w]
    schedule = make_schedule(models.scheduler_config, steps)
    latents = draws.noise(tuple(image_latents.shape)).to(rt.device).float() * schedule.init_noise_sigma
    image_latents = image_latents.to(rt.device, rt.dtype)
    prompt = models.prompt_embeds.to(rt.device, rt.dtype)  # [1, 77, D]
    with torch.no_grad(), _placed(unet, rt, offload):
        sigmas = schedule.sigmas.to(rt.device)
        for i, t in enumerate(schedule.timesteps):
            model_in = torch.cat([scale_input(latents, sigmas[i]).to(rt.dtype), image_latents], dim=1)
            out = unet(model_in, t.to(rt.device), prompt, return_dict=False)[0]
            noise = draws.noise(tuple(latents.shape))
            latents = ancestral_step(latents, out, sigmas[i], sigmas[i + 1], noise, schedule.prediction_type)
            if on_step is not None:
                on_step(i, latents)
            progress("delight", (i + 1) / steps)
    with torch.no_grad(), _placed(vae, rt, offload):
        return to_uint8(decode_latents(vae, latents))[0]


def delight(
    models: DelightModels,
    image: np.ndarray,
    rt: Runtime,
    size: int = 512,
    steps: int = 50,
    seed: int = 0,
    offload: bool = False,
    progress: ProgressFn = _quiet,
) -> np.ndarray:
    """Picture uint8 [H, W, 3|4] (alpha = foreground) -> unlit RGB uint8 [size, size, 3] on white."""
    rgb, target, alpha = delight_input(image, size)
    out = delight_diffuse(models, rgb, rt, steps, SeededDraws(DELIGHT_SEED + seed, "cpu"), offload, progress)
    return delight_output(out, target, alpha)


def composite_white(rgba: np.ndarray, size: int) -> np.ndarray:
    """--no-delight: the recentred picture over white (as delight's output is), resized. -> RGB uint8."""
    arr = np.array(Image.fromarray(np.ascontiguousarray(rgba), "RGBA").resize((size, size)))
    a = arr[..., 3:] / 255.0
    return (arr[..., :3] * a + 255 * (1 - a)).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------------
# The backend


@dataclass(eq=False)
class HunyuanModels:
    paint: PaintModels
    delight: DelightModels | None


def load_hunyuan_models(root: Path, rt: Runtime, delight: bool = True, offload: bool = False) -> HunyuanModels:
    """Both models from ROOT. With offload they are kept on the CPU (moved to rt.device while they run)."""
    paint_dir, delight_dir = find_weights(root, delight)
    home = rt if not offload else Runtime(torch.device("cpu"), rt.dtype)
    return HunyuanModels(
        load_paint_models(paint_dir, home), load_delight_models(delight_dir, home) if delight_dir else None
    )


class HunyuanBackend:
    """`paint(..., backend=HunyuanBackend(ROOT))`: paints the canonical (or chosen) views with Hunyuan3D-Paint."""

    name = "hunyuan"

    def __init__(
        self,
        weights: Path | None = None,
        options: HunyuanOptions = HunyuanOptions(),
        runtime: Runtime | None = None,
        models: HunyuanModels | None = None,
    ) -> None:
        if weights is None and models is None:
            raise ConfigError(
                f"--backend hunyuan needs --weights ROOT (the Hunyuan3D-2 paint models); {GET_WEIGHTS_HINT}"
            )
        self.options = options
        self.runtime = runtime or pick_runtime()
        if options.offload and not self.runtime.is_cuda:
            raise ConfigError("--offload needs a CUDA device")
        self.models = models or load_hunyuan_models(Path(weights), self.runtime, options.delight, options.offload)
        if options.delight and self.models.delight is None:
            raise ConfigError("delight was asked for but the delight model is not loaded")

    def reference_rgb(self, request: PaintRequest, progress: ProgressFn = _quiet) -> np.ndarray:
        """The picture as the paint model's reference: recentred (border 0.2), delit, RGB uint8 [S, S, 3]."""
        o, size = self.options, request.opts.view_size
        rgba = recenter_rgba(np.asarray(request.reference.color))
        if not o.delight:
            return composite_white(rgba, size)
        return delight(self.models.delight, rgba, self.runtime, size, o.delight_steps, o.seed, o.offload, progress)

    def view_maps(self, request: PaintRequest) -> list[View]:
        """Cameras and geometry maps of the views to paint, at the view size (supersampled, then resized)."""
        size, k = request.opts.view_size, self.options.map_supersample
        canonical = {(s.azimuth, s.elevation): v for s, v in zip(CANONICAL_VIEWS, request.views, strict=True)}
        out = []
        for spec in self.options.views:
            view = canonical.get((spec.azimuth, spec.elevation))
            camera = view.camera if view is not None else view_camera(spec.azimuth, spec.elevation, request.frame, size)
            if k == 1 and view is not None:
                normal, position = view.normal, view.position
            else:
                big = view_camera(spec.azimuth, spec.elevation, request.frame, size * k)
                normal, position, _ = geometry_maps(request.mesh, big, request.frame, request.rasterizer)
                if k > 1:  # hy3dgen: renders at 2048, PIL-resizes to 512 (bicubic)
                    normal, position = (np.asarray(Image.fromarray(m).resize((size, size))) for m in (normal, position))
            out.append(View(camera, None, normal, position, weight=spec.weight, name=spec.name))
        return out

    def paint_views(self, request: PaintRequest, progress: ProgressFn) -> list[View]:
        o, rt = self.options, self.runtime
        factor = 2 ** (len(self.models.paint.vae.config.block_out_channels) - 1)
        if request.opts.view_size % factor:
            raise InputError(f"--view-size {request.opts.view_size}: the paint model needs a multiple of {factor}")
        reference = self.reference_rgb(request, progress)
        views = self.view_maps(request)
        ids = [camera_id(s.azimuth, s.elevation) for s in o.views]
        colors = paint_multiview(
            self.models.paint,
            reference,
            np.stack([v.normal for v in views]),
            np.stack([v.position for v in views]),
            ids,
            rt,
            o.steps,
            o.guidance,
            SeededDraws(o.seed, rt.device),
            o.offload,
            progress,
        )
        for view, rgb in zip(views, colors, strict=True):
            # background of a normal map is exactly white, which no unit normal encodes: that is the coverage
            cover = ~(view.normal == 255).all(-1)
            view.color = np.dstack([rgb, np.where(cover, 255, 0).astype(np.uint8)])
        return views


register_backend("hunyuan", HunyuanBackend)
