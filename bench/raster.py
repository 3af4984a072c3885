"""Rasterization speed: latentgen's CPU backend vs embree ray casting (and nvdiffrast when it runs).

    python bench/raster.py [--meshes DIR] [--repeat 5] [--threads N]

Cases: a 1024^2 perspective view of the Stanford bunny (69k faces) and of the bunny subdivided once and twice (278k,
1.1M faces), and a 2048^2 UV raster of Spot subdivided to 94k and 375k faces. Times are the median of --repeat runs
after one warm-up (numba compilation and embree BVH builds are not counted; the BVH build is reported apart).
"agree" is the share of pixels where the CPU backend and embree report the same triangle (background included).
The machine alternates between fast and slow phases: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from pathlib import Path

import numpy as np
import trimesh
from trimesh.ray.ray_pyembree import RayMeshIntersector

from latentgen.camera import Camera, orbit_camera
from latentgen.errors import DeviceError
from latentgen.render import get_rasterizer
from latentgen.render.cpu import CpuRasterizer

DEFAULT_MESHES = Path(__file__).resolve().parents[2] / "shared" / "data" / "meshes"


def timed(fn, repeat: int) -> tuple[float, object]:
    out = fn()  # warm-up: compilation, caches
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def view_rays(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """One ray per pixel centre, starting on the near plane -> origins, directions [H * W, 3]."""
    j, i = np.meshgrid(np.arange(camera.width) + 0.5, np.arange(camera.height) + 0.5)
    f = camera.focal_px()
    x = (j.ravel() - camera.width / 2) / f
    y = (camera.height / 2 - i.ravel()) / f
    right, up, back, eye = camera.c2w[:3, 0], camera.c2w[:3, 1], camera.c2w[:3, 2], camera.c2w[:3, 3]
    d = x[:, None] * right + y[:, None] * up - back  # unit component along the view axis
    return eye + camera.near * d, d


def uv_rays(size: int) -> tuple[np.ndarray, np.ndarray]:
    j, i = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    origins = np.stack([j.ravel() / size, 1 - i.ravel() / size, np.ones(size * size)], axis=1)
    return origins, np.tile([0.0, 0.0, -1.0], (size * size, 1))


def unit_mesh(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    v = np.asarray(mesh.vertices)
    center = (v.min(0) + v.max(0)) / 2
    return trimesh.Trimesh((v - center) / np.linalg.norm(v - center, axis=1).max(), mesh.faces, process=False)


def run_case(name: str, kind: str, v, f, target, rasterizers: dict, repeat: int) -> str:
    """One table row. kind "view": target is a Camera; kind "uv": v are uvs [V, 2] and target the texture size."""
    if kind == "view":
        origins, dirs = view_rays(target)
        scene = trimesh.Trimesh(v, f, process=False)
    else:
        origins, dirs = uv_rays(target)
        scene = trimesh.Trimesh(np.c_[v, np.zeros(len(v))], f, process=False)
    times, results = {}, {}
    for key, r in rasterizers.items():
        draw = functools.partial(r.rasterize if kind == "view" else r.rasterize_uv, v, f, target)
        times[key], results[key] = timed(draw, repeat)
    t0 = time.perf_counter()
    rays = RayMeshIntersector(scene)
    rays.intersects_first(origins[:1], dirs[:1])  # the BVH is built lazily on the first query
    t_bvh = time.perf_counter() - t0
    t_embree, hit = timed(lambda: rays.intersects_first(origins, dirs), repeat)
    agree = 100 * np.mean(hit == results["cpu"].face_id.ravel())
    row = f"{name:<26} {len(f):>8} {times['cpu']:>8.4f} {t_embree:>9.4f} {t_bvh:>7.3f}"
    row += f" {t_embree / times['cpu']:>10.1f} {agree:>8.3f}"
    return row + (f" {times['nvdiffrast']:>12.4f}" if "nvdiffrast" in times else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meshes", type=Path, default=DEFAULT_MESHES)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="CPU backend threads (default: all cores)")
    args = ap.parse_args()

    rasterizers = {"cpu": CpuRasterizer(args.threads)}
    try:
        rasterizers["nvdiffrast"] = get_rasterizer("nvdiffrast")
    except DeviceError as e:
        print(f"nvdiffrast: skipped ({e})")

    bunny = unit_mesh(trimesh.load(args.meshes / "stanford_bunny.obj", force="mesh", process=False))
    spot = trimesh.load(args.meshes / "spot" / "spot_textured.obj", force="mesh", process=False)
    cases = []
    camera = orbit_camera(30, 20, 2.9, size=1024)
    v, f = bunny.vertices, bunny.faces
    for k in range(3):
        cases.append((f"view 1024^2, bunny x{4**k}", "view", v, f, camera))
        v, f = trimesh.remesh.subdivide(v, f)
    v, f, uv = spot.vertices, spot.faces, np.asarray(spot.visual.uv)
    for k in range(4):
        if k >= 2:
            cases.append((f"uv 2048^2, spot x{4**k}", "uv", uv, f, 2048))
        v, f, attr = trimesh.remesh.subdivide(v, f, vertex_attributes={"uv": uv})
        uv = attr["uv"]

    header = f"{'case':<26} {'faces':>8} {'cpu s':>8} {'embree s':>9} {'bvh s':>7} {'embree/cpu':>10} {'agree %':>8}"
    print(header + (f" {'nvdiffrast s':>12}" if "nvdiffrast" in rasterizers else ""))
    for case in cases:
        print(run_case(*case, rasterizers, args.repeat), flush=True)


if __name__ == "__main__":
    main()
