"""Rasterizers against independent references: embree ray casting, analytic scenes, trimesh's texture lookup."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import trimesh
from trimesh.ray.ray_pyembree import RayMeshIntersector

from latentgen.camera import Camera, look_at, orbit_camera
from latentgen.errors import DeviceError, InputError
from latentgen.render import (
    Fragments,
    Rasterizer,
    corner_normals,
    get_rasterizer,
    interpolate,
    render_mesh,
    sample_texture,
    turntable_grid,
)
from latentgen.render.cpu import CpuRasterizer

MESHES = Path(__file__).resolve().parents[2] / "shared" / "data" / "meshes"
needs_meshes = pytest.mark.skipif(not MESHES.is_dir(), reason="needs ../shared/data/meshes")


def _has_nvdiffrast() -> bool:
    if importlib.util.find_spec("nvdiffrast") is None:
        return False  # decided without importing torch, which is slow to import
    import torch

    return torch.cuda.is_available()


@functools.cache
def unit_mesh(name: str) -> trimesh.Trimesh:
    """A mesh from ../shared/data/meshes, centred and scaled into the unit sphere."""
    mesh = trimesh.load(MESHES / name, force="mesh", process=False)
    v = np.asarray(mesh.vertices, dtype=np.float64)
    center = (v.min(0) + v.max(0)) / 2
    return trimesh.Trimesh((v - center) / np.linalg.norm(v - center, axis=1).max(), mesh.faces, process=False)


@pytest.fixture(scope="module")
def cpu() -> Rasterizer:
    return get_rasterizer("cpu")


def camera_rays(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """One ray per pixel centre (row-major), built from the camera convention alone, starting on the near plane."""
    j, i = np.meshgrid(np.arange(camera.width) + 0.5, np.arange(camera.height) + 0.5)
    x = (j.ravel() - camera.width / 2) / camera.focal_px()  # perspective: tan; orthographic: world units
    y = (camera.height / 2 - i.ravel()) / camera.focal_px()
    right, up, back, eye = camera.c2w[:3, 0], camera.c2w[:3, 1], camera.c2w[:3, 2], camera.c2w[:3, 3]
    if camera.projection == "perspective":
        d = x[:, None] * right + y[:, None] * up - back  # unit length along the viewing axis
        return eye + camera.near * d, d
    origins = eye + x[:, None] * right + y[:, None] * up - camera.near * back
    return origins, np.tile(-back, (len(x), 1))


def embree_reference(mesh: trimesh.Trimesh, camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> face id [H, W] (-1 = miss), depth [H, W] (inf = miss), hit points [H, W, 3] by embree ray casting."""
    origins, dirs = camera_rays(camera)
    tri, ray, loc = RayMeshIntersector(mesh).intersects_id(origins, dirs, multiple_hits=False, return_locations=True)
    n = camera.height * camera.width
    face, depth, points = np.full(n, -1), np.full(n, np.inf), np.full((n, 3), np.nan)
    face[ray], points[ray] = tri, loc
    depth[ray] = (loc - camera.position) @ camera.forward
    shape = (camera.height, camera.width)
    return face.reshape(shape), depth.reshape(shape), points.reshape(shape + (3,))


def assert_matches_embree(frags: Fragments, mesh: trimesh.Trimesh, camera: Camera) -> None:
    ref_face, ref_depth, ref_points = embree_reference(mesh, camera)
    ours, theirs = frags.face_id >= 0, ref_face >= 0
    assert theirs.sum() > 1000  # the view really shows the mesh
    assert (ours != theirs).sum() <= 1e-3 * theirs.sum()  # same coverage
    same = frags.face_id == ref_face
    assert same[theirs].mean() > 0.999  # same nearest triangle
    np.testing.assert_allclose(frags.depth[same & theirs], ref_depth[same & theirs], atol=1e-4)
    # perspective-correct barycentrics put the interpolated position on the embree hit point
    points = interpolate(np.asarray(mesh.vertices, np.float64), frags)
    assert np.abs(points - ref_points)[same & theirs].max() < 1e-4


def check_invariants(frags: Fragments, h: int, w: int) -> None:
    assert frags.face_id.shape == (h, w) and frags.face_id.dtype == np.int32
    assert frags.bary.shape == (h, w, 3) and frags.bary.dtype == np.float32
    assert frags.depth.shape == (h, w) and frags.depth.dtype == np.float32
    fg = frags.mask
    np.testing.assert_allclose(frags.bary[fg].sum(-1), 1.0, atol=1e-5)
    assert frags.bary[fg].min() >= 0.0
    assert (frags.bary[~fg] == 0).all() and np.isinf(frags.depth[~fg]).all() and np.isfinite(frags.depth[fg]).all()


@needs_meshes
@pytest.mark.parametrize("projection", ["perspective", "orthographic"])
@pytest.mark.parametrize(
    "name, azimuth", [("stanford_bunny.obj", 30), ("spot/spot_triangulated.obj", 200), ("trimesh_fixed_top.ply", 70)]
)
def test_cpu_raster_matches_embree_ray_casting(cpu, name, azimuth, projection):
    mesh = unit_mesh(name)
    camera = orbit_camera(azimuth, 25, 3.0, size=256, projection=projection, ortho_scale=2.1)
    frags = cpu.rasterize(mesh.vertices, mesh.faces, camera)
    check_invariants(frags, 256, 256)
    assert_matches_embree(frags, mesh, camera)


@needs_meshes
def test_near_plane_cuts_through_the_mesh_per_pixel(cpu):
    mesh = unit_mesh("stanford_bunny.obj")
    camera = Camera(look_at((0.4, 0.3, 1.6)), width=200, height=150, fov_deg=60, near=1.3, far=10.0)
    frags = cpu.rasterize(mesh.vertices, mesh.faces, camera)
    assert frags.depth[frags.mask].min() >= 1.3
    assert_matches_embree(frags, mesh, camera)  # embree rays start on the near plane


def test_ground_plane_through_the_camera_is_clipped_exactly(cpu):
    # a 100 x 100 floor at y = -1 around a camera at the origin: half of it lies behind the camera
    s = 50.0
    vertices = np.array([[-s, -1, -s], [s, -1, -s], [s, -1, s], [-s, -1, s]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    camera = Camera(np.eye(4), width=64, height=48, fov_deg=60, near=0.1, far=40.0)
    frags = cpu.rasterize(vertices, faces, camera)
    check_invariants(frags, 48, 64)
    # analytic: the ray through a pixel below the horizon meets the floor at depth 1 / (-y), x = depth * x
    j, i = np.meshgrid(np.arange(64) + 0.5, np.arange(48) + 0.5)
    x, y = (j - 32) / camera.focal_px(), (24 - i) / camera.focal_px()
    with np.errstate(divide="ignore"):
        depth = np.where(y < 0, -1 / y, np.inf)
    visible = (depth <= 40.0) & (np.abs(depth * x) <= s)
    np.testing.assert_array_equal(frags.mask, visible)
    np.testing.assert_allclose(frags.depth[visible], depth[visible], rtol=1e-5)
    assert not frags.mask[:24].any()  # nothing above the horizon (and nothing from behind the camera)


def test_degenerate_and_non_finite_triangles_draw_nothing(cpu):
    good = [[-1, -1, 0], [1, -1, 0], [0, 1, 0]]
    bad = [[0, 0, 0], [0, 0, 0], [0.5, 0, 0]]  # zero area
    line = [[-1, 0, 0.1], [0, 0, 0.1], [1, 0, 0.1]]  # collinear
    nan = [[np.nan, 0, 0], [1, 1, 0], [0, 1, 0.2]]
    edge_on = [[-1, 0, 0.5], [1, 0, 0.5], [0, 0, 2.5]]  # its plane passes through the eye at (0, 0, 3)
    vertices = np.array(bad + line + nan + edge_on + good, dtype=np.float64)
    faces = np.arange(15).reshape(5, 3)
    for projection in ("perspective", "orthographic"):
        camera = Camera(look_at((0, 0, 3)), width=64, height=64, projection=projection, ortho_scale=3.0)
        frags = cpu.rasterize(vertices, faces, camera)
        alone = cpu.rasterize(np.array(good, dtype=np.float64), [[0, 1, 2]], camera)
        assert set(np.unique(frags.face_id)) == {-1, 4}
        np.testing.assert_array_equal(frags.mask, alone.mask)
        np.testing.assert_array_equal(frags.bary, alone.bary)


@needs_meshes
def test_results_do_not_depend_on_the_thread_count():
    mesh = unit_mesh("stanford_bunny.obj")
    camera = orbit_camera(10, 10, 2.5, size=200)
    one = CpuRasterizer(threads=1).rasterize(mesh.vertices, mesh.faces, camera)
    many = CpuRasterizer(threads=3).rasterize(mesh.vertices, mesh.faces, camera)
    for a, b in [(one.face_id, many.face_id), (one.bary, many.bary), (one.depth, many.depth)]:
        np.testing.assert_array_equal(a, b)


@needs_meshes
def test_uv_raster_covers_the_uv_area_at_texel_centres(cpu):
    mesh = trimesh.load(MESHES / "spot" / "spot_triangulated.obj", force="mesh", process=False)
    uv, faces, size = np.asarray(mesh.visual.uv, np.float64), np.asarray(mesh.faces), 256
    frags = cpu.rasterize_uv(uv, faces, size)
    check_invariants(frags, size, size)
    corners = uv[faces]  # [F, 3, 2]
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    uv_area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum()  # Spot's charts do not overlap
    assert abs(frags.mask.sum() / (uv_area * size**2) - 1) < 0.01
    # texel (i, j) is sampled at uv ((j + 0.5) / size, 1 - (i + 0.5) / size)
    j, i = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    centres = np.stack([j / size, 1 - i / size], axis=-1)
    np.testing.assert_allclose(interpolate(uv, frags)[frags.mask], centres[frags.mask], atol=1e-6)
    # per-corner uvs give the same raster, and Fragments keep the mesh faces for interpolating mesh attributes
    per_corner = cpu.rasterize_uv(corners, faces, size)
    np.testing.assert_array_equal(per_corner.face_id, frags.face_id)
    np.testing.assert_allclose(per_corner.bary, frags.bary, atol=1e-6)
    assert per_corner.faces is not None and np.array_equal(per_corner.faces, faces)
    assert (frags.depth[frags.mask] == 0).all()


def test_interpolate_vertex_and_face_varying_attributes(cpu):
    # a unit quad seen straight on by an orthographic camera: pixel centres map to known world points
    vertices = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=np.float64)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    camera = Camera(look_at((0, 0, 5)), width=8, height=8, projection="orthographic", ortho_scale=2.0)
    frags = cpu.rasterize(vertices, faces, camera)
    assert frags.mask.all()
    j, i = np.meshgrid(np.arange(8) + 0.5, np.arange(8) + 0.5)
    expected = np.stack([(j - 4) / 4, (4 - i) / 4, np.zeros_like(j)], axis=-1)
    np.testing.assert_allclose(interpolate(vertices, frags), expected, atol=1e-12)
    np.testing.assert_allclose(interpolate(vertices[:, 0], frags), expected[..., 0], atol=1e-12)  # [V] -> [H, W]
    face_colors = np.repeat(np.array([[1, 0], [0, 1]], np.float32)[:, None, :], 3, axis=1)  # [F, 3, C], one per face
    per_face = interpolate(face_colors, frags)
    np.testing.assert_allclose(per_face[frags.face_id == 0], [[1, 0]] * (frags.face_id == 0).sum(), atol=1e-6)
    np.testing.assert_allclose(per_face[frags.face_id == 1], [[0, 1]] * (frags.face_id == 1).sum(), atol=1e-6)
    assert per_face.dtype == np.float32


def test_perspective_interpolation_is_perspective_correct(cpu):
    # a strongly slanted floor: linear (screen-space) interpolation would put points off the pixel rays
    vertices = np.array([[-2, -1, -1], [2, -1, -1], [0, -1, -12]], dtype=np.float64)
    camera = Camera(np.eye(4), width=64, height=64, fov_deg=70, near=0.1, far=50.0)
    frags = cpu.rasterize(vertices, [[0, 1, 2]], camera)
    points = interpolate(vertices, frags)[frags.mask]  # [P, 3]
    origins, dirs = camera_rays(camera)
    d = dirs.reshape(64, 64, 3)[frags.mask]
    np.testing.assert_allclose(points, d * (-1 / d[:, 1:2]), atol=1e-5)  # the ray's hit with y = -1
    np.testing.assert_allclose(frags.depth[frags.mask], -points[:, 2], rtol=1e-6)


def test_sample_texture_is_bilinear_with_wrap_and_row_zero_on_top():
    texture = np.array([[[0.0], [10.0]], [[20.0], [30.0]]])  # [2, 2, 1]: row 0 is the top (v near 1)
    uv = np.array([[0.25, 0.75], [0.75, 0.75], [0.25, 0.25], [0.5, 0.5], [0.0, 0.75], [1.25, 1.75]])
    out = sample_texture(texture, uv)
    np.testing.assert_allclose(out[:, 0], [0.0, 10.0, 20.0, 15.0, 5.0, 0.0])  # centres, middle, wrapped edge, repeat
    rgb = sample_texture(np.zeros((4, 4, 3), np.uint8) + 200, np.zeros((2, 3, 2)))
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.float32 and np.allclose(rgb, 200)
    assert sample_texture(texture[..., 0], uv[:1]).shape == (1,)


@needs_meshes
def test_render_of_spot_shows_its_texture(cpu):
    mesh = trimesh.load(MESHES / "spot" / "spot_textured.obj", force="mesh", process=False)
    assert mesh.visual.kind == "texture"
    camera = orbit_camera(150, 10, 3.0, size=160, projection="orthographic", ortho_scale=2.0)
    flat = render_mesh(mesh, camera, cpu, lit=False)
    assert flat.shape == (160, 160, 4) and flat.dtype == np.uint8
    # reference: embree hit -> barycentric -> uv -> trimesh's own bilinear texture lookup
    face, _, points = embree_reference(mesh, camera)
    hit = face >= 0
    bary = trimesh.triangles.points_to_barycentric(mesh.triangles[face[hit]], points[hit])
    uv = np.einsum("pk,pkc->pc", bary, np.asarray(mesh.visual.uv)[mesh.faces[face[hit]]])
    expected = trimesh.visual.color.uv_to_interpolated_color(uv, mesh.visual.material.image)[:, :3]
    both = (flat[..., 3] == 255)[hit]
    assert both.mean() > 0.99
    diff = np.abs(flat[..., :3][hit].astype(int) - expected.astype(int)).max(-1)[both]
    assert np.median(diff) <= 2 and (diff <= 12).mean() > 0.97
    # the lit preview keeps the texture's colours (dark spots, pale body) and an exact alpha / background
    lit = render_mesh(mesh, camera, cpu, background=(10, 20, 30))
    np.testing.assert_array_equal(lit[..., 3] == 255, flat[..., 3] == 255)
    assert (lit[lit[..., 3] == 0][:, :3] == [10, 20, 30]).all()
    fg = lit[lit[..., 3] == 255][:, :3].astype(int)
    assert (fg.max(-1) < 90).mean() > 0.02 and (fg.min(-1) > 170).mean() > 0.2


@needs_meshes
def test_untextured_meshes_render_as_clay_whatever_their_file_format(cpu, tmp_path):
    """UVs without a texture (trimesh's grey stand-in image) and the untextured PBR material of a GLB show the same
    shaded normals as bare geometry; vertex colours read back from a GLB are shown."""
    from latentgen.export import export
    from latentgen.meshio import load_mesh

    uv_only = load_mesh(MESHES / "spot" / "spot_triangulated.obj")  # UVs, no material
    bare = trimesh.Trimesh(uv_only.vertices, uv_only.faces, process=False)
    camera = orbit_camera(30, 20, 3.0, size=96)
    clay = render_mesh(bare, camera, cpu)
    np.testing.assert_array_equal(render_mesh(uv_only, camera, cpu), clay)
    export(bare, tmp_path / "bare.glb")
    np.testing.assert_array_equal(render_mesh(load_mesh(tmp_path / "bare.glb"), camera, cpu), clay)
    red = bare.copy()
    red.visual = trimesh.visual.ColorVisuals(red, vertex_colors=np.tile([200, 30, 30, 255], (len(red.vertices), 1)))
    export(red, tmp_path / "red.glb")
    flat = render_mesh(load_mesh(tmp_path / "red.glb"), camera, cpu, lit=False)
    assert (flat[flat[..., 3] == 255][:, :3] == [200, 30, 30]).all()


def test_turntable_starts_at_the_front_and_turns_towards_plus_x(cpu):
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    sides = {(0, 0, 1): (255, 0, 0), (1, 0, 0): (0, 255, 0), (0, 0, -1): (0, 0, 255), (-1, 0, 0): (255, 0, 255)}
    face_colors = np.full((len(box.faces), 4), 255, np.uint8)
    for normal, rgb in sides.items():
        face_colors[np.abs(box.face_normals - normal).max(-1) < 1e-6, :3] = rgb
    box.visual.face_colors = face_colors
    sheet = turntable_grid(box, views=4, size=64, rasterizer=cpu, elevation=0.0)
    assert sheet.shape == (128, 128, 3) and sheet.dtype == np.uint8
    cells = [sheet[r * 64 : (r + 1) * 64, c * 64 : (c + 1) * 64] for r in range(2) for c in range(2)]
    for cell, rgb in zip(cells, sides.values(), strict=True):  # azimuth 0, 90, 180, 270 see +Z, +X, -Z, -X
        centre = cell[32, 32].astype(float)
        np.testing.assert_allclose(centre / centre.max(), np.array(rgb) / 255, atol=0.1)
        border = np.concatenate([cell[0], cell[-1], cell[:, 0], cell[:, -1]])
        assert (border == 255).all()  # framed: the object never touches the cell edge


def test_turntable_grid_shape_for_odd_view_counts(cpu):
    tri = trimesh.Trimesh([[-1, -1, 0], [1, -1, 0], [0, 1, 0]], [[0, 1, 2]])
    sheet = turntable_grid(tri, views=3, size=32, rasterizer=cpu)
    assert sheet.shape == (64, 64, 3)
    assert (sheet[32:, 32:] == 255).all()  # the unused fourth cell stays background


def test_get_rasterizer_names_and_errors():
    assert get_rasterizer("cpu").name == "cpu"
    assert isinstance(get_rasterizer("cpu"), Rasterizer)
    with pytest.raises(InputError, match="opengl"):
        get_rasterizer("opengl")
    if not _has_nvdiffrast():
        assert get_rasterizer("auto").name == "cpu"
        with pytest.raises(DeviceError) as e:
            get_rasterizer("nvdiffrast")
        assert "\n" not in str(e.value)


@pytest.mark.skipif(not _has_nvdiffrast(), reason="needs CUDA and nvdiffrast")
@needs_meshes
@pytest.mark.parametrize("projection", ["perspective", "orthographic"])
def test_nvdiffrast_matches_the_cpu_backend(cpu, projection):
    gpu = get_rasterizer("nvdiffrast")
    mesh = unit_mesh("stanford_bunny.obj")
    camera = orbit_camera(30, 20, 3.0, size=256, projection=projection, ortho_scale=2.1)
    a, b = cpu.rasterize(mesh.vertices, mesh.faces, camera), gpu.rasterize(mesh.vertices, mesh.faces, camera)
    check_invariants(b, 256, 256)
    assert (a.mask != b.mask).sum() <= 2e-3 * a.mask.sum()
    same = (a.face_id == b.face_id) & a.mask
    assert same.sum() > 0.995 * a.mask.sum()
    np.testing.assert_allclose(a.depth[same], b.depth[same], atol=1e-4)
    np.testing.assert_allclose(a.bary[same], b.bary[same], atol=2e-3)
    spot = trimesh.load(MESHES / "spot" / "spot_triangulated.obj", force="mesh", process=False)
    ua, ub = (r.rasterize_uv(np.asarray(spot.visual.uv), spot.faces, 512) for r in (cpu, gpu))
    assert ((ua.face_id == ub.face_id) & ua.mask).sum() > 0.995 * ua.mask.sum()


class _ReferenceGL:
    """Stands in for nvdiffrast.torch on the CPU: a brute-force rasterizer with nvdiffrast's documented output
    conventions (row 0 = NDC y -1, pixel centres at +0.5, clip to -w <= z <= w, nearest z/w wins, each pixel holds
    (u, v, z/w, face + 1) with perspective-correct weights u, v of corners 0, 1). It checks our conversions only."""

    @staticmethod
    def rasterize(ctx, pos, tri, resolution, grad_db=True):
        import torch

        h, w = resolution
        clip, tri = pos[0].double(), tri.long()  # [V, 4], [F, 3]
        ys, xs = torch.meshgrid((torch.arange(h) + 0.5) / h * 2 - 1, (torch.arange(w) + 0.5) / w * 2 - 1, indexing="ij")
        c = clip[tri]  # [F, 3, 4]
        # perspective-correct weights l: sum l_k (x_k - px w_k) = 0, sum l_k (y_k - py w_k) = 0, sum l_k = 1
        rows_x = c[None, None, :, :, 0] - xs[..., None, None] * c[None, None, :, :, 3]  # [H, W, F, 3]
        rows_y = c[None, None, :, :, 1] - ys[..., None, None] * c[None, None, :, :, 3]
        system = torch.stack([rows_x, rows_y, torch.ones_like(rows_x)], dim=-2)  # [H, W, F, 3, 3]
        ok = torch.linalg.det(system).abs() > 1e-12
        rhs = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(system.shape[:-1])
        lam = torch.linalg.solve(torch.where(ok[..., None, None], system, torch.eye(3, dtype=torch.float64)), rhs)
        zw = (lam * c[None, None, :, :, 2]).sum(-1) / (lam * c[None, None, :, :, 3]).sum(-1)
        inside = ok & (lam >= 0).all(-1) & (zw >= -1) & (zw <= 1)
        zw = torch.where(inside, zw, torch.inf)
        best = zw.argmin(-1)  # [H, W]
        hit = torch.isfinite(zw.min(-1).values)
        lam_best = torch.gather(lam, 2, best[..., None, None].expand(h, w, 1, 3))[:, :, 0]
        rast = torch.stack([lam_best[..., 0], lam_best[..., 1], zw.min(-1).values, best.double() + 1], dim=-1)
        return torch.where(hit[..., None], rast, 0.0).float()[None], None


def test_nvdiffrast_backend_conversions_against_a_reference_gl_rasterizer(cpu):
    torch = pytest.importorskip("torch")
    from latentgen.render.nvdiffrast import NvdiffrastRasterizer

    backend = NvdiffrastRasterizer.__new__(NvdiffrastRasterizer)  # skip the CUDA context: CPU tensors, fake nvdiffrast
    backend.device, backend._ctx, backend._dr, backend._torch = torch.device("cpu"), None, _ReferenceGL, torch
    mesh = trimesh.creation.icosphere(subdivisions=1)
    mesh.vertices[:, 0] *= 1.5  # not symmetric under flips or transposes
    for projection in ("perspective", "orthographic"):
        camera = orbit_camera(25, 15, 3.2, size=32, projection=projection, ortho_scale=2.4)
        camera = Camera(camera.c2w, width=40, height=32, projection=projection, ortho_scale=2.4, fov_deg=50)
        a, b = cpu.rasterize(mesh.vertices, mesh.faces, camera), backend.rasterize(mesh.vertices, mesh.faces, camera)
        check_invariants(b, 32, 40)
        same = (a.face_id == b.face_id) & a.mask
        assert (a.mask != b.mask).sum() <= 2 and same.sum() >= a.mask.sum() - 2
        np.testing.assert_allclose(b.bary[same], a.bary[same], atol=1e-5)
        np.testing.assert_allclose(b.depth[same], a.depth[same], rtol=1e-5)
    uv = mesh.vertices[:, :2] * 0.3 + 0.5  # a planar projection: overlapping front and back faces
    a, b = cpu.rasterize_uv(uv, mesh.faces, 24), backend.rasterize_uv(uv, mesh.faces, 24)
    assert (a.face_id != b.face_id).sum() <= 3  # the lower face id wins overlaps in both
    same = (a.face_id == b.face_id) & a.mask
    np.testing.assert_allclose(b.bary[same], a.bary[same], atol=1e-5)
    np.testing.assert_array_equal(b.depth[b.mask], 0.0)


def test_corner_normals_keep_hard_edges_and_smooth_across_seams():
    box = trimesh.creation.box()
    np.testing.assert_allclose(corner_normals(box.vertices, box.faces), np.repeat(box.face_normals[:, None], 3, 1))
    sphere = trimesh.creation.icosphere(subdivisions=3)
    smooth = corner_normals(sphere.vertices, sphere.faces)  # a unit sphere: normal = position
    np.testing.assert_allclose(smooth, sphere.vertices[sphere.faces], atol=0.02)
    # every face with its own three vertices, as after splitting all UV seams: welded back by position
    split = corner_normals(
        sphere.vertices[sphere.faces].reshape(-1, 3), np.arange(3 * len(sphere.faces)).reshape(-1, 3)
    )
    np.testing.assert_allclose(split, smooth, atol=1e-6)
