"""ShapeVAE: loading reference and own checkpoints strictly, dtypes, the learned-query variant, encode/decode."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from safetensors.torch import load_file, save_file

from latentgen.artifacts import Latent
from latentgen.config import config_hash
from latentgen.encode import DecodeOptions, EncodeOptions, decode, decode_volume, encode
from latentgen.errors import ConfigError, InputError, WeightsError
from latentgen.models.checkpoint import build_exact, resolve_checkpoint, save_checkpoint
from latentgen.models.shapevae import ShapeVAE, ShapeVAEConfig, load_shapevae
from latentgen.runtime import Runtime
from latentgen.surface import extract_mesh

from .conftest import FIXTURES, SHARED, shared_path

ROOT = FIXTURES / "ckpt" / "tiny-hunyuan3d-2"
FP32 = Runtime(torch.device("cpu"), torch.float32)
TINY = ShapeVAEConfig(
    num_latents=32,
    embed_dim=8,
    width=32,
    heads=4,
    num_decoder_layers=1,
    num_encoder_layers=1,
    pc_size=128,
    pc_sharpedge_size=64,
    point_feats=4,
    downsample_ratio=4,
    include_pi=False,
    qk_norm=True,
    with_encoder=True,
)


@pytest.fixture
def vae_folder(tmp_path) -> Path:
    """A writable copy of the reference stand-alone VAE folder."""
    return Path(shutil.copytree(ROOT / "hunyuan3d-vae-v2-0", tmp_path / "hunyuan3d-vae-v2-0"))


def edit_weights(folder: Path, edit) -> None:
    path = folder / "model.fp16.safetensors"
    state = load_file(path)
    edit(state)
    save_file(state, path)


def test_config_checks_itself():
    with pytest.raises(ConfigError, match="multiple of heads"):
        ShapeVAEConfig(num_latents=8, embed_dim=4, width=30, heads=4, num_decoder_layers=1)
    with pytest.raises(ConfigError, match="geo_decoder_downsample_ratio"):
        ShapeVAEConfig(
            num_latents=8, embed_dim=4, width=32, heads=2, num_decoder_layers=1, geo_decoder_downsample_ratio=4
        )
    with pytest.raises(ConfigError, match="encoder_queries"):
        ShapeVAEConfig(num_latents=8, embed_dim=4, width=32, heads=2, num_decoder_layers=1, encoder_queries="grid")


def test_model_root_resolution_by_variant_and_need():
    pick = lambda **kw: load_shapevae(ROOT, FP32, **kw).name  # noqa: E731
    assert pick() == "hunyuan3d-vae-v2-0"  # plain stand-alone VAE first
    assert pick(variant="turbo") == "hunyuan3d-vae-v2-0-turbo"
    assert pick(need_encoder=True) == "hunyuan3d-vae-v2-0-withencoder"
    assert pick(variant="dit") == "hunyuan3d-dit-v2-0"  # the vae.* part of the combined DiT file
    assert pick(prefer=["hunyuan3d-dit-v2-0-fast"]) == "hunyuan3d-dit-v2-0-fast"  # e.g. a latent's model id
    with pytest.raises(ConfigError, match="available: .*hunyuan3d-vae-v2-0-turbo"):
        load_shapevae(ROOT, FP32, variant="mini")
    with pytest.raises(WeightsError, match="no encoder"):
        load_shapevae(ROOT, FP32, variant="turbo", need_encoder=True)


def test_a_single_folder_is_used_as_is(vae_folder):
    vae = load_shapevae(vae_folder, FP32)
    assert vae.name == "hunyuan3d-vae-v2-0" and not vae.has_encoder
    assert vae.config.num_latents == 64 and vae.config.qk_norm and not vae.config.include_pi
    with pytest.raises(WeightsError, match="no encoder"):
        load_shapevae(vae_folder, FP32, need_encoder=True)


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(WeightsError, match="--weights DIR.*huggingface-cli download"):
        load_shapevae(tmp_path / "nowhere", FP32)
    with pytest.raises(WeightsError, match="no 'vae' checkpoint folder"):
        load_shapevae(tmp_path, FP32)


def test_unexpected_key_is_named(vae_folder):
    edit_weights(vae_folder, lambda s: s.__setitem__("post_kl.extra", torch.zeros(3, dtype=torch.float16)))
    with pytest.raises(WeightsError, match=r"1 unexpected \('post_kl.extra'\)"):
        load_shapevae(vae_folder, FP32)


def test_missing_key_is_named(vae_folder):
    edit_weights(vae_folder, lambda s: s.pop("geo_decoder.output_proj.bias"))
    with pytest.raises(WeightsError, match=r"1 missing \('geo_decoder.output_proj.bias'\)"):
        load_shapevae(vae_folder, FP32)


def test_misshaped_key_is_named(vae_folder):
    edit_weights(vae_folder, lambda s: s.__setitem__("post_kl.weight", s["post_kl.weight"][:, :7].contiguous()))
    with pytest.raises(WeightsError, match=r"mis-shaped \('post_kl.weight' is \[64, 7\], model wants \[64, 8\]"):
        load_shapevae(vae_folder, FP32)


def test_wrong_dtype_is_named(vae_folder):
    edit_weights(vae_folder, lambda s: s.__setitem__("post_kl.bias", s["post_kl.bias"].to(torch.int32)))
    with pytest.raises(WeightsError, match=r"wrong dtype \('post_kl.bias' is torch.int32"):
        load_shapevae(vae_folder, FP32)


def test_unknown_reference_param_is_a_config_error(vae_folder):
    yaml = vae_folder / "config.yaml"
    yaml.write_text(yaml.read_text() + "  num_wings: 2\n")
    with pytest.raises(ConfigError, match="num_wings"):
        load_shapevae(vae_folder, FP32)


def test_weights_take_the_runtime_dtype():
    fp32 = load_shapevae(ROOT, FP32)
    bf16 = load_shapevae(ROOT, Runtime(torch.device("cpu"), torch.bfloat16))
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in fp32.parameters()} == {torch.float32}
    # the fp16 file holds the exact values the fp32 model now has
    stored = load_file(ROOT / "hunyuan3d-vae-v2-0" / "model.fp16.safetensors")
    assert all(torch.equal(t.float(), fp32.state_dict()[k]) for k, t in stored.items())
    latents = load_file(FIXTURES / "parity" / "inputs.safetensors")["latents"][:1]
    xyz = torch.rand(1, 200, 3) * 2 - 1
    with torch.inference_mode():
        a = fp32.occupancy(fp32.decode(latents), xyz)
        b = bf16.occupancy(bf16.decode(latents), xyz)
    assert b.dtype == torch.float32 and (a - b).abs().max() < 0.05 * a.abs().max()


def test_models_are_built_on_the_meta_device_then_filled():
    torch.manual_seed(0)
    state = ShapeVAE(TINY).state_dict()
    seen = []

    def factory() -> ShapeVAE:
        seen.append(torch.empty(1).device.type)  # where a new tensor lands while the model is built
        return ShapeVAE(TINY)

    vae = build_exact(factory, dict(state), "test", torch.float32, "cpu")
    assert seen == ["meta"]
    assert all(torch.equal(vae.state_dict()[k], v) for k, v in state.items())
    assert not any(p.is_meta or p.requires_grad for p in vae.parameters())


def test_learned_query_variant_round_trips_our_own_format(tmp_path):
    config = replace(TINY, encoder_queries="learned", pc_sharpedge_size=0)
    torch.manual_seed(0)
    vae = ShapeVAE(config).eval()
    assert vae.encoder.query.shape == (32, 32)
    save_checkpoint(vae, config, tmp_path / "shapevae")
    assert json.loads((tmp_path / "shapevae" / "config.json").read_text())["encoder_queries"] == "learned"
    loaded = load_shapevae(tmp_path, FP32)  # a model root holding our `shapevae/` folder
    assert loaded.name == "shapevae" and loaded.config == config
    points = torch.rand(2, 100, 7)  # [B, P, xyz + normal + label]
    with torch.inference_mode():
        z = loaded.encode(points)
        assert z.shape == (2, 32, 8)
        assert torch.equal(z, vae.encode(points))
    latent = encode(trimesh.creation.box(), loaded, EncodeOptions(num_uniform=300))
    assert latent.tokens.shape == (32, 8) and latent.config_hash == config_hash(config)


def test_latent_positions_put_each_query_point_first_in_its_token(tmp_path):
    config = replace(TINY, latent_positions=True, encode_posterior="mean")
    torch.manual_seed(0)
    vae = ShapeVAE(config).eval()
    save_checkpoint(vae, config, tmp_path / "shapevae")
    loaded = load_shapevae(tmp_path, FP32)
    points = torch.rand(1, 200, 7) * 2 - 1
    queries = points[:, :32]
    with torch.inference_mode():
        z = loaded.encode(points, queries)
        assert config.latent_channels == 11 and z.shape == (1, 32, 11)
        assert torch.equal(z[..., :3], queries[..., :3])  # the positions ride along unchanged
        moved = z.clone()
        moved[..., :3] += 0.1
        assert not torch.allclose(loaded.decode(moved), loaded.decode(z))  # and the decoder reads them
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.8)
    latent = encode(mesh, loaded, EncodeOptions(num_uniform=300))
    assert latent.tokens.shape == (32, 11) and latent.extra["posterior"] == "mean"
    decode_volume(latent, loaded, DecodeOptions(resolution=8, dense=True))
    with pytest.raises(ConfigError, match="latent_positions"):
        replace(TINY, latent_positions=True, encoder_queries="learned")


def test_own_format_rejects_unknown_config_keys(tmp_path):
    torch.manual_seed(0)
    save_checkpoint(ShapeVAE(TINY), TINY, tmp_path / "shapevae")
    cfg = tmp_path / "shapevae" / "config.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "colour": "red"}))
    with pytest.raises(ConfigError, match="colour"):
        load_shapevae(tmp_path / "shapevae", FP32)


def test_encode_then_decode_a_shared_mesh_with_the_reference_tiny_checkpoint():
    mesh = trimesh.load(FIXTURES / "meshes" / "trimesh_octagonal_pocket.ply", force="mesh")
    before = mesh.vertices.copy()
    vae = load_shapevae(ROOT, FP32, need_encoder=True)
    latent = encode(mesh, vae, EncodeOptions(seed=1))
    assert np.array_equal(mesh.vertices, before)  # the input is not touched
    assert latent.tokens.shape == (64, 8) and latent.tokens.dtype == torch.float32
    assert latent.model == "hunyuan3d-vae-v2-0-withencoder" and latent.config_hash == config_hash(vae.config)
    assert latent.seed == 1 and latent.extra["points"] == "256+256"  # counts from the checkpoint config
    assert latent.extra["posterior"] == "sample"  # as hy3dgen's encode, seeded
    assert torch.equal(encode(mesh, vae, EncodeOptions(seed=1)).tokens, latent.tokens)  # deterministic
    assert not torch.equal(encode(mesh, vae, EncodeOptions(seed=2)).tokens, latent.tokens)
    mean = encode(mesh, vae, EncodeOptions(seed=1, posterior="mean"))
    assert mean.extra["posterior"] == "mean" and not torch.equal(mean.tokens, latent.tokens)


SHARED_MESHES = sorted(
    str(p.relative_to(SHARED / "data" / "meshes"))
    for p in (SHARED / "data" / "meshes").rglob("*")
    if p.suffix in (".obj", ".ply") and "textured" not in p.name
)


@pytest.mark.parametrize("name", SHARED_MESHES)
def test_every_shared_mesh_round_trips_through_the_reference_tiny_checkpoint(name):
    mesh = trimesh.load(shared_path("data", "meshes", name), force="mesh")
    vae = load_shapevae(ROOT, FP32, need_encoder=True)
    out = decode(encode(mesh, vae, EncodeOptions(seed=0)), vae, DecodeOptions(resolution=48))
    # random weights: a blob, but a closed, consistently wound surface inside the grid
    assert len(out.faces) > 0 and out.is_winding_consistent
    assert np.abs(out.vertices).max() <= 1.01


def test_decode_coarse_to_fine_equals_dense_on_the_tiny_vae_field():
    vae = load_shapevae(ROOT, FP32)
    tokens = load_file(FIXTURES / "parity" / "inputs.safetensors")["latents"][1] / vae.config.scale_factor
    latent = Latent(tokens, vae.name)
    dense = decode_volume(latent, vae, DecodeOptions(resolution=64, dense=True, chunk=65536))
    fine = decode_volume(latent, vae, DecodeOptions(resolution=64, chunk=65536))
    a, b = extract_mesh(dense.grid), extract_mesh(fine.grid)
    assert np.array_equal(a.faces, b.faces) and np.abs(a.vertices - b.vertices).max() < 1e-6
    assert fine.queries < dense.queries / 3


def test_decode_limits_faces_and_checks_the_latent():
    vae = load_shapevae(ROOT, FP32)
    tokens = load_file(FIXTURES / "parity" / "inputs.safetensors")["latents"][0]
    mesh = decode(Latent(tokens, vae.name), vae, DecodeOptions(resolution=40, max_faces=1000))
    assert 0 < len(mesh.faces) <= 1000
    with pytest.raises(InputError, match="8 channels per token"):
        decode(Latent(torch.zeros(64, 5)), vae)
    with pytest.raises(ConfigError, match="--faces"):
        DecodeOptions(max_faces=2)


def test_resolve_checkpoint_reads_only_configs_and_names(vae_folder):
    ckpt = resolve_checkpoint(vae_folder, "vae")
    assert ckpt.reference and ckpt.standalone and ckpt.weights.name == "model.fp16.safetensors"
    assert "post_kl.weight" in ckpt.keys and not any(k.startswith("encoder.") for k in ckpt.keys)
    (vae_folder / "config.yaml").write_text("target: some.module.Hunyuan3DDiT\nparams: {}\n")
    with pytest.raises(WeightsError, match="does not describe a 'vae' model"):
        resolve_checkpoint(vae_folder, "vae")


def test_pickle_checkpoints_load_with_weights_only(tmp_path):
    """Encoder-bearing reference VAEs ship as `model.fp16.ckpt` (torch.save of a flat state dict)."""
    src = ROOT / "hunyuan3d-vae-v2-0-withencoder"
    folder = tmp_path / "hunyuan3d-vae-v2-mini-withencoder"
    folder.mkdir()
    shutil.copy(src / "config.yaml", folder)
    torch.save(load_file(src / "model.fp16.safetensors"), folder / "model.fp16.ckpt")
    vae = load_shapevae(tmp_path, FP32, need_encoder=True)
    assert vae.name == folder.name and vae.has_encoder
    ref = load_shapevae(src, FP32)
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in vae.state_dict().items())


def test_saved_weights_are_as_readable_as_their_config(tmp_path):
    # safetensors alone writes 0600 files: a teammate or a server reading exported weights would be refused
    save_checkpoint(ShapeVAE(TINY), TINY, tmp_path / "shapevae")
    mode = lambda name: (tmp_path / "shapevae" / name).stat().st_mode & 0o777  # noqa: E731
    assert mode("model.safetensors") == mode("config.json")
