"""DINOv2 conditioner against hy3dgen 2.0.2 + transformers 4.57 (tests/fixtures/parity).

Fixtures derived from ../shared/parity/ref/conditioner.safetensors: `conditioner_processed_image.png` is its
`processed_image_uint8` (the ImageProcessorV2 output, lossless PNG); `conditioner_tokens.safetensors` holds
`dino_pixel_values[..., ::7, ::7]` (every 7th row/column, to stay small), `cond_main` and a slice of
`uncond_main`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from latentgen.errors import ConfigError, WeightsError
from latentgen.image import to_model_tensor
from latentgen.models.checkpoint import check_state
from latentgen.models.conditioner import ConditionerConfig, ImageConditioner, reference_to_dinov2
from latentgen.runtime import Runtime
from latentgen.shape import load_shape_models

from ..conftest import FIXTURES, shared_path
from .test_dit_parity import assert_close

CKPT = FIXTURES / "ckpt" / "tiny-hunyuan3d-2" / "hunyuan3d-dit-v2-0"
PARITY = FIXTURES / "parity"


@pytest.fixture(scope="module")
def conditioner() -> ImageConditioner:
    return load_shape_models(CKPT, Runtime(torch.device("cpu"), torch.float32)).conditioner


@pytest.fixture(scope="module")
def ref() -> dict[str, torch.Tensor]:
    return load_file(PARITY / "conditioner_tokens.safetensors")


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    """The reference's processed image as the model tensor [1, 3, 512, 512] in [-1, 1]."""
    return to_model_tensor(np.array(Image.open(PARITY / "conditioner_processed_image.png")))


def test_pixel_values_match_the_reference_resize_and_normalisation(conditioner, ref, image):
    pixels = conditioner.pixel_values(image)  # [1, 3, 518, 518]
    assert pixels.shape == (1, 3, 518, 518)
    assert_close(pixels[..., ::7, ::7], ref["dino_pixel_values_every7"], rel=1e-6)


def test_tokens_match_the_reference(conditioner, ref, image):
    with torch.no_grad():
        tokens = conditioner(image)
    assert tokens.shape == (1, 1370, 32)  # CLS + 37 x 37 patches
    assert_close(tokens, ref["cond_main"])


def test_unconditional_embedding_is_zeros(conditioner, ref):
    uncond = conditioner.unconditional(2)
    assert uncond.shape == (2, 1370, 32) and not uncond.any()
    assert not ref["uncond_main"].any()


def test_non_square_input_is_resized_on_its_short_side_and_centre_cropped(conditioner):
    tall = -torch.ones(1, 3, 200, 100)  # black, 100 wide x 200 tall
    tall[..., :50, :] = tall[..., 150:, :] = 1.0  # white bands that the centre crop must cut away
    pixels = conditioner.pixel_values(tall)  # short side 100 -> 518, long side 1036, rows 259..776 kept
    assert pixels.shape == (1, 3, 518, 518)
    black = -torch.tensor([0.485, 0.456, 0.406]) / torch.tensor([0.229, 0.224, 0.225])
    assert_close(pixels[0, :, 4:-4].mean(dim=(1, 2)), black, rel=1e-6)


def test_transformers4_names_map_to_todays_dinov2():
    """Every conditioner key of the released v2-0 file lands on a parameter of today's Dinov2Model."""
    keys = shared_path("reference", "hunyuan3d2-keys.txt")
    state = {}
    for line in keys.read_text().splitlines():
        if line.startswith("conditioner."):
            name, shape = line.split("\t")
            state[name[len("conditioner.") :]] = torch.empty(eval(shape), device="meta")
    mapped = reference_to_dinov2(state)
    assert mapped["model.encoder.layer.0.mlp.gate_proj.weight"].shape == (4096, 1536)  # weights_in [8192] halved
    with torch.device("meta"):
        model = ImageConditioner(ConditionerConfig())  # the released giant config
    check_state(model, mapped, "hunyuan3d2-keys.txt")


def test_swiglu_split_puts_the_gated_half_first():
    state = {"main_image_encoder.model.encoder.layer.0.mlp.weights_in.bias": torch.arange(6.0)}
    mapped = reference_to_dinov2(state)
    assert mapped["model.encoder.layer.0.mlp.gate_proj.bias"].tolist() == [0, 1, 2]
    assert mapped["model.encoder.layer.0.mlp.up_proj.bias"].tolist() == [3, 4, 5]
    with pytest.raises(WeightsError, match="not under"):
        reference_to_dinov2({"model.layernorm.weight": torch.zeros(2)})


def test_only_inline_dino_configs_are_accepted():
    with pytest.raises(ConfigError, match="not supported"):
        ConditionerConfig.from_reference({"main_image_encoder": {"type": "CLIPImageEncoder", "kwargs": {}}})
    with pytest.raises(ConfigError, match="unknown DINOv2"):
        ConditionerConfig.from_reference(
            {"main_image_encoder": {"type": "DinoImageEncoder", "kwargs": {"config": {"hiden_size": 3}}}}
        )
