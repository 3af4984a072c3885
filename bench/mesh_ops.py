"""Benchmark: cleanup, decimation and rasterization on a ~200k-face mesh.

Run with `make bench` (or `python bench/mesh_ops.py`). Figures are seconds from one run, and ratios
between options measured in the same run (this machine alternates between fast and slow phases).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pymeshlab
import trimesh

from latentgen import meshops

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "meshes"


def timed(fn, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def test_mesh() -> trimesh.Trimesh:
    bunny = SHARED / "stanford_bunny.obj"
    if bunny.exists():
        mesh = trimesh.load(bunny, process=False)
        mesh = mesh.subdivide()  # 69k -> 278k faces
    else:
        mesh = trimesh.creation.icosphere(subdivisions=7)
    # a few floaters so cleanup has work to do
    specks = [
        trimesh.creation.icosphere(1, radius=0.001).apply_translation(np.random.default_rng(i).random(3))
        for i in range(20)
    ]
    return trimesh.util.concatenate([mesh, *specks])


def pymeshlab_only(mesh: trimesh.Trimesh, faces: int) -> int:
    ms = pymeshlab.MeshSet()
    ms.add_mesh(pymeshlab.Mesh(mesh.vertices, mesh.faces))
    ms.meshing_remove_duplicate_vertices()
    ms.meshing_decimation_quadric_edge_collapse(targetfacenum=faces, preservenormal=True, optimalplacement=True)
    return ms.current_mesh().face_number()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--faces", type=int, default=40_000)
    args = ap.parse_args()
    mesh = test_mesh()
    print(f"mesh: {len(mesh.faces)} faces, {len(mesh.vertices)} vertices")
    rows = []
    t_clean, (clean, report) = timed(lambda: meshops.cleanup(mesh))
    rows.append(("cleanup (floaters, degenerate, duplicates, holes)", t_clean, f"{report.components_removed} floaters"))
    t_dec, small = timed(lambda: meshops.decimate(clean, args.faces))
    rows.append(
        (f"decimate -> {args.faces} (latentgen: fast-simplification + pymeshlab)", t_dec, f"{len(small.faces)} faces")
    )
    t_pml, n = timed(lambda: pymeshlab_only(clean, args.faces), repeat=1)
    rows.append((f"decimate -> {args.faces} (pymeshlab quadric only)", t_pml, f"{n} faces"))
    try:
        from latentgen.camera import orbit_camera
        from latentgen.render import get_rasterizer

        rast = get_rasterizer("cpu")
        cam = orbit_camera(30, 20, 3.0, size=1024)
        v = clean.vertices - clean.bounds.mean(axis=0)
        v /= np.abs(v).max()
        rast.rasterize(v, clean.faces, cam)  # compile / warm up
        t_r, frags = timed(lambda: rast.rasterize(v, clean.faces, cam))
        rows.append(
            (f"rasterize 1024^2, {len(clean.faces)} faces (cpu)", t_r, f"{(frags.face_id >= 0).mean():.0%} covered")
        )
    except ImportError as e:
        rows.append(("rasterize", float("nan"), f"skipped: {e}"))
    width = max(len(r[0]) for r in rows)
    for name, sec, note in rows:
        print(f"{name:<{width}}  {sec:8.3f} s  {note}")
    print(f"ratio pymeshlab-only / latentgen decimation: {t_pml / t_dec:.1f}x")


if __name__ == "__main__":
    main()
