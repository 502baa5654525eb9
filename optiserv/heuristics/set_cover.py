r"""A set-covering engine: exact reductions, Lagrangian bound, Lagrangian heuristic, exact finish.

The problem is

.. math::

    \min \sum_j c_j y_j \quad \text{s.t.} \quad \sum_{j \in J_i} y_j \ge 1 \;\; \forall i,
    \qquad y_j \in \{0, 1\},

with fixed sites (y_j = 1) and forbidden sites (y_j = 0). The method follows Beasley (1990),
Ceria, Nobili & Sassano (1998) and Caprara, Fischetti & Toth (1999):

1. **Exact reductions**, iterated to a fixed point (:func:`reduce_set_cover`): fixed sites and
   free sites with c_j ≤ 0 open and their rows leave; a row whose site set contains another
   row's is dropped; a site whose rows are a subset of a preferred site's (cheaper, or equal
   cost and more rows, or equal and lower index) is removed; a row with a single site opens it.
1b. **Independent parts**: when no site joins two groups of the core's rows, each group is
   solved on its own (steps 2–4) and the plans and bounds are added up (not when deciding
   ``stop_at``, where the parts share the budget).
2. **Lagrangian bound** L(u) = Σ_i u_i + Σ_j min(0, c̄_j), c̄_j = c_j − Σ_{i ∈ I_j} u_i, by
   subgradient ascent. With integer costs the bound is ⌈L(u) − 10⁻⁹ max(1, |L|)⌉.
3. **Lagrangian heuristic**: greedy on the reduced costs c̄(u) from the current multipliers,
   redundant sites dropped, then swaps of one or two open sites for one closed site. The best
   plan is kept.
3a. **Linear-programming multipliers** when the subgradient leaves the question open and a
   backend is given: the best L(u) is the LP relaxation's value, which subgradient ascent
   often approaches slowly (two units short on a 1,667-row unicost core). The backend solves
   the dual LP max Σ_i u_i s.t. Σ_{i ∈ I_j} u_i ≤ c_j, u ≥ 0, whose optimum is that value; its
   u is used as multipliers. The bound is L(u), recomputed here, so it stays valid whatever
   the backend's tolerances (any u ≥ 0 gives a lower bound), and c̄(u) feeds one more run of
   the heuristic and the reduced-cost fixing below.
4. **Exact finish** when ⌈L⌉ < UB: every plan of cost ≤ T (T = UB − 1 for integer costs) has
   cost ≥ L(u) + c̄_j if it opens j with c̄_j > 0, and ≥ L(u) − c̄_j if it closes j with
   c̄_j < 0; so sites with L(u) + c̄_j > T close and sites with L(u) − c̄_j > T open in every
   such plan (reduced-cost fixing). The reductions run again, and the rest goes to the backend
   as a MIP with the cut-off row Σ c_j y_j ≤ T: infeasible proves the heuristic plan optimal.

``exact=False`` stops after step 3a (no MIP); ``backend=None`` also skips step 3a.

``stop_at`` turns the engine into a decision procedure ("is there a cover of cost ≤ s?"):
it stops as soon as a plan of cost ≤ s is found or the bound exceeds s, and the exact finish
looks only for plans of cost ≤ s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components

from optiserv.heuristics import _set_cover_kernels as kernels
from optiserv.lp import ModelBuilder
from optiserv.solvers import Backend, SolveOptions, SolverResult, Status

__all__ = [
    "SetCoverProblem",
    "SetCoverReduction",
    "SetCoverResult",
    "lagrangian_set_cover_bound",
    "reduce_set_cover",
    "solve_set_cover",
]

_BLOCK = 10
"""Subgradient steps between two runs of the Lagrangian heuristic and two clock checks."""
_MAX_STEPS = 3000
_PATIENCE = 20
"""Steps without a better bound before the step factor halves."""
_REPAIR_ROUNDS_PER_SITE = 40
"""Destroy-and-repair rounds per site of the plan (an upper limit; the clock also limits)."""
_REPAIR_STALL_PER_SITE = 10
"""Rounds per site of the plan without a cheaper plan before the repair gives up. On the
unicost cores of the spopt benchmark (10k–20k points) every improvement came within the
first plan-size rounds, and the 40-per-site remainder cost 9–19 s for nothing."""
_REPAIR_SHARE = 0.2
"""Share of the remaining time limit the destroy-and-repair search may use at most."""
_NOISE = 0.1
"""Relative noise on the repair's greedy scores (seeded)."""
_LP_SHARE = 0.5
"""Share of the remaining time limit the dual LP (step 3a) may use at most."""
_LP_AFTER_STEPS = 100
"""Subgradient steps before the dual LP (step 3a) is solved."""


@dataclass(frozen=True, eq=False)
class SetCoverProblem:
    """A weighted set-covering problem.

    Attributes
    ----------
    matrix
        (rows × sites) boolean CSR, a_ij = 1 ⇔ site j covers row i.
    costs
        (sites,) c_j.
    fixed
        Sites that are open in every plan (their rows are covered).
    forbidden
        Sites that never open.
    """

    matrix: sp.csr_matrix
    costs: NDArray[np.float64]
    fixed: NDArray[np.bool_]
    forbidden: NDArray[np.bool_]

    @classmethod
    def of(
        cls,
        matrix: sp.spmatrix | sp.sparray | NDArray[Any],
        costs: NDArray[np.float64] | None = None,
        *,
        fixed: NDArray[np.bool_] | None = None,
        forbidden: NDArray[np.bool_] | None = None,
    ) -> SetCoverProblem:
        """From any matrix; unit costs and no fixed or forbidden sites by default."""
        csr = sp.csr_matrix(matrix, dtype=bool)
        csr.sum_duplicates()
        csr.eliminate_zeros()
        csr.sort_indices()
        m = int(csr.shape[1])
        return cls(
            csr,
            np.ones(m) if costs is None else np.asarray(costs, dtype=np.float64),
            np.zeros(m, dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool),
            np.zeros(m, dtype=bool) if forbidden is None else np.asarray(forbidden, dtype=bool),
        )

    @property
    def integral(self) -> bool:
        """True when every cost is an integer (the bound then rounds up)."""
        return bool(np.all(self.costs == np.round(self.costs)))

    def cost_of(self, open_sites: NDArray[np.int64]) -> float:
        """Σ c_j over the open sites."""
        return float(self.costs[open_sites].sum())

    def covers(self, open_sites: NDArray[np.int64]) -> bool:
        """True when the open sites cover every row."""
        chosen = np.zeros(self.matrix.shape[1], dtype=np.int64)
        chosen[open_sites] = 1
        return bool(np.all(self.matrix.astype(np.int64) @ chosen > 0))


@dataclass(frozen=True, eq=False)
class SetCoverReduction:
    """What the reductions left: the rows still to cover, the sites still free, the sites
    forced open, and the core sub-problem in both layouts (local indices).

    Attributes
    ----------
    rows, sites
        Original indices of the alive rows and free sites (the core).
    opened
        Original indices of the sites open in every optimal plan the reductions keep
        (fixed sites included).
    feasible
        False when some row can be covered by no site.
    """

    rows: NDArray[np.int64]
    sites: NDArray[np.int64]
    opened: NDArray[np.int64]
    feasible: bool
    costs: NDArray[np.float64]
    row_start: NDArray[np.int64]
    row_sites: NDArray[np.int64]
    site_start: NDArray[np.int64]
    site_rows: NDArray[np.int64]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Rows of the core."""
        return int(self.rows.size)

    @property
    def n_sites(self) -> int:
        """Free sites of the core."""
        return int(self.sites.size)

    def incidence(self) -> sp.csc_matrix:
        """The core's (rows × sites) 0/1 matrix, in CSC from the by-site layout."""
        return sp.csc_matrix(
            (np.ones(self.site_rows.size), self.site_rows, self.site_start),
            shape=(self.n_rows, self.n_sites),
        )


@dataclass(frozen=True, eq=False)
class SetCoverResult:
    """A plan, its cost and a proven lower bound on the optimum.

    ``status`` is OPTIMAL (the plan is proven optimal, within ``relative_gap``), FEASIBLE
    (a plan and a bound), INFEASIBLE (no cover exists) or NO_SOLUTION. ``open_sites`` includes
    the fixed sites and ``objective`` their cost.
    """

    status: Status
    open_sites: NDArray[np.int64]
    objective: float
    bound: float
    message: str
    details: dict[str, Any]


# ---------------------------------------------------------------------------------- reductions
def _layouts(
    matrix: sp.csr_matrix,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    csr = sp.csr_matrix(matrix, dtype=bool)
    if not csr.has_sorted_indices:  # the reductions look sites up in each row's list
        csr = csr.sorted_indices()
    csc = csr.tocsc()
    csc.sort_indices()
    return (
        csr.indptr.astype(np.int64),
        csr.indices.astype(np.int64),
        csc.indptr.astype(np.int64),
        csc.indices.astype(np.int64),
    )


def reduce_set_cover(
    problem: SetCoverProblem,
    *,
    rows: bool = True,
    sites: bool = True,
    essential: bool = True,
    closed: NDArray[np.bool_] | None = None,
    must_open: NDArray[np.bool_] | None = None,
) -> SetCoverReduction:
    """Apply the exact reductions (module docstring, step 1) until none applies.

    ``rows``, ``sites`` and ``essential`` switch row dominance, site dominance and essential
    sites on or off; ``closed`` / ``must_open`` are extra sites fixed to 0 / 1 (for instance
    by reduced-cost fixing). Every optimal plan of the reduced problem, plus ``opened``, is an
    optimal plan of the problem (with the extra fixings).
    """
    n_rows, n_sites = problem.matrix.shape
    state = np.full(n_sites, kernels.ALIVE, dtype=np.int64)
    state[problem.forbidden] = kernels.REMOVED
    if closed is not None:
        state[closed] = kernels.REMOVED
    state[(problem.costs <= 0) & (state == kernels.ALIVE)] = kernels.OPEN
    state[problem.fixed] = kernels.OPEN
    if must_open is not None:
        state[must_open & ~problem.forbidden] = kernels.OPEN
    row_alive = np.ones(n_rows, dtype=bool)
    row_start, row_sites, site_start, site_rows = _layouts(problem.matrix)
    # rows / sites whose alive sets changed since their last dominance check (all at first)
    row_dirty, site_dirty = np.ones(n_rows, dtype=bool), np.ones(n_sites, dtype=bool)
    counts = {"rows_dominated": 0, "sites_dominated": 0, "sites_essential": 0, "passes": 0}
    feasible = True
    while True:
        counts["passes"] += 1
        changed = 0
        opened, feasible = kernels.essential_sites(
            row_start, row_sites, site_start, site_rows, row_alive, state, essential,
            site_dirty,
        )
        if not feasible:
            break
        counts["sites_essential"] += opened
        changed += opened
        if rows:
            dropped = kernels.dominated_rows(
                row_start, row_sites, site_start, site_rows, row_alive, state, row_dirty,
                site_dirty,
            )
            counts["rows_dominated"] += dropped
            changed += dropped
        if sites:
            removed = kernels.dominated_sites(
                row_start, row_sites, site_start, site_rows, problem.costs, row_alive, state,
                site_dirty, row_dirty,
            )
            counts["sites_dominated"] += removed
            changed += removed
        if changed == 0:
            break
    return _core(problem, row_alive, state, feasible, counts)


def _core(
    problem: SetCoverProblem,
    row_alive: NDArray[np.bool_],
    state: NDArray[np.int64],
    feasible: bool,
    counts: dict[str, int],
) -> SetCoverReduction:
    rows = np.flatnonzero(row_alive).astype(np.int64)
    free = np.flatnonzero(state == kernels.ALIVE).astype(np.int64)
    opened = np.flatnonzero(state == kernels.OPEN).astype(np.int64)
    core = problem.matrix[rows][:, free]
    row_start, row_sites, site_start, site_rows = _layouts(core)
    return SetCoverReduction(
        rows=rows,
        sites=free,
        opened=opened,
        feasible=feasible,
        costs=np.ascontiguousarray(problem.costs[free], dtype=np.float64),
        row_start=row_start,
        row_sites=row_sites,
        site_start=site_start,
        site_rows=site_rows,
        counts=counts,
    )


# ---------------------------------------------------------------------------------- bound
def _round_bound(value: float, integral: bool) -> float:
    if not math.isfinite(value):
        return value
    if integral:
        return float(math.ceil(value - 1e-9 * max(1.0, abs(value))))
    return value


def _initial_multipliers(core: SetCoverReduction) -> NDArray[np.float64]:
    """u_i = min_{j ∈ J_i} c_j / |I_j| (Beasley 1990)."""
    degree = np.diff(core.site_start).astype(np.float64)
    ratio = core.costs / np.maximum(degree, 1.0)
    row_of = np.repeat(np.arange(core.n_rows), np.diff(core.row_start))
    u = np.full(core.n_rows, np.inf)
    np.minimum.at(u, row_of, ratio[core.row_sites])
    return np.where(np.isfinite(u), u, 0.0)


def lagrangian_set_cover_bound(core: SetCoverReduction, u: NDArray[np.float64]) -> float:
    """L(u) of the core for multipliers u ≥ 0 (a lower bound on the core's optimum)."""
    return float(
        kernels.lagrangian_value(
            core.site_start, core.site_rows, core.costs, np.maximum(np.asarray(u, float), 0.0)
        )
    )


@dataclass
class _Search:
    """The state of the Lagrangian search on one core."""

    core: SetCoverReduction
    integral: bool
    order: NDArray[np.int64]
    best_plan: NDArray[np.bool_]
    best_cost: float
    best_u: NDArray[np.float64]
    bound: float = -math.inf
    steps: int = 0
    heuristic_runs: int = 0
    lp_u: NDArray[np.float64] | None = None
    """The LP multipliers (step 3a) when they set ``bound``; the repair keeps ``best_u``,
    whose reduced costs guide a greedy better than the LP's many ties at zero."""

    @property
    def bound_u(self) -> NDArray[np.float64]:
        """The multipliers whose L(u) is ``bound``."""
        return self.best_u if self.lp_u is None else self.lp_u

    def raise_bound(self, value: float) -> None:
        """``bound`` = L(``best_u``) = ``value`` when that is higher (so that ``bound_u``
        always goes with ``bound``, as the reduced-cost fixing needs)."""
        if value > self.bound:
            self.bound, self.lp_u = value, None

    def offer(self, scores: NDArray[np.float64]) -> None:
        """Greedy cover on ``scores``, local search; keep it if cheaper."""
        is_open = np.zeros(self.core.n_sites, dtype=bool)
        cost = self._cover(scores, is_open)
        if cost is None:
            return
        self.heuristic_runs += 1
        if cost < self.best_cost - 1e-12:
            self.best_cost, self.best_plan = cost, is_open

    def _cover(self, scores: NDArray[np.float64], is_open: NDArray[np.bool_]) -> float | None:
        """Complete ``is_open`` (in place) greedily on ``scores``, then swap and drop
        redundant sites; the plan's cost, or None when no cover exists."""
        core = self.core
        if not kernels.greedy_cover(
            core.row_start, core.row_sites, core.site_start, core.site_rows,
            core.costs, scores, is_open,
        ):
            return None
        kernels.swap_search(
            core.row_start, core.row_sites, core.site_start, core.site_rows,
            core.costs, self.order, is_open,
        )
        return float(core.costs[is_open].sum())

    @property
    def rounded(self) -> float:
        return _round_bound(self.bound, self.integral)

    def improve(self, seconds: float, seed: int, stop_at: float) -> int:
        """Destroy and repair (a large-neighbourhood search) around the best plan: close a
        random open site and every open site sharing a row with it, re-cover greedily on the
        reduced costs c̄(best u) with ±10 % seeded noise, swap and drop redundant sites;
        accept the result when it costs no more. Stops early once the plan costs at most
        ``stop_at`` or meets the bound, or after ``_REPAIR_STALL_PER_SITE`` rounds per open
        site without a cheaper plan. Returns the rounds run."""
        core = self.core
        if not self.best_plan.any() or seconds <= 0:
            return 0
        deadline = time.perf_counter() + seconds
        base = kernels.reduced_costs(core.site_start, core.site_rows, core.costs, self.best_u)
        rng = np.random.default_rng(seed)
        rounds = _REPAIR_ROUNDS_PER_SITE * int(self.best_plan.sum())
        patience = _REPAIR_STALL_PER_SITE * int(self.best_plan.sum())
        current, current_cost = self.best_plan.copy(), self.best_cost
        done = last_better = 0
        while done < rounds and done - last_better < patience and time.perf_counter() < deadline:
            tolerance = 1e-9 * max(1.0, abs(self.best_cost))
            decided = math.isfinite(stop_at) and self.best_cost <= stop_at
            if self.rounded >= self.best_cost - tolerance or decided:
                break
            done += 1
            is_open = current.copy()
            centre = int(rng.choice(np.flatnonzero(is_open)))
            kernels.close_neighbours(core.row_start, core.row_sites, core.site_start,
                                     core.site_rows, centre, is_open)
            scores = base * (1.0 + _NOISE * rng.uniform(-1.0, 1.0, core.n_sites))
            cost = self._cover(scores, is_open)
            if cost is None:
                continue
            if cost <= current_cost + 1e-12:
                current, current_cost = is_open, cost
                if cost < self.best_cost - 1e-12:
                    self.best_cost, self.best_plan = cost, is_open.copy()
                    last_better = done
        return done


def _lagrangian_search(
    core: SetCoverReduction,
    integral: bool,
    stop_at: float,
    relative_gap: float,
    deadline: float,
    offset: float,
    linear: Callable[[_Search], None] | None = None,
) -> _Search:
    """Subgradient ascent with the Lagrangian heuristic every few steps (steps 2 and 3).

    ``stop_at`` (core cost) ends the search once a plan costs at most it or the bound exceeds
    it; ``offset`` is the cost outside the core, for the relative gap. ``linear`` (step 3a)
    runs once, after the first ``_LP_AFTER_STEPS`` steps, when those left the question open:
    cheap questions are settled by the subgradient alone, and the LP's bound comes before the
    long tail of the ascent."""
    order = np.lexsort((np.arange(core.n_sites), -core.costs)).astype(np.int64)
    search = _Search(core, integral, order, np.zeros(core.n_sites, bool), math.inf,
                     np.zeros(core.n_rows))
    search.offer(core.costs)
    u = _initial_multipliers(core)
    best_u = u.copy()
    state = np.array([-np.inf, 2.0, 0.0])

    def done() -> bool:
        upper = search.best_cost
        if search.rounded >= upper - 1e-9 * max(1.0, abs(upper)):
            return True
        if math.isfinite(stop_at) and (
            upper <= stop_at + 1e-9 * max(1.0, abs(stop_at)) or search.rounded > stop_at
        ):
            return True
        total = upper + offset
        return (total - (search.rounded + offset)) <= relative_gap * max(abs(total), 1e-9)

    while not done() and search.steps < _MAX_STEPS and time.perf_counter() < deadline:
        if linear is not None and search.steps >= _LP_AFTER_STEPS:
            linear(search)
            linear = None
            continue
        # Polyak target: the plan's cost, or just above ``stop_at`` when deciding it
        target = search.best_cost
        if integral and math.isfinite(stop_at):
            target = min(target, math.floor(stop_at) + 1.0)
        done_steps = kernels.subgradient_block(
            core.row_start, core.row_sites, core.site_start, core.site_rows, core.costs,
            u, best_u, state, float(target), _BLOCK, _PATIENCE,
        )
        search.steps += abs(done_steps)
        search.best_u = best_u
        search.raise_bound(float(state[0]))
        search.offer(kernels.reduced_costs(core.site_start, core.site_rows, core.costs, u))
        if done_steps < 0:
            break
    if linear is not None and not done() and time.perf_counter() < deadline:
        linear(search)  # the ascent stopped before _LP_AFTER_STEPS
    search.best_u = best_u.copy()
    search.raise_bound(lagrangian_set_cover_bound(core, best_u))
    return search


# ---------------------------------------------------------------------------------- engine
def solve_set_cover(
    problem: SetCoverProblem,
    *,
    backend: Backend | None,
    options: SolveOptions | None = None,
    stop_at: float | None = None,
    exact: bool = True,
    split: bool = True,
) -> SetCoverResult:
    """Solve ``problem`` exactly (module docstring); ``backend`` None stops after the
    Lagrangian heuristic and ``exact=False`` after the LP multipliers (FEASIBLE with the bound
    unless the bound proves the plan). ``split=False`` solves the core as one piece even when
    it falls apart (step 1b).

    ``stop_at`` (total cost, fixed sites included): stop as soon as a plan costs at most it or
    the bound proves that none does (the result's ``objective`` / ``bound`` tell which).
    """
    options = options or SolveOptions()
    started = time.perf_counter()
    deadline = started + options.time_limit
    integral = problem.integral
    reduction = reduce_set_cover(problem)
    details: dict[str, Any] = {
        "rows": int(problem.matrix.shape[0]),
        "rows_after_reduction": reduction.n_rows,
        "sites_after_reduction": reduction.n_sites,
        "sites_forced_open": int(reduction.opened.size),
        **reduction.counts,
    }
    if not reduction.feasible:
        return SetCoverResult(Status.INFEASIBLE, np.zeros(0, np.int64), math.nan, math.nan,
                              "infeasible: some row has no site that may open", details)
    offset = problem.cost_of(reduction.opened)
    if reduction.n_rows == 0:
        return _result(problem, reduction.opened, offset, Status.OPTIMAL,
                       "the reductions leave nothing to cover", details)
    if split and stop_at is None and (parts := _components(reduction)):
        return _solve_components(problem, reduction, parts, backend, options, exact, deadline,
                                 details)
    core_stop = math.inf if stop_at is None else stop_at - offset

    def linear(search: _Search) -> None:
        assert backend is not None
        details["subgradient_bound_before_lp"] = search.rounded + offset
        remaining = deadline - time.perf_counter()
        details.update(_lp_multipliers(search, backend, options, _LP_SHARE * remaining, offset))

    search = _lagrangian_search(core := reduction, integral, core_stop, options.relative_gap,
                                deadline, offset, None if backend is None else linear)
    lagrangian_plan_cost = search.best_cost + offset
    open_question = math.isinf(core_stop) or search.rounded <= core_stop < search.best_cost
    if open_question and not _closed(search.best_cost, search.rounded, options.relative_gap):
        remaining = deadline - time.perf_counter()
        budget = _REPAIR_SHARE * remaining if math.isfinite(remaining) else math.inf
        details["repair_rounds"] = search.improve(budget, options.seed, core_stop)
    plan = np.concatenate((reduction.opened, core.sites[search.best_plan]))
    upper, lower = search.best_cost + offset, search.rounded + offset
    details.update(
        subgradient_steps=search.steps,
        heuristic_runs=search.heuristic_runs,
        lagrangian_bound=lower,
        lagrangian_heuristic_objective=lagrangian_plan_cost,
        heuristic_objective=upper,
    )
    decided = stop_at is not None and (upper <= stop_at + 1e-9 or lower > stop_at)
    if _closed(upper, lower, options.relative_gap) or decided:
        status = Status.OPTIMAL if _closed(upper, lower, options.relative_gap) else Status.FEASIBLE
        return _result(problem, plan, lower, status, "proven by the Lagrangian bound", details)
    if backend is None or not exact or time.perf_counter() >= deadline:
        return _result(problem, plan, lower, Status.FEASIBLE,
                       "Lagrangian heuristic: plan and bound", details)
    return _exact_finish(problem, reduction, search, plan, stop_at, backend, options, deadline,
                         details)


def _components(core: SetCoverReduction) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """The core's independent parts: (local rows, local sites) of each connected component of
    the graph joining a row to the sites that cover it, fewest rows first; empty when the
    core is one piece. Sites covering no row of the core belong to no part (none opens)."""
    n_rows, n_sites = core.n_rows, core.n_sites
    # the edges row → site once (as n_rows + site); undirected components need no reverse
    start = np.concatenate((core.row_start, np.full(n_sites, core.row_start[-1])))
    graph = sp.csr_matrix((np.ones(core.row_sites.size, dtype=np.int8),
                           core.row_sites + n_rows, start), shape=(n_rows + n_sites,) * 2)
    count, label = connected_components(graph, directed=False)
    row_label, site_label = label[:n_rows], label[n_rows:]
    rows_by_label = np.argsort(row_label, kind="stable")
    sites_by_label = np.argsort(site_label, kind="stable")
    row_bounds = np.searchsorted(row_label[rows_by_label], np.arange(count + 1))
    site_bounds = np.searchsorted(site_label[sites_by_label], np.arange(count + 1))
    parts = [
        (rows_by_label[row_bounds[k]:row_bounds[k + 1]],
         sites_by_label[site_bounds[k]:site_bounds[k + 1]])
        for k in range(count)
        if row_bounds[k + 1] > row_bounds[k]
    ]
    return sorted(parts, key=lambda part: part[0].size) if len(parts) > 1 else []


def _solve_components(
    problem: SetCoverProblem,
    reduction: SetCoverReduction,
    parts: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
    backend: Backend | None,
    options: SolveOptions,
    exact: bool,
    deadline: float,
    details: dict[str, Any],
) -> SetCoverResult:
    """Solve each independent part of the core on its own and add them up: no site covers
    rows of two parts, so a cheapest cover is the union of the parts' cheapest covers, and the
    sum of their bounds is a bound. A solver's search on the whole core would multiply the
    parts' trees; here they add. The parts run smallest first, each with an equal share of the
    time left, so what a small part does not use goes to the larger ones."""
    core = reduction.incidence().tocsr()
    plan = [reduction.opened]
    lower = upper = problem.cost_of(reduction.opened)
    proven = 0
    totals = {"subgradient_steps": 0, "solver_nodes": 0, "solver_seconds": 0.0}
    for index, (rows, sites) in enumerate(parts):
        part = SetCoverProblem.of(core[rows][:, sites], reduction.costs[sites])
        left = max((deadline - time.perf_counter()) / (len(parts) - index), 1e-3)
        result = solve_set_cover(part, backend=backend, options=replace(options, time_limit=left),
                                 exact=exact, split=False)
        if not result.status.has_solution:  # cannot happen: every core row has a site
            return _result(problem, np.zeros(0, np.int64), -math.inf, result.status,
                           f"a part of the core: {result.message}", details)
        plan.append(reduction.sites[sites][result.open_sites])
        lower += result.bound
        upper += result.objective
        proven += result.status is Status.OPTIMAL
        for key in totals:
            totals[key] += result.details.get(key) or 0
    details.update(
        components=len(parts),
        largest_component_rows=int(parts[-1][0].size),
        largest_component_sites=int(parts[-1][1].size),
        components_proven=proven,
        **{key: round(value, 3) for key, value in totals.items()},
    )
    closed = proven == len(parts) or _closed(upper, _round_bound(lower, problem.integral),
                                             options.relative_gap)
    status = Status.OPTIMAL if closed else Status.FEASIBLE
    message = (f"{len(parts)} independent parts of the core, {proven} proven optimal"
               + ("" if closed else "; the others have a plan and a bound"))
    return _result(problem, np.concatenate(plan), _round_bound(lower, problem.integral), status,
                   message, details)


def _lp_multipliers(
    search: _Search, backend: Backend, options: SolveOptions, seconds: float, offset: float
) -> dict[str, Any]:
    """Step 3a: multipliers from the dual LP; they replace the search's when L(u) is higher,
    and the Lagrangian heuristic runs on their reduced costs. Returns the details to report
    (``lp_bound`` in total cost: ``offset`` is the cost outside the core)."""
    core = search.core
    if seconds <= 0:
        return {}
    builder = ModelBuilder()
    u = builder.add_variables("u", core.n_rows, cost=1.0)
    builder.add_matrix_rows([(u, core.incidence().T)], upper=core.costs)
    limited = SolveOptions(time_limit=seconds, threads=options.threads, seed=options.seed,
                           log=options.log)
    result = backend.solve(builder.build("maximize"), limited)
    details: dict[str, Any] = {"lp_status": result.status.value,
                               "lp_seconds": round(result.seconds, 3)}
    if result.values is None:
        return details
    multipliers = np.maximum(result.values, 0.0)
    value = lagrangian_set_cover_bound(core, multipliers)
    details["lp_bound"] = _round_bound(value, search.integral) + offset
    if value > search.bound:
        search.bound, search.lp_u = value, multipliers
        search.offer(kernels.reduced_costs(core.site_start, core.site_rows, core.costs,
                                           multipliers))
    return details


def _closed(upper: float, lower: float, relative_gap: float) -> bool:
    return upper - lower <= max(1e-9 * max(1.0, abs(upper)), relative_gap * max(abs(upper), 1e-9))


def _result(
    problem: SetCoverProblem,
    plan: NDArray[np.int64],
    bound: float,
    status: Status,
    message: str,
    details: dict[str, Any],
) -> SetCoverResult:
    plan = np.unique(plan).astype(np.int64)
    objective = problem.cost_of(plan)
    return SetCoverResult(status, plan, objective, min(bound, objective), message, details)


def _exact_finish(
    problem: SetCoverProblem,
    reduction: SetCoverReduction,
    search: _Search,
    plan: NDArray[np.int64],
    stop_at: float | None,
    backend: Backend,
    options: SolveOptions,
    deadline: float,
    details: dict[str, Any],
) -> SetCoverResult:
    """Reduced-cost fixing, the reductions again, and the cut-off MIP (module docstring, 4)."""
    core = reduction
    offset = problem.cost_of(reduction.opened)
    upper = search.best_cost + offset
    lower = search.rounded + offset
    step = 1.0 if problem.integral else 1e-6 * max(1.0, abs(upper))
    cutoff = upper - step if stop_at is None else min(upper - step, stop_at)
    tolerance = 1e-9 * max(1.0, abs(cutoff))
    reduced = kernels.reduced_costs(core.site_start, core.site_rows, core.costs, search.bound_u)
    value = search.bound + offset
    n_sites = problem.matrix.shape[1]
    closed = np.zeros(n_sites, dtype=bool)
    must_open = np.zeros(n_sites, dtype=bool)
    closed[core.sites[value + np.maximum(reduced, 0.0) > cutoff + tolerance]] = True
    must_open[core.sites[value - np.minimum(reduced, 0.0) > cutoff + tolerance]] = True
    # sites the reductions removed stay removed: an optimal plan without them exists
    closed[np.setdiff1d(np.flatnonzero(~problem.forbidden), np.concatenate(
        (core.sites, reduction.opened)))] = True
    details.update(sites_closed_by_reduced_costs=int(closed[core.sites].sum()),
                   sites_opened_by_reduced_costs=int(must_open.sum()))
    # the MIP starts from the linear relaxation step 3a solved: with less time left than that
    # took, it cannot finish its root (a national core: 50 s of LP, then HiGHS given 15 s
    # ran 21 s and searched 2 nodes)
    left = deadline - time.perf_counter()
    if left <= details.get("lp_seconds", 0.0):
        return _result(problem, plan, lower, Status.FEASIBLE,
                       "too little time left for the exact finish: Lagrangian plan and bound",
                       details)
    refined = reduce_set_cover(problem, closed=closed, must_open=must_open | _as_mask(
        reduction.opened, n_sites))
    details["rows_for_the_solver"] = refined.n_rows
    details["sites_for_the_solver"] = refined.n_sites
    fixed_cost = problem.cost_of(refined.opened)
    no_better = (
        f"no plan costs at most {cutoff:g}: the heuristic plan is optimal"
        if stop_at is None
        else f"no plan costs at most {cutoff:g}"
    )
    # no plan of cost ≤ cutoff ⇒ the optimum is at least the next possible cost above it
    if stop_at is None:
        proven_bound = upper
    elif problem.integral:
        proven_bound = math.floor(cutoff + tolerance) + 1.0
    else:
        proven_bound = float(np.nextafter(cutoff, math.inf))
    if not refined.feasible or fixed_cost > cutoff + tolerance:
        return _result(problem, plan, proven_bound, _status_for(stop_at), no_better, details)
    if refined.n_rows == 0:
        return _result(problem, refined.opened, fixed_cost, Status.OPTIMAL,
                       "reduced-cost fixing leaves nothing to cover", details)
    # The plan is the solver's start when the fixings keep it (the solver then prunes with its
    # cost); otherwise the cut-off row Σ c_j y_j ≤ T leaves only strictly better plans.
    start = np.isin(refined.sites, plan).astype(np.float64)
    keeps_plan = stop_at is None and bool(np.isin(plan, np.concatenate(
        (refined.sites, refined.opened))).all())
    if keeps_plan:
        result = _solve_core(problem, refined, math.inf, start, backend, options, deadline)
    else:
        result = _solve_core(problem, refined, cutoff + tolerance, None, backend, options,
                             deadline, first_solution=stop_at is not None)
    details.update(solver_status=result.status.value, solver_seconds=round(result.seconds, 3),
                   solver_nodes=result.nodes, solver_cutoff=not keeps_plan)
    if result.status is Status.NO_SOLUTION and time.perf_counter() < deadline:
        # Some backends (CBC through PuLP) report an infeasible cut-off model as "no solution":
        # solve the exactly reduced model without cut-off or fixing, from the plan, instead.
        start = np.isin(reduction.sites, plan).astype(np.float64)
        result = _solve_core(problem, reduction, math.inf, start, backend, options, deadline)
        refined = reduction
        proven_bound = lower
        details.update(solver_status=result.status.value, solver_cutoff=False,
                       solver_seconds=round(result.seconds, 3), solver_nodes=result.nodes)
    if result.status is Status.INFEASIBLE:
        return _result(problem, plan, proven_bound, _status_for(stop_at), no_better, details)
    if result.status.has_solution and result.values is not None:
        better = np.concatenate((refined.opened, refined.sites[result.values > 0.5]))
        if problem.covers(better) and problem.cost_of(better) < problem.cost_of(plan):
            plan = better
    # the optimum is either above the cut-off or a plan of the restricted problem
    solver_bound = result.bound if math.isfinite(result.bound) else -math.inf
    solver_bound = _round_bound(solver_bound, problem.integral)
    bound = max(lower, min(proven_bound, solver_bound))
    if result.status is Status.OPTIMAL and options.relative_gap == 0.0:
        bound = max(bound, problem.cost_of(np.unique(plan)))
    status = Status.OPTIMAL if result.status is Status.OPTIMAL else Status.FEASIBLE
    message = f"exact finish: {result.status.value} ({result.message})"
    return _result(problem, plan, bound, status, message, details)


def _solve_core(
    problem: SetCoverProblem,
    core: SetCoverReduction,
    cutoff: float,
    start: NDArray[np.float64] | None,
    backend: Backend,
    options: SolveOptions,
    deadline: float,
    *,
    first_solution: bool = False,
) -> SolverResult:
    """The MIP min Σ c_j y_j over the core's sites, its rows ≥ 1, and Σ c_j y_j ≤ ``cutoff``
    (total cost, forced sites included) when finite. With ``first_solution`` the solver stops
    at the first cover within the cut-off (deciding ``stop_at``). The objective stays: its
    LP bound prunes the tree, where a zero objective leaves the cut-off row alone to do it
    (deciding one p-center radius on 10,000×500 uniform points: proven in 31 s, against not
    decided in 60 s)."""
    fixed_cost = problem.cost_of(core.opened)
    builder = ModelBuilder()
    y = builder.add_variables("y", core.n_sites, cost=core.costs, upper=1.0, integer=True)
    builder.add_matrix_rows(
        [(y, problem.matrix[core.rows][:, core.sites].astype(np.float64))], lower=1.0
    )
    if math.isfinite(cutoff):
        builder.add_rows(np.zeros(core.n_sites), y.columns, core.costs, n_rows=1,
                         upper=cutoff - fixed_cost)
    program = builder.build("minimize", offset=fixed_cost)
    if time.perf_counter() >= deadline:  # building a large core can use the last of the time
        return SolverResult(Status.NO_SOLUTION, None, math.nan, -math.inf, backend.name,
                            backend.version(), 0.0, "time limit reached before the solver")
    limited = SolveOptions(
        time_limit=max(deadline - time.perf_counter(), 1e-3),
        relative_gap=options.relative_gap,
        threads=options.threads,
        seed=options.seed,
        log=options.log,
        first_solution=first_solution,
    )
    return backend.solve(program, limited, start)


def _status_for(stop_at: float | None) -> Status:
    """A cut-off MIP proven infeasible proves the incumbent optimal (or, deciding ``stop_at``,
    proves the answer: no cover within it)."""
    return Status.OPTIMAL if stop_at is None else Status.FEASIBLE


def _as_mask(indices: NDArray[np.int64], size: int) -> NDArray[np.bool_]:
    mask = np.zeros(size, dtype=bool)
    mask[indices] = True
    return mask
