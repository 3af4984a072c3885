"""The command line as a user meets it: exit codes, one-line errors, no half-written files."""

import io
import json
import subprocess
import sys

import pytest
from rich.console import Console

from latentgen.ui import Output

from .conftest import EXAMPLES, FIXTURES, validate_glb

SPOT = EXAMPLES / "spot" / "spot.obj"


def only_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_version_and_help(cli):
    assert cli("--version").stdout.startswith("latentgen ")
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("export", "render", "info"):
        assert command in result.stdout


def test_help_and_version_do_not_wait_for_torch():
    """`import latentgen` and the CLI's command table import no heavy library; the library names load on use."""
    code = (
        "import sys, latentgen, latentgen.cli\n"
        "assert not {'torch', 'trimesh', 'transformers'} & set(sys.modules), 'heavy import'\n"
        "from latentgen import export, Camera\n"
        "assert callable(export) and 'trimesh' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_error_inside_a_stage_is_exactly_one_line_in_a_log():
    """stderr redirected to a file (CI, batch logs): no progress bar residue around the error line."""
    log = io.StringIO()
    out = Output(err=Console(file=log, stderr=True))
    with pytest.raises(ValueError), out.progress("shape.glb") as progress:
        progress("decode", 0.5)
        raise ValueError("boom")
    out.error("boom", 2)
    assert log.getvalue() == "error: boom\n"


def test_export_writes_the_requested_format(cli, tmp_path):
    result = cli("export", SPOT, "-o", tmp_path / "spot.glb", "--faces", "5000")
    assert result.exit_code == 0, result.stderr
    assert "5000 faces" in result.stdout
    assert validate_glb(tmp_path / "spot.glb")["errors"] == 0


def test_json_mode_prints_one_object_per_line(cli, tmp_path):
    result = cli("--json", "export", SPOT, "-o", tmp_path / "spot.ply")
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["event"] == "result" and events[-1]["output"] == str(tmp_path / "spot.ply")
    assert {e["event"] for e in events} <= {"progress", "result"}


def _bad_inputs(tmp_path):
    (tmp_path / "empty.obj").write_bytes(b"")
    (tmp_path / "corrupt.glb").write_bytes(b"glTF" + b"\x00" * 40)
    (tmp_path / "corrupt.obj").write_text("not an obj\n")
    (tmp_path / "nofaces.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    (tmp_path / "nan.obj").write_text("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n")
    (tmp_path / "a folder.obj").mkdir()
    return ["missing.obj", "empty.obj", "corrupt.glb", "corrupt.obj", "nofaces.obj", "nan.obj", "a folder.obj"]


def test_each_bad_input_gives_one_line_exit_2_and_no_output(cli, tmp_path):
    names = _bad_inputs(tmp_path)
    out_dir = tmp_path / "out"
    for name in names:
        result = cli("export", tmp_path / name, "-o", out_dir / "x.glb")
        assert result.exit_code == 2, (name, result.stderr)
        line = only_line(result.stderr)
        assert line.startswith("error:") and name in line and "Traceback" not in result.stderr
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_quiet_prints_errors_only_and_debug_adds_the_traceback(cli, tmp_path):
    result = cli("--quiet", "export", SPOT, "-o", tmp_path / "spot.ply")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""
    assert (tmp_path / "spot.ply").exists()
    (tmp_path / "nan.obj").write_text("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n")
    result = cli("--quiet", "export", tmp_path / "nan.obj", "-o", tmp_path / "x.ply")
    assert result.exit_code == 2 and "NaN" in only_line(result.stderr)
    result = cli("--debug", "export", tmp_path / "nan.obj", "-o", tmp_path / "x.ply")
    assert result.exit_code == 2 and "Traceback" in result.stderr and "InputError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error:") and "NaN" in result.stderr.splitlines()[-1]
    assert not (tmp_path / "x.ply").exists()


def test_unwritable_output_folder_is_a_clear_error(cli, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("I am a file")
    result = cli("export", SPOT, "-o", blocker / "sub" / "x.glb")
    assert result.exit_code == 2 and "not a folder" in only_line(result.stderr)
    result = cli("export", SPOT, "-o", "/proc/latentgen-test/x.glb")  # /proc refuses new folders, even for root
    assert result.exit_code == 2 and "/proc/latentgen-test" in only_line(result.stderr)


def test_usage_errors_are_one_line_with_exit_2(cli, tmp_path):
    assert cli("export", SPOT).exit_code == 2  # no -o
    result = cli("export", SPOT, "-o", tmp_path / "x.glb", "--up", "x")
    assert result.exit_code == 2 and "--up" in only_line(result.stderr)
    result = cli("export", SPOT, "-o", tmp_path / "x.fbx")
    assert result.exit_code == 2 and "fbx" in only_line(result.stderr)
    assert cli("--device", "tpu", "info").exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_a_batch_goes_past_bad_inputs_and_exits_1(cli, tmp_path):
    (tmp_path / "broken.obj").write_text("garbage\n")
    out = tmp_path / "out"
    out.mkdir()
    result = cli("export", SPOT, tmp_path / "broken.obj", SPOT, "-o", out, "--format", "ply")
    assert result.exit_code == 1
    skipped = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "broken.obj" in skipped[0]
    assert sorted(p.name for p in out.iterdir()) == ["spot.ply", "spot_1.ply"]  # colliding stems stay distinct


def test_cuda_on_a_machine_without_gpu_is_exit_4(cli):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = cli("--device", "cuda", "info")
    assert result.exit_code == 4 and "CUDA" in only_line(result.stderr)


def test_info_reports_versions_and_backends(cli):
    result = cli("--json", "info")
    facts = json.loads(result.stdout.splitlines()[-1])
    assert facts["latentgen"] and "torch" in facts["packages"] and "cpu" in facts["rasterizers"]


def test_render_writes_a_turntable_png(cli, tmp_path):
    from PIL import Image

    result = cli("render", SPOT, "-o", tmp_path / "p.png", "--views", "4", "--size", "64", "--rasterizer", "cpu")
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "p.png") as im:
        assert im.size[0] >= 64 * 2 and im.mode in ("RGB", "RGBA")


TINY_REF = FIXTURES / "ckpt" / "tiny-hunyuan3d-2"  # reference layout, tiny random weights (from ../shared/parity)


def test_shape_stages_chain_through_files(cli, tmp_path):
    """encode -> decode, generate-shape -> (decode of its latent gives the same mesh) -> paint -> bake."""
    w = ["--weights", TINY_REF]
    result = cli("encode", SPOT, "-o", tmp_path / "spot.latent", *w)
    assert result.exit_code == 0, result.stderr
    assert "hunyuan3d-vae-v2-0-withencoder" in result.stdout

    image = FIXTURES / "parity" / "image" / "image_rgba.png"
    shape = tmp_path / "shape.ply"
    args = ["--steps", "3", "--resolution", "48", "--faces", "3000", *w]
    result = cli("generate-shape", image, "-o", shape, "--latent-out", tmp_path / "shape.latent", *args)
    assert result.exit_code == 0, result.stderr
    again = tmp_path / "again.ply"
    result = cli("decode", tmp_path / "shape.latent", "-o", again, "--resolution", "48", "--faces", "3000", *w)
    assert result.exit_code == 0, result.stderr
    assert again.read_bytes() == shape.read_bytes()

    result = cli("paint", shape, image, "-o", tmp_path / "views", "--view-size", "128")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "views" / "views.json").exists()
    result = cli("bake", shape, tmp_path / "views", "-o", tmp_path / "textured.glb", "--texture-size", "256")
    assert result.exit_code == 0, result.stderr
    assert validate_glb(tmp_path / "textured.glb")["errors"] == 0


def test_model_commands_without_weights_say_how_to_get_them(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTGEN_WEIGHTS", str(tmp_path / "nowhere"))
    result = cli("encode", SPOT, "-o", tmp_path / "x.latent")
    assert result.exit_code == 3 and "--weights" in only_line(result.stderr)
    assert not (tmp_path / "x.latent").exists()


def test_bad_image_for_generate_shape_is_exit_2_with_nothing_written(cli, tmp_path):
    bad = tmp_path / "broken[1].png"
    bad.write_bytes(b"not a png")
    result = cli("generate-shape", bad, "-o", tmp_path / "shape.glb", "--weights", TINY_REF)
    assert result.exit_code == 2 and "broken[1].png" in only_line(result.stderr)
    assert list(tmp_path.iterdir()) == [bad]


def test_bake_refuses_formats_without_textures(cli, tmp_path):
    result = cli("bake", SPOT, tmp_path, "-o", tmp_path / "x.stl")
    assert result.exit_code == 2 and "texture" in only_line(result.stderr)
