"""Benchmark: seconds per denoising step of the Hunyuan3D-Paint UNet, reference branch every step vs once.

hy3dgen runs the reference UNet at every step; latentgen computes its features once per generation (they do not
depend on the step, so the result is identical). A step here = one CFG-batched UNet pass ([uncond, cond] x views)
plus the Euler-ancestral update, as in `paint_hunyuan.paint_multiview`.

    python bench/paint.py                                    # tiny reference model, CPU, 128^2 x 6 views
    python bench/paint.py --view-size 256 --steps 5          # bigger views
    python bench/paint.py --full                             # + released config, random fp16 weights, 512^2 x 6
                                                             #   views (CUDA only; skipped without a GPU)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from latentgen.models.paint_unet import PaintUNet
from latentgen.paint_hunyuan import ancestral_step, find_weights, load_paint_models, make_schedule, scale_input
from latentgen.runtime import Runtime

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "fixtures" / "paint_ref" / "ckpt"
# hunyuan3d-paint-v2-0/unet/config.json as released (SD-2.1-base UNet; hunyuan3d2-paint-anatomy.md section 2.3)
RELEASED_UNET = {
    "act_fn": "silu",
    "attention_head_dim": [5, 10, 20, 20],
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 1024,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "use_linear_projection": True,
}
RELEASED_SCHEDULER = {
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "steps_offset": 1,
    "timestep_spacing": "trailing",
    "rescale_betas_zero_snr": True,
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_step(
    unet: PaintUNet, scheduler_config: dict, rt: Runtime, views: int, latent: int, steps: int, once: bool
) -> float:
    """Mean seconds of steps 2..steps of a CFG sampling loop (the first step warms up)."""
    g = torch.Generator(rt.device).manual_seed(0)
    c = unet.latent_channels

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=g, device=rt.device)

    normal, position = randn(2, views, c, latent, latent), randn(2, views, c, latent, latent)
    ref = randn(1, 1, c, latent, latent)
    ref_latents = torch.cat([torch.zeros_like(ref), ref])  # [2, 1, 4, h, w]: CFG batch [uncond, cond]
    gen = unet.unet.learned_text_clip_gen.detach()
    text = torch.cat([torch.zeros_like(gen), gen])
    ids = torch.tensor([[21, 12, 15, 18, 43, 37][:views] + [0] * max(0, views - 6)] * 2, device=rt.device)
    ref_scale = torch.tensor([0.0, 1.0], device=rt.device)
    schedule = make_schedule(scheduler_config, steps, timestep_spacing="trailing")
    sigmas = schedule.sigmas.to(rt.device)
    latents = randn(views, c, latent, latent) * schedule.init_noise_sigma
    times = []
    with torch.no_grad():
        sync(rt.device)
        start = time.perf_counter()
        features = unet.reference_features(ref_latents) if once else None
        for i, t in enumerate(schedule.timesteps):
            model_in = scale_input(latents, sigmas[i])[None].expand(2, -1, -1, -1, -1)
            kwargs = {"ref_features": features} if once else {"ref_latents": ref_latents}
            out = unet(model_in, t.to(rt.device), text, normal, position, ids, ref_scale=ref_scale, **kwargs).float()
            uncond, cond = out.chunk(2)
            v = uncond + 2.0 * (cond - uncond)
            latents = ancestral_step(latents, v, sigmas[i], sigmas[i + 1], randn(*latents.shape), "v_prediction")
            sync(rt.device)
            now = time.perf_counter()
            times.append(now - start)
            start = now
    rest = times[1:] or times
    return sum(rest) / len(rest)


def compare(label: str, unet: PaintUNet, scheduler_config: dict, rt: Runtime, views: int, size: int, steps: int):
    latent = size // 8
    every = seconds_per_step(unet, scheduler_config, rt, views, latent, steps, once=False)
    once = seconds_per_step(unet, scheduler_config, rt, views, latent, steps, once=True)
    row = {
        "model": label,
        "device": str(rt.device),
        "dtype": str(rt.dtype).removeprefix("torch."),
        "views": views,
        "view_size": size,
        "steps_timed": max(1, steps - 1),
        "s_per_step_ref_every_step": round(every, 4),
        "s_per_step_ref_once": round(once, 4),
        "speedup": round(every / once, 3),
    }
    if rt.is_cuda:
        row["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated(rt.device) / 2**30, 2)
    print(
        f"{label:>8} {row['device']:>5} {row['dtype']:>8} {views} x {size}^2: {every:.4f} s/step (reference every "
        f"step) vs {once:.4f} s/step (once) -> x{every / once:.2f}"
    )
    return row


def full_size_unet(rt: Runtime) -> PaintUNet:
    """The released architecture with random weights (N(0, 0.02); norms at 1 / 0), made on the device."""
    with torch.device("meta"):
        unet = PaintUNet(RELEASED_UNET)
    unet = unet.to_empty(device=rt.device)
    g = torch.Generator(rt.device).manual_seed(0)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "norm" in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            else:
                p.normal_(0.0, 0.02, generator=g)
    return unet.to(rt.dtype).eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--view-size", type=int, default=128, help="tiny model: view side in pixels (latents: /8)")
    ap.add_argument("--views", type=int, default=6)
    ap.add_argument("--steps", type=int, default=4, help="denoising steps per measurement (the first is warm-up)")
    ap.add_argument("--full", action="store_true", help="also the released config at 512^2 x 6 views (CUDA only)")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()

    rows = []
    cpu = Runtime(torch.device("cpu"), torch.float32)
    tiny = load_paint_models(find_weights(TINY, need_delight=False)[0], cpu)
    rows.append(compare("tiny", tiny.unet, tiny.scheduler_config, cpu, args.views, args.view_size, args.steps))
    if args.full:
        if torch.cuda.is_available():
            rt = Runtime(torch.device("cuda"), torch.float16)
            torch.cuda.reset_peak_memory_stats()
            rows.append(compare("released", full_size_unet(rt), RELEASED_SCHEDULER, rt, 6, 512, args.steps))
        else:
            print("released config: skipped (no CUDA GPU)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
