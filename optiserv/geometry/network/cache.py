"""On-disk cache of network cost matrices, so batch runs and what-if variants reuse them.

An entry is one ``.npz`` file named by a SHA-256 key over everything the costs depend on: the
network's fingerprint (file content and reader options), the point coordinates, the snapping
options, the measure, the direction, the cutoff and the cache format version. Change any of
them and the key changes; nothing is ever invalidated in place. Entries are written to a
temporary file and renamed, so a reader never sees half an entry, and concurrent writers of
the same key write the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optiserv.data import CostMatrix

__all__ = ["CACHE_VERSION", "cache_key", "load_costs", "store_costs"]

CACHE_VERSION = "network-costs-1"
"""Bumped whenever the way costs are computed changes, so old entries stop matching."""


def cache_key(*parts: str | float | NDArray) -> str:
    """SHA-256 over text, numbers and arrays (dtype, shape and bytes), in order."""
    digest = hashlib.sha256(CACHE_VERSION.encode())
    for part in parts:
        if isinstance(part, np.ndarray):
            array = np.ascontiguousarray(part)
            digest.update(f"|array:{array.dtype.str}:{array.shape}|".encode())
            digest.update(array.tobytes())
        else:
            digest.update(f"|{part!r}|".encode())
    return digest.hexdigest()


def _entry(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / f"costs-{key}.npz"


def load_costs(cache_dir: str | Path, key: str) -> tuple[CostMatrix, dict[str, Any]] | None:
    """The cached costs and report fields for ``key``, or ``None`` when absent or unreadable."""
    path = _entry(Path(cache_dir), key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as entry:
            costs = CostMatrix(
                entry["indptr"],
                entry["indices"],
                entry["data"],
                (int(entry["shape"][0]), int(entry["shape"][1])),
                str(entry["unit"]),
            )
            report = json.loads(str(entry["report"]))
    except (OSError, ValueError, KeyError):
        return None  # a damaged entry is recomputed and overwritten
    return costs, report


def store_costs(cache_dir: str | Path, key: str, costs: CostMatrix, report: dict[str, Any]) -> Path:
    """Write an entry atomically and return its path."""
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = _entry(folder, key)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".costs-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(
                stream,
                indptr=costs.indptr,
                indices=costs.indices,
                data=costs.data,
                shape=np.asarray(costs.shape, dtype=np.int64),
                unit=np.asarray(costs.unit),
                report=np.asarray(json.dumps(report)),
            )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
