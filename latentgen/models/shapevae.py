"""ShapeVAE: a vector-set autoencoder of 3D shapes (Hunyuan3D-2 / 3DShape2VecSet family).

    surface points [B, P, 3+F] --encoder--> [B, N, width] --pre_kl--> posterior over z [B, N, embed_dim]
    z --post_kl + transformer--> decoded latents [B, N, width]
    (decoded latents, query xyz [B, Q, 3]) --geo_decoder--> occupancy logits [B, Q]  (> 0 inside)

Spaces: `z` is "VAE space", what `post_kl` consumes and what `encode` returns. The DiT works in a space
scaled by `scale_factor`: z_vae = z_dit / scale_factor (Hunyuan3D-2 pipeline `_export`).
Parameter names match the reference checkpoints, so `hunyuan3d-vae-v2-0*` folders load without renaming.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..config import config_from_dict
from ..errors import ConfigError, WeightsError
from ..runtime import Runtime
from .checkpoint import Checkpoint, build_exact, resolve_checkpoint
from .layers import FourierEmbedder, ResidualCrossAttentionBlock, Transformer

ENCODER_QUERIES = ("points", "learned")


@dataclass(frozen=True)
class ShapeVAEConfig:
    """Field names and defaults follow the reference `ShapeVAE.__init__` (GitHub source, which has the encoder),
    so a reference `config.yaml`'s params map 1:1. The fields after use_ln_post are latentgen's."""

    num_latents: int  # N latent tokens (the encoder's query count; the decoder takes any N)
    embed_dim: int  # C of z [B, N, C]
    width: int
    heads: int
    num_decoder_layers: int
    num_encoder_layers: int = 8
    pc_size: int = 5120  # uniform surface points fed to the encoder
    pc_sharpedge_size: int = 5120  # sharp-edge points fed to the encoder
    point_feats: int = 3  # per-point features after xyz: normal (3) [+ sharp-edge label (1)]
    downsample_ratio: float = 20  # reference: encoder attends to num_latents * downsample_ratio points
    geo_decoder_downsample_ratio: int = 1  # turbo VAE: 2 (geo decoder at width / 2, heads / 2)
    geo_decoder_mlp_expand_ratio: int = 4
    geo_decoder_ln_post: bool = True
    num_freqs: int = 8
    include_pi: bool = True
    qkv_bias: bool = True
    qk_norm: bool = False
    label_type: str = "binary"  # occupancy logits; the only kind the reference uses
    drop_path_rate: float = 0.0  # training only
    scale_factor: float = 1.0  # z_dit = z_vae * scale_factor
    use_ln_post: bool = True  # encoder ln_post
    # latentgen:
    with_encoder: bool = False  # reference decoder-only checkpoints have no encoder.* / pre_kl.*
    encoder_queries: str = "points"  # "points": FPS-chosen surface points (Hunyuan3D-2); "learned" (3DShape2VecSet)
    # what `encode` returns by default: "sample" (seeded) as hy3dgen's ShapeVAE.encode does and the DiT saw in
    # training; "mean" for models trained as plain autoencoders on the mean (ours)
    encode_posterior: str = "sample"
    # each token also carries the xyz of its query point (3 channels before the embed_dim features), and the
    # decoder adds Fourier(xyz) to it: the decoder then knows where every latent sits, which the small models
    # here need to learn fine parts (../shared/notes/training.md); the generator produces the positions too
    latent_positions: bool = False

    def __post_init__(self) -> None:
        r = self.geo_decoder_downsample_ratio
        if min(self.num_latents, self.embed_dim, self.width, self.heads, self.num_freqs + 1, r) <= 0:
            raise ConfigError(f"ShapeVAEConfig: sizes must be positive ({self})")
        if self.width % self.heads:
            raise ConfigError(f"ShapeVAEConfig: width={self.width} is not a multiple of heads={self.heads}")
        if self.width % r or self.heads % r:
            raise ConfigError(
                f"ShapeVAEConfig: geo_decoder_downsample_ratio={r} must divide width={self.width}, heads={self.heads}"
            )
        if self.encoder_queries not in ENCODER_QUERIES:
            raise ConfigError(f"ShapeVAEConfig: encoder_queries={self.encoder_queries!r}, choose {ENCODER_QUERIES}")
        if self.latent_positions and self.encoder_queries != "points":
            raise ConfigError("ShapeVAEConfig: latent_positions needs point queries (encoder_queries='points')")
        if self.encode_posterior not in ("sample", "mean"):
            raise ConfigError(f"ShapeVAEConfig: encode_posterior={self.encode_posterior!r}, choose 'sample' or 'mean'")
        if self.label_type != "binary":
            raise ConfigError(f"ShapeVAEConfig: label_type={self.label_type!r}: only 'binary' occupancy is supported")
        if (
            self.point_feats < 0
            or self.pc_size < 0
            or self.pc_sharpedge_size < 0
            or self.pc_size + self.pc_sharpedge_size == 0
        ):
            raise ConfigError("ShapeVAEConfig: point_feats / pc_size / pc_sharpedge_size must be >= 0, not all sizes 0")

    @property
    def latent_channels(self) -> int:
        """C of a latent token [N, C]: embed_dim features, plus 3 position channels first with latent_positions."""
        return self.embed_dim + 3 * self.latent_positions

    @property
    def uniform_query_fraction(self) -> float:
        """Share of point queries drawn from uniform (vs sharp-edge) samples, as the reference splits them."""
        return self.pc_size / (self.pc_size + self.pc_sharpedge_size)


LATENTGEN_FIELDS = {"with_encoder", "encoder_queries", "encode_posterior", "latent_positions"}


class DiagonalGaussian:
    """Posterior from moments [B, N, 2C] = (mean, logvar) along the last axis; logvar clamped to [-30, 20]."""

    def __init__(self, moments: Tensor) -> None:
        self.mean, logvar = moments.chunk(2, dim=-1)
        self.logvar = logvar.clamp(-30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)

    def mode(self) -> Tensor:
        return self.mean

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn(self.mean.shape, generator=generator, dtype=torch.float32, device=self.mean.device)
        return self.mean + self.std * eps.to(self.mean.dtype)


class PointEncoder(nn.Module):
    """Reference `PointCrossAttentionEncoder`: query tokens cross-attend to surface-point tokens, then self-attend.

    Tokens of points [B, P, 3+F] = input_proj(cat(fourier(xyz), feats)). Queries are either a subset of the
    points (chosen by the caller, farthest-point sampling in the reference) or, with "learned", parameters.
    """

    def __init__(self, config: ShapeVAEConfig, fourier: FourierEmbedder) -> None:
        super().__init__()
        c = config
        self.fourier_embedder = fourier
        self.point_feats = c.point_feats
        self.input_proj = nn.Linear(fourier.out_dim + c.point_feats, c.width)
        if c.encoder_queries == "learned":
            self.query = nn.Parameter(torch.randn(c.num_latents, c.width) * 0.02)
        self.cross_attn = ResidualCrossAttentionBlock(c.width, c.heads, qkv_bias=c.qkv_bias, qk_norm=c.qk_norm)
        self.self_attn = (
            Transformer(c.width, c.heads, c.num_encoder_layers, c.qkv_bias, c.qk_norm) if c.num_encoder_layers else None
        )
        self.ln_post = nn.LayerNorm(c.width) if c.use_ln_post else None  # eps 1e-5, as the reference

    def tokens(self, points: Tensor) -> Tensor:
        """points: [B, P, 3 + F] (xyz, then at least point_feats feature columns) -> [B, P, 51 + F]."""
        if points.shape[-1] < 3 + self.point_feats:
            raise ValueError(f"points have {points.shape[-1]} columns, the encoder needs 3 + {self.point_feats}")
        feats = points[..., 3 : 3 + self.point_feats].float()
        return torch.cat([self.fourier_embedder(points[..., :3]), feats], dim=-1)

    def forward(self, data: Tensor, queries: Tensor | None = None) -> Tensor:
        """data: [B, P, 3+F] points attended to; queries: [B, N, 3+F] points, or None for learned queries.

        Returns latents [B, N, width]."""
        dtype = self.input_proj.weight.dtype
        x_data = self.input_proj(self.tokens(data).to(dtype))
        if queries is None:
            if not hasattr(self, "query"):
                raise ValueError("this encoder takes point queries (encoder_queries='points')")
            x = self.query.unsqueeze(0).expand(data.shape[0], -1, -1)
        else:
            x = self.input_proj(self.tokens(queries).to(dtype))
        x = self.cross_attn(x, x_data)
        if self.self_attn is not None:
            x = self.self_attn(x)
        return self.ln_post(x) if self.ln_post is not None else x


class GeoDecoder(nn.Module):
    """Reference `CrossAttentionDecoder`: Fourier(query xyz) cross-attends to decoded latents -> one logit.

    Turbo layout (downsample ratio r > 1): the block runs at width / r and heads / r, `latents_proj` maps the
    latents down, and with ln_post off the qk-norm is off too (reference rule).
    """

    def __init__(self, config: ShapeVAEConfig, fourier: FourierEmbedder) -> None:
        super().__init__()
        c, r = config, config.geo_decoder_downsample_ratio
        width, heads = c.width // r, c.heads // r
        self.fourier_embedder = fourier
        self.query_proj = nn.Linear(fourier.out_dim, width)
        self.latents_proj = nn.Linear(c.width, width) if r != 1 else None
        self.cross_attn_decoder = ResidualCrossAttentionBlock(
            width,
            heads,
            mlp_expand_ratio=c.geo_decoder_mlp_expand_ratio,
            qkv_bias=c.qkv_bias,
            qk_norm=c.qk_norm and c.geo_decoder_ln_post,
        )
        self.ln_post = nn.LayerNorm(width) if c.geo_decoder_ln_post else None  # eps 1e-5 here, unlike the blocks
        self.output_proj = nn.Linear(width, 1)

    def context(self, latents: Tensor) -> tuple[Tensor, Tensor]:
        """Decoded latents [B, N, width] -> keys/values, computed once per shape and reused for every query chunk."""
        if self.latents_proj is not None:
            latents = self.latents_proj(latents)
        return self.cross_attn_decoder.context(latents)

    def query(self, xyz: Tensor, ctx: tuple[Tensor, Tensor]) -> Tensor:
        """xyz: [B, Q, 3] -> logits [B, Q, 1] in the weights' dtype. Queries never see each other: chunking is exact."""
        x = self.query_proj(self.fourier_embedder(xyz).to(self.query_proj.weight.dtype))
        x = self.cross_attn_decoder.attend(x, ctx)
        if self.ln_post is not None:
            x = self.ln_post(x)
        return self.output_proj(x)

    def forward(self, queries: Tensor, latents: Tensor) -> Tensor:
        return self.query(queries, self.context(latents))


class ShapeVAE(nn.Module):
    """Hunyuan3D-2 `ShapeVAE` (decoder, and encoder when `config.with_encoder`)."""

    def __init__(self, config: ShapeVAEConfig) -> None:
        super().__init__()
        c = self.config = config
        self.name = ""  # model id (checkpoint folder name), set by the loader; stored in latents
        self.fourier_embedder = FourierEmbedder(c.num_freqs, c.include_pi)
        if c.with_encoder:
            self.encoder = PointEncoder(c, self.fourier_embedder)
            self.pre_kl = nn.Linear(c.width, 2 * c.embed_dim)
        self.post_kl = nn.Linear(c.embed_dim, c.width)
        if c.latent_positions:
            self.pos_proj = nn.Linear(self.fourier_embedder.out_dim, c.width)
        self.transformer = Transformer(c.width, c.heads, c.num_decoder_layers, c.qkv_bias, c.qk_norm)
        self.geo_decoder = GeoDecoder(c, self.fourier_embedder)

    @property
    def has_encoder(self) -> bool:
        return self.config.with_encoder

    @property
    def dtype(self) -> torch.dtype:
        return self.post_kl.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.post_kl.weight.device

    def posterior(self, data: Tensor, queries: Tensor | None = None) -> DiagonalGaussian:
        """data: [B, P, 3+F] surface points; queries: [B, N, 3+F] query points (None for learned queries)."""
        if not self.has_encoder:
            raise WeightsError(f"ShapeVAE {self.name}: this checkpoint has no encoder (decoder-only weights)")
        return DiagonalGaussian(self.pre_kl(self.encoder(data, queries)))

    def encode(
        self,
        data: Tensor,
        queries: Tensor | None = None,
        sample: bool = False,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """-> z: [B, N, latent_channels] in VAE space (no scale_factor): the posterior mean, or a sample of it,
        after the query xyz when the config has latent_positions."""
        post = self.posterior(data, queries)
        return self.with_positions(post.sample(generator) if sample else post.mode(), queries)

    def with_positions(self, features: Tensor, queries: Tensor | None) -> Tensor:
        """features [B, N, embed_dim] -> latent tokens: [xyz of each query, features] with latent_positions."""
        if not self.config.latent_positions:
            return features
        return torch.cat([queries[..., :3].to(features.dtype), features], dim=-1)

    def decode(self, z: Tensor) -> Tensor:
        """z: [B, N, latent_channels] (VAE space) -> decoded latents [B, N, width] for the geometry decoder."""
        z = z.to(self.dtype)
        if not self.config.latent_positions:
            return self.transformer(self.post_kl(z))
        xyz, features = z[..., :3], z[..., 3:]
        return self.transformer(self.post_kl(features) + self.pos_proj(self.fourier_embedder(xyz).to(self.dtype)))

    def forward(self, z: Tensor) -> Tensor:
        return self.decode(z)

    def occupancy(self, decoded: Tensor, xyz: Tensor) -> Tensor:
        """decoded: [B, N, width], xyz: [B, Q, 3] -> logits [B, Q] float32 (> 0 inside)."""
        return self.geo_decoder(xyz, decoded).squeeze(-1).float()


# ---------------------------------------------------------------------------------------------- loading

_REFERENCE_ONLY = {"ckpt_path"}  # reference constructor args that do not describe the network


def shapevae_config(ckpt: Checkpoint) -> ShapeVAEConfig:
    """ShapeVAEConfig of a checkpoint. Reference params map 1:1; whether there is an encoder is read from the
    tensor names (the reference class decides it by code version, not by config)."""
    params: dict[str, Any] = dict(ckpt.params)
    source = str(ckpt.folder / ("config.yaml" if ckpt.reference else "config.json"))
    if ckpt.reference:
        for key in _REFERENCE_ONLY:
            params.pop(key, None)
        if ours := LATENTGEN_FIELDS & params.keys():
            raise ConfigError(f"{source}: {', '.join(sorted(ours))}: latentgen fields, not reference params")
        params["with_encoder"] = "pre_kl.weight" in ckpt.keys
    known = {f.name for f in fields(ShapeVAEConfig)}
    if unknown := params.keys() - known:
        raise ConfigError(f"{source}: unknown ShapeVAE params {sorted(unknown)}")
    return config_from_dict(ShapeVAEConfig, params, source)


def has_encoder(ckpt: Checkpoint) -> bool:
    return "pre_kl.weight" in ckpt.keys


def load_shapevae(
    weights: Path,
    rt: Runtime,
    variant: str | None = None,
    need_encoder: bool = False,
    prefer: Iterable[str] = (),
) -> ShapeVAE:
    """Load a ShapeVAE from a checkpoint folder or a model root (see checkpoint.resolve_checkpoint).

    need_encoder: pick (and require) a checkpoint holding encoder weights. prefer: folder names to try first
    (e.g. the model id stored in a latent). Weights are cast to rt.dtype and placed on rt.device."""
    ckpt = resolve_checkpoint(
        Path(weights),
        "vae",
        variant,
        accept=has_encoder if need_encoder else None,
        prefer=prefer,
        need="has no encoder weights (encoder.*, pre_kl.*): it can decode but not encode",
    )
    return load_shapevae_checkpoint(ckpt, rt)


def load_shapevae_checkpoint(ckpt: Checkpoint, rt: Runtime) -> ShapeVAE:
    config = shapevae_config(ckpt)
    vae = build_exact(lambda: ShapeVAE(config), ckpt.read(), str(ckpt), rt.dtype, rt.device)
    vae.name = ckpt.name
    return vae
