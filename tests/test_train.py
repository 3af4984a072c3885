"""Training smoke tests: a few steps of each trainer on a 2-family dataset, resuming, and loading the results
through the normal loaders (what `make weights` and `latentgen train` rely on)."""

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from latentgen.data import DatasetConfig, RenderConfig, SampleConfig, build_dataset
from latentgen.errors import ConfigError, InputError
from latentgen.evaluate import EvalInputs, EvalOptions, evaluate
from latentgen.image import prepare_image
from latentgen.models.checkpoint import read_state
from latentgen.models.shapevae import load_shapevae
from latentgen.runtime import Runtime
from latentgen.shape import ShapeOptions, generate_shape, load_shape_models
from latentgen.silhouette import iou
from latentgen.train import (
    TINY_CONDITIONER,
    TINY_DIT,
    TINY_VAE,
    DiTTrainOptions,
    VAETrainOptions,
    export_weights,
    train_dit,
    train_vae,
)
from latentgen.train.common import RunState, cosine_lr, write_state
from latentgen.train.common import read_state as read_run_state
from latentgen.train.dit import (
    encode_dataset,
    flow_loss,
    load_images,
    match_noise,
    mirror_x,
    surface_histogram,
    training_pairs,
)
from latentgen.train.vae import new_vae, start_from

CPU = Runtime(torch.device("cpu"), torch.float32)

SMALL_VAE = replace(
    TINY_VAE, num_latents=8, embed_dim=4, width=32, heads=2, num_decoder_layers=1, pc_size=128, pc_sharpedge_size=32
)
VAE_OPTS = VAETrainOptions(
    model=SMALL_VAE, steps=3, batch=2, n_queries=64, warmup=1, eval_every=2, checkpoint_seconds=0.0
)
DIT_OPTS = DiTTrainOptions(
    dit=replace(TINY_DIT, hidden_size=32, num_heads=2, axes_dim=(16,), depth=1, depth_single_blocks=1),
    conditioner=replace(
        TINY_CONDITIONER, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=28, input_size=28
    ),
    steps=2,
    batch=2,
    warmup=1,
    encodings=1,
    eval_every=1,
    eval_shapes=2,
    sample_steps=2,
    checkpoint_seconds=0.0,
    t_mean=0.0,  # the tests of the surface aid and of t_mean turn these on themselves
    aux_surface=0.0,
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    config = DatasetConfig(
        families=("mug", "ring"),
        train_per_family=1,
        heldout_per_family=1,
        images_per_shape=2,
        sample=SampleConfig(grid_res=32, n_surface=256, n_sharp=64, n_uniform=512, n_near=256),
        render=RenderConfig(size=64, supersample=1),
    )
    build_dataset(root, config)
    return root


@pytest.fixture(scope="module")
def vae_run(dataset, tmp_path_factory):
    run = tmp_path_factory.mktemp("vae")
    train_vae(dataset, run, VAE_OPTS)
    return run


def test_vae_run_writes_a_loadable_checkpoint_curve_and_heldout_iou(vae_run):
    state = json.loads((vae_run / "state.json").read_text())
    assert state["step"] == VAE_OPTS.steps
    ious = [row["heldout_iou"] for row in state["history"] if "heldout_iou" in row]
    assert len(ious) == 2 and all(0 <= v <= 1 for v in ious)  # at step 2 (eval_every) and at the end
    assert {"heldout_family/mug", "heldout_family/ring"} <= state["history"][-1].keys()
    vae = load_shapevae(vae_run / "model", CPU, need_encoder=True)
    assert vae.config == replace(SMALL_VAE, encode_posterior="mean")  # trained on the mean, so encodes the mean
    assert (vae_run / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_interrupted_vae_run_resumes_to_the_same_weights(dataset, vae_run, tmp_path):
    train_vae(dataset, tmp_path, replace(VAE_OPTS, steps=2))  # "interrupted" after 2 steps
    train_vae(dataset, tmp_path, VAE_OPTS, resume=True)  # continued to 3
    resumed = read_state(tmp_path / "model" / "model.safetensors")
    straight = read_state(vae_run / "model" / "model.safetensors")
    assert resumed.keys() == straight.keys()
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=1e-5, atol=1e-6, msg=key)


def test_vae_run_refuses_to_overwrite_or_resume_with_other_options(dataset, vae_run):
    with pytest.raises(InputError, match="--resume"):
        train_vae(dataset, vae_run, VAE_OPTS)
    with pytest.raises(ConfigError, match="lr"):
        train_vae(dataset, vae_run, replace(VAE_OPTS, lr=0.1), resume=True)


def test_a_deeper_decoder_started_from_a_trained_vae_decodes_like_it_at_step_0(vae_run):
    trained = load_shapevae(vae_run / "model", CPU, need_encoder=True)
    deeper = new_vae(replace(trained.config, num_decoder_layers=3), -4.0, seed=1)
    start_from(deeper, vae_run / "model")  # blocks 1 and 2 are new: they start as identities
    points = torch.rand(1, 128, 6) * 2 - 1
    anchors = points[:, : trained.config.num_latents]  # latents sit on surface points (encoder_queries="points")
    z = trained.encode(points, anchors)
    torch.testing.assert_close(deeper.encode(points, anchors), z)
    xyz = torch.rand(1, 50, 3) * 2 - 1
    torch.testing.assert_close(deeper.occupancy(deeper.decode(z), xyz), trained.occupancy(trained.decode(z), xyz))
    with pytest.raises(ConfigError, match="does not match"):
        start_from(new_vae(replace(trained.config, width=64), -4.0, seed=1), vae_run / "model")
    with pytest.raises(ConfigError, match="only grow"):
        start_from(new_vae(replace(trained.config, num_decoder_layers=0), -4.0, seed=1), vae_run / "model")


def test_decoder_fine_tune_keeps_the_encoder_so_the_latents_stay_valid(dataset, vae_run, tmp_path):
    opts = replace(VAE_OPTS, model=replace(SMALL_VAE, num_decoder_layers=2), init=str(vae_run / "model"))
    train_vae(dataset, tmp_path / "ft", replace(opts, freeze_encoder=True))
    before = read_state(vae_run / "model" / "model.safetensors")
    after = read_state(tmp_path / "ft" / "model" / "model.safetensors")
    fixed = [k for k in before if k.startswith(("encoder.", "pre_kl."))]
    assert fixed and all(torch.equal(after[k], before[k]) for k in fixed)
    assert not torch.equal(after["geo_decoder.output_proj.weight"], before["geo_decoder.output_proj.weight"])
    assert after["transformer.resblocks.1.mlp.c_proj.weight"].abs().sum() > 0  # the new block learns
    train_vae(dataset, tmp_path / "all", opts)  # without the freeze the encoder trains too
    free = read_state(tmp_path / "all/model/model.safetensors")
    assert not all(torch.equal(free[k], before[k]) for k in fixed)
    with pytest.raises(ConfigError, match="init"):
        replace(VAE_OPTS, freeze_encoder=True)


def test_dit_run_is_a_weights_root_for_generate_shape_and_evaluate(dataset, vae_run, tmp_path):
    run = tmp_path / "dit"
    train_dit(dataset, vae_run / "model", run, DIT_OPTS)
    state = json.loads((run / "state.json").read_text())
    assert state["step"] == 2 and state["extra"]["scale_factor"] > 0
    assert any("heldout_gen_iou" in row for row in state["history"])
    weights = tmp_path / "tiny"
    export_weights(run, weights)
    assert sorted(p.name for p in weights.iterdir()) == ["conditioner", "dit", "pipeline.json", "shapevae"]

    models = load_shape_models(weights, CPU)  # the layout every command reads by default
    assert models.default_steps() == DIT_OPTS.sample_steps and models.default_guidance() == DIT_OPTS.guidance
    assert models.default_candidates() == DIT_OPTS.candidates
    assert models.default_resolution() == DIT_OPTS.resolution
    assert models.scale_factor == pytest.approx(state["extra"]["scale_factor"])
    assert models.conditioner.config.input_size == 28 and models.latent_shape == (8, 3 + 4)  # xyz + features
    image = prepare_image(next((dataset / "images").glob("ring_*")))
    latent = generate_shape(image, models, ShapeOptions(seed=3))
    again = generate_shape(image, models, ShapeOptions(seed=3))
    assert latent.tokens.shape == models.latent_shape and torch.equal(latent.tokens, again.tokens)
    assert load_shapevae(weights, CPU).name == "shapevae"  # decode/encode take the root too

    opts = EvalOptions(resolution=16, image_resolution=32, ceilings=True)
    report = evaluate(EvalInputs(weights, data=dataset), opts)
    assert report["vae_heldout"]["n"] == 2 and set(report["vae_heldout"]["per_family"]) == {"mug", "ring"}
    assert 0 <= report["image_heldout"]["mean"] <= 1
    # the ceilings: the same pictures against the shapes' reconstructions (a 3-step VAE: anything) and the true
    # shapes, which match their own pictures up to the camera jitter and a 32^3 grid
    assert report["image_heldout_vae"]["n"] == report["image_heldout_true"]["n"] == 2
    assert 0 <= report["image_heldout_vae"]["mean"] <= 1 and report["image_heldout_true"]["mean"] > 0.8


def test_dit_training_sees_every_picture_of_a_shape_and_evaluates_on_the_first(dataset):
    pictures = load_images(dataset, "train", 28, print)  # [S, I, 3, 28, 28]
    assert pictures.shape == (2, 2, 3, 28, 28) and pictures.dtype == torch.uint8
    assert not torch.equal(pictures[:, 0], pictures[:, 1])  # other lighting, colours and camera jitter
    first = load_images(dataset, "heldout", 28, print, per_shape=1)
    assert first.shape == (2, 1, 3, 28, 28)


def mug_surface(dataset: Path, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A shape's stored surface samples [P, 3], and the same mirrored left-right."""
    with np.load(dataset / "shapes" / f"{name}.npz") as z:
        surface = torch.from_numpy(np.concatenate([z["surface"], z["sharp"]]))[:, :3].float()
    return surface, mirror_x(torch.cat([surface, torch.zeros_like(surface)], 1))[:, :3]


def nearest(points: torch.Tensor, cloud: torch.Tensor) -> float:
    """The largest distance from one of `points` [N, 3] to its nearest point of `cloud` [P, 3]."""
    return float(torch.cdist(points, cloud).min(1).values.max())


def test_mirrored_latents_sit_on_the_mirrored_surface(dataset, vae_run):
    # the DiT's left-right augmentation: a flipped picture must pair with the latents of the mirrored shape
    vae = load_shapevae(vae_run / "model", CPU, need_encoder=True)
    plain = encode_dataset(vae, dataset, "train", 1, 0, print)["latents"][:, 0]  # [S, N, C]
    mirrored = encode_dataset(vae, dataset, "train", 1, 0, print, mirrored=True)["latents"][:, 0]
    surface, flipped = mug_surface(dataset, "mug_000000")
    # each token's position is a (mirrored) surface sample, to the precision the samples are stored at
    assert nearest(mirrored[0, :, :3], flipped) < 2e-3 and nearest(plain[0, :, :3], surface) < 2e-3
    assert nearest(mirrored[0, :, :3], surface) > 0.1  # a mug's handle is on one side: not the same shape


def test_training_pairs_flip_the_picture_exactly_when_the_shape_is_mirrored():
    s, k, n, c, i, px = 3, 2, 4, 5, 2, 6
    latents = torch.arange(1, s + 1).float().view(s, 1, 1, 1).expand(s, k, n, c).clone()  # shape number
    images = torch.zeros(s, i, 3, px, px, dtype=torch.uint8)
    for shape in range(s):
        images[shape, :, :, :, 0] = shape + 1  # left column marks the shape; flipped, it is the right column
    rng = np.random.default_rng(0)
    hist = torch.zeros(s, 3, 3, 3)
    hist[:, 0, 1, 1] = torch.arange(1, s + 1).float()  # the surface on the left (x < 0), weighted by shape number
    # mirrored latents: negated, to tell them apart
    x, pixels, h = training_pairs(latents, -latents, images, 64, rng, hist)
    shape_of = x[:, 0, 0].abs().long()
    mirrored = x[:, 0, 0] < 0
    left, right = pixels[:, 0, 0, 0].long(), pixels[:, 0, 0, -1].long()
    assert torch.equal(torch.where(mirrored, right, left), shape_of)  # same shape, flipped exactly when mirrored
    assert torch.equal(torch.where(mirrored, h[:, 2, 1, 1], h[:, 0, 1, 1]).long(), shape_of)  # its surface too
    assert 0 < int(mirrored.sum()) < 64
    x, pixels, h = training_pairs(latents, None, images, 64, rng)
    assert h is None
    assert (x > 0).all() and torch.equal(pixels[:, 0, 0, 0].long(), x[:, 0, 0].long())


def test_dit_run_with_mirror_caches_mirrored_latents(dataset, vae_run, tmp_path):
    state = train_dit(dataset, vae_run / "model", tmp_path / "dit", replace(DIT_OPTS, mirror=True, batch=4))
    cache = torch.load(tmp_path / "dit" / "latents.pt", weights_only=True)
    assert cache["mirrored_latents"].shape == cache["latents"].shape and state.step == DIT_OPTS.steps
    # the cached mirrored latents are the mirrored shapes': a mug's tokens sit on its mirrored surface
    vae = load_shapevae(vae_run / "model", CPU, need_encoder=True)
    names = encode_dataset(vae, dataset, "train", 1, 0, print)["names"]
    mug = next(i for i, name in enumerate(names) if name.startswith("mug"))
    surface, flipped = mug_surface(dataset, names[mug])
    tokens = cache["mirrored_latents"][mug, 0, :, :3]  # [N, 3] positions
    assert nearest(tokens, flipped) < 2e-3 and nearest(tokens, surface) > 0.1


def test_matched_noise_is_the_cheapest_pairing_of_the_same_noise_tokens():
    gen = torch.Generator().manual_seed(0)
    noise, x_data = torch.randn(3, 5, 4, generator=gen), torch.randn(3, 5, 4, generator=gen) + 0.5  # [B, N, C]
    matched = match_noise(noise, x_data)
    for b in range(3):
        pairings = [noise[b, list(order)] for order in itertools.permutations(range(5))]  # all 120 of them
        costs = torch.stack([(p - x_data[b]).square().sum() for p in pairings])
        assert any(torch.equal(matched[b], p) for p in pairings)  # the same tokens, reordered
        torch.testing.assert_close((matched[b] - x_data[b]).square().sum(), costs.min())
    assert (matched - x_data).square().sum() < (noise - x_data).square().sum()


def test_dit_run_with_matched_tokens_trains_on_the_matched_pairs(dataset, vae_run, tmp_path):
    plain = train_dit(dataset, vae_run / "model", tmp_path / "plain", replace(DIT_OPTS, eval_every=0))
    matched = train_dit(
        dataset, vae_run / "model", tmp_path / "matched", replace(DIT_OPTS, eval_every=0, match_tokens=True)
    )

    def losses(state: RunState) -> list[float]:
        return [r["loss"] for r in state.history if "loss" in r]

    # same seed, batches and noise draws: only the pairing differs, and nearer noise leaves less to predict
    assert all(m < p for m, p in zip(losses(matched), losses(plain), strict=True))


def test_surface_histogram_counts_the_share_of_samples_per_cell():
    surface = np.array([[-0.9, -0.9, -0.9], [0.9, 0.0, -0.9], [0.95, 0.1, -0.99], [1.0, 1.0, 1.0]])
    hist = surface_histogram(surface, 2)  # [x, y, z] cells of [-1, 0) and [0, 1]
    assert hist[0, 0, 0] == 0.25 and hist[1, 1, 0] == 0.5 and hist[1, 1, 1] == 0.25 and float(hist.sum()) == 1.0


def test_dit_run_with_the_surface_aid_trains_and_resumes_it(dataset, vae_run, tmp_path):
    aided = replace(DIT_OPTS, steps=3, eval_every=0, aux_surface=0.5, aux_grid=4)
    straight = train_dit(dataset, vae_run / "model", tmp_path / "straight", aided)
    assert all(r["aux"] > 0 and r["loss"] > r["flow"] for r in straight.history if "loss" in r)
    train_dit(dataset, vae_run / "model", tmp_path / "resumed", replace(aided, steps=1))  # "interrupted"
    train_dit(dataset, vae_run / "model", tmp_path / "resumed", aided, resume=True)

    def encoder(run: str) -> dict:
        return read_state(tmp_path / run / "conditioner" / "model.safetensors")

    # the head comes back with the run (its gradient reaches the encoder): resumed, the encoder is the straight one's
    for key, value in encoder("straight").items():
        torch.testing.assert_close(encoder("resumed")[key], value, rtol=1e-5, atol=1e-6, msg=key)
    assert not any("aux" in key for key in encoder("straight"))  # a training aid: not in the exported encoder
    # and it trains the encoder: without the aid (same seed, batches, noise; no clipping, which would couple the
    # head's gradient to the encoder's) the encoder ends elsewhere
    unclipped = replace(aided, grad_clip=1e9)
    train_dit(dataset, vae_run / "model", tmp_path / "aided", unclipped)
    train_dit(dataset, vae_run / "model", tmp_path / "plain", replace(unclipped, aux_surface=0.0))
    assert any(not torch.allclose(encoder("plain")[k], v) for k, v in encoder("aided").items())


def test_flow_loss_draws_times_around_the_chosen_logit_mean():
    seen = []

    def dit(x_t, t, cond):  # a stand-in that records the times it is asked about
        seen.append(t)
        return torch.zeros_like(x_t)

    x_data = torch.randn(4000, 2, 3)
    for t_mean in (0.0, -1.0):
        seen.clear()
        flow_loss(dit, None, x_data, torch.Generator().manual_seed(0), t_mean=t_mean)
        median = float(torch.cat(seen).median())
        assert abs(median - torch.sigmoid(torch.tensor(t_mean)).item()) < 0.02  # half the steps below sigmoid(mean)


def test_dit_resume_continues_from_the_checkpoint(dataset, vae_run, tmp_path):
    train_dit(dataset, vae_run / "model", tmp_path, replace(DIT_OPTS, steps=1, eval_every=0))
    state = train_dit(dataset, vae_run / "model", tmp_path, replace(DIT_OPTS, eval_every=0), resume=True)
    assert state.step == 2 and [r["step"] for r in state.history if "loss" in r] == [1, 2]
    # a finished run resumed with other inference defaults trains nothing more but writes them for the export
    state = train_dit(dataset, vae_run / "model", tmp_path, replace(DIT_OPTS, eval_every=0, candidates=3), resume=True)
    assert state.step == 2 and json.loads((tmp_path / "pipeline.json").read_text())["candidates"] == 3


def test_dit_exports_the_weight_average_and_resumes_it(dataset, vae_run, tmp_path):
    averaged = replace(DIT_OPTS, steps=3, eval_every=0, ema=0.5)
    train_dit(dataset, vae_run / "model", tmp_path / "plain", replace(averaged, ema=0.0))
    train_dit(dataset, vae_run / "model", tmp_path / "straight", averaged)
    train_dit(dataset, vae_run / "model", tmp_path / "resumed", replace(averaged, steps=1))  # "interrupted"
    train_dit(dataset, vae_run / "model", tmp_path / "resumed", averaged, resume=True)

    def exported(run: str) -> dict:
        return read_state(tmp_path / run / "dit" / "model.safetensors")

    raw = torch.load(tmp_path / "straight" / "optimizer.pt", weights_only=True)["extra"]["raw"]
    # the average does not change training: the raw weights are those of a run without it
    for key, value in exported("plain").items():
        torch.testing.assert_close(raw["dit." + key], value, rtol=1e-5, atol=1e-6, msg=key)
    # what is exported is the average, not the last step's weights
    assert any(not torch.allclose(raw["dit." + k], v) for k, v in exported("straight").items())
    for key, value in exported("straight").items():  # and a resumed run carries the average on
        torch.testing.assert_close(exported("resumed")[key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_train_and_eval_commands(cli, dataset, tmp_path):
    small = ("--num-latents", 8, "--embed-dim", 4, "--width", 32, "--threads", 1)
    run = tmp_path / "vae"
    result = cli("--json", "train", "vae", dataset, "-o", run, "--steps", 1, "--batch", 2, *small)
    assert result.exit_code == 0, result.stderr
    done = json.loads(result.stdout.splitlines()[-1])
    assert done["event"] == "result" and done["step"] == 1 and 0 <= done["heldout_iou"] <= 1
    again = cli("train", "vae", dataset, "-o", run, "--steps", 1, *small)  # no --resume: refuses to overwrite
    assert again.exit_code == 2 and "--resume" in again.stderr

    result = cli("eval", "--data", dataset, "--weights", run / "model", "--only", "vae", "--resolution", 16)
    assert result.exit_code == 0, result.stderr
    assert "VAE volume IoU, held-out procedural shapes" in result.stdout and "| mug |" in result.stdout
    assert cli("eval", "--weights", run / "model").exit_code == 2  # nothing to evaluate

    tuned = tmp_path / "vae_dec"
    args = ("--init", run / "model", "--freeze-encoder", "--decoder-layers", 5, "--queries", 32)
    result = cli("--json", "train", "vae", dataset, "-o", tuned, "--steps", 1, "--batch", 2, *args, "--threads", 1)
    assert result.exit_code == 0, result.stderr
    config = load_shapevae(tuned / "model", CPU).config  # the sizes of what it started from, one block deeper
    assert (config.width, config.num_latents, config.num_decoder_layers) == (32, 8, 5)
    state = json.loads((tuned / "state.json").read_text())["options"]
    assert state["freeze_encoder"] and state["n_queries"] == 32 and state["init"] == str(run / "model")
    missing = cli("train", "vae", dataset, "-o", tmp_path / "x", "--init", tmp_path / "nowhere", *small)
    assert missing.exit_code != 0 and "nowhere" in missing.stderr and "Traceback" not in missing.stderr

    dit = tmp_path / "dit"
    args = ("--steps", 1, "--batch", 2, "--threads", 1, "--t-mean", -0.5, "--aux-surface", 0.2, "--aux-grid", 4)
    args += ("--match-tokens",)
    result = cli("--json", "train", "dit", dataset, "--vae", run / "model", "-o", dit, *args)
    assert result.exit_code == 0, result.stderr
    state = json.loads((dit / "state.json").read_text())["options"]  # the options reach the run
    assert (state["t_mean"], state["aux_surface"], state["aux_grid"]) == (-0.5, 0.2, 4)
    assert (state["match_tokens"], state["ema"]) == (True, 0.0)


def test_train_data_command_builds_a_resumable_dataset(cli, tmp_path):
    args = ("train", "data", tmp_path / "d", "--family", "ring", "--per-family", 1, "--heldout", 1, "--workers", 1)
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    assert "1 training + 1 held-out shapes" in result.stdout
    assert sorted(p.name for p in (tmp_path / "d" / "shapes").iterdir()) == ["ring_000000.npz", "ring_1000000.npz"]
    assert cli(*args).exit_code == 0  # a second run finds everything built
    assert cli("train", "data", tmp_path / "d", "--family", "teapot").exit_code == 3  # unknown family


def test_train_data_without_pictures_is_enough_for_a_vae_but_not_for_a_dit(cli, tmp_path):
    args = ("--family", "all", "--per-family", 1, "--heldout", 0, "--images", 0, "--workers", 1)
    result = cli("train", "data", tmp_path / "d", *args)
    assert result.exit_code == 0, result.stderr
    config = json.loads((tmp_path / "d" / "config.json").read_text())
    assert config["families"][-1] == "part" and len(config["families"]) > 20  # everyday families, then parts
    assert not (tmp_path / "d" / "images").exists() or not any((tmp_path / "d" / "images").iterdir())
    with pytest.raises(InputError, match="no conditioning image"):
        load_images(tmp_path / "d", "train", 28, print)


def test_learning_rate_schedule_and_iou():
    lrs = [cosine_lr(s, 100, 1.0, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0) and lrs[-1] < 0.06
    assert np.all(np.diff(lrs[10:]) <= 0)
    assert iou(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])) == pytest.approx(1 / 3)
    assert iou(np.zeros(3), np.zeros(3)) == 1.0


def test_a_run_resumes_with_other_inference_defaults_but_not_with_other_training_options(tmp_path):
    write_state(tmp_path, RunState(10, 1.0, [], {}), DIT_OPTS)
    resumed = read_run_state(tmp_path, replace(DIT_OPTS, candidates=2, resolution=96, steps=20))  # only pipeline.json
    assert resumed is not None and resumed.step == 10
    with pytest.raises(ConfigError, match="lr"):
        read_run_state(tmp_path, replace(DIT_OPTS, lr=1e-3))


def test_a_run_started_before_an_option_existed_resumes_with_its_default(tmp_path):
    write_state(tmp_path, RunState(10, 1.0, [], {}), DIT_OPTS)
    state = json.loads((tmp_path / "state.json").read_text())
    del state["options"]["ema"]  # as written before --ema was added
    (tmp_path / "state.json").write_text(json.dumps(state))
    assert read_run_state(tmp_path, DIT_OPTS).step == 10
    with pytest.raises(ConfigError, match="ema"):
        read_run_state(tmp_path, replace(DIT_OPTS, ema=0.99))


def test_a_run_started_before_the_recipe_changed_is_not_resumed_under_the_new_one(tmp_path):
    old = replace(DIT_OPTS, t_mean=0.0, aux_surface=0.0, aux_grid=8)
    write_state(tmp_path, RunState(10, 1.0, [], {}), old)
    state = json.loads((tmp_path / "state.json").read_text())
    for key in ("t_mean", "aux_surface", "aux_grid"):  # as written before these options existed
        del state["options"][key]
    (tmp_path / "state.json").write_text(json.dumps(state))
    assert read_run_state(tmp_path, old).step == 10  # what that run did
    new_defaults = replace(DIT_OPTS, t_mean=DiTTrainOptions().t_mean, aux_surface=DiTTrainOptions().aux_surface)
    with pytest.raises(ConfigError, match="aux_surface, t_mean"):
        read_run_state(tmp_path, new_defaults)
