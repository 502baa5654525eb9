"""Travel cost between demand points and sites, stored sparsely.

A :class:`CostMatrix` holds d_ij for the pairs that can reach each other. A pair that is not
stored is unreachable (infinite cost). Stored zeros are real zeros (a demand point on top of a
site) and are never dropped, which is why the arrays are kept here rather than in a
``scipy.sparse`` matrix, whose arithmetic silently eliminates explicit zeros.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from optiserv.data._dense import check_dense, count_kept, csr_within, row_minimum
from optiserv.exceptions import DataError

__all__ = ["CostMatrix"]


def _frozen(array: NDArray, dtype: type) -> NDArray:
    """A read-only array of ``dtype``: ``array`` itself when nothing can write to its memory
    through numpy (see :func:`_sealed`), otherwise a read-only copy."""
    if (
        isinstance(array, np.ndarray)
        and array.dtype == dtype
        and array.flags.c_contiguous
        and _sealed(array)
    ):
        return array
    out: NDArray = np.array(array, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


def _sealed(array: NDArray) -> bool:
    """True when ``array`` and every numpy array it is a view of are read-only.

    numpy refuses to make a view writeable while its base is read-only, so no array derived
    from these can write to the memory. ``np.load`` of an ``.npz`` member, for one, returns
    a view of a freshly read buffer array; once both are read-only it is kept as it is.
    """
    while isinstance(array, np.ndarray):
        if array.flags.writeable:
            return False
        array = array.base
    return True


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

    A matrix made by :meth:`from_dense` keeps the dense (n, m) array instead and makes the
    CSR arrays only when they are first read: :meth:`within` extracts the pairs within a
    cutoff straight from the dense array, so a model that needs only those never holds all
    n·m pairs in CSR form (12 bytes a pair, beside the 8 of the dense array).

    Immutable: the arrays are read-only and attributes cannot be set.
    """

    __slots__ = ("_csr", "_dense", "_nnz", "shape", "unit")

    shape: tuple[int, int]
    unit: str
    _csr: tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]] | None
    _dense: NDArray[np.float64] | None
    _nnz: int | None

    def __init__(
        self,
        indptr: NDArray[np.int64],
        indices: NDArray[np.int32],
        data: NDArray[np.float64],
        shape: tuple[int, int],
        unit: str = "metre",
    ) -> None:
        indptr = _frozen(indptr, np.int64)
        indices = _frozen(indices, np.int32)
        data = _frozen(data, np.float64)
        shape = (int(shape[0]), int(shape[1]))
        n_rows, n_cols = shape
        if indptr.shape != (n_rows + 1,) or indptr[0] != 0:
            raise DataError(f"cost matrix: indptr must have {n_rows + 1} entries starting at 0")
        if indices.shape != data.shape or indptr[-1] != data.size:
            raise DataError("cost matrix: indices and data must have indptr[-1] entries")
        if data.size and (indices.min() < 0 or indices.max() >= n_cols):
            raise DataError(f"cost matrix: site index outside 0..{n_cols - 1}")
        if np.isnan(data).any():
            raise DataError("cost matrix: NaN costs (leave unreachable pairs out instead)")
        if (data < 0).any():
            raise DataError("cost matrix: negative costs")
        self._set(_csr=(indptr, indices, data), _dense=None, _nnz=int(data.size))
        self._set(shape=shape, unit=unit)

    def _set(self, **values: object) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"CostMatrix is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"CostMatrix is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        if self._dense is not None:
            return _dense_backed, (self._dense, self.unit)
        indptr, indices, data = self._arrays()
        return _adopted, (indptr, indices, data, self.shape, self.unit)

    def __repr__(self) -> str:
        backing = "dense" if self._dense is not None else "csr"
        return f"CostMatrix(shape={self.shape}, nnz={self.nnz}, unit={self.unit!r}, {backing})"

    # ------------------------------------------------------------------ the CSR arrays
    @property
    def indptr(self) -> NDArray[np.int64]:
        """Row pointers: row i's pairs are entries ``indptr[i]:indptr[i+1]``."""
        return self._arrays()[0]

    @property
    def indices(self) -> NDArray[np.int32]:
        """Site index j of every stored pair, increasing within a row."""
        return self._arrays()[1]

    @property
    def data(self) -> NDArray[np.float64]:
        """Cost d_ij of every stored pair."""
        return self._arrays()[2]

    def _arrays(self) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
        """The CSR arrays, made from the dense array on first use (which is then let go)."""
        csr, dense = self._csr, self._dense
        if csr is not None:
            return csr
        if dense is None:  # made meanwhile by another thread (``_csr`` is set first)
            return self._arrays()
        indptr, indices, data = csr_within(dense)
        for array in (indptr, indices, data):
            array.flags.writeable = False
        csr = (indptr, indices, data)
        self._set(_csr=csr, _dense=None, _nnz=int(data.size))
        return csr

    @property
    def dense_backed(self) -> bool:
        """True while the matrix is kept as its dense array (no CSR arrays made yet)."""
        return self._dense is not None

    @property
    def dense_array(self) -> NDArray[np.float64] | None:
        """The read-only (n, m) array the matrix is kept as (``inf`` or ``-inf`` where
        unreachable), or ``None`` once the CSR arrays exist. Reading it never makes them."""
        return self._dense

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
    def from_dense(cls, dense: ArrayLike, unit: str = "metre") -> CostMatrix:
        """Build from an (n, m) array; ``inf`` (and ``-inf``) entries are unreachable.

        The matrix keeps the dense array, not n·m CSR pairs (see the class docstring). A
        read-only C-contiguous float64 array is kept as it is, without a copy, when every
        array it is a view of is read-only too; any other input is copied once, so that
        later writes to the caller's array never change the matrix.
        """
        array = np.asarray(dense)
        if array.ndim != 2:
            raise DataError(f"cost matrix: expected a 2-d array, got shape {array.shape}")
        array = _frozen(array, np.float64)
        check_dense(array)
        return _dense_backed(array, unit)

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
        """Number of reachable pairs stored (finite entries of a dense array)."""
        nnz, dense = self._nnz, self._dense
        if nnz is None:
            nnz = int(count_kept(dense).sum()) if dense is not None else self._arrays()[2].size
            self._set(_nnz=nnz)
        return nnz

    def row_indices(self) -> NDArray[np.int64]:
        """Demand index of every stored entry (the COO row array)."""
        return np.repeat(np.arange(self.shape[0], dtype=np.int64), np.diff(self.indptr))

    def dense(self, fill: float = np.inf) -> NDArray[np.float64]:
        """Full (n, m) array with ``fill`` for unreachable pairs."""
        if self._dense is not None:
            out = np.array(self._dense, dtype=np.float64, copy=True)
            np.copyto(out, fill, where=~np.isfinite(out))
            return out
        out = np.full(self.shape, fill, dtype=np.float64)
        out[self.row_indices(), self.indices] = self.data
        return out

    def row_minimum(self, sites: ArrayLike | None = None) -> NDArray[np.float64]:
        """min_j d_ij per demand row i over ``sites`` (all sites when None); ``inf`` for a
        row that reaches none of them. A dense array is read block by block, not copied."""
        n, m = self.shape
        allowed = np.ones(m, dtype=np.bool_)
        if sites is not None:
            allowed = np.zeros(m, dtype=np.bool_)
            allowed[np.asarray(sites, dtype=np.int64)] = True
        if self._dense is not None:
            return row_minimum(self._dense, np.flatnonzero(allowed))
        out = np.full(n, np.inf)
        keep = allowed[self.indices]
        np.minimum.at(out, self.row_indices()[keep], self.data[keep])
        return out

    def within(self, cutoff: float) -> CostMatrix:
        """Only the pairs with d_ij <= cutoff (the closed interval used everywhere).

        From a dense array the pairs are extracted directly, block by block, without
        making the CSR arrays of all pairs first.
        """
        if self._dense is not None:
            indptr, indices, data = csr_within(self._dense, float(cutoff))
            return CostMatrix.adopt(indptr, indices, data, self.shape, self.unit)
        keep = self.data <= cutoff
        per_row = np.bincount(self.row_indices()[keep], minlength=self.shape[0])
        indptr = np.zeros_like(self.indptr)
        np.cumsum(per_row, out=indptr[1:])
        return CostMatrix(indptr, self.indices[keep], self.data[keep], self.shape, self.unit)

    def take_rows(self, rows: NDArray) -> CostMatrix:
        """The sub-matrix of the given demand rows, in the given order."""
        rows = np.asarray(rows, dtype=np.int64)
        if self._dense is not None:
            taken = self._dense[rows]
            taken.flags.writeable = False
            return _dense_backed(taken, self.unit)
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


def _dense_backed(dense: NDArray[np.float64], unit: str) -> CostMatrix:
    """A matrix kept as ``dense``, a validated read-only float64 (n, m) array (trusted)."""
    if dense.flags.writeable:  # from a pickle: the array is fresh, nobody else holds it
        dense.flags.writeable = False
    matrix = CostMatrix.__new__(CostMatrix)
    matrix._set(_csr=None, _dense=dense, _nnz=None, shape=tuple(int(x) for x in dense.shape))
    matrix._set(unit=unit)
    return matrix


def _adopted(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    data: NDArray[np.float64],
    shape: tuple[int, int],
    unit: str,
) -> CostMatrix:
    """Unpickling: the arrays are fresh, so they are adopted without a copy."""
    return CostMatrix.adopt(indptr, indices, data, shape, unit)
