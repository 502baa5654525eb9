r"""p-median: open p sites that minimise the total weighted travel cost, exactly.

Two exact mixed-integer formulations of the same problem are built from arrays:

* ``"assignment"``: the classic model (ReVelle & Swain 1970) with one x_ij per candidate pair;
* ``"radius"``: the covering (radius) model over each demand point's sorted distinct
  distances (Elloumi 2010; García, Labbé & Marín 2011), with one z per distance level. It has
  the same LP bound and far fewer nonzeros, and is the default.

Both use the same exact reduction of the candidate pairs: demand i never needs a site farther
than its threshold T_i (see :class:`PMedianData`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from optiserv._timing import PhaseTimer
from optiserv.coverage import nearest_open
from optiserv.data import CostMatrix, Instance
from optiserv.exceptions import ParameterError, format_examples
from optiserv.formulations.base import BuiltModel, Formulation, Served, site_bounds
from optiserv.geometry import travel_costs
from optiserv.heuristics._p_median_kernels import (
    candidate_pairs,
    dense_candidate_pairs,
    row_scaled,
    sort_rows,
    surviving_reach,
)
from optiserv.heuristics.p_median import (
    LagrangianBound,
    PMedianPlan,
    greedy_interchange,
    lagrangian_bound,
    probe_sites,
)
from optiserv.heuristics.p_median_tree import TreeResult, lagrangian_branch_and_bound
from optiserv.lp import LinearProgram, ModelBuilder
from optiserv.solution import Solution
from optiserv.solvers import (
    Backend,
    SolveOptions,
    SolverResult,
    Status,
    relative_gap,
)

__all__ = ["PMedian", "PMedianData", "prepare_p_median", "reduce_by_bound"]

FormulationName = Literal["auto", "radius", "assignment"]
SearchName = Literal["auto", "tree", "mip"]

# Candidate pairs (site, distance), row offsets and thresholds T_i.
_Pairs = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]

# "auto" search: the MIP when the reduced model has at most this many pairs per demand point.
_SMALL_MIP_PAIRS_PER_DEMAND = 8

# Stage 1 of the Lagrangian bound stops once it fixes this share of the free sites; the
# rest of the ascent runs on the pairs the reduction leaves (see _bound_and_reduce).
_SETTLE_SHARE = 0.5

# A warm start must satisfy the program to this absolute tolerance to be handed to a solver.
_START_TOLERANCE = 1e-7


@dataclass(frozen=True, eq=False)
class PMedianData:
    """Travel costs and the candidate pairs of a p-median model, after exact reductions.

    Attributes
    ----------
    costs
        d_ij for every reachable pair (i, j) (cost unit), forbidden sites included: they
        never open (``site_upper``), and no candidate pair holds one.
    site, distance
        The candidate pairs (i, j) (i given by ``start``, or :attr:`demand`), sorted by
        demand i, then d_ij, then site j: those with y_j not fixed to 0 and d_ij ≤ T_i =
        min(F_i, C_i, U_i). F_i is the distance to i's nearest site fixed open. C_i is the
        distance to i's (m' − p + 1)-th nearest site that may open, m' being the number of
        such sites: any m' − p + 1 of them contain an open site, as exactly p are open. U_i
        comes from the Lagrangian bound (see :func:`reduce_by_bound`); each is ``inf`` when
        undefined.
    start
        (n + 1,) offsets of each demand point's pairs in those arrays.
    threshold
        T_i per demand point (``inf`` when no rule applies).
    unreachable
        Demand points with no candidate pair.
    site_lower, site_upper
        Bounds of y_j after the reductions (fixed sites 1, forbidden sites 0).
    plan
        The heuristic plan used as the incumbent, once computed.
    lower_bound
        The best proven lower bound on the optimum so far (weight × cost units).
    multipliers
        λ_i of the last Lagrangian bound (a warm start for the branch and bound), if any.
    reduction
        Counts of what the reductions removed, for ``Solution.details``.
    """

    costs: CostMatrix
    site: NDArray[np.int64]
    distance: NDArray[np.float64]
    start: NDArray[np.int64]
    threshold: NDArray[np.float64]
    unreachable: NDArray[np.int64]
    site_lower: NDArray[np.float64]
    site_upper: NDArray[np.float64]
    plan: PMedianPlan | None = None
    lower_bound: float = -math.inf
    reduction: dict[str, Any] = field(default_factory=dict)
    multipliers: NDArray[np.float64] | None = None

    @property
    def n_pairs(self) -> int:
        """Number of candidate pairs kept."""
        return int(self.site.size)

    @cached_property
    def demand(self) -> NDArray[np.int64]:
        """The demand point i of every candidate pair (made when first asked for: the
        kernels read the row offsets ``start`` instead)."""
        return np.repeat(np.arange(self.start.size - 1, dtype=np.int64), np.diff(self.start))

    def pair_cost(self, weight: NDArray[np.float64]) -> NDArray[np.float64]:
        """w_i d_ij of every candidate pair."""
        return row_scaled(self.start, np.asarray(weight, dtype=np.float64), self.distance)


def _candidate_pairs(
    start: NDArray[np.int64],
    site: NDArray[np.int64],
    distance: NDArray[np.float64],
    n_demand: int,
    lower: NDArray[np.float64],
    upper: NDArray[np.float64],
    p: int,
    cap: NDArray[np.float64] | None = None,
) -> _Pairs:
    """Keep the sorted pairs with y_j allowed and d_ij ≤ T_i = min(F_i, C_i, cap_i).

    ``start`` gives each demand point's pairs, ascending in d_ij. Returns the kept (site,
    distance), the row offsets and T_i. When every pair is kept these are the arrays given
    (only pairs are ever dropped, in order, so they are equal): the caller still holds them,
    and a second copy of 19M pairs is 300 MB (20k × 1,000 uniform, where the bound drops none).
    """
    allowed = upper > 0
    rank = int(allowed.sum()) - int(p)  # 0-based rank of the (m' − p + 1)-th nearest site
    new_start, new_site, new_distance, threshold = candidate_pairs(
        start, site, distance, allowed, lower > 0, rank,
        np.full(n_demand, np.inf) if cap is None else np.asarray(cap, dtype=np.float64),
    )
    if new_site.size == site.size:
        return site, distance, start, threshold
    return new_site, new_distance, new_start, threshold


def prepare_p_median(instance: Instance, p: int) -> PMedianData:
    """Travel costs, and the reduced, sorted candidate pairs over the allowed sites.

    A dense-backed cost matrix is read in place (:func:`~optiserv.heuristics.
    _p_median_kernels.dense_candidate_pairs`): its n·m pairs are never stored in CSR form
    nor sorted in full, only the candidate pairs are.
    """
    costs = travel_costs(instance)
    lower, upper = site_bounds(instance)
    dense = costs.dense_array
    if dense is not None:
        rank = int((upper > 0).sum()) - int(p)
        start, site, distance, threshold = dense_candidate_pairs(
            dense, upper > 0, lower > 0, rank, np.full(instance.n_demand, np.inf)
        )
    else:
        sites, distances = sort_rows(costs.indptr, costs.indices, costs.data)
        # a copy: the matrix's indptr is read-only and may come back as the pairs' start
        site, distance, start, threshold = _candidate_pairs(
            costs.indptr.copy(), sites, distances, instance.n_demand, lower, upper, p
        )
    unreachable = np.flatnonzero(np.diff(start) == 0).astype(np.int64)
    return PMedianData(costs, site, distance, start, threshold, unreachable, lower, upper)


def reduce_by_bound(
    instance: Instance,
    data: PMedianData,
    p: int,
    bound: LagrangianBound,
    upper_bound: float,
    pair_cost: NDArray[np.float64] | None = None,
) -> PMedianData:
    """Remove sites and pairs that only plans costing more than ``upper_bound`` could use.

    With multipliers λ, Lagrangian bound L, site values ρ_j and the subproblem's open set S
    (see :class:`~optiserv.heuristics.p_median.LagrangianBound`), let ρ_last be the largest ρ
    of a free site in S and ρ_next the smallest ρ of a free site outside S. Forcing a change
    raises the bound to

    * y_j = 1 for a free j ∉ S: L + ρ_j − ρ_last;
    * y_j = 0 for a free j ∈ S: L − ρ_j + ρ_next;
    * x_ij = 1: L + max(0, w_i d_ij − λ_i) + [j ∉ S] (ρ_j − ρ_last).

    A change whose bound exceeds ``upper_bound`` (plus a tolerance) belongs to no plan as
    good as the incumbent, so it is fixed the other way. For the pairs, U_i is the largest
    d_ij of a pair that survives: demand i's nearest open site is within U_i in every plan
    at least as good as the incumbent, which stays feasible. The optimum is unchanged.
    ``pair_cost`` is w_i d_ij of ``data``'s pairs, when the caller already has it.
    """
    cost = data.pair_cost(instance.weight()) if pair_cost is None else pair_cost
    lower, upper = data.site_lower, data.site_upper
    fixed = lower > 0
    free = (upper > 0) & ~fixed
    chosen, value = bound.chosen, bound.site_value
    tolerance = 1e-6 + 1e-9 * abs(upper_bound)
    slack = upper_bound + tolerance - bound.bound
    last = float(value[chosen & free].max()) if (chosen & free).any() else -math.inf
    following = float(value[~chosen & free].min()) if (~chosen & free).any() else math.inf
    with np.errstate(invalid="ignore"):
        close = free & ~chosen & (value - last > slack)
        force_open = free & chosen & (following - value > slack)
    # a row with no survivor keeps all its pairs (defensive: cannot happen, see the kernel)
    cap = surviving_reach(
        data.start, data.site, cost, data.distance, bound.multipliers, chosen, value, last,
        slack, close,
    )
    new_lower = np.where(force_open, 1.0, lower)
    new_upper = np.where(close, 0.0, upper)
    site, distance, start, threshold = _candidate_pairs(
        data.start, data.site, data.distance, instance.n_demand, new_lower, new_upper, p, cap
    )
    if (np.diff(start) == 0).any():  # cannot happen for a plan that serves everyone
        return data
    reduction = {
        "candidate_pairs_before_bound": data.reduction.get("candidate_pairs_before_bound",
                                                           data.n_pairs),
        "sites_closed_by_bound": data.reduction.get("sites_closed_by_bound", 0)
        + int(close.sum()),
        "sites_opened_by_bound": data.reduction.get("sites_opened_by_bound", 0)
        + int(force_open.sum()),
    }
    return replace(
        data,
        site=site,
        distance=distance,
        start=start,
        threshold=threshold,
        site_lower=new_lower,
        site_upper=new_upper,
        reduction={**data.reduction, **reduction},
    )


def _with_site_bounds(
    instance: Instance,
    data: PMedianData,
    p: int,
    lower: NDArray[np.float64],
    upper: NDArray[np.float64],
) -> PMedianData:
    """The same problem with tighter bounds on y_j; thresholds T_i are kept and tightened."""
    site, distance, start, threshold = _candidate_pairs(
        data.start, data.site, data.distance, instance.n_demand, lower, upper, p,
        data.threshold,
    )
    if (np.diff(start) == 0).any():  # cannot happen for a plan that serves everyone
        return data
    return replace(
        data, site=site, distance=distance, start=start, threshold=threshold,
        site_lower=lower, site_upper=upper,
    )


class PMedian(Formulation):
    r"""p-median problem (Hakimi 1964): p open sites, least total weighted travel cost.

    The objective is the total weighted cost Σ_i w_i min_{j open} d_ij (weight × cost unit),
    not the mean. Exactly p sites open; fixed sites count toward p and are open, forbidden
    sites never open. Every demand point, whatever its weight, must reach an open site: a pair
    absent from the travel costs (or ``inf``) is unreachable. If some demand point reaches no
    allowed site, or no p sites reach every demand point, the model is INFEASIBLE and the
    Solution's message says why.

    Symbols: i demand point, j site, w_i = ``instance.weight()``, d_ij =
    ``travel_costs(instance)``, y_j ∈ {0, 1} open, J_i = the candidate sites of i (reachable,
    allowed, d_ij ≤ T_i; see :class:`PMedianData` and :func:`reduce_by_bound`).

    **Radius formulation** (``formulation="radius"``). Let D_i1 < D_i2 < … < D_iK_i be the
    distinct values of d_ij over j ∈ J_i (for a demand point with w_i = 0 all of J_i forms one
    level, K_i = 1). z_ik (k = 2..K_i) is 1 when no open site is closer to i than D_ik.

    .. math::

        \min \sum_i w_i \Big[ D_{i1} + \sum_{k=2}^{K_i} (D_{ik} - D_{i,k-1})\, z_{ik} \Big]

        \text{s.t.}\quad z_{i,k+1} - z_{ik} + \sum_{j \in J_i : d_{ij} = D_{ik}} y_j \ge 0
        \quad \forall i,\ k = 1..K_i, \qquad z_{i1} \equiv 1,\ z_{i,K_i+1} \equiv 0

        \sum_j y_j = p, \qquad y_j \in \{0, 1\}, \qquad 0 \le z_{ik} \le 1

    Chaining the rows gives z_ik ≥ 1 − Σ_{j ∈ J_i: d_ij < D_ik} y_j, the covering form of
    the papers, with the same LP optimum and far fewer nonzeros. The row k = K_i states that
    some site of J_i is open: it keeps unreachable pairs out, and is implied by the reductions
    otherwise.

    **Assignment formulation** (``formulation="assignment"``), 0 ≤ x_ij ≤ 1 for j ∈ J_i:

    .. math::

        \min \sum_i \sum_{j \in J_i} w_i d_{ij} x_{ij} \quad\text{s.t.}\quad
        \sum_{j \in J_i} x_{ij} = 1 \;\forall i, \qquad x_{ij} \le y_j \;\forall i, j \in J_i,
        \qquad \sum_j y_j = p, \qquad y_j \in \{0, 1\}

    For integral y an optimal x is integral (each i to its nearest open site).

    **Method.** (1) Candidate pairs with the exact thresholds F_i, C_i, each demand point's
    pairs sorted by d_ij. (2) A plan by greedy and best-improvement interchange on those
    sorted rows (gain / loss / extra bookkeeping, Resende & Werneck 2007). (3) The
    Lagrangian bound by subgradient ascent and the bound-based reduction of sites and pairs
    (:func:`reduce_by_bound`). Every 100 iterations an interchange from the Lagrangian
    subproblem's sites may improve the plan, which lowers the ascent's Polyak target; the
    first ascent stops once the bound fixes half the free sites, so that its slow end runs
    on the reduced pairs. While the bound stays below the plan's cost, the bound is
    re-optimised on the reduced problem and every free site is probed
    (:func:`~optiserv.heuristics.p_median.probe_sites`), each followed by another
    reduction; no new step starts once the time limit has passed. After every bound an
    interchange from the Lagrangian subproblem's sites may improve the plan. Every
    reduction keeps all plans at least as good as the incumbent, so the optimum is
    unchanged. (4) If the bound meets the plan's cost (within the requested
    relative gap; with integral w_i d_ij the bound is rounded up), the plan is returned as
    OPTIMAL without a MIP. (5) Otherwise the gap is closed by one of two exact searches
    (``search``): the Lagrangian branch and bound over the sites
    (:func:`~optiserv.heuristics.p_median_tree.lagrangian_branch_and_bound`: every node's
    bound is the Lagrangian dual re-optimised from its parent's multipliers, with the same
    fixing; with integral w_i d_ij it only looks for plans costing at most U − 1), or the MIP,
    built on the reduced pairs and solved with the plan as warm start; the reported bound is
    then the larger of the solver's and the Lagrangian one. A solver answer whose objective
    disagrees with its own plan (seen with HiGHS 1.16 and a warm start) is discarded and the
    MIP solved again without the start.

    Parameters
    ----------
    p
        Number of open sites, fixed sites included.
    formulation
        ``"radius"``, ``"assignment"`` or ``"auto"`` (the radius model; see Notes).
    lagrangian
        Run steps (3) and (4). ``False`` solves the MIP on the candidate pairs of step (1)
        with the heuristic plan as warm start (to compare the formulations).
    search
        How step (5) closes the gap: ``"tree"`` (Lagrangian branch and bound, no solver),
        ``"mip"`` (the backend), or ``"auto"``: the MIP when the reduced model has at most 8
        candidate pairs per demand point (then small for HiGHS, while p may be large and
        branching on single sites slow), the tree otherwise. The tree never calls the backend.

    Notes
    -----
    ``"auto"`` picks the radius formulation: after the reductions it was as fast or faster
    than the assignment model on the OR-Library instances (``benchmarks/bench_pmed.py``).
    ``Solution.details`` holds ``p``, ``formulation``, ``candidate_pairs`` (in the MIP),
    ``heuristic_objective``, ``lagrangian_bound``, ``total_cost`` (Σ_i w_i d_ij recomputed
    from the plan), the reduction counts and the subgradient iterations per stage, and
    ``tree_nodes`` and ``tree_iterations`` when the tree ran.
    """

    name: ClassVar[str] = "pmedian"

    def __init__(
        self,
        *,
        p: int,
        formulation: FormulationName = "auto",
        lagrangian: bool = True,
        search: SearchName = "auto",
    ) -> None:
        self.p = p
        self.formulation = formulation
        self.lagrangian = lagrangian
        self.search = search

    # ------------------------------------------------------------------ solve
    def _solve_prepared(
        self,
        instance: Instance,
        prepared: PMedianData,
        solver: Backend,
        options: SolveOptions,
        timer: PhaseTimer,
    ) -> Solution:
        """Lagrangian bound and reductions, then the tree or the MIP (see the class docstring)."""
        with timer("heuristic"):
            deadline = time.perf_counter() + options.time_limit - timer.total()["total"]
            prepared = self._bound_and_reduce(instance, prepared, deadline)
        plan = prepared.plan
        if plan is not None and plan.serves_all:
            gap = relative_gap(plan.objective, prepared.lower_bound)
            if _proven(plan.objective, prepared.lower_bound, options.relative_gap):
                message = "optimal: the Lagrangian bound meets the heuristic plan; no MIP needed"
                return self._plan_solution(
                    instance, prepared, Status.OPTIMAL, message, timer, solver
                )
            remaining = options.time_limit - timer.total()["total"]
            if remaining <= 0:
                message = f"time limit reached before the MIP; heuristic plan, gap {gap:.3%}"
                return self._plan_solution(
                    instance, prepared, Status.FEASIBLE, message, timer, solver
                )
            if self._resolved_search(instance, prepared) == "tree":
                with timer("tree"):
                    tree = self._tree(instance, prepared, options, deadline)
                return self._tree_solution(instance, prepared, tree, timer, solver)
            options = dataclasses.replace(options, time_limit=remaining)
        with timer("build"):
            built = self._build(instance, prepared)
        with timer("heuristic"):
            start = self._warm_start(instance, prepared, built, options)
        with timer("solve"):
            # the HiGHS backend itself re-solves when a MIP start makes it misreport
            result = solver.solve(built.program, options, start)
        if result.status.has_solution and _inconsistent(
            result, built.program, prepared.lower_bound
        ):
            result = dataclasses.replace(
                result,
                status=Status.FEASIBLE,
                objective=built.program.value(result.values),  # type: ignore[arg-type]
                bound=-math.inf,
                message=f"{result.message}; the solver's objective disagrees with its plan, "
                "so optimality is not claimed",
            )
        if not result.status.has_solution and plan is not None and plan.serves_all:
            message = f"{result.message}; returning the heuristic plan"
            return self._plan_solution(
                instance, prepared, Status.FEASIBLE, message, timer, solver, result.bound
            )
        return self._finish(instance, prepared, built, result, timer)

    # ------------------------------------------------------------------ hooks
    def _check(self, instance: Instance) -> None:
        self._check_p(instance, self.p)
        if self.formulation not in ("auto", "radius", "assignment"):
            raise ParameterError(
                f"{self.name}: formulation must be 'auto', 'radius' or 'assignment', "
                f"got {self.formulation!r}"
            )
        if self.search not in ("auto", "tree", "mip"):
            raise ParameterError(
                f"{self.name}: search must be 'auto', 'tree' or 'mip', got {self.search!r}"
            )

    def _resolved_search(self, instance: Instance, prepared: PMedianData) -> str:
        """``"tree"`` or ``"mip"``; ``"auto"`` picks the MIP only when the reduced model is small.

        Small means at most ``_SMALL_MIP_PAIRS_PER_DEMAND`` candidate pairs per demand point
        after the reductions: HiGHS then solves the radius model in well under a second, also
        when p is large, where branching on single sites needs many nodes.
        """
        if self.search == "mip" or not self.lagrangian:
            return "mip"
        if self.search == "tree":
            return "tree"
        small = prepared.n_pairs <= _SMALL_MIP_PAIRS_PER_DEMAND * instance.n_demand
        return "mip" if small else "tree"

    def _tree(
        self, instance: Instance, prepared: PMedianData, options: SolveOptions, deadline: float
    ) -> TreeResult:
        """The Lagrangian branch and bound from the reduced pairs and the last multipliers,
        until ``deadline`` (``time.perf_counter()`` seconds)."""
        plan = prepared.plan
        assert plan is not None and prepared.multipliers is not None
        weight = instance.weight()
        cost = prepared.pair_cost(weight)
        return lagrangian_branch_and_bound(
            prepared.costs, weight, int(self.p),
            start=prepared.start, site=prepared.site, cost=cost,
            fixed=prepared.site_lower > 0, allowed=prepared.site_upper > 0,
            multipliers=prepared.multipliers, incumbent=plan.open_sites,
            incumbent_cost=plan.objective, integral=bool(np.all(cost == np.round(cost))),
            relative_gap=options.relative_gap, time_limit=deadline - time.perf_counter(),
        )

    def _tree_solution(
        self,
        instance: Instance,
        prepared: PMedianData,
        result: TreeResult,
        timer: PhaseTimer,
        solver: Backend,
    ) -> Solution:
        """The tree's plan: OPTIMAL when the tree was searched to the end, else with a gap."""
        plan = prepared.plan
        assert plan is not None
        if result.objective < plan.objective:
            plan = PMedianPlan(result.open_sites, result.objective, True, plan.swaps)
        reduction = {**prepared.reduction, "tree_nodes": result.nodes,
                     "tree_iterations": result.iterations}
        prepared = replace(prepared, plan=plan, reduction=reduction)
        if result.complete:
            message = (
                f"optimal: Lagrangian branch and bound searched {result.nodes} nodes; no MIP "
                "needed"
            )
            status = Status.OPTIMAL
        else:
            gap = relative_gap(plan.objective, max(result.bound, prepared.lower_bound))
            message = (
                f"time limit reached in the Lagrangian branch and bound after {result.nodes} "
                f"nodes; gap {gap:.3%}"
            )
            status = Status.FEASIBLE
        solution = self._plan_solution(
            instance, prepared, status, message, timer, solver, result.bound
        )
        if status is Status.OPTIMAL:
            # the tree proves no plan is cheaper than the limit (see p_median_tree)
            bound = max(solution.bound, result.bound)
            solution = replace(
                solution, bound=bound, gap=relative_gap(solution.objective, bound)
            )
        return solution

    def _resolved_formulation(self) -> str:
        return "assignment" if self.formulation == "assignment" else "radius"

    def _prepare(self, instance: Instance) -> PMedianData:
        return prepare_p_median(instance, int(self.p))

    def _early_exit(
        self, instance: Instance, prepared: PMedianData
    ) -> tuple[Status, str, dict[str, Any]] | None:
        if prepared.unreachable.size == 0:
            return None
        ids = instance.demand.ids[prepared.unreachable].tolist()
        message = (
            f"infeasible: {len(ids)} demand point(s) cannot reach any site that may open: "
            f"ids {format_examples(ids)}"
        )
        return Status.INFEASIBLE, message, {"unreachable_demand": ids}

    def _bound_and_reduce(
        self, instance: Instance, prepared: PMedianData, deadline: float = math.inf
    ) -> PMedianData:
        """Heuristic plan, Lagrangian bounds, probing, and the bound-based reductions.

        Stage 1 bounds the candidate pairs, until the bound meets the plan's cost or fixes
        ``_SETTLE_SHARE`` of the free sites, and reduces them; while the bound stays below the
        plan's cost, stage 2 re-optimises the bound on the reduced problem and reduces again,
        and stages 3 to 5 probe every free site (:func:`~optiserv.heuristics.p_median.
        probe_sites`), re-optimise and reduce, for as long as probing decides some site.
        After each bound, an interchange from the Lagrangian subproblem's sites may improve
        the plan. Every step keeps all plans at least as good as the incumbent. No new stage
        or probe starts, and an ascent stops, once the clock passes ``deadline``
        (``time.perf_counter()`` seconds).
        """
        p = int(self.p)
        weight = instance.weight()
        pair_cost = prepared.pair_cost(weight)  # w_i d_ij, per stage's data
        plan = greedy_interchange(
            prepared.costs, weight, p,
            fixed=instance.sites.fixed, forbidden=instance.sites.forbidden,
            pairs=(prepared.start, prepared.site, prepared.distance), pair_cost=pair_cost,
            deadline=deadline,
        )
        details: dict[str, Any] = {
            "heuristic_objective": plan.objective if plan.serves_all else None
        }
        if not plan.serves_all or not self.lagrangian:
            return replace(prepared, plan=plan, reduction=details)
        integral = bool(np.all(weight == np.round(weight))) and bool(
            np.all(prepared.distance == np.round(prepared.distance))
        )
        data, best_bound = prepared, -math.inf
        bound: LagrangianBound | None = None
        for stage in (1, 2, 3, 4, 5):  # 3..5: probing, repeated while it decides sites
            if stage >= 2 and time.perf_counter() > deadline:
                break
            if stage >= 3:
                free = (data.site_upper > 0) & (data.site_lower == 0)
                if bound is None or not free.any():
                    break
                close, force_open = probe_sites(
                    data.start, data.site, data.pair_cost(weight), p,
                    fixed=data.site_lower > 0, forbidden=data.site_upper == 0,
                    upper_bound=plan.objective, bound=bound, deadline=deadline,
                )
                for key, mask in (("closed", close), ("opened", force_open)):
                    name = f"sites_{key}_by_probing"
                    details[name] = details.get(name, 0) + int(mask.sum())
                if not (close.any() or force_open.any()):
                    break
                data = _with_site_bounds(
                    instance, data, p,
                    np.where(force_open, 1.0, data.site_lower),
                    np.where(close, 0.0, data.site_upper),
                )
            found = [plan]
            if stage > 1:
                pair_cost = data.pair_cost(weight)

            def improve(
                chosen: NDArray[np.bool_],
                value: NDArray[np.float64],
                stage_data: PMedianData = data,
                stage_cost: NDArray[np.float64] = pair_cost,
                found: list[PMedianPlan] = found,
            ) -> float:
                """An interchange from the ascent's current subproblem (see lagrangian_bound)."""
                found[0] = self._plan_from_sites(
                    instance, stage_data, chosen, value, found[0], stage_cost
                )
                return found[0].objective

            bound = lagrangian_bound(
                data.start, data.site, pair_cost, p,
                fixed=data.site_lower > 0, forbidden=data.site_upper == 0,
                upper_bound=plan.objective,
                initial=None if bound is None else bound.multipliers, deadline=deadline,
                improve=improve, settle_share=_SETTLE_SHARE if stage == 1 else None,
            )
            plan = found[0]
            details[f"subgradient_iterations_{stage}"] = bound.iterations
            best_bound = max(best_bound, bound.bound)
            if time.perf_counter() > deadline:
                # out of time: the bound stands; the interchange from its sites and the
                # reductions only serve a search that will not run
                details["stopped_by_time_limit_at_stage"] = stage
                break
            plan = self._lagrangian_plan(instance, data, bound, plan, pair_cost)
            data = reduce_by_bound(instance, data, p, bound, plan.objective, pair_cost)
            rounded = math.ceil(best_bound - 1e-6) if integral else best_bound
            if _proven(plan.objective, rounded, 0.0):
                break
        lower_bound = math.ceil(best_bound - 1e-6) if integral else best_bound
        details.update(heuristic_objective=plan.objective, lagrangian_bound=best_bound)
        return replace(
            data,
            plan=plan,
            lower_bound=max(lower_bound, prepared.lower_bound),
            reduction={**data.reduction, **details},
            multipliers=None if bound is None else bound.multipliers,
        )

    def _lagrangian_plan(
        self,
        instance: Instance,
        data: PMedianData,
        bound: LagrangianBound,
        plan: PMedianPlan,
        pair_cost: NDArray[np.float64] | None = None,
    ) -> PMedianPlan:
        """An interchange from the Lagrangian subproblem's sites; the better of it and ``plan``
        (``pair_cost`` as for :meth:`_plan_from_sites`)."""
        if bound.bound >= plan.objective - 1e-9 * abs(plan.objective):
            return plan
        return self._plan_from_sites(
            instance, data, bound.chosen, bound.site_value, plan, pair_cost
        )

    def _plan_from_sites(
        self,
        instance: Instance,
        data: PMedianData,
        chosen_mask: NDArray[np.bool_],
        value: NDArray[np.float64],
        plan: PMedianPlan,
        pair_cost: NDArray[np.float64] | None = None,
    ) -> PMedianPlan:
        """An interchange from ``chosen_mask`` (sites in ascending ρ); the better of it and
        ``plan``. ``pair_cost``: w_i d_ij of ``data``'s pairs, when already computed."""
        chosen = np.flatnonzero(chosen_mask)
        order = chosen[np.argsort(value[chosen], kind="stable")]
        other = greedy_interchange(
            data.costs, instance.weight(), int(self.p),
            fixed=instance.sites.fixed, forbidden=instance.sites.forbidden, initial=order,
            pairs=(data.start, data.site, data.distance), pair_cost=pair_cost,
        )
        return other if other.serves_all and other.objective < plan.objective else plan

    def _build(self, instance: Instance, prepared: PMedianData) -> BuiltModel:
        if self._resolved_formulation() == "assignment":
            return _build_assignment(instance, prepared, int(self.p))
        return _build_radius(instance, prepared, int(self.p))

    def _warm_start(
        self,
        instance: Instance,
        prepared: PMedianData,
        built: BuiltModel,
        options: SolveOptions,
    ) -> NDArray[np.float64] | None:
        plan = prepared.plan
        if plan is None:
            plan = greedy_interchange(
                prepared.costs,
                instance.weight(),
                int(self.p),
                fixed=prepared.site_lower > 0,
                forbidden=prepared.site_upper == 0,
            )
        if not plan.serves_all:
            return None
        is_open = np.zeros(instance.n_sites, dtype=bool)
        is_open[plan.open_sites] = True
        start = _start_vector(built, prepared, is_open)
        if start is None or built.program.violation(start) > _START_TOLERANCE:
            return None
        return start

    def _served(
        self, instance: Instance, prepared: PMedianData, open_sites: NDArray[np.int64]
    ) -> Served:
        assignment, distance = nearest_open(prepared.costs, open_sites)
        served = assignment >= 0
        weight = instance.weight()
        details = {
            "p": int(self.p),
            "formulation": self._resolved_formulation(),
            "candidate_pairs": prepared.n_pairs,
            "total_cost": float((weight[served] * distance[served]).sum()),
            **prepared.reduction,
        }
        return Served(assignment, float(weight[served].sum()), details)

    def _finish(
        self,
        instance: Instance,
        prepared: PMedianData,
        built: BuiltModel,
        result: SolverResult,
        timer: PhaseTimer,
    ) -> Solution:
        solution = super()._finish(instance, prepared, built, result, timer)
        if solution.status is Status.INFEASIBLE:
            message = (
                f"infeasible: no {self.p} sites (fixed sites included) let every demand point "
                f"reach an open site ({result.message})"
            )
            return replace(solution, message=message)
        if not solution.status.has_solution:
            return solution
        # the plan's own cost, recomputed from d_ij (free of the solver's round-off)
        objective = float(solution.details["total_cost"])
        bound = solution.bound
        if math.isfinite(prepared.lower_bound):
            bound = max(bound, prepared.lower_bound)
        bound = min(bound, objective)  # both are proven: the bound cannot pass the plan
        if objective - bound <= 1e-9 * max(1.0, abs(objective)):
            bound = objective  # equal up to the solver's round-off
        return replace(
            solution, objective=objective, bound=bound, gap=relative_gap(objective, bound)
        )

    # ------------------------------------------------------------------ helpers
    def _plan_solution(
        self,
        instance: Instance,
        prepared: PMedianData,
        status: Status,
        message: str,
        timer: PhaseTimer,
        solver: Backend,
        solver_bound: float = -math.inf,
    ) -> Solution:
        """A Solution for the heuristic plan, with the best proven bound."""
        assert prepared.plan is not None
        open_sites = prepared.plan.open_sites
        served = self._served(instance, prepared, open_sites)
        objective = served.details["total_cost"]
        bound = prepared.lower_bound
        if math.isfinite(solver_bound):
            bound = max(bound, solver_bound)
        bound = min(bound, objective)
        return self._plan_solution_of(
            instance,
            open_sites,
            served,
            status=status,
            objective=objective,
            bound=bound,
            timer=timer,
            backend=(solver.name, solver.version()),
            message=message,
        )


def _inconsistent(result: SolverResult, program: LinearProgram, lower_bound: float) -> bool:
    """True when a solver's reported objective is not its plan's, or beats a proven bound."""
    if not result.status.has_solution or result.values is None:
        return False
    tolerance = 1e-6 * max(1.0, abs(result.objective))
    if abs(program.value(result.values) - result.objective) > tolerance:
        return True
    return math.isfinite(lower_bound) and result.objective < lower_bound - tolerance


def _proven(objective: float, bound: float, relative: float) -> bool:
    """True when the bound proves the objective optimal within ``relative`` (and 1e-6)."""
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return False
    return objective - bound <= max(1e-6, 1e-9 * abs(objective), relative * abs(objective))


# ---------------------------------------------------------------------- model builders
def _pair_cost_rows(
    instance: Instance, prepared: PMedianData
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """w_i per pair, and which pairs start a new distance level in their demand row."""
    weight = instance.weight()[prepared.demand]
    first = np.zeros(prepared.n_pairs, dtype=bool)
    first[prepared.start[:-1][np.diff(prepared.start) > 0]] = True
    return weight, first


def _levels(
    instance: Instance, prepared: PMedianData
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
    """Distance levels: level of every pair, demand and distance of every level, first flags.

    A level is a distinct distance value D_ik in demand i's candidate list; demand points of
    zero weight have one level (their distances do not matter, only that one site is open).
    """
    weight, first_pair = _pair_cost_rows(instance, prepared)
    level_distance = np.where(weight > 0, prepared.distance, 0.0)
    new_level = first_pair.copy()
    new_level[1:] |= level_distance[1:] != level_distance[:-1]
    level_of_pair = np.cumsum(new_level) - 1
    level_demand = prepared.demand[new_level]
    return level_of_pair, level_demand, level_distance[new_level], first_pair[new_level]


def _build_radius(instance: Instance, prepared: PMedianData, p: int) -> BuiltModel:
    level_of_pair, level_demand, level_distance, level_first = _levels(instance, prepared)
    n_levels = level_demand.size
    weight = instance.weight()
    has_z = ~level_first
    z_of_level = np.cumsum(has_z) - 1
    z_levels = np.flatnonzero(has_z)
    z_cost = weight[level_demand[z_levels]] * (
        level_distance[z_levels] - level_distance[z_levels - 1]
    )
    offset = float((weight[level_demand[level_first]] * level_distance[level_first]).sum())

    builder = ModelBuilder()
    y = builder.add_variables(
        "y", instance.n_sites, lower=prepared.site_lower, upper=prepared.site_upper, integer=True
    )
    z = builder.add_variables("z", z_levels.size, cost=z_cost, lower=0.0, upper=1.0)
    # row of level g: z_{g+1} − z_g + Σ_{j at level g} y_j ≥ [g is the first level of i]
    rows = np.concatenate((level_of_pair, z_levels - 1, z_levels))
    cols = np.concatenate((
        y.start + prepared.site,
        z.start + z_of_level[z_levels],
        z.start + z_of_level[z_levels],
    ))
    values = np.concatenate((
        np.ones(prepared.n_pairs), np.ones(z_levels.size), -np.ones(z_levels.size)
    ))
    builder.add_rows(rows, cols, values, n_rows=n_levels, lower=level_first.astype(np.float64))
    builder.add_rows(
        np.zeros(instance.n_sites), y.columns, 1.0, n_rows=1, lower=float(p), upper=float(p)
    )
    extra = {
        "z": z,
        "formulation": "radius",
        "level_of_pair": level_of_pair,
        "level_demand": level_demand,
        "z_levels": z_levels,
    }
    return BuiltModel(builder.build("minimize", offset=offset), y, extra)


def _build_assignment(instance: Instance, prepared: PMedianData, p: int) -> BuiltModel:
    weight = instance.weight()
    pairs = prepared.n_pairs
    builder = ModelBuilder()
    y = builder.add_variables(
        "y", instance.n_sites, lower=prepared.site_lower, upper=prepared.site_upper, integer=True
    )
    x = builder.add_variables(
        "x", pairs, cost=weight[prepared.demand] * prepared.distance, lower=0.0, upper=1.0
    )
    # Σ_j x_ij = 1 for every demand point
    builder.add_rows(
        prepared.demand, x.columns, 1.0, n_rows=instance.n_demand, lower=1.0, upper=1.0
    )
    # x_ij − y_j ≤ 0 for every candidate pair
    pair_rows = np.arange(pairs, dtype=np.int64)
    builder.add_rows(
        np.concatenate((pair_rows, pair_rows)),
        np.concatenate((x.columns, y.start + prepared.site)),
        np.concatenate((np.ones(pairs), -np.ones(pairs))),
        n_rows=pairs,
        upper=0.0,
    )
    builder.add_rows(
        np.zeros(instance.n_sites), y.columns, 1.0, n_rows=1, lower=float(p), upper=float(p)
    )
    return BuiltModel(builder.build("minimize"), y, {"x": x, "formulation": "assignment"})


def _start_vector(
    built: BuiltModel, prepared: PMedianData, is_open: NDArray[np.bool_]
) -> NDArray[np.float64] | None:
    """Every column's value for the plan that opens ``is_open`` (None if some i is unserved)."""
    values = np.zeros(built.program.n_cols)
    values[built.sites.start : built.sites.start + built.sites.size] = is_open
    pair_open = is_open[prepared.site]
    n = prepared.start.size - 1
    # first open pair of each demand row (pairs are sorted by distance within a row)
    first_open = np.full(n, prepared.n_pairs, dtype=np.int64)
    open_pairs = np.flatnonzero(pair_open)
    np.minimum.at(first_open, prepared.demand[open_pairs], open_pairs)
    if (first_open >= prepared.n_pairs).any():
        return None
    if built.extra["formulation"] == "assignment":
        x = built.extra["x"]
        values[x.start + first_open] = 1.0
        return values
    # radius: z_ik = 1 ⇔ the nearest open site's level is at or beyond level k
    level_of_pair = built.extra["level_of_pair"]
    z_levels = built.extra["z_levels"]
    z = built.extra["z"]
    nearest_level = level_of_pair[first_open]
    level_demand = built.extra["level_demand"]
    values[z.start : z.start + z.size] = z_levels <= nearest_level[level_demand[z_levels]]
    return values
