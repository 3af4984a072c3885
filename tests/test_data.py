"""Procedural training data: exact SDFs, shape families, samples, conditioning images and the dataset folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from latentgen.data import (
    FAMILIES,
    DatasetConfig,
    Part,
    RenderConfig,
    SampleConfig,
    Shape,
    ShapeDataset,
    build_dataset,
    input_camera,
    make_shape,
    render_shape,
    sample_shape,
)
from latentgen.data import sdf as S
from latentgen.data.sampling import extract_mesh, project_to_surface, sdf_grid
from latentgen.data.sdf_jit import compile_sdf
from latentgen.errors import ConfigError

# ----------------------------------------------------------------------------------------------------------------
# Brute-force references: distance to a dense triangle mesh, and its generalised winding number


def mesh_distance(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Unsigned distance from points [P, 3] to triangles [F, 3, 3] (exact point-triangle distance, brute force)."""
    out = np.empty(len(points))
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    n = np.cross(b - a, c - a)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    for i in range(0, len(points), 32):
        p = points[i : i + 32, None, :]  # [p, 1, 3]
        h = ((p - a) * n).sum(-1)  # signed height over each plane [p, F]
        q = p - h[..., None] * n  # projection onto the plane
        inside = np.ones(h.shape, bool)
        for u, v in ((a, b), (b, c), (c, a)):
            inside &= (np.cross(v - u, q - u) * n).sum(-1) >= 0
        best = np.where(inside, np.abs(h), np.inf)
        for u, v in ((a, b), (b, c), (c, a)):
            e = v - u
            t = np.clip(((p - u) * e).sum(-1) / (e * e).sum(-1), 0, 1)
            best = np.minimum(best, np.linalg.norm(p - (u + t[..., None] * e), axis=-1))
        out[i : i + 32] = best.min(1)
    return out


def winding_number(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Generalised winding number of a closed mesh at points [P] (about +-1 inside, 0 outside)."""
    out = np.empty(len(points))
    for i in range(0, len(points), 32):
        a, b, c = (tri[None, :, k] - points[i : i + 32, None] for k in range(3))
        la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
        num = (a * np.cross(b, c)).sum(-1)
        den = la * lb * lc + (a * b).sum(-1) * lc + (a * c).sum(-1) * lb + (b * c).sum(-1) * la
        out[i : i + 32] = 2 * np.arctan2(num, den).sum(1) / (4 * np.pi)
    return out


def signed_mesh_distance(points: np.ndarray, mesh: trimesh.Trimesh) -> np.ndarray:
    tri = mesh.triangles
    return np.where(np.abs(winding_number(points, tri)) > 0.5, -1, 1) * mesh_distance(points, tri)


Y_UP = trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0])  # trimesh revolves about +Z; ours about +Y


def revolved(profile: list[tuple[float, float]], sections: int = 128) -> trimesh.Trimesh:
    return trimesh.creation.revolve(np.asarray(profile, float), sections=sections, transform=Y_UP)


def prism(poly: np.ndarray, half_depth: float) -> trimesh.Trimesh:
    """Convex polygon (fan-triangulated) extruded over z in [-h, h]."""
    fan = np.array([[0, k, k + 1] for k in range(1, len(poly) - 1)])
    down = trimesh.transformations.translation_matrix([0, 0, -half_depth])
    return trimesh.creation.extrude_triangulation(poly, fan, 2 * half_depth, transform=down)


def axis_frame(a, b) -> np.ndarray:
    """4x4 transform taking +Y to the direction a->b and the origin to a."""
    u = (np.asarray(b, float) - a) / np.linalg.norm(np.asarray(b, float) - a)
    m = np.eye(4)
    m[:3, :3] = S.rotation(np.cross([0, 1, 0], u), np.degrees(np.arccos(np.clip(u[1], -1, 1))))
    m[:3, 3] = a
    return m


HEX = np.array([(0.3 * np.cos(t), 0.2 * np.sin(t)) for t in np.radians(np.arange(0, 360, 60))])
R30 = S.rotation([1, 2, 0.5], 30)
CASES = {
    # name: (our SDF, an independent dense mesh of the same solid)
    "sphere": (S.Sphere(0.6, (0.1, 0, 0)), trimesh.creation.icosphere(4, 0.6).apply_translation((0.1, 0, 0))),
    "box": (S.Box((0.5, 0.3, 0.2)), trimesh.creation.box((1.0, 0.6, 0.4))),
    "capsule": (
        S.Capsule((0, -0.3, 0), (0, 0.4, 0), 0.2),
        trimesh.creation.capsule(0.7, 0.2, count=[64, 48]).apply_transform(Y_UP).apply_translation((0, 0.05, 0)),
    ),
    "tilted cylinder": (
        S.Cylinder((-0.3, -0.2, 0.1), (0.4, 0.3, -0.2), 0.25),
        trimesh.creation.cylinder(0.25, sections=128, segment=[(-0.3, -0.2, 0.1), (0.4, 0.3, -0.2)]),
    ),
    "frustum": (
        S.Cone((0.1, -0.4, 0), (-0.1, 0.4, 0.2), 0.35, 0.1),
        revolved([(0, 0), (0.35, 0), (0.1, np.sqrt(0.04 + 0.64 + 0.04)), (0, np.sqrt(0.72))]).apply_transform(
            axis_frame((0.1, -0.4, 0), (-0.1, 0.4, 0.2))
        ),
    ),
    "torus": (S.Torus(0.5, 0.15), trimesh.creation.torus(0.5, 0.15, 80, 40).apply_transform(Y_UP)),
    "lathe (vase profile)": (
        S.Revolve([(0, -0.5), (0.3, -0.5), (0.45, -0.1), (0.2, 0.3), (0.25, 0.5), (0, 0.5)]),
        revolved([(0, -0.5), (0.3, -0.5), (0.45, -0.1), (0.2, 0.3), (0.25, 0.5), (0, 0.5)]),
    ),
    "lathe (tube profile)": (
        S.Revolve([(0.3, -0.2), (0.5, -0.2), (0.5, 0.2), (0.3, 0.2)]),
        revolved([(0.3, -0.2), (0.5, -0.2), (0.5, 0.2), (0.3, 0.2), (0.3, -0.2)]),
    ),
    "extruded hexagon": (S.Extrude(HEX, 0.25), prism(HEX, 0.25)),
    "ellipsoid": (S.Ellipsoid((0.6, 0.3, 0.2)), trimesh.creation.icosphere(4, 1.0).apply_scale((0.6, 0.3, 0.2))),
    "rotated, moved, scaled box": (
        S.Box((0.3, 0.2, 0.1)).rotate(R30).translate((0.1, -0.2, 0.05)).scale(1.5),
        trimesh.creation.box((0.6, 0.4, 0.2))
        .apply_transform(np.pad(R30, (0, 1)) + np.diag([0, 0, 0, 1]))
        .apply_translation((0.1, -0.2, 0.05))
        .apply_scale(1.5),
    ),
    "mirrored sphere": (
        S.Sphere(0.2, (0.4, 0, 0)).mirror("x"),
        trimesh.util.concatenate(
            [trimesh.creation.icosphere(3, 0.2).apply_translation((s, 0, 0)) for s in (0.4, -0.4)]
        ),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_primitive_sdf_is_the_exact_distance_to_its_surface(name):
    node, mesh = CASES[name]
    rng = np.random.default_rng(0)
    lo, hi = node.lo, node.hi
    pad = 0.3 * (hi - lo)
    far = rng.uniform(lo - pad, hi + pad, (64, 3))
    near = mesh.sample(64, seed=1) + rng.normal(0, 0.02, (64, 3))
    p = np.concatenate([far, near])
    # the reference mesh is a polygonal approximation: allow its own deviation from the true surface
    chords = np.concatenate([mesh.triangles_center, mesh.vertices[mesh.edges_unique].mean(1)])
    tol = 1.5 * np.abs(node(chords)).max() + 1e-6
    ours, ref = node(p), signed_mesh_distance(p, mesh)
    assert np.abs(ours - ref).max() <= tol, (name, np.abs(ours - ref).max(), tol)
    assert tol < 2e-3  # the comparison means something: the reference mesh is dense


def test_round_box_is_a_box_offset_by_its_radius():
    node = S.RoundBox((0.5, 0.3, 0.2), 0.1)
    inner = S.Box((0.4, 0.2, 0.1))
    p = np.random.default_rng(1).uniform(-1, 1, (500, 3))
    np.testing.assert_allclose(node(p), inner(p) - 0.1)
    assert np.allclose(node.bounds[1], (0.5, 0.3, 0.2))


def test_polygon_sdf_handles_non_convex_outlines():
    star = np.array(
        [
            (np.cos(t) * r, np.sin(t) * r)
            for t, r in zip(np.linspace(0, 2 * np.pi, 10, endpoint=False), [1, 0.4] * 5, strict=True)
        ]
    )
    q = np.random.default_rng(2).uniform(-1.2, 1.2, (400, 2))
    d = S.polygon_sdf(q, star)
    seg_a, seg_b = star, np.roll(star, -1, 0)
    t = np.clip(((q[:, None] - seg_a) * (seg_b - seg_a)).sum(-1) / ((seg_b - seg_a) ** 2).sum(-1), 0, 1)
    dist = np.linalg.norm(q[:, None] - (seg_a + t[..., None] * (seg_b - seg_a)), axis=-1).min(1)
    ang = np.arctan2(*(star[None] - q[:, None]).transpose(2, 0, 1)[::-1])  # winding angle sum: inside iff 2 pi
    turn = np.angle(np.exp(1j * (np.roll(ang, -1, 1) - ang))).sum(1)
    np.testing.assert_allclose(np.abs(d), dist, atol=1e-12)
    assert ((d < 0) == (np.abs(turn) > np.pi)).all()


def test_csg_keeps_the_exact_sign_and_never_overstates_distance():
    a, b = S.Box((0.4, 0.3, 0.3)), S.Sphere(0.35, (0.3, 0.1, 0))
    rng = np.random.default_rng(3)
    p = rng.uniform(-1, 1, (4000, 3))
    q = np.concatenate([rng.uniform(-1, 1, (2000, 3)), p[2000:] + rng.normal(0, 0.01, (2000, 3))])  # far and near
    ins_a, ins_b = a(p) < 0, b(p) < 0
    cases = {"union": (a | b, ins_a | ins_b), "subtract": (a - b, ins_a & ~ins_b), "intersect": (a & b, ins_a & ins_b)}
    for name, (node, inside) in cases.items():
        assert ((node(p) < 0) == inside).all(), name
        # 1-Lipschitz, so |sdf| is a lower bound of the distance to the zero set
        assert (np.abs(node(p) - node(q)) <= np.linalg.norm(p - q, axis=1) + 1e-12).all(), name
    smooth = S.SmoothUnion(a, b, 0.1)
    assert (smooth(p) <= np.minimum(a(p), b(p)) + 1e-12).all()  # blends only add material
    assert (np.abs(smooth(p) - smooth(q)) <= np.linalg.norm(p - q, axis=1) + 1e-12).all()
    outside = (a | b)(p) > 0
    np.testing.assert_allclose((a | b)(p)[outside], np.minimum(a(p), b(p))[outside])  # union: exact outside


def test_mirror_refuses_a_child_that_straddles_the_plane():
    with pytest.raises(ValueError, match="Mirror"):
        S.Sphere(0.2, (0.1, 0, 0)).mirror("x")


def test_compiled_evaluation_equals_the_numpy_reference():
    rng = np.random.default_rng(4)
    for family in FAMILIES:
        shape = make_shape(family, 3)
        p = rng.uniform(-1, 1, (300, 3))
        near = p * 0.9 * np.abs(shape.sdf(p))[:, None].clip(0, 1)  # pull some points towards the object
        p = np.concatenate([p, near])
        np.testing.assert_allclose(shape.sdf(p), shape.sdf_reference(p), rtol=0, atol=1e-9, err_msg=family)
        ref_index = shape._root.evaluate(shape._local(p))[1]
        assert (shape.part_index(p) == ref_index).all(), family


def test_compiled_sdf_covers_every_node_type():
    node = S.SmoothUnion(S.Ellipsoid((0.3, 0.2, 0.25)), S.Shell(S.Torus(0.4, 0.1), 0.02), 0.05) - S.HalfSpace(
        (0, 1, 0), 0.1
    )
    p = np.random.default_rng(5).uniform(-0.8, 0.8, (3000, 3))
    np.testing.assert_allclose(compile_sdf(node)(p), node(p), atol=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# Families


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_gives_a_closed_normalised_shape_with_all_parts_visible(family):
    for seed in range(5):
        shape = make_shape(family, seed)
        assert (shape.lo >= -0.9 - 1e-9).all() and (shape.hi <= 0.9 + 1e-9).all()
        assert np.isclose((shape.hi - shape.lo).max(), 1.8)
    for seed, res in ((0, 128), (1, 64)):
        shape = make_shape(family, seed)
        verts, faces, _ = extract_mesh(shape.sdf, res)
        mesh = trimesh.Trimesh(verts, faces, process=False)
        assert mesh.is_watertight and mesh.volume > 0.01
        assert np.abs(verts).max() <= 0.9 + 2 / res  # marching cubes stays within a lattice cell of the shape
        assert np.ptp(verts, axis=0).max() > 0.9 * 1.8  # the normalisation box is tight
        if res == 128:  # fine enough for the thinnest parts (>= 2 cells by design)
            on_surface = mesh.sample(3000, seed=0)
            seen = np.unique(shape.part_index(on_surface))
            assert len(seen) == len(shape.parts), f"{family} {seed}: parts lost by the mesh"
            colors = shape.color(on_surface)
            assert colors.shape == (3000, 3) and colors.min() >= 0 and colors.max() <= 1


def test_machined_parts_have_through_holes_and_thin_plates():
    # what the everyday families do not teach the autoencoder: shapes empty at their centre (rings, holed discs)
    # and plates much thinner than they are wide, as in the CAD meshes people encode
    shapes = [make_shape("part", seed) for seed in range(40)]

    def holes(shape) -> int:  # through-holes = genus of the closed surface, summed over its pieces
        verts, faces, _ = extract_mesh(shape.sdf, 64)
        pieces = trimesh.Trimesh(verts, faces).split(only_watertight=False)
        return sum(max(0, (2 - p.euler_number) // 2) for p in pieces)

    holed = [s for s in shapes if holes(s) > 0]  # 29 of these 40 (8 without the drilled holes, 21 without bores)
    thin = [s for s in shapes if np.sort(s.hi - s.lo)[0] < 0.25 * 1.8]
    assert len(holed) >= 25 and len(thin) >= 5
    probe = np.random.default_rng(0).uniform(-0.9, 0.9, (500, 3))
    assert len({(s.sdf(probe) < 0).tobytes() for s in shapes}) == len(shapes)  # no two alike


def test_shapes_are_deterministic_per_family_and_seed():
    p = np.random.default_rng(6).uniform(-1, 1, (2000, 3))
    for family in ("chair", "car", "vase"):
        a, b, c = make_shape(family, 11), make_shape(family, 11), make_shape(family, 12)
        assert np.array_equal(a.sdf(p), b.sdf(p)) and np.array_equal(a.color(p), b.color(p))
        assert not np.allclose(a.sdf(p), c.sdf(p))


def test_posed_shape_is_the_canonical_one_rotated():
    canon, posed = make_shape("chair", 2), make_shape("chair", 2, yaw_deg=90)
    assert (posed.lo >= -0.9 - 1e-9).all() and (posed.hi <= 0.9 + 1e-9).all()
    p = np.random.default_rng(7).uniform(-0.5, 0.5, (1000, 3))
    # yaw 90: the front (+z) turns to +x; compare in authoring units, where the two must agree exactly
    R = S.rotation("y", 90)
    local = canon._local(p)
    posed_world = posed.scale * (local @ R.T - posed.center)
    np.testing.assert_allclose(posed.sdf(posed_world) / posed.scale, canon.sdf(p) / canon.scale, atol=1e-12)


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown shape family"):
        make_shape("spaceship", 0)


# ----------------------------------------------------------------------------------------------------------------
# Samples

SMALL = SampleConfig(n_surface=3000, n_sharp=1000, n_uniform=2000, n_near=4000)


def test_sparse_grid_matches_dense_evaluation_near_the_surface():
    shape = make_shape("mug", 1)
    grid = sdf_grid(shape.sdf, 64)
    x = np.linspace(-1, 1, 65)
    dense = shape.sdf(np.stack(np.meshgrid(x, x, x, indexing="ij"), -1).reshape(-1, 3)).reshape(grid.shape)
    assert (np.sign(grid) == np.sign(dense)).all()
    band = np.abs(dense) < 2 / 64
    np.testing.assert_allclose(grid[band], dense[band], atol=1e-6)


def test_surface_samples_lie_on_the_zero_level_set_with_outward_normals():
    shape = make_shape("stool", 5)
    s = sample_shape(shape.sdf, SMALL, seed=0)
    assert s.surface.shape == (3000, 6) and s.sharp.shape == (1000, 6)
    for pts in (s.surface, s.sharp):
        assert np.abs(shape.sdf(pts[:, :3].astype(np.float64))).max() < 1e-4
        n = pts[:, 3:]
        np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1, atol=1e-5)
        outside = shape.sdf(pts[:, :3] + 0.003 * n)
        inside = shape.sdf(pts[:, :3] - 0.003 * n)
        assert np.mean((outside > 0) & (inside < 0)) > 0.97  # stepping along the normal leaves the solid


def test_projection_converges_from_off_surface_points():
    node = S.Box((0.3, 0.2, 0.25)) - S.Sphere(0.2, (0.3, 0.2, 0.0))
    p0 = np.random.default_rng(8).uniform(-0.5, 0.5, (2000, 3))
    p, n, ok = project_to_surface(node, p0)
    assert ok.mean() > 0.99 and np.abs(node(p[ok])).max() < 1e-6


def test_sharp_samples_sit_on_the_edges_of_a_box():
    half = np.array([0.7, 0.5, 0.3])
    shape = Shape("box", 0, [Part("box", S.Box(half), (0.5, 0.5, 0.5))])
    half = half * shape.scale
    s = sample_shape(shape.sdf, SMALL, seed=1)
    assert s.n_sharp_found == len(s.sharp)
    q = np.abs(s.sharp[:, :3]) - half  # distance to the nearest edge: the two smallest |coordinate gaps|
    gaps = np.sort(np.abs(q), axis=1)
    assert np.mean(np.linalg.norm(gaps[:, :2], axis=1) < 2 * 2 / 128) > 0.95
    # uniform surface samples mostly lie on faces, away from edges
    gaps_u = np.sort(np.abs(np.abs(s.surface[:, :3]) - half), axis=1)
    assert np.mean(np.linalg.norm(gaps_u[:, :2], axis=1) < 2 * 2 / 128) < 0.2


def test_query_labels_are_exact_signed_distances_at_the_stored_points():
    shape = make_shape("lamp", 2)
    s = sample_shape(shape.sdf, SMALL, seed=2)
    assert s.points.dtype == np.float32 and s.points.shape == (6000, 3)
    np.testing.assert_array_equal(s.sdf, shape.sdf(s.points.astype(np.float64)).astype(np.float32))
    assert (s.occupancy == (s.sdf < 0)).all()
    uniform, near = s.sdf[:2000], s.sdf[2000:]
    assert np.median(np.abs(near)) < 0.02 < np.median(np.abs(uniform))
    assert 0.05 < s.occupancy.mean() < 0.6


def test_samples_are_deterministic_per_seed():
    shape = make_shape("robot", 0)
    a, b, c = (sample_shape(shape.sdf, SMALL, seed=k) for k in (3, 3, 4))
    assert np.array_equal(a.surface, b.surface) and np.array_equal(a.points, b.points)
    assert not np.array_equal(a.surface, c.surface)


# ----------------------------------------------------------------------------------------------------------------
# Images


def traced_silhouette(shape: Shape, camera) -> np.ndarray:
    """Ground-truth mask of an orthographic view: sphere-trace the exact SDF from each pixel centre along the
    viewing direction (valid because the SDF never overstates the distance to the surface)."""
    f = camera.focal_px()  # pixels per world unit
    j, i = np.meshgrid(np.arange(camera.width) + 0.5, np.arange(camera.height) + 0.5)
    x, y = (j.ravel() - camera.width / 2) / f, (camera.height / 2 - i.ravel()) / f
    right, up = camera.c2w[:3, 0], camera.c2w[:3, 1]
    origin = camera.position + x[:, None] * right + y[:, None] * up
    hit = np.zeros(len(origin), bool)
    live = np.arange(len(origin))
    t = np.full(len(origin), camera.near)
    for _ in range(400):
        d = shape.sdf(origin[live] + t[:, None] * camera.forward)
        hit[live[d < 1e-3]] = True
        t = t + np.maximum(d, 4e-3)  # the floor only skips slivers far thinner than any part
        keep = (d >= 1e-3) & (t < camera.far)
        live, t = live[keep], t[keep]
        if not live.size:
            break
    return hit.reshape(camera.height, camera.width)


@pytest.mark.parametrize(("family", "framing"), [("chair", "fit"), ("mug", "fit"), ("house", "fixed")])
def test_render_silhouette_matches_the_orthographic_projection(family, framing):
    shape = make_shape(family, 4)
    verts, faces, normals = extract_mesh(shape.sdf, 128)
    camera = input_camera(verts, 96, framing=framing)
    image = render_shape(shape, verts, faces, normals, camera, supersample=1)
    assert image.shape == (96, 96, 4) and image.dtype == np.uint8
    mask, truth = image[..., 3] > 127, traced_silhouette(shape, camera)
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.96, iou


def test_fit_framing_is_the_input_camera_of_latentgen_views():
    from latentgen import views

    shape = make_shape("car", 2)
    verts, faces, normals = extract_mesh(shape.sdf, 128)
    camera = input_camera(verts, 128)
    alpha = render_shape(shape, verts, faces, normals, camera, supersample=1)[..., 3]
    x0, x1, y0, y1 = views.mask_bbox(alpha)
    assert max(x1 - x0, y1 - y0) == pytest.approx(128 * (1 - views.BORDER_RATIO), abs=1.5)  # recentred framing
    recovered = views.input_camera(verts, alpha)  # what paint / bake would assume for this picture
    assert recovered.ortho_scale == pytest.approx(camera.ortho_scale, rel=0.02)
    pixel = camera.ortho_scale / 128
    assert np.abs(recovered.position[:2] - camera.position[:2]).max() < 1.5 * pixel
    np.testing.assert_allclose(recovered.c2w[:3, :3], camera.c2w[:3, :3], atol=1e-9)


def test_conditioning_images_are_rgba_on_transparent_background():
    from latentgen.data import render_conditioning

    shape = make_shape("bottle", 1)
    s = sample_shape(shape.sdf, SMALL, seed=0)
    rng = np.random.default_rng(0)
    image, camera = render_conditioning(
        shape, s.mesh_vertices, s.mesh_faces, s.mesh_normals, rng, RenderConfig(size=96)
    )
    alpha = image[..., 3]
    assert image.shape == (96, 96, 4)
    assert alpha[0].max() == 0 and alpha[-1].max() == 0 and alpha[:, 0].max() == 0 and alpha[:, -1].max() == 0
    assert 0.05 < (alpha > 0).mean() < 0.6
    assert ((alpha > 0) & (alpha < 255)).any()  # anti-aliased edges
    assert camera.projection == "orthographic" and np.degrees(np.arccos(camera.forward @ [0, 0, -1])) < 8


# ----------------------------------------------------------------------------------------------------------------
# Dataset folder


def tiny_config(**kw) -> DatasetConfig:
    return DatasetConfig(
        families=("mug", "table"),
        train_per_family=2,
        heldout_per_family=1,
        images_per_shape=2,
        sample=SampleConfig(n_surface=500, n_sharp=100, n_uniform=300, n_near=600, grid_res=64),
        render=RenderConfig(size=64, supersample=1),
        **kw,
    )


def test_dataset_folder_is_built_resumed_and_read(tmp_path):
    root = tmp_path / "ds"
    seen = []
    index = build_dataset(root, tiny_config(), progress=lambda phase, f: seen.append(f))
    assert seen[-1] == 1.0 and len(index["items"]) == 6
    assert json.loads((root / "index.json").read_text()) == index
    train = [it for it in index["items"] if it["split"] == "train"]
    held = [it for it in index["items"] if it["split"] == "heldout"]
    assert {it["seed"] for it in train}.isdisjoint({it["seed"] for it in held})
    for it in index["items"]:
        assert (root / it["npz"]).is_file() and all((root / p).is_file() for p in it["images"])
    with np.load(root / train[0]["npz"]) as z:
        assert z["surface"].shape == (500, 6) and z["points"].shape == (900, 3)
        assert z["cameras"].shape == (2, 4, 4) and z["ortho_scales"].shape == (2,)
        assert str(z["family"]) == train[0]["family"]
    # resuming rebuilds nothing: files keep their modification times
    stamp = {p: p.stat().st_mtime_ns for p in root.rglob("*.npz")}
    (root / train[1]["npz"]).unlink()  # an interrupted build: one shape missing
    seen.clear()
    build_dataset(root, tiny_config(), progress=lambda phase, f: seen.append(f))
    assert seen[0] == pytest.approx(5 / 6)
    assert all(p.stat().st_mtime_ns == t for p, t in stamp.items() if p.name != train[1]["npz"].split("/")[-1])
    with pytest.raises(ConfigError, match="another config"):
        build_dataset(root, tiny_config(max_object_yaw_deg=30))

    ds = ShapeDataset(root, "train", n_surface=200, n_sharp=50, n_queries=300)
    assert len(ds) == 4 and len(ShapeDataset(root, "heldout")) == 2
    item = ds[0]
    assert tuple(item["surface"].shape) == (200, 6) and tuple(item["sharp"].shape) == (50, 6)
    assert tuple(item["points"].shape) == (300, 3) and tuple(item["image"].shape) == (64, 64, 4)
    assert ((item["sdf"] < 0) == item["occupancy"].bool()).all()
    assert ds.families[item["family"]] == "mug"
