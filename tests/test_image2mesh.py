"""image2mesh as a batch job: complete folders, a manifest of failures, resume, clean interruption."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from .conftest import EXAMPLES, FIXTURES, REPO, validate_glb

WEIGHTS = FIXTURES / "ckpt" / "tiny-hunyuan3d-2"  # tiny random weights in the reference layout
FAST = ["--weights", str(WEIGHTS), "--smoke", "--steps", "2"]
OUTPUTS = {"mask.png", "preview.png", "run.json", "shape.latent", "shape.ply", "views"}


def bad_inputs(folder):
    folder.mkdir()
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    (folder / "zero.png").write_bytes(b"")
    (folder / "text.png").write_text("I am not a picture")
    Image.fromarray(np.zeros((64, 64, 4), np.uint8)).save(folder / "transparent.png")
    return sorted(folder.iterdir())


def test_batch_with_bad_inputs_records_them_and_exits_1_then_resumes_without_work(cli, tmp_path):
    good = [EXAMPLES / "images" / "chair.png", EXAMPLES / "images" / "teapot.png"]
    bad = bad_inputs(tmp_path / "bad")
    out = tmp_path / "out"
    result = cli("--json", "image2mesh", *good, tmp_path / "bad", "-o", out, *FAST)
    assert result.exit_code == 1, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert {e["stage"] for e in events if e["event"] == "stage"} >= {"prepare", "generate", "decode", "paint", "bake"}

    for stem in ("chair", "teapot"):
        folder = out / stem
        assert {p.name for p in folder.iterdir()} == OUTPUTS | {f"{stem}.glb"}
        run = json.loads((folder / "run.json").read_text())
        assert run["status"] == "complete" and run["seed"] == 1234 and set(run["seconds"]) >= {"generate", "bake"}
        assert run["sampling"]["steps"] == "2" and run["settings"]["candidates"] == 1  # reference weights: one sample
        assert validate_glb(folder / f"{stem}.glb")["errors"] == 0
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    failed = {os.path.basename(r["input"]) for r in records if r["status"] == "failed"}
    assert failed == {p.name for p in bad}
    assert not any(p.name.startswith(".") for p in out.iterdir())  # no temp folders left

    before = {p: p.stat().st_mtime_ns for p in (out / "chair").iterdir()}
    again = cli("--json", "image2mesh", *good, "-o", out, "--skip-existing", *FAST)
    assert again.exit_code == 0
    kinds = [json.loads(line)["event"] for line in again.stdout.splitlines()]
    assert kinds.count("skipped") == 2 and "stage" not in kinds
    assert {p: p.stat().st_mtime_ns for p in (out / "chair").iterdir()} == before


def test_colliding_stems_get_distinct_folders(cli, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for sub in ("a", "b"):
        (tmp_path / sub / "chair.png").write_bytes((EXAMPLES / "images" / "chair.png").read_bytes())
    result = cli(
        "image2mesh",
        tmp_path / "a" / "chair.png",
        tmp_path / "b" / "chair.png",
        "-o",
        tmp_path / "out",
        *FAST,
        "--no-texture",
    )
    assert result.exit_code == 0, result.stderr
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"chair", "chair_2", "manifest.jsonl"}


def test_a_killed_batch_leaves_only_complete_outputs(tmp_path):
    images = tmp_path / "in"
    images.mkdir()
    for i in range(4):
        (images / f"img{i}.png").write_bytes((EXAMPLES / "images" / "chair.png").read_bytes())
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "latentgen", "--json", "image2mesh", str(images), "-o", str(out), *FAST]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    # wait until the first input is finished and the second is under way, then stop the job
    for line in proc.stdout:
        if json.loads(line)["event"] == "done":
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    assert proc.returncode == 130
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert folders and all((p / "run.json").exists() for p in folders)
    assert not any(p.name.startswith(".") for p in out.iterdir())
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == len(folders) and all(r["status"] == "ok" for r in records)
