"""Shared test helpers: where the shared data lives, running the CLI in-process, validating GLBs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MESHES = SHARED / "data" / "meshes"
IMAGES = SHARED / "data" / "images"
EXAMPLES = REPO / "examples"
FIXTURES = REPO / "tests" / "fixtures"
VALIDATOR = REPO / ".tools" / "node_modules" / "gltf-validator"


def shared_path(*parts: str) -> Path:
    """A file under ../shared; the test is skipped when the shared folder is not there."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not available: {p}")
    return p


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `latentgen ARGS...` in-process through the real entry point (exit codes, error lines)."""
    from latentgen import cli as cli_module

    def run(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["latentgen", *map(str, args)])
        capsys.readouterr()
        cli_module.STATE.out = cli_module.Output()  # fresh console bound to the captured streams
        try:
            cli_module.main()
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def validate_glb(path: Path) -> dict:
    """Run the Khronos glTF validator (node) on a GLB; returns {'errors', 'warnings', 'messages'}."""
    if not VALIDATOR.exists() or shutil.which("node") is None:
        pytest.fail("gltf-validator is not installed: run `make test` (it installs it under .tools/)")
    proc = subprocess.run(
        ["node", str(REPO / "tests" / "gltf_validate.js"), str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
