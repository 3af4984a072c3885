"""STAGES encode and decode: mesh -> shape latent -> mesh, with a ShapeVAE.

Latent tokens are in VAE space: what `ShapeVAE.decode` (post_kl) consumes, with no scale_factor applied.
A DiT works in `z_dit = z_vae * scale_factor`, so a generated latent is stored as `z_dit / scale_factor`.
Meshes come out in the encoder's normalised frame: the input's bounding box centred, longest side 2 * 0.9999.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import trimesh

from .artifacts import Latent
from .config import config_hash
from .errors import ConfigError, InputError, WeightsError
from .meshops import decimate
from .models.shapevae import ShapeVAE
from .pointcloud import SurfaceSamples, farthest_point_sampling, sample_surface
from .surface import MAPPINGS, Volume, coarse_to_fine_grid, dense_grid, extract_mesh

ProgressFn = Callable[[str, float], None]


def _quiet(phase: str, done: float) -> None: ...


@dataclass(frozen=True)
class EncodeOptions:
    """None = the checkpoint config's value (pc_size, pc_sharpedge_size, num_latents)."""

    num_uniform: int | None = None  # uniform surface points the encoder attends to
    num_sharp: int | None = None  # sharp-edge points
    num_latents: int | None = None  # latent tokens (point-query encoders only; learned queries are fixed)
    seed: int = 0  # surface sampling, FPS start, posterior sample
    posterior: str | None = None  # "sample" (seeded) or "mean"; None = the config's encode_posterior

    def __post_init__(self) -> None:
        if self.posterior not in (None, "sample", "mean"):
            raise ConfigError(f"--posterior {self.posterior}: choose 'sample' or 'mean'")


@dataclass(frozen=True)
class DecodeOptions:
    resolution: int = 256  # grid cells per axis (the reference pipeline uses 384; 256 = its "standard")
    bounds: float = 1.01  # grid spans [-bounds, bounds]^3, as the reference
    level: float = 0.0  # iso-level of the occupancy logits
    dense: bool = False  # evaluate every grid point instead of coarse-to-fine (same mesh, ~20x more queries)
    mapping: str = "exact"  # "reference" reproduces hy3dgen's vertex placement (scaled by R / (R + 1))
    max_faces: int | None = None  # decimate (quadric, meshops.decimate) to this many faces
    chunk: int = 16384  # decoder queries per batch: bounds memory, never changes the result
    min_resolution: int = 32  # coarse-to-fine: coarsest grid
    band: float = 3.0  # coarse-to-fine: see surface.coarse_to_fine_grid

    def __post_init__(self) -> None:
        if self.resolution < 2:
            raise ConfigError(f"--resolution {self.resolution}: must be >= 2")
        if self.mapping not in MAPPINGS:
            raise ConfigError(f"mapping {self.mapping!r}: choose one of {', '.join(MAPPINGS)}")
        if self.max_faces is not None and self.max_faces < 4:
            raise ConfigError(f"--faces {self.max_faces}: must be >= 4")
        if self.bounds <= 0 or self.chunk < 1:
            raise ConfigError("bounds and chunk must be positive")


def encoder_inputs(
    samples: SurfaceSamples, vae: ShapeVAE, num_latents: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """-> data [1, P, 7] (all samples), queries [1, N, 7] chosen by farthest-point sampling (None if learned).

    Queries split between uniform and sharp samples in the config's pc_size : pc_sharpedge_size ratio, as the
    reference does; each FPS starts at a seeded random point."""
    data = torch.from_numpy(samples.all)[None]
    if vae.config.encoder_queries == "learned":
        return data, None
    uniform, sharp = samples.uniform, samples.sharp
    n_uniform = round(num_latents * vae.config.uniform_query_fraction) if len(sharp) else num_latents
    n_sharp = num_latents - n_uniform
    if n_uniform > len(uniform) or n_sharp > len(sharp):
        raise InputError(
            f"{num_latents} latents take {n_uniform} uniform + {n_sharp} sharp query points; "
            f"only {len(uniform)} + {len(sharp)} surface points were sampled"
        )
    rng = np.random.default_rng(seed)
    parts = [uniform[farthest_point_sampling(uniform[:, :3], n_uniform, int(rng.integers(len(uniform))))]]
    if n_sharp:
        parts.append(sharp[farthest_point_sampling(sharp[:, :3], n_sharp, int(rng.integers(len(sharp))))])
    return data, torch.from_numpy(np.concatenate(parts))[None]


def encode(
    mesh: trimesh.Trimesh, vae: ShapeVAE, opts: EncodeOptions = EncodeOptions(), progress: ProgressFn = _quiet
) -> Latent:
    """Mesh -> Latent (tokens [N, latent_channels], VAE space). The mesh is not modified."""
    c = vae.config
    if not vae.has_encoder:
        raise WeightsError(f"ShapeVAE {vae.name}: these weights have no encoder; encoding needs one")
    num_latents = opts.num_latents or c.num_latents
    if c.encoder_queries == "learned" and num_latents != c.num_latents:
        raise ConfigError(f"this encoder has {c.num_latents} learned queries; it cannot make {num_latents} latents")
    num_uniform = c.pc_size if opts.num_uniform is None else opts.num_uniform
    num_sharp = c.pc_sharpedge_size if opts.num_sharp is None else opts.num_sharp
    progress("sample surface", 0.0)
    samples = sample_surface(mesh, num_uniform, num_sharp, opts.seed)
    data, queries = encoder_inputs(samples, vae, num_latents, opts.seed)
    progress("sample surface", 1.0)
    dev = vae.device
    generator = torch.Generator(device=dev).manual_seed(opts.seed)
    posterior = opts.posterior or c.encode_posterior
    with torch.inference_mode():
        z = vae.encode(data.to(dev), None if queries is None else queries.to(dev), posterior == "sample", generator)
    progress("encode", 1.0)
    extra = {"points": f"{num_uniform}+{num_sharp}", "posterior": posterior}
    return Latent(z[0].float().cpu(), vae.name, config_hash(c), opts.seed, extra)


def decode_volume(
    latent: Latent, vae: ShapeVAE, opts: DecodeOptions = DecodeOptions(), progress: ProgressFn = _quiet
) -> Volume:
    """Latent -> occupancy grid [R+1]^3 float32 (dense or coarse-to-fine)."""
    tokens = latent.tokens
    if tokens.ndim != 2 or tokens.shape[1] != vae.config.latent_channels:
        raise InputError(
            f"latent tokens {list(tokens.shape)} do not fit ShapeVAE {vae.name} "
            f"({vae.config.latent_channels} channels per token)"
        )
    with torch.inference_mode():
        decoded = vae.decode(tokens[None].to(vae.device))
        ctx = vae.geo_decoder.context(decoded)
        progress("decode latents", 1.0)

        def sdf(xyz: torch.Tensor) -> torch.Tensor:
            return vae.geo_decoder.query(xyz[None].to(vae.device), ctx)[0, :, 0].float().cpu()

        if opts.dense:
            return dense_grid(sdf, opts.resolution, opts.bounds, opts.chunk, progress)
        return coarse_to_fine_grid(
            sdf, opts.resolution, opts.bounds, opts.level, opts.min_resolution, opts.band, opts.chunk, progress
        )


def decode(
    latent: Latent, vae: ShapeVAE, opts: DecodeOptions = DecodeOptions(), progress: ProgressFn = _quiet
) -> trimesh.Trimesh:
    """Latent -> mesh (marching cubes of the occupancy at `opts.level`, outward normals)."""
    volume = decode_volume(latent, vae, opts, progress)
    mesh = extract_mesh(volume.grid, opts.bounds, opts.level, opts.mapping)
    progress("marching cubes", 1.0)
    if opts.max_faces is not None and len(mesh.faces) > opts.max_faces:
        mesh = decimate(mesh, opts.max_faces)
        progress("decimate", 1.0)
    return mesh
