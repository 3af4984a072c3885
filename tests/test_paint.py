"""paint: mesh + picture -> view set, through the backend interface; projection backend end to end with bake."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from PIL import Image

from latentgen.artifacts import View, load_viewset, save_viewset
from latentgen.bake import BakeOptions, bake
from latentgen.errors import InputError
from latentgen.image import prepare_image
from latentgen.paint import BACKENDS, PaintOptions, PaintRequest, paint
from latentgen.render import get_rasterizer, render_mesh
from latentgen.views import CANONICAL_VIEWS, mirror_camera

from .test_views import front_picture, spot

RASTER = get_rasterizer("cpu")
OPTS = PaintOptions(view_size=256, rasterizer="cpu")


@pytest.fixture(scope="module")
def case():
    mesh = spot()
    photo, _ = front_picture(mesh, size=600)
    return mesh, photo


def test_projection_backend_returns_the_picture_and_geometry_views(case):
    mesh, photo = case
    views = paint(mesh, photo, OPTS)
    assert [v.name for v in views.views] == ["input", "right", "back", "left", "top", "bottom"]
    assert [v.weight for v in views.views] == [s.weight for s in CANONICAL_VIEWS]
    ref = views.views[0]
    assert ref.color.shape == (256, 256, 4) and ref.color.dtype == np.uint8
    assert ref.camera.projection == "orthographic" and np.allclose(ref.camera.forward, [0, 0, -1])
    for v in views.views:
        assert v.normal.shape == v.position.shape == (256, 256, 3) and v.normal.dtype == np.uint8
        assert (v.color is None) == (v.name != "input")
    assert views.meta["backend"] == "projection" and views.meta["input_silhouette_iou"] > 0.96
    np.testing.assert_allclose(views.meta["mesh_bounds"], mesh.bounds, atol=1e-5)


def test_mirror_uses_the_flipped_picture_as_the_back_view(case):
    mesh, photo = case
    views = paint(mesh, photo, PaintOptions(view_size=256, mirror=True, rasterizer="cpu"))
    ref, back = views.views[0], views.views[2]
    assert back.name == "back_mirrored" and back.weight == 0.5
    assert np.array_equal(back.color, ref.color[:, ::-1])
    assert np.allclose(back.camera.c2w, mirror_camera(ref.camera).c2w)


def test_prepared_image_is_used_as_it_is(case):
    mesh, photo = case
    prepared = prepare_image(Image.fromarray(photo, "RGBA"))
    views = paint(mesh, prepared, PaintOptions(view_size=512, rasterizer="cpu"))
    ref = views.views[0]
    assert np.array_equal(ref.color[..., :3], prepared.rgb) and np.array_equal(ref.color[..., 3], prepared.mask)
    assert views.meta["input_silhouette_iou"] > 0.96


def test_painted_picture_comes_back_on_the_baked_front(case, tmp_path):
    mesh, photo = case
    save_viewset(paint(mesh, photo, PaintOptions(view_size=384, rasterizer="cpu")), tmp_path / "spot.views")
    views = load_viewset(tmp_path / "spot.views")  # through the files, as `latentgen bake` reads them
    baked = bake(mesh, views, BakeOptions(texture_size=512, faces=None, rasterizer="cpu"))
    ref = views.views[0]
    again = render_mesh(baked, ref.camera, RASTER, lit=False)
    inside = (ref.color[..., 3] == 255) & (again[..., 3] == 255)
    inside[1:-1, 1:-1] &= inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:]  # not the rim
    err = again[..., :3].astype(float)[inside] - ref.color[..., :3][inside]
    assert 10 * np.log10(255**2 / (err**2).mean()) > 28
    assert 0.15 < baked.metadata["bake"]["seen_texels"] < 0.6  # what the front sees; the rest was filled


class FlatBackend:
    """A stand-in for a multi-view model: paints every canonical view one colour where the mesh is."""

    name = "flat"

    def paint_views(self, request: PaintRequest, progress) -> list[View]:
        assert request.reference.color is not None and len(request.views) == len(CANONICAL_VIEWS)
        out = []
        for v in request.views:
            color = np.full(v.normal.shape[:2] + (4,), (40, 160, 90, 255), np.uint8)
            color[(v.normal == 255).all(-1), 3] = 0  # geometry maps are white off the mesh
            out.append(View(v.camera, color, v.normal, v.position, v.weight, v.name))
        return out


def test_a_multiview_backend_slots_in(case, monkeypatch):
    mesh, photo = case
    monkeypatch.setitem(BACKENDS, "flat", FlatBackend)
    views = paint(mesh, photo, OPTS, backend="flat")
    assert views.meta["backend"] == "flat" and all(v.color is not None for v in views.views)
    baked = bake(mesh, views, BakeOptions(texture_size=128, faces=None, rasterizer="cpu"))
    tex = np.asarray(baked.visual.material.baseColorTexture)
    assert np.abs(tex.astype(int) - (40, 160, 90)).max() <= 2


def test_bad_inputs_are_refused(case):
    mesh, photo = case
    with pytest.raises(InputError, match="--backend nope"):
        paint(mesh, photo, OPTS, backend="nope")
    transparent = photo.copy()
    transparent[..., 3] = 0
    with pytest.raises(InputError, match="no foreground"):
        paint(mesh, transparent, OPTS)
    with pytest.raises(InputError, match="RGBA"):
        paint(mesh, photo[..., :3], OPTS)
    with pytest.raises(InputError, match="no faces"):
        paint(trimesh.Trimesh(mesh.vertices, np.zeros((0, 3), int), process=False), photo, OPTS)
    with pytest.raises(InputError, match="view-size"):
        PaintOptions(view_size=10)
