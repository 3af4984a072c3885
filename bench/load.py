"""Benchmark: peak memory of loading the full-size Hunyuan3D-2 shape model (DiT 1.1 B + DINOv2-giant 1.1 B + VAE).

Writes a combined checkpoint laid out as the released `hunyuan3d-dit-v2-0/model.fp16.safetensors`: every
tensor name and shape of ../shared/reference/hunyuan3d2-keys.txt, random fp16 values (nothing is
downloaded), streamed to disk one tensor at a time, plus the matching `config.yaml`. Then, for each dtype, a
fresh process runs `load_shape_models` on it and reports its peak RSS (ru_maxrss) against the file size and
against the size of the loaded models.

    python bench/load.py                        # fp32 and bf16; checkpoint in a temp folder, removed after
    python bench/load.py --dtype bf16 --dir /tmp/ckpt --keep
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

KEYS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "hunyuan3d2-keys.txt"
FOLDER = "hunyuan3d-dit-v2-0"
CONFIG = {  # the released v2.0 config.yaml values (../shared/reference/hunyuan3d2-anatomy.md sections 1-4, 7)
    "model": {
        "target": "hy3dgen.shapegen.models.Hunyuan3DDiT",
        "params": {
            "in_channels": 64,
            "context_in_dim": 1536,
            "hidden_size": 1024,
            "mlp_ratio": 4.0,
            "num_heads": 16,
            "depth": 16,
            "depth_single_blocks": 32,
            "axes_dim": [64],
            "theta": 10000,
            "qkv_bias": True,
            "guidance_embed": False,
        },
    },
    "vae": {
        "target": "hy3dgen.shapegen.models.ShapeVAE",
        "params": {
            "num_latents": 3072,
            "embed_dim": 64,
            "width": 1024,
            "heads": 16,
            "num_decoder_layers": 16,
            "num_freqs": 8,
            "include_pi": False,
            "qkv_bias": False,
            "qk_norm": True,
            "scale_factor": 0.9990943042622529,
        },
    },
    "conditioner": {
        "target": "hy3dgen.shapegen.models.SingleImageEncoder",
        "params": {
            "main_image_encoder": {
                "type": "DinoImageEncoder",
                "kwargs": {
                    "config": {
                        "hidden_size": 1536,
                        "num_hidden_layers": 40,
                        "num_attention_heads": 24,
                        "mlp_ratio": 4,
                        "use_swiglu_ffn": True,
                        "patch_size": 14,
                        "image_size": 518,
                        "layerscale_value": 1.0,
                        "layer_norm_eps": 1e-6,
                        "qkv_bias": True,
                        "hidden_act": "gelu",
                        "model_type": "dinov2",
                    },
                    "image_size": 518,
                },
            }
        },
    },
    "scheduler": {
        "target": "hy3dgen.shapegen.schedulers.FlowMatchEulerDiscreteScheduler",
        "params": {"num_train_timesteps": 1000},
    },
    "image_processor": {
        "target": "hy3dgen.shapegen.preprocessors.ImageProcessorV2",
        "params": {"size": 512, "border_ratio": 0.15},
    },
}


def read_keys(path: Path) -> list[tuple[str, tuple[int, ...]]]:
    """hunyuan3d2-keys.txt -> [(name, shape)]: one `name<TAB>[d0, d1, ...]` per line, '#' lines are comments."""
    out = []
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape = line.split("\t")
            out.append((name, tuple(json.loads(shape))))
    return out


def write_checkpoint(root: Path, keys: list[tuple[str, tuple[int, ...]]]) -> Path:
    """root/hunyuan3d-dit-v2-0/{config.yaml, model.fp16.safetensors}; tensors are streamed, never all in memory."""
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    header, offset = {}, 0
    for name, shape in keys:
        size = 2 * int(torch.Size(shape).numel())
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    gen = torch.Generator().manual_seed(0)
    path = folder / "model.fp16.safetensors"
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, shape in keys:  # small values: LayerNorm weights near 0 are fine for a memory test
            t = torch.empty(shape, dtype=torch.float32).uniform_(-0.02, 0.02, generator=gen).to(torch.float16)
            f.write(t.numpy().tobytes())
    return path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(root: Path, dtype: str) -> None:
    """Child process: load, then print one JSON line of memory figures."""
    from latentgen.runtime import Runtime
    from latentgen.shape import load_shape_models

    rt = Runtime(torch.device("cpu"), {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype])
    base = rss_mb()  # python + torch + transformers + latentgen imported
    start = time.perf_counter()
    models = load_shape_models(root, rt)
    seconds = time.perf_counter() - start
    params = sum(
        p.numel() * p.element_size() for m in (models.dit, models.vae, models.conditioner) for p in m.parameters()
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"base_mb": base, "peak_mb": peak, "after_mb": rss_mb(), "models_mb": params / 2**20, "s": seconds}
    print(json.dumps(figures))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dtype", default="fp32,bf16", help="comma list of fp32, bf16, fp16 (default: fp32,bf16)")
    ap.add_argument("--keys", type=Path, default=KEYS, help="key list of the released checkpoint")
    ap.add_argument("--dir", type=Path, default=None, help="where to write the checkpoint (default: a temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the written checkpoint")
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)  # child mode: dtype to load in
    args = ap.parse_args()
    if args.measure:
        measure(args.dir, args.measure)
        return
    root = args.dir or Path(tempfile.mkdtemp(prefix="latentgen-load-"))
    try:
        path = root / FOLDER / "model.fp16.safetensors"
        if not path.exists():
            start = time.perf_counter()
            write_checkpoint(root, read_keys(args.keys))
            print(f"wrote {path} in {time.perf_counter() - start:.0f} s")
        file_mb = path.stat().st_size / 2**20
        print(f"checkpoint {file_mb:.0f} MB (fp16); torch {torch.__version__}")
        print(
            f"{'dtype':6} {'models MB':>9} {'base MB':>8} {'peak MB':>8} {'peak-base':>9} {'/ file':>7}"
            f" {'(peak-base) / models':>20} {'s':>5}"
        )
        for dtype in args.dtype.split(","):
            cmd = [sys.executable, __file__, "--measure", dtype, "--dir", str(root)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            r = json.loads(out)
            extra = r["peak_mb"] - r["base_mb"]
            print(
                f"{dtype:6} {r['models_mb']:9.0f} {r['base_mb']:8.0f} {r['peak_mb']:8.0f} {extra:9.0f}"
                f" {r['peak_mb'] / file_mb:7.2f} {extra / r['models_mb']:20.2f} {r['s']:5.0f}",
                flush=True,
            )
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
