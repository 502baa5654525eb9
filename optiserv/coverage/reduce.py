"""Exact reductions of coverage models, applied before any model is built.

* Demand points whose coverage sets are identical are merged, their weights summed.
  Any covering objective is linear in the weights of points with the same row, so the
  reduced model has the same optimum.
* Demand no site can reach is dropped and reported: no plan can ever cover it.

Rows are grouped by a hash table keyed on a hash of each row's columns, and a row joins a
group only after its columns compare equal to the group's first row: a hash collision can
cost time, never exactness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from optiserv.coverage import _kernels
from optiserv.exceptions import DataError

__all__ = ["ReducedCoverage", "reduce_coverage"]


@dataclass(frozen=True, eq=False)
class ReducedCoverage:
    """A coverage matrix with identical rows merged and unreachable rows removed.

    Attributes
    ----------
    matrix
        (k × m) boolean CSR: one row per distinct, non-empty coverage set, in order of the
        first demand point that has it.
    weights
        (k,) or (k, g) summed weights of the merged rows (the shape follows the input).
    group
        (n,) for every original demand point, its row in ``matrix``, or -1 when unreachable.
    unreachable
        Indices of the original demand points that no site covers, ascending.
    """

    matrix: sp.csr_matrix
    weights: NDArray[np.float64]
    group: NDArray[np.int64]
    unreachable: NDArray[np.int64]

    @property
    def n_rows(self) -> int:
        """Rows after the reduction."""
        return int(self.matrix.shape[0])


def _canonical_pattern(
    cover: sp.spmatrix | sp.sparray | ArrayLike,
) -> tuple[NDArray[np.int64], NDArray[np.int32], tuple[int, int]]:
    """CSR pattern of the non-zero entries of ``cover``, columns sorted and unique per row.

    The caller's matrix is never modified: it is copied only when it is not already canonical.
    """
    matrix = sp.csr_matrix(cover)
    if matrix.ndim != 2:
        raise DataError(f"coverage matrix must be 2-d, got shape {matrix.shape}")
    explicit_zeros = matrix.data.size > 0 and not matrix.data.all()
    if not matrix.has_canonical_format or explicit_zeros:
        matrix = matrix.copy()
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
    indptr = matrix.indptr.astype(np.int64, copy=False)
    indices = matrix.indices.astype(np.int32, copy=False)
    return indptr, indices, (int(matrix.shape[0]), int(matrix.shape[1]))


def reduce_coverage(
    cover: sp.spmatrix | sp.sparray | ArrayLike, weights: ArrayLike
) -> ReducedCoverage:
    """Merge identical coverage rows (summing weights) and drop rows with no covering site.

    Parameters
    ----------
    cover
        (n × m) coverage a_ij (sparse or dense); any non-zero entry means covered.
    weights
        (n,) demand weights w_i, or (n, g) for several population groups.

    Returns
    -------
    ReducedCoverage
        The distinct non-empty rows, their summed weights, the group of every demand point
        and the demand points no site covers.
    """
    indptr, indices, shape = _canonical_pattern(cover)
    n = shape[0]
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim not in (1, 2) or weights.shape[0] != n:
        raise DataError(
            f"weights must have shape ({n},) or ({n}, g) to match the coverage rows, "
            f"got {weights.shape}"
        )
    keys = _kernels.row_keys(indptr, indices, shape[1])
    group, representative, rows_indptr, rows_indices = _kernels.group_equal_rows(
        indptr, indices, keys
    )
    columns = np.ascontiguousarray(weights.reshape(n, math.prod(weights.shape[1:])))
    summed = _kernels.sum_by_group(group, columns, representative.size)
    summed = summed.reshape((representative.size, *weights.shape[1:]))
    matrix = sp.csr_matrix(
        (np.ones(rows_indices.size, dtype=bool), rows_indices, rows_indptr),
        shape=(representative.size, shape[1]),
    )
    matrix.has_sorted_indices = True
    unreachable = np.flatnonzero(indptr[1:] == indptr[:-1]).astype(np.int64)
    return ReducedCoverage(matrix, summed, group, unreachable)
