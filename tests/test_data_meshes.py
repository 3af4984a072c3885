"""A training set from a folder of the user's own meshes (and photos): the procedural set's layout, exact labels, a
resumable build that skips bad files, and the trainers reading it unchanged."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image, ImageDraw

from latentgen.data import RenderConfig, SampleConfig, ShapeDataset
from latentgen.data.mesh_sdf import MeshSDF
from latentgen.data.meshes import (
    MeshDatasetConfig,
    build_mesh_dataset,
    find_mesh_items,
    item_sdf,
    normalize_transform,
    prepare_mesh,
    split_items,
)
from latentgen.errors import ConfigError, InputError
from latentgen.train import TINY_VAE, VAETrainOptions, train_vae

CONFIG = MeshDatasetConfig(
    sample=SampleConfig(n_surface=256, n_sharp=64, n_uniform=512, n_near=256),
    render=RenderConfig(size=64, supersample=1),
)
BOX = (1.0, 0.6, 0.4)  # box_a's extents; normalised, its longest side spans [-0.9, 0.9]


def _write_meshes(folder):
    """Two families of good meshes (one with a photo next to it, one open, one inside out, one huge and coloured),
    a corrupt file and a flat sheet at the top level."""
    boxes, rings = folder / "boxes", folder / "rings"
    (boxes / "sub").mkdir(parents=True)
    rings.mkdir()
    trimesh.creation.box(BOX).export(boxes / "box_a.obj")
    big = trimesh.creation.box((300.0, 100.0, 200.0))
    big.apply_translation((1000.0, -50.0, 7.0))
    big.visual.vertex_colors = np.tile([30, 60, 220, 255], (len(big.vertices), 1)).astype(np.uint8)
    big.export(boxes / "box_b.ply")
    trimesh.creation.box((2.0, 2.0, 2.0)).export(boxes / "sub" / "box_c.stl")
    open_box = trimesh.creation.box()
    open_box.update_faces(np.abs(open_box.face_normals[:, 0] - 1) > 1e-9)  # drop the +X side: a hole
    open_box.export(boxes / "box_open.obj")
    inverted = trimesh.creation.box()
    inverted.invert()
    inverted.export(boxes / "box_inverted.off")
    trimesh.creation.torus(1.0, 0.3).export(rings / "torus.glb")
    photo = Image.new("RGBA", (120, 96), (0, 0, 0, 0))
    ImageDraw.Draw(photo).ellipse((10, 20, 110, 70), fill=(200, 30, 30, 255))
    photo.save(rings / "torus.png")
    trimesh.creation.capsule(1.0, 0.5).export(rings / "capsule.obj")
    (folder / "broken.obj").write_text("v 0 0 0\nthis is not a mesh\n")
    trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]]).export(folder / "sheet.stl")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    meshes, root = tmp_path_factory.mktemp("meshes"), tmp_path_factory.mktemp("data") / "set"
    _write_meshes(meshes)
    skipped, phases = [], []
    index = build_mesh_dataset(
        meshes, root, CONFIG, progress=lambda p, f: phases.append((p, f)), skipped=lambda s, r: skipped.append(s)
    )
    return meshes, root, index, skipped, phases


def _npz(root, name):
    with np.load(root / "shapes" / f"{name}.npz") as z:
        return {k: z[k] for k in z.files}


def test_index_lists_families_splits_and_the_skipped_files(built):
    meshes, root, index, skipped, phases = built
    assert json.loads((root / "index.json").read_text()) == index
    assert index["format"] == "latentgen.shapedata/1" and index["families"] == ["boxes", "rings"]
    names = {it["name"]: it for it in index["items"]}
    assert set(names) == {
        "boxes__box_a", "boxes__box_b", "boxes__sub__box_c", "boxes__box_open", "boxes__box_inverted",
        "rings__torus", "rings__capsule",
    }  # fmt: skip
    assert names["boxes__sub__box_c"]["family"] == "boxes" and names["rings__torus"]["source"] == "rings/torus.glb"
    held = {f: sum(it["split"] == "heldout" for it in index["items"] if it["family"] == f) for f in index["families"]}
    assert held == {"boxes": 1, "rings": 1}  # round(0.1 * n), at least one, never the whole family
    assert [it["split"] for it in index["items"]] == sorted(it["split"] for it in index["items"])[::-1]  # train first
    reasons = {s["source"]: s["reason"] for s in index["skipped"]}
    assert set(reasons) == set(skipped) == {"broken.obj", "sheet.stl"}
    assert "no triangle mesh" in reasons["broken.obj"] and "encloses no volume" in reasons["sheet.stl"]
    assert phases[-1] == ("meshes", 1.0)


def test_samples_have_the_procedural_layout_and_exact_box_labels(built):
    _, root, index, _, _ = built
    z = _npz(root, "boxes__box_a")
    s = CONFIG.sample
    assert z["surface"].shape == (s.n_surface, 6) and z["sharp"].shape == (s.n_sharp, 6)
    assert z["points"].shape == (s.n_uniform + s.n_near, 3) and z["sdf"].shape == z["occupancy"].shape == (768,)
    assert int(z["n_uniform"]) == s.n_uniform and str(z["family"]) == "boxes" and z["cameras"].shape == (1, 4, 4)
    assert z["surface"].dtype == z["points"].dtype == z["sdf"].dtype == np.float32 and z["occupancy"].dtype == np.uint8
    half = np.asarray(BOX) * 0.9 / max(BOX)  # normalised: centred, longest side 1.8
    np.testing.assert_allclose(np.abs(z["surface"][:, :3]).max(0), half, atol=1e-3)
    # box SDF: exact distance to the surface, negative inside; occupancy = sdf < 0
    q = np.abs(z["points"].astype(np.float64)) - half
    exact = np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)
    np.testing.assert_allclose(z["sdf"], exact, atol=1e-5)
    assert np.array_equal(z["occupancy"], (z["sdf"] < 0).astype(np.uint8)) and 0 < z["occupancy"].mean() < 1
    # every sharp sample lies on an edge of the box (two coordinates at the faces), with a unit normal
    on_face = np.abs(np.abs(z["sharp"][:, :3]) - half) < 1e-4
    assert int(z["n_sharp_found"]) == s.n_sharp and (on_face.sum(1) >= 2).all()
    np.testing.assert_allclose(np.linalg.norm(z["sharp"][:, 3:], axis=1), 1, atol=1e-5)
    assert int(_npz(root, "rings__capsule")["n_sharp_found"]) == 0  # smooth: uniform samples fill the sharp slot


def test_any_size_and_orientation_is_normalised_and_holes_keep_the_inside(built):
    _, root, index, _, _ = built
    for name in ("boxes__box_b", "boxes__sub__box_c", "boxes__box_open", "boxes__box_inverted"):
        z = _npz(root, name)
        surface = z["surface"][:, :3]
        assert np.isclose(np.ptp(surface, axis=0).max(), 1.8, atol=1e-3), name
        assert np.abs(surface.max(0) + surface.min(0)).max() < 1e-3, name  # bbox centred
        centre = np.abs(z["points"]).max(1) < 0.3
        assert centre.any() and z["occupancy"][centre].all(), name
    item = next(it for it in index["items"] if it["name"] == "boxes__box_open")
    sdf = item_sdf(root, item)  # the winding number sees the open box's inside, with the hole
    assert sdf.contains(np.array([[0, 0, 0], [0.5, 0, 0], [0, 0.95, 0]])).tolist() == [True, True, False]


def test_photo_next_to_a_mesh_is_framed_as_its_image_and_other_meshes_are_rendered(built):
    meshes, root, index, _, _ = built
    photo = np.asarray(Image.open(root / "images" / "rings__torus_0.png"))
    assert photo.shape == (64, 64, 4) and photo[0, 0, 3] == 0
    rows, cols = np.nonzero(photo[..., 3] >= 128)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 == round(64 * (1 - CONFIG.render.border))  # framed like the renders
    assert photo[32, 32, 0] > 150 > photo[32, 32, 2]  # the photo's red object
    render = np.asarray(Image.open(root / "images" / "boxes__box_b_0.png"))
    solid = render[..., 3] == 255
    assert render[0, 0, 3] == 0 and solid.mean() > 0.1
    assert render[solid][:, 2].mean() > 2 * render[solid][:, 0].mean()  # its own blue vertex colours
    cams = _npz(root, "rings__torus")["cameras"]
    assert cams.shape == (1, 4, 4) and np.allclose(cams[0, :3, :3], np.eye(3))  # a photo: assumed front view


def test_shape_dataset_reads_it(built):
    _, root, _, _, _ = built
    ds = ShapeDataset(root, "train", n_surface=32, n_sharp=16, n_queries=64)
    assert len(ds) == 5 and ds.families == ["boxes", "rings"]
    item = ds[0]
    assert item["surface"].shape == (32, 6) and item["points"].shape == (64, 3) and item["image"].shape == (64, 64, 4)
    assert len(ShapeDataset(root, "heldout")) == 2


def test_rebuild_keeps_finished_meshes_and_redoes_changed_ones(built, tmp_path):
    meshes, root, index, _, _ = built
    npz = sorted((root / "shapes").glob("*.npz"))
    before = {p.name: p.stat().st_mtime_ns for p in npz}
    again = build_mesh_dataset(meshes, root, CONFIG)
    assert again == index and {p.name: p.stat().st_mtime_ns for p in npz} == before
    trimesh.creation.box((1.0, 2.0, 3.0)).export(meshes / "boxes" / "sub" / "box_c.stl")  # the file changed
    build_mesh_dataset(meshes, root, CONFIG)
    after = {p.name: p.stat().st_mtime_ns for p in npz}
    assert [n for n in after if after[n] != before[n]] == ["boxes__sub__box_c.npz"]
    assert not list(root.rglob(".*"))  # no temp file left behind
    with pytest.raises(ConfigError, match="another config"):
        build_mesh_dataset(meshes, root, replace(CONFIG, images_per_shape=2))
    with pytest.raises(InputError, match="no mesh files"):
        build_mesh_dataset(tmp_path, tmp_path / "out", CONFIG)


def test_splits_are_deterministic_and_keep_a_training_mesh(tmp_path):
    for name in ("b.obj", "a.obj", "solo/x.ply"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    items = split_items(find_mesh_items(tmp_path), 0.5)
    assert [(it.source, it.family) for it in items if it.split == "train"] in (
        [("a.obj", "mesh"), ("solo/x.ply", "solo")],
        [("b.obj", "mesh"), ("solo/x.ply", "solo")],
    )
    assert items == split_items(list(reversed(find_mesh_items(tmp_path))), 0.5)
    assert all(it.split == "train" for it in split_items(find_mesh_items(tmp_path), 0.0))


def test_mixed_up_face_winding_is_repaired_before_labelling():
    sphere = trimesh.creation.icosphere(2)
    faces = sphere.faces.copy()
    faces[::3] = faces[::3, ::-1]  # every third face wound the wrong way
    prepared = prepare_mesh(trimesh.Trimesh(sphere.vertices, faces, process=False))
    assert prepared.surface.is_winding_consistent and prepared.surface.volume > 0
    inside = prepared.sdf.winding_number(np.array([[0.0, 0, 0], [0.5, 0.2, 0], [0, 0, 0.95]]))
    np.testing.assert_allclose(inside, [1, 1, 0], atol=0.02)


def test_z_up_meshes_are_turned_to_y_up():
    tall = np.array([[0, 0, 0], [1, 1, 4.0]])  # 4 units along +Z
    t = normalize_transform(tall, "z")
    moved = tall @ t[:3, :3].T + t[:3, 3]
    np.testing.assert_allclose(moved, [[-0.225, -0.9, 0.225], [0.225, 0.9, -0.225]])


def test_mesh_sdf_matches_brute_force_sums_and_distances():
    mesh = trimesh.creation.icosphere(2)
    mesh.vertices *= [1.0, 0.5, 0.8]
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.uniform(-1.2, 1.2, (150, 3)), mesh.sample(150, seed=1) * 0.999])
    sdf = MeshSDF(mesh.vertices, mesh.faces)
    a, b, c = (mesh.triangles[None, :, k] - points[:, None] for k in range(3))  # [N, F, 3]
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    det = np.einsum("nfk,nfk->nf", a, np.cross(b, c))
    den = la * lb * lc + (a * b).sum(-1) * lc + (a * c).sum(-1) * lb + (b * c).sum(-1) * la
    winding = (2 * np.arctan2(det, den)).sum(1) / (4 * np.pi)
    np.testing.assert_allclose(sdf.winding_number(points, beta=1e9), winding, atol=1e-9)  # no far field: exact
    np.testing.assert_allclose(sdf.winding_number(points), winding, atol=0.06)  # dipole far field
    assert np.array_equal(sdf.contains(points), winding > 0.5)
    closest = trimesh.triangles.closest_point(
        np.repeat(mesh.triangles[None], len(points), 0).reshape(-1, 3, 3), np.repeat(points, len(mesh.faces), 0)
    )
    dist = np.linalg.norm(closest - np.repeat(points, len(mesh.faces), 0), axis=1).reshape(len(points), -1).min(1)
    np.testing.assert_allclose(sdf.unsigned_distance(points), dist, atol=1e-12)
    np.testing.assert_allclose(sdf.signed_distance(points), np.where(winding > 0.5, -dist, dist), atol=1e-12)


def test_a_few_vae_steps_train_on_it(built, tmp_path):
    _, root, _, _, _ = built
    model = replace(
        TINY_VAE, num_latents=8, embed_dim=4, width=32, heads=2, num_decoder_layers=1, pc_size=64, pc_sharpedge_size=16
    )
    opts = VAETrainOptions(
        model=model, steps=2, batch=2, n_queries=64, warmup=1, eval_every=0, checkpoint_seconds=0.0, threads=1
    )
    threads = torch.get_num_threads()
    try:
        state = train_vae(root, tmp_path / "run", opts)
    finally:
        torch.set_num_threads(threads)  # train_vae sets it for the process
    assert state.step == 2 and (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert np.isfinite([row["loss"] for row in state.history if "loss" in row]).all()
    assert 0 <= state.history[-1]["heldout_iou"] <= 1

    # the held-out meshes are scored against their source mesh's inside test
    report = cli_eval_report(root, tmp_path / "run" / "model")
    assert report["vae_heldout"]["n"] >= 2 and set(report["vae_heldout"]["per_family"]) == {"boxes", "rings"}


def cli_eval_report(root, weights):
    from latentgen.evaluate import EvalInputs, EvalOptions, evaluate

    return evaluate(EvalInputs(weights, data=root), EvalOptions(resolution=16, image=False))


def test_train_data_command_on_a_mesh_folder_reports_bad_files(cli, tmp_path):
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    trimesh.creation.box().export(meshes / "box.obj")
    trimesh.creation.icosphere().export(meshes / "ball.ply")
    (meshes / "broken.obj").write_text("v 0 0 0\nthis is not a mesh\n")
    result = cli("train", "data", tmp_path / "data", "--meshes", meshes, "--workers", 1)
    assert result.exit_code == 1  # a batch with a bad input: the rest is built, the bad one reported
    assert "broken.obj" in result.stderr and "1 training + 1 held-out shapes, 1 skipped" in result.stdout
