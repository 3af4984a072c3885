"""Benchmark: seconds per flow-matching sampling step of the shape DiT (random weights, no download).

One step = the DiT velocity under classifier-free guidance + the Euler update, for one shape. "ours" is what
`generate-shape` runs: a conditional pass and an unconditional pass on one collapsed token (the all-zero
embedding, see sampling.cfg_velocity); "pair" is the reference's single pass over the batch [cond, uncond].
Sizes: "tiny" (the parity checkpoint's config), "mini" (Hunyuan3D-2mini: 8 + 16 blocks, 512 latents) and
"v2-0" (Hunyuan3D-2: 16 + 32 blocks, 3072 latents, 1.1 B parameters); 1370 condition tokens (DINOv2 at
518 px with CLS).

    python bench/dit.py                                   # quick: tiny, fp32 + bf16
    python bench/dit.py --config mini,v2-0 --blocks 1     # 1 double + 1 single block, scaled to full depth
    python bench/dit.py --config v2-0 --dtype fp32        # a whole full-size step (minutes on 2 cores)
    python bench/dit.py --config v2-0 --blocks 1 --mode ours,pair   # ours vs the reference's batching

--blocks N builds at most N double-stream and N single-stream blocks and scales the time to the full depth:
both kinds cost the same (12 W^2 multiply-adds per token, plus attention over all tokens), and they are
nearly all of the work. Each row also gives the achieved GFLOP/s and that of one large matmul of the same
dtype timed just before it, since the machine may be shared and its speed varies from minute to minute.
Weights are built on the meta device and filled with small random values (no checkpoint is read).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from latentgen.models.dit import DIT_PRESETS, DiTConfig, ShapeDiT
from latentgen.runtime import DTYPES
from latentgen.sampling import SchedulerConfig, cfg_velocity, initial_noise, make_scheduler

COND_TOKENS = 1370
TINY = DiTConfig(
    in_channels=8, context_in_dim=32, hidden_size=64, num_heads=4, depth=2, depth_single_blocks=2, axes_dim=(16,)
)
SIZES: dict[str, tuple[DiTConfig, int]] = {  # config, latent tokens N
    "tiny": (TINY, 64),
    "mini": (DIT_PRESETS["v2-mini"], 512),
    "v2-0": (DIT_PRESETS["v2-0"], 3072),
}


def random_dit(cfg: DiTConfig, dtype: torch.dtype, device: torch.device) -> ShapeDiT:
    """Meta-device model materialised with uniform noise: no init cost, no denormals."""
    with torch.device("meta"):
        model = ShapeDiT(cfg)
    model = model.to_empty(device=device).to(dtype)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.02, 0.02, generator=gen)
    return model.eval().requires_grad_(False)


def forward_flop(cfg: DiTConfig, n: int, cond_tokens: int) -> float:
    """Multiply-adds x 2 of one DiT forward of one sample: per block 12 W^2 per token + attention 4 T^2 W."""
    t, w = n + cond_tokens, cfg.hidden_size
    blocks = cfg.depth + cfg.depth_single_blocks
    return blocks * (24 * w * w * t + 4 * t * t * w) + 2 * cond_tokens * cfg.context_in_dim * w


def step_flop(cfg: DiTConfig, n: int, mode: str) -> float:
    return forward_flop(cfg, n, COND_TOKENS) + forward_flop(cfg, n, COND_TOKENS if mode == "pair" else 1)


def matmul_gflops(dtype: torch.dtype, device: torch.device, size: int = 1024) -> float:
    a = torch.randn(size, size, device=device).to(dtype)
    a @ a
    start = time.perf_counter()
    for _ in range(3):
        a @ a
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 3 * 2 * size**3 / (time.perf_counter() - start) / 1e9


def time_step(
    cfg: DiTConfig, n: int, dtype: torch.dtype, device: torch.device, mode: str, steps: int, warmup: int
) -> float:
    """Best seconds of `steps` timed sampling steps after `warmup` untimed ones."""
    model = random_dit(cfg, dtype, device)
    cond = torch.randn(1, COND_TOKENS, cfg.context_in_dim, device=device).to(dtype)
    velocity = cfg_velocity(model, cond, torch.zeros_like(cond), 5.0, collapse_uncond=mode == "ours")
    sched = make_scheduler(SchedulerConfig(), steps + warmup + 1)  # +1: the last step (a no-op) is never run
    x = initial_noise((1, n, cfg.in_channels), 0, device)
    times = []
    with torch.inference_mode():
        for i, timestep in enumerate(sched.timesteps[: steps + warmup]):
            t = (timestep / 1000).expand(1).to(device)
            start = time.perf_counter()
            x = sched.step(velocity(x, t), timestep, x).prev_sample
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="tiny", help="comma list of tiny, mini, v2-0 (default: tiny)")
    ap.add_argument("--dtype", default="fp32,bf16", help="comma list of fp32, bf16, fp16 (default: fp32,bf16)")
    ap.add_argument("--device", default="auto", help="cpu, cuda, or auto = cpu (+ cuda when present)")
    ap.add_argument("--mode", default="ours", help="comma list of ours, pair (default: ours)")
    ap.add_argument("--blocks", type=int, default=None, help="build at most N + N blocks, scale to full depth")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default: 3 for tiny, 1 otherwise)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 1)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "auto" and torch.cuda.is_available() else [args.device]
    devices = ["cpu" if d == "auto" else d for d in devices]
    cpu = torch.backends.cpu.get_cpu_capability()
    bf16 = "native bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "bf16 emulated"
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU {cpu} ({bf16}); {COND_TOKENS} cond tokens"
    )
    print(
        f"{'config':6} {'blocks':>7} {'latents':>7} {'device':6} {'dtype':8} {'mode':5} {'s/step':>8}"
        f" {'full s/step':>11} {'GFLOP/s':>8} {'matmul':>8}"
    )
    for name in args.config.split(","):
        full, n = SIZES[name]
        cfg = full
        if args.blocks:
            cfg = dataclasses.replace(
                full, depth=min(full.depth, args.blocks), depth_single_blocks=min(full.depth_single_blocks, args.blocks)
            )
        scale = (full.depth + full.depth_single_blocks) / (cfg.depth + cfg.depth_single_blocks)
        for dev in devices:
            for dt, mode in [(d, m) for d in args.dtype.split(",") for m in args.mode.split(",")]:
                device, dtype = torch.device(dev), DTYPES[dt]
                peak = matmul_gflops(dtype, device)
                steps = args.steps or (3 if name == "tiny" else 1)
                warmup = 1 if args.warmup is None else args.warmup
                sec = time_step(cfg, n, dtype, device, mode, steps, warmup)
                rate = step_flop(cfg, n, mode) / sec / 1e9
                print(
                    f"{name:6} {cfg.depth:>3}+{cfg.depth_single_blocks:<3} {n:7d} {dev:6} {str(dtype)[6:]:8} {mode:5}"
                    f" {sec:8.3f} {sec * scale:11.2f} {rate:8.1f} {peak:8.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
