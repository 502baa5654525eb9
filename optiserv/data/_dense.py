"""Dense (n, m) cost arrays read in row blocks, never copied whole.

A dense array given as travel costs holds d_ij for every pair, with ``±inf`` for unreachable
pairs. These helpers validate it and extract the CSR arrays of the pairs i → j with
d_ij ≤ cutoff (finite), block by block: the temporaries are a few MiB whatever n·m is, and the
output is exactly the kept pairs (int32 site index + float64 cost each, plus the row
pointers).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from optiserv.exceptions import DataError

__all__ = ["check_dense", "count_kept", "csr_within", "nearest_column", "row_minimum"]

_BLOCK_ENTRIES = 1 << 18
"""Entries read per block (2 MiB of float64): big enough for numpy's vector loops, small
enough that a block's masks and copies stay negligible."""


def _row_blocks(dense: NDArray[np.float64]) -> Iterator[tuple[int, NDArray[np.float64]]]:
    """(first row, block of whole rows) over the array, about ``_BLOCK_ENTRIES`` a block."""
    step = max(1, _BLOCK_ENTRIES // max(dense.shape[1], 1))
    for start in range(0, dense.shape[0], step):
        yield start, dense[start : start + step]


def _kept(block: NDArray[np.float64], cutoff: float) -> NDArray[np.bool_]:
    """Pairs kept: finite d_ij (reachable) with d_ij ≤ cutoff."""
    finite = np.isfinite(block)
    if math.isinf(cutoff) and cutoff > 0:
        return finite
    return finite & (block <= cutoff)


def check_dense(dense: NDArray[np.float64]) -> None:
    """Raise DataError on NaN or on a negative finite cost (``-inf`` is unreachable)."""
    for _, block in _row_blocks(dense):
        if np.isnan(block).any():
            raise DataError("cost matrix: NaN costs (use inf for unreachable pairs)")
        negative = block < 0
        if negative.any() and np.isfinite(block[negative]).any():
            raise DataError("cost matrix: negative costs")


def count_kept(dense: NDArray[np.float64], cutoff: float = math.inf) -> NDArray[np.int64]:
    """Per row i, the number of sites j with finite d_ij ≤ cutoff."""
    counts = np.zeros(dense.shape[0], dtype=np.int64)
    for start, block in _row_blocks(dense):
        counts[start : start + block.shape[0]] = _kept(block, cutoff).sum(axis=1)
    return counts


def csr_within(
    dense: NDArray[np.float64], cutoff: float = math.inf
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
    """CSR arrays (indptr, indices, data) of the pairs with finite d_ij ≤ cutoff.

    Two passes over the blocks: the first counts each row's pairs, so the outputs are
    allocated once at their exact size; the second fills them (sites in increasing order
    within a row, as ``np.nonzero`` returns them).
    """
    n, m = dense.shape
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(count_kept(dense, cutoff), out=indptr[1:])
    total = int(indptr[-1])
    if total == n * m and n * m > 0:  # every pair kept: no masks to gather with
        indices = np.tile(np.arange(m, dtype=np.int32), n)
        data = np.array(dense.reshape(-1), dtype=np.float64, copy=True)
        return indptr, indices, data
    indices = np.empty(total, dtype=np.int32)
    data = np.empty(total, dtype=np.float64)
    for start, block in _row_blocks(dense):
        kept = _kept(block, cutoff)
        low, high = indptr[start], indptr[start + block.shape[0]]
        indices[low:high] = np.nonzero(kept)[1]
        data[low:high] = block[kept]
    return indptr, indices, data


def nearest_column(
    dense: NDArray[np.float64], columns: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Per row, the column of ascending ``columns`` with the smallest finite d_ij (ties: the
    lowest) and d_ij; -1 and ``inf`` where there is none. Only those columns are read."""
    site = np.full(dense.shape[0], -1, dtype=np.int64)
    cost = np.full(dense.shape[0], np.inf)
    if columns.size == 0:
        return site, cost
    for start, block in _row_blocks(dense):
        chosen = block[:, columns]
        chosen[~np.isfinite(chosen)] = np.inf  # -inf is unreachable too
        nearest = np.argmin(chosen, axis=1)  # the first minimum: the lowest column
        value = chosen[np.arange(chosen.shape[0]), nearest]
        rows = slice(start, start + block.shape[0])
        site[rows] = np.where(np.isfinite(value), columns[nearest], -1)
        cost[rows] = value
    return site, cost


def row_minimum(dense: NDArray[np.float64], columns: NDArray[np.int64]) -> NDArray[np.float64]:
    """min over j in ``columns`` of finite d_ij, per row; ``inf`` where there is none."""
    return nearest_column(dense, columns)[1]
