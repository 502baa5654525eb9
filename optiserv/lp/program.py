"""A linear program as arrays: the one hand-off between formulations and solver backends.

    optimise  cᵀx + offset
    s.t.      row_lower ≤ A x ≤ row_upper
              col_lower ≤ x ≤ col_upper,   x_k integer where integrality[k]

``A`` is a CSR matrix with explicit zeros eliminated once, at construction. Backends read these
arrays and nothing else; they never see a formulation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

__all__ = ["LinearProgram", "Sense"]

Sense = Literal["minimize", "maximize"]


@dataclass(frozen=True, eq=False)
class LinearProgram:
    """Costs, a CSR constraint matrix, row and column bounds, integrality and sense.

    Use ``±numpy.inf`` for absent bounds.
    """

    objective: NDArray[np.float64]
    constraints: sp.csr_matrix
    row_lower: NDArray[np.float64]
    row_upper: NDArray[np.float64]
    col_lower: NDArray[np.float64]
    col_upper: NDArray[np.float64]
    integrality: NDArray[np.bool_]
    sense: Sense = "minimize"
    offset: float = 0.0

    def __post_init__(self) -> None:
        n_cols = self.objective.size
        matrix = sp.csr_matrix(self.constraints, dtype=np.float64)
        matrix.eliminate_zeros()
        matrix.sort_indices()
        object.__setattr__(self, "constraints", matrix)
        for name, size in (
            ("row_lower", matrix.shape[0]),
            ("row_upper", matrix.shape[0]),
            ("col_lower", n_cols),
            ("col_upper", n_cols),
        ):
            array = np.asarray(getattr(self, name), dtype=np.float64)
            if array.shape != (size,):
                raise ValueError(
                    f"LinearProgram.{name} has shape {array.shape}, expected ({size},)"
                )
            object.__setattr__(self, name, array)
        if matrix.shape[1] != n_cols:
            raise ValueError(f"constraint matrix has {matrix.shape[1]} columns, objective {n_cols}")
        integrality = np.asarray(self.integrality, dtype=bool)
        if integrality.shape != (n_cols,):
            raise ValueError("integrality must have one entry per column")
        object.__setattr__(self, "integrality", integrality)
        if self.sense not in ("minimize", "maximize"):
            raise ValueError(f"sense must be 'minimize' or 'maximize', got {self.sense!r}")

    @property
    def n_cols(self) -> int:
        """Number of variables."""
        return int(self.objective.size)

    @property
    def n_rows(self) -> int:
        """Number of constraints."""
        return int(self.constraints.shape[0])

    @property
    def nnz(self) -> int:
        """Number of nonzero constraint coefficients."""
        return int(self.constraints.nnz)

    @property
    def is_mip(self) -> bool:
        """True when any variable is integer."""
        return bool(self.integrality.any())

    def value(self, x: NDArray[np.float64]) -> float:
        """cᵀx + offset."""
        return float(self.objective @ x + self.offset)

    def violation(self, x: NDArray[np.float64]) -> float:
        """Largest bound, row or integrality violation of x (0 for a feasible point)."""
        activity = self.constraints @ x
        worst = max(
            float(np.max(self.row_lower - activity, initial=0.0)),
            float(np.max(activity - self.row_upper, initial=0.0)),
            float(np.max(self.col_lower - x, initial=0.0)),
            float(np.max(x - self.col_upper, initial=0.0)),
        )
        if self.integrality.any():
            integral = x[self.integrality]
            worst = max(worst, float(np.max(np.abs(integral - np.round(integral)), initial=0.0)))
        return worst

    def relaxed(self) -> LinearProgram:
        """The LP relaxation: the same program with every variable continuous."""
        return LinearProgram(
            self.objective,
            self.constraints,
            self.row_lower,
            self.row_upper,
            self.col_lower,
            self.col_upper,
            np.zeros(self.n_cols, dtype=bool),
            self.sense,
            self.offset,
        )
