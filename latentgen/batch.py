"""Batch inputs and bookkeeping: expand files/folders/globs, name outputs by stem, keep a manifest.

A batch never stops at a bad input: each input's outcome is one line in `OUTDIR/manifest.jsonl`, appended
and flushed as it happens, so a killed batch leaves a consistent record of what finished.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterable
from pathlib import Path

from .errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def expand_inputs(patterns: Iterable[str | Path], suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    """Files as given (whatever their suffix: a bad file is the batch's to report), folders (their files
    with a matching suffix, sorted), and globs. Duplicates are dropped, order is kept."""
    found: list[Path] = []
    for pattern in map(str, patterns):
        path = Path(pattern)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        elif path.exists() or not glob.has_magic(pattern):
            found.append(path)  # missing files stay in the list and fail as inputs, with a clear reason
        else:
            matches = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
            if not matches:
                raise InputError(f"{pattern}: no file matches this pattern")
            found += matches
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve() if p.exists() else p
        if key not in seen:
            seen.add(key)
            unique.append(p)
    if not unique:
        raise InputError("no input files (folders given hold no image files)")
    return unique


def output_names(inputs: list[Path]) -> list[str]:
    """One folder name per input: its stem, with `_2`, `_3`, ... when stems collide (`a/x.png`, `b/x.jpg`)."""
    counts: dict[str, int] = {}
    names = []
    taken = {p.stem for p in inputs}
    for p in inputs:
        n = counts.get(p.stem, 0) + 1
        counts[p.stem] = n
        name = p.stem if n == 1 else f"{p.stem}_{n}"
        while n > 1 and name in taken:  # `x_2.png` may itself be an input
            n += 1
            name = f"{p.stem}_{n}"
        taken.add(name)
        names.append(name)
    return names


class Manifest:
    """Append-only JSON lines; each record is written whole and flushed to disk before the next."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict) -> None:
        line = json.dumps(record, default=str) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash mid-write is ignored
        return out
