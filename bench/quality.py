"""Quality of the shipped (or any) weights, on shapes and images never seen in training (issue 6, item 5).

    python bench/quality.py                                  # weights/tiny on out/train/data + ../shared/data
    python bench/quality.py --weights DIR --data DATA --per-family 2 --json out/quality.json

Figures (see latentgen/evaluate.py for the method):
  VAE volume IoU at --resolution^3 on held-out procedural shapes (exact SDF truth) and on real meshes;
  image -> shape silhouette IoU on held-out procedural renders and on real photos; sampling seconds per image.
Seeded: the same weights and data give the same figures. Bars of issue 6: procedural VAE >= 0.85, real meshes
>= 0.5, procedural silhouettes >= 0.75, real images >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
BARS = {"vae_heldout": 0.85, "vae_meshes": 0.5, "image_heldout": 0.75, "image_real": 0.5}
TITLES = {
    "vae_heldout": "VAE volume IoU, held-out procedural shapes",
    "vae_meshes": "VAE volume IoU, real meshes",
    "image_heldout": "image -> shape silhouette IoU, held-out procedural renders",
    "image_real": "image -> shape silhouette IoU, real photos",
}


def markdown(report: dict) -> str:
    lines = ["| figure | mean | n | bar |", "| --- | --- | --- | --- |"]
    for key, title in TITLES.items():
        if key in report:
            r = report[key]
            lines.append(f"| {title} | {r['mean']:.3f} | {r['n']} | {BARS[key]} |")
    for key, title in TITLES.items():
        if key in report:
            fams = report[key]["per_family"]
            if len(fams) > 1:
                lines += ["", f"{title}, per family:", "", "| family | IoU |", "| --- | --- |"]
                lines += [f"| {f} | {v:.3f} |" for f, v in fams.items()]
            else:
                lines += ["", f"{title}, per item:", "", "| item | IoU |", "| --- | --- |"]
                lines += [f"| {r['name']} | {r['iou']:.3f} |" for r in report[key]["rows"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, default=REPO / "weights" / "tiny")
    p.add_argument("--data", type=Path, default=REPO / "out" / "train" / "data", help="procedural dataset ('' to skip)")
    p.add_argument("--meshes", type=Path, default=SHARED / "meshes", help="real meshes ('' to skip)")
    p.add_argument("--images", type=Path, default=SHARED / "images", help="real photos ('' to skip)")
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--per-family", type=int, default=0, help="held-out shapes per family (0: all)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", choices=("vae", "image"), default=None, help="only these figures")
    p.add_argument("--json", type=Path, default=None, help="write the full report (with per-item rows) here")
    a = p.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", str(a.threads))
    import torch

    from latentgen.evaluate import EvalInputs, EvalOptions, evaluate

    torch.set_num_threads(a.threads)

    def given(path: Path) -> Path | None:
        return path if str(path) not in ("", ".") and path.exists() else None

    inputs = EvalInputs(a.weights, given(a.data), given(a.meshes), given(a.images))
    t0 = time.perf_counter()
    parts = {"vae": a.only in (None, "vae"), "image": a.only in (None, "image")}
    report = evaluate(inputs, EvalOptions(resolution=a.resolution, per_family=a.per_family, **parts))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    print(markdown(report))
    if a.json is not None:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
