r"""p-center: open p sites so that the farthest demand point is as near as possible, exactly.

The exact method is a binary search over the candidate radii with a set-covering feasibility
test at each radius (Minieka 1970; Daskin 1995, ch. 5), answered by the set-covering engine
(:mod:`optiserv.heuristics.set_cover`: reductions, Lagrangian bound and heuristic, and a MIP
only for the radii those leave undecided), so :class:`PCenter` overrides
:meth:`~optiserv.formulations.base.Formulation._solve_prepared` and keeps the signature.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from optiserv._timing import PhaseTimer
from optiserv.coverage import nearest_open, reduce_coverage
from optiserv.data import Instance
from optiserv.exceptions import format_examples
from optiserv.formulations.base import BuiltModel, Formulation, Served
from optiserv.formulations.p_median import PMedianData, prepare_p_median
from optiserv.heuristics.p_median import greedy_interchange
from optiserv.heuristics.set_cover import SetCoverProblem, solve_set_cover
from optiserv.lp import ModelBuilder
from optiserv.solution import Solution
from optiserv.solvers import Backend, SolveOptions, Status

__all__ = ["PCenter", "PCenterData"]

_SOLVER_FREE_SHARE = 0.02
"""Share of the remaining time limit one covering test without the solver may use (at least
one second): those tests only narrow the bracket, the solver's tests decide the rest."""
_SOLVER_FREE_BUDGET = 0.25
"""Share of a finite time limit the two passes without the solver may use together (the
first up to half of it)."""


@dataclass(frozen=True, eq=False)
class PCenterData:
    """Candidate pairs and the bracket of candidate radii of a p-center problem.

    Attributes
    ----------
    pairs
        The sorted candidate pairs of :func:`~optiserv.formulations.p_median.prepare_p_median`:
        every pair (i, j) with j allowed and d_ij ≤ T_i, where T_i bounds the distance from
        i to its nearest open site in every plan of exactly p sites; after :meth:`within`,
        only those with d_ij ≤ ``highest``.
    threshold
        T_i per demand point (``inf`` when no p-site plan is guaranteed to reach i).
    lowest, highest
        The bracket of the optimal radius: lowest = max_i min_j d_ij (no plan does better),
        highest = max_i T_i, or the radius of a known plan after :meth:`within`.
    """

    pairs: PMedianData
    threshold: NDArray[np.float64]
    lowest: float
    highest: float

    @cached_property
    def radii(self) -> NDArray[np.float64]:
        """The sorted distinct pair distances in [lowest, highest]: the optimal radius is one
        of them."""
        distance = self.pairs.distance
        return np.unique(distance[(distance >= self.lowest) & (distance <= self.highest)])

    def within(self, radius: float) -> PCenterData:
        """The same problem with the bracket's upper end lowered to ``radius`` (the radius of
        a known plan) and only the pairs no longer than it: a covering test at a radius up to
        it reads no other pair. T_i is unchanged, so a demand point with T_i ≤ r still counts
        as reached at r. At 20,000 × 1,000 villages a p-median plan's radius of 12.1 km leaves
        1.12 million candidate radii of the 18.4 million."""
        if radius >= self.highest:
            return self
        pairs = self.pairs
        keep = pairs.distance <= radius
        kept = np.add.reduceat(keep, pairs.start[:-1], dtype=np.int64)
        kept[np.diff(pairs.start) == 0] = 0  # reduceat reads the next row for an empty one
        start = np.zeros(pairs.start.size, dtype=np.int64)
        np.cumsum(kept, out=start[1:])
        narrowed = replace(
            pairs, site=pairs.site[keep], distance=pairs.distance[keep], start=start
        )
        return PCenterData(narrowed, self.threshold, self.lowest, float(radius))


@dataclass(frozen=True, eq=False)
class _CoverTest:
    """The feasibility question "can p sites cover every demand point within ``radius``?"."""

    data: PCenterData
    radius: float


class PCenter(Formulation):
    r"""p-center problem (Hakimi 1964): minimise the largest distance to the nearest open site.

    The objective is the radius max_i min_{j open} d_ij over all demand points, unweighted
    (cost unit). Exactly p sites open; fixed sites count toward p and are open, forbidden
    sites never open. A demand point that reaches no allowed site makes the problem INFEASIBLE.

    **Method.** The optimal radius r* is one of the distances d_ij. Let T_i be the distance
    within which every plan of exactly p sites reaches demand i (its nearest fixed site, or its
    (m' − p + 1)-th nearest allowed site, m' the number of sites that may open). Then
    max_i min_j d_ij ≤ r* ≤ max_i T_i, and only radii in between are searched; once a first
    plan is known, its radius R is the upper end, and only the pairs with d_ij ≤ R are kept. For a
    radius r, the covering test with y_j ∈ {0, 1} over the free sites (allowed, not fixed) is

    .. math::

        \sum_{j \text{ free} : d_{ij} \le r} y_j \ge 1 \quad \forall i : T_i > r, \qquad
        \sum_{j \text{ free}} y_j \le p - |\text{fixed}|

    (demand points with T_i ≤ r are reached by any p sites; identical rows are merged). It is
    decided by the set-covering engine (:mod:`optiserv.heuristics.set_cover`) asked "is there a
    cover with at most p − |fixed| sites?": after its exact reductions, a Lagrangian bound above
    that count proves the radius infeasible and a Lagrangian heuristic cover within it proves
    it feasible, with no MIP; only radii both leave undecided go to the backend, as a MIP over
    the sites left by reduced-cost fixing with the cut-off Σ y_j ≤ p − |fixed|. The search
    starts from the
    radius of the p-median heuristic plan (or the farthest-point plan). A feasible cover at r
    gives a plan whose actual radius may be smaller, which becomes the new upper end; an
    infeasible r raises the lower end past it. The search makes three passes over the bracket:
    two without the solver (an undecided radius counts as feasible in the first, which finds
    the largest radius the bound rules out, and as infeasible in the second, which finds the
    smallest the heuristic covers), then one with it on the radii still undecided. A cover
    with fewer than p sites is completed by the farthest-point rule (which never increases
    the radius).

    Under a time limit the answer is FEASIBLE with the best radius found as objective and the
    largest radius proven infeasible's successor as bound.

    Parameters
    ----------
    p
        Number of open sites, fixed sites included.

    Notes
    -----
    ``Solution.details`` holds ``p``, ``radius``, ``radius_lower_bound``,
    ``candidate_radii`` (those up to the first plan's radius), ``feasibility_tests`` (one
    ``[radius, outcome]`` per covering test) and ``tests_decided_by`` (how many tests the
    reductions, the Lagrangian bound or heuristic, and the solver decided).
    """

    name: ClassVar[str] = "pcenter"

    def __init__(self, *, p: int) -> None:
        self.p = p

    # ------------------------------------------------------------------ solve
    def _solve_prepared(
        self,
        instance: Instance,
        data: PCenterData,
        solver: Backend,
        options: SolveOptions,
        timer: PhaseTimer,
    ) -> Solution:
        """Exactly, by binary search on the radius (see the class docstring)."""
        tests: list[list[Any]] = []
        decided_by: dict[str, int] = {}
        with timer("heuristic"):
            deadline = time.perf_counter() + options.time_limit - timer.total()["total"]
            plan = self._median_plan(instance, data, deadline)
            if plan is None:
                plan = self._farthest_point(instance, data, instance.sites.fixed)
        best: NDArray[np.int64] | None = None
        with timer("coverage"):
            if plan is not None:  # no radius above the plan's needs a test; the plan's is the last
                best, data = plan, data.within(self._radius_of(data, plan))
            radii = data.radii
        low, high = 0, radii.size - 1
        message = ""
        stopped = False
        # Three passes over the bracket [low, high]: the first two solve no MIP (only linear
        # relaxations) and move the bracket only on proven answers (an undecided radius is
        # treated as feasible in the first, to find the largest radius the bound rules out,
        # and as infeasible in the second, to find the smallest the heuristic covers); the
        # third decides the rest. Under a finite time limit the first two use at most 12.5 %
        # and 25 % of it (cumulative).
        passes = ((False, "up"), (False, "down"), (True, "stop")) if best is not None else (
            (True, "stop"),
        )
        open_without_solver: set[int] = set()  # radii a test without the MIP left open
        for index, (exact, undecided) in enumerate(passes):
            budget = _SOLVER_FREE_BUDGET * options.time_limit * (index + 1) / 2
            lower_end, upper_end = low, high
            while lower_end < upper_end or best is None:
                middle = high if best is None else (lower_end + upper_end) // 2
                elapsed = timer.total()["total"]
                if not exact and elapsed > budget:
                    break
                remaining = options.time_limit - elapsed
                if remaining <= 0:
                    stopped, message = True, "time limit reached during the radius search"
                    break
                if not exact and middle in open_without_solver:
                    # the second pass would ask the first one's question again
                    outcome, cover = "undecided (already asked without the solver)", None
                else:
                    outcome, cover, stage = self._test(
                        instance, data, float(radii[middle]), solver, exact, options,
                        remaining, timer,
                    )
                    tests.append([float(radii[middle]), outcome])
                    decided_by[stage] = decided_by.get(stage, 0) + 1
                    if not exact and outcome.startswith("undecided"):
                        open_without_solver.add(middle)
                if outcome == "feasible":
                    assert cover is not None
                    with timer("heuristic"):
                        best = self._complete(instance, data, cover)
                    high = min(middle, self._radius_index(data, self._radius_of(data, best)))
                    upper_end = high
                elif outcome == "infeasible":
                    if best is None:  # even the largest radius cannot be covered by p sites
                        message = (
                            f"infeasible: no {self.p} sites (fixed sites included) let every "
                            "demand point reach an open site"
                        )
                        return self._empty_solution(
                            instance, Status.INFEASIBLE, message, timer, solver,
                            {"feasibility_tests": tests},
                        )
                    low = middle + 1
                    lower_end = max(lower_end, low)
                elif undecided == "up":
                    upper_end = middle
                elif undecided == "down":
                    lower_end = middle + 1
                else:
                    stopped, message = True, f"radius search stopped: {outcome}"
                    break
            if stopped:
                break
        if best is None:
            return self._empty_solution(
                instance, Status.NO_SOLUTION, message, timer, solver, {"feasibility_tests": tests}
            )
        status = Status.OPTIMAL if not stopped and low >= high else Status.FEASIBLE
        if status is Status.OPTIMAL:
            message = f"optimal radius proven by {len(tests)} covering test(s)"
        return self._solution(instance, data, best, float(radii[low]), status, message, timer,
                              solver, tests, decided_by)

    # ------------------------------------------------------------------ hooks
    def _check(self, instance: Instance) -> None:
        self._check_p(instance, self.p)

    def _prepare(self, instance: Instance) -> PCenterData:
        pairs = prepare_p_median(instance, int(self.p))
        if not (np.diff(pairs.start) > 0).all():
            return PCenterData(pairs, pairs.threshold, math.inf, -math.inf)
        lowest = float(pairs.distance[pairs.start[:-1]].max())
        return PCenterData(pairs, pairs.threshold, lowest, float(pairs.threshold.max()))

    def _early_exit(
        self, instance: Instance, prepared: PCenterData
    ) -> tuple[Status, str, dict[str, Any]] | None:
        unreachable = prepared.pairs.unreachable
        if unreachable.size == 0:
            return None
        ids = instance.demand.ids[unreachable].tolist()
        message = (
            f"infeasible: {len(ids)} demand point(s) cannot reach any site that may open: "
            f"ids {format_examples(ids)}"
        )
        return Status.INFEASIBLE, message, {"unreachable_demand": ids}

    def _build(self, instance: Instance, prepared: _CoverTest) -> BuiltModel:
        """The covering test at one radius, over the free sites (see the class docstring)."""
        data, radius = prepared.data, prepared.radius
        pairs = data.pairs
        free = instance.sites.candidate
        open_slots = int(self.p) - int(instance.sites.fixed.sum())
        rows_needed = data.threshold > radius
        keep = (pairs.distance <= radius) & free[pairs.site] & rows_needed[pairs.demand]
        cover = sp.csr_matrix(
            (np.ones(int(keep.sum()), dtype=bool), (pairs.demand[keep], pairs.site[keep])),
            shape=(instance.n_demand, instance.n_sites),
        )
        reduced = reduce_coverage(cover[np.flatnonzero(rows_needed)], np.ones(rows_needed.sum()))
        lower = np.zeros(instance.n_sites)
        upper = free.astype(np.float64)
        builder = ModelBuilder()
        y = builder.add_variables("y", instance.n_sites, lower=lower, upper=upper, integer=True)
        if reduced.n_rows:
            builder.add_matrix_rows([(y, reduced.matrix.astype(np.float64))], lower=1.0)
        builder.add_rows(
            np.zeros(instance.n_sites), y.columns, 1.0, n_rows=1, upper=float(open_slots)
        )
        uncovered = int(reduced.unreachable.size)
        extra = {"uncoverable_rows": uncovered, "rows": reduced.matrix}
        return BuiltModel(builder.build("minimize"), y, extra)

    def _served(
        self, instance: Instance, prepared: PCenterData, open_sites: NDArray[np.int64]
    ) -> Served:
        assignment, _ = nearest_open(prepared.pairs.costs, open_sites)
        served = assignment >= 0
        return Served(assignment, float(instance.weight()[served].sum()), {"p": int(self.p)})

    # ------------------------------------------------------------------ helpers
    def _test(
        self,
        instance: Instance,
        data: PCenterData,
        radius: float,
        solver: Backend,
        exact: bool,
        options: SolveOptions,
        remaining: float,
        timer: PhaseTimer,
    ) -> tuple[str, NDArray[np.int64] | None, str]:
        """One covering test by the set-covering engine: ("feasible", free sites, stage) |
        ("infeasible", None, stage) | (reason, None, stage); the stage is what decided it
        (``reductions``, ``lagrangian`` bound or heuristic, ``linear relaxation``, or
        ``solver``). Without ``exact`` the solver solves no MIP, only the linear relaxation."""
        with timer("build"):
            built = self._build(instance, _CoverTest(data, radius))
        if built.extra["uncoverable_rows"]:
            return "infeasible", None, "reductions"
        if built.program.n_rows == 1:  # nothing left to cover
            return "feasible", np.zeros(0, dtype=np.int64), "reductions"
        free = instance.sites.candidate
        open_slots = int(self.p) - int(instance.sites.fixed.sum())
        problem = SetCoverProblem.of(built.extra["rows"], forbidden=~free)
        if not exact:  # a test without the solver's MIP gets a share of the time left
            remaining = min(remaining, max(_SOLVER_FREE_SHARE * remaining, 1.0))
        limited = SolveOptions(
            time_limit=remaining, threads=options.threads, seed=options.seed, log=options.log
        )
        with timer("solve"):
            result = solve_set_cover(problem, backend=solver, options=limited,
                                     stop_at=open_slots, exact=exact)
        stage = ("solver" if "solver_status" in result.details
                 else "linear relaxation" if "lp_bound" in result.details else "lagrangian")
        if result.status is Status.INFEASIBLE:
            return "infeasible", None, stage
        if result.status.has_solution and result.objective <= open_slots + 1e-9:
            return "feasible", result.open_sites, stage
        if result.bound > open_slots + 1e-9:
            return "infeasible", None, stage
        return f"undecided ({result.message})", None, stage if exact else "undecided"

    def _median_plan(
        self, instance: Instance, data: PCenterData, deadline: float
    ) -> NDArray[np.int64] | None:
        """The p-median heuristic plan: its radius is the first upper end of the search. The
        sorted candidate pairs hold every pair a p-site plan can use, so the interchange reads
        only those (as :class:`~optiserv.formulations.PMedian` does)."""
        pairs = data.pairs
        plan = greedy_interchange(
            pairs.costs,
            np.ones(instance.n_demand),
            int(self.p),
            fixed=instance.sites.fixed,
            forbidden=instance.sites.forbidden,
            pairs=(pairs.start, pairs.site, pairs.distance),
            deadline=deadline,
        )
        return plan.open_sites if plan.serves_all else None

    def _farthest_point(
        self, instance: Instance, data: PCenterData, is_open: NDArray[np.bool_]
    ) -> NDArray[np.int64] | None:
        """Complete ``is_open`` to p sites by the farthest-point rule (Gonzalez 1985): open,
        for the demand point farthest from every open site, its nearest closed candidate site.
        Opening a site never increases the radius. None when the plan leaves a demand point
        with no open site among its candidate pairs."""
        pairs = data.pairs
        is_open = is_open.copy()
        allowed = ~instance.sites.forbidden
        for _ in range(int(self.p) - int(is_open.sum())):
            if is_open.any():
                _, distance = nearest_open(pairs.costs, np.flatnonzero(is_open))
            else:
                distance = np.full(instance.n_demand, np.inf)
            farthest = int(np.argmax(distance))
            candidates = pairs.site[pairs.start[farthest] : pairs.start[farthest + 1]]
            closed = candidates[~is_open[candidates]]
            if closed.size == 0:
                closed = np.flatnonzero(allowed & ~is_open)
            is_open[int(closed[0])] = True
        plan = np.flatnonzero(is_open).astype(np.int64)
        _, distance = nearest_open(pairs.costs, plan)
        return plan if np.isfinite(distance).all() else None

    def _complete(
        self, instance: Instance, data: PCenterData, chosen: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """Fixed sites plus the cover, completed to exactly p sites by the farthest-point
        rule (which never increases the radius)."""
        is_open = instance.sites.fixed.copy()
        is_open[chosen] = True
        plan = self._farthest_point(instance, data, is_open)
        assert plan is not None  # the cover already reaches every demand point in the search
        return plan

    @staticmethod
    def _radius_of(data: PCenterData, open_sites: NDArray[np.int64]) -> float:
        _, distance = nearest_open(data.pairs.costs, open_sites)
        return float(distance.max())

    @staticmethod
    def _radius_index(data: PCenterData, radius: float) -> int:
        """Index of ``radius`` among the candidate radii (the last one if beyond them)."""
        index = int(np.searchsorted(data.radii, radius, side="left"))
        return min(index, data.radii.size - 1)

    def _solution(
        self,
        instance: Instance,
        data: PCenterData,
        open_sites: NDArray[np.int64],
        lower_bound: float,
        status: Status,
        message: str,
        timer: PhaseTimer,
        solver: Backend,
        tests: list[list[Any]],
        decided_by: dict[str, int],
    ) -> Solution:
        served = self._served(instance, data, open_sites)
        radius = self._radius_of(data, open_sites)
        bound = min(lower_bound, radius)
        details = {
            **served.details,
            "radius": radius,
            "radius_lower_bound": bound,
            "candidate_radii": int(data.radii.size),
            "feasibility_tests": tests,
            "tests_decided_by": decided_by,
        }
        return self._plan_solution_of(
            instance,
            open_sites,
            served,
            status=status,
            objective=radius,
            bound=bound,
            timer=timer,
            backend=(solver.name, solver.version()),
            message=message,
            details=details,
        )
