"""Heuristics and bounds for maximal covering: greedy, interchange, Lagrangian relaxation.

A :class:`CoveringProblem` holds a coverage matrix a (n × m, a_ij = 1 ⇔ site j covers demand
row i), one weight w_i ≥ 0 per row, the number p of open sites (fixed sites included), and
which sites are fixed (always open) or forbidden (never open); it is validated once, by
:meth:`CoveringProblem.from_matrix`. The functions here maximise the covered weight
f(S) = Σ_i w_i [row i has an open site in S]. Every result carries a proven upper bound on
the best possible f, so its gap is known:

* greedy and interchange use the submodularity of f: for any plan S,
  OPT ≤ f(S) + (sum of the p − |fixed| largest marginal gains f(S ∪ {j}) − f(S));
* :func:`lagrangian_covering_bound` relaxes z_i ≤ Σ_j a_ij y_j; its bound is never below the
  linear-programming relaxation's optimum, and reaches it as the multipliers converge.

The numeric work happens in the numba kernels of :mod:`._kernels`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from optiserv.exceptions import ParameterError
from optiserv.heuristics import _kernels
from optiserv.solvers import relative_gap

__all__ = [
    "CoveringLagrangian",
    "CoveringProblem",
    "CoveringResult",
    "greedy_covering",
    "interchange_covering",
    "lagrangian_covering_bound",
    "solve_covering",
]

_BLOCK = 25
"""Iterated local search rounds between two looks at the clock."""


@dataclass(frozen=True, eq=False)
class CoveringProblem:
    """A validated maximal covering instance in the layout the kernels read.

    Build it with :meth:`from_matrix`; the constructor trusts its arguments.

    Attributes
    ----------
    row_indptr, row_indices
        CSR of a: the sites covering each demand row.
    col_indptr, col_indices
        CSC of a: the demand rows each site covers.
    weights
        w_i per demand row.
    role
        Per site: 0 candidate, 1 fixed open, 2 forbidden.
    p
        Open sites in every plan, fixed sites included.
    integral
        True when every weight is an integer, so every plan's value is one and a bound may be
        rounded down.
    """

    row_indptr: NDArray[np.int64]
    row_indices: NDArray[np.int64]
    col_indptr: NDArray[np.int64]
    col_indices: NDArray[np.int64]
    weights: NDArray[np.float64]
    role: NDArray[np.int8]
    p: int
    integral: bool

    @classmethod
    def from_matrix(
        cls,
        cover: sp.spmatrix | NDArray,
        weights: ArrayLike,
        *,
        p: int,
        fixed: ArrayLike | None = None,
        forbidden: ArrayLike | None = None,
    ) -> CoveringProblem:
        """Validate a coverage matrix, weights, p and the site masks.

        Raises
        ------
        ParameterError
            When shapes disagree, a weight is negative or not finite, a site is both fixed and
            forbidden, or p cannot be met (more fixed sites than p, fewer openable sites).
        """
        matrix = sp.csr_matrix(cover, dtype=bool)
        matrix.eliminate_zeros()
        matrix.sort_indices()
        n, m = matrix.shape
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,):
            raise ParameterError(f"weights have shape {w.shape}, expected ({n},)")
        if not np.isfinite(w).all() or (w < 0).any():
            raise ParameterError("weights must be finite and non-negative")
        fixed_mask = _site_mask(fixed, m, "fixed")
        forbidden_mask = _site_mask(forbidden, m, "forbidden")
        if (fixed_mask & forbidden_mask).any():
            raise ParameterError("a site cannot be both fixed and forbidden")
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1:
            raise ParameterError(f"p must be a positive integer, got {p!r}")
        if int(fixed_mask.sum()) > p:
            raise ParameterError(f"{int(fixed_mask.sum())} sites are fixed open, more than p = {p}")
        if int((~forbidden_mask).sum()) < p:
            raise ParameterError(
                f"p = {p} is larger than the number of sites that can open "
                f"({int((~forbidden_mask).sum())} of {m})"
            )
        role = np.zeros(m, dtype=np.int8)
        role[fixed_mask] = _kernels.FIXED
        role[forbidden_mask] = _kernels.FORBIDDEN
        csc = matrix.tocsc()
        csc.sort_indices()
        return cls(
            row_indptr=matrix.indptr.astype(np.int64),
            row_indices=matrix.indices.astype(np.int64),
            col_indptr=csc.indptr.astype(np.int64),
            col_indices=csc.indices.astype(np.int64),
            weights=np.ascontiguousarray(w),
            role=role,
            p=int(p),
            integral=bool(np.all(w == np.round(w))),
        )

    @property
    def n_rows(self) -> int:
        """Number of demand rows."""
        return int(self.weights.size)

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return int(self.role.size)

    def value(self, is_open: NDArray[np.bool_]) -> float:
        """Covered weight f(S) of the plan ``is_open``."""
        counts = _kernels.cover_counts(self.col_indptr, self.col_indices, is_open, self.n_rows)
        return float(_kernels.covered_weight(counts, self.weights))

    def plan(self, sites: ArrayLike) -> NDArray[np.bool_]:
        """The boolean plan of a list of site indices."""
        is_open = np.zeros(self.n_sites, dtype=np.bool_)
        is_open[np.asarray(sites, dtype=np.int64)] = True
        return is_open

    def submodular_bound(self, is_open: NDArray[np.bool_]) -> float:
        """f(S) + the p − |fixed| largest marginal gains over sites that may still open.

        Valid for any plan S: an optimal plan adds at most p − |fixed| sites to S, and by
        submodularity each adds at most its marginal gain with respect to S.
        """
        counts = _kernels.cover_counts(self.col_indptr, self.col_indices, is_open, self.n_rows)
        uncovered = np.where(counts == 0, self.weights, 0.0)
        gains = np.zeros(self.n_sites)
        np.add.at(gains, np.repeat(np.arange(self.n_sites), np.diff(self.col_indptr)),
                  uncovered[self.col_indices])
        gains[(self.role != _kernels.CANDIDATE) | is_open] = 0.0
        free = self.p - int((self.role == _kernels.FIXED).sum())
        top = np.sort(gains)[::-1][:free]
        return float(_kernels.covered_weight(counts, self.weights) + top.sum())

    def rounded(self, bound: float) -> float:
        """A bound rounded down to an integer when every plan's value is an integer.

        The allowance absorbs the floating-point error of a bound summed over many rows (an
        integer bound computed as 41.999999999 is 42). It must stay well below 1: at 1e-7 of a
        bound of 1.7e7 it would round 17,001,638.2 up to 17,001,639.
        """
        if self.integral and math.isfinite(bound):
            return float(math.floor(bound + min(0.5, 1e-9 * max(1.0, abs(bound)))))
        return float(bound)

    def check_plan(self, is_open: NDArray[np.bool_]) -> None:
        """Raise ParameterError unless the plan opens p sites, every fixed one, no forbidden."""
        if is_open.shape != (self.n_sites,):
            raise ParameterError(f"a plan needs one entry per site ({self.n_sites})")
        if int(is_open.sum()) != self.p:
            raise ParameterError(f"the plan opens {int(is_open.sum())} sites, not p = {self.p}")
        if (~is_open[self.role == _kernels.FIXED]).any():
            raise ParameterError("the plan closes a fixed site")
        if is_open[self.role == _kernels.FORBIDDEN].any():
            raise ParameterError("the plan opens a forbidden site")


@dataclass(frozen=True, eq=False)
class CoveringResult:
    """A feasible plan from a heuristic and a proven bound on the optimum.

    Attributes
    ----------
    sites
        Indices of the open sites (fixed sites included), sorted; exactly p of them.
    objective
        Covered weight of the plan, Σ w_i over rows with an open covering site.
    bound
        An upper bound on the covered weight of every feasible plan.
    method
        Which heuristics produced the plan, e.g. ``"greedy+interchange"``.
    """

    sites: NDArray[np.int64]
    objective: float
    bound: float
    method: str

    @property
    def gap(self) -> float:
        """(bound − objective) / max(objective, 1e-9); 0 when the plan is proven optimal."""
        return relative_gap(self.objective, self.bound)


@dataclass(frozen=True, eq=False)
class CoveringLagrangian:
    """The Lagrangian relaxation of maximal covering at its best multipliers.

    Attributes
    ----------
    bound
        L(λ), an upper bound on the optimal covered weight (unrounded: the fixing tests
        below are stated for it).
    multipliers
        λ_i ∈ [0, w_i] per demand row, the prices of the relaxed rows z_i ≤ Σ_j a_ij y_j.
    prices
        c_j = Σ_{i covered by j} λ_i per site.
    result
        The best relaxation plan met (feasible), with ``bound`` as its bound.
    """

    bound: float
    multipliers: NDArray[np.float64]
    prices: NDArray[np.float64]
    result: CoveringResult

    def fixings(
        self, problem: CoveringProblem, incumbent: float
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Sites that every plan strictly better than ``incumbent`` must close, or must open.

        With multipliers λ, the relaxation with y_j forced to 1 has the bound
        L − c_(k) + c_j for a site outside the relaxation's k = p − |fixed| best, and with y_j
        forced to 0 the bound L − c_j + c_(k+1) for a site among them. Where that bound is
        below ``incumbent`` every better plan has the other value. A plan with value
        ``incumbent`` itself is never cut off, so a solver started from it stays exact.

        Returns
        -------
        close, open
            Boolean masks over the sites.
        """
        role = problem.role
        candidates = np.flatnonzero(role == _kernels.CANDIDATE)
        free = problem.p - int((role == _kernels.FIXED).sum())
        close = np.zeros(problem.n_sites, dtype=np.bool_)
        must_open = np.zeros(problem.n_sites, dtype=np.bool_)
        if free <= 0 or candidates.size <= free:
            return close, must_open
        prices = self.prices[candidates]
        order = np.argsort(-prices, kind="stable")
        kth, next_ = prices[order[free - 1]], prices[order[free]]
        inside = np.zeros(candidates.size, dtype=np.bool_)
        inside[order[:free]] = True
        margin = 1e-9 * max(1.0, abs(incumbent))
        close[candidates] = ~inside & (self.bound - kth + prices < incumbent - margin)
        must_open[candidates] = inside & (self.bound - prices + next_ < incumbent - margin)
        return close, must_open


def _site_mask(mask: ArrayLike | None, m: int, name: str) -> NDArray[np.bool_]:
    if mask is None:
        return np.zeros(m, dtype=np.bool_)
    out = np.asarray(mask, dtype=np.bool_)
    if out.shape != (m,):
        raise ParameterError(f"{name} must be a boolean mask with one entry per site ({m})")
    return out


def _result(
    problem: CoveringProblem, is_open: NDArray[np.bool_], bound: float, method: str
) -> CoveringResult:
    value = problem.value(is_open)
    return CoveringResult(
        sites=np.flatnonzero(is_open).astype(np.int64),
        objective=value,
        bound=max(problem.rounded(bound), value),
        method=method,
    )


def _arrays(problem: CoveringProblem) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray]:
    return (
        problem.col_indptr,
        problem.col_indices,
        problem.row_indptr,
        problem.row_indices,
        problem.weights,
    )


def greedy_covering(problem: CoveringProblem) -> CoveringResult:
    """Open the fixed sites, then repeatedly the candidate with the largest marginal weight.

    The bound is the smallest submodular bound met along the way (see the module docstring).
    """
    is_open, _, bound = _kernels.greedy(*_arrays(problem), problem.role, problem.p)
    return _result(problem, is_open, bound, "greedy")


def interchange_covering(
    problem: CoveringProblem,
    start: CoveringResult | ArrayLike,
    *,
    rounds: int = 0,
    kick: int = 3,
    seed: int = 0,
) -> CoveringResult:
    """Swap local search from ``start``, then ``rounds`` of iterated local search.

    One swap closes an open candidate and opens a closed one; the best swap is made while it
    gains weight, with gains kept up to date incrementally through per-row cover counts.
    Each iterated round makes ``kick`` random swaps in the best plan and descends again,
    keeping the result when it is better. Deterministic for a given ``seed``.

    Parameters
    ----------
    problem
        The instance.
    start
        A feasible plan: a result, or the indices of its open sites.
    rounds, kick, seed
        Iterated local search effort, perturbation size and random seed.
    """
    sites = start.sites if isinstance(start, CoveringResult) else np.asarray(start)
    is_open = problem.plan(sites)
    problem.check_plan(is_open)
    if rounds < 0 or kick < 1:
        raise ParameterError("rounds must be non-negative and kick positive")
    plan, _, _ = _kernels.iterated_interchange(
        *_arrays(problem), problem.role, is_open, int(rounds), int(kick), int(seed)
    )
    bound = problem.submodular_bound(plan)
    if isinstance(start, CoveringResult):
        bound = min(bound, start.bound)
    return _result(problem, plan, bound, "interchange")


def lagrangian_covering_bound(
    problem: CoveringProblem,
    *,
    incumbent: float = 0.0,
    iterations: int = 1000,
    patience: int = 20,
    smoothing: float = 0.1,
) -> CoveringLagrangian:
    """Subgradient optimisation of the Lagrangian relaxation of z_i ≤ Σ_j a_ij y_j.

    Parameters
    ----------
    problem
        The instance.
    incumbent
        The value of a known plan, the target of the Polyak step sizes.
    iterations, patience
        Subgradient iterations, and iterations without progress before the step halves.
    smoothing
        Weight of the newest relaxation plan in the running average of plans whose cover
        counts give the step direction (1: the plain subgradient). Averaging, as in the
        volume algorithm, stops the zig-zag between the many sites of nearly equal price
        and converges much closer to the linear-programming bound.
    """
    if iterations < 1 or patience < 1:
        raise ParameterError("iterations and patience must be positive")
    if not 0 < smoothing <= 1:
        raise ParameterError(f"smoothing must be in (0, 1], got {smoothing}")
    bound, multipliers, plan, _, _ = _kernels.lagrangian(
        *_arrays(problem), problem.role, problem.p, float(incumbent), int(iterations),
        int(patience), float(smoothing), np.zeros(0),
    )
    prices = np.zeros(problem.n_sites)
    np.add.at(
        prices,
        np.repeat(np.arange(problem.n_sites), np.diff(problem.col_indptr)),
        multipliers[problem.col_indices],
    )
    result = _result(problem, plan, min(bound, float(problem.weights.sum())), "lagrangian")
    return CoveringLagrangian(float(bound), multipliers, prices, result)


def solve_covering(
    problem: CoveringProblem,
    *,
    rounds: int = 200,
    kick: int | None = None,
    lagrangian_iterations: int = 1000,
    seed: int = 0,
    seconds: float = math.inf,
    stall: int | None = None,
) -> tuple[CoveringResult, CoveringLagrangian | None]:
    """Greedy, interchange, a Lagrangian bound, then iterated interchange if still needed.

    The order spends effort only where the gap is open: the greedy plan is improved to a swap
    local optimum; the Lagrangian bound follows; the iterated local search runs only when the
    bound does not already prove that plan optimal. The relaxation's best plan is improved by
    interchange too, and the better plan is kept.

    Parameters
    ----------
    problem
        The instance.
    rounds
        Iterated local search rounds (run only while the gap is open).
    kick
        Largest perturbation of a round, in random swaps; by default two thirds of the
        candidates a plan opens (at least 3): large kicks escape the deep local optima of
        coverage better than small ones.
    lagrangian_iterations
        Subgradient iterations (0 skips the Lagrangian bound).
    seed
        Random seed of the iterated local search.
    seconds
        Wall-clock budget of the iterated local search: it runs in blocks of rounds and stops
        after the block that exceeds the budget. With a finite budget the result may depend on
        the machine's speed; without one it is deterministic for a seed.
    stall
        Stop the iterated local search after ``stall`` consecutive rounds (one block of that
        size) without improvement; None runs all ``rounds``. Meant for a caller with an exact
        search behind it, which needs a good plan rather than the last unit of weight; the
        rounds run are the same whatever the clock, so the result stays deterministic.

    Returns
    -------
    result, relaxation
        The best plan with the best bound found, and the Lagrangian relaxation (None when it
        was skipped, or not needed because the greedy bound already proved optimality).
    """
    started = time.perf_counter()
    free = problem.p - int((problem.role == _kernels.FIXED).sum())
    kick = max(3, (2 * free) // 3) if kick is None else kick
    best = interchange_covering(problem, greedy_covering(problem))
    methods = ["greedy", "interchange"]
    relaxation = None
    if lagrangian_iterations > 0 and best.gap > 0:
        relaxation = lagrangian_covering_bound(
            problem, incumbent=best.objective, iterations=lagrangian_iterations
        )
        methods.append("lagrangian bound")
        if relaxation.result.objective > best.objective:
            improved = interchange_covering(problem, relaxation.result)
            if improved.objective > best.objective:
                best = improved
                methods.append("lagrangian plan")
        best = _with_bound(best, relaxation.result.bound)
    if stall is not None and stall < 1:
        raise ParameterError(f"stall must be a positive number of rounds, got {stall}")
    done, block = 0, rounds if math.isinf(seconds) else _BLOCK
    if stall is not None:
        block = min(block, stall)
    searched_better = False
    while done < rounds and best.gap > 0 and time.perf_counter() - started < seconds:
        size = min(block, rounds - done)
        searched = interchange_covering(problem, best, rounds=size, kick=kick, seed=seed + done)
        gained = searched.objective > best.objective
        searched_better |= gained
        best = _with_bound(searched, best.bound)
        done += size
        if stall is not None and not gained:
            break
    if searched_better:
        methods.append("iterated interchange")
    return CoveringResult(best.sites, best.objective, best.bound, "+".join(methods)), relaxation


def _with_bound(result: CoveringResult, bound: float) -> CoveringResult:
    """``result`` with the tighter of its bound and ``bound``."""
    tighter = max(min(result.bound, bound), result.objective)
    return CoveringResult(result.sites, result.objective, tighter, result.method)
