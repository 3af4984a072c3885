"""Rectified-flow sampling with the Hunyuan3D-2 conventions, on diffusers' FlowMatchEulerDiscreteScheduler.

Conventions (the reverse of diffusers / SD3): sigma runs from 0 (pure noise) to 1 (data), the model sees
t = sigma and returns v ~ x_data - x_noise, and each Euler step is x += (sigma_next - sigma) * v. The
schedule is sigmas = linspace(0, 1, N) followed by a terminal 1.0, so the N-th step (sigma 1 -> 1) changes
nothing. Classifier-free guidance runs the batch [cond, uncond] and mixes v = v_u + s * (v_c - v_u);
guidance-distilled models instead take s as an input. Step-distilled ("turbo") checkpoints use the phased
consistency table of the reference `ConsistencyFlowMatchEulerDiscreteScheduler`.

diffusers' scheduler runs sigma 1 -> 0; its `invert_sigmas` mode stores 1 - sigma and appends 1.0, which is
the reference schedule when it is handed 1 - sigma. The round trip 1 - (1 - s) in float32 can move a sigma
by one ulp (<= 6e-8) from the reference's float32(s); that is far below model noise and within the parity
tolerance. The reference shift (s' = shift s / (1 + (shift - 1) s), applied to the 0 -> 1 sigmas) and the
consistency table are not diffusers schedules, so they are computed here and passed in as custom sigmas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from torch import Tensor

from .errors import ConfigError, OptionError

Progress = Callable[[str, float], None]
# (x [B, N, C] float32, t [B] float32 in [0, 1]) -> v [B, N, C]
VelocityFn = Callable[[Tensor, Tensor], Tensor]

SCHEDULER_KINDS = {
    "FlowMatchEulerDiscreteScheduler": "flow",
    "ConsistencyFlowMatchEulerDiscreteScheduler": "consistency",
}


@dataclass(frozen=True)
class SchedulerConfig:
    kind: str = "flow"  # "flow" (linspace sigmas) or "consistency" (turbo checkpoints)
    num_train_timesteps: int = 1000  # the model sees t = timestep / num_train_timesteps = sigma
    shift: float = 1.0  # flow only; released configs use 1.0
    pcm_timesteps: int = 50  # consistency only: size of the distilled sigma table

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULER_KINDS.values():
            raise ConfigError(f"scheduler kind {self.kind!r}: choose one of {sorted(set(SCHEDULER_KINDS.values()))}")
        if self.num_train_timesteps < 2 or self.shift <= 0:
            raise ConfigError("scheduler: num_train_timesteps must be >= 2 and shift > 0")
        if self.kind == "consistency" and not 1 <= self.pcm_timesteps <= self.num_train_timesteps:
            raise ConfigError(f"scheduler: pcm_timesteps={self.pcm_timesteps} must be in 1..num_train_timesteps")

    @classmethod
    def from_reference(cls, entry: dict, source: str = "config.yaml scheduler") -> SchedulerConfig:
        """From the reference `scheduler: {target: ...Scheduler, params: {...}}` (the class is only named)."""
        name = str(entry.get("target", "")).rsplit(".", 1)[-1]
        if name not in SCHEDULER_KINDS:
            raise ConfigError(f"{source}: scheduler {name or '?'!r} is not supported ({', '.join(SCHEDULER_KINDS)})")
        kind = SCHEDULER_KINDS[name]
        params = dict(entry.get("params") or {})
        allowed = {"num_train_timesteps", "shift"} if kind == "flow" else {"num_train_timesteps", "pcm_timesteps"}
        if unknown := params.keys() - allowed:
            raise ConfigError(f"{source}: unsupported {name} params {sorted(unknown)}")
        try:
            return cls(kind=kind, **params)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{source}: {e}") from e


def reference_sigmas(cfg: SchedulerConfig, steps: int) -> np.ndarray:
    """The sigma of each of the `steps` model calls, float32 [steps], running 0 -> 1 (terminal 1.0 not included)."""
    if steps < 1:
        raise OptionError(f"--steps {steps}: need at least 1 step")
    if cfg.kind == "flow":
        s = np.linspace(0, 1, steps).astype(np.float32)
        return (cfg.shift * s / (1 + (cfg.shift - 1) * s)).astype(np.float32)
    # Phased consistency: a table of pcm_timesteps sigmas taken from linspace(0, 1, T); N steps use
    # floor(linspace(0, pcm, N, endpoint=False)) of its entries.
    table = np.linspace(0, 1, cfg.num_train_timesteps)
    ratio = cfg.num_train_timesteps // cfg.pcm_timesteps
    index = np.concatenate([[0], (np.arange(1, cfg.pcm_timesteps) * ratio).round().astype(np.int64) - 1])
    pick = np.floor(np.linspace(0, cfg.pcm_timesteps, steps, endpoint=False)).astype(np.int64)
    return table[index][pick].astype(np.float32)


def make_scheduler(cfg: SchedulerConfig, steps: int, device: torch.device | str | None = None):
    """A diffusers FlowMatchEulerDiscreteScheduler set up for `steps` reference-convention steps.

    scheduler.timesteps: [steps] = sigma * num_train_timesteps; scheduler.sigmas: [steps + 1], last = 1.0.
    """
    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=cfg.num_train_timesteps, shift=1.0, invert_sigmas=True)
    sched.set_timesteps(sigmas=(1.0 - reference_sigmas(cfg, steps).astype(np.float64)).tolist(), device=device)
    sched.set_begin_index(0)  # never look steps up by timestep value: turbo tables can repeat one
    return sched


def initial_noise(shape: tuple[int, ...], seed: int, device: torch.device | str = "cpu") -> Tensor:
    """The reference's starting point: torch's CPU generator seeded with `seed`, randn float32, then moved.

    Drawing on the CPU makes the same seed give the same noise on every device.
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    return torch.randn(shape, generator=gen, dtype=torch.float32).to(device)


def guided_velocity(v_cond: Tensor, v_uncond: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance. v_cond, v_uncond: [B, N, C] at the same x_t."""
    return v_uncond + scale * (v_cond - v_uncond)


def cfg_velocity(
    model: Callable[..., Tensor], cond: Tensor, uncond: Tensor, scale: float, collapse_uncond: bool = False
) -> VelocityFn:
    """Velocity of a plain DiT with classifier-free guidance. cond, uncond: [B, L, D] in the model dtype.

    By default one pass over the batch [cond, uncond], as the reference. collapse_uncond: when all
    unconditional tokens are equal (the zeros embedding), run that half as a separate pass on one token
    standing for all L (`ShapeDiT(..., cond_repeats=L)`): the same velocity up to float rounding, ~15 % less
    work per step for v2-0 (3072 latents) and ~40 % for mini (512), where the 1370 condition tokens dominate.
    """
    collapse = collapse_uncond and uncond.shape[1] > 1 and bool((uncond == uncond[:, :1]).all())
    context = None if collapse else torch.cat([cond, uncond])  # [2B, L, D], cond first as in the reference

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        if context is None:
            xm = x.to(cond.dtype)
            v_cond = model(xm, t, cond).float()
            v_uncond = model(xm, t, uncond[:, :1], cond_repeats=uncond.shape[1]).float()
        else:
            out = model(torch.cat([x, x]).to(context.dtype), torch.cat([t, t]), context).float()
            v_cond, v_uncond = out.chunk(2)
        return guided_velocity(v_cond, v_uncond, scale)

    return velocity


def distilled_velocity(model: Callable[..., Tensor], cond: Tensor, guidance: float) -> VelocityFn:
    """Velocity of a guidance-distilled DiT: one pass, the guidance strength is an input."""

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        g = torch.full((x.shape[0],), float(guidance), dtype=cond.dtype, device=x.device)
        return model(x.to(cond.dtype), t, cond, g).float()

    return velocity


def sample(
    velocity: VelocityFn,
    noise: Tensor,
    scheduler: FlowMatchEulerDiscreteScheduler,
    progress: Progress | None = None,
    on_step: Callable[[int, Tensor, Tensor], None] | None = None,
) -> Tensor:
    """Euler-integrate from noise [B, N, C] along the scheduler's sigmas -> latents [B, N, C] float32.

    The state stays float32 whatever the model dtype (the reference casts it back to the model dtype each
    step); t is handed over in float32 as timestep / num_train_timesteps. on_step(i, t [B], x) sees each
    step's result. A step whose sigma does not move (the reference's last, sigma 1 -> 1) cannot change x,
    so its model call is skipped.
    """
    x = noise.float()
    n = len(scheduler.timesteps)
    for i, timestep in enumerate(scheduler.timesteps):
        t = (timestep / scheduler.config.num_train_timesteps).to(torch.float32).expand(x.shape[0]).to(x.device)
        moves = bool(scheduler.sigmas[i + 1] != scheduler.sigmas[i])
        v = velocity(x, t) if moves else torch.zeros_like(x)  # a zero step still advances diffusers' counter
        x = scheduler.step(v, timestep, x).prev_sample
        if on_step is not None:
            on_step(i, t, x)
        if progress is not None:
            progress("sampling", (i + 1) / n)
    return x
