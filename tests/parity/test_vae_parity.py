"""ShapeVAE and volume decoding against hy3dgen 2.0.2 (+ the GitHub encoder), loaded through our loader from
the reference checkpoint tree in tests/fixtures/ckpt (copied from ../shared/parity/ref, see its README).

Tolerance: max |ours - ref| <= 1e-4 * max |ref|, fp32 on CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from latentgen.models.shapevae import ShapeVAE, load_shapevae
from latentgen.runtime import Runtime
from latentgen.surface import dense_grid, extract_mesh

from ..conftest import FIXTURES

ROOT = FIXTURES / "ckpt" / "tiny-hunyuan3d-2"
PARITY = FIXTURES / "parity"
FP32 = Runtime(torch.device("cpu"), torch.float32)


def assert_close(ours: torch.Tensor, ref: torch.Tensor, rel: float = 1e-4) -> None:
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    err, scale = (ours.float() - ref).abs().max().item(), ref.abs().max().item()
    assert err <= rel * scale, f"max |diff| {err:.3g} > {rel} x max |ref| {scale:.3g}"


@pytest.fixture(scope="module")
def inputs() -> dict[str, torch.Tensor]:
    return load_file(PARITY / "inputs.safetensors")


def vae_space(latents: torch.Tensor, vae: ShapeVAE) -> torch.Tensor:
    """The pipeline hands the VAE `latents / scale_factor` (DiT space -> VAE space)."""
    return latents / vae.config.scale_factor


@torch.inference_mode()
@pytest.mark.parametrize("variant", ["hunyuan3d-vae-v2-0", "hunyuan3d-dit-v2-0", "withencoder"])
def test_decoder_matches_reference(variant, inputs):
    """The stand-alone VAE, the `vae.*` part of the combined DiT file and the encoder-bearing VAE share one decoder."""
    ref = load_file(PARITY / "vae_decode.safetensors")
    vae = load_shapevae(ROOT, FP32, variant=variant)
    z = vae_space(inputs["latents"], vae)
    assert_close(z, ref["vae_input"])
    assert_close(vae.fourier_embedder(inputs["queries"]), ref["fourier_embedding"])
    assert_close(vae.post_kl(z), ref["post_kl"])
    decoded = vae.decode(z)
    assert_close(decoded, ref["decoded_latents"])
    assert_close(vae.geo_decoder(inputs["queries"], decoded), ref["query_logits"])
    assert_close(vae.occupancy(decoded, inputs["queries"]), ref["query_logits"][..., 0])


@torch.inference_mode()
def test_turbo_decoder_matches_reference(inputs):
    ref = load_file(PARITY / "vae_turbo_decode.safetensors")
    vae = load_shapevae(ROOT, FP32, variant="turbo")
    assert vae.geo_decoder.latents_proj is not None and vae.geo_decoder.ln_post is None
    decoded = vae.decode(vae_space(inputs["latents"], vae))
    assert_close(decoded, ref["decoded_latents"])
    assert_close(vae.geo_decoder(inputs["queries"], decoded), ref["query_logits"])


@torch.inference_mode()
def test_dense_volume_and_mesh_match_reference(inputs):
    """VanillaVolumeDecoder(bounds 1.01, octree 32, num_chunks 1000) + MCSurfaceExtractor + export_to_trimesh."""
    ref = load_file(PARITY / "volume_vanilla.safetensors")
    decoded = load_file(PARITY / "vae_decode.safetensors")["decoded_latents"][:1]
    vae = load_shapevae(ROOT, FP32)
    ctx = vae.geo_decoder.context(decoded)
    vol = dense_grid(lambda xyz: vae.geo_decoder.query(xyz[None], ctx)[0, :, 0], 32, bounds=1.01, chunk=1000)
    assert_close(vol.grid[None], ref["grid_logits"])
    # marching cubes of the reference grid: identical topology, vertices to float precision
    mesh = extract_mesh(ref["grid_logits"][0], 1.01, 0.0, mapping="reference")
    assert np.array_equal(mesh.faces, ref["faces"].numpy())
    assert np.abs(mesh.vertices - ref["vertices"].numpy()).max() < 1e-6
    # and of our own grid: a value within float noise of the level could move a face; none does here
    ours = extract_mesh(vol.grid, 1.01, 0.0, mapping="reference")
    assert ours.faces.shape == mesh.faces.shape and np.abs(ours.vertices - mesh.vertices).max() < 1e-4


@torch.inference_mode()
def test_encoder_matches_reference():
    """GitHub ShapeVAE.encode(surface, sample_posterior=False) with the harness's stored query / data rows."""
    ref = load_file(PARITY / "vae_encode.safetensors")
    vae = load_shapevae(ROOT, FP32, need_encoder=True)
    assert vae.name == "hunyuan3d-vae-v2-0-withencoder"
    surface = ref["surface"]  # [1, 512, 7]: xyz, normal, sharp-edge label
    queries, data = surface[:, ref["query_index"]], surface[:, ref["input_index"]]
    assert_close(vae.encoder.tokens(queries), ref["query_tokens"])
    assert_close(vae.encoder.tokens(data), ref["data_tokens"])
    assert_close(vae.encoder(data, queries), ref["encoder_latents"])
    posterior = vae.posterior(data, queries)
    assert_close(vae.pre_kl(vae.encoder(data, queries)), ref["moments"])
    assert_close(posterior.mean, ref["posterior_mean"])
    assert_close(posterior.logvar, ref["posterior_logvar"])
    z = vae.encode(data, queries)
    assert torch.equal(z, posterior.mean)
    decoded = vae.decode(z)
    assert_close(decoded, ref["decoded_latents"])
    assert_close(vae.geo_decoder(ref["queries"], decoded), ref["query_logits"])
