"""STAGE bake: mesh + view set -> a copy of the mesh with UVs and a base-colour texture.

    face budget (meshops.decimate) -> UV unwrap (xatlas) -> rasterize every coloured view -> back-project:
    each texel's surface point is projected into each view and takes its colour, weighted by
    view weight * cos(angle to the camera)^bake_exp, if the view's depth says it is visible and the pixel is
    not near the view's border, its mask border or a depth edge -> blend -> fill what no view saw: colours
    spread over the mesh's vertex graph, then interpolated into the unseen texels -> fill the space between
    charts (dilation, then a pull-push pyramid) so that bilinear filtering and mipmaps show no seams.

The per-texel work runs in numba kernels on the CPU; only the rasterizer may run on a GPU (latentgen.render).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import trimesh
import xatlas
from numba import njit, prange
from PIL import Image
from scipy import sparse

from .artifacts import View, ViewSet
from .camera import Camera
from .errors import InputError
from .meshio import welded_surface
from .meshops import decimate
from .render import Rasterizer, get_rasterizer
from .views import MASK_THRESHOLD, vertex_normals_mean

ProgressFn = Callable[[str, float], None]
EDGE_SLOPE = 6.0  # neighbouring pixels whose depths differ by more than this many pixel widths: a depth edge


def _quiet(phase: str, done: float) -> None: ...


@dataclass(frozen=True)
class UnwrapOptions:
    """The xatlas options that matter. Chart limits are relative to the mesh, so they mean the same at any scale.

    Bounding the chart boundary makes xatlas ~10x faster than its defaults (40k faces: ~1.5 s instead of
    ~13 s of CPU here) at a small cost in atlas utilisation: unbounded charts often fail xatlas's validity
    checks and go through its slow piecewise parameterisation.
    """

    max_boundary: float = 0.5  # chart boundary length limit, times sqrt(surface area); 0: no limit (slow)
    max_area: float = 0.0  # chart area limit, as a share of the surface area; 0: no limit
    max_cost: float = 2.0  # xatlas chart growing: lower -> more, flatter charts
    max_iterations: int = 1  # xatlas chart refinement passes
    padding: int = 2  # texels between charts (at the atlas resolution, about the texture size)
    block_align: bool = True  # pack charts on 4x4 blocks: faster packing
    rotate: bool = True  # let the packer rotate charts

    def __post_init__(self) -> None:
        if self.max_boundary < 0 or self.max_area < 0:
            raise InputError(
                f"--uv-max-boundary {self.max_boundary} / max_area {self.max_area}: must be >= 0 (0 = no limit)"
            )
        if self.max_cost <= 0:
            raise InputError(f"--uv-max-cost {self.max_cost}: must be positive")
        if not 0 <= self.padding <= 64:
            raise InputError(f"--uv-padding {self.padding}: must be within 0..64")
        if self.max_iterations < 1:
            raise InputError(f"unwrap max_iterations {self.max_iterations}: must be at least 1")


@dataclass(frozen=True)
class BakeOptions:
    texture_size: int = 2048  # texture side in texels
    faces: int | None = 40_000  # face budget applied before unwrapping; None keeps every face
    bake_exp: float = 4.0  # per-texel weight = view weight * cos^bake_exp (reference)
    max_angle: float = 75.0  # degrees between surface normal and view direction beyond which a view is ignored
    erode: float = 2.0  # pixels (per 512 of view size) cut from view borders, mask borders and depth edges
    roughness: float = 0.8  # PBR roughness of the material (metallic is 0)
    unwrap: UnwrapOptions = field(default_factory=UnwrapOptions)
    rasterizer: str = "auto"

    def __post_init__(self) -> None:
        if not 16 <= self.texture_size <= 8192:
            raise InputError(f"--texture-size {self.texture_size}: must be within 16..8192")
        if self.faces is not None and self.faces < 4:
            raise InputError(f"--faces {self.faces}: must be at least 4")
        if not 0 < self.max_angle < 90 or self.bake_exp < 0 or self.erode < 0:
            raise InputError("bake: max_angle must be within (0, 90), bake_exp and erode >= 0")
        if not 0.0 <= self.roughness <= 1.0:
            raise InputError(f"--roughness {self.roughness}: must be within [0, 1]")


@dataclass
class Unwrapped:
    """A mesh cut along UV seams: vertex k of the cut mesh is vertex vmap[k] of the welded one."""

    vmap: np.ndarray  # [V', ] int64
    faces: np.ndarray  # [F, 3] int64, into the cut vertices
    uv: np.ndarray  # [V', 2] float64 in [0, 1], v up (glTF / trimesh)
    chart: np.ndarray  # [F] int32, the chart of each face


# ---------------------------------------------------------------------------------------------------------------
# Geometry


def check_views(views: ViewSet, mesh: trimesh.Trimesh) -> list[View]:
    """The views that carry colour, checked against their cameras; InputError on anything unusable."""
    colored = []
    for v in views.views:
        if v.color is None:
            continue
        c = np.asarray(v.color)
        if c.dtype != np.uint8 or c.ndim != 3 or c.shape[2] not in (3, 4):
            raise InputError(f"view {v.name!r}: colour must be uint8 [H, W, 3|4], got {c.dtype} {c.shape}")
        if c.shape[:2] != (v.camera.height, v.camera.width):
            raise InputError(
                f"view {v.name!r}: image is {c.shape[1]}x{c.shape[0]} but its camera is "
                f"{v.camera.width}x{v.camera.height}"
            )
        if not (math.isfinite(v.weight) and v.weight >= 0):
            raise InputError(f"view {v.name!r}: weight {v.weight} must be a non-negative number")
        if v.weight > 0:
            colored.append(v)
    if not colored:
        raise InputError("the view set has no coloured view to bake (run `paint` first)")
    bounds = views.meta.get("mesh_bounds")
    if bounds is not None:
        lo, hi = mesh.bounds
        diag = float(np.linalg.norm(hi - lo))
        if np.abs(np.asarray(bounds, float) - mesh.bounds).max() > 0.05 * diag:
            raise InputError("the view set was made for a different mesh (bounding boxes differ); paint this mesh")
    return colored


def prepare_geometry(mesh: trimesh.Trimesh, faces: int | None) -> trimesh.Trimesh:
    """welded_surface(mesh) within the face budget."""
    plain = welded_surface(mesh)
    if faces is not None and len(plain.faces) > faces:
        plain = decimate(plain, faces)
        plain.update_faces(plain.nondegenerate_faces())
        plain.remove_unreferenced_vertices()
    return plain


def unwrap(vertices: np.ndarray, faces: np.ndarray, texture_size: int, opts: UnwrapOptions) -> Unwrapped:
    """xatlas charts + packing into one atlas. vertices [V, 3], faces [F, 3] -> Unwrapped."""
    v = np.ascontiguousarray(vertices, np.float32)
    f = np.ascontiguousarray(faces, np.uint32)
    tri = v[f].astype(np.float64)
    area = 0.5 * float(np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum())
    atlas = xatlas.Atlas()
    atlas.add_mesh(v, f)
    chart = xatlas.ChartOptions()
    chart.max_boundary_length = opts.max_boundary * math.sqrt(area)
    chart.max_chart_area = opts.max_area * area
    chart.max_cost = opts.max_cost
    chart.max_iterations = opts.max_iterations
    pack = xatlas.PackOptions()
    pack.padding = opts.padding
    pack.blockAlign = opts.block_align
    pack.rotate_charts = opts.rotate
    pack.resolution = 0  # no size cap: always one atlas (a cap can split it into several overlapping ones)
    pack.texels_per_unit = texture_size * math.sqrt(0.65 / max(area, 1e-30))  # ~texture-sized at ~65 % use
    atlas.generate(chart, pack)
    vmap, idx, uv = atlas.get_mesh(0)
    if atlas.atlas_count != 1 or len(idx) != len(f):
        raise InputError(f"UV unwrap failed: xatlas made {atlas.atlas_count} atlases for {len(f)} faces")
    _, vertex_chart = atlas.get_mesh_vertex_assignment(0)
    chart = np.asarray(vertex_chart, np.int32)[idx[:, 0]]
    return Unwrapped(vmap.astype(np.int64), idx.astype(np.int64), uv.astype(np.float64), chart)


# ---------------------------------------------------------------------------------------------------------------
# Back-projection kernels


@njit(parallel=True, cache=True)
def _surface_points(face_id, bary, texels, vertices, normals, faces, out_p, out_n):  # pragma: no cover - numba
    """Surface point and interpolated normal of each covered texel. face_id [T*T], bary [T*T, 3] flat;
    texels [N] flat indices; vertices, normals [V, 3] of the welded mesh; faces [F, 3] into them."""
    for k in prange(texels.shape[0]):
        t = texels[k]
        f = face_id[t]
        for c in range(3):
            p = 0.0
            n = 0.0
            for corner in range(3):
                b = bary[t, corner]
                p += b * vertices[faces[f, corner], c]
                n += b * normals[faces[f, corner], c]
            out_p[k, c] = p
            out_n[k, c] = n


@njit(parallel=True, cache=True)
def _accumulate(
    points,
    normals,
    rot,
    trans,
    perspective,
    focal,
    cx,
    cy,
    depth,
    valid,
    image,
    weight,
    cos_min,
    exponent,
    tol,
    acc_rgb,
    acc_w,
):  # pragma: no cover - numba
    """Add one view's colour to every point it sees. points, normals [N, 3] world; rot [3, 3], trans [3]: w2c;
    depth [H, W] (inf = background), valid [H, W] bool, image [H, W, 3] uint8; acc_rgb [N, 3], acc_w [N]."""
    height, width = depth.shape
    int_exp = exponent == math.floor(exponent) and 0 <= exponent <= 16
    for k in prange(points.shape[0]):
        nx, ny, nz = normals[k, 0], normals[k, 1], normals[k, 2]
        nn = math.sqrt(nx * nx + ny * ny + nz * nz)
        if nn == 0.0:
            continue
        cnx = (rot[0, 0] * nx + rot[0, 1] * ny + rot[0, 2] * nz) / nn
        cny = (rot[1, 0] * nx + rot[1, 1] * ny + rot[1, 2] * nz) / nn
        cnz = (rot[2, 0] * nx + rot[2, 1] * ny + rot[2, 2] * nz) / nn
        if not perspective and abs(cnz) < cos_min:  # cheap early exit before any memory access
            continue
        px, py, pz = points[k, 0], points[k, 1], points[k, 2]
        x = rot[0, 0] * px + rot[0, 1] * py + rot[0, 2] * pz + trans[0]
        y = rot[1, 0] * px + rot[1, 1] * py + rot[1, 2] * pz + trans[1]
        z = rot[2, 0] * px + rot[2, 1] * py + rot[2, 2] * pz + trans[2]
        d = -z
        if d <= 0.0:
            continue
        if perspective:
            u, v = cx + focal * x / d, cy - focal * y / d
            r = math.sqrt(x * x + y * y + z * z)
            cos = abs(cnx * x + cny * y + cnz * z) / r  # |n . (towards the eye)|
            pix = d / focal
        else:
            u, v = cx + focal * x, cy - focal * y
            cos = abs(cnz)  # abs: inverted winding, or open surfaces seen from behind
            pix = 1.0 / focal
        if cos < cos_min:
            continue
        j, i = int(math.floor(u)), int(math.floor(v))
        if i < 0 or j < 0 or i >= height or j >= width or not valid[i, j]:
            continue
        tan = math.sqrt(max(1.0 - cos * cos, 0.0)) / cos
        if d > depth[i, j] + tol + pix * (1.0 + tan):  # something nearer covers this pixel
            continue
        # bilinear colour over the valid pixels only, so no background or occluder colour leaks in
        fx, fy = u - 0.5, v - 0.5
        x0, y0 = int(math.floor(fx)), int(math.floor(fy))
        ax, ay = fx - x0, fy - y0
        r_, g_, b_, s_ = 0.0, 0.0, 0.0, 0.0
        for dy in range(2):
            yy = y0 + dy
            if yy < 0 or yy >= height:
                continue
            wy = ay if dy else 1.0 - ay
            for dx in range(2):
                xx = x0 + dx
                if xx < 0 or xx >= width or not valid[yy, xx]:
                    continue
                wgt = (ax if dx else 1.0 - ax) * wy
                r_ += wgt * image[yy, xx, 0]
                g_ += wgt * image[yy, xx, 1]
                b_ += wgt * image[yy, xx, 2]
                s_ += wgt
        if s_ < 1e-6:
            r_, g_, b_, s_ = float(image[i, j, 0]), float(image[i, j, 1]), float(image[i, j, 2]), 1.0
        if int_exp:
            c = 1.0
            for _ in range(int(exponent)):
                c *= cos
        else:
            c = cos**exponent
        w = weight * c
        s_ = w / (255.0 * s_)
        acc_rgb[k, 0] += r_ * s_
        acc_rgb[k, 1] += g_ * s_
        acc_rgb[k, 2] += b_ * s_
        acc_w[k] += w


@dataclass
class ViewRaster:
    """A coloured view ready for back-projection."""

    view: View
    depth: np.ndarray  # [H, W] float32, inf on background
    valid: np.ndarray  # [H, W] bool: pixels trusted for colour
    image: np.ndarray  # [H, W, 3] uint8


def pixel_size(camera: Camera, depth: np.ndarray) -> np.ndarray | float:
    """World size of one pixel at `depth`."""
    return depth / camera.focal_px() if camera.projection == "perspective" else 1.0 / camera.focal_px()


def trusted_pixels(camera: Camera, depth: np.ndarray, alpha: np.ndarray | None, erode_px: int) -> np.ndarray:
    """[H, W] bool: the pixels whose colour may be projected onto the surface they show.

    Cut by erode_px pixels: the border of the view's mask (alpha; or the mesh's silhouette when the view has no
    alpha) and the far side of depth edges, where a slightly misplaced view would paint one surface's colour
    onto another. Cut by one pixel: the near side of depth edges and the silhouette, whose pixels may mix
    colours (anti-aliasing). depth: [H, W], inf on background.
    """
    cover = np.isfinite(depth)
    d = np.where(cover, depth, np.float32(camera.far * 2))
    pix = EDGE_SLOPE * np.broadcast_to(pixel_size(camera, d), d.shape)
    step_x = np.diff(d, axis=1) / np.minimum(pix[:, 1:], pix[:, :-1])  # [H, W-1], > 1: right pixel is farther
    step_y = np.diff(d, axis=0) / np.minimum(pix[1:], pix[:-1])  # [H-1, W], > 1: lower pixel is farther
    far = np.zeros(d.shape, bool)
    near = np.zeros(d.shape, bool)
    far[:, 1:] |= step_x > 1
    near[:, :-1] |= step_x > 1
    far[:, :-1] |= step_x < -1
    near[:, 1:] |= step_x < -1
    far[1:] |= step_y > 1
    near[:-1] |= step_y > 1
    far[:-1] |= step_y < -1
    near[1:] |= step_y < -1
    wide = far | ~cover if alpha is None else far | (alpha < MASK_THRESHOLD)
    wide[0], wide[-1], wide[:, 0], wide[:, -1] = True, True, True, True  # the frame: nothing beyond it to sample
    if erode_px > 0:
        k = 2 * erode_px + 1
        wide = cv2.dilate(wide.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    return cover & ~wide & ~near


def rasterize_view(view: View, geometry: trimesh.Trimesh, rasterizer: Rasterizer, erode: float) -> ViewRaster:
    cam = view.camera
    frags = rasterizer.rasterize(geometry.vertices, geometry.faces, cam)
    color = np.asarray(view.color)
    alpha = color[..., 3] if color.shape[2] == 4 else None
    erode_px = int(round(erode * max(cam.width, cam.height) / 512))
    valid = trusted_pixels(cam, frags.depth, alpha, erode_px)
    return ViewRaster(view, frags.depth.astype(np.float32), valid, np.ascontiguousarray(color[..., :3]))


def back_project(
    points: np.ndarray, normals: np.ndarray, rasters: list[ViewRaster], opts: BakeOptions, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """points, normals [N, 3] float32 -> (colour [N, 3] float32 in [0, 1], total weight [N] float32)."""
    acc = np.zeros((len(points), 3), np.float32)
    acc_w = np.zeros(len(points), np.float32)
    cos_min = math.cos(math.radians(opts.max_angle))
    for r in rasters:
        cam = r.view.camera
        w2c = cam.w2c
        _accumulate(
            points,
            normals,
            np.ascontiguousarray(w2c[:3, :3]),
            np.ascontiguousarray(w2c[:3, 3]),
            cam.projection == "perspective",
            float(cam.focal_px()),
            cam.width / 2.0,
            cam.height / 2.0,
            r.depth,
            r.valid,
            r.image,
            float(r.view.weight),
            cos_min,
            float(opts.bake_exp),
            tol,
            acc,
            acc_w,
        )
    seen = acc_w > 0
    acc[seen] /= acc_w[seen, None]
    return acc, acc_w


# ---------------------------------------------------------------------------------------------------------------
# Filling what no view saw


def spread_vertex_colors(
    vertices: np.ndarray, edges: np.ndarray, colors: np.ndarray, known: np.ndarray, smooth_steps: int = 40
) -> np.ndarray:
    """Give every vertex a colour: unknown vertices take, wave by wave, the inverse-squared-distance weighted
    mean of their already coloured neighbours, then are smoothed (known ones stay fixed). Pieces of the mesh
    that no view saw take the mean colour. vertices [V, 3], edges [E, 2] unique, colors [V, 3] -> [V, 3]."""
    n = len(vertices)
    out = colors.astype(np.float64).copy()
    known = known.copy()
    if known.all():
        return out.astype(np.float32)
    fallback = out[known].mean(0) if known.any() else np.full(3, 0.5)
    d2 = np.maximum(((vertices[edges[:, 0]] - vertices[edges[:, 1]]) ** 2).sum(1), 1e-20)
    w = np.concatenate([1.0 / d2, 1.0 / d2])
    adj = sparse.csr_matrix(
        (w, (np.concatenate([edges[:, 0], edges[:, 1]]), np.concatenate([edges[:, 1], edges[:, 0]]))), shape=(n, n)
    )
    unknown0 = ~known
    while True:
        k = known.astype(np.float64)
        wsum = adj @ k
        front = ~known & (wsum > 0)
        if not front.any():
            break
        out[front] = (adj @ (out * k[:, None]))[front] / wsum[front, None]
        known |= front
    out[~known] = fallback
    deg = np.asarray(adj.sum(1)).ravel()
    free = unknown0 & (deg > 0)
    for _ in range(smooth_steps):
        out[free] = (adj @ out)[free] / deg[free, None]
    return out.astype(np.float32)


@njit(cache=True)
def _grow_in_charts(color, known, chart, pending, steps):  # pragma: no cover - numba
    """Grow known texels into the pending ones, one ring per step, each new texel taking the mean of its known
    8-neighbours of the same chart (texels of other charts are elsewhere on the surface). color [T, T, 3],
    known [T, T] bool, chart [T, T] int32; pending [P, 2] (row, col). Updates color / known in place."""
    height, width = known.shape
    n = pending.shape[0]
    new_rgb = np.zeros((n, 3), np.float32)
    grew = np.zeros(n, np.bool_)
    for _ in range(steps):
        any_new = False
        for k in range(n):
            i, j = pending[k, 0], pending[k, 1]
            grew[k] = False
            if known[i, j]:
                continue
            r, g, b, c = 0.0, 0.0, 0.0, 0
            for di in range(-1, 2):
                for dj in range(-1, 2):
                    y, x = i + di, j + dj
                    if 0 <= y < height and 0 <= x < width and known[y, x] and chart[y, x] == chart[i, j]:
                        r += color[y, x, 0]
                        g += color[y, x, 1]
                        b += color[y, x, 2]
                        c += 1
            if c > 0:
                new_rgb[k, 0], new_rgb[k, 1], new_rgb[k, 2] = r / c, g / c, b / c
                grew[k] = True
                any_new = True
        if not any_new:
            break
        for k in range(n):
            if grew[k]:
                i, j = pending[k, 0], pending[k, 1]
                color[i, j, 0], color[i, j, 1], color[i, j, 2] = new_rgb[k, 0], new_rgb[k, 1], new_rgb[k, 2]
                known[i, j] = True


@njit(parallel=True, cache=True)
def _dilate_once(color, weight):  # pragma: no cover - numba
    """Unknown texels (weight 0) next to known ones take the mean of their known 8-neighbours.
    color [T, T, 3] premultiplied by the binary weight [T, T]; returns the new (color, weight)."""
    height, width = weight.shape
    out_c = color.copy()
    out_w = weight.copy()
    for i in prange(height):
        for j in range(width):
            if weight[i, j] > 0:
                continue
            r, g, b, c = 0.0, 0.0, 0.0, 0.0
            for y in range(max(i - 1, 0), min(i + 2, height)):
                for x in range(max(j - 1, 0), min(j + 2, width)):
                    if weight[y, x] > 0:
                        r += color[y, x, 0]
                        g += color[y, x, 1]
                        b += color[y, x, 2]
                        c += 1.0
            if c > 0:
                out_c[i, j, 0], out_c[i, j, 1], out_c[i, j, 2] = r / c, g / c, b / c
                out_w[i, j] = 1.0
    return out_c, out_w


@njit(parallel=True, cache=True)
def _halve(color, weight):  # pragma: no cover - numba
    """2x2 sums of premultiplied colour and weight -> [(H + 1) // 2, (W + 1) // 2]: a coarse texel's colour is
    the mean of the known texels under it."""
    height, width = weight.shape
    h2, w2 = (height + 1) // 2, (width + 1) // 2
    out_c = np.empty((h2, w2, 3), np.float32)
    out_w = np.empty((h2, w2), np.float32)
    for i in prange(h2):
        ya = 2 * i
        yb = ya + 1 if ya + 1 < height else ya
        fy = 1.0 if ya + 1 < height else 0.0  # odd size: the last row counts once
        for j in range(w2):
            xa = 2 * j
            xb = xa + 1 if xa + 1 < width else xa
            fx = 1.0 if xa + 1 < width else 0.0
            out_w[i, j] = weight[ya, xa] + fx * weight[ya, xb] + fy * (weight[yb, xa] + fx * weight[yb, xb])
            for k in range(3):
                out_c[i, j, k] = (
                    color[ya, xa, k] + fx * color[ya, xb, k] + fy * (color[yb, xa, k] + fx * color[yb, xb, k])
                )
    return out_c, out_w


@njit(parallel=True, cache=True)
def _fill_from_coarse(color, weight, coarse):  # pragma: no cover - numba
    """Colour field of one pyramid level [H, W, 3]: the known mean where the level has weight, else the coarser
    field [(H + 1) // 2, (W + 1) // 2, 3] sampled bilinearly (texel centres aligned)."""
    height, width = weight.shape
    ch, cw = coarse.shape[0], coarse.shape[1]
    out = np.empty((height, width, 3), np.float32)
    for i in prange(height):
        fy = min(max((i + 0.5) / 2 - 0.5, 0.0), ch - 1.0)
        y0 = min(int(fy), ch - 1)
        y1 = min(y0 + 1, ch - 1)
        ay = fy - y0
        for j in range(width):
            if weight[i, j] > 0:
                for k in range(3):
                    out[i, j, k] = color[i, j, k] / weight[i, j]
                continue
            fx = min(max((j + 0.5) / 2 - 0.5, 0.0), cw - 1.0)
            x0 = min(int(fx), cw - 1)
            x1 = min(x0 + 1, cw - 1)
            ax = fx - x0
            for k in range(3):
                top = coarse[y0, x0, k] * (1 - ax) + coarse[y0, x1, k] * ax
                bottom = coarse[y1, x0, k] * (1 - ax) + coarse[y1, x1, k] * ax
                out[i, j, k] = top * (1 - ay) + bottom * ay
    return out


def pull_push(color: np.ndarray, known: np.ndarray, dilate: int = 2) -> np.ndarray:
    """Fill the unknown texels of color [T, T, 3] float32 from the known ones (known texels keep their value):
    `dilate` rings by the mean of known neighbours (clean chart edges for bilinear filtering), then the rest
    from an image pyramid of known-texel means (smooth gutters, so mipmaps do not mix in stray colours)."""
    w = known.astype(np.float32)
    col = np.ascontiguousarray(color, np.float32) * w[..., None]
    for _ in range(dilate):
        col, w = _dilate_once(col, w)
    levels = [(col, w)]
    while max(levels[-1][1].shape) > 1:
        levels.append(_halve(*levels[-1]))
    c, w1 = levels[-1]
    field = (c / max(float(w1[0, 0]), 1e-12)).astype(np.float32)  # [1, 1, 3]: the mean of every known texel
    for c, w1 in reversed(levels[:-1]):
        field = _fill_from_coarse(c, w1, field)
    return field


# ---------------------------------------------------------------------------------------------------------------
# The stage


def bake(
    mesh: trimesh.Trimesh,
    views: ViewSet,
    opts: BakeOptions = BakeOptions(),
    progress: ProgressFn = _quiet,
    rasterizer: Rasterizer | None = None,
) -> trimesh.Trimesh:
    """Mesh + views -> textured copy (UVs + PBR base-colour texture). Reads no files; `mesh` is left untouched.

    rasterizer: a ready backend (e.g. get_rasterizer(name, device)); None picks opts.rasterizer.
    """
    colored = check_views(views, mesh)
    rasterizer = rasterizer or get_rasterizer(opts.rasterizer)
    geo = prepare_geometry(mesh, opts.faces)
    progress("decimate", 1.0)
    uvm = unwrap(geo.vertices, geo.faces, opts.texture_size, opts.unwrap)
    progress("unwrap", 1.0)

    size = opts.texture_size
    frags = rasterizer.rasterize_uv(uvm.uv, uvm.faces, size)
    rasters = [rasterize_view(v, geo, rasterizer, opts.erode) for v in colored]
    progress("raster", 1.0)

    verts = np.asarray(geo.vertices, np.float64)
    vnormals = vertex_normals_mean(verts, geo.faces)
    chart = frags.face_id >= 0  # [T, T]
    texels = np.flatnonzero(chart.ravel())
    points = np.empty((len(texels), 3), np.float32)
    tnormals = np.empty((len(texels), 3), np.float32)
    welded_faces = np.ascontiguousarray(uvm.vmap[uvm.faces])  # cut faces -> welded vertex ids [F, 3]
    _surface_points(
        frags.face_id.ravel(), frags.bary.reshape(-1, 3), texels, verts, vnormals, welded_faces, points, tnormals
    )
    tol = 1e-4 * float(np.linalg.norm(np.ptp(verts, axis=0)))
    texel_rgb, texel_w = back_project(points, tnormals, rasters, opts, tol)
    vert_rgb, vert_w = back_project(verts.astype(np.float32), vnormals.astype(np.float32), rasters, opts, tol)
    progress("project", 1.0)

    texture = np.zeros((size, size, 3), np.float32)
    texture.reshape(-1, 3)[texels] = texel_rgb
    seen = np.zeros((size, size), bool)
    seen.reshape(-1)[texels[texel_w > 0]] = True
    # thin unseen strips (grazing angles, eroded edges) first take the colours next to them in the same chart...
    chart_map = np.where(chart, uvm.chart[np.maximum(frags.face_id, 0)], -1).astype(np.int32)
    pending = np.argwhere(chart & ~seen)
    _grow_in_charts(texture, seen, chart_map, pending, max(2, size // 128))
    # ...what is left, colours spread over the surface from the vertices that views saw
    unseen = texels[~seen.reshape(-1)[texels]]
    if len(unseen):
        vert_rgb = spread_vertex_colors(verts, geo.edges_unique, vert_rgb, vert_w > 0)
        fid = frags.face_id.ravel()[unseen]
        b = frags.bary.reshape(-1, 3)[unseen]
        texture.reshape(-1, 3)[unseen] = np.einsum("nk,nkc->nc", b, vert_rgb[welded_faces[fid]])
    texture = pull_push(texture, chart, dilate=max(2, opts.unwrap.padding))
    progress("fill", 1.0)

    image = Image.fromarray(np.clip(np.rint(texture * 255), 0, 255).astype(np.uint8), "RGB")
    material = trimesh.visual.material.PBRMaterial(
        name="latentgen", baseColorTexture=image, metallicFactor=0.0, roughnessFactor=float(opts.roughness)
    )
    out = trimesh.Trimesh(
        verts[uvm.vmap], uvm.faces, visual=trimesh.visual.TextureVisuals(uv=uvm.uv, material=material), process=False
    )
    out.metadata["bake"] = {
        "seen_texels": float((texel_w > 0).mean()) if len(texels) else 0.0,
        "faces": int(len(uvm.faces)),
        "views": [v.name for v in colored],
    }
    return out
