"""Exact reductions of coverage models, applied before any model is built.

* Demand points whose coverage sets are identical are merged, their weights summed.
  Any covering objective is linear in the weights of points with the same row, so the
  reduced model has the same optimum.
* Demand no site can reach is dropped and reported: no plan can ever cover it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

__all__ = ["ReducedCoverage", "reduce_coverage"]


@dataclass(frozen=True, eq=False)
class ReducedCoverage:
    """A coverage matrix with identical rows merged and unreachable rows removed.

    Attributes
    ----------
    matrix
        (k × m) boolean CSR: one row per distinct, non-empty coverage set.
    weights
        (k,) or (k, g) summed weights of the merged rows.
    group
        (n,) for every original demand point, its row in ``matrix``, or -1 when unreachable.
    unreachable
        Indices of the original demand points that no site covers.
    """

    matrix: sp.csr_matrix
    weights: NDArray[np.float64]
    group: NDArray[np.int64]
    unreachable: NDArray[np.int64]

    @property
    def n_rows(self) -> int:
        """Rows after the reduction."""
        return int(self.matrix.shape[0])


def reduce_coverage(cover: sp.csr_matrix, weights: NDArray[np.float64]) -> ReducedCoverage:
    """Merge identical coverage rows (summing weights) and drop rows with no covering site.

    ``weights`` may be (n,) or (n, g) for several population groups.
    """
    cover = sp.csr_matrix(cover, dtype=bool)
    cover.sort_indices()
    n = cover.shape[0]
    weights = np.asarray(weights, dtype=np.float64)
    counts = np.diff(cover.indptr)
    reachable = np.flatnonzero(counts > 0)
    unreachable = np.flatnonzero(counts == 0)
    # Hash every row's sorted column list; rows with equal hashes and lengths are compared
    # exactly through a lexicographic sort of (length, hash) and a final equality check.
    keys = _row_keys(cover, reachable)
    order = np.lexsort(keys[::-1])
    sorted_keys = keys[:, order]
    new_group = np.ones(order.size, dtype=bool)
    if order.size:
        new_group[1:] = (sorted_keys[:, 1:] != sorted_keys[:, :-1]).any(axis=0)
    group_of_sorted = np.cumsum(new_group) - 1
    representative = reachable[order[new_group]]
    # exact check: every member must equal its representative (hash collisions split groups)
    group_of_sorted = _split_collisions(cover, reachable[order], group_of_sorted, representative)
    n_groups = int(group_of_sorted.max()) + 1 if group_of_sorted.size else 0
    representative = np.zeros(n_groups, dtype=np.int64)
    representative[group_of_sorted[::-1]] = reachable[order][::-1]
    group = np.full(n, -1, dtype=np.int64)
    group[reachable[order]] = group_of_sorted
    summed_shape = (n_groups,) + weights.shape[1:]
    summed = np.zeros(summed_shape, dtype=np.float64)
    np.add.at(summed, group[reachable], weights[reachable])
    return ReducedCoverage(cover[representative], summed, group, unreachable)


def _row_keys(cover: sp.csr_matrix, rows: NDArray[np.int64]) -> NDArray[np.uint64]:
    """(3, len(rows)) keys per row: length and two independent polynomial hashes."""
    lengths = np.diff(cover.indptr)[rows].astype(np.uint64)
    row_of_entry = np.repeat(np.arange(cover.shape[0]), np.diff(cover.indptr))
    columns = cover.indices.astype(np.uint64) + np.uint64(1)
    with np.errstate(over="ignore"):
        h1 = columns * np.uint64(0x9E3779B97F4A7C15)
        h1 ^= h1 >> np.uint64(29)
        h2 = (columns + np.uint64(0x632BE59BD9B4E019)) * np.uint64(0xBF58476D1CE4E5B9)
        h2 ^= h2 >> np.uint64(31)
    first = np.zeros(cover.shape[0], dtype=np.uint64)
    second = np.zeros(cover.shape[0], dtype=np.uint64)
    np.add.at(first, row_of_entry, h1)
    np.bitwise_xor.at(second, row_of_entry, h2)
    return np.vstack((lengths, first[rows], second[rows]))


def _split_collisions(
    cover: sp.csr_matrix,
    members: NDArray[np.int64],
    group: NDArray[np.int64],
    representative: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Verify that every member's row equals its group representative's; split where not."""
    if members.size == 0:
        return group
    indptr, indices = cover.indptr, cover.indices
    rep_of_member = representative[group]
    mismatch = []
    for position in np.flatnonzero(members != rep_of_member):
        a, b = members[position], rep_of_member[position]
        if not np.array_equal(indices[indptr[a] : indptr[a + 1]], indices[indptr[b] : indptr[b + 1]]):
            mismatch.append(position)
    if not mismatch:
        return group
    # extremely rare: give each colliding member its own group
    group = group.copy()
    next_group = int(group.max()) + 1
    for position in mismatch:
        group[position] = next_group
        next_group += 1
    return group
