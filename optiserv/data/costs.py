"""Travel cost between demand points and sites, stored sparsely.

A :class:`CostMatrix` holds d_ij for the pairs that can reach each other. A pair that is not
stored is unreachable (infinite cost). Stored zeros are real zeros (a demand point on top of a
site) and are never dropped, which is why the arrays are kept here rather than in a
``scipy.sparse`` matrix, whose arithmetic silently eliminates explicit zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from optiserv.exceptions import DataError

__all__ = ["CostMatrix"]


def _frozen(array: NDArray, dtype: type) -> NDArray:
    """A read-only array of ``dtype``: ``array`` itself when it is already read-only and no
    view of another numpy array (see :meth:`CostMatrix.adopt`), otherwise a read-only copy."""
    if (
        isinstance(array, np.ndarray)
        and array.dtype == dtype
        and not array.flags.writeable
        and array.flags.c_contiguous
        and not isinstance(array.base, np.ndarray)
    ):
        return array
    out = np.array(array, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class CostMatrix:
    """Travel cost d_ij from demand i (rows) to site j (columns) in CSR layout.

    Parameters
    ----------
    indptr, indices, data
        CSR arrays. Row i's reachable sites are ``indices[indptr[i]:indptr[i+1]]`` with costs
        ``data[...]``. Column indices are sorted within each row and unique.
    shape
        (number of demand points, number of sites).
    unit
        What the cost measures: ``"metre"``, ``"second"`` or ``"unit"`` for abstract costs.
    """

    indptr: NDArray[np.int64]
    indices: NDArray[np.int32]
    data: NDArray[np.float64]
    shape: tuple[int, int]
    unit: str = "metre"

    def __post_init__(self) -> None:
        object.__setattr__(self, "indptr", _frozen(self.indptr, np.int64))
        object.__setattr__(self, "indices", _frozen(self.indices, np.int32))
        object.__setattr__(self, "data", _frozen(self.data, np.float64))
        n_rows, n_cols = self.shape
        if self.indptr.shape != (n_rows + 1,) or self.indptr[0] != 0:
            raise DataError(f"cost matrix: indptr must have {n_rows + 1} entries starting at 0")
        if self.indices.shape != self.data.shape or self.indptr[-1] != self.data.size:
            raise DataError("cost matrix: indices and data must have indptr[-1] entries")
        if self.data.size and (self.indices.min() < 0 or self.indices.max() >= n_cols):
            raise DataError(f"cost matrix: site index outside 0..{n_cols - 1}")
        if np.isnan(self.data).any():
            raise DataError("cost matrix: NaN costs (leave unreachable pairs out instead)")
        if (self.data < 0).any():
            raise DataError("cost matrix: negative costs")

    # ------------------------------------------------------------------ construction
    @classmethod
    def adopt(
        cls,
        indptr: NDArray[np.int64],
        indices: NDArray[np.int32],
        data: NDArray[np.float64],
        shape: tuple[int, int],
        unit: str = "metre",
    ) -> CostMatrix:
        """Build from CSR arrays the caller has just made and hands over: they are made
        read-only and kept without a copy when their dtypes already match (the caller must
        not write to them afterwards). Views of other arrays are still copied."""
        for array in (indptr, indices, data):
            if isinstance(array, np.ndarray) and not isinstance(array.base, np.ndarray):
                array.flags.writeable = False
        return cls(indptr, indices, data, shape, unit)

    @classmethod
    def from_dense(cls, dense: NDArray, unit: str = "metre") -> CostMatrix:
        """Build from an (n, m) array; ``inf`` entries are unreachable."""
        dense = np.asarray(dense, dtype=np.float64)
        if dense.ndim != 2:
            raise DataError(f"cost matrix: expected a 2-d array, got shape {dense.shape}")
        if np.isnan(dense).any():
            raise DataError("cost matrix: NaN costs (use inf for unreachable pairs)")
        n, m = dense.shape
        reachable = np.isfinite(dense)
        counts = reachable.sum(axis=1)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        if indptr[-1] == dense.size:  # every pair reachable: no index arrays to gather with
            indices = np.tile(np.arange(m, dtype=np.int32), n)
            data = np.array(dense.reshape(-1), dtype=np.float64, copy=True)
        else:
            del counts
            indices = np.nonzero(reachable.reshape(-1))[0]
            data = dense.reshape(-1)[indices]
            indices = (indices % max(m, 1)).astype(np.int32)
        del reachable
        return cls.adopt(indptr, indices, data, (n, m), unit)

    @classmethod
    def from_pairs(
        cls,
        rows: NDArray,
        cols: NDArray,
        costs: NDArray,
        shape: tuple[int, int],
        unit: str = "metre",
    ) -> CostMatrix:
        """Build from a long table of (demand index, site index, cost); duplicates are errors."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        costs = np.asarray(costs, dtype=np.float64)
        order = np.lexsort((cols, rows))
        rows, cols, costs = rows[order], cols[order], costs[order]
        duplicate = (np.diff(rows) == 0) & (np.diff(cols) == 0)
        if duplicate.any():
            k = int(np.argmax(duplicate))
            raise DataError(
                f"cost matrix: pair (demand {rows[k]}, site {cols[k]}) is listed more than once"
            )
        keep = np.isfinite(costs)
        rows, cols, costs = rows[keep], cols[keep], costs[keep]
        indptr = np.zeros(shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
        return cls(indptr, cols.astype(np.int32), costs, shape, unit)

    # ------------------------------------------------------------------ views
    @property
    def nnz(self) -> int:
        """Number of reachable pairs stored."""
        return int(self.data.size)

    def row_indices(self) -> NDArray[np.int64]:
        """Demand index of every stored entry (the COO row array)."""
        return np.repeat(np.arange(self.shape[0], dtype=np.int64), np.diff(self.indptr))

    def dense(self, fill: float = np.inf) -> NDArray[np.float64]:
        """Full (n, m) array with ``fill`` for unreachable pairs."""
        out = np.full(self.shape, fill, dtype=np.float64)
        out[self.row_indices(), self.indices] = self.data
        return out

    def within(self, cutoff: float) -> CostMatrix:
        """Only the pairs with d_ij <= cutoff (the closed interval used everywhere)."""
        keep = self.data <= cutoff
        per_row = np.bincount(self.row_indices()[keep], minlength=self.shape[0])
        indptr = np.zeros_like(self.indptr)
        np.cumsum(per_row, out=indptr[1:])
        return CostMatrix(indptr, self.indices[keep], self.data[keep], self.shape, self.unit)

    def take_rows(self, rows: NDArray) -> CostMatrix:
        """The sub-matrix of the given demand rows, in the given order."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, stops = self.indptr[rows], self.indptr[rows + 1]
        counts = stops - starts
        indptr = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        gather = np.repeat(starts - indptr[:-1], counts) + np.arange(indptr[-1])
        return CostMatrix(
            indptr, self.indices[gather], self.data[gather], (rows.size, self.shape[1]), self.unit
        )

    def to_scipy(self) -> sp.csr_matrix:
        """A scipy CSR view of the costs. Beware: scipy arithmetic drops explicit zeros."""
        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape, copy=False)
