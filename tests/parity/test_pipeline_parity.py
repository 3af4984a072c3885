"""The whole 5-step shape pipeline against hy3dgen 2.0.2's `Hunyuan3DDiTFlowMatchingPipeline`
(tests/fixtures/parity/pipeline_e2e.safetensors: image_rgba.png, 5 steps, CFG 5.0, seed 1234,
octree_resolution 32, num_chunks 4000, box 1.01, mc_level 0): per-step latents, the timesteps the DiT
saw, and the mesh."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh
from safetensors.torch import load_file

from latentgen.artifacts import Latent
from latentgen.encode import DecodeOptions, decode
from latentgen.image import prepare_image
from latentgen.runtime import Runtime
from latentgen.shape import ShapeModels, ShapeOptions, generate_shape, load_shape_models, sample_latents

from ..conftest import FIXTURES
from .test_dit_parity import assert_close

CKPT = FIXTURES / "ckpt" / "tiny-hunyuan3d-2"
PARITY = FIXTURES / "parity"
OPTS = ShapeOptions(steps=5, guidance=5.0, seed=1234)


@pytest.fixture(scope="module")
def ref() -> dict[str, torch.Tensor]:
    return load_file(PARITY / "pipeline_e2e.safetensors")


@pytest.fixture(scope="module")
def models() -> ShapeModels:
    return load_shape_models(CKPT, Runtime(torch.device("cpu"), torch.float32))  # root: picks hunyuan3d-dit-v2-0


@pytest.fixture(scope="module")
def image(models) -> torch.Tensor:
    prepared = prepare_image(
        PARITY / "image" / "image_rgba.png", size=models.image_size, border_ratio=models.border_ratio
    )
    return prepared.tensor  # [1, 3, 512, 512] in [-1, 1]


# the reference pipeline's mesh export: dense 33^3 grid over [-1.01, 1.01]^3, its marching-cubes vertex mapping
REFERENCE_DECODE = DecodeOptions(resolution=32, bounds=1.01, level=0.0, dense=True, mapping="reference", chunk=4000)


def assert_same_mesh(mesh: trimesh.Trimesh, ref: dict[str, torch.Tensor]) -> None:
    assert mesh.faces.shape == tuple(ref["faces"].shape)
    np.testing.assert_array_equal(mesh.faces, ref["faces"].numpy())
    assert_close(torch.from_numpy(np.asarray(mesh.vertices, dtype=np.float32)), ref["vertices"])


def test_trace_from_the_stored_noise(models, image, ref):
    trace = []
    latents = sample_latents(
        image, models, OPTS, noise=ref["init_noise"], on_step=lambda i, t, x: trace.append((t.clone(), x.clone()))
    )
    assert_close(torch.stack([t for t, _ in trace]), ref["model_timesteps"][:, :1].expand(5, 1))
    assert_close(torch.stack([x for _, x in trace]), ref["step_latents"])
    assert torch.equal(trace[3][1], trace[4][1])  # the 5th step (sigma 1 -> 1) is a no-op
    latent = Latent(latents[0] * (1.0 / models.scale_factor), models.vae.name)
    assert_same_mesh(decode(latent, models.vae, REFERENCE_DECODE), ref)


def test_seed_alone_reproduces_the_reference_shape(models, image, ref):
    progress = []
    latent = generate_shape(image, models, OPTS, lambda phase, f: progress.append((phase, f)))
    assert latent.tokens.shape == (64, 8) and latent.tokens.dtype == torch.float32
    assert_close(latent.tokens, ref["step_latents"][-1, 0] * (1.0 / models.scale_factor))
    assert latent.seed == 1234 and latent.model == "hunyuan3d-dit-v2-0"
    assert progress[-1] == ("sampling", 1.0)
    assert_same_mesh(decode(latent, models.vae, REFERENCE_DECODE), ref)


def test_same_seed_same_latent_other_seed_other_latent(models, image):
    opts = ShapeOptions(steps=2, seed=7)
    a = generate_shape(image, models, opts).tokens
    assert torch.equal(a, generate_shape(image, models, opts).tokens)
    assert not torch.allclose(a, generate_shape(image, models, ShapeOptions(steps=2, seed=8)).tokens)


def test_guidance_distilled_checkpoint_runs_one_pass_per_step(image):
    fast = load_shape_models(CKPT, Runtime(torch.device("cpu"), torch.float32), variant="fast")
    batches = []
    fast.dit.register_forward_pre_hook(lambda mod, args: batches.append(args[0].shape[0]))
    latent = generate_shape(image, fast, ShapeOptions(steps=5, guidance=3.0))
    assert batches == [1, 1, 1, 1]  # no CFG pair; the no-op last step is skipped
    assert torch.isfinite(latent.tokens).all() and latent.extra["dit"] == "hunyuan3d-dit-v2-0-fast"
