"""Solver backends: they know linear-program arrays, never formulations."""

from optiserv.solvers.base import Backend, SolveOptions, SolverResult, Status, relative_gap
from optiserv.solvers.highs import HighsBackend
from optiserv.solvers.pulp import PulpBackend
from optiserv.solvers.registry import BACKEND_NAMES, get_backend

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "HighsBackend",
    "PulpBackend",
    "SolveOptions",
    "SolverResult",
    "Status",
    "get_backend",
    "relative_gap",
]
