"""The camera convention between the input picture, the canonical texture views and the mesh."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from latentgen.camera import Camera, look_at
from latentgen.image import recenter
from latentgen.meshio import load_mesh, normalize_unit_cube
from latentgen.render import get_rasterizer, render_mesh, sample_texture
from latentgen.views import (
    CANONICAL_VIEWS,
    MeshFrame,
    canonical_cameras,
    geometry_maps,
    input_camera,
    mirror_camera,
    refine_input_camera,
    silhouette_iou,
    vertex_normals_mean,
)

from .conftest import EXAMPLES

RASTER = get_rasterizer("cpu")


def spot(colored: bool = True) -> trimesh.Trimesh:
    """Spot in [-1, 1]^3 with smooth, asymmetric vertex colours (a mirror or offset would change them)."""
    mesh, _ = normalize_unit_cube(load_mesh(EXAMPLES / "spot" / "spot.obj"))
    if colored:
        v = mesh.vertices
        rgb = np.stack([0.5 + 0.45 * np.sin(3 * v[:, 0] + 1), 0.5 + 0.45 * np.cos(2.5 * v[:, 1]), 0.5 + 0.4 * v[:, 2]])
        mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=(rgb.T * 255).astype(np.uint8))
    return mesh


def reference_ndc(points: np.ndarray, azimuth: float, elevation: float, frame: MeshFrame) -> np.ndarray:
    """Hunyuan3D-2's texture renderer re-stated (paint anatomy section 5): normalise, remap the axes
    (x, y, z) -> (-x, z, -y), look at the origin from get_mv_matrix's position with up +z, orthographic with
    half-extent 0.6. Returns [P, 2] NDC (x right, y growing with the image row)."""
    p = (points - frame.center) * (0.575 / frame.radius)
    q = np.stack([-p[:, 0], p[:, 2], -p[:, 1]], 1)
    e, a = math.radians(-elevation), math.radians(azimuth + 90)
    pos = 1.45 * np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
    look = -pos / np.linalg.norm(pos)
    right = np.cross(look, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, look)
    up /= np.linalg.norm(up)
    return np.stack([(q - pos) @ right, (q - pos) @ up], 1) / 0.6


def test_canonical_views_are_the_reference_views():
    assert [(s.azimuth, s.elevation, s.weight) for s in CANONICAL_VIEWS] == [
        (0, 0, 1.0), (90, 0, 0.1), (180, 0, 0.5), (270, 0, 0.1), (0, 90, 0.05), (180, -90, 0.05)
    ]  # fmt: skip
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, (200, 3)) * [0.8, 1.0, 0.6] + [0.1, -0.2, 0.3]
    frame = MeshFrame.of(points)
    for spec, cam in zip(CANONICAL_VIEWS, canonical_cameras(points, size=256), strict=True):
        xy, depth = cam.project(points)
        ours = np.stack([2 * xy[:, 0] / cam.width - 1, 2 * xy[:, 1] / cam.height - 1], 1)
        np.testing.assert_allclose(ours, reference_ndc(points, spec.azimuth, spec.elevation, frame), atol=1e-9)
        assert (depth > cam.near).all() and (depth < cam.far).all()
        assert np.abs(ours).max() < 1.0  # the whole mesh is in the frame


def test_canonical_view_directions():
    cams = canonical_cameras(np.array([[-1.0, -1, -1], [1, 1, 1]]))
    forward = {s.name: tuple(np.round(c.forward, 9)) for s, c in zip(CANONICAL_VIEWS, cams, strict=True)}
    assert forward == {
        "front": (0, 0, -1), "right": (-1, 0, 0), "back": (0, 0, 1), "left": (1, 0, 0),
        "top": (0, -1, 0), "bottom": (0, 1, 0),
    }  # fmt: skip
    top, bottom = cams[4], cams[5]
    assert np.allclose(top.c2w[:3, 0], [1, 0, 0]) and np.allclose(top.c2w[:3, 1], [0, 0, -1])
    assert np.allclose(bottom.c2w[:3, 0], [-1, 0, 0]) and np.allclose(bottom.c2w[:3, 1], [0, 0, -1])


def test_geometry_maps_use_the_reference_encoding():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.5)
    sphere.apply_translation([0.2, 0.1, -0.3])
    frame = MeshFrame.of(sphere.vertices)
    front, right = canonical_cameras(sphere.vertices, size=129)[:2]
    normal, position, cover = geometry_maps(sphere, front, frame, RASTER)
    c = 64  # the centre pixel sees the point of the sphere nearest the camera: outward normal +Z
    assert tuple(normal[c, c]) == (127, 0, 127)  # ((1 + nx) / 2, (1 - nz) / 2, (1 + ny) / 2), truncated
    p = (sphere.vertices.max(0)[2] - frame.center[2]) * frame.scale  # z of that point in reference units
    assert abs(int(position[c, c, 1]) - (0.5 - p / 1.15) * 255) <= 2 and abs(int(position[c, c, 0]) - 127) <= 1
    assert (normal[~cover] == 255).all() and (position[~cover] == 255).all()
    normal, _, _ = geometry_maps(sphere, right, frame, RASTER)  # seen from +X: outward normal +X
    assert abs(int(normal[c, c, 0]) - 255) <= 1 and abs(int(normal[c, c, 1]) - 127) <= 1


def front_picture(mesh: trimesh.Trimesh, size: int = 700) -> tuple[np.ndarray, Camera]:
    """A 'photo' of the mesh's front: orthographic from +Z, off-centre and not square, RGBA with alpha = object."""
    c2w = look_at([0.23, -0.11, 5.0], [0.23, -0.11, 0.0])
    cam = Camera(c2w, size + 100, size, "orthographic", ortho_scale=3.1, near=1.0, far=10.0)
    return render_mesh(mesh, cam, RASTER, background=(0, 0, 0), lit=False), cam


def test_input_camera_overlays_the_recentred_picture_on_the_mesh():
    """Render the mesh, recentre the render as the conditioner does, and project the mesh with the input camera:
    every visible vertex lands on the pixel that shows its own colour."""
    mesh = spot()
    photo, _ = front_picture(mesh)
    rgb, mask = recenter(photo, 512, 0.15)
    cam = input_camera(mesh.vertices, mask)
    assert cam.projection == "orthographic" and np.allclose(cam.forward, [0, 0, -1])
    assert silhouette_iou(mesh, cam, mask, RASTER) > 0.97

    frags = RASTER.rasterize(mesh.vertices, mesh.faces, cam)
    visible = np.unique(frags.faces[frags.face_id[frags.face_id >= 0]])  # vertices of the visible faces
    xy, depth = cam.project(mesh.vertices[visible])
    j, i = np.floor(xy).astype(int).T
    nearest = frags.depth[i.clip(0, 511), j.clip(0, 511)]
    inside = (mask[i.clip(0, 511), j.clip(0, 511)] >= 255) & (np.abs(depth - nearest) < 0.02)
    sampled = sample_texture(rgb.astype(np.float32), np.stack([xy[:, 0] / 512, 1 - xy[:, 1] / 512], 1))
    truth = mesh.visual.vertex_colors[visible, :3].astype(np.float32)
    err = np.abs(sampled - truth)[inside]
    assert inside.sum() > 300 and np.median(err) < 3 and np.percentile(err, 95) < 12


def test_mirrored_picture_overlays_the_back_silhouette():
    mesh = spot(colored=False)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [0, 1, 0]))  # profile to the front
    photo, _ = front_picture(mesh)
    _, mask = recenter(photo, 256, 0.15)
    back = mirror_camera(input_camera(mesh.vertices, mask))
    assert np.allclose(back.forward, [0, 0, 1])
    assert silhouette_iou(mesh, back, np.ascontiguousarray(mask[:, ::-1]), RASTER) > 0.97
    assert silhouette_iou(mesh, back, mask, RASTER) < 0.9  # the profile is not symmetric


def test_refinement_recovers_a_misplaced_camera():
    mesh = spot(colored=False)
    photo, _ = front_picture(mesh)
    _, mask = recenter(photo, 256, 0.15)
    good = input_camera(mesh.vertices, mask)
    c2w = good.c2w.copy()
    c2w[:2, 3] += [0.03 * good.ortho_scale, -0.02 * good.ortho_scale]
    off = Camera(c2w, 256, 256, "orthographic", ortho_scale=good.ortho_scale * 1.04, near=good.near, far=good.far)
    refined = refine_input_camera(mesh, off, mask, RASTER)
    assert silhouette_iou(mesh, off, mask, RASTER) < 0.92
    assert silhouette_iou(mesh, refined, mask, RASTER) > 0.96
    assert refine_input_camera(mesh, good, mask, RASTER).ortho_scale == pytest.approx(good.ortho_scale, rel=0.01)


def test_mean_vertex_normals_point_outwards():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    n = vertex_normals_mean(sphere.vertices, sphere.faces)
    assert np.allclose(np.linalg.norm(n, axis=1), 1) and ((n * sphere.vertices).sum(1) > 0.99).all()
