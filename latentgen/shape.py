"""STAGE generate-shape: preprocessed image -> shape latent, by flow-matching sampling of the DiT.

    models = load_shape_models(weights_dir, rt)                  # reference combined checkpoint folder
    latent = generate_shape(prepare_image(path), models, ShapeOptions(steps=30, seed=7))
    mesh = decode(latent, models.vae, ...)                       # encode.py

The conditioner encodes the image into tokens [1, L, D]; the sampler integrates the DiT's velocity from
seeded noise [1, N, C]; the result is divided by the VAE's scale_factor (the reference does the same before
decoding), so `Latent.tokens` is what the ShapeVAE decoder eats. With ShapeOptions(candidates=K) (or the weights'
default) K shapes are sampled in one batch, from seeds seed .. seed + K - 1, and the one whose outline from the
input camera best matches the picture's mask is kept (choose_candidate; silhouette.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from torch import Tensor

from .artifacts import Latent
from .config import config_from_dict, config_hash, read_json_object
from .encode import DecodeOptions, decode
from .errors import ConfigError, InputError, OptionError, StageError, WeightsError
from .models.checkpoint import Checkpoint, build_exact, open_checkpoint, read_state, read_yaml, resolve_checkpoint
from .models.conditioner import ConditionerConfig, ImageConditioner, reference_to_dinov2
from .models.dit import DiTConfig, ShapeDiT
from .models.shapevae import ShapeVAE, load_shapevae, shapevae_config
from .runtime import Runtime
from .sampling import (
    Progress,
    SchedulerConfig,
    cfg_velocity,
    distilled_velocity,
    initial_noise,
    make_scheduler,
    sample,
)
from .silhouette import silhouette_score

DEFAULT_STEPS = {"flow": 50, "consistency": 5}  # reference defaults: 50 steps; turbo checkpoints run 5
DEFAULT_GUIDANCE = 5.0  # the reference pipeline's


@dataclass(frozen=True)
class ShapeOptions:
    steps: int | None = None  # None: the checkpoint's default (50, or 5 for turbo; our layout: its pipeline.json)
    # CFG scale (or the distilled guidance input); < 0 turns CFG off, as in the reference.
    # None: the checkpoint's default (5.0 for reference checkpoints; our layout: its pipeline.json)
    guidance: float | None = None
    seed: int = 1234
    # sample this many shapes (candidate k from seed + k) and keep the one whose silhouette from the input camera
    # best matches the picture's mask; None: the weights' default (our layout: pipeline.json; reference: 1)
    candidates: int | None = None

    def __post_init__(self) -> None:
        if self.steps is not None and not 1 <= self.steps <= 1000:
            raise OptionError(f"--steps {self.steps}: choose 1..1000")
        if self.candidates is not None and not 1 <= self.candidates <= 64:
            raise OptionError(f"--candidates {self.candidates}: choose 1..64")
        if self.guidance is not None and not -1e3 < self.guidance < 1e3:
            raise OptionError(f"--guidance {self.guidance}: out of range")
        if not 0 <= self.seed < 2**63:
            raise OptionError(f"--seed {self.seed}: must be in 0..2^63-1")


@dataclass(eq=False)
class ShapeModels:
    """Everything generate_shape needs, loaded from one reference DiT folder."""

    dit: ShapeDiT
    vae: ShapeVAE
    conditioner: ImageConditioner
    scheduler: SchedulerConfig
    scale_factor: float  # DiT latents = VAE latents * scale_factor
    name: str  # checkpoint folder, e.g. hunyuan3d-dit-v2-0
    image_size: int = 512  # the reference ImageProcessorV2 settings for image.prepare_image
    border_ratio: float = 0.15
    steps: int | None = None  # sampling defaults stored with the weights (our layout); None: the reference's
    guidance: float | None = None
    resolution: int | None = None  # decoding grid default stored with the weights; None: the reference's 256
    candidates: int | None = None  # shapes sampled per picture by default (ShapeOptions.candidates); None: 1

    @property
    def latent_shape(self) -> tuple[int, int]:
        """(N, C) of one sample's latents."""
        return self.vae.config.num_latents, self.vae.config.latent_channels

    def default_steps(self) -> int:
        return self.steps or DEFAULT_STEPS[self.scheduler.kind]

    def default_guidance(self) -> float:
        return DEFAULT_GUIDANCE if self.guidance is None else self.guidance

    def default_candidates(self) -> int:
        return self.candidates or 1

    def default_resolution(self) -> int:
        """Marching-cubes grid for this model: a small model's surfaces need no 256^3 grid (and it costs time)."""
        return self.resolution or DEFAULT_RESOLUTION


# ---------------------------------------------------------------------------------------------- loading


def _entry_params(raw: dict, key: str, source: str) -> dict:
    entry = raw.get(key)
    if not isinstance(entry, dict) or not isinstance(entry.get("params", {}), dict):
        raise ConfigError(f"{source}: no `{key}` section with `params`")
    return dict(entry.get("params") or {})


def _shape_config(folder: Path) -> tuple[DiTConfig, ConditionerConfig, SchedulerConfig, dict]:
    source = folder / "config.yaml"
    raw = read_yaml(source)
    dit = DiTConfig.from_reference(_entry_params(raw, "model", str(source)), f"{source} model.params")
    cond = ConditionerConfig.from_reference(_entry_params(raw, "conditioner", str(source)), f"{source} conditioner")
    sched = SchedulerConfig.from_reference(raw.get("scheduler") or {}, f"{source} scheduler")
    image = raw.get("image_processor", {}).get("params", {}) if isinstance(raw.get("image_processor"), dict) else {}
    return dit, cond, sched, dict(image or {})


def _component(folder: Path, name: str) -> Checkpoint:
    ckpt = open_checkpoint(folder, name)
    if ckpt is None or ckpt.standalone:
        raise WeightsError(f"{folder}: config.yaml describes no `{name}` of a combined DiT checkpoint")
    return ckpt


def load_shape_models(weights: Path, rt: Runtime, variant: str | None = None) -> ShapeModels:
    """Load DiT, ShapeVAE and DINOv2 conditioner from a reference combined checkpoint.

    `weights` is a DiT folder (config.yaml + model.fp16.safetensors holding `model.*`, `vae.*`,
    `conditioner.*`) or a model root holding such folders (hunyuan3d-dit-v2-0, -fast, -turbo, v2-mini ...),
    where `variant` ("fast", "turbo", "mini", a folder name ...) picks one; the plain v2-0 by default.
    The file is read once, in chunks, each tensor cast to rt.dtype on rt.device as it is read, and assigned
    into models built on the meta device, so peak memory stays near one copy of the models.
    """
    dit_ckpt = resolve_checkpoint(Path(weights), "model", variant)
    if not dit_ckpt.reference:  # our layout: a root holding dit/, shapevae/, conditioner/, pipeline.json
        return load_own_shape_models(dit_ckpt.folder.parent, rt)
    if dit_ckpt.standalone:
        raise WeightsError(f"{dit_ckpt.folder}: expected a combined DiT checkpoint (model.*, vae.*, conditioner.*)")
    folder = dit_ckpt.folder
    dit_cfg, cond_cfg, sched_cfg, image_params = _shape_config(folder)
    vae_ckpt = _component(folder, "vae")
    vae_cfg = shapevae_config(vae_ckpt)
    if dit_cfg.in_channels != vae_cfg.latent_channels:
        raise ConfigError(
            f"{folder}: DiT in_channels={dit_cfg.in_channels} but VAE latent channels={vae_cfg.latent_channels}"
        )
    if dit_cfg.context_in_dim != cond_cfg.hidden_size:
        raise ConfigError(
            f"{folder}: DiT context_in_dim={dit_cfg.context_in_dim} but conditioner width={cond_cfg.hidden_size}"
        )
    parts = _split(_read_cast(dit_ckpt.weights, rt), dit_ckpt)
    source = str(dit_ckpt.weights)
    dit = build_exact(lambda: ShapeDiT(dit_cfg), parts.pop("model"), f"{source} [model.*]", rt.dtype, rt.device)
    vae = build_exact(lambda: ShapeVAE(vae_cfg), parts.pop("vae"), f"{source} [vae.*]", rt.dtype, rt.device)
    vae.name = vae_ckpt.name
    cond_state = reference_to_dinov2(parts.pop("conditioner"))
    conditioner = build_exact(
        lambda: ImageConditioner(cond_cfg), cond_state, f"{source} [conditioner.*]", rt.dtype, rt.device
    )
    return ShapeModels(
        dit,
        vae,
        conditioner,
        sched_cfg,
        float(vae_cfg.scale_factor),
        folder.name,
        image_size=int(image_params.get("size", 512)),
        border_ratio=float(image_params.get("border_ratio", 0.15)),
    )


PIPELINE_FILE = "pipeline.json"
PIPELINE_KEYS = {"scheduler", "steps", "guidance", "resolution", "image_size", "border_ratio", "candidates"}
DEFAULT_RESOLUTION = 256  # the reference pipeline's "standard" octree resolution


def stored_resolution(weights: Path) -> int:
    """The decoding grid stored with a weights root in our layout (pipeline.json "resolution"), given the root or
    one of its component folders (e.g. weights/tiny/shapevae); the reference's 256 for any other weights."""
    weights = Path(weights)
    for folder in (weights, weights.parent):
        if (folder / PIPELINE_FILE).is_file():
            resolution = read_json_object(folder / PIPELINE_FILE).get("resolution")
            return int(resolution) if resolution else DEFAULT_RESOLUTION
    return DEFAULT_RESOLUTION


def load_own_shape_models(root: Path, rt: Runtime) -> ShapeModels:
    """Load a weights root in our layout (weights/tiny, or a `latentgen train dit` run folder):
    dit/, shapevae/, conditioner/ (each config.json + model.safetensors) and pipeline.json (sampler settings).
    The DiT works in VAE space times the shapevae config's scale_factor."""
    root = Path(root)
    source = root / PIPELINE_FILE
    pipeline = read_json_object(source, WeightsError, "missing (the sampler settings next to dit/)")
    if unknown := set(pipeline) - PIPELINE_KEYS:
        raise ConfigError(f"{source}: unknown keys {sorted(unknown)}")
    sched = config_from_dict(SchedulerConfig, pipeline.get("scheduler", {}), f"{source} scheduler")
    dit_ckpt = resolve_checkpoint(root, "model")
    cond_ckpt = resolve_checkpoint(root, "conditioner")
    dit_cfg = config_from_dict(DiTConfig, dit_ckpt.params, str(dit_ckpt.folder / "config.json"))
    cond_cfg = config_from_dict(ConditionerConfig, cond_ckpt.params, str(cond_ckpt.folder / "config.json"))
    vae = load_shapevae(root, rt)
    if dit_cfg.in_channels != vae.config.latent_channels or dit_cfg.context_in_dim != cond_cfg.hidden_size:
        raise ConfigError(
            f"{root}: DiT in_channels / context_in_dim ({dit_cfg.in_channels}, {dit_cfg.context_in_dim}) do not fit "
            f"the ShapeVAE latent channels ({vae.config.latent_channels}) / conditioner width ({cond_cfg.hidden_size})"
        )
    dit = build_exact(lambda: ShapeDiT(dit_cfg), dit_ckpt.read(), str(dit_ckpt), rt.dtype, rt.device)
    conditioner = build_exact(lambda: ImageConditioner(cond_cfg), cond_ckpt.read(), str(cond_ckpt), rt.dtype, rt.device)
    return ShapeModels(
        dit,
        vae,
        conditioner,
        sched,
        float(vae.config.scale_factor),
        root.name,
        image_size=int(pipeline.get("image_size", 512)),
        border_ratio=float(pipeline.get("border_ratio", 0.15)),
        steps=pipeline.get("steps"),
        guidance=pipeline.get("guidance"),
        resolution=pipeline.get("resolution"),
        candidates=pipeline.get("candidates"),
    )


READ_CHUNK_BYTES = 256 << 20


def _read_cast(path: Path, rt: Runtime) -> dict[str, Tensor]:
    """All tensors of a checkpoint, floats cast to rt.dtype on rt.device, read ~256 MB at a time.

    safetensors hands out tensors backed by the file's memory map, and the map (with every page read so
    far counted as resident) lives as long as any of its tensors: reopening the file per chunk and keeping
    only the cast copies bounds the overhead to one chunk instead of the whole file. (A candidate for
    models/checkpoint.py: the ShapeVAE loader would profit too.) Pickle checkpoints are read whole.
    """
    if path.suffix != ".safetensors":
        return {k: _cast(t, rt) for k, t in read_state(path).items()}
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
        state: dict[str, Tensor] = {}
        i = 0
        while i < len(keys):
            with safe_open(str(path), framework="pt") as f:
                done = 0
                while i < len(keys) and done < READ_CHUNK_BYTES:
                    src = f.get_tensor(keys[i])
                    state[keys[i]] = _cast(src, rt)
                    done += src.numel() * src.element_size()
                    i += 1
                del src
    except (OSError, SafetensorError) as e:
        raise WeightsError(f"{path}: unreadable checkpoint ({e})") from e
    return state


def _cast(src: Tensor, rt: Runtime) -> Tensor:
    """A copy of src that owns its memory: floats in rt.dtype, all on rt.device."""
    out = src.to(rt.device, rt.dtype) if src.is_floating_point() else src.to(rt.device)
    return out.clone() if out.data_ptr() == src.data_ptr() else out


def _split(state: dict[str, Tensor], ckpt: Checkpoint) -> dict[str, dict[str, Tensor]]:
    """Combined state -> {component: {name: tensor}} for model / vae / conditioner (others are ignored, as the
    reference does). Popping as we go leaves each tensor referenced once, so loading can free it."""
    parts: dict[str, dict[str, Tensor]] = {"model": {}, "vae": {}, "conditioner": {}}
    for key in list(state):
        component, _, rest = key.partition(".")
        tensor = state.pop(key)
        if component in parts:
            parts[component][rest] = tensor
    for component, tensors in parts.items():
        if not tensors:  # the reference would silently keep a random conditioner; we refuse
            raise WeightsError(f"{ckpt.weights}: no {component}.* tensors in the combined checkpoint")
    return parts


# ---------------------------------------------------------------------------------------------- the stage


def condition(image: Tensor, models: ShapeModels) -> Tensor:
    """image [B, 3, H, W] in [-1, 1] -> image tokens [B, L, D] in the model dtype."""
    return models.conditioner(image.to(models.conditioner.model.embeddings.cls_token.device))


def sample_latents(
    image: Tensor,
    models: ShapeModels,
    opts: ShapeOptions,
    progress: Progress | None = None,
    noise: Tensor | None = None,
    on_step: Callable[[int, Tensor, Tensor], None] | None = None,
) -> Tensor:
    """image [B, 3, H, W] in [-1, 1] -> DiT-space latents [B, N, C] float32 (before 1 / scale_factor).

    noise: [B, N, C] starting point; default: seeded as the reference (see sampling.initial_noise). One picture
    ([1, 3, H, W]) with noise [K, N, C] samples K shapes of it, encoding the picture once.
    on_step(i, t [B], x [B, N, C]) sees every step (for traces).
    """
    report = progress or (lambda phase, fraction: None)
    device = models.dit.latent_in.weight.device
    with torch.inference_mode():
        report("conditioning", 0.0)
        cond = condition(image, models)  # [B, L, D]
        report("conditioning", 1.0)
        if noise is not None and cond.shape[0] == 1:  # one picture, several starting points
            cond = cond.expand(noise.shape[0], -1, -1)
        batch = cond.shape[0]
        if noise is None:
            noise = initial_noise((batch, *models.latent_shape), opts.seed, device)
        elif tuple(noise.shape) != (batch, *models.latent_shape):
            raise InputError(f"noise shape {tuple(noise.shape)} != {(batch, *models.latent_shape)}")
        guidance = models.default_guidance() if opts.guidance is None else opts.guidance
        if models.dit.config.guidance_embed:  # guidance-distilled: the scale is an input, no CFG batch
            velocity = distilled_velocity(models.dit, cond, guidance)
        elif guidance >= 0:
            uncond = models.conditioner.unconditional(batch)  # zeros: collapsed to one token, see cfg_velocity
            velocity = cfg_velocity(models.dit, cond, uncond, guidance, collapse_uncond=True)
        else:
            velocity = lambda x, t: models.dit(x.to(cond.dtype), t, cond).float()
        scheduler = make_scheduler(models.scheduler, opts.steps or models.default_steps(), device)
        return sample(velocity, noise.to(device), scheduler, report, on_step)


CHOICE_RESOLUTION = 64  # decoding grid of the candidates while choosing: outlines, not details
CHOICE_SIZE = 128  # pixels of the silhouettes compared while choosing


def candidate_noise(count: int, seed: int, latent_shape: tuple[int, int], device) -> Tensor:
    """[count, N, C] starting points; candidate k is seeded with seed + k, so candidate 0 is the one-sample run's."""
    return torch.cat([initial_noise((1, *latent_shape), (seed + k) % 2**63, device) for k in range(count)])


def choose_candidate(tokens: Tensor, vae: ShapeVAE, mask, progress: Progress | None = None) -> tuple[int, list[float]]:
    """tokens [K, N, C] (VAE space), mask [S, S] uint8 (the picture's recentred foreground) -> (index of the
    candidate whose input-camera silhouette best matches the mask, every candidate's silhouette IoU).
    Each is judged without its floaters, as the decoded mesh is delivered (a piece left out of the mesh must not
    move the outline's framing). A candidate without a surface scores 0; ties go to the lower index."""
    from .meshops import CleanupOptions, remove_floaters

    clean = CleanupOptions()
    report = progress or (lambda phase, fraction: None)
    scores = []
    for k in range(len(tokens)):
        latent = Latent(tokens[k], vae.name, config_hash(vae.config), 0, {})
        try:
            mesh = decode(latent, vae, DecodeOptions(resolution=CHOICE_RESOLUTION))
            mesh, _ = remove_floaters(mesh, clean.min_component_ratio)
            scores.append(silhouette_score(mesh, mask, CHOICE_SIZE))
        except StageError:  # nothing above the iso-level: no shape to show
            scores.append(0.0)
        report("choosing candidate", (k + 1) / len(tokens))
    return max(range(len(scores)), key=lambda k: (scores[k], -k)), scores


def generate_shape(
    image: Tensor, models: ShapeModels, opts: ShapeOptions = ShapeOptions(), progress: Progress | None = None
) -> Latent:
    """Preprocessed image (image.PreparedImage, or a bare tensor [1, 3, H, W] in [-1, 1]) -> Latent (tokens [N, C]
    float32).

    With several candidates (opts.candidates, else the weights' default) the shapes are sampled as one batch and
    the one whose silhouette best matches the picture's mask is kept; its index and score are in Latent.extra.
    A bare tensor has no mask to choose by: it takes the weights' default as 1 and refuses an explicit count > 1.
    """
    tensor = getattr(image, "tensor", image)
    if not isinstance(tensor, Tensor) or tensor.ndim != 4 or tensor.shape[:2] != (1, 3):
        raise InputError("generate_shape wants one preprocessed image [1, 3, H, W] (see image.prepare_image)")
    mask = getattr(image, "mask", None)
    if mask is None and (opts.candidates or 1) > 1:
        raise InputError("choosing among candidates needs the picture's mask: pass an image.PreparedImage")
    count = 1 if mask is None else opts.candidates or models.default_candidates()
    device = models.dit.latent_in.weight.device
    noise = candidate_noise(count, opts.seed, models.latent_shape, device)
    latents = sample_latents(tensor, models, opts, progress, noise)  # [K, N, C]
    tokens = (latents * (1.0 / models.scale_factor)).cpu()  # the reference multiplies by 1 / scale_factor
    steps = opts.steps or models.default_steps()
    guidance = models.default_guidance() if opts.guidance is None else opts.guidance
    extra = {"dit": models.name, "steps": str(steps), "guidance": str(guidance), "sampler": models.scheduler.kind}
    chosen = 0
    if count > 1:
        chosen, scores = choose_candidate(tokens, models.vae, mask, progress)
        ious = " ".join(f"{s:.4f}" for s in scores)
        extra |= {"candidates": str(count), "chosen": str(chosen), "silhouette_ious": ious}
    return Latent(tokens[chosen].contiguous(), models.vae.name, config_hash(models.vae.config), opts.seed, extra)
