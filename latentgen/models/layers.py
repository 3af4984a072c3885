"""Shared network blocks.

Module and parameter names follow the reference checkpoints (Hunyuan3D-2 `attention_blocks.py`), so their
state dicts load 1:1: `c_qkv` / `c_q` / `c_kv` / `c_proj`, qk-norm under `attention.{q_norm,k_norm}`,
`ln_1..ln_3`, `mlp.c_fc` / `mlp.c_proj`, `resblocks.{i}`.

Head layout: the fused projections are split *per head* ("interleaved"): the qkv features are viewed as
[B, N, heads, 3 * d] and cut into q, k, v along the last axis (head 0 q,k,v, head 1 q,k,v, ...). This is the
vecset/ShapeVAE convention; the Flux-style DiT uses [3, heads, d] instead (see `split_heads`'s `layout`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FourierEmbedder(nn.Module):
    """xyz -> [xyz, sin(x * f), cos(x * f)] with f = 2^0 .. 2^(num_freqs-1) (times pi if `include_pi`).

    x: [..., input_dim] -> [..., input_dim * (2 * num_freqs + 1)]. Per input axis the frequencies are contiguous
    ([x0 f0 .. x0 f7, x1 f0 ..]), as in the reference. Computed in float32 whatever the weights' dtype: high
    frequencies of fp16 coordinates lose the surface detail they exist for. No buffer, so a model built on the
    meta device needs nothing re-initialised after loading.
    """

    def __init__(self, num_freqs: int = 8, include_pi: bool = True, input_dim: int = 3) -> None:
        super().__init__()
        self.num_freqs = num_freqs
        self.include_pi = include_pi
        self.input_dim = input_dim

    @property
    def out_dim(self) -> int:
        return self.input_dim * (2 * self.num_freqs + 1)

    def frequencies(self, device: torch.device | None = None) -> Tensor:
        freqs = 2.0 ** torch.arange(self.num_freqs, dtype=torch.float32, device=device)
        return freqs * math.pi if self.include_pi else freqs

    def forward(self, x: Tensor) -> Tensor:
        x = x.float()
        angles = (x[..., None] * self.frequencies(x.device)).flatten(-2)  # [..., input_dim * num_freqs]
        return torch.cat([x, angles.sin(), angles.cos()], dim=-1)

    def extra_repr(self) -> str:
        return f"num_freqs={self.num_freqs}, include_pi={self.include_pi}, out_dim={self.out_dim}"


class MLP(nn.Module):
    """Linear -> GELU (exact erf) -> Linear."""

    def __init__(self, width: int, expand_ratio: int = 4, out_width: int | None = None) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, width * expand_ratio)
        self.c_proj = nn.Linear(width * expand_ratio, out_width or width)

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))


class RMSNorm(nn.Module):
    """RMS norm with a learned per-channel `scale` (Flux naming: `norm.query_norm.scale`); computed in float32."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        rrms = torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * rrms).to(x.dtype) * self.scale


def head_views(x: Tensor, heads: int, parts: int, layout: str = "interleaved") -> tuple[Tensor, ...]:
    """Fused projection [B, N, parts * heads * d] -> `parts` views [B, N, heads, d] (token-major, no copy).

    layout "interleaved": features ordered [heads, parts, d] (ShapeVAE); "blocked": [parts, heads, d] (Flux DiT).
    """
    b, n, c = x.shape
    if c % (heads * parts):
        raise ValueError(f"cannot split {c} features into {parts} parts x {heads} heads")
    if layout == "interleaved":
        return x.view(b, n, heads, parts, c // (heads * parts)).unbind(3)
    if layout == "blocked":
        return x.view(b, n, parts, heads, c // (heads * parts)).unbind(2)
    raise ValueError(f"unknown head layout {layout!r}")


def split_heads(x: Tensor, heads: int, parts: int, layout: str = "interleaved") -> tuple[Tensor, ...]:
    """Fused projection [B, N, parts * heads * d] -> `parts` tensors [B, heads, N, d] (see `head_views`)."""
    return tuple(t.transpose(1, 2) for t in head_views(x, heads, parts, layout))


def merge_heads(x: Tensor) -> Tensor:
    """[B, H, N, d] -> [B, N, H * d]."""
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Softmax attention, scale 1/sqrt(d), no mask. q: [B, H, Nq, d], k, v: [B, H, Nk, d] -> [B, H, Nq, d]."""
    return F.scaled_dot_product_attention(q, k, v)


def token_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """`attention` for token-major heads: q: [B, Nq, H, d], k, v: [B, Nk, H, d] -> [B, Nq, H * d].

    SDPA gets transposed views and its CPU kernel writes a token-major output, so nothing is copied: with
    small heads and many queries (volume decoding) those copies cost as much as the attention itself."""
    return merge_heads(attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)))


class QKNorm(nn.Module):
    """Optional LayerNorm(head_dim, eps 1e-6) on queries and keys; sits at `attention.{q_norm,k_norm}`."""

    def __init__(self, head_dim: int, enabled: bool) -> None:
        super().__init__()
        self.q_norm = nn.LayerNorm(head_dim, eps=1e-6) if enabled else nn.Identity()
        self.k_norm = nn.LayerNorm(head_dim, eps=1e-6) if enabled else nn.Identity()


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused, per-head interleaved qkv projection."""

    def __init__(self, width: int, heads: int, qkv_bias: bool = True, qk_norm: bool = False) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not a multiple of heads {heads}")
        self.heads = heads
        self.c_qkv = nn.Linear(width, 3 * width, bias=qkv_bias)
        self.c_proj = nn.Linear(width, width)
        self.attention = QKNorm(width // heads, qk_norm)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = head_views(self.c_qkv(x), self.heads, 3)  # each [B, N, H, d]
        q, k = self.attention.q_norm(q), self.attention.k_norm(k)
        return self.c_proj(token_attention(q, k, v))


class CrossAttention(nn.Module):
    """Queries x [B, Nq, width] attend to data [B, Nk, data_width]; kv fused and split per head.

    `project_kv` exposes keys/values so a caller querying the same data many times (volume decoding)
    computes them once: forward(x, data) == attend(x, project_kv(data)).
    """

    def __init__(
        self, width: int, heads: int, data_width: int | None = None, qkv_bias: bool = True, qk_norm: bool = False
    ) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not a multiple of heads {heads}")
        self.heads = heads
        self.c_q = nn.Linear(width, width, bias=qkv_bias)
        self.c_kv = nn.Linear(data_width or width, 2 * width, bias=qkv_bias)
        self.c_proj = nn.Linear(width, width)
        self.attention = QKNorm(width // heads, qk_norm)

    def project_kv(self, data: Tensor) -> tuple[Tensor, Tensor]:
        """data: [B, Nk, data_width] -> k, v: [B, Nk, H, d] (k already normed)."""
        k, v = head_views(self.c_kv(data), self.heads, 2)
        return self.attention.k_norm(k), v

    def attend(self, x: Tensor, kv: tuple[Tensor, Tensor]) -> Tensor:
        (q,) = head_views(self.c_q(x), self.heads, 1)
        q = self.attention.q_norm(q)
        k, v = kv
        if k.shape[0] != q.shape[0]:  # one shared context for a batch of query sets
            k, v = k.expand(q.shape[0], -1, -1, -1), v.expand(q.shape[0], -1, -1, -1)
        return self.c_proj(token_attention(q, k, v))

    def forward(self, x: Tensor, data: Tensor) -> Tensor:
        return self.attend(x, self.project_kv(data))


class ResidualAttentionBlock(nn.Module):
    """Pre-LN transformer block: x += attn(ln_1(x)); x += mlp(ln_2(x))."""

    def __init__(self, width: int, heads: int, qkv_bias: bool = True, qk_norm: bool = False) -> None:
        super().__init__()
        self.attn = SelfAttention(width, heads, qkv_bias, qk_norm)
        self.ln_1 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = MLP(width)
        self.ln_2 = nn.LayerNorm(width, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class ResidualCrossAttentionBlock(nn.Module):
    """x += attn(ln_1(x), ln_2(data)); x += mlp(ln_3(x)). `context(data)` + `attend(x, ctx)` split the two halves."""

    def __init__(
        self,
        width: int,
        heads: int,
        data_width: int | None = None,
        mlp_expand_ratio: int = 4,
        qkv_bias: bool = True,
        qk_norm: bool = False,
    ) -> None:
        super().__init__()
        data_width = data_width or width
        self.attn = CrossAttention(width, heads, data_width, qkv_bias, qk_norm)
        self.ln_1 = nn.LayerNorm(width, eps=1e-6)
        self.ln_2 = nn.LayerNorm(data_width, eps=1e-6)
        self.ln_3 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = MLP(width, mlp_expand_ratio)

    def context(self, data: Tensor) -> tuple[Tensor, Tensor]:
        """data: [B, Nk, data_width] -> keys/values [B, Nk, H, d], reusable for any number of query chunks."""
        return self.attn.project_kv(self.ln_2(data))

    def attend(self, x: Tensor, ctx: tuple[Tensor, Tensor]) -> Tensor:
        x = x + self.attn.attend(self.ln_1(x), ctx)
        return x + self.mlp(self.ln_3(x))

    def forward(self, x: Tensor, data: Tensor) -> Tensor:
        return self.attend(x, self.context(data))


class Transformer(nn.Module):
    """A stack of `layers` self-attention blocks under `resblocks` (no positional embedding: a set model)."""

    def __init__(self, width: int, heads: int, layers: int, qkv_bias: bool = True, qk_norm: bool = False) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads, qkv_bias, qk_norm) for _ in range(layers))

    def forward(self, x: Tensor) -> Tensor:
        for block in self.resblocks:
            x = block(x)
        return x
