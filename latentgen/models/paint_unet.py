"""Multi-view texture model (Hunyuan3D-Paint v2.0): two diffusers UNets and view-aware transformer blocks.

    reference UNet (`unet_dual`): clean reference latents at t = 0 -> per wrapped block, its normed input
    main UNet (`unet`): [noisy | normal | position] latents per view (12 channels), camera embedding
        -> v-prediction per view; its wrapped blocks also attend to the reference features and across views

Both UNets are stock `UNet2DConditionModel`s built from the checkpoint's `unet/config.json`. The main one gets a
3x wider `conv_in` and a class-embedding table of camera ids; every `BasicTransformerBlock` of both is wrapped in
a `ViewTransformerBlock` that keeps the original block as `.transformer` and, in the main UNet, adds two diffusers
`Attention`s (`attn_refview`, `attn_multiview`). Parameter names follow the released checkpoint
(`unet.*`, `unet_dual.*`, hunyuan3d2-paint-anatomy.md section 2), so it loads unchanged.

In a wrapped block of the main UNet, with n = norm1(x) shared by the three attentions (anatomy section 2.5):
    x = x + attn1(n) + ref_scale * attn_refview(n, R) + mva_scale * attn_multiview(all views' n jointly)
then attn2 (text) and the feed-forward as in the stock block. R is what the reference UNet's same block saw.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.attention_processor import Attention
from torch import Tensor, nn

from ..errors import ConfigError

MAX_REFERENCE_VIEWS = 5  # camera ids 0..4 are reserved for reference images (never used by v2.0)
MAX_GENERATED_VIEWS = 12 * 3 + 4 * 2  # 12 azimuth bins at elevations -20/0/20, 4 bins at -90 and +90
TEXT_TOKENS = 77  # learned text embeddings: [1, 77, cross_attention_dim]
CONTEXT_KEY = "latentgen_views"  # cross_attention_kwargs entry that carries a ViewContext through diffusers


@dataclass
class ViewContext:
    """What the wrapped blocks need beyond their inputs; travels in `cross_attention_kwargs`.

    mode "write" (reference UNet): each block stores its normed input in `features[name]` as [B, V * L, C].
    mode "read" (main UNet): each block attends to `features[name]` and jointly across the `views` views.
    """

    mode: str
    views: int  # views per sample: the batch of the UNet is (B * views)
    features: dict[str, Tensor] = field(default_factory=dict)
    ref_scale: Tensor | float = 1.0  # float, or [B] per sample (0 for the unconditional half of CFG)
    mva_scale: float = 1.0


class ViewTransformerBlock(nn.Module):
    """A diffusers BasicTransformerBlock (kept as `.transformer`) extended with reference and multiview attention."""

    def __init__(self, transformer: BasicTransformerBlock, name: str, multiview: bool, reference: bool) -> None:
        super().__init__()
        if transformer.norm_type != "layer_norm" or transformer.pos_embed is not None:
            raise ConfigError(f"{name}: only layer-norm transformer blocks without positional embedding are supported")
        if transformer.only_cross_attention or transformer.attn2 is None:
            raise ConfigError(f"{name}: the block must have self-attention and text cross-attention")
        self.transformer = transformer
        self.name = name
        attn1 = transformer.attn1
        make = lambda: Attention(  # same geometry as the block's self-attention, fresh weights (as released)
            query_dim=attn1.query_dim,
            heads=attn1.heads,
            dim_head=attn1.inner_dim // attn1.heads,
            bias=attn1.to_q.bias is not None,
            upcast_attention=attn1.upcast_attention,
            out_bias=True,
        )
        self.attn_multiview = make() if multiview else None
        self.attn_refview = make() if reference else None

    def forward(
        self,
        hidden_states: Tensor,
        attention_mask: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        timestep: Tensor | None = None,
        cross_attention_kwargs: dict[str, Any] | None = None,
        class_labels: Tensor | None = None,
        added_cond_kwargs: dict[str, Tensor] | None = None,
    ) -> Tensor:
        """hidden_states: [(B * V), L, C] -> same. Without a ViewContext this is the stock block."""
        ctx: ViewContext | None = (cross_attention_kwargs or {}).get(CONTEXT_KEY)
        t = self.transformer
        if ctx is None:
            return t(
                hidden_states,
                attention_mask=attention_mask,
                encoder_hidden_states=encoder_hidden_states,
                encoder_attention_mask=encoder_attention_mask,
                timestep=timestep,
                cross_attention_kwargs=cross_attention_kwargs,
                class_labels=class_labels,
                added_cond_kwargs=added_cond_kwargs,
            )
        bv, length, dim = hidden_states.shape
        joint = (bv // ctx.views, ctx.views * length, dim)  # [B, V * L, C]: all views of a sample side by side
        n = t.norm1(hidden_states)
        x = hidden_states + t.attn1(n, attention_mask=attention_mask)
        if ctx.mode == "write":
            ctx.features[self.name] = n.reshape(joint)
        elif ctx.mode == "read":
            if self.attn_refview is not None:
                # attention is row-wise, so the views' queries can share one call against the sample's features
                ref = self.attn_refview(n.reshape(joint), encoder_hidden_states=ctx.features[self.name])
                x = x + (_per_sample(ctx.ref_scale, ref) * ref).reshape(bv, length, dim)
            if self.attn_multiview is not None and ctx.views > 1:
                x = x + ctx.mva_scale * self.attn_multiview(n.reshape(joint)).reshape(bv, length, dim)
        else:
            raise ValueError(f"unknown view-context mode {ctx.mode!r}")
        x = x + t.attn2(t.norm2(x), encoder_hidden_states=encoder_hidden_states, attention_mask=encoder_attention_mask)
        return x + t.ff(t.norm3(x))


def _per_sample(scale: Tensor | float, like: Tensor) -> Tensor | float:
    """A float, or a per-sample tensor [B] shaped to broadcast over like [B, T, C]."""
    if isinstance(scale, Tensor):
        return scale.to(like.device, like.dtype).reshape(-1, 1, 1)
    return scale


def wrap_transformer_blocks(unet: UNet2DConditionModel, multiview: bool, reference: bool) -> list[str]:
    """Replace every transformer block of the UNet's cross-attention blocks by a ViewTransformerBlock.

    Names: down_{i}_{j}_{k}, mid_{j}_{k}, up_{i}_{j}_{k} (block i, attention j, transformer k), as released."""
    places = [(f"down_{i}", b) for i, b in enumerate(unet.down_blocks)]
    places += [("mid", unet.mid_block)] if unet.mid_block is not None else []
    places += [(f"up_{i}", b) for i, b in enumerate(unet.up_blocks)]
    names = []
    for prefix, block in places:
        for j, attention in enumerate(getattr(block, "attentions", None) or []):
            for k, tb in enumerate(attention.transformer_blocks):
                name = f"{prefix}_{j}_{k}"
                attention.transformer_blocks[k] = ViewTransformerBlock(tb, name, multiview, reference)
                names.append(name)
    return names


def init_kwargs(cls: type, config: dict[str, Any], source: str) -> dict[str, Any]:
    """A diffusers config.json -> keyword arguments of `cls`; keys starting with '_' are metadata, others must
    be arguments of the installed diffusers' class (a config it would silently ignore is refused)."""
    kwargs = {k: v for k, v in config.items() if not k.startswith("_")}
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self"}
    if unknown := sorted(kwargs.keys() - allowed):
        raise ConfigError(f"{source}: keys unknown to diffusers' {cls.__name__}: {', '.join(unknown)}")
    return kwargs


class PaintUNet(nn.Module):
    """UNet2p5DConditionModel of the reference: main UNet + reference UNet, from the base UNet config."""

    def __init__(self, config: dict[str, Any], source: str = "unet/config.json") -> None:
        super().__init__()
        base = init_kwargs(UNet2DConditionModel, config, source)
        if base.get("num_class_embeds") is not None or base.get("class_embed_type") is not None:
            raise ConfigError(f"{source}: the base UNet must have no class embedding (the camera table is added)")
        if not isinstance(base.get("cross_attention_dim", 1280), int):
            raise ConfigError(f"{source}: cross_attention_dim must be one number")
        in_channels = base.get("in_channels", 4)
        # the reference UNet is the plain config; the main one sees noisy + normal + position latents and camera ids
        self.unet_dual = UNet2DConditionModel(**base)
        self.unet = UNet2DConditionModel(
            **{**base, "in_channels": 3 * in_channels, "num_class_embeds": MAX_REFERENCE_VIEWS + MAX_GENERATED_VIEWS}
        )
        text_dim = self.unet.config.cross_attention_dim
        self.unet.learned_text_clip_gen = nn.Parameter(torch.zeros(1, TEXT_TOKENS, text_dim))
        self.unet.learned_text_clip_ref = nn.Parameter(torch.zeros(1, TEXT_TOKENS, text_dim))
        self.layers = wrap_transformer_blocks(self.unet, multiview=True, reference=True)
        if wrap_transformer_blocks(self.unet_dual, multiview=False, reference=False) != self.layers:
            raise AssertionError("reference and main UNet differ in structure")  # same config: cannot happen
        if not self.layers:
            raise ConfigError(f"{source}: the UNet has no cross-attention blocks to extend")
        self.latent_channels = in_channels

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.conv_in.weight.dtype

    def reference_features(self, ref_latents: Tensor) -> dict[str, Tensor]:
        """ref_latents [B, R, C, h, w] (clean VAE latents) -> {layer: [B, R * L, C_layer]}.

        Independent of the denoising step: compute once per generation and pass to every `forward`."""
        b, r = ref_latents.shape[:2]
        text = self.unet.learned_text_clip_ref.to(self.dtype).expand(b * r, -1, -1)  # [(B * R), 77, D]
        ctx = ViewContext("write", r)
        self.unet_dual(
            ref_latents.flatten(0, 1).to(self.dtype), 0, text, cross_attention_kwargs={CONTEXT_KEY: ctx}
        )  # the output is not needed, only what the blocks stored
        missing = set(self.layers) - ctx.features.keys()
        if missing:
            raise AssertionError(f"reference pass did not reach {sorted(missing)}")
        return ctx.features

    def forward(
        self,
        sample: Tensor,
        timestep: Tensor | float,
        encoder_hidden_states: Tensor,
        normal_latents: Tensor,
        position_latents: Tensor,
        camera_ids: Tensor,
        ref_features: dict[str, Tensor] | None = None,
        ref_latents: Tensor | None = None,
        ref_scale: Tensor | float = 1.0,
        mva_scale: float = 1.0,
    ) -> Tensor:
        """Predicted v for every view.

        sample, normal_latents, position_latents: [B, N, C, h, w] (noisy latents already scaled for the
        scheduler; normal / position VAE latents); encoder_hidden_states [B, 77, D]; camera_ids [B, N] int
        (0..43); either ref_features from `reference_features` or ref_latents [B, R, C, h, w]; ref_scale a
        float or [B]. Returns [(B * N), C, h, w].
        """
        b, n = sample.shape[:2]
        if ref_features is None:
            if ref_latents is None:
                raise ValueError("pass ref_features or ref_latents")
            ref_features = self.reference_features(ref_latents)
        if camera_ids.min() < 0 or camera_ids.max() >= MAX_GENERATED_VIEWS:
            raise ValueError(f"camera ids must be within 0..{MAX_GENERATED_VIEWS - 1}")
        x = torch.cat([sample, normal_latents, position_latents], dim=2)  # [B, N, 3C, h, w]
        x = x.flatten(0, 1).to(self.dtype)  # [(B * N), 3C, h, w]
        text = encoder_hidden_states.to(self.dtype).repeat_interleave(n, dim=0)  # [(B * N), 77, D]
        labels = (camera_ids.reshape(-1) + MAX_REFERENCE_VIEWS).to(x.device)
        ctx = ViewContext("read", n, ref_features, ref_scale, mva_scale)
        return self.unet(
            x, timestep, text, class_labels=labels, cross_attention_kwargs={CONTEXT_KEY: ctx}, return_dict=False
        )[0]
