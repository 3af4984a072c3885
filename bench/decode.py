"""Benchmark: dense vs coarse-to-fine volume decoding of ShapeVAE latents (issue 3, item 7).

For each shape and resolution: decoder queries, seconds, peak extra memory, and how far the two meshes are
apart (identical faces + max vertex distance in voxels, else a symmetric Hausdorff distance in voxels).
Every decode runs in a fresh process so its peak RSS is its own.

    python bench/decode.py                                   # reference tiny checkpoint, 128 256 384
    python bench/decode.py --resolutions 384 --shapes A      # one shape, one resolution
    python bench/decode.py --weights DIR --mesh a.obj        # real weights and your own meshes

Shapes: A, B = the two parity input latents (random tiny weights: blobby fields with many small parts);
M<i> = the i-th `--mesh`, encoded with the checkpoint's encoder (seed 1).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import trimesh
from safetensors.torch import load_file
from scipy.spatial import cKDTree

from latentgen.artifacts import Latent
from latentgen.encode import DecodeOptions, EncodeOptions, decode_volume, encode
from latentgen.models.shapevae import load_shapevae
from latentgen.runtime import Runtime
from latentgen.surface import extract_mesh

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "fixtures" / "ckpt" / "tiny-hunyuan3d-2"
INPUTS = REPO / "tests" / "fixtures" / "parity" / "inputs.safetensors"
MESH = REPO / "tests" / "fixtures" / "meshes" / "trimesh_octagonal_pocket.ply"
CPU32 = Runtime(torch.device("cpu"), torch.float32)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def shapes(weights: Path, meshes: list[Path]) -> dict[str, Latent]:
    vae = load_shapevae(weights, CPU32)
    out = {}
    if weights == TINY:
        latents = load_file(INPUTS)["latents"] / vae.config.scale_factor
        out = {"A": Latent(latents[0], vae.name), "B": Latent(latents[1], vae.name)}
    if meshes:
        enc = load_shapevae(weights, CPU32, need_encoder=True)
        for i, path in enumerate(meshes):
            out[f"M{i}"] = encode(trimesh.load(path, force="mesh"), enc, EncodeOptions(seed=1))
    return out


def run_one(weights: str, latent: Latent, opts: DecodeOptions, out_path: str, queue: mp.Queue) -> None:
    """Child process: decode once, save the grid, report queries / seconds / memory."""
    torch.set_grad_enabled(False)
    vae = load_shapevae(Path(weights), CPU32, prefer=[latent.model])
    base = rss_mb()
    t = time.perf_counter()
    vol = decode_volume(latent, vae, opts)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out_path, vol.grid.numpy())
    queue.put({"queries": vol.queries, "seconds": seconds, "peak_extra_mb": peak - base, "levels": vol.levels})


def measure(weights: Path, latent: Latent, opts: DecodeOptions, out_path: Path, cache: Path | None = None) -> dict:
    """Decode in a child process; a dense result can come from `cache` (it does not depend on c2f settings)."""
    key = f"{weights.name}-{hash_latent(latent)}-{opts.resolution}"
    if cache is not None and opts.dense and (cache / f"{key}.json").exists():
        out_path.write_bytes((cache / f"{key}.npy").read_bytes())
        return json.loads((cache / f"{key}.json").read_text())
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=run_one, args=(str(weights), latent, opts, str(out_path), queue))
    proc.start()
    result = queue.get()
    proc.join()
    if cache is not None and opts.dense:
        cache.mkdir(parents=True, exist_ok=True)
        (cache / f"{key}.npy").write_bytes(out_path.read_bytes())
        (cache / f"{key}.json").write_text(json.dumps(result))
    return result


def hash_latent(latent: Latent) -> str:
    return hashlib.sha256(latent.tokens.numpy().tobytes()).hexdigest()[:12]


def mesh_difference(a: trimesh.Trimesh, b: trimesh.Trimesh, voxel: float) -> str:
    if a.faces.shape == b.faces.shape and np.array_equal(a.faces, b.faces):
        return f"identical faces, max vertex diff {np.abs(a.vertices - b.vertices).max() / voxel:.1e} vox"
    d_ab = cKDTree(b.vertices).query(a.vertices)[0].max()
    d_ba = cKDTree(a.vertices).query(b.vertices)[0].max()
    return f"faces {len(a.faces)} vs {len(b.faces)}, Hausdorff (vertices) {max(d_ab, d_ba) / voxel:.2f} vox"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=TINY)
    ap.add_argument("--mesh", type=Path, action="append", default=None, help="meshes to encode (repeatable)")
    ap.add_argument("--resolutions", type=int, nargs="+", default=[128, 256, 384])
    ap.add_argument("--shapes", nargs="+", default=None, help="subset of shape names (default: all)")
    ap.add_argument("--no-dense", action="store_true", help="coarse-to-fine only (no comparison)")
    ap.add_argument("--chunk", type=int, default=65536)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    ap.add_argument("--cache", type=Path, default=None, help="keep / reuse dense grids here (slow to recompute)")
    args = ap.parse_args()
    meshes = args.mesh if args.mesh is not None else ([MESH] if args.weights == TINY else [])
    latents = shapes(args.weights, meshes)
    if args.shapes:
        latents = {k: v for k, v in latents.items() if k in args.shapes}
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, weights {args.weights.name}")
    print("| shape | R | dense queries | dense s | dense MB | c2f queries | c2f s | c2f MB | fewer queries | surface |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, latent in latents.items():
            for res in args.resolutions:
                c2f_opts = DecodeOptions(resolution=res, chunk=args.chunk)
                c2f = measure(args.weights, latent, c2f_opts, Path(tmp) / "c2f.npy")
                dense_opts = DecodeOptions(resolution=res, dense=True, chunk=args.chunk)
                row = {"shape": name, "resolution": res, "c2f": c2f}
                if not args.no_dense:
                    dense = measure(args.weights, latent, dense_opts, Path(tmp) / "dense.npy", args.cache)
                    voxel = 2 * c2f_opts.bounds / res
                    a = extract_mesh(np.load(Path(tmp) / "dense.npy"), c2f_opts.bounds)
                    b = extract_mesh(np.load(Path(tmp) / "c2f.npy"), c2f_opts.bounds)
                    row |= {"dense": dense, "surface": mesh_difference(a, b, voxel), "faces": len(a.faces)}
                rows.append(row)
                d = row.get("dense", {})
                ratio = f"{d['queries'] / c2f['queries']:.1f}x" if d else "-"
                print(
                    f"| {name} | {res} | {d.get('queries', '-')} | {d.get('seconds', 0):.1f} | "
                    f"{d.get('peak_extra_mb', 0):.0f} | {c2f['queries']} | {c2f['seconds']:.1f} | "
                    f"{c2f['peak_extra_mb']:.0f} | {ratio} | {row.get('surface', '-')} |",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
