"""Where the pictures of a mesh are taken from: the input-image camera and the canonical texture views.

The one convention, used by `paint`, `bake` and any multi-view backend:

World. The mesh as given, glTF axes (+Y up, +X right, front facing +Z; see latentgen.camera). A generated mesh
comes out of `decode` normalised to [-1, 1]^3 in this frame, its front (the side the photo shows) facing +Z:
the reference texture stage makes the same assumption (its azimuth-0 camera sees the mesh from +Z, +X right,
+Y up; hunyuan3d2-paint-anatomy.md section 5). Nothing here rescales the mesh: cameras are placed around it.

Input view. The conditioning picture is the recentred image of `latentgen.image` (reference ImageProcessorV2:
the object's bounding box, longest side int(side * (1 - 0.15)), centred on a square white canvas). It is an
orthographic view from the front: camera looking down -Z with +X to the right and +Y up (rotation identity).
Its framing is fitted so that the mesh's silhouette overlays the image's foreground mask:
  1. scale: the longer side of the mask's bounding box (alpha >= 128, in pixels) equals the same side of the
     silhouette's bounding box (the vertices' x / y extent, orthographic along Z) -> pixels per world unit f,
     ortho_scale = height / f;
  2. centre: the two bounding-box centres coincide;
  3. optional refinement (align="silhouette"): a small search over scale (+-6 %) and shift (+-4 % of the
     frame) maximising the intersection-over-union of the rendered silhouette with the mask, for generated
     meshes whose outline differs a little from the picture's.
For a mesh that reproduces the picture exactly, step 1-2 give ortho_scale = max(silhouette w, h) / (1 - 0.15)
centred on the silhouette: the recentring of the image, undone. The mirrored input (`mirror_camera`) is the
same framing seen from -Z (image x flipped), so a flipped picture overlays the back silhouette.

Canonical views. The reference texture stage's six views: azimuth [0, 90, 180, 270, 0, 180], elevation
[0, 0, 0, 0, 90, -90], bake weights [1, 0.1, 0.5, 0.1, 0.05, 0.05]. Azimuth 90 looks at the object's +X side,
elevation 90 looks down from +Y (latentgen.camera.orbit_camera). Orthographic, framed like the reference:
the mesh centred on its bounding-box centre c and scaled so that its farthest vertex is at 0.575 (= 1.15 / 2)
would be seen with ortho scale 1.2 from distance 1.45; here the camera is scaled instead of the mesh, so
ortho_scale = 1.2 * R / 0.575 with R = max |v - c|. The in-image roll of the top and bottom views follows the
reference too (it depends on the azimuth there): the top view (azimuth 0) has +X right and -Z up, the bottom
view (azimuth 180) has -X right and -Z up.

Geometry maps (what a multi-view diffusion model consumes), uint8 [H, W, 3], background 255, values
truncated like the reference (`(x * 255).astype(uint8)`), in terms of the world frame above:
  normal:   RGB = ((1 + nx) / 2, (1 - nz) / 2, (1 + ny) / 2) of the outward unit vertex normal (mean of the
            unit face normals), interpolated, not renormalised;
  position: RGB = (0.5 + x / 1.15, 0.5 - z / 1.15, 0.5 + y / 1.15) of p = (v - c) * 0.575 / R.
These equal the reference's maps of its axis-remapped mesh (x, y, z) -> (-x, z, -y).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import trimesh

from .camera import Camera
from .errors import InputError
from .render import Rasterizer, interpolate
from .silhouette import iou

BORDER_RATIO = 0.15  # ImageProcessorV2's border: the object's longest side is int(side * 0.85)
REF_ORTHO_SCALE = 1.2  # reference texture cameras: full view height...
REF_DISTANCE = 1.45  # ...and camera distance...
REF_SCALE_FACTOR = 1.15  # ...for a mesh scaled so its farthest vertex from the bbox centre is at 1.15 / 2
MASK_THRESHOLD = 128  # alpha / mask values at or above this are foreground


@dataclass(frozen=True)
class ViewSpec:
    azimuth: float  # degrees; 90 looks at the object's +X side
    elevation: float  # degrees; 90 looks down from +Y
    weight: float  # how much the baker trusts a view from here (reference Hunyuan3DTexGenConfig)
    name: str


CANONICAL_VIEWS = (
    ViewSpec(0, 0, 1.0, "front"),
    ViewSpec(90, 0, 0.1, "right"),
    ViewSpec(180, 0, 0.5, "back"),
    ViewSpec(270, 0, 0.1, "left"),
    ViewSpec(0, 90, 0.05, "top"),
    ViewSpec(180, -90, 0.05, "bottom"),
)


@dataclass(frozen=True)
class MeshFrame:
    """The reference texture stage's normalisation of a mesh: bbox centre and farthest-vertex radius."""

    center: np.ndarray  # [3]
    radius: float

    @classmethod
    def of(cls, vertices: np.ndarray) -> MeshFrame:
        v = np.asarray(vertices, dtype=np.float64)
        if len(v) == 0 or not np.isfinite(v).all():
            raise InputError("mesh has no vertices or non-finite ones")
        center = (v.min(0) + v.max(0)) / 2
        radius = float(np.linalg.norm(v - center, axis=1).max())
        if radius <= 0:
            raise InputError("mesh is degenerate: all its vertices are at one point")
        return cls(center, radius)

    @property
    def scale(self) -> float:
        """World -> reference units: p_ref = (v - center) * scale, farthest vertex at 0.575."""
        return REF_SCALE_FACTOR / 2 / self.radius


def _c2w(right: np.ndarray, up: np.ndarray, back: np.ndarray, position: np.ndarray) -> np.ndarray:
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, up, back, position
    return c2w


def _snap(x: float) -> float:
    """cos(90 deg) is 6e-17 in floating point: make axis-aligned views exactly axis-aligned."""
    return 0.0 if abs(x) < 1e-12 else x


def view_camera(azimuth: float, elevation: float, frame: MeshFrame, size: int = 512) -> Camera:
    """Canonical orthographic view of the mesh in `frame`, framed and rolled as the reference texture stage."""
    az, el = math.radians(azimuth), math.radians(elevation)
    back = np.array([_snap(math.cos(el) * math.sin(az)), _snap(math.sin(el)), _snap(math.cos(el) * math.cos(az))])
    back /= np.linalg.norm(back)
    # the reference's right vector depends on the azimuth only, also at the poles, where its look-at "up" (-Y in
    # our axes) is parallel to the view and its cross product falls back to this direction
    right = np.array([_snap(math.cos(az)), 0.0, _snap(-math.sin(az))])
    up = np.cross(back, right)
    distance = REF_DISTANCE / frame.scale
    return Camera(
        _c2w(right, up, back, frame.center + distance * back),
        width=size,
        height=size,
        projection="orthographic",
        ortho_scale=REF_ORTHO_SCALE / frame.scale,
        near=0.05 / frame.scale,
        far=(REF_DISTANCE + 2.0) / frame.scale,
    )


def canonical_cameras(vertices: np.ndarray, size: int = 512) -> list[Camera]:
    frame = MeshFrame.of(vertices)
    return [view_camera(s.azimuth, s.elevation, frame, size) for s in CANONICAL_VIEWS]


def mask_bbox(mask: np.ndarray) -> tuple[float, float, float, float]:
    """mask [H, W] uint8 -> (x0, x1, y0, y1): pixel-edge extent of the foreground (x right, y down)."""
    rows = np.flatnonzero((mask >= MASK_THRESHOLD).any(1))
    cols = np.flatnonzero((mask >= MASK_THRESHOLD).any(0))
    if rows.size == 0:
        raise InputError("the image mask holds no foreground")
    return float(cols[0]), float(cols[-1] + 1), float(rows[0]), float(rows[-1] + 1)


def front_camera(
    vertices: np.ndarray,
    width: int,
    height: int,
    scale_px: float,
    center_px: tuple[float, float],
    center_world: tuple[float, float],
) -> Camera:
    """Orthographic front camera (looking down -Z) with `scale_px` pixels per world unit, mapping the world
    point (x, y) = center_world to the pixel position center_px = (u, v)."""
    v = np.asarray(vertices, dtype=np.float64)
    depth_span = float(np.ptp(v[:, 2])) + 1e-6
    cam_x = center_world[0] - (center_px[0] - width / 2) / scale_px
    cam_y = center_world[1] + (center_px[1] - height / 2) / scale_px
    position = np.array([cam_x, cam_y, v[:, 2].max() + depth_span])
    return Camera(
        _c2w(np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0]), position),
        width=width,
        height=height,
        projection="orthographic",
        ortho_scale=height / scale_px,
        near=0.5 * depth_span,
        far=2.5 * depth_span,
    )


def input_camera(vertices: np.ndarray, mask: np.ndarray) -> Camera:
    """The camera of the conditioning image: the front orthographic view whose silhouette bounding box
    (longer side and centre) matches the mask's. mask: [H, W] uint8."""
    v = np.asarray(vertices, dtype=np.float64)
    h, w = mask.shape
    x0, x1, y0, y1 = mask_bbox(mask)
    lo, hi = v[:, :2].min(0), v[:, :2].max(0)
    ext = hi - lo  # silhouette width, height in world units
    if ext.max() <= 0:
        raise InputError("mesh is degenerate: it has no extent seen from the front")
    # the longer side of the picture's object sets the scale, as the recentring did
    scale_px = (x1 - x0) / ext[0] if (x1 - x0) >= (y1 - y0) and ext[0] > 0 else (y1 - y0) / max(ext[1], 1e-12)
    return front_camera(v, w, h, scale_px, ((x0 + x1) / 2, (y0 + y1) / 2), tuple((lo + hi) / 2))


def mirror_camera(camera: Camera) -> Camera:
    """The input camera (as made by `input_camera`) turned to look at the back from -Z, same framing: the input
    picture flipped left-right overlays the back silhouette, so a roughly symmetric object can borrow its front
    for its back."""
    c2w = camera.c2w.copy()
    c2w[:3, 0] *= -1  # right -> -X
    c2w[:3, 2] *= -1  # back -> -Z
    c2w[2, 3] -= camera.near + camera.far  # from z_front to z_front - (near + far): the same span mirrored
    return Camera(
        c2w,
        camera.width,
        camera.height,
        "orthographic",
        ortho_scale=camera.ortho_scale,
        near=camera.near,
        far=camera.far,
    )


def silhouette_iou(mesh: trimesh.Trimesh, camera: Camera, mask: np.ndarray, rasterizer: Rasterizer) -> float:
    sil = rasterizer.rasterize(mesh.vertices, mesh.faces, camera).face_id >= 0
    return iou(sil, mask >= MASK_THRESHOLD)


def refine_input_camera(
    mesh: trimesh.Trimesh, camera: Camera, mask: np.ndarray, rasterizer: Rasterizer, work: int = 128
) -> Camera:
    """Nudge the input camera's scale and centre to maximise silhouette IoU with `mask` (coordinate search on a
    `work`-pixel copy; the bbox fit is the start, so an exact match stays where it is)."""
    h, w = mask.shape
    k = work / max(h, w)
    ys = np.minimum(((np.arange(max(1, round(h * k))) + 0.5) / k).astype(int), h - 1)
    xs = np.minimum(((np.arange(max(1, round(w * k))) + 0.5) / k).astype(int), w - 1)
    small = mask[ys][:, xs]  # [h', w'] nearest samples at the small image's pixel centres
    center = camera.c2w[:2, 3].copy()

    def make(scale: float, dx: float, dy: float, size: tuple[int, int]) -> Camera:
        c2w = camera.c2w.copy()
        c2w[0, 3], c2w[1, 3] = center[0] + dx, center[1] + dy
        return Camera(
            c2w,
            size[1],
            size[0],
            "orthographic",
            ortho_scale=camera.ortho_scale * scale,
            near=camera.near,
            far=camera.far,
        )

    def score(p: tuple[float, float, float]) -> float:
        return silhouette_iou(mesh, make(*p, small.shape), small, rasterizer)

    best = (1.0, 0.0, 0.0)
    best_score = score(best)
    step = np.array([0.02, 0.01 * camera.ortho_scale, 0.01 * camera.ortho_scale])
    limit = np.array([0.06, 0.04 * camera.ortho_scale, 0.04 * camera.ortho_scale])
    for _ in range(3):  # coarse to fine
        improved = True
        while improved:
            improved = False
            for axis in range(3):
                for sign in (-1.0, 1.0):
                    cand = np.array(best)
                    cand[axis] += sign * step[axis]
                    if abs(cand[axis] - (1.0 if axis == 0 else 0.0)) > limit[axis] + 1e-12:
                        continue
                    s = score(tuple(cand))
                    if s > best_score + 1e-6:
                        best, best_score, improved = tuple(cand), s, True
        step /= 3
    return make(*best, (h, w))


# ---------------------------------------------------------------------------------------------------------------
# Geometry maps


def vertex_normals_mean(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals [V, 3]: the normalised sum of the unit normals of the faces around each vertex
    (trimesh.geometry.mean_vertex_normals, as the reference renders them)."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), 1e-30)
    vn = np.zeros_like(v)
    for c in range(3):
        np.add.at(vn, f[:, c], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-30)


def _to_uint8(x01: np.ndarray) -> np.ndarray:
    return (np.clip(x01, 0.0, 1.0) * 255).astype(np.uint8)  # truncation, as the reference


def geometry_maps(
    mesh: trimesh.Trimesh,
    camera: Camera,
    frame: MeshFrame,
    rasterizer: Rasterizer,
    normals: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (normal map, position map) uint8 [H, W, 3] in the reference encoding, and coverage [H, W] bool."""
    frags = rasterizer.rasterize(mesh.vertices, mesh.faces, camera)
    cover = frags.mask
    if normals is None:
        normals = vertex_normals_mean(mesh.vertices, mesh.faces)
    n = interpolate(np.asarray(normals, np.float64), frags)  # [H, W, 3]
    p = interpolate((np.asarray(mesh.vertices, np.float64) - frame.center) * frame.scale, frags)
    normal01 = np.stack([(1 + n[..., 0]) / 2, (1 - n[..., 2]) / 2, (1 + n[..., 1]) / 2], -1)
    pos01 = 0.5 + np.stack([p[..., 0], -p[..., 2], p[..., 1]], -1) / REF_SCALE_FACTOR
    normal01[~cover] = 1.0
    pos01[~cover] = 1.0
    return _to_uint8(normal01), _to_uint8(pos01), cover
