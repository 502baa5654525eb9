r"""A Lagrangian upper bound for the combined service point model, by subgradient search.

The problem, in maximisation form (the cost objective is maximised as its negative), over
units u (modules y_k, then sites o_j), rows b (z_b), gradual pairs p (x_p), grants q (g_q):

.. math::

    \max \; \sum_b w_b z_b + \sum_p h_p x_p + \sum_u c_u u + \sum_q e_q g_q
    \quad \text{s.t.} \quad
    z_b \le \sum_u a_{bu} u \;(\lambda_b), \quad x_p \le u_p \;(\mu_p), \quad
    z_b + \sum_{p \in b} x_p \le 1,

    \sum_u \text{cost}^{(t)}_u u - \sum_{q \in t} g_q \le B_t \;(\beta_t), \quad
    g_q \le \text{share}_q \sum_u \text{eligible}_{qu} \text{cost}^{(t_q)}_u u \;(\gamma_q),
    \quad 0 \le g_q \le \text{cap}_q,

    \sum_{j \text{ new}} o_j \le P \;(\alpha), \quad
    \sum_{j \text{ new}} o_j + \sum_{j \text{ existing}} c_j \le P_c \;(\kappa), \quad
    \sum_b v_{tb} z_b \ge n_t \;(\nu_t),

and the per-site rows (a module needs its site, a new point hosts a module subset allowed by
the rules, required and forbidden units, c_j ≥ y_k). The rows marked with a multiplier are
moved to the objective with that multiplier ≥ 0. What remains separates:

.. math::

    L = \sum_t \beta_t B_t + \alpha P + \kappa P_c - \sum_t \nu_t n_t
        + \sum_b \max\bigl(0,\; w_b - \lambda_b + \textstyle\sum_t \nu_t v_{tb},\;
          \max_{p \in b} (h_p - \mu_p)\bigr)
        + \sum_q \text{cap}_q \max(0, e_q + \beta_{t_q} - \gamma_q)
        + \sum_j \max_{\text{site } j\text{'s admissible choices}} \text{profit}

with unit profits c_u + Σ_b a_bu λ_b + Σ_{p: u_p = u} μ_p − Σ_t β_t cost^{(t)}_u
+ Σ_q γ_q share_q eligible_qu cost^{(t_q)}_u, minus α + κ for opening a new point and κ for
an existing site with a new module. Every feasible plan keeps each moved row, so its objective
is at most L for *any* multipliers ≥ 0: L is a proven upper bound whatever the search does.
The site problem is solved exactly (the module subsets of a new point that its rules allow
are listed once; where a point has too many modules to list, its rules are dropped, which
only loosens the bound), so L is never below the LP relaxation's value at the same
multipliers.

The row multipliers λ, μ are improved by projected subgradient steps (the subgradient is the
slack of each moved row at the maximiser) with Polyak's step length towards a target (a
known plan's value) and a step factor halved after a run of iterations without improvement.
The few coupling multipliers θ = (β, α, κ, γ, ν), whose scales differ from λ's by orders of
magnitude, are instead re-minimised every few steps by exact line searches, one coordinate at
a time (L is convex and piecewise linear in each). Each evaluation of L is a valid bound; the
smallest is returned.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from optiserv.heuristics import _bundle_bound_kernels as kernels

__all__ = ["BoundProblem", "BoundResult", "lagrangian_bound", "site_options"]

MAX_LISTED_MODULES = 12
"""New points with more modules than this have their rules dropped in the bound."""
_PATIENCE = 20
_BISECTIONS = 12


class BoundProblem(NamedTuple):
    """Packed arrays of the relaxation (the kernels unpack them in this order).

    Attributes
    ----------
    row_ptr, row_unit, unit_ptr, unit_row
        The coverage matrix a_bu as CSR by row and by unit.
    row_objective
        w_b, the objective weight of z_b.
    pair_ptr, pair_unit, pair_objective
        Gradual pairs sorted by row (``pair_ptr`` is by row): unit (-1 a fixed provider) and
        h_p, the objective weight of x_p.
    side_ptr, side_row, side_coef, side_need
        Rows Σ_b v_tb z_b ≥ n_t (targets, equity shares, the lexicographic row), CSR by row t.
    unit_float
        (U, 3): one-off cost, annual cost, objective coefficient c_u.
    grant_table, grant_unit
        (Q, 4): share, cap, period, objective coefficient e_q; (Q, U) 0/1 eligibility.
    site_int
        (m, 5): kind (0 new, 1 stays, 2 at risk), lower, upper, changeable (an existing site
        with a module that may be added, under a changed-points limit), listed (a new point
        whose admissible subsets are in ``option_mask``).
    module_int
        (K, 4): site, service, lower, upper.
    site_module_ptr
        Site j's modules are ``site_module_ptr[j]:site_module_ptr[j + 1]``.
    option_ptr, option_mask
        Admissible module subsets of listed new points (bit i = module ``site_module_ptr[j] + i``).
    limits
        Budget one-off, budget annual, new points, changed points (inf for none).
    """

    row_ptr: NDArray[np.int64]
    row_unit: NDArray[np.int64]
    unit_ptr: NDArray[np.int64]
    unit_row: NDArray[np.int64]
    row_objective: NDArray[np.float64]
    pair_ptr: NDArray[np.int64]
    pair_unit: NDArray[np.int64]
    pair_objective: NDArray[np.float64]
    side_ptr: NDArray[np.int64]
    side_row: NDArray[np.int64]
    side_coef: NDArray[np.float64]
    side_need: NDArray[np.float64]
    unit_float: NDArray[np.float64]
    grant_table: NDArray[np.float64]
    grant_unit: NDArray[np.float64]
    site_int: NDArray[np.int64]
    module_int: NDArray[np.int64]
    site_module_ptr: NDArray[np.int64]
    option_ptr: NDArray[np.int64]
    option_mask: NDArray[np.int64]
    limits: NDArray[np.float64]


def site_options(
    site_int: NDArray[np.int64],
    site_module_ptr: NDArray[np.int64],
    module_int: NDArray[np.int64],
    rule_table: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """(option_ptr, option_mask, listed): the admissible module subsets of each new point.

    ``rule_table`` is (R, S + 2): the rule's service mask, then its min and max count.
    """
    ptr, masks = kernels.new_site_options(
        site_int, site_module_ptr, module_int, rule_table, MAX_LISTED_MODULES
    )
    sizes = np.diff(site_module_ptr)
    listed = ((site_int[:, 0] == 0) & (sizes <= MAX_LISTED_MODULES)).astype(np.int64)
    return ptr, masks, listed


@dataclass(frozen=True)
class BoundResult:
    """The best Lagrangian bound found.

    Attributes
    ----------
    bound
        L at the best multipliers (maximisation form): no plan is worth more.
    iterations
        Subgradient iterations (evaluations of L).
    seconds
        Wall-clock seconds of the search.
    first_bound
        L at the starting multipliers.
    """

    bound: float
    iterations: int
    seconds: float
    first_bound: float


def lagrangian_bound(
    problem: BoundProblem,
    *,
    target: float | Callable[[], float],
    time_limit: float = math.inf,
    tolerance: float = 1e-4,
    reference: float = 0.0,
    max_iterations: int = 5000,
    coupling_every: int = 10,
    stop: Callable[[], bool] | None = None,
) -> BoundResult:
    """The smallest L found by subgradient search, stopping within ``tolerance`` of ``target``.

    Parameters
    ----------
    problem
        The packed relaxation.
    target
        A lower estimate of the optimum (the value of a known plan), for Polyak's step and
        the stopping test; or a function returning the current one (read every iteration,
        so a plan improved meanwhile, e.g. in another thread, steers the search).
    time_limit
        Seconds for the search (at least one evaluation is made).
    tolerance, reference
        Stop when (L − target) ≤ tolerance · max(1, |target + reference|) (``reference``
        shifts values to the units the caller reports gaps in, e.g. a constant left out of the
        objective).
    max_iterations
        Largest number of evaluations of L.
    coupling_every
        The few coupling multipliers are re-minimised by exact line searches every this many
        subgradient steps of the row multipliers.
    stop
        Called after every evaluation; the search ends when it returns True (e.g. once a
        solver running beside it has finished). The bound found so far stays valid.
    """
    started = time.perf_counter()
    work = _Workspace(problem)
    lam, mu, theta = _start(problem)
    pair_ceiling = np.maximum(problem.pair_objective, 0.0)
    ceiling = _row_ceiling(problem)
    best = math.inf
    first = math.nan
    factor = 1.0
    stalled = 0
    iterations = 0
    stuck = False
    while iterations < max_iterations:
        price = kernels.unit_prices(problem, lam, mu)
        searched = iterations % coupling_every == 0 or stuck
        if searched:
            theta = _minimise_coupling(problem, work, price, lam, mu, theta)
        value = work.value(price, lam, mu, theta)
        goal = target() if callable(target) else target
        iterations += 1
        if iterations == 1:
            first = value
        if value < best - 1e-9 * max(1.0, abs(best) if math.isfinite(best) else 1.0):
            best = value
            stalled = 0
        else:
            stalled += 1
            if stalled >= _PATIENCE:
                factor /= 2.0
                stalled = 0
        if not math.isfinite(value) or best - goal <= tolerance * max(1.0, abs(goal + reference)):
            break
        if factor < 1e-5 or time.perf_counter() - started >= time_limit:
            break
        if stop is not None and stop():
            break
        # projected subgradient step on the row and pair multipliers
        gradient_rows, gradient_pairs = work.row_gradients()
        norm = kernels.step_norm(lam, ceiling, gradient_rows) + kernels.step_norm(
            mu, pair_ceiling, gradient_pairs
        )
        stuck = norm <= 0.0
        if stuck and searched:
            break  # no descent along λ, μ, and the coupling multipliers are at their best
        if stuck:
            continue  # the next evaluation re-minimises the coupling multipliers first
        kernels.projected_step(lam, ceiling, gradient_rows, value, goal, factor, norm)
        kernels.projected_step(mu, pair_ceiling, gradient_pairs, value, goal, factor, norm)
    return BoundResult(best, iterations, time.perf_counter() - started, first)


class _Workspace:
    """Buffers of one search: the maximiser and the subgradients."""

    def __init__(self, problem: BoundProblem) -> None:
        self.problem = problem
        n_rows = problem.row_ptr.size - 1
        n_pairs = problem.pair_unit.size
        self.unit_on = np.zeros(problem.unit_ptr.size - 1)
        self.row_z = np.zeros(n_rows)
        self.pair_x = np.zeros(n_pairs)
        self.gradient_theta = np.zeros(
            kernels.COUPLING + problem.grant_table.shape[0] + problem.side_need.size
        )
        self.gradient_rows = np.zeros(n_rows)
        self.gradient_pairs = np.zeros(n_pairs)

    def value(
        self,
        price: NDArray[np.float64],
        lam: NDArray[np.float64],
        mu: NDArray[np.float64],
        theta: NDArray[np.float64],
    ) -> float:
        """L at the multipliers; the maximiser and the coupling subgradient are kept."""
        return float(
            kernels.coupling_value(
                self.problem,
                price,
                lam,
                mu,
                theta,
                self.unit_on,
                self.row_z,
                self.pair_x,
                self.gradient_theta,
            )
        )

    def row_gradients(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Subgradient of the row and pair multipliers at the last maximiser."""
        kernels.row_gradients(
            self.problem,
            self.unit_on,
            self.row_z,
            self.pair_x,
            self.gradient_rows,
            self.gradient_pairs,
        )
        return self.gradient_rows, self.gradient_pairs


def _minimise_coupling(
    problem: BoundProblem,
    work: _Workspace,
    price: NDArray[np.float64],
    lam: NDArray[np.float64],
    mu: NDArray[np.float64],
    theta: NDArray[np.float64],
    rounds: int = 2,
) -> NDArray[np.float64]:
    """Coordinate descent on the coupling multipliers, with the row multipliers fixed.

    L is convex and piecewise linear in each θ_i, with slope the slack of row i at the
    maximiser, so each coordinate's minimum is where the slope changes sign (see
    :func:`_line_search`). Returns the best θ evaluated.
    """
    n_grants = problem.grant_table.shape[0]
    theta = theta.copy()
    _project_grants(problem, theta, n_grants)
    best = work.value(price, lam, mu, theta)
    magnitude = max(abs(best), _objective_magnitude(problem))
    for _ in range(rounds):
        before = best
        for i in np.flatnonzero(_active(problem)).tolist():
            top = math.inf
            if kernels.COUPLING <= i < kernels.COUPLING + n_grants:
                period, objective = problem.grant_table[i - kernels.COUPLING, 2:4]
                top = max(0.0, objective + theta[int(period)])

            def at(x: float, i: int = i) -> tuple[float, float]:
                trial = theta.copy()
                trial[i] = x
                _project_grants(problem, trial, n_grants)
                return work.value(price, lam, mu, trial), float(work.gradient_theta[i])

            first_step = 1e-3 * magnitude / _scale(problem, i)
            value, x = _line_search(at, float(theta[i]), top, first_step)
            if value < best:
                best = value
                theta[i] = x
                _project_grants(problem, theta, n_grants)
        if best >= before - 1e-9 * max(1.0, abs(before)):
            break
    return theta


def _line_search(
    at: Callable[[float], tuple[float, float]], start: float, top: float, first_step: float
) -> tuple[float, float]:
    """(value, x) of the smallest value seen of a convex piecewise-linear f on [0, top].

    ``at(x)`` returns f(x) and a slope at x. From ``start``, steps that double (from 10 % of
    ``start``, or ``first_step`` at 0) go downhill until the slope changes sign; bisection
    then narrows the bracket to a relative 1e-4.
    """
    value, slope = at(start)
    points = [(value, start)]
    if slope < 0.0 and start < top:  # uphill in x lowers f: bracket upwards
        delta = 0.1 * start if start > 0 else first_step
        low, high = start, min(start + delta, top)
        for _ in range(60):
            value, slope = at(high)
            points.append((value, high))
            if slope >= 0.0 or high >= top:
                break
            delta *= 2.0
            low, high = high, min(high + delta, top)
    elif slope > 0.0 and start > 0.0:  # lower x lowers f: bracket downwards
        delta = 0.1 * start
        low, high = max(start - delta, 0.0), start
        for _ in range(60):
            value, slope = at(low)
            points.append((value, low))
            if slope <= 0.0 or low <= 0.0:
                break
            delta *= 2.0
            low, high = max(low - delta, 0.0), low
    else:
        return points[0]
    for _ in range(_BISECTIONS):
        if high - low <= 1e-4 * high:
            break
        middle = 0.5 * (low + high)
        value, slope = at(middle)
        points.append((value, middle))
        if slope < 0.0:
            low = middle
        else:
            high = middle
    return min(points)


def _objective_magnitude(problem: BoundProblem) -> float:
    """Σ |objective coefficients| (a scale for L when L itself is 0)."""
    grants = problem.grant_table
    return max(
        1.0,
        float(
            np.abs(problem.row_objective).sum()
            + np.abs(problem.pair_objective).sum()
            + np.abs(problem.unit_float[:, 2]).sum()
            + np.abs(grants[:, 3] * np.where(np.isfinite(grants[:, 1]), grants[:, 1], 0.0)).sum()
        ),
    )


def _scale(problem: BoundProblem, i: int) -> float:
    """The right-hand side of coupling row i (a first guess of its multiplier's range)."""
    n_grants = problem.grant_table.shape[0]
    if i < kernels.COUPLING:
        return max(float(problem.limits[i]), 1.0)
    if i < kernels.COUPLING + n_grants:
        return max(float(problem.grant_table[i - kernels.COUPLING, 1]), 1.0)
    return max(float(problem.side_need[i - kernels.COUPLING - n_grants]), 1.0)


def _active(problem: BoundProblem) -> NDArray[np.bool_]:
    """Coupling rows that are moved: finite limits, capped grants, every side row."""
    n_grants = problem.grant_table.shape[0]
    active = np.ones(kernels.COUPLING + n_grants + problem.side_need.size, dtype=bool)
    active[: kernels.COUPLING] = np.isfinite(problem.limits)
    active[kernels.COUPLING : kernels.COUPLING + n_grants] = np.isfinite(problem.grant_table[:, 1])
    return active


def _start(
    problem: BoundProblem,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Start: every row priced at its weight, budgets and counts free, grants at their share."""
    n_grants = problem.grant_table.shape[0]
    theta = np.zeros(kernels.COUPLING + n_grants + problem.side_need.size)
    _project_grants(problem, theta, n_grants)
    lam = np.maximum(problem.row_objective, 0.0) * 0.5
    mu = np.maximum(problem.pair_objective, 0.0) * 0.5
    return lam, mu, theta


def _project_grants(problem: BoundProblem, theta: NDArray[np.float64], n_grants: int) -> None:
    """γ_q in [0, e_q + β_t]; uncapped grants at the top (else L is infinite)."""
    for q in range(n_grants):
        cap, period, objective = problem.grant_table[q, 1:4]
        top = max(0.0, objective + theta[int(period)])
        index = kernels.COUPLING + q
        theta[index] = top if not math.isfinite(cap) else min(max(theta[index], 0.0), top)


def _row_ceiling(problem: BoundProblem) -> NDArray[np.float64]:
    """Largest λ_b the search uses: w_b for a row in no side row (above it z_b = 0 anyway,
    whatever the other multipliers), unbounded for rows in a side row (there ν may rise)."""
    ceiling = np.maximum(problem.row_objective, 0.0)
    if problem.side_need.size:
        ceiling[problem.side_row] = np.inf
    return ceiling
