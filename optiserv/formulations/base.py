"""What every formulation shares: one signature, one solve path, one Solution.

A formulation takes its parameters keyword-only in ``__init__`` and is solved with
``model.solve(instance, backend=..., options=...)``. The shared path is:

1. ``_check``: parameters against the instance (raises :class:`ParameterError`);
2. ``_prepare``: travel costs or coverage, and exact reductions (timed as ``coverage``);
3. ``_build``: a :class:`~optiserv.lp.LinearProgram` from arrays (timed as ``build``);
4. ``_warm_start``: an optional feasible start from a heuristic (timed as ``heuristic``);
5. the backend solves the arrays (timed as ``solve``);
6. ``_served``: assignment and covered weight of the plan, for the Solution.

Formulations whose exact method is not one MIP (p-center) override :meth:`solve` and keep the
same signature.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from optiserv._threads import kernel_threads
from optiserv._timing import PhaseTimer
from optiserv.data import Instance
from optiserv.exceptions import ParameterError
from optiserv.lp import LinearProgram, VariableRange
from optiserv.solution import Solution
from optiserv.solvers import Backend, SolveOptions, SolverResult, Status, get_backend, relative_gap

__all__ = ["BuiltModel", "Formulation", "Served", "site_bounds"]


@dataclass(frozen=True, eq=False)
class BuiltModel:
    """A linear program and where its site variables y_j live."""

    program: LinearProgram
    sites: VariableRange
    extra: dict[str, Any] = field(default_factory=dict)

    def open_sites(self, values: NDArray[np.float64]) -> NDArray[np.int64]:
        """Indices j with y_j = 1 in a solution vector."""
        return np.flatnonzero(self.sites.take(values) > 0.5).astype(np.int64)


@dataclass(frozen=True)
class Served:
    """How a plan serves demand: assignment, covered weight, and model-specific details."""

    assignment: NDArray[np.int64]
    covered_weight: float
    details: dict[str, Any] = field(default_factory=dict)


def site_bounds(instance: Instance) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Bounds of y_j: fixed existing sites are 1, forbidden sites 0, candidates [0, 1]."""
    lower = instance.sites.fixed.astype(np.float64)
    upper = (~instance.sites.forbidden).astype(np.float64)
    return lower, upper


def options_left(options: SolveOptions, timer: PhaseTimer) -> SolveOptions:
    """``options`` with the time limit less the seconds the solve has used so far (the limit
    is for the whole ``solve`` call, coverage included; at least 1 ms, so that a solver
    still returns what it has)."""
    if not math.isfinite(options.time_limit):
        return options
    left = options.time_limit - timer.total()["total"]
    return replace(options, time_limit=max(left, 1e-3))


class Formulation(ABC):
    """Base class of every location model. Subclasses set ``name`` and implement the hooks."""

    name: ClassVar[str] = "formulation"

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def get_params(self) -> dict[str, Any]:
        """The keyword parameters given to ``__init__``."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    # ------------------------------------------------------------------ public
    def solve(
        self,
        instance: Instance,
        *,
        backend: str | Backend = "highs",
        options: SolveOptions | None = None,
    ) -> Solution:
        """Solve the model on ``instance`` and return a checked :class:`Solution`."""
        options = options or SolveOptions()
        solver = get_backend(backend)
        self._check(instance)
        timer = PhaseTimer()
        with kernel_threads(options.threads):
            with timer("coverage"):
                prepared = self._prepare(instance)
            early = self._early_exit(instance, prepared)
            if early is not None:
                return self._empty_solution(instance, early[0], early[1], timer, solver, early[2])
            return self._solve_prepared(instance, prepared, solver, options, timer)

    def _solve_prepared(
        self,
        instance: Instance,
        prepared: Any,
        solver: Backend,
        options: SolveOptions,
        timer: PhaseTimer,
    ) -> Solution:
        """Build, warm start, solve and finish. Models with their own search (bounds that can
        prove a plan before any program is built, a tree, a sequence of programs) override
        this step; parameters, preparation and early exits stay in :meth:`solve`."""
        with timer("build"):
            built = self._build(instance, prepared)
        with timer("heuristic"):
            start = self._warm_start(instance, prepared, built, options)
        with timer("solve"):
            result = solver.solve(built.program, options_left(options, timer), start)
        return self._finish(instance, prepared, built, result, timer)

    # ------------------------------------------------------------------ hooks
    def _check(self, instance: Instance) -> None:  # noqa: B027 - optional hook
        """Validate parameters against the instance; raise ParameterError."""

    @abstractmethod
    def _prepare(self, instance: Instance) -> Any:
        """Travel costs, coverage and reductions needed by ``_build``."""

    def _early_exit(
        self, instance: Instance, prepared: Any
    ) -> tuple[Status, str, dict[str, Any]] | None:
        """Return (status, message, details) when the model is decided before any solve."""
        return None

    @abstractmethod
    def _build(self, instance: Instance, prepared: Any) -> BuiltModel:
        """The linear program, from arrays."""

    def _warm_start(
        self, instance: Instance, prepared: Any, built: BuiltModel, options: SolveOptions
    ) -> NDArray[np.float64] | None:
        """An optional feasible start vector for every column."""
        return None

    @abstractmethod
    def _served(self, instance: Instance, prepared: Any, open_sites: NDArray[np.int64]) -> Served:
        """Assignment and covered weight of a plan."""

    # ------------------------------------------------------------------ shared helpers
    def _check_p(self, instance: Instance, p: int) -> None:
        if not isinstance(p, (int, np.integer)) or p < 1:
            raise ParameterError(f"{self.name}: p must be a positive integer, got {p!r}")
        openable = int((~instance.sites.forbidden).sum())
        if p > openable:
            raise ParameterError(
                f"{self.name}: p = {p} is larger than the number of sites that can open "
                f"({openable} of {instance.n_sites})"
            )
        fixed = int(instance.sites.fixed.sum())
        if fixed > p:
            raise ParameterError(
                f"{self.name}: {fixed} existing sites are fixed open, more than p = {p}"
            )

    def _check_radius(self, radius: float) -> None:
        if not (isinstance(radius, (int, float, np.floating)) and math.isfinite(radius)):
            raise ParameterError(f"{self.name}: radius must be a finite number, got {radius!r}")
        if radius < 0:
            raise ParameterError(f"{self.name}: radius must not be negative, got {radius}")

    def _finish(
        self,
        instance: Instance,
        prepared: Any,
        built: BuiltModel,
        result: SolverResult,
        timer: PhaseTimer,
    ) -> Solution:
        if result.values is None or not result.status.has_solution:
            return self._empty_solution(instance, result.status, result.message, timer, result, {})
        open_sites = built.open_sites(result.values)
        return self._plan_solution_of(
            instance,
            open_sites,
            self._served(instance, prepared, open_sites),
            status=result.status,
            objective=float(result.objective),
            bound=float(result.bound),
            timer=timer,
            backend=(result.backend, result.backend_version),
            message=result.message,
        )

    def _plan_solution_of(
        self,
        instance: Instance,
        open_sites: NDArray[np.int64],
        served: Served,
        *,
        status: Status,
        objective: float,
        bound: float,
        timer: PhaseTimer,
        backend: tuple[str, str],
        message: str,
        details: dict[str, Any] | None = None,
    ) -> Solution:
        """The Solution of a plan: ``backend`` is (name, version) of what found it;
        ``details`` default to the served plan's."""
        return Solution(
            model=self.name,
            status=status,
            objective=objective,
            bound=bound,
            gap=relative_gap(objective, bound),
            open_sites=open_sites,
            open_site_ids=tuple(instance.sites.ids[open_sites].tolist()),
            assignment=served.assignment,
            covered_weight=served.covered_weight,
            total_weight=instance.total_weight,
            timings=timer.total(),
            backend=backend[0],
            backend_version=backend[1],
            message=message,
            details=served.details if details is None else details,
        )

    def _empty_solution(
        self,
        instance: Instance,
        status: Status,
        message: str,
        timer: PhaseTimer,
        solver: Backend | SolverResult,
        details: dict[str, Any],
    ) -> Solution:
        if isinstance(solver, SolverResult):
            backend, version = solver.backend, solver.backend_version
        else:
            backend, version = solver.name, solver.version()
        return Solution(
            model=self.name,
            status=status,
            objective=math.nan,
            bound=math.nan,
            gap=math.inf,
            open_sites=np.zeros(0, dtype=np.int64),
            open_site_ids=(),
            assignment=np.full(instance.n_demand, -1, dtype=np.int64),
            covered_weight=0.0,
            total_weight=instance.total_weight,
            timings=timer.total(),
            backend=backend,
            backend_version=version,
            message=message,
            details=details,
        )
