"""generate-shape stage: loading reference DiT folders, options, and running in other dtypes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
import yaml
from PIL import Image

from latentgen.artifacts import load_latent
from latentgen.encode import encode
from latentgen.errors import ConfigError, InputError, OptionError, WeightsError
from latentgen.image import prepare_image
from latentgen.runtime import Runtime
from latentgen.sampling import initial_noise
from latentgen.shape import ShapeOptions, candidate_noise, choose_candidate, generate_shape, load_shape_models
from latentgen.silhouette import silhouette

from .conftest import FIXTURES, REPO

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


# ---------------------------------------------------------------------------------------------- the command line

PICTURE = FIXTURES / "parity" / "image" / "image_rgba.png"
QUICK = ["--steps", "3", "--resolution", "32", "--faces", "2000"]


def _only_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def _bad_picture(tmp_path: Path, kind: str) -> Path:
    from .test_image import png_header_only

    path = tmp_path / f"{kind}.png"
    if kind == "corrupt":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 40)
    elif kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "1x1":
        Image.new("RGB", (1, 1), (200, 30, 30)).save(path)
    elif kind == "transparent":
        Image.new("RGBA", (64, 64), (200, 30, 30, 0)).save(path)
    elif kind == "20000x20000":
        path.write_bytes(png_header_only(20000, 20000))
    elif kind == "not-an-image":
        path.write_text("a shopping list, not a picture\n" * 4)
    return path


@pytest.mark.parametrize("kind", ["corrupt", "zero-byte", "1x1", "transparent", "20000x20000", "not-an-image"])
def test_bad_pictures_are_one_line_exit_2_before_any_model_is_loaded(cli, tmp_path, monkeypatch, kind):
    def no_model_load(*args, **kwargs):
        raise AssertionError("the models were loaded for a picture that cannot be used")

    monkeypatch.setattr("latentgen.shape.load_shape_models", no_model_load)
    bad = _bad_picture(tmp_path, kind)
    out = tmp_path / "out"
    result = cli(
        "generate-shape", bad, "-o", out / "shape.glb", "--latent-out", out / "shape.latent", "--weights", CKPT
    )
    assert result.exit_code == 2, result.stderr
    line = _only_line(result.stderr)
    assert line.startswith("error:") and bad.name in line and "Traceback" not in result.stderr
    assert not out.exists()


def test_an_unwritable_latent_out_fails_before_any_work(cli, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    result = cli("generate-shape", PICTURE, "-o", tmp_path / "shape.ply", "--latent-out", blocker / "x.latent")
    assert result.exit_code == 2 and "not a folder" in _only_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # no mesh without its latent


def test_same_seed_same_bytes_and_the_latent_decodes_to_the_same_mesh(cli, tmp_path):
    for name in ("a", "b"):
        result = cli("generate-shape", PICTURE, "-o", tmp_path / f"{name}.glb", "--keep-intermediates", *QUICK,
                     "--weights", CKPT)  # fmt: skip
        assert result.exit_code == 0, result.stderr
    for suffix in (".glb", ".latent", ".input.png", ".mask.png"):
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes(), suffix
    with Image.open(PICTURE) as src, Image.open(tmp_path / "a.mask.png") as mask:
        assert mask.mode == "L" and mask.size == src.size  # the foreground on the input picture, for the user
        assert (np.asarray(mask) == np.asarray(src.convert("RGBA"))[..., 3]).all()  # an RGBA cut-out: its alpha
    result = cli("decode", tmp_path / "a.latent", "-o", tmp_path / "again.glb", *QUICK[2:], "--weights", CKPT)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "again.glb").read_bytes() == (tmp_path / "a.glb").read_bytes()
    result = cli("generate-shape", PICTURE, "-o", tmp_path / "c.glb", "--latent-out", tmp_path / "c.latent",
                 "--seed", "1235", *QUICK, "--weights", CKPT)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert not torch.equal(load_latent(tmp_path / "c.latent").tokens, load_latent(tmp_path / "a.latent").tokens)


def test_decode_defaults_are_generate_shapes_so_its_latent_gives_back_its_mesh(cli, tmp_path):
    """No flags but --steps on either side: shipped weights, their stored grid (160) and 40000 faces."""
    result = cli("generate-shape", PICTURE, "-o", tmp_path / "a.glb", "--latent-out", tmp_path / "a.latent",
                 "--steps", "2")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    result = cli("decode", tmp_path / "a.latent", "-o", tmp_path / "again.glb")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "again.glb").read_bytes() == (tmp_path / "a.glb").read_bytes()


def test_variant_of_a_model_root_and_its_subfolder_are_the_same_weights(cli, tmp_path):
    runs = {
        "root": ["--weights", CKPT],
        "fast": ["--weights", CKPT, "--variant", "fast"],
        "folder": ["--weights", CKPT / "hunyuan3d-dit-v2-0-fast"],
    }
    for name, args in runs.items():
        result = cli("generate-shape", PICTURE, "-o", tmp_path / f"{name}.ply", "--latent-out",
                     tmp_path / f"{name}.latent", *QUICK, *args)  # fmt: skip
        assert result.exit_code == 0, result.stderr
    assert load_latent(tmp_path / "root.latent").extra["dit"] == "hunyuan3d-dit-v2-0"
    assert load_latent(tmp_path / "fast.latent").extra["dit"] == "hunyuan3d-dit-v2-0-fast"
    assert (tmp_path / "fast.latent").read_bytes() == (tmp_path / "folder.latent").read_bytes()
    assert (tmp_path / "fast.ply").read_bytes() == (tmp_path / "folder.ply").read_bytes()
    result = cli("generate-shape", PICTURE, "-o", tmp_path / "t.ply", "--weights", CKPT, "--variant", "turbo")
    assert result.exit_code == 3 and "hunyuan3d-dit-v2-0-fast" in _only_line(result.stderr)  # names what exists


def test_dtype_options(cli, tmp_path):
    tokens = {}
    for dtype in ("auto", "fp32", "bf16", "fp16"):
        result = cli("generate-shape", PICTURE, "-o", tmp_path / f"{dtype}.ply", "--latent-out",
                     tmp_path / f"{dtype}.latent", "--dtype", dtype, *QUICK, "--weights", CKPT)  # fmt: skip
        assert result.exit_code == 0, (dtype, result.stderr)
        tokens[dtype] = load_latent(tmp_path / f"{dtype}.latent").tokens
    assert torch.equal(tokens["auto"], tokens["fp32"])  # CPU: auto is fp32
    scale = tokens["fp32"].abs().max()
    for low in ("bf16", "fp16"):
        assert not torch.equal(tokens[low], tokens["fp32"])  # really ran in the lower precision
        assert (tokens[low] - tokens["fp32"]).abs().max() < 0.05 * scale
    result = cli("generate-shape", PICTURE, "-o", tmp_path / "x.ply", "--dtype", "int8", "--weights", CKPT)
    assert result.exit_code == 2 and "--dtype int8" in _only_line(result.stderr)


# ---- several candidates, the best outline kept ----------------------------------------------------------------

SHIPPED = REPO / "weights" / "tiny"


@pytest.fixture(scope="module")
def shipped():
    return load_shape_models(SHIPPED, FP32)


def test_candidate_options_are_checked():
    for bad in (0, 65):
        with pytest.raises(OptionError, match="candidates"):
            ShapeOptions(candidates=bad)


def test_the_candidate_whose_outline_matches_the_picture_is_kept(shipped):
    # two shapes the shipped VAE knows well: a tall post and a long bar; the picture's mask is the bar's outline
    post, bar = trimesh.creation.box((0.4, 1.8, 0.4)), trimesh.creation.box((1.8, 0.4, 0.4))
    tokens = torch.stack([encode(m, shipped.vae).tokens for m in (post, bar)])  # [2, N, C]
    for truth, want in ((bar, 1), (post, 0)):
        mask = silhouette(truth, 128).astype(np.uint8) * 255
        chosen, scores = choose_candidate(tokens, shipped.vae, mask)
        assert chosen == want and scores[want] > 0.8 > scores[1 - want], scores


def test_generate_shape_keeps_the_best_of_its_candidates_each_seeded_as_a_single_run(shipped):
    prep = prepare_image(REPO / "examples" / "images" / "chair.png", "auto", shipped.image_size, shipped.border_ratio)
    seen = []  # the picture is encoded once for all candidates
    hook = shipped.conditioner.register_forward_pre_hook(lambda mod, args: seen.append(args[0].shape[0]))
    try:
        best = generate_shape(prep, shipped, ShapeOptions(steps=4, candidates=3, seed=7))
    finally:
        hook.remove()
    assert seen == [1]
    scores = [float(s) for s in best.extra["silhouette_ious"].split()]
    chosen = int(best.extra["chosen"])
    assert best.extra["candidates"] == "3" and len(scores) == 3 and scores[chosen] == max(scores)
    assert len(set(scores)) > 1  # three different shapes, not one sampled three times
    # candidate k is the one-candidate run of seed + k: a user can re-run the chosen one on its own
    alone = generate_shape(prep, shipped, ShapeOptions(steps=4, candidates=1, seed=7 + chosen))
    assert "candidates" not in alone.extra
    torch.testing.assert_close(best.tokens, alone.tokens, atol=1e-4, rtol=1e-4)
    noise = candidate_noise(3, 7, shipped.latent_shape, "cpu")
    for k in range(3):
        assert torch.equal(noise[k], initial_noise((1, *shipped.latent_shape), 7 + k)[0])


def test_the_shipped_weights_choose_among_eight_but_a_bare_tensor_has_no_mask_to_choose_by(shipped):
    assert shipped.default_candidates() == 8  # pipeline.json "candidates"
    assert load_shape_models(CKPT, FP32).default_candidates() == 1  # reference checkpoints: one sample, as hy3dgen
    image = torch.zeros(1, 3, 64, 64)
    assert "candidates" not in generate_shape(image, shipped, ShapeOptions(steps=2)).extra
    with pytest.raises(InputError, match="mask"):
        generate_shape(image, shipped, ShapeOptions(steps=2, candidates=2))


def test_generate_shape_says_which_candidate_it_kept_and_refuses_a_bad_count(cli, tmp_path):
    chair = REPO / "examples" / "images" / "chair.png"
    result = cli(
        "--json",
        "generate-shape",
        chair,
        "-o",
        tmp_path / "a.glb",
        "--latent-out",
        tmp_path / "a.latent",
        "--candidates",
        "2",
        *QUICK,
    )  # fmt: skip  (shipped weights)
    assert result.exit_code == 0, result.stderr
    event = json.loads(result.stdout.splitlines()[-1])
    latent = load_latent(tmp_path / "a.latent")
    assert event["candidate"] == int(latent.extra["chosen"]) and len(event["candidate_ious"]) == 2
    assert event["candidate_ious"][event["candidate"]] == max(event["candidate_ious"])
    result = cli("generate-shape", chair, "-o", tmp_path / "chair.glb", "--candidates", "2", *QUICK)
    assert result.exit_code == 0, result.stderr
    line = f"kept candidate {event['candidate'] + 1} of 2, outline IoU {max(event['candidate_ious']):.2f}"
    assert line in result.stdout and (tmp_path / "chair.glb").exists()
    result = cli("generate-shape", chair, "-o", tmp_path / "none.glb", "--candidates", "0", *QUICK)
    assert result.exit_code == 2 and "--candidates 0" in _only_line(result.stderr)
    assert not (tmp_path / "none.glb").exists()
