"""Flow-matching sampler: schedule tables against hy3dgen 2.0.2 (tests/fixtures/parity/scheduler.json), the
reference's noise, and the integration conventions (direction, last step, guidance)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from latentgen.errors import ConfigError
from latentgen.sampling import (
    SchedulerConfig,
    cfg_velocity,
    distilled_velocity,
    guided_velocity,
    initial_noise,
    make_scheduler,
    reference_sigmas,
    sample,
)

from ..conftest import FIXTURES

PARITY = FIXTURES / "parity"


@pytest.mark.parametrize("steps", [5, 30, 50])
def test_schedule_matches_the_reference(steps):
    ref = json.loads((PARITY / "scheduler.json").read_text())["steps"][str(steps)]
    sched = make_scheduler(SchedulerConfig(), steps)
    ref_t, ref_s = torch.tensor(ref["timesteps"]), torch.tensor(ref["sigmas"])
    assert sched.timesteps.shape == ref_t.shape and sched.sigmas.shape == ref_s.shape == (steps + 1,)
    # diffusers' inverted mode computes 1 - (1 - s): at most one float32 ulp away from the reference
    assert (sched.sigmas - ref_s).abs().max() <= 6e-8
    assert (sched.timesteps - ref_t).abs().max() <= 1e-4 * ref_t.abs().max()
    assert sched.sigmas[-1] == sched.sigmas[-2] == 1.0  # the last step is a no-op


def test_consistency_table_for_turbo_checkpoints():
    """pcm table = linspace(0, 1, 1000)[[0, 19, 39, ...]]; 5 steps take entries floor(linspace(0, 50, 5, end excl.))."""
    cfg = SchedulerConfig.from_reference(
        {
            "target": "hy3dgen.shapegen.schedulers.ConsistencyFlowMatchEulerDiscreteScheduler",
            "params": {"num_train_timesteps": 1000, "pcm_timesteps": 50},
        }
    )
    expected = np.array([0, 199, 399, 599, 799]) / 999
    np.testing.assert_allclose(reference_sigmas(cfg, 5), expected, rtol=0, atol=1e-7)
    sched = make_scheduler(cfg, 5)
    assert sched.sigmas[-1] == 1.0 and sched.sigmas[-2] < 1.0  # here the last step does move
    np.testing.assert_allclose(sched.timesteps.numpy(), expected * 1000, rtol=0, atol=1e-4)


def test_unknown_scheduler_is_refused():
    with pytest.raises(ConfigError, match="not supported"):
        SchedulerConfig.from_reference({"target": "x.DDIMScheduler", "params": {}})
    with pytest.raises(ConfigError, match="unsupported"):
        SchedulerConfig.from_reference({"target": "x.FlowMatchEulerDiscreteScheduler", "params": {"pcm_timesteps": 4}})


def test_seeded_noise_is_the_reference_noise():
    ref = load_file(PARITY / "pipeline_e2e.safetensors")["init_noise"]  # [1, 64, 8], seed 1234
    assert torch.equal(initial_noise((1, 64, 8), 1234), ref)
    assert not torch.equal(initial_noise((1, 64, 8), 1235), ref)


def test_euler_steps_go_from_noise_to_data():
    """With v = data - noise (the rectified-flow target) the sampler lands exactly on the data."""
    noise, data = initial_noise((1, 16, 4), 0), initial_noise((1, 16, 4), 1)
    seen = []

    def velocity(x, t):
        seen.append(float(t[0]))
        return data - noise

    out = sample(velocity, noise, make_scheduler(SchedulerConfig(), 5))
    torch.testing.assert_close(out, data, rtol=0, atol=1e-6)
    assert seen == [0.0, 0.25, 0.5, 0.75]  # t = sigma; the 5th step (sigma 1 -> 1) needs no model call


def test_trace_and_progress_cover_every_step():
    trace, fractions = [], []
    sample(
        lambda x, t: torch.ones_like(x),
        torch.zeros(1, 2, 2),
        make_scheduler(SchedulerConfig(), 5),
        lambda phase, f: fractions.append(f),
        lambda i, t, x: trace.append(float(x[0, 0, 0])),
    )
    assert trace == [0.25, 0.5, 0.75, 1.0, 1.0] and fractions[-1] == 1.0


def test_classifier_free_guidance_batches_cond_then_uncond():
    cond, uncond = torch.full((1, 3, 2), 2.0), torch.zeros(1, 3, 2)
    calls = []

    def model(x, t, context):  # a "DiT" whose velocity is the mean of its context
        calls.append((x.shape[0], t.tolist(), context[:, 0, 0].tolist()))
        return context.mean(dim=(1, 2), keepdim=True).expand(x.shape[0], *x.shape[1:])

    v = cfg_velocity(model, cond, uncond, 5.0)(torch.zeros(1, 4, 8), torch.tensor([0.5]))
    assert calls == [(2, [0.5, 0.5], [2.0, 0.0])]
    assert torch.equal(v, guided_velocity(torch.full_like(v, 2.0), torch.zeros_like(v), 5.0))
    assert float(v[0, 0, 0]) == 10.0  # v_u + s (v_c - v_u) = 0 + 5 * 2


def test_collapsed_uncond_pass_gives_the_same_guided_velocity():
    calls = []

    def model(x, t, context, cond_repeats=1):  # velocity = mean context token, weighted by repeats
        calls.append((context.shape[1], cond_repeats))
        return context.mean(dim=(1, 2), keepdim=True).expand(x.shape[0], *x.shape[1:])

    cond, uncond = torch.randn(1, 6, 2), torch.zeros(1, 6, 2)
    x, t = torch.randn(1, 4, 8), torch.tensor([0.5])
    full = cfg_velocity(model, cond, uncond, 5.0)(x, t)
    fast = cfg_velocity(model, cond, uncond, 5.0, collapse_uncond=True)(x, t)
    assert torch.equal(full, fast)
    assert calls == [(6, 1), (6, 1), (1, 6)]  # one pair pass, then cond alone + one collapsed token
    cfg_velocity(model, cond, torch.randn(1, 6, 2), 5.0, collapse_uncond=True)(x, t)  # distinct tokens: no collapse
    assert calls[-1] == (6, 1)


def test_distilled_guidance_is_a_model_input():
    seen = []

    def model(x, t, cond, guidance):
        seen.append(guidance.tolist())
        return torch.zeros_like(x)

    distilled_velocity(model, torch.zeros(2, 3, 4), 3.5)(torch.zeros(2, 5, 8), torch.zeros(2))
    assert seen == [[3.5, 3.5]]
