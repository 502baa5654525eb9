"""Sparse coverage matrices (covered ⇔ d_ij ≤ r) and exact reductions."""

from optiserv.coverage.assign import nearest_open
from optiserv.coverage.matrix import coverage_from_costs, coverage_matrix
from optiserv.coverage.reduce import ReducedCoverage, reduce_coverage

__all__ = [
    "ReducedCoverage",
    "coverage_from_costs",
    "coverage_matrix",
    "nearest_open",
    "reduce_coverage",
]
