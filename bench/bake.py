"""Texture baking speed: `bake` on a generated-like mesh, with the time of each phase.

    python bench/bake.py [--faces 40000] [--texture 2048] [--view-size 1024] [--source-faces 0] [--repeat 3]

The mesh is a smooth closed surface from marching cubes (a lumpy ball fused with a ring, like a decoded shape),
decimated to --faces before timing (--source-faces N keeps N faces instead, so `bake` decimates inside the timed
run), with procedural vertex colours. Its six canonical views (latentgen.views) are rendered at --view-size as
the view set. Phases are timed through the stage's progress callback: decimate, unwrap (xatlas), raster (UV
raster + one raster per view), project (back-projection of texels and vertices), fill (growing into unseen
texels, vertex-graph spreading, gutter pull-push). Times are the median of --repeat runs after one warm-up run
(numba compiles and caches its kernels on the first run): wall-clock seconds, and CPU seconds summed over the
process's threads (on a busy machine the CPU time is the steadier figure: with 2 free cores the wall time is at
most that and at best about half of it).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import trimesh
from skimage.measure import marching_cubes

from latentgen.artifacts import View, ViewSet
from latentgen.bake import BakeOptions, bake
from latentgen.meshops import decimate
from latentgen.render import get_rasterizer, render_mesh
from latentgen.views import CANONICAL_VIEWS, canonical_cameras

PHASES = ("decimate", "unwrap", "raster", "project", "fill")


def blob(resolution: int = 256) -> trimesh.Trimesh:
    """A smooth genus-1 surface in [-1, 1]^3 with ~300k faces at resolution 256."""
    g = np.linspace(-1, 1, resolution, dtype=np.float32)
    x, y, z = np.meshgrid(g, g, g, indexing="ij")
    ball = np.sqrt(x**2 + y**2 + z**2) - 0.6 - 0.08 * np.sin(5 * x) * np.sin(4 * y) * np.sin(6 * z)
    ring = np.sqrt((np.sqrt(x**2 + z**2) - 0.7) ** 2 + y**2) - 0.12
    v, f, _, _ = marching_cubes(np.minimum(ball, ring), 0.0, spacing=(2 / (resolution - 1),) * 3)
    return trimesh.Trimesh(v - 1, f, process=False)


def paint_procedurally(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Vertex colours: stripes and blobs, so every view has detail to carry."""
    v = np.asarray(mesh.vertices)
    r = 0.5 + 0.5 * np.sin(9 * v[:, 0] + 2 * v[:, 1])
    g = 0.5 + 0.5 * np.sin(7 * v[:, 1] - 3 * v[:, 2])
    b = 0.5 + 0.5 * np.cos(8 * v[:, 2] + 5 * v[:, 0] * v[:, 1])
    out = mesh.copy()
    out.visual = trimesh.visual.ColorVisuals(out, vertex_colors=(np.stack([r, g, b], 1) * 255).astype(np.uint8))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=int, default=40_000)
    ap.add_argument("--texture", type=int, default=2048)
    ap.add_argument("--view-size", type=int, default=1024)
    ap.add_argument("--source-faces", type=int, default=0, help="faces of the input (0: --faces, no decimation)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    source = blob()
    mesh = decimate(source, args.source_faces or args.faces)
    mesh = paint_procedurally(mesh)
    rasterizer = get_rasterizer("cpu")
    views = ViewSet(
        [
            View(cam, render_mesh(mesh, cam, rasterizer, lit=False), weight=spec.weight, name=spec.name)
            for spec, cam in zip(CANONICAL_VIEWS, canonical_cameras(mesh.vertices, args.view_size), strict=True)
        ]
    )
    opts = BakeOptions(texture_size=args.texture, faces=args.faces, rasterizer="cpu")
    print(
        f"mesh {len(mesh.faces)} faces -> budget {args.faces}, texture {args.texture}^2, "
        f"{len(views.views)} views of {args.view_size}^2"
    )

    runs = []
    for k in range(args.repeat + 1):
        marks: list[tuple[str, float, float]] = []

        def mark(phase: str, done: float, marks=marks) -> None:
            marks.append((phase, time.perf_counter(), time.process_time()))

        start = (time.perf_counter(), time.process_time())
        out = bake(mesh, views, opts, progress=mark)
        times, prev = {}, start
        for phase, wall, cpu in marks:
            old = times.get(phase, (0.0, 0.0))
            times[phase] = (old[0] + wall - prev[0], old[1] + cpu - prev[1])
            prev = (wall, cpu)
        times["total"] = (prev[0] - start[0], prev[1] - start[1])
        if k:  # the first run compiles / loads the numba kernels
            runs.append(times)
    for i, what in enumerate(("wall", "cpu (all threads)")):
        med = {p: statistics.median(r.get(p, (0.0, 0.0))[i] for r in runs) for p in (*PHASES, "total")}
        print(f"{what:>17}: " + "  ".join(f"{p} {med[p]:.2f} s" for p in (*PHASES, "total")))
    print(f"baked: {len(out.faces)} faces, seen texels {out.metadata['bake']['seen_texels']:.3f}")


if __name__ == "__main__":
    main()
