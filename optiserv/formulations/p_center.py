r"""p-center: open p sites so that the farthest demand point is as near as possible, exactly.

The exact method is a binary search over the candidate radii with a set-covering feasibility
MIP at each radius (Minieka 1970; Daskin 1995, ch. 5), so :class:`PCenter` overrides
:meth:`~optiserv.formulations.base.Formulation.solve` and keeps its signature.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from optiserv.lp import ModelBuilder
from optiserv.solution import Solution
from optiserv.solvers import Backend, SolveOptions, Status

__all__ = ["PCenter", "PCenterData"]


@dataclass(frozen=True, eq=False)
class PCenterData:
    """Candidate pairs and candidate radii of a p-center problem.

    Attributes
    ----------
    pairs
        The sorted candidate pairs of :func:`~optiserv.formulations.p_median.prepare_p_median`:
        every pair (i, j) with j allowed and d_ij ≤ T_i, where T_i bounds the distance from
        i to its nearest open site in every plan of exactly p sites.
    threshold
        T_i per demand point (``inf`` when no p-site plan is guaranteed to reach i).
    radii
        The sorted distinct pair distances between the lower bound max_i min_j d_ij and
        max_i T_i: the optimal radius is one of them.
    """

    pairs: PMedianData
    threshold: NDArray[np.float64]
    radii: NDArray[np.float64]


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
    max_i min_j d_ij ≤ r* ≤ max_i T_i, and only radii in between are searched. For a radius r,
    the covering test with y_j ∈ {0, 1} over the free sites (allowed, not fixed) is

    .. math::

        \sum_{j \text{ free} : d_{ij} \le r} y_j \ge 1 \quad \forall i : T_i > r, \qquad
        \sum_{j \text{ free}} y_j \le p - |\text{fixed}|

    with a zero objective, so the solver stops at the first feasible cover (demand points with
    T_i ≤ r are reached by any p sites; identical rows are merged). The search starts from the
    radius of the p-median heuristic plan. A feasible cover at r gives a plan whose actual
    radius may be smaller, which becomes the new upper end; an infeasible r raises the lower
    end past it. A cover with fewer than p sites is completed greedily (which never increases
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
    ``candidate_radii`` and ``feasibility_tests`` (one ``[radius, outcome]`` per MIP).
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
        radii = data.radii
        tests: list[list[Any]] = []
        with timer("heuristic"):
            plan = self._median_plan(instance, data)
        low, high = 0, radii.size - 1
        best: NDArray[np.int64] | None = None
        if plan is not None:
            best, high = plan, self._radius_index(data, self._radius_of(data, plan))
        message = ""
        stopped = False
        while low < high or best is None:
            middle = high if best is None else (low + high) // 2
            remaining = options.time_limit - timer.total()["total"]
            if remaining <= 0:
                stopped, message = True, "time limit reached during the radius search"
                break
            outcome, cover = self._test(
                instance, data, float(radii[middle]), solver, options, remaining, timer
            )
            tests.append([float(radii[middle]), outcome])
            if outcome == "feasible":
                assert cover is not None
                with timer("heuristic"):
                    best = self._complete(instance, data, cover)
                high = min(middle, self._radius_index(data, self._radius_of(data, best)))
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
            else:
                stopped, message = True, f"radius search stopped: {outcome}"
                break
        if best is None:
            return self._empty_solution(
                instance, Status.NO_SOLUTION, message, timer, solver, {"feasibility_tests": tests}
            )
        status = Status.OPTIMAL if not stopped and low >= high else Status.FEASIBLE
        if status is Status.OPTIMAL:
            message = f"optimal radius proven by {len(tests)} covering test(s)"
        return self._solution(instance, data, best, float(radii[low]), status, message, timer,
                              solver, tests)

    # ------------------------------------------------------------------ hooks
    def _check(self, instance: Instance) -> None:
        self._check_p(instance, self.p)

    def _prepare(self, instance: Instance) -> PCenterData:
        pairs = prepare_p_median(instance, int(self.p))
        reachable = np.diff(pairs.start) > 0
        if not reachable.all():
            return PCenterData(pairs, pairs.threshold, np.zeros(0))
        lowest = float(pairs.distance[pairs.start[:-1]].max())
        highest = float(pairs.threshold.max())
        values = np.unique(pairs.distance)
        radii = values[(values >= lowest) & (values <= highest)]
        return PCenterData(pairs, pairs.threshold, radii)

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
        return BuiltModel(builder.build("minimize"), y, {"uncoverable_rows": uncovered})

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
        options: SolveOptions,
        remaining: float,
        timer: PhaseTimer,
    ) -> tuple[str, NDArray[np.int64] | None]:
        """One covering test: ("feasible", free sites) | ("infeasible", None) | (reason, None)."""
        with timer("build"):
            built = self._build(instance, _CoverTest(data, radius))
        if built.extra["uncoverable_rows"]:
            return "infeasible", None
        if built.program.n_rows == 1:  # nothing left to cover
            return "feasible", np.zeros(0, dtype=np.int64)
        limited = SolveOptions(
            time_limit=remaining,
            relative_gap=0.0,
            threads=options.threads,
            seed=options.seed,
            log=options.log,
        )
        with timer("solve"):
            result = solver.solve(built.program, limited)
        if result.status.has_solution and result.values is not None:
            return "feasible", built.open_sites(result.values)
        if result.status is Status.INFEASIBLE:
            return "infeasible", None
        return f"{result.status.value} ({result.message})", None

    def _median_plan(self, instance: Instance, data: PCenterData) -> NDArray[np.int64] | None:
        """The p-median heuristic plan: its radius is the first upper end of the search."""
        plan = greedy_interchange(
            data.pairs.costs,
            np.ones(instance.n_demand),
            int(self.p),
            fixed=instance.sites.fixed,
            forbidden=instance.sites.forbidden,
        )
        return plan.open_sites if plan.serves_all else None

    def _complete(
        self, instance: Instance, data: PCenterData, chosen: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """Fixed sites plus the cover, completed greedily to exactly p sites."""
        is_open = instance.sites.fixed.copy()
        is_open[chosen] = True
        if int(is_open.sum()) >= int(self.p):
            return np.flatnonzero(is_open).astype(np.int64)
        plan = greedy_interchange(
            data.pairs.costs,
            np.ones(instance.n_demand),
            int(self.p),
            fixed=is_open,
            forbidden=instance.sites.forbidden,
            max_swaps=0,
        )
        return plan.open_sites

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
