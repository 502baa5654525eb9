"""Greedy and local-search heuristic for the combined service point model.

The heuristic works on :class:`BundleArrays`, plain arrays that the formulation
(:mod:`optiserv.formulations.bundle`) fills from a prepared instance; it knows nothing of
formulations or solvers, and the formulation pairs its plan with a proven bound.

Algorithm
---------
1. Switch on every required unit and complete required new points so that their rules hold.
2. While a service target or equity constraint is short: lazy greedy on progress towards the
   short constraints per unit of cost (net of grants).
3. Coverage objectives: greedy on covered weight per unit of budget used (net one-off cost
   over the one-off budget + net annual cost over the annual budget + one new point over the
   allowed number), with exact, incrementally maintained gains.
4. Local search: *swap* (switch off one module or one whole point, refill greedily, keep the
   result when it is better and every constraint holds) until a full pass finds nothing or
   the time is up, then *drop* every module or point whose removal loses no coverage (coverage
   objectives) or breaks no constraint (cost objective).

Gradual coverage (between r_s and R_s) is not credited while choosing; the plan's objective is
computed exactly afterwards by the caller.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from optiserv.heuristics import _bundle_kernels as kernels

__all__ = ["BundleArrays", "HeuristicResult", "run_bundle_heuristic"]

HeuristicObjective = Literal["coverage", "cost", "lexicographic"]

_WINDOW = 8
"""Swap attempts per kernel call between wall-clock checks."""
_BATCH_SECONDS = 0.5
"""Greedy batches grow while one takes less than this: the clock is read about this often."""


@dataclass(frozen=True, eq=False)
class BundleArrays:
    """The combined service point problem as arrays.

    Units u: u < K is module k, u = K + j is "site j open" (which provides the existing services
    of at-risk site j). Rows b are merged demand rows of one service (full coverage only).

    Attributes
    ----------
    row_ptr, row_unit
        CSR: the units that cover row b (d_ij ≤ r_s and the unit provides s at j).
    unit_ptr, unit_row
        The transpose: rows covered by unit u.
    row_weight
        Objective weight of row b: service weight × population.
    row_population
        Population of row b (people, in the service's population group).
    row_target, row_equity
        Index of the target / equity constraint row b counts towards, or -1.
    need
        Per constraint, the population still needed beyond what existing sites cover.
    constraint_names
        A name per constraint, for messages.
    module_site, module_service
        Site and service of each module.
    module_cost, site_cost
        (K, 2) and (m, 2) one-off and annual cost of a module and of opening a point (for
        at-risk sites: the annual keep-open subsidy; existing sites: 0).
    module_lower, module_upper, site_lower, site_upper
        0/1 bounds (required, forbidden).
    site_kind
        0 new candidate, 1 existing point that stays, 2 existing point at risk.
    site_module_ptr
        Modules are sorted by site: site j's modules are
        ``site_module_ptr[j]:site_module_ptr[j + 1]``.
    rule_mask, rule_min, rule_max
        Rules on new points: the number of hosted services in ``rule_mask[r]`` lies in
        [rule_min[r], rule_max[r]].
    grant_share, grant_cap, grant_period, grant_module, grant_site
        Grants: share, cap, period (0 one-off, 1 annual) and 0/1 eligibility of each module's
        and each site's cost.
    budget
        Net one-off and annual budgets (inf for none).
    max_new
        Largest number of new points (inf for none).
    planning_years
        Years of annual cost counted by the cost objective.
    objective
        ``coverage``, ``cost`` or ``lexicographic`` (coverage first, then cost).
    max_changed
        Largest number of changed sites: new points open plus existing sites with at least one
        module on (inf for none). Moves that would exceed it are rejected.
    """

    row_ptr: NDArray[np.int64]
    row_unit: NDArray[np.int64]
    unit_ptr: NDArray[np.int64]
    unit_row: NDArray[np.int64]
    row_weight: NDArray[np.float64]
    row_population: NDArray[np.float64]
    row_target: NDArray[np.int64]
    row_equity: NDArray[np.int64]
    need: NDArray[np.float64]
    constraint_names: tuple[str, ...]
    module_site: NDArray[np.int64]
    module_service: NDArray[np.int64]
    module_cost: NDArray[np.float64]
    module_lower: NDArray[np.int8]
    module_upper: NDArray[np.int8]
    site_kind: NDArray[np.int8]
    site_cost: NDArray[np.float64]
    site_lower: NDArray[np.int8]
    site_upper: NDArray[np.int8]
    site_module_ptr: NDArray[np.int64]
    rule_mask: NDArray[np.bool_]
    rule_min: NDArray[np.int64]
    rule_max: NDArray[np.int64]
    grant_share: NDArray[np.float64]
    grant_cap: NDArray[np.float64]
    grant_period: NDArray[np.int64]
    grant_module: NDArray[np.float64]
    grant_site: NDArray[np.float64]
    budget: NDArray[np.float64]
    max_new: float
    planning_years: float
    objective: HeuristicObjective
    max_changed: float = math.inf

    def problem(self) -> kernels.Problem:
        """The kernels' packed view, with the cost scales of the greedy ratio."""
        if self.objective == "cost":
            scale = [1.0, self.planning_years, 0.0]
            changed_scale = 0.0
        else:
            scale = [_inverse(self.budget[0]), _inverse(self.budget[1]), _inverse(self.max_new)]
            changed_scale = _inverse(self.max_changed)
            if not any(scale) and not changed_scale:
                # no limit at all: rank by gain per unit of objective cost
                scale = [1e-12, 1e-12 * self.planning_years, 0.0]
        n_services = self.rule_mask.shape[1]
        rule_table = np.zeros((self.rule_min.size, n_services + 2), dtype=np.int64)
        rule_table[:, :n_services] = self.rule_mask
        rule_table[:, n_services] = self.rule_min
        rule_table[:, n_services + 1] = self.rule_max
        n_modules, n_sites = self.module_site.size, self.site_kind.size
        grant_unit = np.zeros((self.grant_share.size, n_modules + n_sites))
        grant_unit[:, :n_modules] = self.grant_module
        grant_unit[:, n_modules:] = self.grant_site
        return kernels.Problem(
            row_ptr=self.row_ptr,
            row_unit=self.row_unit,
            unit_ptr=self.unit_ptr,
            unit_row=self.unit_row,
            row_float=np.column_stack([self.row_weight, self.row_population]),
            row_int=np.column_stack([self.row_target, self.row_equity]),
            need=self.need,
            module_int=np.column_stack(
                [self.module_site, self.module_service, self.module_lower, self.module_upper]
            )
            .astype(np.int64)
            .reshape(-1, 4),
            site_int=np.column_stack([self.site_kind, self.site_lower, self.site_upper])
            .astype(np.int64)
            .reshape(-1, 3),
            site_module_ptr=self.site_module_ptr,
            unit_cost=np.concatenate(
                [self.module_cost.reshape(-1, 2), self.site_cost.reshape(-1, 2)]
            ),
            rule_table=rule_table,
            grant_table=np.column_stack(
                [self.grant_share, self.grant_cap, self.grant_period.astype(np.float64)]
            ).reshape(-1, 3),
            grant_unit=grant_unit,
            limits=np.array(
                [
                    *(self.budget[0], self.budget[1], self.max_new),
                    *scale,
                    *(self.max_changed, changed_scale),
                ]
            ),
        )


def _inverse(limit: float) -> float:
    if not math.isfinite(limit):
        return 0.0
    return 1.0 / max(float(limit), 1e-9)


@dataclass(frozen=True)
class HeuristicResult:
    """The heuristic's plan.

    Attributes
    ----------
    module_on, site_on
        The plan: modules switched on and sites open (existing sites that stay are open).
    feasible
        True when every constraint holds (budgets, rules, targets, equity).
    covered_weight
        Σ row weight of covered rows (full coverage only).
    cost
        Net one-off cost + planning years × net annual cost.
    message
        Why the plan is infeasible, or what was done.
    moves, swaps, drops
        Greedy moves, accepted swaps and drops.
    """

    module_on: NDArray[np.bool_]
    site_on: NDArray[np.bool_]
    feasible: bool
    covered_weight: float
    cost: float
    message: str
    moves: int
    swaps: int
    drops: int


def run_bundle_heuristic(
    arrays: BundleArrays,
    *,
    time_limit: float = math.inf,
    local_search: bool = True,
    on_greedy: Callable[[NDArray[np.bool_], NDArray[np.bool_]], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> HeuristicResult:
    """Greedy construction and swap/drop local search within ``time_limit`` seconds.

    The greedies check the clock between batches of moves: the time limit can stop the
    coverage greedy with a feasible, incomplete plan, or the target greedy with a plan still
    short of a target (then the result is not feasible and says so). One drop pass always
    runs; swaps stop at the time limit. ``on_greedy``, if
    given, is called with copies of (module on, site open) of the greedy's feasible plan before
    the local search starts (e.g. to start a bound that needs a plan's value); ``stop``, if
    given, ends the swaps early when it returns True (e.g. once a bound proves the plan good
    enough).
    """
    started = time.perf_counter()
    problem = arrays.problem()
    n_units = arrays.module_site.size + arrays.site_kind.size
    met = False
    log = np.empty(2 * n_units + 2, dtype=np.int64)
    log_size = np.zeros(1, dtype=np.int64)
    moves = swaps = drops = 0
    cost_objective = arrays.objective == "cost"
    # the cost objective ranks by cost first; if that runs out of budget or new points before
    # the targets hold, rank by share of the limits used instead
    for cost_mode in (1, 0) if cost_objective else (0,):
        state = kernels.new_state(problem)
        log_size[0] = 0
        if not kernels.complete_forced(problem, state, log, log_size):
            return _result(
                problem,
                state,
                False,
                "the required sites and modules cannot be "
                "completed to satisfy the rules within the budgets",
                0,
                0,
                0,
            )
        met, timed_out = _greedy_deficit_until(
            problem, state, cost_mode, log, log_size, started, time_limit
        )
        if met or timed_out:
            break
    if timed_out:
        short = _short_constraints(arrays, state)
        return _result(
            problem,
            state,
            False,
            f"the time limit ({time_limit:g} s) stopped the greedy before it could meet {short}",
            0,
            0,
            0,
        )
    if not met:
        # repair: swap groups while the total shortfall shrinks
        swaps = _swap_until_stuck(problem, state, 2, started, time_limit)
        if kernels.worst_deficit(problem.need, state.amount) > 1e-9:
            short = _short_constraints(arrays, state)
            return _result(
                problem,
                state,
                False,
                f"the greedy and {swaps} repair swaps could not meet {short}",
                0,
                swaps,
                0,
            )
    if state.money[kernels.CHANGED_POINTS] > arrays.max_changed + 0.5:
        return _result(
            problem,
            state,
            False,
            f"the required sites and modules change {state.money[kernels.CHANGED_POINTS]:.0f} "
            f"sites, more than the {arrays.max_changed:g} allowed",
            0,
            swaps,
            0,
        )
    if not cost_objective:
        added, timed_out = _greedy_coverage_until(
            problem, state, log, log_size, n_units, started, time_limit
        )
        moves += added
    if on_greedy is not None:
        n_modules = arrays.module_site.size
        on_greedy(state.on[:n_modules].copy(), state.on[n_modules:].copy())
    if local_search and not timed_out:
        swaps += _swap_until_stuck(
            problem, state, 1 if cost_objective else 0, started, time_limit, stop
        )
    kind, index, _, saving = kernels.removable_groups(problem, state)
    order = np.argsort(-saving, kind="stable")
    drops = kernels.drop_redundant(problem, state, kind[order], index[order], not cost_objective)
    feasible = kernels.worst_deficit(problem.need, state.amount) <= 1e-9
    message = f"greedy {moves} moves, {swaps} swaps, {drops} drops"
    if timed_out:
        message += (
            f"; the time limit ({time_limit:g} s) stopped the greedy before it ran out of "
            "moves, so the plan is feasible but not complete and no swaps ran"
        )
    return _result(problem, state, feasible, message, moves, swaps, drops)


def _greedy_deficit_until(
    problem: kernels.Problem,
    state: kernels.State,
    cost_mode: int,
    log: NDArray[np.int64],
    log_size: NDArray[np.int64],
    started: float,
    time_limit: float,
) -> tuple[bool, bool]:
    """:func:`kernels.greedy_deficit_moves` in batches, checking the clock between batches.

    Returns whether every target and equity constraint holds, and whether the time limit
    stopped the greedy first (then the plan may still be short of a target).
    """
    if kernels.worst_deficit(problem.need, state.amount) <= 1e-9:
        return True, False
    key = kernels.deficit_keys(problem, state, np.int64(cost_mode))
    outcome = kernels.DEFICIT_BATCH_USED

    def batch(size: int) -> tuple[int, bool]:
        nonlocal outcome
        made, outcome = kernels.greedy_deficit_moves(
            problem, state, np.int64(cost_mode), key, log, log_size, size
        )
        return made, outcome == kernels.DEFICIT_BATCH_USED

    _, timed_out = _in_batches(batch, started, time_limit)
    return outcome == kernels.DEFICIT_MET, timed_out


def _greedy_coverage_until(
    problem: kernels.Problem,
    state: kernels.State,
    log: NDArray[np.int64],
    log_size: NDArray[np.int64],
    max_moves: int,
    started: float,
    time_limit: float,
) -> tuple[int, bool]:
    """:func:`kernels.greedy_coverage` in batches, checking the clock between batches.

    Every greedy move keeps the plan feasible (it only adds coverage within the budgets and
    limits), so stopping between moves leaves a feasible plan. Returns the moves made and
    whether the time limit stopped the greedy before it ran out of moves.
    """
    key = np.full(problem.site_int.shape[0], np.inf)
    moves = 0

    def batch(size: int) -> tuple[int, bool]:
        nonlocal moves
        size = min(size, max_moves - moves)
        made = kernels.greedy_coverage(problem, state, key, log, log_size, size)
        moves += made
        return made, made == size and moves < max_moves

    return _in_batches(batch, started, time_limit)


def _in_batches(
    batch: Callable[[int], tuple[int, bool]], started: float, time_limit: float
) -> tuple[int, bool]:
    """Call ``batch(size)`` (moves made, whether more may follow) until it is done or the
    time is up; returns the moves made and whether the time limit stopped it.

    A batch starts at one move and doubles while a batch takes under ``_BATCH_SECONDS``, so
    the clock is read often at scale (one move can scan every site) and rarely on small
    instances.
    """
    moves, size = 0, 1
    while True:
        if time.perf_counter() - started >= time_limit:
            return moves, True
        batch_started = time.perf_counter()
        made, more = batch(size)
        moves += made
        if not more:
            return moves, False
        if time.perf_counter() - batch_started < _BATCH_SECONDS:
            size *= 2


def _swap_until_stuck(
    problem: kernels.Problem,
    state: kernels.State,
    mode: int,
    started: float,
    time_limit: float,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Accepted swaps of :func:`kernels.swap_pass` in ``mode`` until a pass finds none, the
    time is up or ``stop()`` is True."""

    def over() -> bool:
        return time.perf_counter() - started >= time_limit or (stop is not None and stop())

    swaps = 0
    while not over():
        kind, index, loss, saving = kernels.removable_groups(problem, state)
        if kind.size == 0:
            break
        if mode != 0:
            order = np.argsort(-saving, kind="stable")
        else:
            # weakest first: little coverage lost per unit of budget freed
            efficiency = loss / np.maximum(saving, 1e-12)
            order = np.lexsort((loss, efficiency))
        kind, index = kind[order], index[order]
        accepted = -1
        for start in range(0, kind.size, _WINDOW):
            accepted = kernels.swap_pass(problem, state, kind, index, start, start + _WINDOW, mode)
            if accepted >= 0 or over():
                break
        if accepted < 0:
            break
        swaps += 1
    return swaps


def _short_constraints(arrays: BundleArrays, state: kernels.State) -> str:
    deficit = arrays.need - state.amount
    short = np.flatnonzero(deficit > 1e-9 * np.maximum(arrays.need, 1.0))
    names = [arrays.constraint_names[c] for c in short[:5]]
    more = f" (and {short.size - 5} more)" if short.size > 5 else ""
    return ", ".join(names) + more


def _result(
    problem: kernels.Problem,
    state: kernels.State,
    feasible: bool,
    message: str,
    moves: int,
    swaps: int,
    drops: int,
) -> HeuristicResult:
    return HeuristicResult(
        module_on=state.on[: problem.module_int.shape[0]].copy(),
        site_on=state.on[problem.module_int.shape[0] :].copy(),
        feasible=feasible,
        covered_weight=float(state.money[2]),
        cost=float(kernels.objective_cost(state.money, problem.grant_table, problem.limits)),
        message=message,
        moves=moves,
        swaps=swaps,
        drops=drops,
    )
