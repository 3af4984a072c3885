"""ShapeDiT against hy3dgen 2.0.2 (tests/fixtures/parity, copied from ../shared/parity/ref) and the key list
of the released checkpoints (../shared/reference/hunyuan3d2-keys.txt)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from latentgen.errors import ConfigError
from latentgen.models.checkpoint import check_state
from latentgen.models.dit import DIT_PRESETS, DiTConfig, ShapeDiT, timestep_embedding
from latentgen.runtime import Runtime
from latentgen.shape import load_shape_models

from ..conftest import FIXTURES, shared_path

CKPT = FIXTURES / "ckpt" / "tiny-hunyuan3d-2"
PARITY = FIXTURES / "parity"
FP32 = Runtime(torch.device("cpu"), torch.float32)


def assert_close(ours: torch.Tensor, ref: torch.Tensor, rel: float = 1e-4) -> None:
    """max |ours - ref| <= rel * max |ref| (fp32 CPU)."""
    assert ours.shape == ref.shape
    err, scale = (ours.float() - ref.float()).abs().max().item(), ref.abs().max().item()
    assert err <= rel * scale, f"max|diff| {err:.3g} > {rel} * max|ref| {scale:.3g}"


@pytest.fixture(scope="module")
def inputs() -> dict[str, torch.Tensor]:
    return load_file(PARITY / "inputs.safetensors")


def test_velocity_matches_the_reference(inputs):
    dit = load_shape_models(CKPT / "hunyuan3d-dit-v2-0", FP32).dit
    assert not dit.config.guidance_embed
    with torch.no_grad():
        v = dit(inputs["latents"], inputs["timestep"], inputs["cond"])  # t = [0, 0.37]: both time branches
    assert_close(v, load_file(PARITY / "dit_forward.safetensors")["velocity"])


def test_guidance_distilled_velocity_matches_the_reference(inputs):
    dit = load_shape_models(CKPT, FP32, variant="fast").dit
    assert dit.config.guidance_embed
    with torch.no_grad():
        v = dit(inputs["latents"], inputs["timestep"], inputs["cond"], inputs["guidance"])
        with pytest.raises(ValueError, match="guidance"):
            dit(inputs["latents"], inputs["timestep"], inputs["cond"])
    assert_close(v, load_file(PARITY / "dit_guidance_forward.safetensors")["velocity"])


def test_latent_tokens_are_an_unordered_set(inputs):
    """No positional embedding: permuting the latent tokens permutes the velocity the same way."""
    dit = load_shape_models(CKPT / "hunyuan3d-dit-v2-0", FP32).dit
    x, t, cond = inputs["latents"], inputs["timestep"], inputs["cond"]
    perm = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert_close(dit(x[:, perm], t, cond), dit(x, t, cond)[:, perm], rel=1e-5)


def test_a_repeated_condition_token_can_run_once(inputs):
    """The unconditional (all-zero) embedding: one token with cond_repeats=L equals L identical tokens."""
    dit = load_shape_models(CKPT / "hunyuan3d-dit-v2-0", FP32).dit
    x, t = inputs["latents"], inputs["timestep"]
    zeros = torch.zeros(2, 1370, 32)
    with torch.no_grad():
        full = dit(x, t, zeros)
        assert_close(dit(x, t, zeros[:, :1], cond_repeats=1370), full, rel=1e-5)
        assert not torch.allclose(dit(x, t, zeros[:, :1]), full, atol=1e-3)  # without the weight it differs


def test_timestep_embedding_is_cos_first_with_the_reference_period():
    emb = timestep_embedding(torch.tensor([0.0, 0.5]), 256, max_period=1000.0)
    assert torch.equal(emb[0], torch.cat([torch.ones(128), torch.zeros(128)]))  # t = 0: cos 1, sin 0
    # frequency k is 1000^(-k/128), applied to t * 1000
    k = torch.tensor([0, 64, 127])
    assert_close(emb[1, k], torch.cos(500.0 * 1000.0 ** (-k / 128.0)), rel=1e-5)


@pytest.mark.parametrize("guidance", [False, True])
def test_full_size_parameter_names_and_shapes_match_the_released_checkpoint(guidance):
    keys = shared_path("reference", "hunyuan3d2-keys.txt")
    state = {}
    for line in keys.read_text().splitlines():
        if line.startswith("model."):
            name, shape = line.split("\t")
            state[name[len("model.") :]] = torch.empty(eval(shape), device="meta")
    if guidance:  # the "-fast" checkpoints add guidance_in (listed in the anatomy, not in the v2-0 key file)
        state |= {f"guidance_in.{n}": torch.empty(s, device="meta") for n, s in _GUIDANCE_SHAPES.items()}
    with torch.device("meta"):
        dit = ShapeDiT(DiTConfig(guidance_embed=guidance))
    check_state(dit, state, "hunyuan3d2-keys.txt")
    assert sum(p.numel() for p in dit.parameters()) == 1_113_274_432 + guidance * (256 * 1024 + 1024 * 1024 + 2048)


_GUIDANCE_SHAPES = {
    "in_layer.weight": (1024, 256),
    "in_layer.bias": (1024,),
    "out_layer.weight": (1024, 1024),
    "out_layer.bias": (1024,),
}


def test_mini_preset_halves_the_depth():
    mini = DIT_PRESETS["v2-mini"]
    assert (mini.depth, mini.depth_single_blocks, mini.hidden_size) == (8, 16, 1024)


def test_config_follows_the_reference_constructor():
    cfg = DiTConfig.from_reference(
        {
            "in_channels": 8,
            "context_in_dim": 32,
            "hidden_size": 64,
            "num_heads": 4,
            "depth": 2,
            "depth_single_blocks": 2,
            "axes_dim": [16],
            "ckpt_path": None,
        }
    )
    assert cfg.axes_dim == (16,) and cfg.head_dim == 16
    with pytest.raises(ConfigError, match="axes_dim"):
        DiTConfig(hidden_size=64, num_heads=4, axes_dim=(64,))
    with pytest.raises(ConfigError, match="multiple"):
        DiTConfig(hidden_size=100, num_heads=16)
    with pytest.raises(ConfigError, match="unknown keys"):
        DiTConfig.from_reference({"hidden_sizes": 64})
