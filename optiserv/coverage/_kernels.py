"""Numba kernels over sparse coverage and cost rows. Only numpy and numba are imported here."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["nearest_open_rows"]


@njit(cache=True, parallel=True)
def nearest_open_rows(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, is_open: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the open column with the smallest cost (ties: lowest index), and that cost.

    Rows with no open column get -1 and inf.
    """
    n = indptr.shape[0] - 1
    site = np.full(n, -1, dtype=np.int64)
    cost = np.full(n, np.inf, dtype=np.float64)
    for i in prange(n):
        best = np.inf
        best_j = -1
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if is_open[j] and (data[k] < best or (data[k] == best and j < best_j)):
                best = data[k]
                best_j = j
        site[i] = best_j
        cost[i] = best
    return site, cost
