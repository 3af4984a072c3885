import numpy as np
import pytest
import trimesh

from latentgen.errors import InputError
from latentgen.meshio import denormalize, has_texture, load_mesh, normalize_unit_cube, save_ply

from .conftest import EXAMPLES, MESHES


def test_textured_obj_loads_as_one_mesh_with_its_texture():
    mesh = load_mesh(EXAMPLES / "spot" / "spot.obj")
    assert isinstance(mesh, trimesh.Trimesh) and len(mesh.faces) == 5856
    assert has_texture(mesh)


def test_a_scene_is_flattened_with_node_transforms(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(), transform=trimesh.transformations.translation_matrix([5, 0, 0]))
    scene.add_geometry(trimesh.creation.icosphere())
    path = tmp_path / "two.glb"
    scene.export(path)
    mesh = load_mesh(path)
    assert len(mesh.faces) == 12 + 1280
    assert mesh.bounds[1][0] == pytest.approx(5.5)


def test_unit_cube_normalisation_is_undone_by_its_inverse():
    mesh = load_mesh(MESHES / "fandisk.obj") if MESHES.exists() else trimesh.creation.box((3, 1, 2))
    unit, transform = normalize_unit_cube(mesh)
    assert np.allclose(unit.bounds, [[-1, -1, -1], [1, 1, 1]], atol=1e-9) or np.isclose(np.abs(unit.bounds).max(), 1)
    assert np.abs(unit.bounds.sum(axis=0)).max() < 1e-9  # centred
    assert np.allclose(denormalize(unit, transform).vertices, mesh.vertices)


def test_stage_ply_round_trips_geometry(tmp_path):
    mesh = trimesh.creation.icosphere(subdivisions=2)
    save_ply(mesh, tmp_path / "m.ply")
    back = load_mesh(tmp_path / "m.ply")
    assert np.allclose(back.vertices, mesh.vertices, atol=1e-6) and (back.faces == mesh.faces).all()


BAD = {
    "missing.obj": None,
    "empty.obj": b"",
    "corrupt.glb": b"glTF\x02\x00\x00\x00garbage that is not a real binary gltf" * 3,
    "corrupt.obj": b"this is not\nan obj file at all\n",
    "nofaces.obj": b"v 0 0 0\nv 1 0 0\nv 0 1 0\n",
    "nan.obj": b"v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n",
    "mesh.xyz": b"1 2 3\n",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_mesh_files_raise_input_error_naming_the_file(tmp_path, name):
    path = tmp_path / name
    if BAD[name] is not None:
        path.write_bytes(BAD[name])
    with pytest.raises(InputError, match=name.replace(".", r"\.")):
        load_mesh(path)


def test_a_directory_is_not_a_mesh(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        load_mesh(tmp_path)
