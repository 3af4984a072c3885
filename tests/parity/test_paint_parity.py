"""Hunyuan3D-Paint / Delight against hy3dgen 2.0.2 on tiny random weights (tests/fixtures/paint_ref, copied from
../shared/parity/paint_ref; facts in ../shared/reference/hunyuan3d2-paint-anatomy.md). fp32 CPU; the pipelines
replay the random draws hy3dgen recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diffusers import EulerAncestralDiscreteScheduler
from PIL import Image
from safetensors.torch import load_file

from latentgen import paint_hunyuan
from latentgen.paint_hunyuan import (
    Schedule,
    SeededDraws,
    ancestral_step,
    decode_latents,
    delight_diffuse,
    delight_input,
    delight_output,
    encode_sampled,
    find_weights,
    load_delight_models,
    load_paint_models,
    make_schedule,
    maps_tensor,
    paint_multiview,
    recenter_rgba,
    reference_tensor,
    scale_input,
    to_uint8,
)
from latentgen.runtime import Runtime

from ..conftest import FIXTURES

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # numpy 2 in diffusers

REF = FIXTURES / "paint_ref"
FP32 = Runtime(torch.device("cpu"), torch.float32)


def assert_close(ours: torch.Tensor, ref: torch.Tensor, rel: float = 1e-4) -> None:
    """max |ours - ref| <= rel * max |ref| (fp32 CPU)."""
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    err, scale = (ours.float() - ref.float()).abs().max().item(), ref.abs().max().item()
    assert err <= rel * scale, f"max|diff| {err:.3g} > {rel} * max|ref| {scale:.3g}"


def assert_images_close(ours: np.ndarray, ref: np.ndarray) -> None:
    """uint8 images from float decodes that agree to ~1e-6: a value may round the other way, by one level."""
    assert ours.shape == ref.shape and ours.dtype == ref.dtype == np.uint8
    diff = np.abs(ours.astype(int) - ref.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99


class Replay:
    """The draws hy3dgen made, handed out in call order (shapes checked)."""

    def __init__(self, posterior: list[torch.Tensor], noise: list[torch.Tensor]) -> None:
        self._posterior, self._noise = list(posterior), list(noise)

    @staticmethod
    def _pop(queue: list[torch.Tensor], shape: tuple[int, ...]) -> torch.Tensor:
        x = queue.pop(0)
        assert tuple(x.shape) == tuple(shape)
        return x

    def posterior(self, shape):
        return self._pop(self._posterior, shape)

    def noise(self, shape):
        return self._pop(self._noise, shape)

    def exhausted(self) -> bool:
        return not self._posterior and not self._noise


@pytest.fixture(scope="module")
def folders():
    return find_weights(REF / "ckpt")


@pytest.fixture(scope="module")
def paint_models(folders):
    return load_paint_models(folders[0], FP32)


@pytest.fixture(scope="module")
def delight_models(folders):
    return load_delight_models(folders[1], FP32)


# ---- scheduler ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "spacing"), [("paint", "trailing"), ("delight", None)])
def test_scheduler_tables_match_the_reference(folders, model, spacing):
    tables = json.loads((REF / "scheduler.json").read_text())[model]
    folder = folders[0] if model == "paint" else folders[1]
    config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    overrides = {"timestep_spacing": spacing} if spacing else {}
    for key, want in tables.items():
        if not key.startswith("N="):
            continue
        schedule = make_schedule(config, int(key[2:]), **overrides)
        assert schedule.timesteps.tolist() == want["timesteps"]
        assert schedule.sigmas.tolist() == pytest.approx(want["sigmas"], rel=1e-6)
        assert schedule.init_noise_sigma == pytest.approx(want["init_noise_sigma"], rel=1e-6)
        assert schedule.prediction_type == "v_prediction"


def test_ancestral_step_is_diffusers_step_with_the_noise_given(folders):
    config = json.loads((folders[0] / "scheduler" / "scheduler_config.json").read_text())
    scheduler = EulerAncestralDiscreteScheduler.from_config(config, timestep_spacing="trailing")
    scheduler.set_timesteps(5)
    schedule = make_schedule(config, 5, timestep_spacing="trailing")
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 8) * schedule.init_noise_sigma
    ours = x.clone()
    for i, t in enumerate(scheduler.timesteps):
        v = torch.randn(2, 4, 8, 8)
        assert torch.equal(scale_input(ours, schedule.sigmas[i]), scheduler.scale_model_input(x, t))
        x = scheduler.step(v, t, x, generator=torch.Generator().manual_seed(i)).prev_sample
        noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(i))
        ours = ancestral_step(ours, v, schedule.sigmas[i], schedule.sigmas[i + 1], noise, "v_prediction")
        assert_close(ours, x, 1e-6)


# ---- paint UNet -----------------------------------------------------------------------------------------------


def _unet_case(paint_models, name: str):
    d = load_file(REF / f"unet_forward_{name}.safetensors")
    gen = paint_models.unet.unet.learned_text_clip_gen.detach()
    if "ref_scale" in d:  # CFG batch as the pipeline builds it: [uncond (zero text), cond]
        return d, torch.cat([torch.zeros_like(gen), gen]), d["ref_scale"]
    return d, gen.expand(len(d["sample"]), -1, -1), 1.0


@pytest.mark.parametrize("name", ["a", "b"])
def test_reference_features_match(paint_models, name):
    d, _, _ = _unet_case(paint_models, name)
    with torch.no_grad():
        features = paint_models.unet.reference_features(d["ref_latents"])
    stored = {k.removeprefix("ref_feature."): v for k, v in d.items() if k.startswith("ref_feature.")}
    assert features.keys() == stored.keys() == set(paint_models.unet.layers)
    for layer, ref in stored.items():
        assert_close(features[layer], ref)


@pytest.mark.parametrize("name", ["a", "b"])
def test_unet_forward_matches_with_and_without_stored_reference_features(paint_models, name):
    d, text, ref_scale = _unet_case(paint_models, name)
    args = (d["sample"], d["timestep"], text, d["normal_imgs"], d["position_imgs"], d["camera_info_gen"])
    stored = {k.removeprefix("ref_feature."): v for k, v in d.items() if k.startswith("ref_feature.")}
    with torch.no_grad():
        full = paint_models.unet(*args, ref_latents=d["ref_latents"], ref_scale=ref_scale)
        main_only = paint_models.unet(*args, ref_features=stored, ref_scale=ref_scale)
    assert_close(full, d["out"])
    assert_close(main_only, d["out"])


# ---- paint pipeline -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paint_case():
    return load_file(REF / "paint_pipeline.safetensors")


def test_paint_inputs_are_encoded_as_the_reference(paint_models, paint_case):
    d = paint_case
    vae = paint_models.vae
    with torch.no_grad():
        ref = encode_sampled(vae, reference_tensor(d["ref_image_uint8"].numpy()), d["posterior_noise_ref"])
        normal = encode_sampled(vae, maps_tensor(d["normal_imgs_uint8"].numpy()), d["posterior_noise_normal"])
        position = encode_sampled(vae, maps_tensor(d["position_imgs_uint8"].numpy()), d["posterior_noise_position"])
        mean = vae.encode(reference_tensor(d["ref_image_uint8"].numpy()) * 2 - 1).latent_dist.mean
    assert_close(mean, d["ref_posterior_mean"])
    assert_close(ref, d["unet_ref_latents"][1, 0:1])
    assert not d["unet_ref_latents"][0].any()  # the unconditional half gets zero reference latents
    assert_close(normal, d["unet_normal_imgs"][1])
    assert_close(position, d["unet_position_imgs"][1])


def test_paint_unet_outputs_match_at_every_step(paint_models, paint_case):
    d = paint_case
    unet = paint_models.unet
    gen = unet.unet.learned_text_clip_gen.detach()
    text = torch.cat([torch.zeros_like(gen), gen])
    with torch.no_grad():
        features = unet.reference_features(d["unet_ref_latents"])
        for i, t in enumerate(d["timesteps"]):
            out = unet(
                d["unet_sample"][i],
                t,
                text,
                d["unet_normal_imgs"],
                d["unet_position_imgs"],
                d["unet_camera_info_gen"],
                features,
                ref_scale=d["unet_ref_scale"],
            )
            assert_close(out, d["unet_out"][i])


def reference_schedule(steps: int) -> Schedule:
    """The sigma table hy3dgen used, bit for bit (scheduler.json)."""
    table = json.loads((REF / "scheduler.json").read_text())["paint"][f"N={steps}"]
    return Schedule(
        torch.tensor(table["timesteps"]), torch.tensor(table["sigmas"]), table["init_noise_sigma"], "v_prediction"
    )


@pytest.mark.parametrize("sigmas", ["reference", "diffusers"])
def test_paint_pipeline_replayed_from_the_recorded_draws(paint_models, paint_case, sigmas, monkeypatch):
    """Step 0 starts from noise x sigma_max (4096 with zero-terminal-SNR betas) and lands near 10: fp32 cancellation.
    diffusers computes sigma_max with a vectorised float32 pow whose last bit depends on the CPU (4096.0 where the
    reference ran, 4095.99976 on some CPUs), and one ulp there moves step 0 by ~eps32 x |noise x 4096|. So the
    reference's own table must reproduce it to 1e-4; the table diffusers makes here, to that fp32 noise floor."""
    d = paint_case
    if sigmas == "reference":
        monkeypatch.setattr(paint_hunyuan, "make_schedule", lambda config, steps, **kw: reference_schedule(steps))
    draws = Replay(
        [d["posterior_noise_ref"], d["posterior_noise_normal"], d["posterior_noise_position"]],
        [d["init_noise"]] + [d[f"step_noise_{i}"] for i in range(3)],
    )
    steps: list[torch.Tensor] = []
    images = paint_multiview(
        paint_models,
        d["ref_image_uint8"].numpy(),
        d["normal_imgs_uint8"].numpy(),
        d["position_imgs_uint8"].numpy(),
        d["camera_info_gen"][0].tolist(),
        FP32,
        steps=3,
        guidance=2.0,
        draws=draws,
        on_step=lambda i, latents: steps.append(latents.clone()),
    )
    assert draws.exhausted()
    entering = [d["init_noise"] * reference_schedule(3).init_noise_sigma, *d["step_latents"][:-1]]
    for i, latents in enumerate(steps):
        floor = 0.0 if sigmas == "reference" else 4 * torch.finfo(torch.float32).eps * entering[i].abs().max().item()
        err = (latents - d["step_latents"][i]).abs().max().item()
        assert err <= 1e-4 * d["step_latents"][i].abs().max().item() + floor, (i, err, floor)
    with torch.no_grad():
        decoded = decode_latents(paint_models.vae, d["step_latents"][-1])
    assert_close(decoded, d["decoded"])
    assert np.array_equal(to_uint8(d["decoded"]), d["images_uint8"].numpy())  # the postprocessing, exactly
    assert_images_close(images, d["images_uint8"].numpy())


def test_seeded_draws_are_hy3dgen_streams_on_cpu(paint_case):
    """seed_everything(0) + Generator().manual_seed(0): the same draws, in the same order."""
    d = paint_case
    draws = SeededDraws(0)
    for key in ("posterior_noise_ref", "posterior_noise_normal", "posterior_noise_position"):
        assert torch.equal(draws.posterior(tuple(d[key].shape)), d[key])
    for key in ("init_noise", "step_noise_0", "step_noise_1", "step_noise_2"):
        assert torch.equal(draws.noise(tuple(d[key].shape)), d[key])


# ---- delight --------------------------------------------------------------------------------------------------


def test_delight_pipeline_replayed_from_the_recorded_draws(delight_models):
    d = load_file(REF / "delight_pipeline.safetensors")
    assert_close(delight_models.prompt_embeds, d["prompt_embeds"])
    rgb = d["image_uint8"].numpy()
    with torch.no_grad():
        x = torch.from_numpy(rgb).float().div(255).permute(2, 0, 1)[None]
        assert_close(delight_models.vae.encode(2 * x - 1).latent_dist.mode(), d["image_latents"])
    draws = Replay([], [d["init_noise"]] + [d[f"step_noise_{i}"] for i in range(3)])
    steps: list[torch.Tensor] = []
    out = delight_diffuse(delight_models, rgb, FP32, 3, draws, on_step=lambda i, z: steps.append(z.clone()))
    assert draws.exhausted()
    for i, latents in enumerate(steps):
        assert_close(latents, d["step_latents"][i])
    with torch.no_grad():
        assert_close(decode_latents(delight_models.vae, d["step_latents"][-1]), d["decoded"])
    assert_images_close(out, d["image_out_uint8"].numpy())
    assert torch.equal(SeededDraws(42).noise(tuple(d["init_noise"].shape)), d["init_noise"])  # torch.manual_seed(42)


def test_delight_pre_and_post_processing_match_exactly():
    d = load_file(REF / "delight_wrapper.safetensors")
    recentred = recenter_rgba(d["input_rgba_uint8"].numpy())
    assert np.array_equal(recentred, d["recentered_rgba_uint8"].numpy())
    rgb, target, alpha = delight_input(recentred, 512)
    assert np.array_equal(rgb, np.asarray(Image.open(REF / "delight_wrapper" / "pipeline_input.png")))
    # the documented stand-in for the diffusion model (manifest.json, delight_wrapper)
    col = np.arange(rgb.shape[1])[None, :, None]
    stand_in = np.clip(0.8 * rgb.astype(np.float64) + 30 + 10 * np.sin(col / 16), 0, 255).astype(np.uint8)
    out = delight_output(stand_in, target, alpha)
    assert np.array_equal(out, np.asarray(Image.open(REF / "delight_wrapper" / "output.png")))
