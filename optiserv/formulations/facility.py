"""Facility location with opening costs: uncapacitated (UFLP) and capacitated (CFLP)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optiserv._timing import PhaseTimer
from optiserv.coverage import nearest_open
from optiserv.data import CostMatrix, Instance
from optiserv.exceptions import ParameterError, format_examples
from optiserv.formulations.base import BuiltModel, Formulation, Served, site_bounds
from optiserv.geometry import travel_costs
from optiserv.heuristics.facility import (
    LagrangianBound,
    capacitated_start,
    lagrangian_heuristic,
)
from optiserv.lp import ModelBuilder
from optiserv.solution import Solution
from optiserv.solvers import SolverResult, Status, relative_gap

__all__ = ["CapacitatedFacilityLocation", "UncapacitatedFacilityLocation"]

# A share x_ij counts as positive above this (solver values carry ~1e-9 noise).
_SHARE_TOLERANCE = 1e-6


@dataclass(frozen=True, eq=False)
class FacilityData:
    """Travel costs to the sites that may open, and the demand that reaches none of them.

    Attributes
    ----------
    costs
        d_ij (cost per unit of demand) for every reachable pair (i, j) whose site j is not
        forbidden, in CSR layout.
    demand, site, cost
        The model's pairs (i, j, d_ij) as COO arrays, sorted by demand, then site. For UFLP
        only the pairs left after the exact reductions, with d_ij = 0 where w_i = 0.
    weight
        w_i, the default demand weight.
    unreachable
        Indices of demand points that reach no site that may open.
    always_open
        Mask of sites that are open in every plan the model considers (y_j = 1).
    start
        Open-site mask of a heuristic plan, if any, kept when it beats the solver's incumbent.
    start_share
        CFLP only: the heuristic plan's share x_ij of every model pair.
    reductions
        What the exact reductions did, for the Solution's details.
    """

    costs: CostMatrix
    demand: NDArray[np.int64]
    site: NDArray[np.int64]
    cost: NDArray[np.float64]
    weight: NDArray[np.float64]
    unreachable: NDArray[np.int64]
    always_open: NDArray[np.bool_]
    start: NDArray[np.bool_] | None = None
    start_share: NDArray[np.float64] | None = None
    reductions: dict[str, Any] = field(default_factory=dict)


def _allowed_costs(instance: Instance) -> CostMatrix:
    """d_ij for the reachable pairs whose site may open."""
    costs = travel_costs(instance)
    allowed = ~instance.sites.forbidden
    if allowed.all():
        return costs
    keep = allowed[costs.indices]
    per_row = np.bincount(costs.row_indices()[keep], minlength=costs.shape[0])
    indptr = np.zeros(costs.shape[0] + 1, dtype=np.int64)
    np.cumsum(per_row, out=indptr[1:])
    return CostMatrix(indptr, costs.indices[keep], costs.data[keep], costs.shape, costs.unit)


def _unreachable_exit(
    instance: Instance, unreachable: NDArray[np.int64]
) -> tuple[Status, str, dict[str, Any]] | None:
    if unreachable.size == 0:
        return None
    ids = instance.demand.ids[unreachable].tolist()
    weight = float(instance.weight()[unreachable].sum())
    message = (
        f"infeasible: {unreachable.size} demand point(s) with total weight {weight:.6g} reach "
        f"no site that may open: ids {format_examples(ids)}"
    )
    return Status.INFEASIBLE, message, {"unreachable_demand": ids}


def _plan_costs(
    instance: Instance, open_sites: NDArray[np.int64], assignment_cost: float
) -> dict[str, float]:
    opening = float(instance.sites.cost[open_sites].sum())
    return {"opening_cost": opening, "assignment_cost": assignment_cost}


def _radius_pairs(
    costs: CostMatrix,
    weight: NDArray[np.float64],
    opening: NDArray[np.float64],
    always_open: NDArray[np.bool_],
    closed: NDArray[np.bool_],
) -> CostMatrix:
    """The UFLP pairs worth keeping: d_ij ≤ R_i = min_k (d_ik + f_k / w_i), sites not closed.

    f_k counts as 0 for sites always open. Rows with w_i = 0 keep every pair at cost 0: they
    only need some site open.
    """
    demand = costs.row_indices()
    usable = ~closed[costs.indices]
    positive = weight[demand] > 0
    extra = np.where(always_open, 0.0, opening)[costs.indices]
    through = np.full(costs.nnz, np.inf)
    live = usable & positive
    through[live] = costs.data[live] + extra[live] / weight[demand[live]]
    radius = np.full(costs.shape[0], np.inf)
    np.minimum.at(radius, demand, through)
    keep = usable & (costs.data <= radius[demand] * (1 + 1e-12) + 1e-12)
    per_row = np.bincount(demand[keep], minlength=costs.shape[0])
    indptr = np.zeros(costs.shape[0] + 1, dtype=np.int64)
    np.cumsum(per_row, out=indptr[1:])
    data = np.where(positive, costs.data, 0.0)[keep]
    return CostMatrix(indptr, costs.indices[keep], data, costs.shape, costs.unit)


def _coo(
    pairs: CostMatrix,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    return pairs.row_indices(), pairs.indices.astype(np.int64), pairs.data


def _fix_sites(
    bound: LagrangianBound,
    upper: float,
    always_open: NDArray[np.bool_],
    closed: NDArray[np.bool_],
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Sites that every plan cheaper than ``upper`` opens, and that none opens.

    With L the Lagrangian bound and ρ_j the reduced costs: a plan that opens j when the
    bound's plan does not costs at least L + ρ_j, one that closes j when the bound's plan
    opens it at least L − ρ_j. Beyond ``upper`` (plus a relative 1e-9 for rounding) no
    optimal plan does so.
    """
    tolerance = 1e-9 * max(1.0, abs(upper))
    rho = bound.reduced_cost
    in_plan = bound.in_plan
    fixed_closed = ~in_plan & ~closed & (bound.bound + rho > upper + tolerance)
    fixed_open = in_plan & ~always_open & (bound.bound - rho > upper + tolerance)
    return fixed_open, fixed_closed


# ====================================================================== uncapacitated
class UncapacitatedFacilityLocation(Formulation):
    r"""Uncapacitated facility location (UFLP; Balinski 1965, Erlenkotter 1978).

    Open any number of sites and serve every demand point from its nearest open site:

    .. math::

        \min \sum_j f_j y_j + \sum_i w_i \min_{j : y_j = 1} d_{ij},
        \qquad y_j \in \{0, 1\}

    with f_j the opening cost (``instance.sites.cost``), w_i the demand weight and d_ij the
    travel cost per unit of demand. Capacities are ignored. Fixed sites have y_j = 1 and their
    f_j is counted; forbidden sites have y_j = 0. The objective is in the cost unit of f_j and
    of w_i·d_ij, which must agree.

    Implemented as the radius (covering) formulation over sorted distinct costs, which has the
    LP bound of the strong x_ij ≤ y_j formulation. For demand point i let
    D_i^1 < … < D_i^{K_i} be the distinct costs d_ij of the pairs kept (below), and
    J_i^k = {j : d_ij = D_i^k}. With z_ik (k = 1 … K_i − 1) the indicator "no open site at
    cost ≤ D_i^k":

    .. math::

        \min \sum_j f_j y_j + \sum_i w_i \Bigl(D_i^1 +
            \sum_{k=1}^{K_i - 1} (D_i^{k+1} - D_i^k)\, z_{ik}\Bigr)

        \text{s.t.} \quad \sum_{j \in J_i^k} y_j + z_{ik} - z_{i,k-1} \ge 0
            \quad \forall i, \; k = 1 \dots K_i, \qquad z_{i0} \equiv 1, \; z_{iK_i} \equiv 0,

        y_j \in \{0, 1\}, \quad z_{ik} \ge 0

    Chaining the rows gives z_ik ≥ 1 − Σ_{j : d_ij ≤ D_i^k} y_j, so at the optimum
    z_ik = max(0, 1 − Σ_{j : d_ij ≤ D_i^k} y_j) and the bracket is i's cost to its nearest
    open site; the chained form needs about 3 nonzeros per pair instead of one row per level
    listing every closer site.

    Exact reductions before building, each keeping the optimal value:

    * a candidate site with f_j = 0 is opened (opening it never raises the objective; the
      reported plan leaves out those that end up serving no demand point);
    * a pair (i, j) is dropped when d_ij > R_i = min_k (d_ik + f_k / w_i) over the sites k
      that may open (f_k = 0 for sites always open): a plan serving i above R_i improves by
      opening k and serving i from it. The last level then requires a site within R_i, so
      every plan of the reduced model still costs exactly its objective above;
    * site fixing: the Lagrangian heuristic
      :func:`~optiserv.heuristics.facility.lagrangian_heuristic` (local search, and
      subgradient optimisation of the dual with the rows Σ_j x_ij = 1 relaxed) gives a plan
      of cost U, a bound L and reduced costs ρ_j. A site outside the bound's plan with
      L + ρ_j > U is closed, one inside with L − ρ_j > U opened (each beyond a relative
      1e-9), and R_i is recomputed.

    A demand point with w_i = 0 only needs some reachable site open (one level). Demand that
    reaches no site that may open makes the model INFEASIBLE; the Solution names it.
    When the solver stops early (time limit) the Solution keeps the better of its plan and
    the heuristic plan (the heuristic one also when the solver has none), and the better of
    its bound and L. The heuristic plan is not handed to the solver as a warm start: HiGHS
    1.16 can return a wrong "optimal" answer from a MIP start after presolve.

    Measured on OR-Library capa–capc and random instances, this radius layout and the
    x_ij ≤ y_j layout are within noise of each other once reduced (the x_ij ≤ y_j one was
    faster on unreduced capc, the radius one closed more gap on time-limited instances with
    many tied costs, whose levels it merges); the radius layout is used.

    The Solution's ``assignment`` is each point's nearest open site (ties: lowest index);
    ``details`` holds ``opening_cost`` (Σ f_j y_j), ``assignment_cost`` (Σ w_i d_ij), the
    reduced model's ``pairs``, and the reductions' ``heuristic_objective`` (U),
    ``lagrangian_bound`` (L), ``sites_fixed_open``, ``sites_fixed_closed`` and
    ``heuristic_seconds`` (timed inside the ``coverage`` phase).
    """

    name = "uflp"

    # "radius" (the formulation above) or "classical" (x_ij ≤ y_j); kept for measurement and
    # cross-checking, not a public parameter.
    _layout = "radius"

    def __init__(self) -> None:
        pass

    def _prepare(self, instance: Instance) -> FacilityData:
        costs = _allowed_costs(instance)
        weight = instance.weight()
        opening = instance.sites.cost
        unreachable = np.flatnonzero(np.diff(costs.indptr) == 0)
        always_open = instance.sites.fixed | (instance.sites.candidate & (opening == 0))
        closed = instance.sites.forbidden.copy()
        pairs = _radius_pairs(costs, weight, opening, always_open, closed)
        if unreachable.size or pairs.nnz == 0:
            return FacilityData(costs, *_coo(pairs), weight, unreachable, always_open)
        started = time.perf_counter()
        heuristic = lagrangian_heuristic(
            costs,
            pairs,
            weight,
            opening,
            always_open,
            ~closed,
            steps=int(np.clip(1e8 / pairs.nnz, 20, 400)),
        )
        reductions: dict[str, Any] = {
            "heuristic_objective": heuristic.cost,
            "lagrangian_bound": heuristic.bound.bound,
        }
        fixed_open, fixed_closed = _fix_sites(heuristic.bound, heuristic.cost, always_open, closed)
        reduced = _radius_pairs(
            costs, weight, opening, always_open | fixed_open, closed | fixed_closed
        )
        if not (np.diff(reduced.indptr) == 0).any():  # a guard against rounding
            pairs, always_open = reduced, always_open | fixed_open
            reductions["sites_fixed_open"] = int(fixed_open.sum())
            reductions["sites_fixed_closed"] = int(fixed_closed.sum())
        reductions["heuristic_seconds"] = time.perf_counter() - started
        return FacilityData(
            costs,
            *_coo(pairs),
            weight,
            unreachable,
            always_open,
            start=heuristic.is_open,
            reductions=reductions,
        )

    def _early_exit(
        self, instance: Instance, prepared: FacilityData
    ) -> tuple[Status, str, dict[str, Any]] | None:
        return _unreachable_exit(instance, prepared.unreachable)

    def _build(self, instance: Instance, prepared: FacilityData) -> BuiltModel:
        lower, upper = site_bounds(instance)
        lower = np.where(prepared.always_open, 1.0, lower)
        builder = ModelBuilder()
        y = builder.add_variables(
            "y", instance.n_sites, cost=instance.sites.cost, lower=lower, upper=upper, integer=True
        )
        if self._layout == "classical":
            return self._build_classical(instance, prepared, builder, y)
        demand, site, cost, weight = prepared.demand, prepared.site, prepared.cost, prepared.weight
        order = np.lexsort((site, cost, demand))
        demand, site, cost = demand[order], site[order], cost[order]
        # one level per distinct (i, D_i^k); pairs arrive sorted by demand, then cost
        first_of_level = np.ones(demand.size, dtype=bool)
        first_of_level[1:] = (demand[1:] != demand[:-1]) | (cost[1:] != cost[:-1])
        level_of_pair = np.cumsum(first_of_level) - 1
        level_demand = demand[first_of_level]
        level_cost = cost[first_of_level]
        n_levels = level_demand.size
        first_in_row = np.ones(n_levels, dtype=bool)
        first_in_row[1:] = level_demand[1:] != level_demand[:-1]
        last_in_row = np.ones(n_levels, dtype=bool)
        last_in_row[:-1] = level_demand[1:] != level_demand[:-1]
        # z exists for every level but the last of its row; cost w_i (D^{k+1} − D^k)
        has_z = ~last_in_row
        z_of_level = np.cumsum(has_z) - 1
        step = np.zeros(n_levels)
        step[:-1] = level_cost[1:] - level_cost[:-1]
        step[~has_z] = 0.0
        z = builder.add_variables("z", int(has_z.sum()), cost=(weight[level_demand] * step)[has_z])
        # row k: Σ_{j ∈ J_i^k} y_j + z_ik − z_{i,k−1} ≥ [k = 1]
        with_z = np.flatnonzero(has_z)
        with_previous = np.flatnonzero(~first_in_row)
        rows = np.concatenate((level_of_pair, with_z, with_previous))
        cols = np.concatenate(
            (
                y.start + site,
                z.start + z_of_level[with_z],
                z.start + z_of_level[with_previous - 1],
            )
        )
        values = np.concatenate(
            (np.ones(site.size), np.ones(with_z.size), -np.ones(with_previous.size))
        )
        builder.add_rows(rows, cols, values, n_rows=n_levels, lower=first_in_row.astype(np.float64))
        offset = float((weight[level_demand] * level_cost)[first_in_row].sum())
        return BuiltModel(builder.build("minimize", offset=offset), y, {"z": z, "levels": n_levels})

    @staticmethod
    def _build_classical(
        instance: Instance, prepared: FacilityData, builder: ModelBuilder, y: Any
    ) -> BuiltModel:
        demand, site, cost, weight = prepared.demand, prepared.site, prepared.cost, prepared.weight
        n_pairs = demand.size
        x = builder.add_variables("x", n_pairs, cost=weight[demand] * cost, upper=1.0)
        pair = np.arange(n_pairs)
        builder.add_rows(
            demand, x.start + pair, 1.0, n_rows=instance.n_demand, lower=1.0, upper=1.0
        )
        builder.add_rows(
            np.concatenate((pair, pair)),
            np.concatenate((x.start + pair, y.start + site)),
            np.concatenate((np.ones(n_pairs), -np.ones(n_pairs))),
            n_rows=n_pairs,
            upper=0.0,
        )
        return BuiltModel(builder.build("minimize"), y, {"x": x, "levels": n_pairs})

    def _served(
        self, instance: Instance, prepared: FacilityData, open_sites: NDArray[np.int64]
    ) -> Served:
        assignment, cost = nearest_open(prepared.costs, open_sites)
        served = assignment >= 0
        weight = prepared.weight
        assignment_cost = float((weight[served] * cost[served]).sum())
        details: dict[str, Any] = _plan_costs(instance, open_sites, assignment_cost)
        details["pairs"] = int(prepared.demand.size)
        details.update(prepared.reductions)
        return Served(assignment, float(weight[served].sum()), details)

    def _finish(
        self,
        instance: Instance,
        prepared: FacilityData,
        built: BuiltModel,
        result: SolverResult,
        timer: PhaseTimer,
    ) -> Solution:
        solution = super()._finish(instance, prepared, built, result, timer)
        if solution.status.has_solution:
            solution = _without_idle_free_sites(instance, solution)
        lagrangian = float(prepared.reductions.get("lagrangian_bound", -np.inf))
        if prepared.start is not None:
            heuristic = float(prepared.reductions["heuristic_objective"])
            open_sites = np.flatnonzero(prepared.start).astype(np.int64)
            served = self._served(instance, prepared, open_sites)
            solution = _prefer_heuristic(solution, heuristic, open_sites, served, instance)
        if solution.status is not Status.FEASIBLE or not lagrangian > solution.bound:
            return solution
        # the Lagrangian bound is also a bound on the optimum; keep the better one
        bound = min(lagrangian, solution.objective)
        return dataclasses.replace(
            solution, bound=bound, gap=relative_gap(solution.objective, bound)
        )


def _without_idle_free_sites(instance: Instance, solution: Solution) -> Solution:
    """The plan without the zero-cost candidate sites that are nobody's nearest open site.

    The model opens every zero-cost candidate; closing one that serves no demand point
    changes neither the objective nor the assignment.
    """
    sites = solution.open_sites
    idle = (
        instance.sites.candidate[sites]
        & (instance.sites.cost[sites] == 0)
        & ~np.isin(sites, solution.assignment)
    )
    if not idle.any():
        return solution
    kept = sites[~idle]
    return dataclasses.replace(
        solution, open_sites=kept, open_site_ids=tuple(instance.sites.ids[kept].tolist())
    )


def _prefer_heuristic(
    solution: Solution,
    heuristic: float,
    open_sites: NDArray[np.int64],
    served: Served,
    instance: Instance,
) -> Solution:
    """The heuristic plan in place of the solver's, when the solver stopped early without a
    plan or with a worse one (an OPTIMAL answer is kept as it is)."""
    if solution.status not in (Status.FEASIBLE, Status.NO_SOLUTION) or not np.isfinite(heuristic):
        return solution
    incumbent = solution.objective if solution.status is Status.FEASIBLE else np.inf
    if heuristic >= incumbent - 1e-9 * max(1.0, abs(heuristic)):
        return solution
    bound = solution.bound if np.isfinite(solution.bound) else -np.inf
    return dataclasses.replace(
        solution,
        status=Status.FEASIBLE,
        objective=heuristic,
        bound=bound,
        gap=relative_gap(heuristic, bound),
        open_sites=open_sites,
        open_site_ids=tuple(instance.sites.ids[open_sites].tolist()),
        assignment=served.assignment,
        covered_weight=served.covered_weight,
        details=served.details,
        message=f"{solution.message}; the heuristic plan beats the solver's incumbent",
    )


# ====================================================================== capacitated
class CapacitatedFacilityLocation(Formulation):
    r"""Capacitated facility location (CFLP; e.g. Beasley 1988), splittable or single-sourced.

    .. math::

        \min \sum_j f_j y_j + \sum_i \sum_j w_i d_{ij} x_{ij}

        \text{s.t.} \quad \sum_j x_{ij} = 1 \;\; \forall i, \qquad
        \sum_i w_i x_{ij} \le s_j y_j \;\; \forall j, \qquad
        x_{ij} \le y_j \;\; \forall i, j,

        \sum_j \min(s_j, W_j)\, y_j \ge \sum_i w_i, \qquad
        y_j \in \{0, 1\}, \quad x_{ij} \ge 0
        \;\; (x_{ij} \in \{0, 1\} \text{ when single sourcing})

    with f_j the opening cost, s_j the capacity (in demand-weight units; ``inf`` means
    uncapacitated), w_i the demand weight, d_ij the travel cost per unit of demand, x_ij the
    share of i's demand served by j, and W_j = Σ_{i : d_ij < ∞} w_i the demand that could
    reach j. x_ij exists only for reachable pairs with j not forbidden (and, when single
    sourcing, w_i ≤ s_j). The capacity row of j is left out when s_j ≥ W_j (x_ij ≤ y_j then
    implies it). The rows x_ij ≤ y_j and the aggregate capacity row are valid inequalities
    that tighten the LP relaxation without changing the optimum. Fixed sites have y_j = 1 and
    their f_j is counted; forbidden sites have y_j = 0.

    A heuristic plan, :func:`~optiserv.heuristics.facility.capacitated_start` (the
    uncapacitated local-search plan, sites added until capacity suffices, a greedy
    allocation), replaces the solver's when the solver stops early without a plan or with a
    worse one (it is not handed to the solver as a warm start: HiGHS 1.16 can return a wrong
    "optimal" answer from a MIP start after presolve).

    Decided before any solve as INFEASIBLE, with the ids or amounts in the message: demand
    that reaches no site that may open; total usable capacity Σ_j min(s_j, W_j) over the sites
    that may open below total demand; and, single sourcing, a demand point heavier than every
    site it reaches can hold.

    The Solution's ``assignment`` is, for each demand point, the site serving its largest
    share. ``details`` holds ``opening_cost``, ``assignment_cost`` (Σ w_i d_ij x_ij),
    ``site_load`` and ``site_utilisation`` (Σ_i w_i x_ij and that over s_j, per open site, in
    the order of ``open_sites``), and ``split_allocation``: for the demand points served by
    more than one site, ``{demand id: [[site id, share], …]}``; every other point is served
    entirely by its ``assignment``. A basic optimal allocation (what simplex-based solvers
    return) splits fewer points than there are open sites, so this stays small.

    Parameters
    ----------
    single_sourcing
        Serve each demand point from exactly one site (x_ij binary). Default: demand may be
        split between sites.
    """

    name = "cflp"

    def __init__(self, *, single_sourcing: bool = False) -> None:
        self.single_sourcing = single_sourcing

    def _check(self, instance: Instance) -> None:
        if not isinstance(self.single_sourcing, (bool, np.bool_)):
            raise ParameterError(
                f"{self.name}: single_sourcing must be True or False, got {self.single_sourcing!r}"
            )

    def _prepare(self, instance: Instance) -> FacilityData:
        costs = _allowed_costs(instance)
        weight = instance.weight()
        demand = costs.row_indices()
        site = costs.indices.astype(np.int64)
        unreachable = np.flatnonzero(np.diff(costs.indptr) == 0)
        keep = np.ones(costs.nnz, dtype=bool)
        if self.single_sourcing:
            keep = weight[demand] <= instance.sites.capacity[site]
        data = FacilityData(
            costs=costs,
            demand=demand[keep],
            site=site[keep],
            cost=costs.data[keep],
            weight=weight,
            unreachable=unreachable,
            always_open=instance.sites.fixed.copy(),
        )
        if self._early_exit(instance, data) is not None:
            return data
        started = time.perf_counter()
        start = capacitated_start(
            _pairs_matrix(data),
            weight,
            instance.sites.capacity,
            instance.sites.cost,
            instance.sites.fixed,
            ~instance.sites.forbidden,
            single_sourcing=bool(self.single_sourcing),
        )
        reductions = {"heuristic_seconds": time.perf_counter() - started}
        if start is None:
            return dataclasses.replace(data, reductions=reductions)
        is_open, share = start
        cost = float(
            instance.sites.cost[is_open].sum() + (weight[data.demand] * data.cost * share).sum()
        )
        reductions["heuristic_objective"] = cost
        return dataclasses.replace(data, start=is_open, start_share=share, reductions=reductions)

    def _early_exit(
        self, instance: Instance, prepared: FacilityData
    ) -> tuple[Status, str, dict[str, Any]] | None:
        unreachable = _unreachable_exit(instance, prepared.unreachable)
        if unreachable is not None:
            return unreachable
        weight = prepared.weight
        if self.single_sourcing:
            has_pair = np.zeros(instance.n_demand, dtype=bool)
            has_pair[prepared.demand] = True
            too_heavy = np.flatnonzero(~has_pair)
            if too_heavy.size:
                ids = instance.demand.ids[too_heavy].tolist()
                message = (
                    f"infeasible: with single sourcing, {too_heavy.size} demand point(s) weigh "
                    f"more than the capacity of every site they reach: ids "
                    f"{format_examples(ids)} (weights "
                    f"{format_examples(weight[too_heavy].tolist())})"
                )
                return Status.INFEASIBLE, message, {"too_heavy_demand": ids}
        total = float(weight.sum())
        allowed = ~instance.sites.forbidden
        capacity = instance.sites.capacity
        usable = float(np.minimum(capacity, _reachable_weight(instance, prepared))[allowed].sum())
        if usable < total * (1 - 1e-12):
            nominal = float(capacity[allowed].sum())
            message = (
                f"infeasible: total demand is {total:.10g} but the sites that may open can "
                f"serve at most {usable:.10g} of it (their total capacity is {nominal:.10g})"
            )
            details = {"total_demand": total, "usable_capacity": usable}
            return Status.INFEASIBLE, message, details
        return None

    def _build(self, instance: Instance, prepared: FacilityData) -> BuiltModel:
        demand, site, cost, weight = prepared.demand, prepared.site, prepared.cost, prepared.weight
        capacity = instance.sites.capacity
        n_pairs = demand.size
        lower, upper = site_bounds(instance)
        builder = ModelBuilder()
        y = builder.add_variables(
            "y", instance.n_sites, cost=instance.sites.cost, lower=lower, upper=upper, integer=True
        )
        x = builder.add_variables(
            "x", n_pairs, cost=weight[demand] * cost, upper=1.0, integer=self.single_sourcing
        )
        pair = np.arange(n_pairs)
        # Σ_j x_ij = 1
        builder.add_rows(
            demand, x.start + pair, 1.0, n_rows=instance.n_demand, lower=1.0, upper=1.0
        )
        # Σ_i w_i x_ij − s_j y_j ≤ 0 where s_j < W_j
        reach = _reachable_weight(instance, prepared)
        binding = np.flatnonzero(capacity < reach)
        row_of_site = np.full(instance.n_sites, -1, dtype=np.int64)
        row_of_site[binding] = np.arange(binding.size)
        in_row = row_of_site[site] >= 0
        builder.add_rows(
            np.concatenate((row_of_site[site[in_row]], np.arange(binding.size))),
            np.concatenate((x.start + pair[in_row], y.start + binding)),
            np.concatenate((weight[demand[in_row]], -capacity[binding])),
            n_rows=binding.size,
            upper=0.0,
        )
        # x_ij − y_j ≤ 0
        builder.add_rows(
            np.concatenate((pair, pair)),
            np.concatenate((x.start + pair, y.start + site)),
            np.concatenate((np.ones(n_pairs), -np.ones(n_pairs))),
            n_rows=n_pairs,
            upper=0.0,
        )
        # Σ_j min(s_j, W_j) y_j ≥ Σ_i w_i
        usable = np.minimum(capacity, reach)
        builder.add_rows(
            np.zeros(instance.n_sites, dtype=np.int64),
            y.columns,
            usable,
            n_rows=1,
            lower=float(weight.sum()),
        )
        return BuiltModel(builder.build("minimize"), y, {"x": x})

    def _served(
        self, instance: Instance, prepared: FacilityData, open_sites: NDArray[np.int64]
    ) -> Served:
        # Placeholder used by the base class before :meth:`_finish` reads the allocation from
        # the solver's x_ij: each point's nearest open site.
        assignment, _ = nearest_open(prepared.costs, open_sites)
        return Served(assignment, float(prepared.weight[assignment >= 0].sum()))

    def _finish(
        self,
        instance: Instance,
        prepared: FacilityData,
        built: BuiltModel,
        result: SolverResult,
        timer: PhaseTimer,
    ) -> Solution:
        solution = super()._finish(instance, prepared, built, result, timer)
        if result.values is not None and solution.status.has_solution:
            solution = self._with_allocation(
                solution, instance, prepared, built.extra["x"].take(result.values)
            )
        if prepared.start is None or prepared.start_share is None:
            return solution
        open_sites = np.flatnonzero(prepared.start).astype(np.int64)
        served = _allocation(instance, prepared, open_sites, prepared.start_share)
        served = dataclasses.replace(served, details={**served.details, **prepared.reductions})
        heuristic = float(prepared.reductions["heuristic_objective"])
        return _prefer_heuristic(solution, heuristic, open_sites, served, instance)

    @staticmethod
    def _with_allocation(
        solution: Solution,
        instance: Instance,
        prepared: FacilityData,
        share: NDArray[np.float64],
    ) -> Solution:
        """The Solution with the assignment and details of the solver's x_ij."""
        served = _allocation(instance, prepared, solution.open_sites, share)
        return dataclasses.replace(
            solution,
            assignment=served.assignment,
            covered_weight=served.covered_weight,
            details={**served.details, **prepared.reductions},
        )


def _pairs_matrix(prepared: FacilityData) -> CostMatrix:
    """The model's pairs (sorted by demand, then site) as a CostMatrix."""
    n = prepared.costs.shape[0]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(prepared.demand, minlength=n), out=indptr[1:])
    return CostMatrix(
        indptr,
        prepared.site.astype(np.int32),
        prepared.cost,
        prepared.costs.shape,
        prepared.costs.unit,
    )


def _reachable_weight(instance: Instance, prepared: FacilityData) -> NDArray[np.float64]:
    """W_j = Σ w_i over the demand points i that have a pair with site j."""
    reach = np.bincount(
        prepared.site, weights=prepared.weight[prepared.demand], minlength=instance.n_sites
    )
    return reach.astype(np.float64)


def _allocation(
    instance: Instance,
    prepared: FacilityData,
    open_sites: NDArray[np.int64],
    share: NDArray[np.float64],
) -> Served:
    """Assignment (largest share), loads and split points from the solver's x_ij.

    Loads and costs use every share; the assignment and the split points only shares above
    ``_SHARE_TOLERANCE`` (solver noise is not a split).
    """
    demand, site, weight = prepared.demand, prepared.site, prepared.weight
    share = np.clip(share, 0.0, 1.0)
    load = np.bincount(site, weights=weight[demand] * share, minlength=instance.n_sites)
    load = load.astype(np.float64)
    assignment_cost = float((weight[demand] * prepared.cost * share).sum())
    capacity = instance.sites.capacity[open_sites]
    with np.errstate(divide="ignore", invalid="ignore"):
        utilisation = np.where(capacity > 0, load[open_sites] / capacity, 0.0)
    positive = share > _SHARE_TOLERANCE
    demand, site, share = demand[positive], site[positive], share[positive]
    # largest share per demand point: sort by (demand, −share, site) and take each first
    order = np.lexsort((site, -share, demand))
    first = np.ones(order.size, dtype=bool)
    first[1:] = demand[order][1:] != demand[order][:-1]
    assignment = np.full(instance.n_demand, -1, dtype=np.int64)
    assignment[demand[order][first]] = site[order][first]
    split_count = np.bincount(demand, minlength=instance.n_demand)
    split = split_count[demand] > 1
    split_allocation: dict[Any, list[list[Any]]] = {}
    demand_ids, site_ids = instance.demand.ids, instance.sites.ids
    for i, j, s in zip(demand[split], site[split], share[split], strict=True):
        split_allocation.setdefault(_python(demand_ids[i]), []).append(
            [_python(site_ids[j]), float(s)]
        )
    details: dict[str, Any] = _plan_costs(instance, open_sites, assignment_cost)
    details["site_load"] = load[open_sites].tolist()
    details["site_utilisation"] = utilisation.tolist()
    details["split_allocation"] = split_allocation
    served = assignment >= 0
    return Served(assignment, float(weight[served].sum()), details)


def _python(value: Any) -> Any:
    """A numpy scalar as the Python value (ids go into JSON-ready details)."""
    return value.item() if isinstance(value, np.generic) else value
