"""Heuristic plans with proven bounds: warm starts for the exact solvers, or answers on their own.

Every result carries a valid bound on the optimum, so its gap is always known.
"""

from optiserv.heuristics.coverage import (
    CoveringLagrangian,
    CoveringProblem,
    CoveringResult,
    greedy_covering,
    interchange_covering,
    lagrangian_covering_bound,
    solve_covering,
)

__all__ = [
    "CoveringLagrangian",
    "CoveringProblem",
    "CoveringResult",
    "greedy_covering",
    "interchange_covering",
    "lagrangian_covering_bound",
    "solve_covering",
]
