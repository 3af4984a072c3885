"""Procedural training data: seconds per shape for samples and for conditioning images, and a contact sheet.

    python bench/data_gen.py [--seeds 3] [--families chair,mug,...] [--threads 1] [--sheet out/data_families.png]

Per shape, after one warm-up shape (numba compilation and cache loading are not counted):
- "samples": make_shape + sample_shape with the default SampleConfig (marching cubes at 128^3, 8192 surface and
  4096 sharp points with normals, 8192 uniform + 16384 near-surface labelled queries);
- "image": render_conditioning with the default RenderConfig (512 px, 2x supersampled).
Both wall-clock and CPU seconds are reported: this machine is shared and its wall-clock times swing; a dataset build
runs one single-threaded process per core (--threads 1 mimics one such worker).
The sheet shows one image per (family, seed), each family's seeds side by side.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numba
import numpy as np
from PIL import Image

from latentgen.data import FAMILIES, RenderConfig, SampleConfig, make_shape, render_conditioning, sample_shape
from latentgen.data.render import contact_sheet


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--threads", type=int, default=1, help="numba threads (a dataset worker uses 1)")
    ap.add_argument("--sheet", type=Path, default=Path("out/data_families.png"))
    ap.add_argument("--cell", type=int, default=192, help="pixels per image on the sheet")
    args = ap.parse_args()
    numba.set_num_threads(args.threads)
    families = args.families.split(",")
    sample_cfg, render_cfg = SampleConfig(), RenderConfig()

    warm = make_shape("chair", 0)  # compile / load the kernels once
    s = sample_shape(warm.sdf, sample_cfg, 0)
    render_conditioning(warm, s.mesh_vertices, s.mesh_faces, s.mesh_normals, np.random.default_rng(0), render_cfg)

    rows, cells = [], []
    print(f"{'family':10s} {'samples wall':>12s} {'cpu':>6s} {'image wall':>10s} {'cpu':>6s} {'faces':>7s}")
    for fam in families:
        ts, tr = [], []
        for seed in range(args.seeds):
            w0, c0 = clocks()
            shape = make_shape(fam, seed)
            s = sample_shape(shape.sdf, sample_cfg, seed)
            w1, c1 = clocks()
            image, _ = render_conditioning(
                shape, s.mesh_vertices, s.mesh_faces, s.mesh_normals, np.random.default_rng(seed), render_cfg
            )
            w2, c2 = clocks()
            ts.append((w1 - w0, c1 - c0))
            tr.append((w2 - w1, c2 - c1))
            cells.append(np.asarray(Image.fromarray(image).resize((args.cell, args.cell), Image.LANCZOS)))
        sw, sc = statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)
        rw, rc = statistics.median(t[0] for t in tr), statistics.median(t[1] for t in tr)
        rows.append((sw, sc, rw, rc))
        print(f"{fam:10s} {sw:12.3f} {sc:6.3f} {rw:10.3f} {rc:6.3f} {len(s.mesh_faces):7d}")
    cols = np.array(rows)
    print(
        f"{'mean':10s} {cols[:, 0].mean():12.3f} {cols[:, 1].mean():6.3f} {cols[:, 2].mean():10.3f} "
        f"{cols[:, 3].mean():6.3f}"
    )
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    per_row = max(1, round(np.sqrt(len(families) * args.seeds) / args.seeds))  # whole families per row, near square
    Image.fromarray(contact_sheet(cells, per_row * args.seeds)).save(args.sheet)
    print(f"contact sheet: {args.sheet} ({len(families)} families x {args.seeds} seeds)")


if __name__ == "__main__":
    main()
