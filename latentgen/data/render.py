"""Conditioning images of procedural shapes: the input-view camera, jittered light, colour and pose.

`render_conditioning(shape, mesh, rng)` draws one RGBA picture of a shape as a photo-like input for training the
image-to-shape model: the marching-cubes mesh of the shape, rasterized by latentgen.render (CPU backend by default)
from the input-view camera (front, orthographic, framed like the recentred input picture of latentgen.views /
latentgen.image; yawed / pitched by a few degrees), Lambert + Blinn-Phong shading
with a randomly placed key light, per-part colours from `shape.color` (evaluated per pixel where a triangle straddles
two colours, so part and paint boundaries stay crisp), anti-aliased by supersampling, on a transparent background.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..camera import Camera, orbit_camera
from ..render import get_rasterizer
from ..render.base import Rasterizer
from ..views import BORDER_RATIO
from .shapes import Shape

CAMERA_DISTANCE = 3.0  # "fixed" framing: any distance works for an orthographic camera; [-1, 1]^3 fits in between
FRAMINGS = ("fit", "fixed")


@dataclass(frozen=True)
class RenderConfig:
    size: int = 512  # output pixels per side
    supersample: int = 2  # rendered at size * supersample, box-filtered down (anti-aliased edges and alpha)
    framing: str = "fit"  # "fit": the recentred input picture (latentgen.views); "fixed": ortho_scale around 0
    border: float = BORDER_RATIO  # "fit": margin share of the frame (the object's longer side fills 1 - border)
    ortho_scale: float = 2.0  # "fixed": full view height in world units
    max_yaw_deg: float = 6.0  # pose jitter: uniform in +-max
    max_pitch_deg: float = 4.0
    hue_jitter: float = 0.03  # colour jitter of each part: hue shift (turns), saturation and value scale (+-)
    sat_jitter: float = 0.15
    value_jitter: float = 0.12

    def __post_init__(self) -> None:
        if self.size < 8 or self.supersample < 1 or self.ortho_scale <= 0 or not 0 <= self.border < 1:
            raise ValueError(f"bad render config {self}")
        if self.framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {FRAMINGS}, not {self.framing!r}")


def input_camera(
    vertices: np.ndarray | None = None,
    size: int = 512,
    yaw_deg: float = 0.0,
    pitch_deg: float = 0.0,
    framing: str = "fit",
    border: float = BORDER_RATIO,
    ortho_scale: float = 2.0,
) -> Camera:
    """The input-view camera: orthographic, looking at the shape's front (down -Z), turned by yaw (towards +X) and
    pitch (from above) for pose jitter. The one place that decides the conditioning images' framing.

    framing="fit" (default): the convention of latentgen.views / latentgen.image: the silhouette of `vertices`
    [V, 3] is centred and its longer side spans (1 - border) of the frame, as the reference image recentring
    leaves a picture; views.input_camera recovers this camera from the rendered mask. framing="fixed": a frame
    `ortho_scale` world units tall centred on the origin (the same for every shape; vertices not needed).
    """
    rot = orbit_camera(yaw_deg, pitch_deg, 1.0).c2w[:3, :3]  # columns: right, up, back
    if framing == "fixed":
        c2w = np.eye(4)
        c2w[:3, :3], c2w[:3, 3] = rot, rot[:, 2] * CAMERA_DISTANCE
        return Camera(c2w, size, size, "orthographic", ortho_scale=ortho_scale, near=1.0, far=2 * CAMERA_DISTANCE)
    if framing != "fit" or vertices is None:
        raise ValueError("framing='fit' needs the mesh vertices; framing must be 'fit' or 'fixed'")
    cam = np.asarray(vertices, np.float64) @ rot  # camera-frame coordinates [V, 3]
    lo, hi = cam.min(0), cam.max(0)
    span = float(hi[2] - lo[2]) + 1e-6
    c2w = np.eye(4)
    c2w[:3, :3] = rot
    c2w[:3, 3] = rot @ np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[2] + span])
    scale = float((hi[:2] - lo[:2]).max()) / (1 - border)
    return Camera(c2w, size, size, "orthographic", ortho_scale=scale, near=0.5 * span, far=2.5 * span)


@dataclass(frozen=True)
class Lighting:
    """Light in camera space (x right, y up, z towards the viewer); intensities are linear RGB multipliers."""

    key_dir: tuple[float, float, float] = (-0.45, 0.65, 0.6)
    key: float = 0.75
    fill: float = 0.25  # from the opposite side, dimmer
    ambient: float = 0.3
    specular: float = 0.15
    shininess: float = 24.0
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)  # light colour


def random_lighting(rng: np.random.Generator) -> Lighting:
    az = rng.uniform(-70, 70)
    el = rng.uniform(15, 65)
    a, e = math.radians(az), math.radians(el)
    key_dir = (math.sin(a) * math.cos(e), math.sin(e), math.cos(a) * math.cos(e))
    warm = rng.uniform(-0.06, 0.06)
    return Lighting(
        key_dir=key_dir,
        key=float(rng.uniform(0.55, 0.95)),
        fill=float(rng.uniform(0.1, 0.35)),
        ambient=float(rng.uniform(0.2, 0.4)),
        specular=float(rng.uniform(0.0, 0.35)),
        shininess=float(rng.uniform(8, 64)),
        tint=(1.0 + warm, 1.0, 1.0 - warm),
    )


def jitter_colors(colors: np.ndarray, rng: np.random.Generator, config: RenderConfig) -> np.ndarray:
    """Shift hue / scale saturation and value of a palette [K, 3] (sRGB) by one random draw per colour."""
    out = np.empty_like(colors)
    for k, c in enumerate(colors):
        h, s, v = colorsys.rgb_to_hsv(*c)
        h += rng.uniform(-config.hue_jitter, config.hue_jitter)
        s *= 1 + rng.uniform(-config.sat_jitter, config.sat_jitter)
        v *= 1 + rng.uniform(-config.value_jitter, config.value_jitter)
        out[k] = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return out


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def render_shape(
    shape: Shape,
    vertices: np.ndarray,
    faces: np.ndarray,
    normals: np.ndarray,
    camera: Camera,
    lighting: Lighting = Lighting(),
    supersample: int = 2,
    color_map=None,
    rasterizer: Rasterizer | None = None,
) -> np.ndarray:
    """RGBA uint8 [H, W, 4] of the shape's mesh (vertices [V, 3], faces [F, 3], unit normals [V, 3]).

    The camera's size is the output size; rendering happens at `supersample` times it. color_map: optional function
    from colours [N, 3] to colours [N, 3] (e.g. a jittered palette). Background: alpha 0 (RGB white).
    """
    vcol = shape.color(vertices)  # [V, 3] sRGB
    if color_map is not None:
        vcol = color_map(vcol)
    # triangles whose corners disagree are crossed by a part or paint boundary: colour those pixels exactly
    corner = vcol[faces]
    mixed_face = np.abs(corner - corner[:, :1]).max(axis=(1, 2)) > 1e-6

    def pixel_colors(fid: np.ndarray, bary: np.ndarray) -> np.ndarray:
        pos = np.einsum("pk,pkc->pc", bary.astype(np.float64), vertices[faces[fid]])
        c = shape.color(pos)
        return color_map(c) if color_map is not None else c

    return render_lit(
        vertices, faces, normals, vcol, camera, lighting, supersample, mixed_face, pixel_colors, rasterizer
    )


def render_lit(
    vertices: np.ndarray,
    faces: np.ndarray,
    normals: np.ndarray,
    vertex_colors: np.ndarray,
    camera: Camera,
    lighting: Lighting = Lighting(),
    supersample: int = 2,
    exact_faces: np.ndarray | None = None,
    pixel_colors=None,
    rasterizer: Rasterizer | None = None,
) -> np.ndarray:
    """RGBA uint8 [H, W, 4] of a coloured mesh, lit by `lighting`, anti-aliased, on a transparent background.

    vertices [V, 3], faces [F, 3], unit normals [V, 3], vertex_colors [V, 3] sRGB in [0, 1], interpolated over each
    face. Faces flagged in exact_faces [F] (bool) take their colour per pixel instead: pixel_colors(face ids [P],
    barycentrics [P, 3]) -> sRGB [P, 3] (part boundaries, textures). The camera's size is the output size; rendering
    happens at `supersample` times it. Background: alpha 0 (RGB white).
    """
    ss = max(1, int(supersample))
    cam = Camera(
        camera.c2w,
        camera.width * ss,
        camera.height * ss,
        camera.projection,
        camera.fov_deg,
        camera.ortho_scale,
        camera.near,
        camera.far,
    )
    rasterizer = rasterizer or get_rasterizer("cpu")
    frags = rasterizer.rasterize(vertices, faces, cam)
    out = np.zeros((camera.height, camera.width, 4), np.uint8)
    out[..., :3] = 255
    mask_full = frags.face_id >= 0
    if not mask_full.any():
        return out
    # work on the covered box only, aligned to the supersampling blocks
    rows, cols = np.nonzero(mask_full.any(1))[0], np.nonzero(mask_full.any(0))[0]
    r0, r1 = rows[0] // ss * ss, (rows[-1] // ss + 1) * ss
    c0, c1 = cols[0] // ss * ss, (cols[-1] // ss + 1) * ss
    face_id = np.ascontiguousarray(frags.face_id[r0:r1, c0:c1])
    bary = np.ascontiguousarray(frags.bary[r0:r1, c0:c1], dtype=np.float32)
    if exact_faces is None:
        exact_faces = np.zeros(len(faces), bool)
    pix_color = np.zeros(face_id.shape + (3,), np.float32)  # linear RGB, only read on exact faces
    exact = (face_id >= 0) & exact_faces[np.maximum(face_id, 0)]
    if exact.any():
        pix_color[exact] = srgb_to_linear(pixel_colors(face_id[exact], bary[exact]))
    light = _light_params(cam, lighting)
    rgb, alpha = _shade_pixels(
        face_id,
        bary,
        np.ascontiguousarray(faces, np.int64),
        np.ascontiguousarray(normals, np.float32),
        srgb_to_linear(np.asarray(vertex_colors)),
        np.ascontiguousarray(exact_faces, np.bool_),
        pix_color,
        light,
        ss,
    )
    covered = alpha > 0
    crop = out[r0 // ss : r1 // ss, c0 // ss : c1 // ss]
    crop[..., :3] = np.where(covered[..., None], np.rint(np.clip(rgb, 0, 1) * 255), 255).astype(np.uint8)
    crop[..., 3] = np.rint(alpha * 255).astype(np.uint8)
    return out


def _light_params(cam: Camera, light: Lighting) -> np.ndarray:
    """World-space light setup packed for the kernel: view, key, fill, half vectors, then the scalars."""
    R = cam.c2w[:3, :3]
    view = -cam.forward
    key = R @ _unit(np.asarray(light.key_dir))
    fill = R @ _unit(np.asarray(light.key_dir) * [-1, 0.3, 1])
    half = _unit(key + view)
    scalars = [light.key, light.fill, light.ambient, light.specular, light.shininess, *light.tint]
    return np.concatenate([view, key, fill, half, scalars]).astype(np.float64)


@njit(cache=True)
def _shade_pixels(face_id, bary, faces, vnormal, vcol_lin, mixed_face, pix_lin, light, ss):
    """Shade every covered sample and box-filter ss x ss blocks -> (sRGB [h, w, 3] of the covered part, coverage
    [h, w]). Lambert key + fill + ambient and a Blinn-Phong highlight, both faces lit alike; the filter averages
    sRGB values, as a camera's downscale would."""
    H, W = face_id.shape
    h, w = H // ss, W // ss
    rgb = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    for i in range(H):
        for j in range(W):
            f = face_id[i, j]
            if f < 0:
                continue
            nx = ny = nz = 0.0
            cr = cg = cb = 0.0
            for k in range(3):
                v = faces[f, k]
                b = bary[i, j, k]
                nx += b * vnormal[v, 0]
                ny += b * vnormal[v, 1]
                nz += b * vnormal[v, 2]
                cr += b * vcol_lin[v, 0]
                cg += b * vcol_lin[v, 1]
                cb += b * vcol_lin[v, 2]
            if mixed_face[f]:
                cr, cg, cb = pix_lin[i, j, 0], pix_lin[i, j, 1], pix_lin[i, j, 2]
            norm = np.sqrt(nx * nx + ny * ny + nz * nz) + 1e-12
            nx, ny, nz = nx / norm, ny / norm, nz / norm
            if nx * light[0] + ny * light[1] + nz * light[2] < 0:  # a back face seen through a hole
                nx, ny, nz = -nx, -ny, -nz
            dk = max(nx * light[3] + ny * light[4] + nz * light[5], 0.0)
            df = max(nx * light[6] + ny * light[7] + nz * light[8], 0.0)
            dh = max(nx * light[9] + ny * light[10] + nz * light[11], 0.0)
            diffuse = light[12] * dk + light[13] * df + light[14]
            spec = light[15] * dh ** light[16]
            out = (cr * diffuse + spec, cg * diffuse + spec, cb * diffuse + spec)
            for c in range(3):
                x = min(max(out[c] * light[17 + c], 0.0), 1.0)
                x = x * 12.92 if x <= 0.0031308 else 1.055 * x ** (1 / 2.4) - 0.055
                rgb[i // ss, j // ss, c] += x
            alpha[i // ss, j // ss] += 1.0
    for i in range(h):
        for j in range(w):
            if alpha[i, j] > 0:
                for c in range(3):
                    rgb[i, j, c] /= alpha[i, j]
                alpha[i, j] /= ss * ss
    return rgb, alpha


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def render_conditioning(
    shape: Shape,
    vertices: np.ndarray,
    faces: np.ndarray,
    normals: np.ndarray,
    rng: np.random.Generator,
    config: RenderConfig = RenderConfig(),
    rasterizer: Rasterizer | None = None,
) -> tuple[np.ndarray, Camera]:
    """One jittered conditioning image -> (RGBA uint8 [size, size, 4], the camera it was taken with)."""
    yaw = rng.uniform(-config.max_yaw_deg, config.max_yaw_deg)
    pitch = rng.uniform(-config.max_pitch_deg, config.max_pitch_deg)
    camera = input_camera(vertices, config.size, yaw, pitch, config.framing, config.border, config.ortho_scale)
    lighting = random_lighting(rng)
    palette = shape.palette()  # [K, 3]: every colour the shape can return
    jittered = jitter_colors(palette, rng, config)

    def color_map(c: np.ndarray) -> np.ndarray:  # each palette colour -> its jittered version
        nearest = ((c[:, None, :] - palette[None]) ** 2).sum(-1).argmin(1)
        return jittered[nearest]

    image = render_shape(shape, vertices, faces, normals, camera, lighting, config.supersample, color_map, rasterizer)
    return image, camera


def contact_sheet(
    images: list[np.ndarray], cols: int, background: tuple[int, int, int] = (255, 255, 255)
) -> np.ndarray:
    """Tile RGBA images (same size) on a background -> RGB uint8 sheet, left to right, top to bottom."""
    h, w = images[0].shape[:2]
    rows = math.ceil(len(images) / cols)
    sheet = np.empty((rows * h, cols * w, 3), np.uint8)
    sheet[:] = background
    bg = np.asarray(background, np.float32)
    for k, im in enumerate(images):
        r, c = divmod(k, cols)
        a = im[..., 3:4].astype(np.float32) / 255
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = np.rint(im[..., :3] * a + bg * (1 - a)).astype(np.uint8)
    return sheet
