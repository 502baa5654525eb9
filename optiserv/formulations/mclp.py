"""Maximal covering (MCLP): p sites that cover the most demand weight.

The exact method solves one mixed-integer program, but only after three things that make it
fast without changing its optimum:

1. exact reductions of the coverage (identical rows merged, while streaming the demand
   points for large instances so that no per-point matrix is built; rows covered by a fixed
   site taken out as a constant, dominated sites closed, single-site rows moved into the
   site's objective);
2. a heuristic plan (greedy, then iterated interchange, in numba) and the Lagrangian bound at
   the optimal multipliers of the linear relaxation, from a small linear program (one row per
   site; the numba subgradient search when there is no solver); the bound closes (opens)
   the sites that every better plan must close (open), and the plan is the solver's warm
   start. When the bound already proves the plan optimal, those fixings leave the solver
   almost nothing to do;
3. with HiGHS, a gap still open after that is closed by a branch and bound on the sites
   (:mod:`._mclp_branch`) whose node bound is the linear relaxation in its small dual form
   (one row per site), re-solved warm at every node, with Lagrangian fixing at every node;
   with another backend the compact program goes to the solver;
4. the answer is never worse than the heuristic's: the better plan and the tighter bound are
   reported, so a time-limited solve never does worse than the heuristic.
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
from optiserv.formulations._coverage_common import CoverageRows, coverage_rows, served_by_rows
from optiserv.formulations._mclp_branch import NodeRelaxation, base_state, branch_and_bound
from optiserv.formulations.base import BuiltModel, Formulation, Served, site_bounds
from optiserv.heuristics import (
    CoveringLagrangian,
    CoveringProblem,
    CoveringResult,
    solve_covering,
)
from optiserv.lp import ModelBuilder
from optiserv.solution import Solution
from optiserv.solvers import Backend, SolveOptions, SolverResult, Status, relative_gap
from optiserv.solvers.highs import HighsBackend

__all__ = ["MaximalCovering", "Method"]

Method = Literal["exact", "heuristic"]
"""``exact``: prove optimality (or report the gap at the time limit). ``heuristic``: the
heuristic plan and its Lagrangian bound, without a solver."""

# Heuristic effort: iterated interchange rounds and Lagrangian subgradient iterations, and the
# share of a finite time limit the iterated interchange may use at most.
_ROUNDS = 500
_LAGRANGIAN_ITERATIONS = 1500
_SEARCH_SHARE = 0.25
_STAGED_ITERATIONS = 300
"""Subgradient iterations before the linear-programming bound (exact method with a solver).
Where the subgradient bound proves the plan optimal it does so early (within 200–300
iterations, about 5 ms, on the six 2k×200 head-to-head instances tried, against 50–100 ms for
the linear program); where it does not, the linear program gives the exact bound anyway,
and the full 1,500 iterations would only cost time (0.3 s at 10k×500, 1.4 s at 20k×1,000)."""
_STALL = 25
"""Iterated interchange rounds without improvement after which the search before the branch
and bound stops (see :func:`_branch_can_prune`): the branch and bound proves optimality from a
good plan, and it runs the iterated interchange itself every so many nodes. Measured at
10k×500 villages (seeds 0 and 1): 500 rounds cost 0.9–1.2 CPU s before a 0.2–0.3 s branch and
bound; stopping at the first block of 25 rounds without gain costs 0.1–0.2 s and the branch and
bound 0.2–0.4 s, with the same optimum."""

_HIGHS_OPEN_GAP = {"presolve": "off"}
"""HiGHS options for a model that reaches it with the gap still open. The model is already
reduced exactly, so presolve finds little, and on uniform instances with 0.1–0.6 % gaps it
set off restarts that cost two to five times the CPU of solving without it (measured on
100–500 sites, p = 10–30). The user's own HiGHS options take precedence."""


@dataclass(frozen=True, eq=False)
class _Prepared:
    """Coverage, the exactly reduced covering problem, and what the heuristic found.

    Attributes
    ----------
    coverage
        Coverage at the radius with identical rows merged (see ``coverage_rows``).
    problem
        The covering problem the model is built from: ``coverage.matrix`` with dominated
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

    coverage: CoverageRows
    problem: CoveringProblem
    dominated: NDArray[np.bool_]
    offset: float
    incumbent: CoveringResult | None = None
    close: NDArray[np.bool_] | None = None
    must_open: NDArray[np.bool_] | None = None
    lp_bound: float | None = None
    nodes: int | None = None
    relaxation: NodeRelaxation | None = None


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

    Large instances measured from coordinates (no user cost matrix, at least
    ``STREAM_MIN_DEMAND`` demand points) never build a per-point matrix: the demand points are
    streamed in chunks and only their distinct coverage sets are kept, with summed weights
    (:func:`optiserv.coverage.streaming.aggregated_coverage`); the plan's assignment and
    covered weight are then found by streaming the points once more over the open sites. The
    rows, and so the model and its optimum, are the same either way; ``details`` reports
    ``coverage_streamed``.

    With ``method="exact"`` a heuristic plan (greedy and interchange) and a Lagrangian bound
    (a short subgradient search) come first; where the plan is not proven optimal, the
    bound's multipliers are the optimal duals of the linear relaxation (a linear program
    with one row per candidate site, solved by the backend), which gives the
    linear-programming bound (the subgradient search approaches the same multipliers,
    slower, and is the fallback), and the iterated interchange runs only if a gap remains
    (before the branch and bound, until a block of rounds brings no gain). Sites whose
    Lagrangian bound when opened (closed) falls below the plan's value are closed (opened),
    which keeps every plan at least as good as the heuristic's. If the gap is still open,
    with HiGHS a depth-first branch and bound on the sites searches every better plan (its
    root warm from the linear relaxation just solved): each node's bound
    is its linear relaxation, solved by HiGHS in the dual form with one row per site, warm
    from the previous node, and recomputed as a Lagrangian bound from the solver's
    multipliers so that pruning is exact whatever the tolerances; at the time limit the
    largest bound of the unsearched nodes is reported (status FEASIBLE, ``details`` gives
    ``branch_and_bound_nodes``). With another backend the plan is the solver's warm start
    for the compact program, and the result reports the better of the solver's and the
    heuristic's plan with the tighter of their bounds.
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

    # ------------------------------------------------------------------ solve
    def _solve_prepared(
        self,
        instance: Instance,
        prepared: _Prepared,
        solver: Backend,
        options: SolveOptions,
        timer: PhaseTimer,
    ) -> Solution:
        """Heuristic with its bound, then the branch and bound or the program (class docstring)."""
        started = timer.started
        with timer("heuristic"):
            prepared = self._run_heuristic(prepared, options, solver, started)
        incumbent = prepared.incumbent
        assert incumbent is not None
        proven = _proven(incumbent, options.relative_gap)
        if self.method == "heuristic":
            return self._heuristic_solution(instance, prepared, incumbent, proven, timer)
        if proven:
            # a plan its proven bound meets is optimal: the program could add nothing
            return self._heuristic_solution(instance, prepared, incumbent, proven, timer, solver)
        if not proven and isinstance(solver, HighsBackend):
            remaining = options.time_limit - (time.perf_counter() - started)
            with timer("solve"):
                searched = branch_and_bound(
                    prepared.problem,
                    incumbent,
                    close=prepared.close,
                    must_open=prepared.must_open,
                    relative_gap=options.relative_gap,
                    seconds=max(remaining, 0.0),
                    threads=options.threads,
                    relaxation=prepared.relaxation,
                )
            prepared = dataclasses.replace(prepared, nodes=searched.nodes)
            return self._heuristic_solution(
                instance, prepared, searched.result, searched.proven, timer, searched=True
            )
        with timer("build"):
            built = self._build(instance, prepared)
        with timer("heuristic"):
            start = self._warm_start(instance, prepared, built, options)
        remaining = options.time_limit - (time.perf_counter() - started)
        if math.isfinite(remaining):
            options = dataclasses.replace(options, time_limit=max(remaining, 1e-3))
        mip_solver = _mip_backend(solver)
        with timer("solve"):
            result = mip_solver.solve(built.program, options, start)
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
        coverage = coverage_rows(instance, self.radius, drop_fixed_covered=True)
        fixed = instance.sites.fixed
        forbidden = instance.sites.forbidden
        dominated = _dominated_sites(coverage.matrix, fixed, forbidden, self.p)
        matrix, weights = coverage.matrix, coverage.weights
        if dominated.any():
            keep = (~dominated).astype(np.int8)
            matrix = sp.csr_matrix(matrix.multiply(keep[np.newaxis, :]), dtype=bool)
            matrix.eliminate_zeros()
            merged = reduce_coverage(matrix, weights)
            matrix, weights = merged.matrix, np.asarray(merged.weights, dtype=np.float64)
        problem = CoveringProblem.from_matrix(
            matrix, weights, p=int(self.p), fixed=fixed, forbidden=forbidden | dominated
        )
        return _Prepared(coverage, problem, dominated, coverage.fixed_weight)

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
        assignment, covered = served_by_rows(instance, coverage, open_sites)
        details = {
            "radius": float(self.radius),
            "p": int(self.p),
            "method": self.method,
            "unreachable_demand_weight": coverage.unreachable_weight,
            "coverage_streamed": coverage.streamed,
            "reduced_rows": coverage.n_rows,
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
        if prepared.lp_bound is not None:
            details["lp_bound"] = prepared.lp_bound + prepared.offset
        if prepared.nodes is not None:
            details["branch_and_bound_nodes"] = prepared.nodes
        return Served(assignment, covered, details)

    # ------------------------------------------------------------------ internals
    def _run_heuristic(
        self,
        prepared: _Prepared,
        options: SolveOptions,
        solver: Backend | None = None,
        started: float | None = None,
    ) -> _Prepared:
        """Heuristic plan, bounds, and the sites those bounds fix.

        Without a solver: greedy, interchange, the Lagrangian bound, and iterated interchange
        while the gap is open. With one (exact method), a short subgradient search
        (``_STAGED_ITERATIONS``) proves the easy cases; otherwise the linear-programming bound
        (the Lagrangian bound at the optimal multipliers, which the subgradient search only
        approaches) follows, and the iterated interchange runs only if that bound leaves a
        gap. The full subgradient search is the fallback when the linear program gives no
        multipliers. The fixings of every relaxation computed are applied.
        """
        problem = prepared.problem
        started = time.perf_counter() if started is None else started
        seconds = _SEARCH_SHARE * options.time_limit
        staged = solver is not None and self.method == "exact"
        incumbent, relaxation = solve_covering(
            problem,
            rounds=0 if staged else _ROUNDS,
            lagrangian_iterations=_STAGED_ITERATIONS if staged else _LAGRANGIAN_ITERATIONS,
            seed=options.seed,
            seconds=seconds,
        )
        relaxations = [] if relaxation is None else [relaxation]
        lp_bound = None
        node_relaxation = None
        if staged and not _proven(incumbent, options.relative_gap):
            assert solver is not None
            lp, node_relaxation = _lp_relaxation(problem, solver, options, started)
            if lp is not None:
                relaxations.append(lp)
                lp_bound = lp.bound
                incumbent = _better(incumbent, lp.result)
            else:  # no multipliers from the linear program: the full subgradient search
                incumbent, relaxation = solve_covering(
                    problem,
                    rounds=0,
                    lagrangian_iterations=_LAGRANGIAN_ITERATIONS,
                    seed=options.seed,
                    seconds=seconds,
                )
                relaxations = [] if relaxation is None else [relaxation]
            if not _proven(incumbent, options.relative_gap):
                left = seconds - (time.perf_counter() - started)
                searched, _ = solve_covering(
                    problem,
                    rounds=_ROUNDS,
                    lagrangian_iterations=0,
                    seed=options.seed,
                    seconds=max(left, 0.0),
                    stall=_STALL if _branch_can_prune(problem, solver, lp) else None,
                )
                incumbent = _better(incumbent, searched)
        close = np.zeros(problem.n_sites, dtype=np.bool_)
        must_open = np.zeros(problem.n_sites, dtype=np.bool_)
        if self.method == "exact":
            for relaxed in relaxations:
                closed, opened = relaxed.fixings(problem, incumbent.objective)
                close |= closed
                must_open |= opened
        return dataclasses.replace(
            prepared,
            incumbent=incumbent,
            close=close,
            must_open=must_open,
            lp_bound=lp_bound,
            relaxation=node_relaxation,
        )

    def _heuristic_solution(
        self,
        instance: Instance,
        prepared: _Prepared,
        incumbent: CoveringResult,
        proven: bool,
        timer: PhaseTimer,
        bounded_by: Backend | None = None,
        *,
        searched: bool = False,
    ) -> Solution:
        """The Solution of a plan found without the program: by the heuristic, or by the
        branch and bound (``searched``; its node relaxations are solved by HiGHS).

        ``bounded_by``: the exact method's backend when the plan's bound proved it optimal
        before any integer program (the backend solved the linear relaxation behind that
        bound unless the subgradient search alone proved the plan), reported like the
        other models' "no MIP needed" answers."""
        served = self._served(instance, prepared, incumbent.sites)
        objective = incumbent.objective + prepared.offset
        bound = incumbent.bound + prepared.offset
        status = Status.OPTIMAL if proven else Status.FEASIBLE
        if searched:
            backend, version = "highs", HighsBackend().version()
            message = (
                "proven optimal by branch and bound on the sites"
                if proven
                else "time limit: the best plan of the branch and bound with a proven bound"
            )
        elif bounded_by is not None:
            backend, version = bounded_by.name, bounded_by.version()
            bound_source = "linear relaxation" if prepared.lp_bound is not None else "Lagrangian"
            message = (
                f"proven optimal: the heuristic's plan meets the {bound_source} bound; no "
                "integer program was needed"
            )
        else:
            backend, version = "heuristic", f"optiserv {optiserv.__version__}"
            message = (
                "proven optimal by the heuristic's bound; no solver was needed"
                if proven
                else f"heuristic plan ({incumbent.method}) with a proven bound"
            )
        return self._plan_solution_of(
            instance,
            incumbent.sites,
            served,
            status=status,
            objective=objective,
            bound=bound,
            timer=timer,
            backend=(backend, version),
            message=message,
        )


def _lp_relaxation(
    problem: CoveringProblem, solver: Backend, options: SolveOptions, started: float
) -> tuple[CoveringLagrangian | None, NodeRelaxation | None]:
    """The Lagrangian relaxation at the linear relaxation's optimal multipliers, or None;
    with HiGHS also the solved :class:`NodeRelaxation`, which the branch and bound re-uses
    (its root starts warm from this basis).

    The subgradient search stops near, not at, the best multipliers. The best ones are the
    optimal duals of the covering rows in the linear relaxation, which :func:`_lp_multipliers`
    gets from a small linear program (one row per candidate site). The bound, prices and
    fixings are then those of the Lagrangian formulas at these multipliers, which hold for
    any multipliers in [0, w_i]: whatever the solver's tolerances, the bound is a proven one.
    """
    left = options.time_limit - (time.perf_counter() - started)
    if left <= 0 or not _has_choice(problem):
        return None, None
    relaxation = None
    if isinstance(solver, HighsBackend):
        relaxation = NodeRelaxation(problem, options.threads)
        solved = relaxation.solve(base_state(problem), seconds=left)
        multipliers = None if solved is None else solved[0]
    else:
        lp_options = dataclasses.replace(options, time_limit=left, log=False)
        multipliers = _lp_multipliers(problem, solver, lp_options)
    if multipliers is None:
        return None, relaxation
    return _lagrangian_at(problem, multipliers), relaxation


def _has_choice(problem: CoveringProblem) -> bool:
    """True when some rows are left and more candidates than free places: a relaxation
    with something to decide."""
    candidates = int((problem.role == 0).sum())
    free = problem.p - int((problem.role == 1).sum())
    return 0 < free < candidates and problem.n_rows > 0


def _branch_can_prune(
    problem: CoveringProblem, solver: Backend, lp: CoveringLagrangian | None
) -> bool:
    """True when the branch and bound follows (HiGHS) and its root bound, the linear
    relaxation's, is below the total weight, so that nodes can be pruned by bound.

    Otherwise (another backend, or a relaxation that covers every row) only a plan found by
    the search itself can close the gap, and the iterated interchange runs all its rounds.
    """
    if not isinstance(solver, HighsBackend) or lp is None:
        return False
    total = float(problem.weights.sum())
    return problem.rounded(lp.bound) < problem.rounded(total)


def _better(first: CoveringResult, second: CoveringResult) -> CoveringResult:
    """The better plan of two (the first on ties), with the tighter of their bounds."""
    best = second if second.objective > first.objective else first
    bound = max(min(first.bound, second.bound), best.objective)
    return CoveringResult(best.sites, best.objective, bound, best.method)


def _lp_multipliers(
    problem: CoveringProblem, solver: Backend, options: SolveOptions
) -> NDArray[np.float64] | None:
    r"""Optimal multipliers λ of the covering rows of the linear relaxation, or None.

    They solve the dual of the relaxation, written with one row per candidate site:

    .. math::

        \min \; \sum_i (w_i - λ_i) + \sum_{j \text{ fixed}} c_j + k t + \sum_{j \text{ cand.}} s_j
        \quad \text{s.t.} \quad s_j + t - c_j \ge 0, \quad
        c_j = \sum_i a_{ij} λ_i, \quad 0 \le λ_i \le w_i, \; s_j \ge 0,

    with k = p − |fixed| (the sum of the k largest c_j is min k t + Σ_j max(0, c_j − t)).
    A candidate row per site instead of a covering row per demand row makes it small.
    """
    role = problem.role
    candidates = np.flatnonzero(role == 0)
    fixed = role == 1
    free = problem.p - int(fixed.sum())
    if not _has_choice(problem):
        return None
    k = problem.n_rows
    transposed = sp.csr_matrix(
        (np.ones(problem.col_indices.size), problem.col_indices, problem.col_indptr),
        shape=(problem.n_sites, k),
    )
    covering_fixed = np.asarray(transposed[np.flatnonzero(fixed)].sum(axis=0)).ravel()
    builder = ModelBuilder()
    lam = builder.add_variables(
        "lambda", k, cost=covering_fixed - 1.0, lower=0.0, upper=problem.weights
    )
    t = builder.add_variables("t", 1, cost=float(free), lower=-np.inf, upper=np.inf)
    slack = builder.add_variables("s", candidates.size, cost=1.0, lower=0.0, upper=np.inf)
    builder.add_matrix_rows(
        [
            (lam, -transposed[candidates]),
            (t, np.ones((candidates.size, 1))),
            (slack, sp.identity(candidates.size, format="csr")),
        ],
        lower=0.0,
    )
    program = builder.build("minimize", offset=float(problem.weights.sum()))
    result = solver.solve(program, options)
    if result.status is not Status.OPTIMAL or result.values is None:
        return None
    return np.clip(lam.take(result.values), 0.0, problem.weights)


def _lagrangian_at(
    problem: CoveringProblem, multipliers: NDArray[np.float64]
) -> CoveringLagrangian:
    """The Lagrangian relaxation at ``multipliers`` (each in [0, w_i]): bound, prices, plan."""
    counts = np.diff(problem.col_indptr)
    prices = np.bincount(
        np.repeat(np.arange(problem.n_sites), counts),
        weights=multipliers[problem.col_indices],
        minlength=problem.n_sites,
    ).astype(np.float64)
    role = problem.role
    candidates = np.flatnonzero(role == 0)
    fixed = role == 1
    free = problem.p - int(fixed.sum())
    chosen = candidates[np.argsort(-prices[candidates], kind="stable")[:free]]
    bound = float(
        (problem.weights - multipliers).sum() + prices[fixed].sum() + prices[chosen].sum()
    )
    plan = fixed.copy()
    plan[chosen] = True
    value = problem.value(plan)
    result = CoveringResult(
        np.flatnonzero(plan).astype(np.int64), value, max(problem.rounded(bound), value), "lp"
    )
    return CoveringLagrangian(bound, multipliers, prices, result)


def _mip_backend(solver: Backend) -> Backend:
    """The backend for the program, which runs only while the gap is open: HiGHS without
    presolve."""
    if isinstance(solver, HighsBackend):
        return HighsBackend(options={**_HIGHS_OPEN_GAP, **solver.options})
    return solver


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
