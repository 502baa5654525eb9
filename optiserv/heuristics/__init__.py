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
from optiserv.heuristics.set_cover import (
    SetCoverProblem,
    SetCoverResult,
    solve_set_cover,
)

__all__ = [
    "CoveringLagrangian",
    "CoveringProblem",
    "CoveringResult",
    "SetCoverProblem",
    "SetCoverResult",
    "greedy_covering",
    "interchange_covering",
    "lagrangian_covering_bound",
    "solve_covering",
    "solve_set_cover",
]
