"""Coverage, reductions and assignments the obvious way: dense arrays and Python loops.

These are what :mod:`optiserv.coverage` is checked against. They only make sense for small
inputs.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "covered_weight",
    "mclp_brute_force",
    "nearest_open_reference",
    "reduce_reference",
]


def reduce_reference(
    cover: NDArray[np.bool_], weights: NDArray[np.float64]
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Merge identical non-empty rows of a dense boolean matrix, in order of first appearance.

    Returns
    -------
    matrix, summed, group, unreachable
        (k, m) distinct rows, (k, ...) summed weights, (n,) group of every row (-1 for empty
        rows), and the empty rows.
    """
    cover = np.asarray(cover, dtype=bool)
    weights = np.asarray(weights, dtype=np.float64)
    seen: dict[tuple[bool, ...], int] = {}
    group = np.full(cover.shape[0], -1, dtype=np.int64)
    for i, row in enumerate(cover):
        if not row.any():
            continue
        key = tuple(bool(x) for x in row)
        if key not in seen:
            seen[key] = len(seen)
        group[i] = seen[key]
    matrix = np.array(list(seen), dtype=bool).reshape(len(seen), cover.shape[1])
    summed = np.zeros((len(seen), *weights.shape[1:]))
    for i in range(cover.shape[0]):
        if group[i] >= 0:
            summed[group[i]] += weights[i]
    unreachable = np.flatnonzero(~cover.any(axis=1)).astype(np.int64)
    return matrix, summed, group, unreachable


def covered_weight(
    cover: NDArray[np.bool_], weights: NDArray, open_sites: tuple[int, ...]
) -> float:
    """Σ w_i over the rows covered by at least one open site."""
    covered = np.asarray(cover, dtype=bool)[:, list(open_sites)].any(axis=1)
    return float(np.asarray(weights, dtype=np.float64)[covered].sum())


def mclp_brute_force(cover: NDArray[np.bool_], weights: NDArray, p: int) -> float:
    """The MCLP optimum: the most weight p sites can cover, by trying every p-subset."""
    m = np.asarray(cover).shape[1]
    subsets = itertools.combinations(range(m), p)
    return max(covered_weight(cover, weights, subset) for subset in subsets)


def nearest_open_reference(
    dense_costs: NDArray[np.float64], open_sites: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Per row, the open column with the least finite cost (ties: lowest column), or (-1, inf)."""
    n, m = dense_costs.shape
    site = np.full(n, -1, dtype=np.int64)
    cost = np.full(n, np.inf)
    is_open = np.zeros(m, dtype=bool)
    is_open[np.asarray(open_sites, dtype=np.int64)] = True
    for i in range(n):
        for j in range(m):
            if is_open[j] and np.isfinite(dense_costs[i, j]) and dense_costs[i, j] < cost[i]:
                site[i], cost[i] = j, dense_costs[i, j]
    return site, cost
