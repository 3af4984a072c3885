"""Hunyuan3D-2 shape DiT: a Flux-style MM-DiT over an unordered set of shape-latent tokens.

(x [B, N, C] noisy latents, t [B] in [0, 1], cond [B, L, D] image tokens) -> v [B, N, C] velocity.
t = 0 is pure noise and t = 1 is data; v points from noise to data (see sampling.py).
Module and parameter names are those of the reference `Hunyuan3DDiT`, so the `model.*` part of a
reference checkpoint loads unchanged. There is no positional embedding: the model is
permutation-equivariant over latent tokens (`axes_dim` / `theta` are only validated, as in the reference).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from .layers import RMSNorm, head_views, token_attention


@dataclass(frozen=True)
class DiTConfig:
    """Named after the reference constructor `Hunyuan3DDiT(...)`, so its config.yaml `params` map 1:1."""

    in_channels: int = 64  # C of latents [B, N, C]
    context_in_dim: int = 1536  # D of image tokens [B, L, D]
    hidden_size: int = 1024
    mlp_ratio: float = 4.0
    num_heads: int = 16
    depth: int = 16  # double-stream blocks
    depth_single_blocks: int = 32
    axes_dim: tuple[int, ...] = (64,)  # RoPE axes of Flux; unused here, must sum to the head size
    theta: int = 10_000
    qkv_bias: bool = True
    time_factor: float = 1000.0  # reaches the timestep embedding as its max_period (see ShapeDiT.forward)
    guidance_embed: bool = False  # guidance-distilled ("-fast") checkpoints: guidance is an input

    def __post_init__(self) -> None:
        object.__setattr__(self, "axes_dim", tuple(int(a) for a in self.axes_dim))
        for name in ("in_channels", "context_in_dim", "hidden_size", "num_heads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"DiT {name}={getattr(self, name)} must be positive")
        if self.depth < 0 or self.depth_single_blocks < 0 or self.mlp_ratio <= 0:
            raise ConfigError("DiT depth, depth_single_blocks must be >= 0 and mlp_ratio > 0")
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"DiT hidden_size={self.hidden_size} is not a multiple of num_heads={self.num_heads}")
        if sum(self.axes_dim) != self.head_dim:
            raise ConfigError(f"DiT axes_dim={list(self.axes_dim)} must sum to hidden_size/num_heads={self.head_dim}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def mlp_hidden(self) -> int:
        return int(self.hidden_size * self.mlp_ratio)

    @classmethod
    def from_reference(cls, params: dict, source: str = "config.yaml model.params") -> DiTConfig:
        """Config from the reference `model.params`; keys that only matter for training are dropped."""
        ignored = {"ckpt_path"}  # the reference would load a second checkpoint from it; we never do
        known = {f.name for f in fields(cls)}
        if unknown := set(params) - known - ignored:
            raise ConfigError(f"{source}: unknown keys {sorted(unknown)} for the DiT")
        try:
            return cls(**{k: v for k, v in params.items() if k in known})
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{source}: {e}") from e


# Released shapes (for benchmarks and tests; real runs read the checkpoint's config.yaml).
DIT_PRESETS: dict[str, DiTConfig] = {
    "v2-0": DiTConfig(),
    "v2-mini": DiTConfig(depth=8, depth_single_blocks=16),
}


def timestep_embedding(t: Tensor, dim: int = 256, max_period: float = 10_000.0, time_factor: float = 1000.0) -> Tensor:
    """t: [B] -> [B, dim] sinusoids, cos half first (reference order), computed in float32.

    Returned in t's dtype when t is floating (as the reference does), else float32.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = (time_factor * t)[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb.to(t.dtype) if torch.is_floating_point(t) else emb


class MLPEmbedder(nn.Module):
    def __init__(self, in_dim: int, hidden_dim: int):
        super().__init__()
        self.in_layer = nn.Linear(in_dim, hidden_dim)
        self.out_layer = nn.Linear(hidden_dim, hidden_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.out_layer(F.silu(self.in_layer(x)))


class QKNorm(nn.Module):
    """RMSNorm of q and k per head (float32 inside), cast to v's dtype."""

    def __init__(self, dim: int):
        super().__init__()
        self.query_norm = RMSNorm(dim)
        self.key_norm = RMSNorm(dim)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        return self.query_norm(q).to(v.dtype), self.key_norm(k).to(v.dtype)


def joint_attention(q: Tensor, k: Tensor, v: Tensor, key_bias: Tensor | None) -> Tensor:
    """q, k, v: [B, T, H, D] token-major -> [B, T, H*D]. key_bias: [T] added to every query's logits, or None."""
    if key_bias is None:
        return token_attention(q, k, v)
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=key_bias.to(q.dtype)[None, None, None]
    )
    return out.transpose(1, 2).flatten(2)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: x [B, L, W] normalised without affine; shift, scale [B, 1, W]."""
    return torch.addcmul(shift, F.layer_norm(x, x.shape[-1:], eps=1e-6), 1 + scale)


class Modulation(nn.Module):
    """vec [B, W] -> 3 (single) or 6 (double) chunks of [B, 1, W]: shift, scale, gate (x2)."""

    def __init__(self, dim: int, double: bool):
        super().__init__()
        self.multiplier = 6 if double else 3
        self.lin = nn.Linear(dim, self.multiplier * dim)

    def forward(self, vec: Tensor) -> tuple[Tensor, ...]:
        return self.lin(F.silu(vec))[:, None, :].chunk(self.multiplier, dim=-1)


class SelfAttention(nn.Module):
    """Holds the per-stream attention weights; the double block runs the joint attention itself."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.norm = QKNorm(dim // num_heads)
        self.proj = nn.Linear(dim, dim)

    def qkv_heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x: [B, L, W] -> q, k, v: [B, L, H, D] (q, k RMS-normalised per head)."""
        q, k, v = head_views(self.qkv(x), self.num_heads, 3, layout="blocked")
        q, k = self.norm(q, k, v)
        return q, k, v


def _mlp(hidden: int, mlp_hidden: int) -> nn.Sequential:
    # Indices 0 and 2 are the checkpoint's `*_mlp.0` / `*_mlp.2`.
    return nn.Sequential(nn.Linear(hidden, mlp_hidden), nn.GELU(approximate="tanh"), nn.Linear(mlp_hidden, hidden))


class DoubleStreamBlock(nn.Module):
    """Separate weights for the shape stream (img) and the condition stream (txt), one joint attention."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        w = cfg.hidden_size
        self.img_mod = Modulation(w, double=True)
        self.img_attn = SelfAttention(w, cfg.num_heads, cfg.qkv_bias)
        self.img_mlp = _mlp(w, cfg.mlp_hidden)
        self.txt_mod = Modulation(w, double=True)
        self.txt_attn = SelfAttention(w, cfg.num_heads, cfg.qkv_bias)
        self.txt_mlp = _mlp(w, cfg.mlp_hidden)

    def forward(self, img: Tensor, txt: Tensor, vec: Tensor, key_bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """img: [B, N, W], txt: [B, L, W], vec: [B, W], key_bias: [L+N] or None."""
        i_shift1, i_scale1, i_gate1, i_shift2, i_scale2, i_gate2 = self.img_mod(vec)
        t_shift1, t_scale1, t_gate1, t_shift2, t_scale2, t_gate2 = self.txt_mod(vec)
        img_q, img_k, img_v = self.img_attn.qkv_heads(modulate(img, i_shift1, i_scale1))
        txt_q, txt_k, txt_v = self.txt_attn.qkv_heads(modulate(txt, t_shift1, t_scale1))
        # condition tokens first, as in the reference
        q, k, v = (torch.cat(pair, 1) for pair in ((txt_q, img_q), (txt_k, img_k), (txt_v, img_v)))
        attn = joint_attention(q, k, v, key_bias)  # [B, L+N, W]
        txt_attn, img_attn = attn[:, : txt.shape[1]], attn[:, txt.shape[1] :]
        img = torch.addcmul(img, i_gate1, self.img_attn.proj(img_attn))
        img = torch.addcmul(img, i_gate2, self.img_mlp(modulate(img, i_shift2, i_scale2)))
        txt = torch.addcmul(txt, t_gate1, self.txt_attn.proj(txt_attn))
        txt = torch.addcmul(txt, t_gate2, self.txt_mlp(modulate(txt, t_shift2, t_scale2)))
        return img, txt


class SingleStreamBlock(nn.Module):
    """One weight set over [cond; latents]: attention and MLP computed in parallel from one projection."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        w = cfg.hidden_size
        self.hidden_size, self.num_heads, self.mlp_hidden = w, cfg.num_heads, cfg.mlp_hidden
        self.linear1 = nn.Linear(w, 3 * w + self.mlp_hidden)  # qkv and mlp-in
        self.linear2 = nn.Linear(w + self.mlp_hidden, w)  # proj and mlp-out
        self.norm = QKNorm(cfg.head_dim)
        self.modulation = Modulation(w, double=False)

    def forward(self, x: Tensor, vec: Tensor, key_bias: Tensor | None = None) -> Tensor:
        """x: [B, L+N, W], vec: [B, W], key_bias: [L+N] or None."""
        shift, scale, gate = self.modulation(vec)
        qkv, mlp = torch.split(self.linear1(modulate(x, shift, scale)), [3 * self.hidden_size, self.mlp_hidden], -1)
        q, k, v = head_views(qkv, self.num_heads, 3, layout="blocked")  # [B, L+N, H, D] each
        q, k = self.norm(q, k, v)
        out = self.linear2(torch.cat((joint_attention(q, k, v, key_bias), F.gelu(mlp, approximate="tanh")), 2))
        return torch.addcmul(x, gate, out)


class LastLayer(nn.Module):
    def __init__(self, hidden: int, out_channels: int):
        super().__init__()
        self.linear = nn.Linear(hidden, out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))

    def forward(self, x: Tensor, vec: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(vec)[:, None, :].chunk(2, dim=-1)  # shift first
        return self.linear(modulate(x, shift, scale))


class ShapeDiT(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.config = cfg
        w = cfg.hidden_size
        self.latent_in = nn.Linear(cfg.in_channels, w)
        self.time_in = MLPEmbedder(256, w)
        self.cond_in = nn.Linear(cfg.context_in_dim, w)
        if cfg.guidance_embed:  # the reference's nn.Identity placeholder has no parameters, so no module here
            self.guidance_in = MLPEmbedder(256, w)
        self.double_blocks = nn.ModuleList(DoubleStreamBlock(cfg) for _ in range(cfg.depth))
        self.single_blocks = nn.ModuleList(SingleStreamBlock(cfg) for _ in range(cfg.depth_single_blocks))
        self.final_layer = LastLayer(w, cfg.in_channels)

    def forward(
        self, x: Tensor, t: Tensor, cond: Tensor, guidance: Tensor | None = None, cond_repeats: int = 1
    ) -> Tensor:
        """x: [B, N, C], t: [B] (0 noise .. 1 data), cond: [B, L, D], guidance: [B] or None -> v: [B, N, C].

        cond_repeats: each condition token stands for that many identical copies. Identical tokens get
        identical updates in every block, and r equal keys weigh in attention as one key with log(r) added
        to its logit, so this equals the forward on the repeated tokens (up to float rounding) at the cost
        of the short one: the all-zero unconditional embedding of CFG runs as a single token.
        """
        cfg = self.config
        latent = self.latent_in(x)  # [B, N, W]
        # The reference calls `timestep_embedding(t, 256, self.time_factor)`, whose third positional parameter
        # is max_period: the trained weights expect periods up to time_factor (1000) and t scaled by 1000.
        vec = self.time_in(timestep_embedding(t, 256, max_period=cfg.time_factor).to(latent.dtype))  # [B, W]
        if cfg.guidance_embed:
            if guidance is None:
                raise ValueError("this DiT is guidance-distilled: pass the guidance strength")
            g = timestep_embedding(guidance, 256, max_period=cfg.time_factor).to(latent.dtype)
            vec = vec + self.guidance_in(g)
        txt = self.cond_in(cond)  # [B, L, W]
        key_bias = None
        if cond_repeats != 1:
            key_bias = torch.zeros(txt.shape[1] + latent.shape[1], device=x.device)  # [L+N], condition first
            key_bias[: txt.shape[1]] = math.log(cond_repeats)
        for block in self.double_blocks:
            latent, txt = block(latent, txt, vec, key_bias)
        h = torch.cat((txt, latent), 1)  # [B, L+N, W], condition first
        for block in self.single_blocks:
            h = block(h, vec, key_bias)
        return self.final_layer(h[:, txt.shape[1] :], vec)
