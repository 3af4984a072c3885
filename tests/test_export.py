import json
import struct

import numpy as np
import pytest
import trimesh

from latentgen.errors import InputError
from latentgen.export import ExportOptions, export
from latentgen.meshio import has_texture, load_mesh
from latentgen.meshops import CleanupOptions, cleanup, decimate

from .conftest import EXAMPLES, MESHES, shared_path, validate_glb

SPOT = EXAMPLES / "spot" / "spot.obj"


def glb_json(path):
    """The JSON chunk of a GLB file."""
    data = path.read_bytes()
    length = struct.unpack_from("<I", data, 12)[0]
    return json.loads(data[20 : 20 + length])


def test_textured_spot_keeps_its_texture_in_glb_and_obj(tmp_path):
    spot = load_mesh(SPOT)
    for fmt in ("glb", "obj"):
        export(spot, tmp_path / f"spot.{fmt}")
        back = load_mesh(tmp_path / f"spot.{fmt}")
        assert has_texture(back), fmt
        assert np.allclose(np.sort(back.visual.uv, axis=0)[::97], np.sort(spot.visual.uv, axis=0)[::97], atol=1e-5)
    assert (tmp_path / "spot.mtl").exists() and (tmp_path / "spot_texture.png").exists()
    mtl = (tmp_path / "spot.mtl").read_text()
    assert "map_Kd spot_texture.png" in mtl
    assert "Kd 1.00000000 1.00000000 1.00000000" in mtl  # viewers multiply the texture by Kd


def test_obj_texture_never_overwrites_the_picture_it_was_made_from(tmp_path):
    (tmp_path / "spot.png").write_bytes(b"the user's photo")  # chair.png -> chair.obj is the usual naming
    export(load_mesh(SPOT), tmp_path / "spot.obj")
    assert (tmp_path / "spot.png").read_bytes() == b"the user's photo"
    assert has_texture(load_mesh(tmp_path / "spot.obj"))


def test_glb_material_is_explicit_pbr_and_validates(tmp_path):
    export(load_mesh(SPOT), tmp_path / "spot.glb", ExportOptions(roughness=0.6))
    material = glb_json(tmp_path / "spot.glb")["materials"][0]["pbrMetallicRoughness"]
    assert material["metallicFactor"] == 0.0 and material["roughnessFactor"] == 0.6
    assert "baseColorTexture" in material
    report = validate_glb(tmp_path / "spot.glb")
    assert report["errors"] == 0, report["messages"]


def test_untextured_glb_also_gets_a_non_metallic_material(tmp_path):
    export(trimesh.creation.icosphere(), tmp_path / "ball.glb")
    material = glb_json(tmp_path / "ball.glb")["materials"][0]["pbrMetallicRoughness"]
    assert material["metallicFactor"] == 0.0
    assert validate_glb(tmp_path / "ball.glb")["errors"] == 0


@pytest.mark.parametrize("fmt", ["glb", "obj", "ply", "stl"])
def test_every_shared_mesh_round_trips_through_every_format(tmp_path, fmt):
    paths = sorted(p for p in shared_path("data", "meshes").iterdir() if p.is_file() and p.suffix in (".obj", ".ply"))
    for src in [*paths, SPOT]:
        mesh = load_mesh(src)
        out = tmp_path / f"{src.stem}.{fmt}"
        export(mesh, out)
        back = load_mesh(out)
        assert len(back.faces) == len(mesh.faces), src.name
        assert np.allclose(back.bounds, mesh.bounds, atol=1e-5 * np.ptp(mesh.bounds)), src.name
        if fmt == "glb":
            assert validate_glb(out)["errors"] == 0, src.name


def test_face_budget_is_exact(tmp_path):
    for src in (MESHES / "stanford_bunny.obj", SPOT):
        if not src.exists():
            continue
        result = export(load_mesh(src), tmp_path / "out.glb", ExportOptions(faces=5000))
        assert len(result.mesh.faces) == 5000
        assert len(load_mesh(tmp_path / "out.glb").faces) == 5000


def test_decimating_a_textured_mesh_keeps_uvs_within_the_original_chart_bounds():
    spot = load_mesh(SPOT)
    small = decimate(spot, 2000)
    assert len(small.faces) == 2000 and has_texture(small)
    lo, hi = spot.visual.uv.min(axis=0), spot.visual.uv.max(axis=0)
    assert (small.visual.uv >= lo - 1e-6).all() and (small.visual.uv <= hi + 1e-6).all()


def test_a_baked_mesh_decimates_to_budget_across_its_uv_seams():
    # an xatlas unwrap (as `bake` writes) splits every seam vertex, leaving hundreds of loose charts
    import xatlas
    from PIL import Image

    sphere = trimesh.creation.icosphere(subdivisions=5)  # 20480 faces
    vmap, faces, uv = xatlas.parametrize(sphere.vertices, sphere.faces)
    baked = trimesh.Trimesh(sphere.vertices[vmap], faces, process=False)
    baked.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.new("RGB", (64, 64), "red"))
    small = decimate(baked, 500)  # per chart, the collapse stopped at 912
    assert len(small.faces) == 500 and has_texture(small)
    assert np.allclose(np.linalg.norm(small.vertices, axis=1), 1.0, atol=0.02)
    assert (small.visual.uv >= uv.min(axis=0) - 1e-6).all() and (small.visual.uv <= uv.max(axis=0) + 1e-6).all()


def test_decimation_copes_with_a_million_faces():
    big = trimesh.creation.icosphere(subdivisions=8)  # 1.3M faces
    small = decimate(big, 20000)
    assert len(small.faces) == 20000
    assert np.allclose(np.linalg.norm(small.vertices, axis=1), 1.0, atol=0.01)


def test_cleanup_removes_floaters_degenerate_and_duplicate_faces():
    body = trimesh.creation.icosphere(subdivisions=3)
    speck = trimesh.creation.icosphere(subdivisions=1, radius=0.005).apply_translation([3, 0, 0])
    mesh = trimesh.util.concatenate([body, speck])
    faces = np.vstack([mesh.faces, mesh.faces[:5], [[0, 0, 1]]])  # 5 duplicates + 1 degenerate
    dirty = trimesh.Trimesh(mesh.vertices, faces, process=False)
    clean, report = cleanup(dirty, CleanupOptions())
    assert report.components_removed == 1 and report.duplicate_removed == 5 and report.degenerate_removed == 1
    assert len(clean.faces) == len(body.faces)
    assert len(dirty.faces) == len(faces)  # input untouched


def test_cleanup_closes_small_holes():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    holed = trimesh.Trimesh(sphere.vertices, sphere.faces[1:], process=False)
    clean, report = cleanup(holed, CleanupOptions(max_hole_edges=10))
    assert report.holes_closed >= 1 and clean.is_watertight


def test_up_scale_and_center(tmp_path):
    box = trimesh.creation.box((1, 2, 3)).apply_translation([10, 0, 0])
    result = export(box, tmp_path / "b.ply", ExportOptions(center=True, scale=2.0, up="z"))
    assert np.allclose(result.mesh.extents, [2, 6, 4])  # y and z swapped, doubled
    assert np.allclose(result.mesh.bounds.mean(axis=0), 0)


def test_bad_options_are_input_errors():
    with pytest.raises(InputError):
        ExportOptions(up="x")
    with pytest.raises(InputError):
        ExportOptions(scale=0)
    with pytest.raises(InputError, match="unknown output format"):
        export(trimesh.creation.box(), "out.fbx")


def test_vertex_colours_get_an_explicit_pbr_material_in_glb_and_survive_conversion(tmp_path):
    """A glTF mesh with COLOR_0 but no material renders fully metallic in viewers: ours carry the PBR material."""
    ball = trimesh.creation.icosphere(subdivisions=2)
    colors = np.random.default_rng(0).integers(0, 256, (len(ball.vertices), 4), dtype=np.uint8)
    colors[:, 3] = 255
    ball.visual = trimesh.visual.ColorVisuals(ball, vertex_colors=colors)
    export(ball, tmp_path / "ball.glb")
    gltf = glb_json(tmp_path / "ball.glb")
    assert gltf["materials"][0]["pbrMetallicRoughness"]["metallicFactor"] == 0.0
    assert "COLOR_0" in gltf["meshes"][0]["primitives"][0]["attributes"]
    assert validate_glb(tmp_path / "ball.glb")["errors"] == 0
    back = load_mesh(tmp_path / "ball.glb")
    assert back.visual.kind == "vertex" and np.array_equal(back.visual.vertex_colors, colors)
    export(back, tmp_path / "ball.ply")  # GLB -> PLY keeps them too
    assert np.array_equal(load_mesh(tmp_path / "ball.ply").visual.vertex_colors, colors)


def test_uvs_without_a_texture_are_not_a_texture(tmp_path):
    """trimesh gives a mesh with UVs but no material a 2x2 grey stand-in image: no texture file comes from it."""
    src = shared_path("data", "meshes", "spot", "spot_triangulated.obj")  # UVs, no mtl
    mesh = load_mesh(src)
    assert not has_texture(mesh) and mesh.visual.uv is not None
    export(mesh, tmp_path / "spot.obj")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spot.obj"]  # no .mtl, no grey .png
    text = (tmp_path / "spot.obj").read_text()
    assert "mtllib" not in text and text.count("\nvt ") == len(mesh.vertices)
    export(mesh, tmp_path / "spot.glb")
    gltf = glb_json(tmp_path / "spot.glb")
    assert "images" not in gltf and "baseColorTexture" not in gltf["materials"][0]["pbrMetallicRoughness"]
    assert validate_glb(tmp_path / "spot.glb")["errors"] == 0
