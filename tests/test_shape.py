"""generate-shape stage: loading reference DiT folders, options, and running in other dtypes."""

from __future__ import annotations

import shutil

import pytest
import torch
import yaml

from latentgen.errors import ConfigError, InputError, OptionError, WeightsError
from latentgen.runtime import Runtime
from latentgen.shape import ShapeOptions, generate_shape, load_shape_models

from .conftest import FIXTURES

CKPT = FIXTURES / "ckpt" / "tiny-hunyuan3d-2"
FP32 = Runtime(torch.device("cpu"), torch.float32)


@pytest.fixture(scope="module")
def models():
    return load_shape_models(CKPT, FP32)


def grey_image() -> torch.Tensor:
    return torch.zeros(1, 3, 64, 64)  # any size: the conditioner resizes to 518 px


def test_a_model_root_defaults_to_v2_0_and_variants_pick_folders(models):
    assert models.name == "hunyuan3d-dit-v2-0" and not models.dit.config.guidance_embed
    assert (models.latent_shape, models.scheduler.kind, models.default_steps()) == ((64, 8), "flow", 50)
    assert (models.image_size, models.border_ratio) == (512, 0.15)
    fast = load_shape_models(CKPT, FP32, variant="fast")
    assert fast.name == "hunyuan3d-dit-v2-0-fast" and fast.dit.config.guidance_embed
    with pytest.raises(ConfigError, match="turbo"):
        load_shape_models(CKPT, FP32, variant="turbo")


def test_missing_weights_folder_says_what_to_pass(tmp_path):
    with pytest.raises(WeightsError, match="--weights"):
        load_shape_models(tmp_path / "nowhere", FP32)
    with pytest.raises(WeightsError):
        load_shape_models(CKPT / "hunyuan3d-vae-v2-0", FP32)  # a VAE folder holds no DiT


def copy_dit(tmp_path, edit):
    folder = tmp_path / "hunyuan3d-dit-v2-0"
    shutil.copytree(CKPT / "hunyuan3d-dit-v2-0", folder)
    raw = yaml.safe_load((folder / "config.yaml").read_text())
    edit(raw)
    (folder / "config.yaml").write_text(yaml.safe_dump(raw))
    return folder


def test_checkpoint_not_matching_its_config_is_refused(tmp_path):
    folder = copy_dit(tmp_path, lambda raw: raw["model"]["params"].update(depth=3))
    with pytest.raises(WeightsError, match="missing"):
        load_shape_models(folder, FP32)


def test_inconsistent_config_is_refused(tmp_path):
    folder = copy_dit(tmp_path, lambda raw: raw["model"]["params"].update(context_in_dim=48))
    with pytest.raises(ConfigError, match="context_in_dim"):
        load_shape_models(folder, FP32)


def test_turbo_scheduler_changes_the_default_step_count(tmp_path):
    def turbo(raw):
        raw["scheduler"] = {
            "target": "hy3dgen.shapegen.schedulers.ConsistencyFlowMatchEulerDiscreteScheduler",
            "params": {"num_train_timesteps": 1000, "pcm_timesteps": 100},
        }

    m = load_shape_models(copy_dit(tmp_path, turbo), FP32)
    assert (m.scheduler.kind, m.scheduler.pcm_timesteps, m.default_steps()) == ("consistency", 100, 5)
    calls = []
    m.dit.register_forward_pre_hook(lambda mod, args: calls.append(args[2].shape[1]))  # condition tokens
    latent = generate_shape(grey_image(), m, ShapeOptions())
    # 5 steps (no no-op step in the consistency table), each a cond pass and a collapsed uncond pass
    assert calls == [1370, 1] * 5 and latent.extra["steps"] == "5"


def test_options_are_checked():
    with pytest.raises(OptionError, match="steps"):
        ShapeOptions(steps=0)
    with pytest.raises(OptionError, match="seed"):
        ShapeOptions(seed=-1)


def test_generate_shape_wants_one_preprocessed_image(models):
    with pytest.raises(InputError, match="one preprocessed image"):
        generate_shape(torch.zeros(3, 64, 64), models, ShapeOptions(steps=2))
    with pytest.raises(InputError, match="one preprocessed image"):
        generate_shape(torch.zeros(2, 3, 64, 64), models, ShapeOptions(steps=2))


def test_negative_guidance_runs_without_cfg(models):
    calls = []
    handle = models.dit.register_forward_pre_hook(lambda mod, args: calls.append(args[0].shape[0]))
    try:
        generate_shape(grey_image(), models, ShapeOptions(steps=3, guidance=-1.0))
    finally:
        handle.remove()
    assert calls == [1, 1]


def test_bf16_weights_give_nearly_the_fp32_latent(models):
    bf16 = load_shape_models(CKPT, Runtime(torch.device("cpu"), torch.bfloat16))
    assert bf16.dit.latent_in.weight.dtype == torch.bfloat16
    opts = ShapeOptions(steps=3)
    ref = generate_shape(grey_image(), models, opts).tokens
    out = generate_shape(grey_image(), bf16, opts).tokens
    assert out.dtype == torch.float32  # the sampler state stays float32
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()


def test_truncated_weights_file_is_a_weights_error(tmp_path):
    folder = copy_dit(tmp_path, lambda raw: None)
    blob = (folder / "model.fp16.safetensors").read_bytes()
    (folder / "model.fp16.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(WeightsError, match="model.fp16.safetensors"):
        load_shape_models(folder, FP32)
