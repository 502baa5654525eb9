"""Greedy construction and fast interchange for the p-median problem.

The plan opens exactly p sites (fixed sites included, forbidden sites never) and serves every
demand point from its nearest open site. It is a good incumbent, not a proof: the exact models
in :mod:`optiserv.formulations.p_median` use it as a warm start.

* **Greedy** (Kuehn & Hamburger 1963): starting from the fixed sites, open the site that lowers
  the total weighted cost Σ_i w_i min_{j open} d_ij the most, until p sites are open.
* **Fast interchange** (Teitz & Bart 1968, with Whitaker's 1983 bookkeeping): for every closed
  site j, the best open, non-fixed site r to swap it with is found in one sweep over j's
  column, using each demand point's nearest and second-nearest open sites. An improving swap is
  applied at once; the search stops after a full pass without improvement (a local optimum).
  Given the candidate pairs sorted by cost within each demand row (``pairs=``), both phases
  read each row only up to the costs that matter, and the interchange applies the best swap
  of each pass, from the gain / loss / extra tables of Resende & Werneck (2007).

Unreachable pairs (absent from the cost matrix) are never used. A demand point with no open
site it can reach costs a penalty larger than any plan's total cost, so both phases first
make every demand point reachable whenever the sites allow it.

The numeric work happens in private ``@njit`` kernels that take CSR/CSC arrays; the public
function validates and converts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from optiserv.coverage import nearest_open
from optiserv.data import CostMatrix
from optiserv.exceptions import ParameterError
from optiserv.heuristics._p_median_kernels import (
    Rows,
    ascending_within_rows,
    choose_sites,
    greedy_sorted,
    interchange_sorted,
    near_rows,
    nearest_two_sorted,
    resume_ascent,
    row_scaled,
    site_values,
    subgradient_ascent,
    transpose,
)

# Subgradient iterations between two looks at the clock when a deadline is given.
_CHUNK_ITERATIONS = 100
# Near rows (see sorted_rows): built from this many candidate pairs up, each row's nearest
# _NEAR_SHARE · m / p sites (at least _NEAR_MIN_WIDTH). With p of m sites open, a row's
# second-nearest open site sits around rank 2 m / p, and the Lagrangian multipliers settle
# at a similar rank, so most passes stay within the near rows.
_NEAR_MIN_PAIRS = 1 << 20
_NEAR_SHARE = 2.0
_NEAR_MIN_WIDTH = 16

__all__ = [
    "LagrangianBound",
    "PMedianPlan",
    "greedy_interchange",
    "lagrangian_bound",
    "probe_sites",
]


@dataclass(frozen=True, eq=False)
class PMedianPlan:
    """A p-median plan found by the heuristic.

    Attributes
    ----------
    open_sites
        Sorted indices j of the open sites (fixed sites included).
    objective
        Σ_i w_i min_{j open} d_ij, in weight × cost units; ``inf`` when some demand point
        reaches no open site.
    serves_all
        True when every demand point reaches an open site.
    swaps
        Number of improving interchanges applied after the greedy phase.
    """

    open_sites: NDArray[np.int64]
    objective: float
    serves_all: bool
    swaps: int


# ---------------------------------------------------------------------- kernels
@njit(cache=True)
def _nearest_two(
    indptr: np.ndarray,
    indices: np.ndarray,
    cost: np.ndarray,
    is_open: np.ndarray,
    penalty: float,
    best: np.ndarray,
    best_site: np.ndarray,
    second: np.ndarray,
) -> None:
    """Per demand row: the cheapest open site, its cost, and the second-cheapest cost."""
    n = indptr.shape[0] - 1
    for i in range(n):
        b1 = penalty
        b2 = penalty
        s1 = -1
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if is_open[j]:
                c = cost[k]
                if c < b1:
                    b2 = b1
                    b1 = c
                    s1 = j
                elif c < b2:
                    b2 = c
        best[i] = b1
        best_site[i] = s1
        second[i] = b2


@njit(cache=True)
def _greedy(
    col_ptr: np.ndarray,
    col_rows: np.ndarray,
    col_cost: np.ndarray,
    is_open: np.ndarray,
    can_open: np.ndarray,
    best: np.ndarray,
    n_to_open: int,
) -> None:
    """Open ``n_to_open`` more sites, each time the one with the largest total saving."""
    m = col_ptr.shape[0] - 1
    for _ in range(n_to_open):
        best_gain = -1.0
        chosen = -1
        for j in range(m):
            if is_open[j] or not can_open[j]:
                continue
            gain = 0.0
            for k in range(col_ptr[j], col_ptr[j + 1]):
                i = col_rows[k]
                if col_cost[k] < best[i]:
                    gain += best[i] - col_cost[k]
            if gain > best_gain:
                best_gain = gain
                chosen = j
        if chosen < 0:
            return
        is_open[chosen] = True
        for k in range(col_ptr[chosen], col_ptr[chosen + 1]):
            i = col_rows[k]
            if col_cost[k] < best[i]:
                best[i] = col_cost[k]


@njit(cache=True)
def _interchange(
    indptr: np.ndarray,
    indices: np.ndarray,
    cost: np.ndarray,
    col_ptr: np.ndarray,
    col_rows: np.ndarray,
    col_cost: np.ndarray,
    is_open: np.ndarray,
    can_open: np.ndarray,
    removable: np.ndarray,
    penalty: float,
    tolerance: float,
    max_swaps: int,
) -> int:
    """Apply improving swaps (close r, open j) until none is left; return the swap count.

    For a closed site j and an open site r, the change of the total cost is

        Δ(j, r) = −gain_j + loss_r + correction_j[r]

    where gain_j = Σ_i max(0, b1_i − c_ij) is the saving of opening j, loss_r =
    Σ_{i: s1_i = r} (b2_i − b1_i) is the cost of closing r when j does not help, and the
    correction accounts for the demand points of r that j serves better than their second
    choice. b1, b2 are the cheapest and second-cheapest open costs, s1 the cheapest site.
    """
    n = indptr.shape[0] - 1
    m = col_ptr.shape[0] - 1
    best = np.empty(n)
    second = np.empty(n)
    best_site = np.empty(n, dtype=np.int64)
    loss = np.zeros(m)
    correction = np.zeros(m)
    touched = np.empty(m, dtype=np.int64)
    stamp = np.full(m, -1, dtype=np.int64)
    swaps = 0
    improved = True
    while improved and swaps < max_swaps:
        improved = False
        _nearest_two(indptr, indices, cost, is_open, penalty, best, best_site, second)
        loss[:] = 0.0
        for i in range(n):
            if best_site[i] >= 0:
                loss[best_site[i]] += second[i] - best[i]
        open_list = np.flatnonzero(is_open & removable)
        if open_list.size == 0:
            return swaps
        for j in range(m):
            if is_open[j] or not can_open[j]:
                continue
            gain = 0.0
            n_touched = 0
            for k in range(col_ptr[j], col_ptr[j + 1]):
                i = col_rows[k]
                c = col_cost[k]
                b1 = best[i]
                if c < b1:
                    gain += b1 - c
                r = best_site[i]
                if r >= 0:
                    # demand of r: without j it falls back to b2; with j to min(b2, c)
                    b2 = second[i]
                    new_cost = min(b2, c)
                    actual = new_cost - b1 - min(0.0, c - b1)
                    if stamp[r] != j:
                        stamp[r] = j
                        touched[n_touched] = r
                        n_touched += 1
                    correction[r] += actual - (b2 - b1)
            best_delta = np.inf
            best_r = -1
            for leaving in open_list:
                delta = loss[leaving] + correction[leaving]
                if delta < best_delta:
                    best_delta = delta
                    best_r = int(leaving)
            for t in range(n_touched):
                correction[touched[t]] = 0.0
                stamp[touched[t]] = -1
            if best_r >= 0 and best_delta - gain < -tolerance:
                is_open[j] = True
                is_open[best_r] = False
                swaps += 1
                improved = True
                break
    return swaps


# ---------------------------------------------------------------------- public
def _columns(
    costs: CostMatrix, weighted: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """The CSC arrays (column pointer, row of each entry, cost) of a CSR cost layout."""
    return transpose(costs.indptr, costs.indices, weighted, int(costs.shape[1]))


def greedy_interchange(
    costs: CostMatrix,
    weights: ArrayLike,
    p: int,
    *,
    fixed: ArrayLike | None = None,
    forbidden: ArrayLike | None = None,
    initial: ArrayLike | None = None,
    max_swaps: int = 100_000,
    pairs: tuple[ArrayLike, ArrayLike, ArrayLike] | None = None,
    pair_cost: ArrayLike | None = None,
    deadline: float = math.inf,
) -> PMedianPlan:
    """A p-median plan by greedy construction followed by fast interchange.

    Parameters
    ----------
    costs
        d_ij for the reachable pairs (demand rows, site columns); absent pairs are unreachable.
    weights
        w_i ≥ 0 per demand point.
    p
        Number of open sites, fixed sites included.
    fixed, forbidden
        Boolean masks over the sites: always open, never open.
    initial
        Indices of sites to start the interchange from instead of the greedy plan (e.g. the
        sites open in a Lagrangian subproblem). Fixed sites are added, forbidden ones dropped,
        and the set is completed greedily or trimmed to p (keeping the first given) as needed.
    max_swaps
        Upper limit on the number of interchanges (a safeguard; local optima come far sooner).
    pairs
        Optional (start, site, distance): candidate pairs in CSR layout by demand point, with
        d_ij **ascending within each demand point** (e.g. those of
        :class:`~optiserv.formulations.p_median.PMedianData`). The search then reads each row
        only up to the costs that matter (b1_i for the greedy, b2_i for the interchange) and
        uses the best-improvement interchange of :func:`~optiserv.heuristics.
        _p_median_kernels.interchange_sorted`; the plan's cost is still priced on ``costs``.
        A pair left out only hides a site from that demand point during the search.
    pair_cost
        w_i d_ij of ``pairs``, when the caller already has it (else computed here).
    deadline
        A ``time.perf_counter()`` value: the interchange stops at the first swap boundary
        after it (the greedy plan is always completed), in batches sized by the measured
        time per swap. Each swap starts from the current plan, so batches change nothing
        else.

    Returns
    -------
    PMedianPlan
        The open sites and their total weighted cost Σ_i w_i min_{j open} d_ij.
    """
    n, m = costs.shape
    weight = np.asarray(weights, dtype=np.float64)
    if weight.shape != (n,):
        raise ParameterError(f"greedy_interchange: weights have shape {weight.shape}, need ({n},)")
    fixed_mask = np.zeros(m, bool) if fixed is None else np.asarray(fixed, dtype=bool)
    forbidden_mask = np.zeros(m, bool) if forbidden is None else np.asarray(forbidden, dtype=bool)
    openable = int((~forbidden_mask).sum())
    if not 1 <= p <= openable or int(fixed_mask.sum()) > p:
        raise ParameterError(
            f"greedy_interchange: p = {p} needs 1 ≤ p ≤ {openable} openable sites and at least "
            f"{int(fixed_mask.sum())} (the fixed sites)"
        )
    is_open = fixed_mask.copy()
    can_open = ~forbidden_mask
    if initial is not None:
        for j in np.asarray(initial, dtype=np.int64).ravel():
            if is_open.sum() >= p:
                break
            if can_open[j]:
                is_open[j] = True
    best = np.empty(n)
    best_site = np.empty(n, dtype=np.int64)
    second = np.empty(n)
    if pairs is not None:  # the search reads the pairs only, never all of ``costs``
        start = np.ascontiguousarray(pairs[0], dtype=np.int64)
        site = np.ascontiguousarray(pairs[1], dtype=np.int64)
        if pair_cost is None:
            pair_cost = row_scaled(start, weight, np.asarray(pairs[2], dtype=np.float64))
        pair_cost = np.ascontiguousarray(pair_cost, dtype=np.float64)
        penalty, tolerance = _penalty(start, pair_cost)
        pair_rows = sorted_rows(start, site, pair_cost, m, int(p))
        nearest_two_sorted(pair_rows, is_open, penalty, best, best_site, second)
        greedy_sorted(pair_rows, is_open, can_open, best, int(p - is_open.sum()))
        swaps = _until(
            lambda limit: interchange_sorted(
                pair_rows, is_open, can_open, ~fixed_mask, penalty, tolerance, limit
            ),
            int(max_swaps), deadline,
        )
        return _priced(costs, weight, is_open, swaps)
    allowed = ~forbidden_mask[costs.indices]
    if not allowed.all():
        rows = costs.row_indices()[allowed]
        costs = CostMatrix.from_pairs(
            rows, costs.indices[allowed], costs.data[allowed], costs.shape, costs.unit
        )
    weighted = row_scaled(costs.indptr, weight, costs.data)
    penalty, tolerance = _penalty(costs.indptr, weighted)
    col_ptr, col_rows, col_cost = _columns(costs, weighted)
    _nearest_two(costs.indptr, costs.indices, weighted, is_open, penalty, best, best_site, second)
    _greedy(col_ptr, col_rows, col_cost, is_open, can_open, best, int(p - is_open.sum()))
    swaps = _until(
        lambda limit: _interchange(
            costs.indptr, costs.indices, weighted, col_ptr, col_rows, col_cost, is_open,
            can_open, ~fixed_mask, penalty, tolerance, limit,
        ),
        int(max_swaps), deadline,
    )
    return _priced(costs, weight, is_open, swaps)


def sorted_rows(
    start: NDArray[np.int64], site: NDArray[np.int64], cost: NDArray[np.float64], n_sites: int,
    p: int,
) -> Rows:
    """The sorted candidate pairs as the sorted-row kernels take them: (start, site, cost) and
    their near rows (:func:`~optiserv.heuristics._p_median_kernels.near_rows`), or the pairs
    themselves again when they are few or their rows short. Either way the kernels' results
    are the same, bit for bit: near rows are a packed copy of each row's first pairs, read in
    the same order."""
    width = max(_NEAR_MIN_WIDTH, math.ceil(_NEAR_SHARE * n_sites / max(p, 1)))
    n = start.size - 1
    if cost.size < _NEAR_MIN_PAIRS or cost.size <= 2 * width * n:
        return start, site, cost, start, site, cost
    return (start, site, cost, *near_rows(start, site, cost, width))


def _penalty(start: NDArray[np.int64], cost: NDArray[np.float64]) -> tuple[float, float]:
    """The cost of leaving a demand point unserved, above that of any plan that serves every
    point through these pairs (2 Σ_i max_k c_ik + 1), and the tolerance of an improving swap
    (10⁻⁹ of that sum, at least 10⁻⁹)."""
    nonempty = np.diff(start) > 0
    row_max = np.maximum.reduceat(cost, start[:-1][nonempty]) if cost.size else np.zeros(0)
    largest = float(np.sum(row_max))
    return largest * 2.0 + 1.0, 1e-9 * max(1.0, largest)


def _until(interchange: Callable[[int], int], max_swaps: int, deadline: float) -> int:
    """Run ``interchange(limit)`` (swaps applied, at most ``limit``) to a local optimum or
    ``max_swaps``, in batches that fit before ``deadline``: one timed swap first, then
    doubling batches capped by the time left over the measured time per swap."""
    if math.isinf(deadline):
        return interchange(max_swaps)
    done, batch = 0, 1
    while done < max_swaps and time.perf_counter() < deadline:
        clock = time.perf_counter()
        want = min(batch, max_swaps - done)
        made = interchange(want)
        done += made
        if made < want:
            break  # a local optimum
        per_swap = (time.perf_counter() - clock) / made
        left = deadline - time.perf_counter()
        batch = max(1, min(2 * batch, int(left / max(per_swap, 1e-9))))
    return done


def _priced(
    costs: CostMatrix, weight: NDArray[np.float64], is_open: NDArray[np.bool_], swaps: int
) -> PMedianPlan:
    """The plan opening ``is_open``, priced exactly on every pair of ``costs``."""
    open_sites = np.flatnonzero(is_open).astype(np.int64)
    nearest, cost = nearest_open(costs, open_sites)
    serves_all = bool((nearest >= 0).all())
    objective = float(np.sum(weight * cost)) if serves_all else float("inf")
    return PMedianPlan(open_sites, objective, serves_all, swaps)


# ---------------------------------------------------------------------- Lagrangian bound
@dataclass(frozen=True, eq=False)
class LagrangianBound:
    """The Lagrangian lower bound of the p-median problem, and what is needed to reduce it.

    Relaxing Σ_j x_ij = 1 with multipliers λ_i gives

        L(λ) = Σ_i λ_i + min { Σ_j ρ_j y_j : Σ_j y_j = p, fixed and forbidden sites respected },
        ρ_j = Σ_i min(0, w_i d_ij − λ_i),

    which is solved by opening the fixed sites and the p − |fixed| free sites of smallest ρ_j.
    max_λ L(λ) equals the LP bound of the assignment formulation.

    Attributes
    ----------
    bound
        L(λ) at the best multipliers found (weight × cost units); ≤ the optimum.
    multipliers
        λ_i at that point (weight × cost units).
    site_value
        ρ_j at that point.
    chosen
        The sites open in the Lagrangian subproblem at that point.
    iterations
        Subgradient iterations run.
    """

    bound: float
    multipliers: NDArray[np.float64]
    site_value: NDArray[np.float64]
    chosen: NDArray[np.bool_]
    iterations: int


def lagrangian_bound(
    start: ArrayLike,
    site: ArrayLike,
    cost: ArrayLike,
    p: int,
    *,
    fixed: ArrayLike,
    forbidden: ArrayLike,
    upper_bound: float,
    initial: ArrayLike | None = None,
    target: float | None = None,
    max_iterations: int = 3000,
    patience: int = 40,
    deadline: float = math.inf,
    improve: Callable[[NDArray[np.bool_], NDArray[np.float64]], float] | None = None,
    improve_every: int = 100,
    settle_share: float | None = None,
) -> LagrangianBound:
    """A lower bound on the p-median optimum by subgradient ascent on the Lagrangian dual.

    Parameters
    ----------
    start, site, cost
        Candidate pairs in CSR layout by demand point: pairs of demand i are
        ``start[i]:start[i+1]``, with site j and weighted cost c_ij = w_i d_ij, **in ascending
        cost within each demand point** (the kernels stop a row at the first c_ij ≥ λ_i).
        Absent pairs are never used (unreachable or excluded by an exact reduction).
    p
        Number of open sites, fixed sites included.
    fixed, forbidden
        Boolean masks over the sites.
    upper_bound
        The cost of a known plan (weight × cost units); drives the step length and stops the
        ascent once the bound reaches it.
    initial
        Starting multipliers λ_i; by default the cheapest candidate cost of each demand point.
    target
        Stop once the bound reaches this value; by default ``upper_bound`` less a relative
        tolerance of 1e-9 (the incumbent is then proven optimal).
    max_iterations, patience
        Iteration limit, and iterations without improvement before the step is halved.
    deadline
        A ``time.perf_counter()`` value: when finite, the ascent runs in chunks of
        ``_CHUNK_ITERATIONS`` (resumed exactly where it stopped), shortened to what the time
        left allows as measured per iteration, and ends once the deadline passes (after at
        least one iteration), with the best bound so far (still valid).
    improve, improve_every
        Optional: every ``improve_every`` iterations, while the bound is below the upper
        bound, ``improve(chosen, site_value)`` is called with the subproblem's sites and ρ
        at the best multipliers so far and returns the cost of a plan (e.g. found by an
        interchange from those sites). A cheaper plan lowers the upper bound, and with it
        the Polyak target and the stopping point: the steps then aim at a closer target, so
        the ascent converges in fewer iterations. Only with the default ``target``.
    settle_share
        Optional: stop, after a chunk, once the bound fixes at least this share of the free
        sites by the tests of :func:`optiserv.formulations.p_median.reduce_by_bound`
        (closing a free site outside the subproblem's plan, or opening one in it, would lift
        the bound above the upper bound). The bound's slow final iterations then run on the
        pairs that reduction leaves, which are far fewer.
    """
    start = np.ascontiguousarray(start, dtype=np.int64)
    site = np.ascontiguousarray(site, dtype=np.int64)
    cost = np.ascontiguousarray(cost, dtype=np.float64)
    fixed_mask = np.ascontiguousarray(fixed, dtype=np.bool_)
    free = ~fixed_mask & ~np.asarray(forbidden, dtype=np.bool_)
    n_sites = fixed_mask.size
    n_free = int(p) - int(fixed_mask.sum())
    n = start.size - 1
    if not ascending_within_rows(start, cost):
        raise ParameterError("lagrangian_bound: costs must ascend within each demand point")
    if initial is None:
        multiplier = np.zeros(n)
        nonempty = np.diff(start) > 0
        multiplier[nonempty] = np.minimum.reduceat(cost, start[:-1][nonempty]) if cost.size else 0
    else:
        multiplier = np.array(initial, dtype=np.float64)
    tolerance = 1e-9 * max(1.0, abs(float(upper_bound)))
    upper_target = target is None
    if target is None:
        target = float(upper_bound) - tolerance
    # the ascent stops as soon as L(λ) reaches the target: L > the float just below it
    stop_above = float(np.nextafter(float(target), -np.inf))
    rows = sorted_rows(start, site, cost, n_sites, int(p))
    if math.isinf(deadline) and improve is None and settle_share is None:
        bound, best, iterations = subgradient_ascent(
            rows, fixed_mask, free, n_free, multiplier, float(target),
            stop_above, int(max_iterations), int(patience), 2.0, 1e-4,
        )
    else:
        best, bound, iterations, scale, since = multiplier.copy(), -math.inf, 0, 2.0, 0
        chunk = _CHUNK_ITERATIONS if improve is None else max(1, int(improve_every))
        upper = float(upper_bound)
        per_iteration, since_check = math.nan, 0
        while iterations < max_iterations:
            # Under a deadline the first step is a single iteration, timed; later steps take
            # as many iterations as fit before the deadline (at least one, so that a bound
            # exists). The checks below still come every ``chunk`` iterations.
            steps = min(chunk - since_check, max_iterations - iterations)
            if math.isfinite(deadline):
                left = deadline - time.perf_counter()
                fit = 1 if math.isnan(per_iteration) else int(left / max(per_iteration, 1e-9))
                steps = max(1, min(steps, fit))
            clock = time.perf_counter()
            bound, ran, scale, since, stopped = resume_ascent(
                rows, fixed_mask, free, n_free, multiplier, best, bound,
                float(target), stop_above, steps, int(patience), scale, since, 1e-4,
            )
            per_iteration = (time.perf_counter() - clock) / max(ran, 1)
            iterations += ran
            since_check += ran
            if stopped or time.perf_counter() > deadline:
                break
            if since_check < chunk and iterations < max_iterations:
                continue
            since_check = 0
            value = site_values(rows, best, n_sites)
            chosen = np.zeros(n_sites, dtype=np.bool_)
            choose_sites(value, fixed_mask, free, n_free, chosen)
            if improve is not None and upper_target and bound <= stop_above:
                found = float(improve(chosen, value))
                if found < upper:
                    upper = found
                    target = upper - tolerance
                    stop_above = float(np.nextafter(target, -np.inf))
                    if bound > stop_above:
                        break
            if settle_share is not None and free.any():
                decided = _decided_sites(value, chosen, free, bound, upper)
                if decided >= settle_share * int(free.sum()):
                    break
    value = site_values(rows, best, n_sites)
    chosen = np.zeros(n_sites, dtype=np.bool_)
    choose_sites(value, fixed_mask, free, n_free, chosen)
    return LagrangianBound(float(bound), best, value, chosen, int(iterations))


def _decided_sites(
    value: NDArray[np.float64],
    chosen: NDArray[np.bool_],
    free: NDArray[np.bool_],
    bound: float,
    upper_bound: float,
) -> int:
    """How many free sites the bound fixes: those whose forced change (open j ∉ S: L + ρ_j −
    ρ_last; close j ∈ S: L − ρ_j + ρ_next) lifts it above ``upper_bound``."""
    if not (chosen & free).any() or not (~chosen & free).any():
        return 0
    last = float(value[chosen & free].max())
    following = float(value[~chosen & free].min())
    slack = upper_bound + 1e-6 + 1e-9 * abs(upper_bound) - bound
    close = free & ~chosen & (value - last > slack)
    force_open = free & chosen & (following - value > slack)
    return int(close.sum() + force_open.sum())


def probe_sites(
    start: ArrayLike,
    site: ArrayLike,
    cost: ArrayLike,
    p: int,
    *,
    fixed: ArrayLike,
    forbidden: ArrayLike,
    upper_bound: float,
    bound: LagrangianBound,
    max_iterations: int = 150,
    patience: int = 10,
    give_up_after: int = 20,
    deadline: float = math.inf,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Sites whose state is decided by re-optimised Lagrangian bounds (probing).

    For a free site j, the Lagrangian dual is re-optimised (from ``bound``'s multipliers)
    with j forced to the state opposite to the one it has in the subproblem: forced open when
    j is not chosen, forced closed when it is. If that bound exceeds ``upper_bound``, no plan
    at least as good as the incumbent has j in that state.

    Sites are probed in decreasing order of the bound that ``bound`` alone predicts for the
    forced state (L + ρ_j − ρ_last, or L − ρ_j + ρ_next; see
    :func:`optiserv.formulations.p_median.reduce_by_bound`), and probing stops after
    ``give_up_after`` failures in a row, since the rest are then unlikely to be decided, or
    once ``time.perf_counter()`` passes ``deadline``.

    Returns
    -------
    close, force_open
        Boolean masks over the sites: sites to close, and sites to open.
    """
    fixed_mask = np.asarray(fixed, dtype=np.bool_)
    forbidden_mask = np.asarray(forbidden, dtype=np.bool_)
    tolerance = 1e-6 + 1e-9 * abs(float(upper_bound))
    close = np.zeros(fixed_mask.size, dtype=np.bool_)
    force_open = np.zeros(fixed_mask.size, dtype=np.bool_)
    free = ~fixed_mask & ~forbidden_mask
    value, chosen = bound.site_value, bound.chosen
    last = value[chosen & free].max() if (chosen & free).any() else -np.inf
    following = value[~chosen & free].min() if (~chosen & free).any() else np.inf
    with np.errstate(invalid="ignore"):
        predicted = np.where(chosen, following - value, value - last)
    candidates = np.flatnonzero(free)
    order = candidates[np.argsort(-predicted[candidates], kind="stable")]
    failures = 0
    for j in order:
        if failures >= give_up_after or time.perf_counter() > deadline:
            break
        probe_fixed, probe_forbidden = fixed_mask.copy(), forbidden_mask.copy()
        if chosen[j]:
            probe_forbidden[j] = True
        else:
            probe_fixed[j] = True
        probed = lagrangian_bound(
            start, site, cost, p, fixed=probe_fixed, forbidden=probe_forbidden,
            upper_bound=upper_bound, initial=bound.multipliers, target=upper_bound + 2 * tolerance,
            max_iterations=max_iterations, patience=patience, deadline=deadline,
        )
        if probed.bound > upper_bound + tolerance:
            failures = 0
            if chosen[j]:
                force_open[j] = True
            else:
                close[j] = True
        else:
            failures += 1
    return close, force_open
