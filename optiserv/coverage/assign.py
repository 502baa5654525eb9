"""Which open site serves each demand point: the nearest reachable one."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from optiserv.coverage import _kernels
from optiserv.data import CostMatrix
from optiserv.exceptions import ParameterError

__all__ = ["nearest_open"]


def nearest_open(
    costs: CostMatrix, open_sites: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """For every demand point, the nearest open site among the stored pairs and its cost.

    Parameters
    ----------
    costs
        Travel costs d_ij; pairs not stored are unreachable.
    open_sites
        Indices j of the open sites (duplicates are harmless).

    Returns
    -------
    site, cost
        (n,) nearest open site per demand point (ties: lowest index) and d_ij in the unit of
        ``costs``; demand points with no stored open site get -1 and ``inf``.
    """
    open_sites = np.asarray(open_sites, dtype=np.int64).ravel()
    m = costs.shape[1]
    if open_sites.size and (open_sites.min() < 0 or open_sites.max() >= m):
        raise ParameterError(f"open sites must be indices in 0..{m - 1}")
    is_open = np.zeros(m, dtype=np.bool_)
    is_open[open_sites] = True
    dense = costs.dense_array
    if dense is not None:
        return _nearest_in_dense(dense, np.flatnonzero(is_open))
    return _kernels.nearest_open_rows(costs.indptr, costs.indices, costs.data, is_open)


_BLOCK_ENTRIES = 1 << 22
"""Entries of the dense array's open columns read per block (32 MiB of float64)."""


def _nearest_in_dense(
    dense: NDArray[np.float64], columns: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """:func:`nearest_open` on a dense array, reading only the ascending ``columns``."""
    n = dense.shape[0]
    site = np.full(n, -1, dtype=np.int64)
    cost = np.full(n, np.inf)
    if columns.size == 0:
        return site, cost
    rows = max(1, _BLOCK_ENTRIES // columns.size)
    for first in range(0, n, rows):
        block = dense[first : first + rows, columns]
        block[~np.isfinite(block)] = np.inf  # -inf is unreachable too
        nearest = np.argmin(block, axis=1)  # the first minimum: the lowest open j
        value = block[np.arange(block.shape[0]), nearest]
        reached = np.isfinite(value)
        site[first : first + rows] = np.where(reached, columns[nearest], -1)
        cost[first : first + rows] = value
    return site, cost
