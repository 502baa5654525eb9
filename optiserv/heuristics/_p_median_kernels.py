"""Numba kernels of the p-median Lagrangian relaxation: the bound and its subgradient ascent
(used by the heuristic's bound and by the branch and bound) and the branch and bound's filters.

The candidate pairs are kept in CSR layout by demand point, with weighted costs
c_ij = w_i d_ij **ascending within each demand point**; every kernel keeps that order. The
Lagrangian relaxation of the assignment rows Σ_j x_ij = 1 with multipliers λ_i is

    L(λ) = Σ_i λ_i + min { Σ_j ρ_j y_j : Σ_j y_j = p, fixed and closed sites respected },
    ρ_j = Σ_i min(0, c_ij − λ_i),

solved by opening the fixed sites and the free sites of smallest ρ_j (see
:class:`optiserv.heuristics.p_median.LagrangianBound`). Kernels import only numpy and numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def site_values(
    start: np.ndarray, site: np.ndarray, cost: np.ndarray, multiplier: np.ndarray, n_sites: int
) -> np.ndarray:
    """ρ_j = Σ_i min(0, c_ij − λ_i) over the candidate pairs."""
    value = np.zeros(n_sites)
    for i in range(start.shape[0] - 1):
        for k in range(start[i], start[i + 1]):
            reduced = cost[k] - multiplier[i]
            if reduced >= 0.0:
                break  # costs ascend within a row: no further pair contributes
            value[site[k]] += reduced
    return value


@njit(cache=True)
def choose_sites(
    value: np.ndarray, fixed: np.ndarray, free: np.ndarray, n_free: int, chosen: np.ndarray
) -> float:
    """Open the fixed sites and the ``n_free`` free sites of smallest ρ; return Σ ρ of them."""
    chosen[:] = fixed
    total = 0.0
    for j in range(value.shape[0]):
        if fixed[j]:
            total += value[j]
    if n_free > 0:
        candidates = np.flatnonzero(free)
        order = np.argsort(value[candidates], kind="mergesort")
        for t in range(n_free):
            j = candidates[order[t]]
            chosen[j] = True
            total += value[j]
    return total


@njit(cache=True)
def subgradient_ascent(
    start: np.ndarray,
    site: np.ndarray,
    cost: np.ndarray,
    fixed: np.ndarray,
    free: np.ndarray,
    n_free: int,
    multiplier: np.ndarray,
    step_target: float,
    stop_above: float,
    max_iterations: int,
    patience: int,
    initial_scale: float,
    min_scale: float,
) -> tuple[float, np.ndarray, int]:
    """Subgradient ascent on L(λ) from ``multiplier`` (Held, Wolfe & Crowder 1974).

    Polyak steps λ ← λ + s (T − L(λ)) g / ‖g‖² towards T = ``step_target`` with
    g_i = 1 − Σ_{j chosen, c_ij < λ_i} 1; the scale s halves (and λ returns to the best point)
    after ``patience`` iterations without improvement, and the ascent stops when s falls below
    ``min_scale``, when L exceeds ``stop_above``, or when g = 0 (the subproblem's plan is then
    optimal for the relaxation). Returns the best L, its multipliers, and the iterations run.
    """
    n = start.shape[0] - 1
    n_sites = fixed.shape[0]
    chosen = np.zeros(n_sites, dtype=np.bool_)
    best_bound = -np.inf
    best_multiplier = multiplier.copy()
    scale = initial_scale
    since_improvement = 0
    iteration = 0
    subgradient = np.empty(n)
    tolerance = 1e-9 * max(1.0, abs(step_target))
    while iteration < max_iterations:
        iteration += 1
        value = site_values(start, site, cost, multiplier, n_sites)
        bound = multiplier.sum() + choose_sites(value, fixed, free, n_free, chosen)
        if bound > best_bound + tolerance:
            best_bound = bound
            best_multiplier[:] = multiplier
            since_improvement = 0
        else:
            since_improvement += 1
            if since_improvement >= patience:
                scale *= 0.5
                since_improvement = 0
                multiplier[:] = best_multiplier
                if scale < min_scale:
                    break
                continue
        if best_bound > stop_above:
            break
        norm = 0.0
        for i in range(n):
            served = 0.0
            for k in range(start[i], start[i + 1]):
                if cost[k] >= multiplier[i]:
                    break
                if chosen[site[k]]:
                    served += 1.0
            subgradient[i] = 1.0 - served
            norm += subgradient[i] * subgradient[i]
        if norm == 0.0:
            break
        step = scale * max(step_target - bound, tolerance) / norm
        for i in range(n):
            multiplier[i] += step * subgradient[i]
    return best_bound, best_multiplier, iteration


@njit(cache=True)
def filter_pairs(
    start: np.ndarray,
    site: np.ndarray,
    cost: np.ndarray,
    fixed: np.ndarray,
    allowed: np.ndarray,
    rank: int,
    multiplier: np.ndarray,
    site_penalty: np.ndarray,
    slack: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """The pairs a plan costing at most L + ``slack`` may use as a nearest open site.

    Per demand point i, pair (i, j) is kept when j is allowed, c_ij ≤ T_i and
    max(0, c_ij − λ_i) + π_j ≤ ``slack``, where π = ``site_penalty`` (0 for a site of the
    subproblem's plan, ρ_j − ρ_last for any other: the rise of L when x_ij = 1 is forced) and
    T_i = min(F_i, C_i): F_i is the cost of i's cheapest fixed site, C_i the cost of its
    (``rank`` + 1)-th cheapest allowed site (any m' − p + 1 of the m' allowed sites hold an
    open one). Pass ``slack = inf`` to apply the structural rules only.

    Returns the kept (start, site, cost) and whether some demand point kept no pair (then no
    such plan exists).
    """
    n = start.shape[0] - 1
    new_start = np.zeros(n + 1, dtype=np.int64)
    new_site = np.empty(site.shape[0], dtype=np.int64)
    new_cost = np.empty(cost.shape[0])
    kept = 0
    empty_row = False
    for i in range(n):
        threshold = np.inf
        allowed_seen = 0
        for k in range(start[i], start[i + 1]):
            j = site[k]
            if not allowed[j]:
                continue
            c = cost[k]
            if c > threshold:
                break
            if allowed_seen == rank or fixed[j]:
                threshold = min(threshold, c)
            allowed_seen += 1
            if max(0.0, c - multiplier[i]) + site_penalty[j] > slack:
                continue
            new_site[kept] = j
            new_cost[kept] = c
            kept += 1
        new_start[i + 1] = kept
        if new_start[i + 1] == new_start[i]:
            empty_row = True
    return new_start, new_site[:kept].copy(), new_cost[:kept].copy(), empty_row


@njit(cache=True)
def plan_cost(
    indptr: np.ndarray, indices: np.ndarray, cost: np.ndarray, is_open: np.ndarray
) -> float:
    """Σ_i min_{j open} c_ij over a CSR cost layout (``inf`` when some i reaches no open site)."""
    total = 0.0
    for i in range(indptr.shape[0] - 1):
        best = np.inf
        for k in range(indptr[i], indptr[i + 1]):
            if is_open[indices[k]] and cost[k] < best:
                best = cost[k]
        total += best
    return total
