"""Location set covering (LSCP): the cheapest set of sites that covers every demand point."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from optiserv._timing import PhaseTimer
from optiserv.data import Instance
from optiserv.exceptions import format_examples
from optiserv.formulations._coverage_common import (
    CoverageData,
    prepare_coverage,
    served_by_coverage,
)
from optiserv.formulations.base import (
    BuiltModel,
    Formulation,
    Served,
    options_left,
    site_bounds,
)
from optiserv.geometry import nearest, travel_costs
from optiserv.heuristics.set_cover import SetCoverProblem, solve_set_cover
from optiserv.lp import ModelBuilder
from optiserv.solution import Solution
from optiserv.solvers import Backend, SolveOptions, Status

__all__ = ["SetCovering"]


class SetCovering(Formulation):
    r"""Location set covering problem (Toregas et al. 1971).

    .. math::

        \min \sum_j c_j y_j \quad \text{s.t.} \quad
        \sum_{j : d_{ij} \le r} y_j \ge 1 \;\; \forall i \in I, \qquad y_j \in \{0, 1\}

    c_j is the site's opening cost when the instance has any nonzero cost, else 1, so the
    objective is the total site cost or the number of open sites (fixed sites included).
    Fixed sites have y_j = 1, forbidden sites y_j = 0. Demand points already covered by a fixed
    site are satisfied and removed; identical coverage rows are merged (exact reductions).
    If some demand point has no site within r the model is INFEASIBLE; the Solution names those
    points and the smallest radius that would cover every demand point.

    **Method** (:mod:`optiserv.heuristics.set_cover`): the distinct rows go to the set-covering
    engine, which reduces them exactly (dominated rows and sites, essential sites), computes a
    Lagrangian bound by subgradient ascent with a Lagrangian heuristic plan, and, when the
    bound does not prove the plan, fixes sites by their reduced costs and hands the rest to
    the backend as a MIP with the cut-off "cost ≤ plan − 1" (integer costs). The status is
    OPTIMAL when proven, else FEASIBLE with the proven bound at the time limit.
    ``Solution.details`` reports the reductions, the bound and the solver's part.

    Parameters
    ----------
    radius
        Coverage threshold r (metres, or the cost unit). Covered ⇔ d_ij ≤ r.
    """

    name = "lscp"

    def __init__(self, *, radius: float) -> None:
        self.radius = radius

    def _check(self, instance: Instance) -> None:
        self._check_radius(self.radius)

    def _prepare(self, instance: Instance) -> CoverageData:
        return prepare_coverage(instance, self.radius, drop_fixed_covered=True)

    def _early_exit(
        self, instance: Instance, prepared: CoverageData
    ) -> tuple[Status, str, dict[str, Any]] | None:
        unreachable = prepared.reduced.unreachable
        unreachable = unreachable[~prepared.fixed_covered[unreachable]]
        if unreachable.size == 0:
            return None
        ids = instance.demand.ids[unreachable].tolist()
        needed = _smallest_covering_radius(instance)
        hint = (
            f"the smallest radius that covers every demand point is {needed:.6g}"
            if np.isfinite(needed)
            else "some demand points cannot reach any allowed site at any radius"
        )
        message = (
            f"infeasible: {unreachable.size} demand point(s) have no site within radius "
            f"{self.radius:g}: ids {format_examples(ids)}; {hint}"
        )
        details = {"unreachable_demand": ids, "smallest_feasible_radius": float(needed)}
        return Status.INFEASIBLE, message, details

    def _solve_prepared(
        self,
        instance: Instance,
        prepared: CoverageData,
        solver: Backend,
        options: SolveOptions,
        timer: PhaseTimer,
    ) -> Solution:
        """The set-covering engine on the distinct rows (class docstring)."""
        problem = SetCoverProblem.of(
            prepared.reduced.matrix,
            _site_costs(instance),
            fixed=instance.sites.fixed,
            forbidden=instance.sites.forbidden,
        )
        with timer("solve"):
            result = solve_set_cover(problem, backend=solver, options=options_left(options, timer))
        if not result.status.has_solution:
            return self._empty_solution(
                instance, result.status, result.message, timer, solver, result.details
            )
        served = self._served(instance, prepared, result.open_sites)
        return self._plan_solution_of(
            instance,
            result.open_sites,
            served,
            status=result.status,
            objective=result.objective,
            bound=result.bound,
            timer=timer,
            backend=(solver.name, solver.version()),
            message=result.message,
            details={**served.details, **result.details},
        )

    def _build(self, instance: Instance, prepared: CoverageData) -> BuiltModel:
        unit_cost = _site_costs(instance)
        lower, upper = site_bounds(instance)
        builder = ModelBuilder()
        y = builder.add_variables(
            "y", instance.n_sites, cost=unit_cost, lower=lower, upper=upper, integer=True
        )
        builder.add_matrix_rows([(y, prepared.reduced.matrix)], lower=1.0)
        return BuiltModel(builder.build("minimize"), y)

    def _served(
        self, instance: Instance, prepared: CoverageData, open_sites: NDArray[np.int64]
    ) -> Served:
        assignment, covered, _ = served_by_coverage(instance, prepared, open_sites)
        return Served(assignment, covered, {"radius": float(self.radius)})


def _site_costs(instance: Instance) -> NDArray[np.float64]:
    """c_j: the opening costs when any is nonzero, else 1 per site."""
    costs = np.asarray(instance.sites.cost, dtype=np.float64)
    return costs if np.any(costs > 0) else np.ones(instance.n_sites)


def _smallest_covering_radius(instance: Instance) -> float:
    """max over i of the distance to its nearest allowed site (inf if some i reaches none)."""
    allowed = np.flatnonzero(~instance.sites.forbidden)
    if instance.costs is not None:
        return float(travel_costs(instance).row_minimum(allowed).max())
    _, distance = nearest(
        instance.demand.coordinates, instance.sites.coordinates[allowed], 1, instance.metric
    )
    return float(distance[:, 0].max())
