"""Image conditioner: DINOv2 (transformers' `Dinov2Model`) turning the preprocessed image into tokens.

image [B, 3, H, W] in [-1, 1] -> resize to 518 px + ImageNet normalisation -> last_hidden_state
(after the final LayerNorm, CLS token kept) -> tokens [B, 1 + (518/14)^2, D] = [B, 1370, D].
The unconditional embedding used for classifier-free guidance is all zeros.

Reference checkpoints store the encoder under `conditioner.main_image_encoder.model.*` with the
transformers-4 parameter names; `reference_to_dinov2` maps them to today's names.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import Dinov2Config, Dinov2Model

from ..errors import ConfigError, WeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Keys of the reference's Dinov2 config dict that do not change inference or the parameter set.
_IGNORED_DINO_KEYS = {
    "attention_probs_dropout_prob",
    "hidden_dropout_prob",
    "drop_path_rate",
    "initializer_range",
    "model_type",
    "torch_dtype",
    "dtype",
    "attn_implementation",
    "architectures",
    "transformers_version",
    "_name_or_path",
    "apply_layernorm",  # only read by Dinov2Backbone; Dinov2Model always applies its final LayerNorm
    "reshape_hidden_states",
    "out_features",
    "out_indices",
    "stage_names",
}


@dataclass(frozen=True)
class ConditionerConfig:
    """DINOv2 encoder. Field names follow transformers' `Dinov2Config` (the reference embeds one)."""

    hidden_size: int = 1536  # D of tokens [B, L, D]
    num_hidden_layers: int = 40
    num_attention_heads: int = 24
    mlp_ratio: int = 4
    use_swiglu_ffn: bool = True
    hidden_act: str = "gelu"  # only used without SwiGLU
    patch_size: int = 14
    image_size: int = 518  # the position-embedding grid is image_size / patch_size per side
    num_channels: int = 3
    layerscale_value: float = 1.0
    layer_norm_eps: float = 1e-6
    qkv_bias: bool = True
    use_mask_token: bool = True  # only adds a parameter (the checkpoint has it)
    input_size: int = 518  # the encoder resizes its input to this (reference kwarg `image_size`)
    use_cls_token: bool = True

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"conditioner hidden_size={self.hidden_size} is not a multiple of heads={self.num_attention_heads}"
            )
        if self.input_size < self.patch_size:
            raise ConfigError(f"conditioner input_size={self.input_size} is smaller than a patch")

    @property
    def num_tokens(self) -> int:
        return (self.input_size // self.patch_size) ** 2 + int(self.use_cls_token)

    def dinov2_config(self) -> Dinov2Config:
        keys = {f.name for f in fields(self)} - {"input_size", "use_cls_token"}
        return Dinov2Config(**{k: getattr(self, k) for k in keys}, attn_implementation="sdpa")

    @classmethod
    def from_reference(cls, params: dict, source: str = "config.yaml conditioner.params") -> ConditionerConfig:
        """From the reference `SingleImageEncoder` params: main_image_encoder {type, kwargs {config, image_size}}."""
        try:
            main = params["main_image_encoder"]
            kind, kwargs = main["type"], dict(main.get("kwargs") or {})
        except (KeyError, TypeError) as e:
            raise ConfigError(f"{source}: expected main_image_encoder.type/kwargs ({e})") from e
        if set(params) - {"main_image_encoder"}:
            raise ConfigError(f"{source}: only a main image encoder is supported, got {sorted(params)}")
        if kind != "DinoImageEncoder":
            raise ConfigError(f"{source}: image encoder {kind!r} is not supported (only DinoImageEncoder)")
        if kwargs.get("version") is not None or "config" not in kwargs:
            raise ConfigError(f"{source}: the DINOv2 encoder must be described by an inline `config`")
        dino = dict(kwargs.pop("config") or {})
        known = {f.name for f in fields(cls)} - {"input_size", "use_cls_token"}
        if unknown := set(dino) - known - _IGNORED_DINO_KEYS:
            raise ConfigError(f"{source}: unknown DINOv2 config keys {sorted(unknown)}")
        if unknown := set(kwargs) - {"image_size", "use_cls_token", "version"}:
            raise ConfigError(f"{source}: unknown encoder kwargs {sorted(unknown)}")
        try:
            return cls(
                **{k: v for k, v in dino.items() if k in known},
                input_size=int(kwargs.get("image_size", 224)),  # the reference's default when absent
                use_cls_token=bool(kwargs.get("use_cls_token", True)),
            )
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{source}: {e}") from e


class ImageConditioner(nn.Module):
    """The attribute name `model` mirrors the reference's `main_image_encoder.model`."""

    def __init__(self, cfg: ConditionerConfig):
        super().__init__()
        self.config = cfg
        self.model = Dinov2Model(cfg.dinov2_config())  # no buffers: the module can be built on the meta device

    def pixel_values(self, image: Tensor) -> Tensor:
        """image: [B, 3, H, W] in [-1, 1] -> [B, 3, S, S] float32, S = input_size, ImageNet-normalised.

        Shorter side resized to S (bilinear, antialiased, as torchvision's Resize does on tensors), then a
        centre crop of S x S.
        """
        s = self.config.input_size
        x = (image.float() + 1) / 2
        h, w = x.shape[-2:]
        short, long = (h, w) if h <= w else (w, h)
        long = int(s * long / short)
        size = (s, long) if h <= w else (long, s)
        if (h, w) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        top, left = int(round((size[0] - s) / 2.0)), int(round((size[1] - s) / 2.0))
        x = x[..., top : top + s, left : left + s]
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def encode_pixels(self, pixels: Tensor) -> Tensor:
        """pixels: [B, 3, S, S] (normalised) -> tokens [B, L, D] in the model dtype."""
        dtype = self.model.embeddings.cls_token.dtype
        tokens = self.model(pixel_values=pixels.to(dtype)).last_hidden_state
        return tokens if self.config.use_cls_token else tokens[:, 1:]

    def forward(self, image: Tensor) -> Tensor:
        """image: [B, 3, H, W] in [-1, 1] -> tokens [B, L, D]."""
        return self.encode_pixels(self.pixel_values(image))

    def unconditional(self, batch: int) -> Tensor:
        """The 'no image' condition of classifier-free guidance: zeros [B, L, D]."""
        p = self.model.embeddings.cls_token
        return torch.zeros(batch, self.config.num_tokens, self.config.hidden_size, dtype=p.dtype, device=p.device)


# transformers 4 -> 5 renames inside each encoder layer (the SwiGLU `weights_in` is split separately).
_LAYER_RENAMES = {
    "attention.attention.query.": "attention.q_proj.",
    "attention.attention.key.": "attention.k_proj.",
    "attention.attention.value.": "attention.v_proj.",
    "attention.output.dense.": "attention.o_proj.",
    "mlp.weights_out.": "mlp.down_proj.",
}
REFERENCE_PREFIX = "main_image_encoder."


def reference_to_dinov2(state: dict[str, Tensor], prefix: str = REFERENCE_PREFIX) -> dict[str, Tensor]:
    """Reference conditioner state (`main_image_encoder.model.*`, transformers-4 names) -> `ImageConditioner`
    keys (`model.*` with today's `Dinov2Model` names). Keys already in today's names pass through unchanged.

    transformers 4 computed SwiGLU as `x1, x2 = weights_in(x).chunk(2); silu(x1) * x2`, so the first half of
    `weights_in` rows is today's `gate_proj` and the second half `up_proj`.
    """
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            raise WeightsError(f"conditioner weight {key!r} is not under {prefix!r}")
        key = key[len(prefix) :]
        if ".mlp.weights_in." in key:
            if value.shape[0] % 2:
                raise WeightsError(f"conditioner weight {key!r}: odd SwiGLU size {tuple(value.shape)}")
            gate, up = value.chunk(2, dim=0)
            out[key.replace("mlp.weights_in.", "mlp.gate_proj.")] = gate
            out[key.replace("mlp.weights_in.", "mlp.up_proj.")] = up
            continue
        for old, new in _LAYER_RENAMES.items():
            if old in key:
                key = key.replace(old, new)
                break
        out[key] = value
    return out
