import json
import os
import signal

import numpy as np
import pytest
import torch

from latentgen.artifacts import (
    LATENT_FORMAT,
    Latent,
    View,
    ViewSet,
    load_latent,
    load_viewset,
    save_latent,
    save_viewset,
)
from latentgen.camera import Camera, look_at, orbit_camera
from latentgen.errors import InputError
from latentgen.files import atomic_dir, atomic_path


def test_latent_round_trip_keeps_tokens_and_metadata(tmp_path):
    tokens = torch.randn(64, 8)
    save_latent(Latent(tokens, model="tiny-vae", config_hash="abc123", seed=7), tmp_path / "s.latent")
    back = load_latent(tmp_path / "s.latent")
    assert torch.equal(back.tokens, tokens) and (back.model, back.config_hash, back.seed) == ("tiny-vae", "abc123", 7)


def test_the_same_latent_gives_the_same_file_bytes(tmp_path):
    """safetensors writes its metadata in hash order; the saved file must not depend on it."""
    extra = {f"key{i}": str(i) for i in range(8)}  # enough keys that a random order shows at once
    latent = Latent(torch.randn(64, 8), model="m", config_hash="h", seed=3, extra=extra)
    blobs = set()
    for i in range(5):
        save_latent(latent, tmp_path / f"{i}.latent")
        blobs.add((tmp_path / f"{i}.latent").read_bytes())
    assert len(blobs) == 1
    back = load_latent(tmp_path / "0.latent")
    assert torch.equal(back.tokens, latent.tokens) and back.extra == extra and back.seed == 3


def test_a_file_that_is_not_a_latent_is_refused(tmp_path):
    (tmp_path / "x.latent").write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match="not a latent file"):
        load_latent(tmp_path / "x.latent")
    from safetensors.torch import save_file

    save_file({"tokens": torch.zeros(3, 4)}, str(tmp_path / "y.latent"), metadata={"format": "other/1"})
    with pytest.raises(InputError, match=LATENT_FORMAT):
        load_latent(tmp_path / "y.latent")


def test_viewset_round_trip(tmp_path):
    cam = orbit_camera(90, 10, 2.0, size=32, projection="orthographic")
    color = np.random.default_rng(0).integers(0, 255, (32, 32, 4), dtype=np.uint8)
    views = ViewSet([View(cam, color=color, weight=0.5, name="side")], meta={"backend": "test"})
    save_viewset(views, tmp_path / "v.views")
    doc = json.loads((tmp_path / "v.views" / "views.json").read_text())
    assert doc["views"][0]["color"] == "view_00.png"
    back = load_viewset(tmp_path / "v.views")
    assert np.array_equal(back.views[0].color, color) and back.views[0].weight == 0.5
    assert np.allclose(back.views[0].camera.c2w, cam.c2w) and back.meta == {"backend": "test"}


def test_viewset_refuses_paths_outside_its_folder_and_wrong_sizes(tmp_path):
    cam = orbit_camera(0, 0, 2.0, size=16)
    save_viewset(ViewSet([View(cam, color=np.zeros((16, 16, 3), np.uint8))]), tmp_path / "v")
    doc_path = tmp_path / "v" / "views.json"
    doc = json.loads(doc_path.read_text())
    doc["views"][0]["color"] = "../secret.png"
    doc_path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="inside the folder"):
        load_viewset(tmp_path / "v")
    doc["views"][0]["color"] = "view_00.png"
    doc["views"][0]["camera"]["width"] = 20
    doc_path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="16x16 but its camera says 20x16"):
        load_viewset(tmp_path / "v")


def test_atomic_path_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_the_old_folder_whole(tmp_path):
    dest = tmp_path / "views"
    with atomic_dir(dest) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_dir(dest) as tmp:
        (tmp / "b.txt").write_text("new")
        raise KeyboardInterrupt
    assert os.listdir(dest) == ["a.txt"] and os.listdir(tmp_path) == ["views"]


def test_atomic_dir_makes_folders_as_mkdir_would(tmp_path):
    """Permissions follow the umask (not the 0700 of a private temp folder): the output is for sharing."""
    umask = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "views"):
            pass
    finally:
        os.umask(umask)
    assert (tmp_path / "views").stat().st_mode & 0o777 == 0o755


def test_a_signal_during_commit_waits_until_the_folder_and_its_record_both_exist(tmp_path):
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    records = []

    def record():
        os.kill(os.getpid(), signal.SIGTERM)  # arrives between the rename and the bookkeeping
        records.append("ok")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt), atomic_dir(tmp_path / "out", on_commit=record) as tmp:
            (tmp / "run.json").write_text("{}")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert records == ["ok"] and (tmp_path / "out" / "run.json").exists()


def test_camera_projects_the_origin_to_the_image_centre_and_up_to_the_top():
    for projection in ("perspective", "orthographic"):
        cam = orbit_camera(30, 20, 3.0, size=100, projection=projection)
        xy, depth = cam.project(np.array([[0, 0, 0], [0, 0.1, 0]]))
        assert np.allclose(xy[0], [50, 50]) and depth[0] == pytest.approx(3.0)
        assert xy[1, 1] < 50  # +Y is up in the image (row 0 at the top)


def test_front_camera_sees_plus_x_on_the_right():
    cam = Camera(look_at([0, 0, 2]), width=64, height=64)
    xy, _ = cam.project(np.array([[0.5, 0, 0]]))
    assert xy[0, 0] > 32
