"""Atomic file writes: a temporary name beside the target, then a rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "write_text"]


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write`` on a temporary file beside ``path``, then rename it to ``path``.

    An interrupted write leaves at most a hidden ``.<name>.partial-*`` file, never a
    half-written file under the real name. Returns ``path``.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.stem}.partial-", suffix=path.suffix, dir=path.parent
    )
    os.close(descriptor)
    temporary_path = Path(temporary)
    try:
        temporary_path.unlink()  # writers such as GDAL want to create the file themselves
        write(temporary_path)
        os.replace(temporary_path, path)
    finally:
        temporary_path.unlink(missing_ok=True)
    return path


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text atomically; returns ``path``."""
    return atomic_write(path, lambda target: target.write_text(text, encoding="utf-8"))
