"""Maximal covering (MCLP): p sites that cover the most demand weight.

The exact method solves one mixed-integer program, but only after three things that make it
fast without changing its optimum:

1. exact reductions of the coverage (identical rows merged, rows covered by a fixed site
   taken out as a constant, dominated sites closed, single-site rows moved into the site's
   objective);
2. a heuristic plan (greedy, then iterated interchange) and a Lagrangian bound, computed in
   numba; the bound closes (opens) the sites that every better plan must close (open), and
   the plan is the solver's warm start. When the bound already proves the plan optimal,
   those fixings leave the solver almost nothing to do;
3. the solver's answer is combined with the heuristic's: the better plan and the tighter
   bound are reported, so a time-limited solve never does worse than the heuristic.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

import optiserv
from optiserv._timing import PhaseTimer
from optiserv.coverage import reduce_coverage
from optiserv.data import Instance
from optiserv.exceptions import ParameterError
from optiserv.formulations._coverage_common import (
    CoverageData,
    prepare_coverage,
    served_by_coverage,
)
from optiserv.formulations.base import BuiltModel, Formulation, Served, site_bounds
from optiserv.heuristics import CoveringProblem, CoveringResult, solve_covering
from optiserv.lp import ModelBuilder
from optiserv.solution import Solution
from optiserv.solvers import Backend, SolveOptions, SolverResult, Status, get_backend, relative_gap

__all__ = ["MaximalCovering", "Method"]

Method = Literal["exact", "heuristic"]
"""``exact``: prove optimality (or report the gap at the time limit). ``heuristic``: the
heuristic plan and its Lagrangian bound, without a solver."""

# Heuristic effort: iterated interchange rounds and Lagrangian subgradient iterations, and the
# share of a finite time limit the iterated interchange may use at most.
_ROUNDS = 500
_LAGRANGIAN_ITERATIONS = 1500
_SEARCH_SHARE = 0.25


@dataclass(frozen=True, eq=False)
class _Prepared:
    """Coverage, the exactly reduced covering problem, and what the heuristic found.

    Attributes
    ----------
    coverage
        Coverage at the radius with identical rows merged (see ``prepare_coverage``).
    problem
        The covering problem the model is built from: ``coverage.reduced`` with dominated
        sites closed (role forbidden) and rows made identical by that merged again.
    dominated
        Sites closed because another site that may open covers a superset of their rows.
    offset
        Weight already covered by fixed sites.
    incumbent
        The heuristic plan (None until the heuristic ran).
    close, must_open
        Sites the Lagrangian bound proves closed / open in every plan better than the
        incumbent.
    """

    coverage: CoverageData
    problem: CoveringProblem
    dominated: NDArray[np.bool_]
    offset: float
    incumbent: CoveringResult | None = None
    close: NDArray[np.bool_] | None = None
    must_open: NDArray[np.bool_] | None = None


class MaximalCovering(Formulation):
    r"""Maximal covering location problem (Church & ReVelle 1974).

    .. math::

        \max \sum_i w_i z_i \quad \text{s.t.} \quad
        z_i \le \sum_{j : d_{ij} \le r} y_j \;\; \forall i, \qquad
        \sum_j y_j = p, \qquad y_j \in \{0, 1\}, \; 0 \le z_i \le 1

    z_i may be continuous: for integral y the optimum has z_i = min(1, Σ_j a_ij y_j) ∈ {0, 1}.
    Fixed sites count toward p. The objective is the covered weight Σ w_i z_i over all demand
    points, demand covered by a fixed site included.

    Exact reductions, applied before the model is built, none of which changes the optimum:
    demand already covered by a fixed site is a constant; identical coverage rows are merged
    with their weights summed; demand no site can reach is dropped; a candidate site whose
    covered rows are a subset of another openable site's is closed (swapping it for that site
    never loses weight, and enough sites remain to open p); a row with a single covering
    site j becomes part of y_j's objective.

    With ``method="exact"`` a heuristic plan (greedy, then iterated interchange) and a
    Lagrangian bound come first. Sites whose Lagrangian bound when opened (closed) falls
    below the plan's value are closed (opened), which keeps every plan at least as good as
    the heuristic's; the plan is the solver's warm start; and the result reports the better
    of the solver's and the heuristic's plan with the tighter of their bounds.
    With ``method="heuristic"`` the heuristic plan is the answer: status FEASIBLE with its
    proven bound and gap (OPTIMAL when the bound meets the plan).

    Parameters
    ----------
    p
        Number of open sites, fixed sites included.
    radius
        Coverage threshold r. Covered ⇔ d_ij ≤ r.
    method
        ``"exact"`` (default) or ``"heuristic"``.
    """

    name = "mclp"

    def __init__(self, *, p: int, radius: float, method: Method = "exact") -> None:
        self.p = p
        self.radius = radius
        self.method = method

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
        started = time.perf_counter()
        timer = PhaseTimer()
        with timer("coverage"):
            prepared = self._prepare(instance)
        with timer("heuristic"):
            prepared = self._run_heuristic(prepared, options)
        incumbent = prepared.incumbent
        assert incumbent is not None
        if self.method == "heuristic":
            proven = _proven(incumbent, options.relative_gap)
            return self._heuristic_solution(instance, prepared, incumbent, proven, timer)
        with timer("build"):
            built = self._build(instance, prepared)
        with timer("heuristic"):
            start = self._warm_start(instance, prepared, built, options)
        remaining = options.time_limit - (time.perf_counter() - started)
        if math.isfinite(remaining):
            options = dataclasses.replace(options, time_limit=max(remaining, 1e-3))
        with timer("solve"):
            result = solver.solve(built.program, options, start)
        result = _combine(result, built, start, incumbent, prepared.offset, options)
        return self._finish(instance, prepared, built, result, timer)

    # ------------------------------------------------------------------ hooks
    def _check(self, instance: Instance) -> None:
        self._check_p(instance, self.p)
        self._check_radius(self.radius)
        if self.method not in ("exact", "heuristic"):
            raise ParameterError(
                f"{self.name}: method must be 'exact' or 'heuristic', got {self.method!r}"
            )

    def _prepare(self, instance: Instance) -> _Prepared:
        coverage = prepare_coverage(instance, self.radius, drop_fixed_covered=True)
        reduced = coverage.reduced
        fixed = instance.sites.fixed
        forbidden = instance.sites.forbidden
        dominated = _dominated_sites(reduced.matrix, fixed, forbidden, self.p)
        matrix, weights = reduced.matrix, np.asarray(reduced.weights, dtype=np.float64)
        if dominated.any():
            keep = (~dominated).astype(np.int8)
            matrix = sp.csr_matrix(matrix.multiply(keep[np.newaxis, :]), dtype=bool)
            matrix.eliminate_zeros()
            merged = reduce_coverage(matrix, weights)
            matrix, weights = merged.matrix, np.asarray(merged.weights, dtype=np.float64)
        problem = CoveringProblem.from_matrix(
            matrix, weights, p=int(self.p), fixed=fixed, forbidden=forbidden | dominated
        )
        offset = float(instance.weight()[coverage.fixed_covered].sum())
        return _Prepared(coverage, problem, dominated, offset)

    def _build(self, instance: Instance, prepared: _Prepared) -> BuiltModel:
        problem = prepared.problem
        matrix = sp.csr_matrix(
            (
                np.ones(problem.row_indices.size),
                problem.row_indices,
                problem.row_indptr,
            ),
            shape=(problem.n_rows, problem.n_sites),
        )
        lengths = np.diff(problem.row_indptr)
        single = lengths == 1
        # a row covered by one site j only: z_i = y_j, so w_i moves to y_j's objective
        site_weight = np.zeros(problem.n_sites)
        np.add.at(site_weight, problem.row_indices[problem.row_indptr[:-1][single]],
                  problem.weights[single])
        multiple = np.flatnonzero(~single)
        lower, upper = site_bounds(instance)
        upper = upper * ~prepared.dominated
        if prepared.close is not None and prepared.must_open is not None:
            upper = upper * ~prepared.close
            lower = np.maximum(lower, prepared.must_open.astype(np.float64))
        builder = ModelBuilder()
        y = builder.add_variables(
            "y", problem.n_sites, cost=site_weight, lower=lower, upper=upper, integer=True
        )
        k = multiple.size
        z = builder.add_variables("z", k, cost=problem.weights[multiple], upper=1.0)
        # z_i - Σ_j a_ij y_j ≤ 0
        builder.add_matrix_rows(
            [(z, sp.identity(k, format="csr")), (y, -matrix[multiple])], upper=0.0
        )
        builder.add_matrix_rows(
            [(y, np.ones((1, problem.n_sites)))], lower=self.p, upper=self.p
        )
        program = builder.build("maximize", offset=prepared.offset)
        return BuiltModel(program, y, {"z": z, "z_rows": multiple})

    def _warm_start(
        self,
        instance: Instance,
        prepared: _Prepared,
        built: BuiltModel,
        options: SolveOptions,
    ) -> NDArray[np.float64] | None:
        incumbent = prepared.incumbent
        if incumbent is None:
            incumbent = self._run_heuristic(prepared, options).incumbent
            assert incumbent is not None
        start = _start_vector(prepared.problem, built, incumbent)
        if built.program.violation(start) > 1e-9:  # pragma: no cover - a bug, never a user error
            return None
        return start

    def _served(
        self, instance: Instance, prepared: _Prepared, open_sites: NDArray[np.int64]
    ) -> Served:
        coverage = prepared.coverage
        assignment, covered, _ = served_by_coverage(instance, coverage, open_sites)
        weights = instance.weight()
        unreachable = coverage.reduced.unreachable
        details = {
            "radius": float(self.radius),
            "p": int(self.p),
            "method": self.method,
            "unreachable_demand_weight": float(
                weights[unreachable][~coverage.fixed_covered[unreachable]].sum()
            ),
            "reduced_rows": coverage.reduced.n_rows,
            "model_rows": prepared.problem.n_rows,
            "dominated_sites": int(prepared.dominated.sum()),
            "closed_by_bound": int(prepared.close.sum()) if prepared.close is not None else 0,
            "opened_by_bound": (
                int(prepared.must_open.sum()) if prepared.must_open is not None else 0
            ),
        }
        if prepared.incumbent is not None:
            details["heuristic_objective"] = prepared.incumbent.objective + prepared.offset
            details["heuristic_bound"] = prepared.incumbent.bound + prepared.offset
        return Served(assignment, covered, details)

    # ------------------------------------------------------------------ internals
    def _run_heuristic(self, prepared: _Prepared, options: SolveOptions) -> _Prepared:
        """Heuristic plan, Lagrangian bound and the sites that bound fixes."""
        problem = prepared.problem
        incumbent, relaxation = solve_covering(
            problem,
            rounds=_ROUNDS,
            lagrangian_iterations=_LAGRANGIAN_ITERATIONS,
            seed=options.seed,
            seconds=_SEARCH_SHARE * options.time_limit,
        )
        close = np.zeros(problem.n_sites, dtype=np.bool_)
        must_open = np.zeros(problem.n_sites, dtype=np.bool_)
        if relaxation is not None and self.method == "exact":
            close, must_open = relaxation.fixings(problem, incumbent.objective)
        return dataclasses.replace(
            prepared, incumbent=incumbent, close=close, must_open=must_open
        )

    def _heuristic_solution(
        self,
        instance: Instance,
        prepared: _Prepared,
        incumbent: CoveringResult,
        proven: bool,
        timer: PhaseTimer,
    ) -> Solution:
        served = self._served(instance, prepared, incumbent.sites)
        objective = incumbent.objective + prepared.offset
        bound = incumbent.bound + prepared.offset
        status = Status.OPTIMAL if proven else Status.FEASIBLE
        message = (
            "proven optimal by the heuristic's bound; no solver was needed"
            if proven
            else f"heuristic plan ({incumbent.method}) with a proven bound"
        )
        return Solution(
            model=self.name,
            status=status,
            objective=objective,
            bound=bound,
            gap=relative_gap(objective, bound),
            open_sites=incumbent.sites,
            open_site_ids=tuple(instance.sites.ids[incumbent.sites].tolist()),
            assignment=served.assignment,
            covered_weight=served.covered_weight,
            total_weight=instance.total_weight,
            timings=timer.total(),
            backend="heuristic",
            backend_version=f"optiserv {optiserv.__version__}",
            message=message,
            details=served.details,
        )


def _proven(result: CoveringResult, relative: float) -> bool:
    """True when the bound meets the plan within ``relative`` (or exactly)."""
    return result.objective >= result.bound or result.gap <= relative


def _start_vector(
    problem: CoveringProblem, built: BuiltModel, incumbent: CoveringResult
) -> NDArray[np.float64]:
    """Every column of the program for the heuristic plan: y from the plan, z_i = covered."""
    start = np.zeros(built.program.n_cols)
    is_open = problem.plan(incumbent.sites)
    start[built.sites.start + incumbent.sites] = 1.0
    covered = np.zeros(problem.n_rows, dtype=np.bool_)
    rows = np.repeat(np.arange(problem.n_rows), np.diff(problem.row_indptr))
    covered[rows[is_open[problem.row_indices]]] = True
    z = built.extra["z"]
    start[z.start : z.start + z.size] = covered[built.extra["z_rows"]]
    return start


def _combine(
    result: SolverResult,
    built: BuiltModel,
    start: NDArray[np.float64] | None,
    incumbent: CoveringResult,
    offset: float,
    options: SolveOptions,
) -> SolverResult:
    """The better plan and the tighter bound of the solver and the heuristic."""
    if result.status in (Status.OPTIMAL, Status.INFEASIBLE, Status.UNBOUNDED):
        return result
    values, objective = result.values, result.objective
    heuristic_objective = incumbent.objective + offset
    message = result.message
    if start is not None and (values is None or objective < heuristic_objective):
        values, objective = start, built.program.value(start)
        message = f"{message}; the plan is the heuristic's warm start"
    bound = min(result.bound, incumbent.bound + offset)
    if values is None:
        return result
    status = Status.OPTIMAL if relative_gap(objective, bound) <= options.relative_gap or (
        objective >= bound
    ) else Status.FEASIBLE
    return dataclasses.replace(
        result, status=status, values=values, objective=objective, bound=bound, message=message
    )


def _dominated_sites(
    matrix: sp.csr_matrix, fixed: NDArray[np.bool_], forbidden: NDArray[np.bool_], p: int
) -> NDArray[np.bool_]:
    """Candidate sites whose covered rows are a subset of another openable site's.

    Site j is dominated by k when rows(j) ⊆ rows(k) and k has more rows, or as many and a
    lower index; this order is strict, so every dominated site leads through a chain to an
    undominated one covering all its rows. In any plan, a dominated open site can be swapped
    for that site, or (if it is already open) for any closed undominated site, without losing
    weight. The reduction is applied only when at least p sites stay openable.
    """
    m = matrix.shape[1]
    columns = sp.csc_matrix(matrix, dtype=np.int32)
    sizes = np.diff(columns.indptr)
    candidate = ~fixed & ~forbidden
    openable = ~forbidden
    dominated = np.zeros(m, dtype=np.bool_)
    # an empty candidate column is dominated by every openable site that covers something
    if (openable & (sizes > 0)).any():
        dominated |= candidate & (sizes == 0)
    overlap = sp.coo_matrix(columns.T @ columns)
    j, k = overlap.row, overlap.col
    subset = (
        (j != k)
        & (overlap.data == sizes[j])
        & (sizes[j] > 0)
        & candidate[j]
        & openable[k]
        & ((sizes[k] > sizes[j]) | ((sizes[k] == sizes[j]) & (k < j)))
    )
    dominated[j[subset]] = True
    if int((openable & ~dominated).sum()) < p:
        return np.zeros(m, dtype=np.bool_)
    return dominated
