"""Train the shape DiT and its image encoder by flow matching on a trained ShapeVAE's latents.

    from latentgen.train import DiTTrainOptions, train_dit
    train_dit("out/train/data", "out/train/vae/model", "out/train/dit", DiTTrainOptions(), resume=True, log=print)
    models = load_shape_models("out/train/dit", rt)       # the run folder is a weights root at every checkpoint

Latents: the posterior means of every training shape, cached once (several encodings per shape, each from
another random subset of its surface points); scale_factor = 1 / their std, stored in the exported ShapeVAE
config (z_dit = z_vae * scale_factor, as the reference). Flow matching in the reference convention of
latentgen/sampling.py: x_t = t x_data + (1 - t) noise, t = 0 noise and 1 data, the DiT predicts
v = x_data - noise. Images: each conditioning render prepared exactly as at inference (image.prepare_image:
recentre with border 0.15 on white), resized as the conditioner does, cached as uint8. The image encoder is a
small DINOv2-architecture Dinov2Model trained from scratch jointly with the DiT; 10 % of the conditions are
replaced by zeros, the unconditional embedding classifier-free guidance uses at inference.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.optimize import linear_sum_assignment
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..data.dataset import ShapeDataset, load_index
from ..errors import ConfigError, InputError
from ..files import atomic_dir, atomic_path
from ..image import prepare_image
from ..models.checkpoint import read_state as read_weights
from ..models.checkpoint import save_checkpoint
from ..models.conditioner import IMAGENET_MEAN, IMAGENET_STD, ConditionerConfig, ImageConditioner
from ..models.dit import DiTConfig, ShapeDiT
from ..models.shapevae import ShapeVAE, load_shapevae
from ..runtime import Runtime
from ..sampling import SchedulerConfig, initial_noise, make_scheduler, sample
from ..silhouette import iou
from .common import (
    LogFn,
    RunState,
    _silent,
    load_optimizer,
    open_run,
    optimise,
    plot_curves,
    save_optimizer,
    seed_everything,
    series,
    write_state,
)
from .vae import collate, encoder_points, encoder_queries

TINY_CONDITIONER = ConditionerConfig(
    hidden_size=128,
    num_hidden_layers=3,
    num_attention_heads=4,
    mlp_ratio=4,
    use_swiglu_ffn=False,
    patch_size=14,
    image_size=112,  # 8 x 8 patches + CLS = 65 tokens: silhouettes and shading at a fraction of 224's cost
    input_size=112,
    layerscale_value=1.0,
)
TINY_DIT = DiTConfig(
    in_channels=16,  # set to the VAE's latent_channels
    context_in_dim=128,  # set to the conditioner's hidden_size
    hidden_size=128,
    mlp_ratio=4.0,
    num_heads=4,
    depth=2,
    depth_single_blocks=2,
    axes_dim=(32,),
)
PIPELINE_FILE = "pipeline.json"  # sampling defaults of a weights root in our layout


@dataclass(frozen=True)
class DiTTrainOptions:
    dit: DiTConfig = field(default_factory=lambda: TINY_DIT)
    conditioner: ConditionerConfig = field(default_factory=lambda: TINY_CONDITIONER)
    steps: int = 10000
    batch: int = 16
    lr: float = 5e-4
    warmup: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    cond_dropout: float = 0.1  # share of conditions replaced by the unconditional zeros
    encodings: int = 2  # cached latents per training shape (different surface-point subsets)
    color_augment: bool = True  # random channel order / brightness: shape, not colour, must drive the encoder
    # half the samples are the shape mirrored left-right (x -> -x) with its picture flipped: the front camera looks
    # along -z, so the pair stays consistent and the DiT sees twice as many (picture, shape) pairs. Off in the
    # shipped recipe: with it (and machined parts added to the data) held-out silhouettes went 0.550 -> 0.574 but
    # real photos 0.432 -> 0.394 (weights/tiny/EXPERIMENTS.md)
    mirror: bool = False
    # decay of an exponential moving average of the weights (DiT + image encoder) that the held-out figures and the
    # exported weights then use; 0: the raw weights. Off in the shipped recipe: 0.999 scored 0.647 / 0.529 against
    # the raw weights' 0.668 / 0.516 (weights/tiny/EXPERIMENTS.md); the cosine schedule's low final
    # learning rate already averages
    ema: float = 0.0
    # pair each sample's noise tokens with its data tokens by a minimal-cost assignment (equivariant optimal
    # transport, Klein et al. 2023): the DiT is permutation-equivariant over tokens, so any pairing is as valid as
    # any other, and the closest one gives straighter paths and a lower-variance velocity
    # target. Off in the shipped recipe: held-out silhouettes 0.668 -> 0.614 (thin families lost most), photos
    # 0.516 -> 0.541 (within the noise of 13 pictures; weights/tiny/EXPERIMENTS.md)
    match_tokens: bool = False
    # mean of the logit-normal distribution of training times t: below 0, more of the steps near noise (t = 0), where
    # the picture decides the shape (there the condition lowers the loss most; later steps mostly denoise)
    t_mean: float = -0.7
    # weight of an auxiliary loss on the image encoder alone: from its pooled tokens, a linear head predicts where the
    # shape's surface is (the share of its surface samples in each cell of an aux_grid^3 grid over [-1, 1]^3). The
    # flow loss alone hands the encoder a weak signal (the picture lowers it by a few percent); the head is a training
    # aid, neither exported nor needed at inference. 0: off. Both in the shipped recipe since 2026-12-05 (with
    # twice the shapes and a longer schedule; weights/tiny/EXPERIMENTS.md)
    aux_surface: float = 0.3
    aux_grid: int = 16
    seed: int = 0
    sample_steps: int = 25  # inference defaults stored with the weights
    guidance: float = 3.0
    candidates: int = 8  # shapes sampled per picture, the best-matching silhouette kept (shape.ShapeOptions)
    resolution: int = 160  # default decoding grid of generate-shape / image2mesh with these weights
    eval_every: int = 500
    eval_shapes: int = 21
    checkpoint_seconds: float = 120.0
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)  # on a busy machine, 1 is much faster

    # what a run started before an option existed did without it (read_state fills a missing key with this, not
    # with a default that has changed since, so such a run is not resumed under the new recipe)
    BEFORE_ADDED: ClassVar[dict] = {"t_mean": 0.0, "aux_surface": 0.0, "aux_grid": 8}

    def __post_init__(self) -> None:
        if min(self.steps, self.batch, self.encodings, self.threads, self.sample_steps) < 1 or self.lr <= 0:
            raise ConfigError("steps, batch, encodings, threads, sample_steps must be >= 1 and lr > 0")
        if not 0 <= self.cond_dropout < 1:
            raise ConfigError("cond_dropout must be in [0, 1)")
        if not 0 <= self.ema < 1:
            raise ConfigError("ema must be in [0, 1) (0: no weight average)")
        if self.aux_surface < 0 or self.aux_grid < 1:
            raise ConfigError("aux_surface must be >= 0 and aux_grid >= 1")


# ---------------------------------------------------------------------------------------------- caches


def mirror_x(points: torch.Tensor) -> torch.Tensor:
    """[..., 6] xyz + normal -> the same samples of the shape mirrored left-right (x and the normal's x negated)."""
    out = points.clone()
    out[..., 0] = -out[..., 0]
    out[..., 3] = -out[..., 3]
    return out


@torch.no_grad()
def encode_dataset(
    vae: ShapeVAE, data: Path, split: str, encodings: int, seed: int, log: LogFn, mirrored: bool = False
) -> dict:
    """Posterior means of every shape of `split` (mirrored left-right when `mirrored`):
    {"latents": [S, K, N, C], "names": [...], "family": [S]}."""
    c = vae.config
    ds = ShapeDataset(data, split, c.pc_size, c.pc_sharpedge_size, 1, images=False, seed=seed)
    out = torch.zeros(len(ds), encodings, c.num_latents, c.latent_channels)
    for k in range(encodings):
        ds.set_epoch(k)
        for start in range(0, len(ds), 16):
            batch = collate([ds[i] for i in range(start, min(start + 16, len(ds)))])
            if mirrored:
                batch["surface"], batch["sharp"] = mirror_x(batch["surface"]), mirror_x(batch["sharp"])
            queries = encoder_queries(batch, c, seed + k)
            out[start : start + len(batch["name"]), k] = vae.encode(encoder_points(batch), queries).float()
        log(f"encoded {split} shapes{' (mirrored)' if mirrored else ''}, pass {k + 1}/{encodings}")
    names = [it["name"] for it in ds.items]
    return {
        "latents": out,
        "names": names,
        "family": torch.tensor([ds.families.index(it["family"]) for it in ds.items]),
    }


def load_images(data: Path, split: str, size: int, log: LogFn, per_shape: int | None = None) -> torch.Tensor:
    """Every shape's conditioning images (the first `per_shape`, all when None), prepared as at inference and
    resized to `size`: [S, I, 3, size, size] uint8, I = the smallest image count of any shape."""
    index = load_index(data)
    items = [it for it in index["items"] if it["split"] == split]
    if missing := [it["name"] for it in items if not it["images"]]:
        raise InputError(f"{data}: shape {missing[0]} has no conditioning image")
    count = min(len(it["images"]) for it in items) if items else 1
    count = count if per_shape is None else min(count, per_shape)
    out = torch.zeros(len(items), count, 3, size, size, dtype=torch.uint8)
    for i, it in enumerate(items):
        for k, rel in enumerate(it["images"][:count]):
            out[i, k] = to_pixels_u8(prepare_image(Image.open(Path(data) / rel)).tensor, size)[0]
        if (i + 1) % 200 == 0:
            log(f"prepared {i + 1}/{len(items)} {split} shapes' images")
    return out


def to_pixels_u8(image: torch.Tensor, size: int) -> torch.Tensor:
    """[B, 3, H, W] in [-1, 1] -> [B, 3, size, size] uint8, resized as ImageConditioner.pixel_values does."""
    x = (image.float() + 1) / 2
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def normalise(pixels_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 3, S, S] -> ImageNet-normalised float (what ImageConditioner.encode_pixels takes)."""
    x = pixels_u8.float() / 255
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def augment(pixels_u8: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random channel order and brightness per image; white stays white, so the background is unchanged."""
    b = pixels_u8.shape[0]
    x = pixels_u8.float() / 255
    perm = torch.stack([torch.randperm(3, generator=gen) for _ in range(b)])  # [B, 3]
    x = torch.gather(x, 1, perm[:, :, None, None].expand_as(x))
    gain = 0.8 + 0.4 * torch.rand(b, 1, 1, 1, generator=gen)
    x = 1 - (1 - x) * gain  # darken / lighten the object, leave white at 1
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def _cache(run: Path, vae: ShapeVAE, data: Path, opts: DiTTrainOptions, log: LogFn) -> dict:
    """Latents (run/latents.pt) and prepared images (run/images.pt) of the training and held-out shapes, each
    computed once. The images do not depend on the VAE: a run folder can be seeded with another run's images.pt."""
    size = opts.conditioner.input_size
    images = _cached(
        run / "images.pt",
        lambda: {
            "images": load_images(data, "train", size, log),  # [S, I, 3, size, size]
            "held_images": load_images(data, "heldout", size, log, per_shape=1)[:, 0],  # the evaluation picture
        },
    )
    if images["images"].ndim != 5 or tuple(images["images"].shape[-2:]) != (size, size):
        raise InputError(f"{run / 'images.pt'}: images of another size or an older layout; delete it")

    def latents() -> dict:
        train = encode_dataset(vae, data, "train", opts.encodings, opts.seed, log)
        held = encode_dataset(vae, data, "heldout", 1, opts.seed + 1, log)
        out = {
            "latents": train["latents"],
            "held_latents": held["latents"][:, 0],
            "held_family": held["family"],
            "scale_factor": torch.tensor(1.0 / float(train["latents"].std())),
        }
        if opts.mirror:  # the same shapes mirrored left-right: [S, K, N, C]
            mirrored = encode_dataset(vae, data, "train", opts.encodings, opts.seed + 2, log, mirrored=True)
            out["mirrored_latents"] = mirrored["latents"]
        return out

    cached = _cached(run / "latents.pt", latents)
    if opts.mirror and "mirrored_latents" not in cached:
        raise InputError(f"{run / 'latents.pt'}: latents of an older layout (no mirrored shapes); delete it")
    return {**images, **cached}


def _cached(path: Path, make: Callable[[], dict]) -> dict:
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    value = make()
    with atomic_path(path) as tmp:
        torch.save(value, tmp)
    return value


# ---------------------------------------------------------------------------------------------- training


def surface_histogram(surface: np.ndarray, grid: int) -> torch.Tensor:
    """[P, 3+] surface samples in [-1, 1]^3 -> [grid, grid, grid] (x, y, z) share of the samples in each cell."""
    cell = np.clip(((surface[:, :3] + 1) / 2 * grid).astype(np.int64), 0, grid - 1)  # [P, 3]
    flat = (cell[:, 0] * grid + cell[:, 1]) * grid + cell[:, 2]
    counts = np.bincount(flat, minlength=grid**3).astype(np.float32)
    return torch.from_numpy(counts / max(len(flat), 1)).view(grid, grid, grid)


def surface_histograms(data: Path, split: str, grid: int) -> torch.Tensor:
    """Every `split` shape's surface_histogram, in index order (the order of encode_dataset): [S, grid, grid, grid]."""
    items = [it for it in load_index(data)["items"] if it["split"] == split]
    out = torch.zeros(len(items), grid, grid, grid)
    for i, it in enumerate(items):
        with np.load(Path(data) / it["npz"]) as z:
            out[i] = surface_histogram(z["surface"], grid)
    return out


def aux_surface_loss(head: torch.nn.Module, tokens: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the head's cell distribution (from the mean of tokens [B, L, D]) against the surface
    histograms target [B, G, G, G]."""
    logits = head(tokens.mean(1))  # [B, G^3]
    return -(target.flatten(1) * F.log_softmax(logits, -1)).sum(-1).mean()


def match_noise(noise: torch.Tensor, x_data: torch.Tensor) -> torch.Tensor:
    """noise, x_data: [B, N, C] -> noise with each sample's N tokens reordered so that token j goes with data token j
    at the least total squared distance (Hungarian assignment per sample)."""
    cost = torch.cdist(noise.double(), x_data.double()).square().numpy()  # [B, N, N]
    matched = torch.empty_like(noise)
    for b, c in enumerate(cost):
        rows, cols = linear_sum_assignment(c)
        matched[b, torch.from_numpy(cols)] = noise[b, torch.from_numpy(rows)]
    return matched


def flow_loss(
    dit: ShapeDiT,
    cond: torch.Tensor,
    x_data: torch.Tensor,
    gen: torch.Generator,
    match: bool = False,
    t_mean: float = 0.0,
) -> torch.Tensor:
    """Rectified-flow loss, reference convention: x_t = t x_data + (1 - t) noise, target v = x_data - noise;
    t logit-normal around sigmoid(t_mean); match: noise tokens paired with data tokens by match_noise."""
    b = x_data.shape[0]
    noise = torch.randn(x_data.shape, generator=gen)
    if match:
        noise = match_noise(noise, x_data)
    t = torch.sigmoid(torch.randn(b, generator=gen) + t_mean)  # logit-normal: most weight mid-way for t_mean 0
    x_t = t[:, None, None] * x_data + (1 - t[:, None, None]) * noise
    return F.mse_loss(dit(x_t, t, cond), x_data - noise)


def train_dit(
    data: Path,
    vae_dir: Path,
    run: Path,
    opts: DiTTrainOptions = DiTTrainOptions(),
    resume: bool = False,
    log: LogFn = _silent,
) -> RunState:
    """Train (or continue) DiT + image encoder. The run folder is a weights root (shapevae/, dit/, conditioner/,
    pipeline.json) after every checkpoint, plus the training state described in train/common.py."""
    data, vae_dir, run = Path(data), Path(vae_dir), Path(run)
    torch.set_num_threads(opts.threads)
    state = open_run(run, opts, resume)
    run.mkdir(parents=True, exist_ok=True)
    vae = load_shapevae(vae_dir, Runtime(torch.device("cpu"), torch.float32), need_encoder=True)
    cache = _cache(run, vae, data, opts, log)
    scale = float(cache["scale_factor"])
    latents = cache["latents"] * scale  # [S, K, N, C] in DiT space
    mirrored = cache["mirrored_latents"] * scale if opts.mirror else None  # [S, K, N, C]
    s_count = latents.shape[0]
    dit_cfg = replace(opts.dit, in_channels=vae.config.latent_channels, context_in_dim=opts.conditioner.hidden_size)
    generator = seed_everything(opts.seed)
    conditioner = ImageConditioner(opts.conditioner)
    dit = ShapeDiT(dit_cfg)
    with torch.no_grad():  # start as "predict zero velocity": a calm start for the adaLN stack
        dit.final_layer.linear.weight.zero_()
        dit.final_layer.linear.bias.zero_()
    trained = torch.nn.ModuleDict({"dit": dit, "conditioner": conditioner})
    average = AveragedModel(trained, multi_avg_fn=get_ema_multi_avg_fn(opts.ema)) if opts.ema else None
    shown = average.module if average is not None else trained  # what is evaluated and exported
    params = [*dit.parameters(), *conditioner.parameters()]
    aux_head, histograms = None, None
    if opts.aux_surface:  # a training aid for the encoder: seeded after the models, kept in optimizer.pt only
        aux_head = torch.nn.Sequential(
            torch.nn.LayerNorm(opts.conditioner.hidden_size),
            torch.nn.Linear(opts.conditioner.hidden_size, opts.aux_grid**3),
        )
        params += list(aux_head.parameters())
        histograms = surface_histograms(data, "train", opts.aux_grid)  # [S, G, G, G]
    optimizer = torch.optim.AdamW(params, lr=opts.lr, weight_decay=opts.weight_decay, betas=(0.9, 0.99))
    if state is not None:
        extra = load_optimizer(run, optimizer, generator)
        for name in ("dit", "conditioner"):
            shown[name].load_state_dict(read_weights(run / name / "model.safetensors"))
        if aux_head is not None:
            aux_head.load_state_dict(extra["aux_head"])
        if average is not None:  # the exported weights are the average; the raw ones are in optimizer.pt
            if "raw" not in extra:
                raise InputError(f"{run / 'optimizer.pt'}: no raw weights to resume the weight average from")
            trained.load_state_dict(extra["raw"])
            average.n_averaged.fill_(int(extra["n_averaged"]))
        write_pipeline(run, opts)  # the inference defaults may differ from the run's start: they only go here
        log(f"resumed {run} at step {state.step}")
    else:
        state = RunState(extra={"scale_factor": scale})
    n_dit = sum(p.numel() for p in dit.parameters())
    n_cond = sum(p.numel() for p in conditioner.parameters())
    log(f"DiT {n_dit / 1e6:.2f} M + image encoder {n_cond / 1e6:.2f} M parameters; {s_count} shapes; scale {scale:.4f}")
    dit.train()
    conditioner.train()

    def step_loss(step: int) -> tuple[torch.Tensor, dict]:
        rng = np.random.default_rng([opts.seed, step])  # batch choice is a function of the step: resumable
        x_data, pixels, hist = training_pairs(latents, mirrored, cache["images"], opts.batch, rng, histograms)
        if opts.color_augment:
            pixels = augment(pixels, generator)
        tokens = conditioner.encode_pixels(normalise(pixels))  # [B, L, D]
        drop = torch.rand(opts.batch, generator=generator) < opts.cond_dropout
        cond = torch.where(drop[:, None, None], torch.zeros_like(tokens), tokens)
        loss = flow_loss(dit, cond, x_data, generator, opts.match_tokens, opts.t_mean)
        if aux_head is None:
            return loss, {}
        aux = aux_surface_loss(aux_head, tokens, hist)
        return loss + opts.aux_surface * aux, {"flow": loss.item(), "aux": aux.item()}

    def evaluate(last: bool) -> tuple[dict, str]:
        metrics = heldout_generation(shown["dit"], shown["conditioner"], vae, cache, data, scale, opts)
        return metrics, f"held-out flow loss {metrics['flow_loss']:.4f}, generated-shape IoU {metrics['gen_iou']:.4f}"

    def checkpoint() -> None:
        extra = {} if average is None else {"raw": trained.state_dict(), "n_averaged": average.n_averaged.clone()}
        if aux_head is not None:
            extra["aux_head"] = aux_head.state_dict()
        checkpoint_dit(run, vae, shown["dit"], shown["conditioner"], optimizer, generator, state, opts, scale, extra)

    after_step = None if average is None else (lambda: average.update_parameters(trained))
    return optimise(state, opts, params, optimizer, step_loss, evaluate, checkpoint, log, after_step)


def training_pairs(
    latents: torch.Tensor,
    mirrored: torch.Tensor | None,
    images: torch.Tensor,
    batch: int,
    rng: np.random.Generator,
    histograms: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """A batch of (latent [B, N, C], picture [B, 3, S, S], surface histogram [B, G, G, G] or None) triples: a random
    shape, one of its K encodings (latents, mirrored: [S, K, N, C]), one of its I pictures (images:
    [S, I, 3, S, S]) and its histogram (histograms: [S, G, G, G], x first). With mirrored latents, each pair is, at
    even odds, the mirrored shape with its picture flipped left-right (and its histogram mirrored in x)."""
    s_count, k_count = latents.shape[:2]
    idx = torch.from_numpy(rng.choice(s_count, batch, replace=s_count < batch))
    pick = torch.from_numpy(rng.integers(k_count, size=batch))
    view = torch.from_numpy(rng.integers(images.shape[1], size=batch))
    x_data, pixels = latents[idx, pick], images[idx, view]
    hist = None if histograms is None else histograms[idx]
    if mirrored is not None:
        flip = torch.from_numpy(rng.random(batch) < 0.5)
        x_data = torch.where(flip[:, None, None], mirrored[idx, pick], x_data)
        pixels = torch.where(flip[:, None, None, None], pixels.flip(-1), pixels)
        if hist is not None:
            hist = torch.where(flip[:, None, None, None], hist.flip(1), hist)
    return x_data, pixels, hist


@torch.no_grad()
def heldout_generation(
    dit: ShapeDiT, conditioner: ImageConditioner, vae: ShapeVAE, cache: dict, data: Path, scale: float, opts
) -> dict:
    """Held-out flow loss (fixed noise and t) and the occupancy IoU of shapes generated from held-out images
    against the true shapes (uniform query points), with the inference defaults (steps, guidance)."""
    dit.eval()
    conditioner.eval()
    n = min(opts.eval_shapes, len(cache["held_latents"])) if opts.eval_shapes else len(cache["held_latents"])
    idx = torch.from_numpy(np.linspace(0, len(cache["held_latents"]) - 1, n).round().astype(np.int64))
    x_data = cache["held_latents"][idx] * scale
    cond = conditioner.encode_pixels(normalise(cache["held_images"][idx]))
    gen = torch.Generator().manual_seed(1234)
    # the training objective's coupling, the standard t distribution (figures comparable across t_mean)
    flow = float(flow_loss(dit, cond, x_data, gen, opts.match_tokens))
    generated = sample_dit(dit, cond, x_data.shape[1], opts.sample_steps, opts.guidance, seed=1234) / scale  # VAE space
    held = ShapeDataset(data, "heldout", None, None, None, images=False)
    ious = []
    ctx = vae.geo_decoder.context(vae.decode(generated))
    for b, i in enumerate(idx.tolist()):
        with np.load(held.root / held.items[i]["npz"]) as z:
            n_uni = int(z["n_uniform"])
            pts, occ = torch.from_numpy(z["points"][:n_uni])[None], z["occupancy"][:n_uni] > 0
        pred = vae.geo_decoder.query(pts, (ctx[0][b : b + 1], ctx[1][b : b + 1]))[0, :, 0] > 0
        ious.append(iou(pred.numpy(), occ))
    dit.train()
    conditioner.train()
    return {"flow_loss": flow, "gen_iou": float(np.mean(ious))}


def sample_dit(
    dit: ShapeDiT, cond: torch.Tensor, num_latents: int, steps: int, guidance: float, seed: int
) -> torch.Tensor:
    """Euler sampling as at inference (latentgen.sampling), with CFG against the zeros condition -> [B, N, C]."""
    noise = initial_noise((cond.shape[0], num_latents, dit.config.in_channels), seed)
    uncond = torch.zeros_like(cond)

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = dit(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, uncond]))
        v_c, v_u = out.chunk(2)
        return v_u + guidance * (v_c - v_u)

    return sample(velocity, noise, make_scheduler(SchedulerConfig(), steps))


def checkpoint_dit(
    run: Path,
    vae: ShapeVAE,
    dit,
    conditioner,
    optimizer,
    generator,
    state: RunState,
    opts: DiTTrainOptions,
    scale,
    extra: dict | None = None,
) -> None:
    write_weights_root(run, vae, dit, conditioner, scale, opts)
    save_optimizer(run, optimizer, generator, extra)
    write_state(run, state, opts)
    train_key = "flow" if opts.aux_surface else "loss"  # with the surface aid, "loss" also holds its weighted term
    plot_curves(
        run / "curve.png",
        [
            (
                "flow-matching loss (train, log)",
                {"train": series(state.history, train_key, 4), "held-out": series(state.history, "heldout_flow_loss")},
                True,
            ),
            ("held-out generated-shape IoU", {"IoU": series(state.history, "heldout_gen_iou")}, False),
        ],
    )


def write_weights_root(
    root: Path, vae: ShapeVAE, dit: ShapeDiT, conditioner: ImageConditioner, scale: float, opts: DiTTrainOptions
) -> None:
    """shapevae/ (with scale_factor), dit/, conditioner/ and pipeline.json: what load_shape_models reads."""
    root = Path(root)
    save_checkpoint(vae, replace(vae.config, scale_factor=scale), root / "shapevae")
    save_checkpoint(dit, dit.config, root / "dit")
    save_checkpoint(conditioner, conditioner.config, root / "conditioner")
    write_pipeline(root, opts)


def write_pipeline(root: Path, opts: DiTTrainOptions) -> None:
    """pipeline.json: the inference defaults of a weights root (sampler, candidates, decoding grid)."""
    pipeline = {
        "scheduler": {"kind": "flow", "num_train_timesteps": 1000, "shift": 1.0},
        "steps": opts.sample_steps,
        "guidance": opts.guidance,
        "candidates": opts.candidates,
        "resolution": opts.resolution,
        "image_size": 512,
        "border_ratio": 0.15,
    }
    with atomic_path(Path(root) / PIPELINE_FILE) as tmp:
        tmp.write_text(json.dumps(pipeline, indent=2) + "\n")


def export_weights(run: Path, out: Path) -> None:
    """Copy the weights root of a DiT run (shapevae/, dit/, conditioner/, pipeline.json) into `out`."""
    run, out = Path(run), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("shapevae", "dit", "conditioner"):
        if not (run / name / "model.safetensors").is_file():
            raise InputError(f"{run}: no {name}/ checkpoint yet")
        with atomic_dir(out / name) as tmp:
            for f in ("config.json", "model.safetensors"):
                shutil.copy2(run / name / f, tmp / f)
    shutil.copy2(run / PIPELINE_FILE, out / PIPELINE_FILE)
