"""What every solver backend shares: options, statuses and the raw result.

A backend knows only :class:`~optiserv.lp.LinearProgram` arrays. It never sees a formulation.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from optiserv.exceptions import ParameterError
from optiserv.lp import LinearProgram

__all__ = ["Backend", "SolveOptions", "SolverResult", "Status", "relative_gap"]


class Status(StrEnum):
    """The honest answer of a solve."""

    OPTIMAL = "optimal"
    """Proven optimal within the requested relative gap."""
    FEASIBLE = "feasible"
    """A feasible plan with a bound and a gap; not proven optimal (a time limit is a result)."""
    INFEASIBLE = "infeasible"
    """No plan satisfies the constraints."""
    UNBOUNDED = "unbounded"
    """The objective can improve without limit."""
    NO_SOLUTION = "no_solution"
    """Stopped (time limit) before any feasible plan was found."""
    ERROR = "error"
    """The solver failed."""

    @property
    def has_solution(self) -> bool:
        """True when a plan is available."""
        return self in (Status.OPTIMAL, Status.FEASIBLE)


@dataclass(frozen=True, kw_only=True)
class SolveOptions:
    """How to solve.

    Parameters
    ----------
    time_limit
        Wall-clock seconds. optiserv enforces it itself and returns the incumbent with its bound.
    relative_gap
        Stop when |objective − bound| / max(|objective|, 1e-9) is at most this
        (0 = prove optimality).
    threads
        Threads of the solver and of optiserv's parallel kernels (None: the backend's
        default, and numba's, which is every core). On a machine busy with other work, 1 is
        faster: the kernels wait for every thread at each step.
    seed
        Random seed for the solver and heuristics.
    log
        Print the solver's log.
    first_solution
        Stop at the first integer solution the solver finds: for a feasibility question asked
        through a cut-off row, where any solution answers it. The result is then FEASIBLE with
        the solver's bound. HiGHS honours it (``mip_max_improving_sols``); backends that cannot
        stop there (PuLP's) solve to optimality instead.
    """

    time_limit: float = math.inf
    relative_gap: float = 0.0
    threads: int | None = None
    seed: int = 0
    log: bool = False
    first_solution: bool = False

    def __post_init__(self) -> None:
        if not self.time_limit > 0:
            raise ParameterError(f"time_limit must be positive, got {self.time_limit}")
        if not 0 <= self.relative_gap < 1:
            raise ParameterError(f"relative_gap must be in [0, 1), got {self.relative_gap}")
        if self.threads is not None and self.threads < 1:
            raise ParameterError(f"threads must be at least 1, got {self.threads}")


def relative_gap(objective: float, bound: float) -> float:
    """|objective − bound| / max(|objective|, 1e-9); 0 when equal, inf when either is missing."""
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.inf
    return abs(objective - bound) / max(abs(objective), 1e-9)


@dataclass(frozen=True)
class SolverResult:
    """What a backend returns: values of every column, objective, bound and status."""

    status: Status
    values: NDArray[np.float64] | None
    objective: float
    bound: float
    backend: str
    backend_version: str
    seconds: float
    message: str = ""
    nodes: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """Relative gap between objective and bound."""
        return relative_gap(self.objective, self.bound)


class Backend(ABC):
    """A solver that takes a :class:`LinearProgram` and returns a :class:`SolverResult`."""

    name: str = "backend"

    @abstractmethod
    def solve(
        self,
        program: LinearProgram,
        options: SolveOptions,
        initial: NDArray[np.float64] | None = None,
    ) -> SolverResult:
        """Solve ``program``; ``initial`` is an optional feasible start (all columns)."""

    @abstractmethod
    def version(self) -> str:
        """The solver's version string."""
