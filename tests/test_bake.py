"""bake: views -> UV texture. Round trips (render a coloured mesh, bake the renders onto a fresh unwrap, render
again), output files, and refusal of bad inputs."""

from __future__ import annotations

import importlib
import json
from dataclasses import replace

import numpy as np
import pytest
import trimesh
from PIL import Image

from latentgen.artifacts import View, ViewSet, load_viewset, save_viewset
from latentgen.bake import BakeOptions, UnwrapOptions, bake, pull_push, trusted_pixels, unwrap
from latentgen.camera import Camera, orbit_camera
from latentgen.errors import InputError
from latentgen.export import write_mesh
from latentgen.meshio import has_texture, load_mesh, normalize_unit_cube, save_ply
from latentgen.render import get_rasterizer, interpolate, render_mesh
from latentgen.views import CANONICAL_VIEWS, canonical_cameras

from .conftest import EXAMPLES, validate_glb

RASTER = get_rasterizer("cpu")
MAGENTA = (255, 0, 255)  # background of the test renders: a texel of this colour was never textured


def textured_spot() -> trimesh.Trimesh:
    return normalize_unit_cube(load_mesh(EXAMPLES / "spot" / "spot.obj"))[0]


def striped_torus() -> trimesh.Trimesh:
    """A ring (it hides parts of itself from every side view) with stripes and rings in its vertex colours."""
    torus = trimesh.creation.torus(major_radius=0.7, minor_radius=0.28, major_sections=160, minor_sections=48)
    torus.apply_transform(trimesh.transformations.rotation_matrix(0.5, [1, 0, 0]))
    v = torus.vertices
    angle = np.arctan2(v[:, 2], v[:, 0])
    rgb = np.stack([0.5 + 0.4 * np.sin(6 * angle), 0.6 + 0.3 * np.cos(5 * v[:, 1] + angle), 0.3 + 0.5 * (v[:, 0] > 0)])
    torus.visual = trimesh.visual.ColorVisuals(torus, vertex_colors=(rgb.T * 255).astype(np.uint8))
    return torus


def checkered_torus(size: int = 1024) -> trimesh.Trimesh:
    """The ring with a procedural texture: a soft-edged 3D checker (solid texture) painted into its own UV atlas."""
    torus = striped_torus()
    uvm = unwrap(torus.vertices, torus.faces, size, UnwrapOptions())
    frags = RASTER.rasterize_uv(uvm.uv, uvm.faces, size)
    p = interpolate(torus.vertices[uvm.vmap], frags)  # [T, T, 3] surface point of each texel
    cells = np.tanh(30 * np.sin(12 * p[..., 0]) * np.sin(12 * p[..., 1] + 1) * np.sin(12 * p[..., 2]))
    rgb = np.stack([0.55 + 0.4 * cells, 0.45 + 0.2 * np.sin(40 * p[..., 1]), 0.5 - 0.35 * cells], -1)
    rgb = pull_push(rgb.astype(np.float32), frags.face_id >= 0)
    image = Image.fromarray((rgb * 255).round().astype(np.uint8))
    material = trimesh.visual.material.SimpleMaterial(image=image)
    visual = trimesh.visual.TextureVisuals(uv=uvm.uv, material=material)
    return trimesh.Trimesh(torus.vertices[uvm.vmap], uvm.faces, visual=visual, process=False)


def rendered_views(mesh: trimesh.Trimesh, size: int) -> ViewSet:
    """The six canonical views of the mesh's own colours, background magenta with alpha 0."""
    views = []
    for spec, cam in zip(CANONICAL_VIEWS, canonical_cameras(mesh.vertices, size), strict=True):
        views.append(View(cam, render_mesh(mesh, cam, RASTER, background=MAGENTA, lit=False), weight=spec.weight,
                          name=spec.name))  # fmt: skip
    return ViewSet(views)


def psnr_per_view(baked: trimesh.Trimesh, views: ViewSet) -> list[float]:
    out = []
    for v in views.views:
        again = render_mesh(baked, v.camera, RASTER, background=MAGENTA, lit=False)
        covered = (v.color[..., 3] > 0) & (again[..., 3] > 0)
        err = again[..., :3].astype(np.float64)[covered] - v.color[..., :3][covered]
        out.append(10 * np.log10(255.0**2 / max(float((err**2).mean()), 1e-12)))
    return out


def chart_texels(mesh: trimesh.Trimesh) -> np.ndarray:
    """[N, 3] uint8 texture colours of the texels covered by the mesh's UV charts."""
    tex = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB"))
    frags = RASTER.rasterize_uv(mesh.visual.uv, mesh.faces, tex.shape[0])
    return tex[frags.face_id >= 0]


@pytest.mark.parametrize("make", [textured_spot, checkered_torus], ids=["spot", "procedural-torus"])
def test_round_trip_reproduces_the_views(make):
    mesh = make()
    views = rendered_views(mesh, 512)
    baked = bake(mesh, views, BakeOptions(texture_size=1024, faces=None, rasterizer="cpu"))
    assert has_texture(baked) and len(baked.faces) == len(mesh.faces)
    assert baked.visual.material.metallicFactor == 0.0 and baked.visual.material.roughnessFactor == 0.8
    psnr = psnr_per_view(baked, views)
    assert min(psnr) >= 30.0, psnr
    texels = chart_texels(baked).astype(int)
    assert (np.abs(texels - MAGENTA).max(axis=1) > 60).all()  # no texel took the background's colour
    assert baked.metadata["bake"]["seen_texels"] > 0.9


def test_perspective_views_bake_too():
    mesh = textured_spot()
    cams = [
        orbit_camera(az, el, 4.0, size=384, fov_deg=35)
        for az, el in [(0, 10), (120, 10), (240, 10), (60, 60), (0, -60)]
    ]
    views = ViewSet([View(c, render_mesh(mesh, c, RASTER, background=MAGENTA, lit=False)) for c in cams])
    baked = bake(mesh, views, BakeOptions(texture_size=1024, faces=None, rasterizer="cpu"))
    assert min(psnr_per_view(baked, views)) >= 28.0  # equal weights, fewer views: a little below the canonical set


def test_bake_decimates_first_and_leaves_the_input_alone():
    mesh = textured_spot()
    before = (mesh.vertices.copy(), mesh.faces.copy(), mesh.visual.uv.copy())
    baked = bake(mesh, rendered_views(mesh, 256), BakeOptions(texture_size=256, faces=2000, rasterizer="cpu"))
    assert len(baked.faces) <= 2000 and has_texture(baked)
    assert baked.visual.material.baseColorTexture.size == (256, 256)
    assert all(np.array_equal(a, b) for a, b in zip(before, (mesh.vertices, mesh.faces, mesh.visual.uv), strict=True))


def test_unseen_surface_is_filled_from_what_the_views_saw():
    """Only the front view has colour: the rest of the surface takes colours spread from it, not black/background."""
    mesh = striped_torus()
    views = rendered_views(mesh, 256)
    only_front = ViewSet([views.views[0]] + [replace(v, color=None) for v in views.views[1:]])
    baked = bake(mesh, only_front, BakeOptions(texture_size=256, faces=None, rasterizer="cpu"))
    assert 0.2 < baked.metadata["bake"]["seen_texels"] < 0.7
    texels = chart_texels(baked).astype(int)
    assert (np.abs(texels - MAGENTA).max(axis=1) > 60).all() and (texels.sum(1) > 30).all()
    lo, hi = mesh.visual.vertex_colors[:, :3].min(0), mesh.visual.vertex_colors[:, :3].max(0)
    assert ((texels >= lo.astype(int) - 3) & (texels <= hi.astype(int) + 3)).all()  # only colours the mesh has


def test_outputs_validate_as_glb_and_write_as_obj(tmp_path):
    mesh = textured_spot()
    baked = bake(mesh, rendered_views(mesh, 256), BakeOptions(texture_size=256, faces=3000, roughness=0.6,
                                                              rasterizer="cpu"))  # fmt: skip
    glb = tmp_path / "spot.glb"
    write_mesh(baked, glb)
    report = validate_glb(glb)
    assert report["errors"] == 0, report["messages"]
    again = load_mesh(glb)
    assert has_texture(again) and len(again.faces) == len(baked.faces)
    write_mesh(baked, tmp_path / "spot.obj")
    assert {p.name for p in tmp_path.iterdir()} == {"spot.glb", "spot.obj", "spot.mtl", "spot_texture.png"}
    assert Image.open(tmp_path / "spot_texture.png").size == (256, 256)


def test_unwrap_packs_one_atlas_within_the_unit_square():
    sphere = trimesh.creation.icosphere(subdivisions=4)
    uvm = unwrap(sphere.vertices, sphere.faces, 512, UnwrapOptions())
    assert uvm.faces.shape == sphere.faces.shape and (uvm.uv >= 0).all() and (uvm.uv <= 1).all()
    assert np.allclose(sphere.vertices[uvm.vmap[uvm.faces]], sphere.vertices[sphere.faces])  # same triangles
    frags = RASTER.rasterize_uv(uvm.uv, uvm.faces, 512)
    assert (frags.face_id >= 0).mean() > 0.4  # charts use the texture


def test_trusted_pixels_erode_view_borders_and_depth_edges():
    """A 32 px square seen head-on whose right half is one unit farther (a step of 64 pixel widths)."""
    cam = Camera(np.eye(4), 64, 64, "orthographic", ortho_scale=1.0)
    depth = np.full((64, 64), np.inf, np.float32)
    depth[16:48, 16:48] = 1.0
    depth[16:48, 32:48] = 2.0

    def trusted_cols(t):
        return np.flatnonzero(t[25]).tolist()

    # no erosion: only the one-pixel rims (silhouette, both sides of the step) may mix colours and are cut
    assert trusted_cols(trusted_pixels(cam, depth, None, 0)) == [*range(17, 31), *range(33, 47)]
    # erode 2: two more pixels off the silhouette and around the far side of the step
    assert trusted_cols(trusted_pixels(cam, depth, None, 2)) == [*range(18, 30), *range(35, 46)]
    alpha = np.zeros((64, 64), np.uint8)
    alpha[20:44, 16:48] = 255  # the view's own mask is smaller than the mesh's silhouette: its border is eroded
    assert np.flatnonzero(trusted_pixels(cam, depth, alpha, 2)[:, 20]).tolist() == list(range(22, 42))


def test_unwrap_chart_options_change_the_atlas():
    torus = striped_torus()
    charts = {b: unwrap(torus.vertices, torus.faces, 512, UnwrapOptions(max_boundary=b)).chart.max() + 1
              for b in (0.2, 1.0)}  # fmt: skip
    assert charts[0.2] > 1.5 * charts[1.0]  # a shorter boundary limit cuts more charts
    with pytest.raises(InputError, match="--uv-padding 65"):
        UnwrapOptions(padding=65)
    with pytest.raises(InputError, match="--uv-max-cost 0"):
        UnwrapOptions(max_cost=0)


def test_cli_bake_passes_the_unwrap_options_on(cli, tmp_path, small_case, monkeypatch):
    mesh, views = small_case
    save_ply(mesh, tmp_path / "ring.ply")
    save_viewset(views, tmp_path / "ring.views")
    seen = []

    def spy(vertices, faces, texture_size, opts):
        seen.append(opts)
        return unwrap(vertices, faces, texture_size, opts)

    stage = importlib.import_module("latentgen.bake")  # the module: `latentgen.bake` is also the function
    monkeypatch.setattr(stage, "unwrap", spy)
    out = tmp_path / "ring.glb"
    args = ["--uv-max-boundary", "0.3", "--uv-max-cost", "1.5", "--uv-padding", "4", "--roughness", "0.5"]
    result = cli("bake", tmp_path / "ring.ply", tmp_path / "ring.views", "-o", out, "--texture-size", "128",
                 "--faces", "0", "--rasterizer", "cpu", *args)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert seen == [UnwrapOptions(max_boundary=0.3, max_cost=1.5, padding=4)]
    assert validate_glb(out)["errors"] == 0 and load_mesh(out).visual.material.roughnessFactor == 0.5


def test_pull_push_keeps_known_texels_and_fills_the_rest_smoothly():
    color = np.zeros((37, 53, 3), np.float32)
    known = np.zeros((37, 53), bool)
    known[5:10, 5:10], known[25:30, 40:45] = True, True
    color[5:10, 5:10], color[25:30, 40:45] = (1, 0, 0), (0, 0, 1)
    out = pull_push(color, known, dilate=2)
    assert np.array_equal(out[known], color[known])
    assert np.allclose(out[11, 7], (1, 0, 0)) and np.allclose(out[27, 46], (0, 0, 1))  # dilated rings
    assert np.allclose(out.sum(-1), 1, atol=1e-5) and np.isfinite(out).all()  # everything else: a blend of the two


# ---------------------------------------------------------------------------------------------------------------
# Bad inputs


@pytest.fixture(scope="module")
def small_case():
    mesh = striped_torus()
    return mesh, rendered_views(mesh, 128)


OPTS = BakeOptions(texture_size=128, faces=None, rasterizer="cpu")


def test_view_set_folders_with_missing_or_wrong_images_are_refused(tmp_path, small_case):
    mesh, views = small_case
    folder = tmp_path / "spot.views"
    save_viewset(views, folder)
    assert bake(mesh, load_viewset(folder), OPTS).visual.uv is not None  # the intact folder bakes

    (folder / "view_01.png").unlink()
    with pytest.raises(InputError, match="missing image"):
        load_viewset(folder)
    Image.new("RGBA", (64, 64)).save(folder / "view_01.png")
    with pytest.raises(InputError, match="64x64 but its camera says 128x128"):
        load_viewset(folder)
    doc = json.loads((folder / "views.json").read_text())
    doc["views"][1]["color"] = "../outside.png"
    (folder / "views.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match="plain file name inside the folder"):
        load_viewset(folder)


def test_bad_meshes_and_view_sets_are_refused(small_case):
    mesh, views = small_case
    empty = trimesh.Trimesh(mesh.vertices, np.zeros((0, 3), np.int64), process=False)
    with pytest.raises(InputError, match="no faces"):
        bake(empty, views, OPTS)
    fan = trimesh.Trimesh([[0, 0, 0], [0, 0, 1], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]],
                          [[0, 1, 2], [0, 1, 3], [0, 1, 4], [0, 1, 5]], process=False)  # fmt: skip
    with pytest.raises(InputError, match="not manifold"):
        bake(fan, views, OPTS)
    with pytest.raises(InputError, match="no coloured view"):
        bake(mesh, ViewSet([replace(v, color=None) for v in views.views]), OPTS)
    wrong = replace(views.views[0], color=views.views[0].color[:64])
    with pytest.raises(InputError, match="its camera is 128x128"):
        bake(mesh, ViewSet([wrong, *views.views[1:]]), OPTS)
    other = ViewSet(views.views, {"mesh_bounds": (mesh.bounds * 2).tolist()})
    with pytest.raises(InputError, match="different mesh"):
        bake(mesh, other, OPTS)
    with pytest.raises(InputError, match="texture-size"):
        BakeOptions(texture_size=8)
    with pytest.raises(InputError, match="roughness"):
        BakeOptions(roughness=1.5)


FAN_OBJ = "v 0 0 0\nv 0 0 1\nv 1 0 0\nv -1 0 0\nv 0 1 0\nv 0 -1 0\nf 1 2 3\nf 1 2 4\nf 1 2 5\nf 1 2 6\n"


def _break_views(folder, how: str) -> None:
    if how == "missing image":
        (folder / "view_01.png").unlink()
    elif how == "wrong-size image":
        Image.new("RGBA", (64, 48)).save(folder / "view_01.png")
    elif how == "image outside the folder":
        doc = json.loads((folder / "views.json").read_text())
        doc["views"][1]["color"] = "../ring.png"
        (folder / "views.json").write_text(json.dumps(doc))


BAD_CLI_CASES = {  # case -> (command, what to break, expected words of the error line)
    "bake: missing image": ("bake", "missing image", "missing image listed in views.json"),
    "bake: wrong-size image": ("bake", "wrong-size image", "64x48 but its camera says 128x128"),
    "bake: views.json points outside": ("bake", "image outside the folder", "plain file name inside the folder"),
    "bake: mesh without faces": ("bake", "no faces", "holds no triangle mesh"),
    "bake: non-manifold mesh": ("bake", "non-manifold", "not manifold"),
    "paint: mesh without faces": ("paint", "no faces", "holds no triangle mesh"),
    "paint: non-manifold mesh": ("paint", "non-manifold", "not manifold"),
    "paint: only degenerate faces": ("paint", "degenerate", "only degenerate faces"),
}


@pytest.mark.parametrize("case", list(BAD_CLI_CASES))
def test_cli_bad_inputs_are_one_line_exit_2_and_write_nothing(cli, tmp_path, small_case, case):
    command, how, words = BAD_CLI_CASES[case]
    mesh, views = small_case
    mesh_path = tmp_path / "ring.ply"
    save_ply(mesh, mesh_path)
    Image.fromarray(views.views[0].color).save(tmp_path / "ring.png")
    save_viewset(views, tmp_path / "ring.views")
    _break_views(tmp_path / "ring.views", how)
    if how == "no faces":
        mesh_path = tmp_path / "points.obj"
        mesh_path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    elif how == "non-manifold":
        mesh_path = tmp_path / "fan.obj"
        mesh_path.write_text(FAN_OBJ)
    elif how == "degenerate":
        mesh_path = tmp_path / "line.obj"
        mesh_path.write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    if command == "bake":
        args = [tmp_path / "ring.views", "-o", tmp_path / "out.glb", "--texture-size", "64"]
    else:
        args = [tmp_path / "ring.png", "-o", tmp_path / "out.views", "--view-size", "64"]
    result = cli(command, mesh_path, *args, "--rasterizer", "cpu")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and words in lines[0], result.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no output, no temp leftovers
