"""Benchmark image2mesh: per-stage seconds and peak RSS for one picture and for a batch, models loaded once.

    python bench/image2mesh.py [--weights DIR] [--batch 10] [--smoke] [--pictures DIR]

Without --weights it uses the default weights (weights/tiny when shipped). The batch repeats the example
pictures; RSS is sampled after every input, so growth over a long batch shows (use --batch 50 for that check).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from latentgen.bake import BakeOptions
from latentgen.batch import write_outputs
from latentgen.encode import DecodeOptions
from latentgen.info import default_weights
from latentgen.paint import PaintOptions
from latentgen.pipeline import Image2MeshOptions, image2mesh, load_models
from latentgen.runtime import pick_runtime
from latentgen.shape import ShapeOptions

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "images"


def rss_mb() -> float:
    """Current resident set size (Linux /proc; no psutil needed)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--smoke", action="store_true", help="tiny settings (4 steps, 64^3, 256 px texture)")
    ap.add_argument("--pictures", type=Path, default=EXAMPLES, help="folder of pictures the batch cycles through")
    args = ap.parse_args()
    weights = args.weights or default_weights()
    t = time.perf_counter()
    models = load_models(weights, pick_runtime("auto"))
    print(f"weights {weights}: loaded in {time.perf_counter() - t:.1f} s, RSS {rss_mb():.0f} MB")
    opts = Image2MeshOptions()
    if args.smoke:
        opts = Image2MeshOptions(
            shape=ShapeOptions(steps=4), decode=DecodeOptions(resolution=64), faces=5000,
            paint=PaintOptions(view_size=256), bake=BakeOptions(texture_size=256, faces=5000),
        )  # fmt: skip
    pictures = sorted(p for p in args.pictures.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
    per_stage: dict[str, list[float]] = {}
    totals, rss = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.batch):
            src = pictures[i % len(pictures)]
            t = time.perf_counter()
            result = image2mesh(src, models, opts)
            folder = Path(tmp) / f"{i:03d}"
            folder.mkdir()
            write_outputs(folder, src.stem, result, "glb", {}, str(weights), models.rasterizer)
            totals.append(time.perf_counter() - t)
            for stage, sec in result.seconds.items():
                per_stage.setdefault(stage, []).append(sec)
            rss.append(rss_mb())
            if i == 0:
                print(f"first picture ({src.name}): {totals[0]:.1f} s, " + ", ".join(
                    f"{k} {v:.1f} s" for k, v in result.seconds.items()))  # fmt: skip
    print(f"batch of {args.batch}: median {statistics.median(totals):.1f} s per asset, total {sum(totals):.0f} s")
    print("median seconds per stage: " + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in per_stage.items()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RSS after input 1: {rss[0]:.0f} MB, after the last: {rss[-1]:.0f} MB, peak {peak:.0f} MB")
    if len(rss) >= 4:
        half = len(rss) // 2
        print(f"RSS growth over the second half of the batch: {rss[-1] - rss[half]:+.0f} MB")


if __name__ == "__main__":
    main()
