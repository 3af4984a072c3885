"""Train a ShapeVAE on a shape dataset folder (latentgen.data layout): occupancy loss + a small KL term.

    from latentgen.train import VAETrainOptions, train_vae
    state = train_vae("out/train/data", "out/train/vae", VAETrainOptions(steps=6000), resume=True, log=print)
    vae = load_shapevae("out/train/vae/model", rt)          # usable at every checkpoint

Per step: a batch of shapes, each with surface + sharp-edge points (xyz + normal) for the encoder and labelled
query points (uniform in [-1, 1]^3 and near the surface) for the decoder; z is sampled from the posterior.
What keeps a small VAE from collapsing on this CPU budget (../shared/notes/training.md): Fourier features
without pi, learned latent queries (each latent slot has an identity), the posterior's log-variance starting
near -4 (pre_kl bias) so the sampling noise does not drown the means at initialisation, and a KL weight ~1e-4.
Held-out IoU (uniform query points of shapes never trained on) is logged during training.

Fine-tuning (`init`, `freeze_encoder`): start from a trained ShapeVAE, optionally with more decoder blocks
(appended as identities), and train the decoder only; the latents stay the same, so does a DiT trained on them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.dataset import ShapeDataset
from ..errors import ConfigError, InputError
from ..models.checkpoint import open_checkpoint, save_checkpoint, weights_file
from ..models.checkpoint import read_state as read_weights
from ..models.shapevae import ShapeVAE, ShapeVAEConfig, shapevae_config
from ..pointcloud import farthest_point_sampling
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

TINY_VAE = ShapeVAEConfig(
    num_latents=128,
    embed_dim=16,
    width=128,
    heads=4,
    num_decoder_layers=4,
    num_encoder_layers=1,
    pc_size=2048,
    pc_sharpedge_size=512,
    point_feats=3,
    num_freqs=8,
    include_pi=False,
    with_encoder=True,
    encoder_queries="points",  # FPS surface points: each latent is anchored where it sits (learned queries: slower)
    latent_positions=True,  # ... and the decoder is told where: the largest single gain in the CPU trials
)


@dataclass(frozen=True)
class VAETrainOptions:
    model: ShapeVAEConfig = field(default_factory=lambda: TINY_VAE)
    steps: int = 5500
    batch: int = 8
    lr: float = 1e-3
    warmup: int = 300
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    kl_weight: float = 1e-4
    logvar_init: float = -4.0  # pre_kl bias of the log-variance half
    sample_posterior: bool = False  # False: decode the posterior mean (an autoencoder; the KL keeps its scale)
    # each shape scaled by a random factor in [1, 1 + scale_jitter]: the dataset fills [-0.9, 0.9]^3 while encode
    # normalises meshes to [-0.9999, 0.9999]^3 as the reference loader does; the VAE must handle both
    scale_jitter: float = 0.11
    n_queries: int = 1024  # decoder queries per shape (stored uniform : near-surface ratio)
    seed: int = 0
    eval_every: int = 300  # steps between held-out IoU evaluations (0: only at the end)
    eval_shapes: int = 42  # held-out shapes evaluated during training (0: all)
    # Fine-tuning: start from a trained ShapeVAE folder. Its config must equal `model` up to the decoder depth:
    # extra decoder blocks are appended as identity blocks (zero output projections), so step 0 decodes as it.
    init: str = ""
    # Train the decoder only: encoder and posterior stay as in `init`, so the latents (and any DiT trained on
    # them, with their scale factor) stay valid while reconstructions improve.
    freeze_encoder: bool = False
    checkpoint_seconds: float = 120.0
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)  # on a busy machine, 1 is much faster

    def __post_init__(self) -> None:
        if min(self.steps, self.batch, self.n_queries, self.threads) < 1 or self.lr <= 0:
            raise ConfigError("steps, batch, n_queries, threads must be >= 1 and lr > 0")
        if not self.model.with_encoder:
            raise ConfigError("training needs a ShapeVAE with an encoder (with_encoder=True)")
        if self.freeze_encoder and not self.init:
            raise ConfigError("freezing the encoder needs trained weights to start from (init, --init)")


def new_vae(config: ShapeVAEConfig, logvar_init: float, seed: int) -> ShapeVAE:
    torch.manual_seed(seed)
    vae = ShapeVAE(config)
    with torch.no_grad():  # start with small posterior noise: std e^(logvar/2) ~ 0.14 at -4
        vae.pre_kl.bias[config.embed_dim :].fill_(logvar_init)
        vae.pre_kl.weight[config.embed_dim :].mul_(0.1)
    return vae


def trained_config(folder: Path) -> ShapeVAEConfig:
    """The config of a trained ShapeVAE folder: the sizes a fine-tune starting from it keeps."""
    ckpt = open_checkpoint(Path(folder), "vae")
    if ckpt is None:
        raise InputError(f"{folder}: not a ShapeVAE folder (config.json + model.safetensors)")
    return shapevae_config(ckpt)


def start_from(vae: ShapeVAE, init: Path) -> None:
    """Load the ShapeVAE weights folder `init` into `vae`, which may have more decoder blocks than it; those
    start as identity blocks (zeroed output projections of their attention and MLP, pre-LN residual layout)."""
    init = Path(init)
    theirs = read_weights(weights_file(init))
    ours = vae.state_dict()
    have = len(vae.transformer.resblocks)
    old = 1 + max((int(k.split(".")[2]) for k in theirs if k.startswith("transformer.resblocks.")), default=-1)
    added = [f"transformer.resblocks.{i}." for i in range(old, have)]
    missing = [k for k in ours if k not in theirs and not k.startswith(tuple(added))]
    unexpected = [k for k in theirs if k not in ours]
    wrong = [k for k in theirs if k in ours and theirs[k].shape != ours[k].shape]
    if old > have:
        raise ConfigError(f"{init}: has {old} decoder layers, more than this model's {have}; they can only grow")
    if missing or unexpected or wrong:
        differ = (missing + unexpected + wrong)[:3]
        raise ConfigError(
            f"{init}: its ShapeVAE does not match this model (differs in {differ}); only the number of decoder"
            " layers may grow"
        )
    vae.load_state_dict(theirs, strict=False)
    with torch.no_grad():
        for block in vae.transformer.resblocks[old:]:
            for proj in (block.attn.c_proj, block.mlp.c_proj):
                proj.weight.zero_()
                proj.bias.zero_()


def freeze_encoder(vae: ShapeVAE) -> list[torch.nn.Parameter]:
    """Fix what maps points to the posterior (encoder, pre_kl); returns the parameters left to train."""
    for module in (vae.encoder, vae.pre_kl):
        module.requires_grad_(False)
    return [p for p in vae.parameters() if p.requires_grad]


def encoder_points(batch: dict) -> torch.Tensor:
    """surface [B, P, 6] + sharp [B, S, 6] -> encoder input [B, P+S, 6] (xyz + normal)."""
    return torch.cat([batch["surface"], batch["sharp"]], dim=1).float()


def encoder_queries(batch: dict, config: ShapeVAEConfig, seed: int = 0) -> torch.Tensor | None:
    """Point queries [B, N, 6] as encode.encoder_inputs picks them at inference (farthest-point sampling of the
    uniform and sharp samples in the pc_size : pc_sharpedge_size ratio), or None for learned queries."""
    if config.encoder_queries == "learned":
        return None
    n_uniform = round(config.num_latents * config.uniform_query_fraction)
    rng = np.random.default_rng(seed)
    out = []
    for surface, sharp in zip(batch["surface"].numpy(), batch["sharp"].numpy(), strict=True):
        parts = [surface[farthest_point_sampling(surface[:, :3], n_uniform, int(rng.integers(len(surface))))]]
        if config.num_latents > n_uniform:
            k = config.num_latents - n_uniform
            parts.append(sharp[farthest_point_sampling(sharp[:, :3], k, int(rng.integers(len(sharp))))])
        out.append(np.concatenate(parts))
    return torch.from_numpy(np.stack(out)).float()


def jitter_scale(batch: dict, jitter: float, rng: np.random.Generator) -> dict:
    """Scale each shape's points (surface, sharp, queries) about the origin; occupancy is unchanged by it."""
    if jitter <= 0:
        return batch
    s = torch.from_numpy(rng.uniform(1.0, 1.0 + jitter, len(batch["name"]))).float()[:, None]  # [B, 1]
    out = dict(batch)
    for k in ("surface", "sharp", "points"):
        x = batch[k].clone()
        x[..., :3] *= s[:, :, None] if x.ndim == 3 else s
        out[k] = x
    return out


def collate(items: list[dict]) -> dict:
    out = {k: torch.stack([it[k] for it in items]) for k in ("surface", "sharp", "points", "occupancy")}
    out["family"] = torch.tensor([it["family"] for it in items])
    out["name"] = [it["name"] for it in items]
    return out


def batch_indices(n: int, batch: int, step: int, seed: int) -> tuple[int, np.ndarray]:
    """(epoch, indices) of `step`: a fresh permutation per epoch, so a resumed run sees the same batches."""
    per_epoch = max(1, n // batch)
    epoch, k = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return epoch, perm[k * batch : (k + 1) * batch]


def vae_loss(
    vae: ShapeVAE, batch: dict, kl_weight: float, generator: torch.Generator, sample: bool = True, seed: int = 0
) -> tuple[torch.Tensor, dict]:
    queries = encoder_queries(batch, vae.config, seed)
    post = vae.posterior(encoder_points(batch), queries)
    z = vae.with_positions(post.sample(generator) if sample else post.mode(), queries)  # [B, N, C]
    logits = vae.occupancy(vae.decode(z), batch["points"].float())  # [B, Q]
    occ = F.binary_cross_entropy_with_logits(logits, batch["occupancy"].float())
    kl = 0.5 * (post.mean.pow(2) + post.logvar.exp() - 1 - post.logvar).sum(-1).mean()  # nats per token
    return occ + kl_weight * kl, {"occ": occ.item(), "kl": kl.item()}


@torch.no_grad()
def heldout_iou(vae: ShapeVAE, data: ShapeDataset, limit: int = 0, chunk: int = 8) -> dict:
    """IoU of predicted vs true occupancy on each held-out shape's uniform query points (posterior mean).

    Returns {"iou": mean over shapes, "family/<name>": mean per family}."""
    was_training = vae.training
    vae.eval()
    idx = _spread(len(data), limit, [data.items[i]["family"] for i in range(len(data))])
    scores: dict[str, list[float]] = {}
    for start in range(0, len(idx), chunk):
        items = [data[i] for i in idx[start : start + chunk]]
        n_uni = [len(it["points"]) if "n_uniform" not in it else it["n_uniform"] for it in items]
        batch = collate(items)
        z = vae.encode(encoder_points(batch), encoder_queries(batch, vae.config))
        ctx = vae.geo_decoder.context(vae.decode(z))
        for b, it in enumerate(items):
            pts = it["points"][: n_uni[b]][None].float()
            pred = vae.geo_decoder.query(pts, (ctx[0][b : b + 1], ctx[1][b : b + 1]))[0, :, 0] > 0
            fam = data.families[it["family"]]
            scores.setdefault(fam, []).append(iou(pred.numpy(), it["occupancy"][: n_uni[b]].numpy() > 0))
    vae.train(was_training)
    out = {"iou": float(np.mean([s for v in scores.values() for s in v]))}
    out.update({f"family/{f}": float(np.mean(v)) for f, v in sorted(scores.items())})
    return out


def _spread(n: int, limit: int, families: list[str]) -> list[int]:
    """Up to `limit` indices, taken round-robin over families so each family is represented."""
    if limit <= 0 or limit >= n:
        return list(range(n))
    by_family: dict[str, list[int]] = {}
    for i, f in enumerate(families):
        by_family.setdefault(f, []).append(i)
    out: list[int] = []
    while len(out) < limit:
        for members in by_family.values():
            if members and len(out) < limit:
                out.append(members.pop(0))
    return sorted(out)


class _UniformOnly(ShapeDataset):
    """Held-out items with all stored queries, the uniform ones first (their count in n_uniform)."""

    def __getitem__(self, i: int) -> dict:
        item = super().__getitem__(i)
        with np.load(self.root / self.items[i]["npz"]) as z:
            item["n_uniform"] = int(z["n_uniform"])
        return item


def train_vae(
    data: Path, run: Path, opts: VAETrainOptions = VAETrainOptions(), resume: bool = False, log: LogFn = _silent
) -> RunState:
    """Train (or, with resume, continue) a ShapeVAE; writes the run folder described in train/common.py."""
    data, run = Path(data), Path(run)
    torch.set_num_threads(opts.threads)
    state = open_run(run, opts, resume)
    c = opts.model
    train = ShapeDataset(data, "train", c.pc_size, c.pc_sharpedge_size, opts.n_queries, images=False, seed=opts.seed)
    held = _UniformOnly(data, "heldout", c.pc_size, c.pc_sharpedge_size, None, images=False, seed=opts.seed + 1)
    if len(train) < 1:
        raise InputError(f"{data}: no training shapes")
    generator = seed_everything(opts.seed)
    # encode what the decoder was trained on: the mean, or posterior samples
    c = replace(c, encode_posterior="sample" if opts.sample_posterior else "mean")
    vae = new_vae(c, opts.logvar_init, opts.seed)
    if opts.init and state is None:
        start_from(vae, Path(opts.init))
    params = freeze_encoder(vae) if opts.freeze_encoder else list(vae.parameters())
    optimizer = torch.optim.AdamW(params, lr=opts.lr, weight_decay=opts.weight_decay, betas=(0.9, 0.99))
    if state is not None:
        vae.load_state_dict(read_weights(run / "model" / "model.safetensors"))
        load_optimizer(run, optimizer, generator)
        log(f"resumed {run} at step {state.step}")
    else:
        state = RunState()
        run.mkdir(parents=True, exist_ok=True)
    n_params = sum(p.numel() for p in vae.parameters())
    n_trained = sum(p.numel() for p in params)
    trained = f" ({n_trained / 1e6:.2f} M trained, encoder fixed)" if opts.freeze_encoder else ""
    log(f"ShapeVAE {n_params / 1e6:.2f} M parameters{trained}; {len(train)} training / {len(held)} held-out shapes")
    if opts.init and state.step == 0:
        log(f"starting from {opts.init}")
    vae.train()

    def step_loss(step: int) -> tuple[torch.Tensor, dict]:
        epoch, idx = batch_indices(len(train), opts.batch, step, opts.seed)
        train.set_epoch(epoch)
        batch = collate([train[int(i)] for i in idx])
        batch = jitter_scale(batch, opts.scale_jitter, np.random.default_rng([opts.seed, step]))
        return vae_loss(vae, batch, opts.kl_weight, generator, opts.sample_posterior, step)

    def evaluate(last: bool) -> tuple[dict, str]:
        metrics = heldout_iou(vae, held, 0 if last else opts.eval_shapes)
        return metrics, f"held-out IoU {metrics['iou']:.4f}"

    def checkpoint() -> None:
        checkpoint_vae(run, vae, optimizer, generator, state, opts)

    return optimise(state, opts, params, optimizer, step_loss, evaluate, checkpoint, log)


def checkpoint_vae(
    run: Path, vae: ShapeVAE, optimizer, generator: torch.Generator, state: RunState, opts: VAETrainOptions
) -> None:
    save_checkpoint(vae, vae.config, run / "model")
    save_optimizer(run, optimizer, generator)
    write_state(run, state, opts)  # last: marks the checkpoint complete
    plot_curves(
        run / "curve.png",
        [
            ("ShapeVAE occupancy BCE (train, log)", {"occ": series(state.history, "occ", 4)}, True),
            ("held-out IoU (uniform queries)", {"IoU": series(state.history, "heldout_iou")}, False),
        ],
    )
