r"""Facility location heuristics: local-search plans, a Lagrangian bound, capacitated starts.

Everything works on a :class:`~optiserv.data.CostMatrix` of the pairs (i, j) that may serve
(rows: demand points i, columns: sites j) and the glossary's quantities: w_i demand weight,
d_ij cost per unit of demand, f_j opening cost. A plan (set of open sites) costs
Σ_j f_j y_j + Σ_i w_i min_{open j} d_ij.

* :func:`local_search` builds a plan greedily (add the site that saves most, until every point
  reaches an open site and no addition pays), then applies the best add, drop or swap move
  until none improves (Whitaker's fast interchange, with the swap correction of Resende &
  Werneck 2007). It returns a feasible plan, not a proven optimum.
* :func:`lagrangian_bound` relaxes the assignment rows Σ_j x_ij = 1 with multipliers v_i (per
  unit of demand) and improves them by subgradient steps. For any v,

  .. math::

      L(v) = \sum_i w_i v_i + \sum_j \min\bigl(0, \rho_j(v)\bigr), \qquad
      \rho_j(v) = f_j - \sum_i w_i \max(0, v_i - d_{ij})

  is a lower bound on the optimum (the sum over j takes ρ_j itself for sites always open,
  and leaves out sites that may not open). The reduced costs ρ_j also bound every plan that
  opens (ρ_j > 0) or closes (ρ_j < 0) site j, which is what exact site fixing needs.
* :func:`lagrangian_heuristic` alternates the two (Beasley 1993).
* :func:`capacitated_start` turns the local-search plan into a feasible start for capacitated
  facility location (more sites until capacity suffices, then a greedy allocation).

The numeric loops are ``@njit`` kernels over the CSR arrays. The public functions validate
nothing and trust their caller (a formulation's ``_prepare``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from optiserv.data import CostMatrix

__all__ = [
    "HeuristicResult",
    "LagrangianBound",
    "capacitated_start",
    "lagrangian_bound",
    "lagrangian_heuristic",
    "local_search",
    "plan_cost",
]

_NONE = -1


# ---------------------------------------------------------------------- kernels
@njit(cache=True)
def _nearest_two(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, is_open: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: nearest open site, its cost, and the second-nearest open cost (inf if none).

    Rows are scanned in full; ties go to the site met first.
    """
    n = indptr.shape[0] - 1
    best_site = np.full(n, _NONE, dtype=np.int64)
    best = np.full(n, np.inf)
    second = np.full(n, np.inf)
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if not is_open[j]:
                continue
            cost = data[k]
            if cost < best[i]:
                second[i] = best[i]
                best[i] = cost
                best_site[i] = j
            elif cost < second[i]:
                second[i] = cost
    return best_site, best, second


@njit(cache=True)
def _greedy(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    weight: np.ndarray,
    opening: np.ndarray,
    is_open: np.ndarray,
    allowed: np.ndarray,
    penalty: float,
) -> np.ndarray:
    """Add sites one at a time. While some row reaches no open site, add the site with the
    largest saving minus f_j among those that reach such a row (an unserved row counts at
    ``penalty`` per unit); then keep adding while an addition saves more than it costs."""
    n = indptr.shape[0] - 1
    m = is_open.shape[0]
    best_site, best, _ = _nearest_two(indptr, indices, data, is_open)
    for i in range(n):
        if best_site[i] == _NONE:
            best[i] = penalty
    while True:
        saving = np.zeros(m)
        reaches_unserved = np.zeros(m, dtype=np.bool_)
        unserved = False
        for i in range(n):
            if best_site[i] == _NONE:
                unserved = True
            for k in range(indptr[i], indptr[i + 1]):
                if best_site[i] == _NONE:
                    reaches_unserved[indices[k]] = True
                if data[k] < best[i]:
                    saving[indices[k]] += weight[i] * (best[i] - data[k])
        choice = _NONE
        value = -np.inf
        for j in range(m):
            if not allowed[j] or is_open[j] or (unserved and not reaches_unserved[j]):
                continue
            if saving[j] - opening[j] > value:
                value = saving[j] - opening[j]
                choice = j
        if choice == _NONE or (not unserved and value <= 0.0):
            return is_open
        is_open[choice] = True
        for i in range(n):
            for k in range(indptr[i], indptr[i + 1]):
                if indices[k] == choice and (data[k] < best[i] or best_site[i] == _NONE):
                    best[i] = data[k]
                    best_site[i] = choice


@njit(cache=True)
def _improve(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    weight: np.ndarray,
    opening: np.ndarray,
    is_open: np.ndarray,
    closable: np.ndarray,
    allowed: np.ndarray,
    max_moves: int,
) -> np.ndarray:
    """Apply the best add, drop or swap move while one saves more than a relative 1e-12.

    A row whose only open site is k is *orphaned* by dropping k: the drop is allowed only if
    no row is orphaned, a swap (j in, k out) only if j reaches every orphaned row.
    """
    n = indptr.shape[0] - 1
    m = is_open.shape[0]
    for _ in range(max_moves):
        best_site, best, second = _nearest_two(indptr, indices, data, is_open)
        total = 0.0
        for i in range(n):
            total += weight[i] * best[i]
        for j in range(m):
            if is_open[j]:
                total += opening[j]
        threshold = 1e-12 * max(abs(total), 1.0)
        open_list = np.flatnonzero(is_open & closable)
        slot = np.full(m, _NONE, dtype=np.int64)
        for position in range(open_list.shape[0]):
            slot[open_list[position]] = position
        gain = np.zeros(m)  # saving from adding j, before f_j
        loss = np.zeros(m)  # extra cost from dropping k, before f_k (orphans excluded)
        orphans = np.zeros(m, dtype=np.int64)
        extra = np.zeros((m, open_list.shape[0]))  # swap correction
        adopted = np.zeros((m, open_list.shape[0]), dtype=np.int64)  # orphans j would serve
        for i in range(n):
            k_best = best_site[i]
            if k_best == _NONE:
                continue
            orphan = np.isinf(second[i])
            if orphan:
                orphans[k_best] += 1
            else:
                loss[k_best] += weight[i] * (second[i] - best[i])
            column = slot[k_best]
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                cost = data[k]
                if cost < best[i]:
                    gain[j] += weight[i] * (best[i] - cost)
                if column == _NONE or j == k_best:
                    continue
                if orphan:
                    # served by j after the swap: saving w (best − d) in place of the gain
                    adopted[j, column] += 1
                    if cost > best[i]:
                        extra[j, column] -= weight[i] * (cost - best[i])
                elif cost < second[i]:
                    extra[j, column] += weight[i] * (second[i] - max(cost, best[i]))
        move_in = _NONE
        move_out = _NONE
        move_saving = threshold
        for j in range(m):
            if allowed[j] and not is_open[j] and gain[j] - opening[j] > move_saving:
                move_saving = gain[j] - opening[j]
                move_in, move_out = j, _NONE
        for position in range(open_list.shape[0]):
            k = open_list[position]
            if orphans[k] == 0 and opening[k] - loss[k] > move_saving:
                move_saving = opening[k] - loss[k]
                move_in, move_out = _NONE, k
            for j in range(m):
                if not allowed[j] or is_open[j] or adopted[j, position] < orphans[k]:
                    continue
                saving = gain[j] - loss[k] + extra[j, position] + opening[k] - opening[j]
                if saving > move_saving:
                    move_saving = saving
                    move_in, move_out = j, k
        if move_in == _NONE and move_out == _NONE:
            return is_open
        if move_in != _NONE:
            is_open[move_in] = True
        if move_out != _NONE:
            is_open[move_out] = False
    return is_open


@njit(cache=True)
def _subgradient(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    weight: np.ndarray,
    opening: np.ndarray,
    always_open: np.ndarray,
    allowed: np.ndarray,
    upper: float,
    v: np.ndarray,
    steps: int,
) -> tuple[float, np.ndarray]:
    """Polyak subgradient steps on L(v); returns the best bound and its multipliers."""
    n = indptr.shape[0] - 1
    m = opening.shape[0]
    best_bound = -np.inf
    best_v = v.copy()
    scale = 2.0
    stall = 0
    for _ in range(steps):
        rho = opening.copy()
        for i in range(n):
            for k in range(indptr[i], indptr[i + 1]):
                if data[k] < v[i]:
                    rho[indices[k]] -= weight[i] * (v[i] - data[k])
        opened = np.zeros(m, dtype=np.bool_)
        bound = 0.0
        for j in range(m):
            if always_open[j] or (allowed[j] and rho[j] < 0.0):
                opened[j] = True
                bound += rho[j]
        for i in range(n):
            bound += weight[i] * v[i]
        if best_bound == -np.inf or bound > best_bound + 1e-12 * abs(best_bound):
            best_bound = bound
            best_v[:] = v
            stall = 0
        else:
            stall += 1
            if stall >= 20:
                scale *= 0.5
                stall = 0
                v[:] = best_v
                continue
        # subgradient of L in v_i (per unit): w_i (1 − number of open sites with d_ij < v_i)
        gradient = np.zeros(n)
        norm = 0.0
        for i in range(n):
            count = 0
            for k in range(indptr[i], indptr[i + 1]):
                if opened[indices[k]] and data[k] < v[i]:
                    count += 1
            gradient[i] = weight[i] * (1.0 - count)
            norm += gradient[i] * gradient[i]
        if norm == 0.0 or scale < 1e-6 or upper - best_bound <= 1e-9 * abs(upper):
            break
        step = scale * (upper - bound) / norm
        for i in range(n):
            v[i] += step * gradient[i]
    return best_bound, best_v


@njit(cache=True)
def _second_smallest(indptr: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Per row, the second-smallest stored value (the smallest when the row has one)."""
    n = indptr.shape[0] - 1
    out = np.zeros(n)
    for i in range(n):
        first = np.inf
        second = np.inf
        for k in range(indptr[i], indptr[i + 1]):
            if data[k] < first:
                second = first
                first = data[k]
            elif data[k] < second:
                second = data[k]
        out[i] = second if np.isfinite(second) else first
    return out


@njit(cache=True)
def _reduced_costs(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    weight: np.ndarray,
    opening: np.ndarray,
    v: np.ndarray,
) -> np.ndarray:
    """ρ_j(v) = f_j − Σ_i w_i max(0, v_i − d_ij)."""
    rho = opening.copy()
    for i in range(indptr.shape[0] - 1):
        for k in range(indptr[i], indptr[i + 1]):
            if data[k] < v[i]:
                rho[indices[k]] -= weight[i] * (v[i] - data[k])
    return rho


@njit(cache=True)
def _split_allocation(
    indptr: np.ndarray,
    indices: np.ndarray,
    weight: np.ndarray,
    capacity: np.ndarray,
    is_open: np.ndarray,
    order: np.ndarray,
) -> tuple[np.ndarray, bool]:
    """Greedy splittable allocation: pairs in ``order`` (cheapest first) take what they can.

    Returns the share of every stored pair and whether all demand found room.
    """
    n = indptr.shape[0] - 1
    row = np.empty(indices.shape[0], dtype=np.int64)
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            row[k] = i
    share = np.zeros(indices.shape[0])
    remaining = weight.copy()
    placed = np.zeros(n, dtype=np.bool_)
    room = capacity.copy()
    for k in order:
        j = indices[k]
        i = row[k]
        if not is_open[j] or placed[i]:
            continue
        if weight[i] == 0.0:
            share[k] = 1.0
            placed[i] = True
            continue
        amount = min(remaining[i], room[j])
        if amount <= 0.0:
            continue
        share[k] = amount / weight[i]
        remaining[i] -= amount
        room[j] -= amount
        if remaining[i] <= 1e-12 * weight[i]:
            placed[i] = True
    return share, bool(placed.all())


@njit(cache=True)
def _single_allocation(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    weight: np.ndarray,
    capacity: np.ndarray,
    is_open: np.ndarray,
) -> tuple[np.ndarray, bool]:
    """Greedy single-source allocation: heaviest points first, each to its cheapest open site
    with room. Returns the 0/1 share of every stored pair and whether every point was placed.
    """
    share = np.zeros(indices.shape[0])
    room = capacity.copy()
    for i in np.argsort(-weight, kind="mergesort"):
        chosen = -1
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if is_open[j] and room[j] >= weight[i] and (chosen < 0 or data[k] < data[chosen]):
                chosen = k
        if chosen < 0:
            return share, False
        share[chosen] = 1.0
        room[indices[chosen]] -= weight[i]
    return share, True


# ---------------------------------------------------------------------- public
def plan_cost(
    costs: CostMatrix,
    weight: NDArray[np.float64],
    opening: NDArray[np.float64],
    is_open: NDArray[np.bool_],
) -> float:
    """Σ_j f_j y_j + Σ_i w_i min_{open j} d_ij of a plan; inf if a point reaches no open site.

    Only the stored pairs count, so on a reduced set of pairs this is the reduced model's cost.
    """
    is_open = np.asarray(is_open, dtype=np.bool_)
    _, best, _ = _nearest_two(costs.indptr, costs.indices, costs.data, is_open)
    if np.isinf(best).any():
        return np.inf
    return float(opening[is_open].sum() + (weight * best).sum())


def local_search(
    costs: CostMatrix,
    weight: NDArray[np.float64],
    opening: NDArray[np.float64],
    always_open: NDArray[np.bool_],
    allowed: NDArray[np.bool_],
    *,
    start: NDArray[np.bool_] | None = None,
    max_moves: int = 10_000,
) -> NDArray[np.bool_]:
    """A good plan: greedy construction, then best-improvement add/drop/swap moves.

    Parameters
    ----------
    costs
        d_ij (cost per unit of demand) for the pairs that may serve; every row non-empty.
    weight
        w_i per demand point.
    opening
        f_j per site, in the unit of w_i·d_ij.
    always_open
        Sites open in every plan (never dropped).
    allowed
        Sites that may be opened.
    start
        Sites to start from (the greedy step completes them); default: ``always_open``.
    max_moves
        Cap on improving moves (each costs one pass over the pairs).

    Returns
    -------
    numpy.ndarray
        Boolean mask of open sites. Unless ``max_moves`` cut the search short, no single
        add, drop or swap lowers its cost, and every row reaches an open site.
    """
    always_open = np.asarray(always_open, dtype=np.bool_)
    allowed = np.asarray(allowed, dtype=np.bool_)
    penalty = 2.0 * float(costs.data.max(initial=0.0)) + 1.0
    is_open = always_open.copy()
    if start is not None:
        is_open |= np.asarray(start, dtype=np.bool_) & allowed
    is_open = _greedy(
        costs.indptr, costs.indices, costs.data, weight, opening, is_open, allowed, penalty
    )
    return _improve(
        costs.indptr,
        costs.indices,
        costs.data,
        weight,
        opening,
        is_open,
        ~always_open,
        allowed,
        int(max_moves),
    )


@dataclass(frozen=True)
class LagrangianBound:
    """A lower bound on the UFLP optimum and the site reduced costs behind it.

    Attributes
    ----------
    bound
        L(v), in the objective's unit.
    multipliers
        v_i per demand point (per unit of demand).
    reduced_cost
        ρ_j(v) per site.
    in_plan
        The sites the bound's own (relaxed) plan opens: those always open, and the allowed
        ones with ρ_j < 0. A plan that differs from it at site j costs at least
        ``bound + |ρ_j|`` (sites always open or not allowed excepted).
    """

    bound: float
    multipliers: NDArray[np.float64]
    reduced_cost: NDArray[np.float64]
    in_plan: NDArray[np.bool_]


def lagrangian_bound(
    costs: CostMatrix,
    weight: NDArray[np.float64],
    opening: NDArray[np.float64],
    always_open: NDArray[np.bool_],
    allowed: NDArray[np.bool_],
    upper: float,
    *,
    multipliers: NDArray[np.float64] | None = None,
    steps: int = 500,
) -> LagrangianBound:
    """Subgradient optimisation of the Lagrangian dual (assignment rows relaxed).

    Starts from ``multipliers`` or else v_i = each point's second-smallest d_ij, and takes
    Polyak steps towards ``upper`` (the cost of a known plan), halving the step after 20 steps
    without improvement. Arguments as in :func:`local_search`; sites neither allowed nor
    always open stay closed.
    """
    always_open = np.asarray(always_open, dtype=np.bool_)
    allowed = np.asarray(allowed, dtype=np.bool_)
    if multipliers is None:
        start = _second_smallest(costs.indptr, costs.data)
    else:
        start = np.array(multipliers, dtype=np.float64)
    bound, v = _subgradient(
        costs.indptr,
        costs.indices,
        costs.data,
        weight,
        opening,
        always_open,
        allowed,
        float(upper),
        start,
        int(steps),
    )
    rho = _reduced_costs(costs.indptr, costs.indices, costs.data, weight, opening, v)
    return LagrangianBound(float(bound), v, rho, always_open | (allowed & (rho < 0)))


@dataclass(frozen=True)
class HeuristicResult:
    """A plan, its cost, and a Lagrangian lower bound on the optimum.

    Attributes
    ----------
    is_open
        Open-site mask of the best plan found.
    cost
        Its cost on the bounding pairs (see :func:`lagrangian_heuristic`).
    bound
        The best Lagrangian bound found, with its reduced costs.
    """

    is_open: NDArray[np.bool_]
    cost: float
    bound: LagrangianBound


def lagrangian_heuristic(
    search_costs: CostMatrix,
    bound_costs: CostMatrix,
    weight: NDArray[np.float64],
    opening: NDArray[np.float64],
    always_open: NDArray[np.bool_],
    allowed: NDArray[np.bool_],
    *,
    rounds: int = 5,
    steps: int = 400,
) -> HeuristicResult:
    """Alternate subgradient rounds with local search from the Lagrangian plan (Beasley 1993).

    Round 0 runs :func:`local_search` from scratch. Each further round takes ``steps``
    subgradient steps towards the best cost so far, then runs the local search from the
    bound's plan (sites with ρ_j < 0), and keeps the better plan.

    Parameters
    ----------
    search_costs
        The pairs the local search may use (typically every reachable pair).
    bound_costs
        The pairs of the model being bounded (a subset of ``search_costs``, e.g. after exact
        reductions). Plan costs are measured on these, so ``cost`` bounds that model's
        optimum; a local optimum on ``search_costs`` normally costs the same on both.
    weight, opening, always_open, allowed
        As in :func:`local_search`.
    rounds, steps
        Subgradient rounds and steps per round.
    """
    is_open = local_search(search_costs, weight, opening, always_open, allowed)
    cost = plan_cost(bound_costs, weight, opening, is_open)
    best: LagrangianBound | None = None
    multipliers = None
    for _ in range(rounds):
        if not np.isfinite(cost):
            break
        bound = lagrangian_bound(
            bound_costs,
            weight,
            opening,
            always_open,
            allowed,
            cost,
            multipliers=multipliers,
            steps=steps,
        )
        if best is None or bound.bound > best.bound:
            best = bound
        multipliers = best.multipliers
        if cost - best.bound <= 1e-9 * max(1.0, abs(cost)):
            break
        candidate = local_search(
            search_costs, weight, opening, always_open, allowed, start=bound.in_plan
        )
        candidate_cost = plan_cost(bound_costs, weight, opening, candidate)
        if candidate_cost < cost:
            is_open, cost = candidate, candidate_cost
    if best is None:
        n_sites = opening.size
        best = LagrangianBound(-np.inf, np.zeros(weight.size), np.zeros(n_sites), always_open)
    return HeuristicResult(is_open, cost, best)


def capacitated_start(
    costs: CostMatrix,
    weight: NDArray[np.float64],
    capacity: NDArray[np.float64],
    opening: NDArray[np.float64],
    always_open: NDArray[np.bool_],
    allowed: NDArray[np.bool_],
    *,
    single_sourcing: bool = False,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]] | None:
    """A feasible plan for capacitated facility location, or None if the greedy fails.

    The uncapacitated :func:`local_search` plan, completed by adding, while the open sites'
    usable capacity Σ_j min(s_j, W_j) (W_j: demand that can reach j) is below total demand,
    the site whose opening saves most net of f_j (uncapacitated savings); then a greedy
    allocation: splittable, every pair in order of d_ij takes what room is left; single
    sourcing, the heaviest points first, each to its cheapest open site with room.
    Open sites left without load are closed again (unless always open).

    Parameters
    ----------
    costs
        d_ij for the pairs that may serve (every row non-empty).
    weight, opening, always_open, allowed
        As in :func:`local_search`.
    capacity
        s_j per site, in units of w (``inf`` when uncapacitated).
    single_sourcing
        Each point served by one site.

    Returns
    -------
    tuple or None
        The open-site mask and the share x_ij of every stored pair (in ``costs`` order).
    """
    always_open = np.asarray(always_open, dtype=np.bool_)
    allowed = np.asarray(allowed, dtype=np.bool_)
    rows = costs.row_indices()
    reach = np.bincount(costs.indices, weights=weight[rows], minlength=opening.size)
    usable = np.minimum(capacity, reach)
    total = float(weight.sum())
    is_open = local_search(costs, weight, opening, always_open, allowed)
    while usable[is_open].sum() < total * (1 + 1e-12):
        _, best, _ = _nearest_two(costs.indptr, costs.indices, costs.data, is_open)
        saving = np.bincount(
            costs.indices,
            weights=weight[rows] * np.maximum(best[rows] - costs.data, 0.0),
            minlength=opening.size,
        )
        candidates = np.flatnonzero(allowed & ~is_open & (usable > 0))
        if candidates.size == 0:
            return None
        is_open[candidates[np.argmax(saving[candidates] - opening[candidates])]] = True
    if single_sourcing:
        share, placed = _single_allocation(
            costs.indptr, costs.indices, costs.data, weight, capacity, is_open
        )
    else:
        order = np.argsort(costs.data, kind="mergesort")
        share, placed = _split_allocation(
            costs.indptr, costs.indices, weight, capacity, is_open, order
        )
    if not placed:
        return None
    used = np.bincount(costs.indices, weights=share, minlength=opening.size) > 0
    return is_open & (used | always_open), share
