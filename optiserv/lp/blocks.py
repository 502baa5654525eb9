"""Vectorised building blocks for constraint matrices.

A model is assembled from variable ranges and row blocks. Each block is built from whole arrays
(COO triplets or a sparse matrix placed at a column offset), then everything is stacked once.
No Python object is created per coefficient.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from optiserv.lp.program import LinearProgram, Sense

__all__ = ["ModelBuilder", "VariableRange"]


@dataclass(frozen=True)
class VariableRange:
    """A contiguous block of columns: ``start .. start + size``."""

    name: str
    start: int
    size: int

    @property
    def columns(self) -> NDArray[np.int64]:
        """The column indices of the block."""
        return np.arange(self.start, self.start + self.size, dtype=np.int64)

    def take(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """This block's slice of a full solution vector."""
        return x[self.start : self.start + self.size]


@dataclass
class ModelBuilder:
    """Collect variable blocks and row blocks, then emit one :class:`LinearProgram`."""

    variables: dict[str, VariableRange] = field(default_factory=dict)
    _cost: list[NDArray[np.float64]] = field(default_factory=list)
    _lower: list[NDArray[np.float64]] = field(default_factory=list)
    _upper: list[NDArray[np.float64]] = field(default_factory=list)
    _integer: list[NDArray[np.bool_]] = field(default_factory=list)
    _triplets: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]] = field(
        default_factory=list
    )
    _row_lower: list[NDArray[np.float64]] = field(default_factory=list)
    _row_upper: list[NDArray[np.float64]] = field(default_factory=list)
    _n_cols: int = 0
    _n_rows: int = 0

    def add_variables(
        self,
        name: str,
        size: int,
        *,
        cost: ArrayLike = 0.0,
        lower: ArrayLike = 0.0,
        upper: ArrayLike = np.inf,
        integer: bool = False,
    ) -> VariableRange:
        """Append ``size`` columns with broadcastable cost and bounds."""
        block = VariableRange(name, self._n_cols, int(size))
        self.variables[name] = block
        self._cost.append(np.broadcast_to(np.asarray(cost, np.float64), (size,)).copy())
        self._lower.append(np.broadcast_to(np.asarray(lower, np.float64), (size,)).copy())
        self._upper.append(np.broadcast_to(np.asarray(upper, np.float64), (size,)).copy())
        self._integer.append(np.full(size, integer, dtype=bool))
        self._n_cols += block.size
        return block

    def add_rows(
        self,
        rows: ArrayLike,
        cols: ArrayLike,
        values: ArrayLike,
        *,
        n_rows: int,
        lower: ArrayLike = -np.inf,
        upper: ArrayLike = np.inf,
    ) -> NDArray[np.int64]:
        """Append ``n_rows`` constraints given as COO triplets with local row numbers.

        Returns the global row indices of the new block.
        """
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), rows.shape)
        self._triplets.append((rows + self._n_rows, cols, values))
        self._row_lower.append(np.broadcast_to(np.asarray(lower, np.float64), (n_rows,)).copy())
        self._row_upper.append(np.broadcast_to(np.asarray(upper, np.float64), (n_rows,)).copy())
        first = self._n_rows
        self._n_rows += int(n_rows)
        return np.arange(first, self._n_rows, dtype=np.int64)

    def add_matrix_rows(
        self,
        blocks: list[tuple[VariableRange, sp.spmatrix | NDArray]],
        *,
        lower: ArrayLike = -np.inf,
        upper: ArrayLike = np.inf,
    ) -> NDArray[np.int64]:
        """Append rows ``Σ_k M_k · x[block_k]`` where every ``M_k`` has the same row count."""
        n_rows = None
        all_rows, all_cols, all_vals = [], [], []
        for variables, matrix in blocks:
            coo = sp.coo_matrix(matrix)
            if n_rows is None:
                n_rows = coo.shape[0]
            elif coo.shape[0] != n_rows:
                raise ValueError("row blocks must share their row count")
            if coo.shape[1] != variables.size:
                raise ValueError(
                    f"block for {variables.name!r} has {coo.shape[1]} columns, "
                    f"expected {variables.size}"
                )
            all_rows.append(coo.row.astype(np.int64))
            all_cols.append(coo.col.astype(np.int64) + variables.start)
            all_vals.append(coo.data.astype(np.float64))
        assert n_rows is not None
        return self.add_rows(
            np.concatenate(all_rows),
            np.concatenate(all_cols),
            np.concatenate(all_vals),
            n_rows=n_rows,
            lower=lower,
            upper=upper,
        )

    def build(self, sense: Sense, offset: float = 0.0) -> LinearProgram:
        """Stack every block once into a :class:`LinearProgram`."""
        if self._triplets:
            rows = np.concatenate([t[0] for t in self._triplets])
            cols = np.concatenate([t[1] for t in self._triplets])
            vals = np.concatenate([t[2] for t in self._triplets])
        else:
            rows = cols = np.zeros(0, dtype=np.int64)
            vals = np.zeros(0)
        matrix = sp.csr_matrix((vals, (rows, cols)), shape=(self._n_rows, self._n_cols))
        empty = np.zeros(0)
        return LinearProgram(
            objective=np.concatenate(self._cost) if self._cost else empty,
            constraints=matrix,
            row_lower=np.concatenate(self._row_lower) if self._row_lower else empty,
            row_upper=np.concatenate(self._row_upper) if self._row_upper else empty,
            col_lower=np.concatenate(self._lower) if self._lower else empty,
            col_upper=np.concatenate(self._upper) if self._upper else empty,
            integrality=np.concatenate(self._integer) if self._integer else empty.astype(bool),
            sense=sense,
            offset=offset,
        )
