"""Atomic writes and input path checks. Every output goes through atomic_path / atomic_dir."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError


def check_input_file(path: Path, what: str = "file") -> Path:
    """Raise InputError unless `path` is a readable, non-empty regular file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such {what}")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a {what}")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    return path


def check_output_path(dest: Path) -> Path:
    """Fail early, before any work, when `dest` cannot be written."""
    dest = Path(dest)
    if dest.is_dir():
        raise InputError(f"{dest}: is a directory, expected an output file name")
    parent = dest.parent
    probe = parent
    while not probe.exists():  # the nearest existing ancestor must be a writable folder
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{dest}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{dest}: folder {probe} is not writable")
    return dest


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{folder}: cannot create folder ({e.strerror})") from e


@contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temp path beside `dest`; it replaces `dest` only if the block finishes.

    Same folder -> same filesystem -> atomic rename. The suffix is kept for writers that sniff it.
    """
    dest = Path(dest)
    _mkdir(dest.parent)
    tmp = dest.with_name(f".{dest.stem}.{os.getpid()}.tmp{dest.suffix}")
    try:
        yield tmp
        os.replace(tmp, dest)
    except PermissionError as e:
        raise InputError(f"{dest}: cannot write ({e.strerror})") from e
    finally:  # also runs on Ctrl-C
        tmp.unlink(missing_ok=True)


@contextmanager
def held_signals() -> Iterator[None]:
    """Delay SIGINT/SIGTERM until the block ends, for steps that must happen together (a rename and the
    manifest line that records it). The signal is noted and handed to the previous handler afterwards.

    A Python-level handler, not a thread signal mask: the kernel may deliver a process signal to any
    thread (torch's pools), but Python always runs handlers in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be swapped from the main thread
        return
    pending: list[tuple[int, object]] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, frame: pending.append((signum, frame))) for s in sigs}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for signum, frame in pending[:1]:
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)


def _fresh_dir(dest: Path) -> Path:
    """A new empty folder beside `dest` whose mode follows the umask, as the finished folder's should
    (tempfile.mkdtemp makes 0700 folders, which other users and web servers could not read)."""
    for _ in range(100):
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{dest.parent}: no free name for a temp folder")


@contextmanager
def atomic_dir(dest: Path, on_commit: Callable[[], None] | None = None) -> Iterator[Path]:
    """Yield a fresh temp folder beside `dest`; it becomes `dest` only if the block finishes.

    An existing `dest` is moved aside first and deleted after the rename, so a reader sees either
    the old folder or the new one, never a mix. `on_commit` runs right after the rename with
    interrupts held, so a bookkeeping record and the folder it describes appear together.
    """
    dest = Path(dest)
    _mkdir(dest.parent)
    tmp = _fresh_dir(dest)
    old = None
    try:
        yield tmp
        with held_signals():
            if dest.exists():
                old = dest.with_name(f".{dest.name}.{os.getpid()}.old")
                os.replace(dest, old)
            os.replace(tmp, dest)
            if on_commit is not None:
                on_commit()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
