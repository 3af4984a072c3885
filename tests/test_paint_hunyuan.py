"""The `hunyuan` paint backend: weights loading (safe, strict), camera ids, the sampler's reference branch, and
paint -> bake -> GLB end to end on the tiny reference checkpoint (tests/fixtures/paint_ref/ckpt)."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import torch

from latentgen.bake import BakeOptions, bake
from latentgen.errors import ConfigError, InputError, WeightsError
from latentgen.export import write_mesh
from latentgen.paint import PaintOptions, get_backend, paint
from latentgen.paint_hunyuan import (
    DEFAULT_VIEW_WEIGHT,
    HunyuanBackend,
    HunyuanOptions,
    camera_id,
    find_weights,
    load_hunyuan_models,
    load_paint_models,
    parse_views,
)
from latentgen.runtime import Runtime
from latentgen.views import CANONICAL_VIEWS

from .conftest import FIXTURES, validate_glb
from .test_views import front_picture, spot

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

ROOT = FIXTURES / "paint_ref" / "ckpt"
CPU = Runtime(torch.device("cpu"), torch.float32)
FAST = HunyuanOptions(steps=2, delight_steps=2, map_supersample=1)


@pytest.fixture(scope="module")
def models():
    return load_hunyuan_models(ROOT, CPU)


def copy_weights(tmp_path):
    """A writable copy of the tiny checkpoint tree; returns (root, paint folder)."""
    root = tmp_path / "weights"
    shutil.copytree(ROOT, root)
    return root, find_weights(root)[0]


# ---- views and camera ids -------------------------------------------------------------------------------------


def test_canonical_views_get_the_reference_camera_ids():
    assert [camera_id(s.azimuth, s.elevation) for s in CANONICAL_VIEWS] == [21, 12, 15, 18, 43, 37]
    assert camera_id(-90, 0) == camera_id(270, 0) and camera_id(30, 20) == 34
    with pytest.raises(InputError, match="elevation 45"):
        camera_id(0, 45)


def test_views_option_parses_angles_and_weights():
    assert parse_views("canonical") == CANONICAL_VIEWS
    views = parse_views("0:0, 180:0, 45:20:0.3")
    assert [(v.azimuth, v.elevation, v.weight) for v in views] == [(0, 0, 1.0), (180, 0, 0.5), (45, 20, 0.3)]
    assert [v.name for v in views] == ["front", "back", "az45_el20"]
    assert parse_views("30:0")[0].weight == DEFAULT_VIEW_WEIGHT
    for bad in ("0", "0:0:x", "0:45", "0:0:-1"):
        with pytest.raises(InputError):
            parse_views(bad)


# ---- weights --------------------------------------------------------------------------------------------------


def test_weights_folder_code_is_never_executed(tmp_path):
    """The released paint folder ships unet/modules.py (model code diffusers would import): we read tensors only."""
    root, paint_dir = copy_weights(tmp_path)
    marker = tmp_path / "executed"
    (paint_dir / "unet" / "modules.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nraise RuntimeError('modules.py was imported')\n"
    )
    before = set(sys.modules)
    models = load_hunyuan_models(root, CPU)
    assert models.paint.unet.layers and models.delight is not None
    assert not marker.exists()
    assert not [m for m in set(sys.modules) - before if "modules" in m.split(".")]


def test_unet_keys_are_checked_strictly(tmp_path):
    _, paint_dir = copy_weights(tmp_path)
    path = paint_dir / "unet" / "diffusion_pytorch_model.bin"
    state = torch.load(path, weights_only=True)
    del state["unet.learned_text_clip_ref"]
    state["unet.extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"1 missing \('unet.learned_text_clip_ref'\); 1 unexpected"):
        load_paint_models(paint_dir, CPU)


def test_safetensors_is_used_when_it_fits_else_the_bin(tmp_path):
    from safetensors.torch import save_file

    _, paint_dir = copy_weights(tmp_path)
    unet_dir = paint_dir / "unet"
    state = torch.load(unet_dir / "diffusion_pytorch_model.bin", weights_only=True)
    state = {k: v.contiguous() for k, v in state.items()}
    other = {k.removeprefix("unet."): v for k, v in state.items()}  # a layout we do not know
    save_file(other, str(unet_dir / "diffusion_pytorch_model.safetensors"))
    load_paint_models(paint_dir, CPU)  # falls back to the .bin
    state["unet.conv_in.bias"] = state["unet.conv_in.bias"] + 1
    save_file(state, str(unet_dir / "diffusion_pytorch_model.safetensors"))
    unet = load_paint_models(paint_dir, CPU).unet
    assert torch.equal(unet.unet.conv_in.bias, state["unet.conv_in.bias"].float())
    (unet_dir / "diffusion_pytorch_model.bin").unlink()
    save_file(other, str(unet_dir / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(WeightsError, match="missing"):
        load_paint_models(paint_dir, CPU)


def test_missing_weights_and_options_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="needs --weights"):
        get_backend("hunyuan")
    with pytest.raises(WeightsError, match="no such weights folder"):
        HunyuanBackend(tmp_path / "nowhere")
    root, _ = copy_weights(tmp_path)
    shutil.rmtree(find_weights(root)[1])
    with pytest.raises(WeightsError, match="--no-delight"):
        find_weights(root)
    assert find_weights(root, need_delight=False)[1] is None
    with pytest.raises(ConfigError, match="CUDA"):
        HunyuanBackend(root, HunyuanOptions(offload=True, delight=False))
    with pytest.raises(InputError):
        HunyuanOptions(steps=0)


# ---- the model ------------------------------------------------------------------------------------------------


def test_reference_branch_computed_once_gives_the_same_result(models):
    """The reference UNet does not see the step: its features, computed once, equal those of every step."""
    unet = models.paint.unet
    g = torch.Generator().manual_seed(0)
    b, n, r, c, h = 2, 3, 1, unet.latent_channels, 8
    sample, normal, position = (torch.randn(b, n, c, h, h, generator=g) for _ in range(3))
    ref_latents = torch.randn(b, r, c, h, h, generator=g)
    text = torch.randn(b, 77, unet.unet.config.cross_attention_dim, generator=g)
    ids = torch.tensor([[21, 12, 15]] * b)
    with torch.no_grad():
        features = unet.reference_features(ref_latents)
        for t in (999.0, 500.0, 1.0):
            every_step = unet(sample, torch.tensor(t), text, normal, position, ids, ref_latents=ref_latents)
            once = unet(sample, torch.tensor(t), text, normal, position, ids, ref_features=features)
            assert torch.equal(every_step, once)
        no_ref = unet(sample, torch.tensor(1.0), text, normal, position, ids, features, ref_scale=0.0)
    assert not torch.equal(no_ref, once)  # the reference attention does something


# ---- end to end -----------------------------------------------------------------------------------------------


def test_paint_with_hunyuan_then_bake_gives_a_valid_glb(models, tmp_path):
    mesh = spot()
    photo, _ = front_picture(mesh, size=300)
    opts = PaintOptions(view_size=64, rasterizer="cpu")
    backend = HunyuanBackend(options=FAST, models=models)
    views = paint(mesh, photo, opts, backend)
    assert views.meta["backend"] == "hunyuan"
    assert [v.name for v in views.views] == [s.name for s in CANONICAL_VIEWS]
    assert [v.weight for v in views.views] == [s.weight for s in CANONICAL_VIEWS]
    for v in views.views:
        assert v.color.shape == (64, 64, 4) and v.color.dtype == np.uint8
        assert np.array_equal(v.color[..., 3] > 0, ~(v.normal == 255).all(-1))  # alpha = the mesh's coverage
    again = paint(mesh, photo, opts, backend)
    assert all(np.array_equal(a.color, b.color) for a, b in zip(views.views, again.views, strict=True))

    baked = bake(mesh, views, BakeOptions(texture_size=128, faces=2000, rasterizer="cpu"))
    glb = tmp_path / "spot.glb"
    write_mesh(baked, glb)
    report = validate_glb(glb)
    assert report["errors"] == 0, report


def test_chosen_views_without_delight_or_guidance(models):
    mesh = spot(colored=False)
    photo, _ = front_picture(spot(), size=200)
    options = HunyuanOptions(steps=1, guidance=1.0, delight=False, views=parse_views("0:0,90:20"), map_supersample=2)
    views = paint(mesh, photo, PaintOptions(view_size=64, align="bbox", rasterizer="cpu"),
                  HunyuanBackend(options=options, models=models))  # fmt: skip
    assert [v.name for v in views.views] == ["front", "az90_el20"]
    assert views.views[1].weight == DEFAULT_VIEW_WEIGHT and views.views[1].color.shape == (64, 64, 4)


# ---- command line ---------------------------------------------------------------------------------------------


def test_paint_command_with_the_hunyuan_backend(cli, tmp_path):
    mesh = spot()
    photo, _ = front_picture(mesh, size=200)
    write_mesh(mesh, tmp_path / "spot.glb")
    from PIL import Image

    Image.fromarray(photo).save(tmp_path / "photo.png")
    args = ("paint", tmp_path / "spot.glb", tmp_path / "photo.png", "-o", tmp_path / "views", "--backend", "hunyuan")
    fast = ("--steps", 2, "--view-size", 64, "--views", "0:0,180:0", "--no-delight", "--rasterizer", "cpu")
    result = cli(*args, "--weights", ROOT, *fast)
    assert result.exit_code == 0, result.stderr
    assert "2 views" in result.stdout and (tmp_path / "views" / "views.json").exists()
    missing = cli(*args, *fast)  # no weights: one clear line, exit 3
    assert missing.exit_code == 3 and "--weights" in missing.stderr
    bad = cli(*args, "--weights", ROOT, "--views", "0:45")  # the model has no camera for 45 degrees up
    assert bad.exit_code == 2 and "elevation" in bad.stderr


def test_image2mesh_paints_with_the_hunyuan_backend(cli, tmp_path):
    shape_weights = FIXTURES / "ckpt" / "tiny-hunyuan3d-2"
    picture = FIXTURES.parent.parent / "examples" / "images" / "teapot.png"
    result = cli(
        "image2mesh", picture, "-o", tmp_path / "out", "--weights", shape_weights, "--smoke",
        "--paint-backend", "hunyuan", "--paint-weights", ROOT, "--texture-size", 128,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    run = __import__("json").loads((tmp_path / "out" / "teapot" / "run.json").read_text())
    assert run["settings"]["paint_backend"] == "hunyuan"
    assert len(list((tmp_path / "out" / "teapot" / "views").glob("*.png"))) >= 6
