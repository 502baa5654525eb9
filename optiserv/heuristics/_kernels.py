"""Numba kernels for covering heuristics. Only numpy and numba are imported here.

Every kernel works on one coverage matrix given twice, as CSR rows (demand row i → the sites
that cover it) and as CSC columns (site j → the rows it covers), with one weight per row.
A plan is a boolean ``is_open`` over the sites; ``count[i]`` is the number of open sites
covering row i, so row i is covered ⇔ ``count[i] > 0``.

Site roles are one int8 per site: 0 candidate, 1 fixed open, 2 forbidden.

Fastmath is off: sums of weights are compared against each other and must be reproducible.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "CANDIDATE",
    "FIXED",
    "FORBIDDEN",
    "cover_counts",
    "covered_weight",
    "greedy",
    "iterated_interchange",
    "lagrangian",
]

CANDIDATE = 0
FIXED = 1
FORBIDDEN = 2


@njit(cache=True)
def cover_counts(
    col_indptr: np.ndarray, col_indices: np.ndarray, is_open: np.ndarray, n_rows: int
) -> np.ndarray:
    """Number of open sites covering every row."""
    count = np.zeros(n_rows, dtype=np.int64)
    for j in range(is_open.shape[0]):
        if is_open[j]:
            for k in range(col_indptr[j], col_indptr[j + 1]):
                count[col_indices[k]] += 1
    return count


@njit(cache=True)
def covered_weight(count: np.ndarray, weights: np.ndarray) -> float:
    """Σ w_i over rows with a positive cover count."""
    total = 0.0
    for i in range(count.shape[0]):
        if count[i] > 0:
            total += weights[i]
    return total


@njit(cache=True)
def _sum_top(values: np.ndarray, mask: np.ndarray, how_many: int) -> float:
    """Sum of the ``how_many`` largest positive ``values[j]`` with ``mask[j]`` true."""
    if how_many <= 0:
        return 0.0
    chosen = values[mask]
    chosen = chosen[chosen > 0.0]
    if chosen.shape[0] <= how_many:
        return chosen.sum()
    chosen.sort()
    return chosen[chosen.shape[0] - how_many :].sum()


@njit(cache=True)
def greedy(
    col_indptr: np.ndarray,
    col_indices: np.ndarray,
    row_indptr: np.ndarray,
    row_indices: np.ndarray,
    weights: np.ndarray,
    role: np.ndarray,
    p: int,
) -> tuple[np.ndarray, float, float]:
    """Open fixed sites, then p − |fixed| candidates, each with the largest marginal weight.

    Returns the plan, its covered weight and an upper bound on the optimum: for every
    intermediate plan S, OPT ≤ f(S) + the sum of the (p − |fixed|) largest marginal gains
    Δ(j | S), because coverage is submodular; the smallest such value over the run is kept.
    Ties go to the lowest site index. Sites with no gain are opened only to reach p.
    """
    m = role.shape[0]
    n = weights.shape[0]
    is_open = role == FIXED
    count = cover_counts(col_indptr, col_indices, is_open, n)
    gain = np.zeros(m, dtype=np.float64)
    for i in range(n):
        if count[i] == 0:
            for k in range(row_indptr[i], row_indptr[i + 1]):
                gain[row_indices[k]] += weights[i]
    free = p - int(is_open.sum())
    value = covered_weight(count, weights)
    can_open = role == CANDIDATE
    bound = value + _sum_top(gain, can_open, free)
    for _ in range(free):
        best = -1
        best_gain = -1.0
        for j in range(m):
            if can_open[j] and not is_open[j] and gain[j] > best_gain:
                best_gain = gain[j]
                best = j
        if best < 0:
            break
        is_open[best] = True
        can_open[best] = False
        value += best_gain
        for k in range(col_indptr[best], col_indptr[best + 1]):
            i = col_indices[k]
            count[i] += 1
            if count[i] == 1:
                for q in range(row_indptr[i], row_indptr[i + 1]):
                    gain[row_indices[q]] -= weights[i]
        # an optimal plan has at most ``free`` candidates outside the current plan
        candidate_bound = value + _sum_top(gain, can_open, free)
        if candidate_bound < bound:
            bound = candidate_bound
    # recompute the value exactly rather than trusting the running sum
    count = cover_counts(col_indptr, col_indices, is_open, n)
    return is_open, covered_weight(count, weights), bound


@njit(cache=True)
def _row_contribution(
    i: int,
    sign: float,
    count: np.ndarray,
    weights: np.ndarray,
    row_indptr: np.ndarray,
    row_indices: np.ndarray,
    is_open: np.ndarray,
    slot: np.ndarray,
    gain: np.ndarray,
    loss: np.ndarray,
    extra: np.ndarray,
) -> None:
    """Add (sign = 1) or remove (sign = −1) row i's share of the swap bookkeeping.

    * count 0: every site covering i would gain w_i by opening;
    * count 1, covered by a swappable site o: closing o loses w_i, unless the site opened
      in its place also covers i (``extra[j, slot[o]]``).
    """
    w = sign * weights[i]
    if count[i] == 0:
        for k in range(row_indptr[i], row_indptr[i + 1]):
            gain[row_indices[k]] += w
    elif count[i] == 1:
        owner = -1
        for k in range(row_indptr[i], row_indptr[i + 1]):
            if is_open[row_indices[k]]:
                owner = row_indices[k]
                break
        s = slot[owner]
        if s >= 0:
            loss[s] += w
            for k in range(row_indptr[i], row_indptr[i + 1]):
                j = row_indices[k]
                if j != owner:
                    extra[j, s] += w


@njit(cache=True)
def _swap_state(
    row_indptr: np.ndarray,
    row_indices: np.ndarray,
    weights: np.ndarray,
    is_open: np.ndarray,
    count: np.ndarray,
    slot: np.ndarray,
    n_slots: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gains, losses and pairwise corrections of every swap, from scratch."""
    m = is_open.shape[0]
    gain = np.zeros(m, dtype=np.float64)
    loss = np.zeros(n_slots, dtype=np.float64)
    extra = np.zeros((m, n_slots), dtype=np.float64)
    for i in range(weights.shape[0]):
        _row_contribution(
            i, 1.0, count, weights, row_indptr, row_indices, is_open, slot, gain, loss, extra
        )
    return gain, loss, extra


@njit(cache=True)
def _apply_swap(
    leaving: int,
    entering: int,
    col_indptr: np.ndarray,
    col_indices: np.ndarray,
    row_indptr: np.ndarray,
    row_indices: np.ndarray,
    weights: np.ndarray,
    is_open: np.ndarray,
    count: np.ndarray,
    slot: np.ndarray,
    gain: np.ndarray,
    loss: np.ndarray,
    extra: np.ndarray,
    touched: np.ndarray,
) -> None:
    """Close ``leaving``, open ``entering`` in its slot, and update the bookkeeping of the
    rows either site covers (and only those)."""
    n_touched = 0
    for site in (leaving, entering):
        for k in range(col_indptr[site], col_indptr[site + 1]):
            i = col_indices[k]
            if touched[i] == 0:
                touched[i] = 1
                _row_contribution(
                    i, -1.0, count, weights, row_indptr, row_indices, is_open, slot,
                    gain, loss, extra,
                )
                n_touched += 1
    for k in range(col_indptr[leaving], col_indptr[leaving + 1]):
        count[col_indices[k]] -= 1
    for k in range(col_indptr[entering], col_indptr[entering + 1]):
        count[col_indices[k]] += 1
    is_open[leaving] = False
    is_open[entering] = True
    slot[entering] = slot[leaving]
    slot[leaving] = -1
    for site in (leaving, entering):
        for k in range(col_indptr[site], col_indptr[site + 1]):
            i = col_indices[k]
            if touched[i] == 1:
                touched[i] = 0
                _row_contribution(
                    i, 1.0, count, weights, row_indptr, row_indices, is_open, slot,
                    gain, loss, extra,
                )


@njit(cache=True)
def _local_search(
    col_indptr: np.ndarray,
    col_indices: np.ndarray,
    row_indptr: np.ndarray,
    row_indices: np.ndarray,
    weights: np.ndarray,
    role: np.ndarray,
    is_open: np.ndarray,
    max_swaps: int,
    tolerance: float,
) -> int:
    """Best-improvement swaps (one open candidate out, one closed candidate in) until no swap
    gains more than ``tolerance`` or ``max_swaps`` were made. ``is_open`` changes in place.

    Returns the number of swaps made.
    """
    m = role.shape[0]
    n = weights.shape[0]
    slot = np.full(m, -1, dtype=np.int64)
    members = np.zeros(m, dtype=np.int64)
    n_slots = 0
    for j in range(m):
        if is_open[j] and role[j] == CANDIDATE:
            slot[j] = n_slots
            members[n_slots] = j
            n_slots += 1
    if n_slots == 0:
        return 0
    touched = np.zeros(n, dtype=np.int8)
    swaps = 0
    # Outer loop: rebuild the bookkeeping from scratch after every local optimum, so that
    # rounding in the incremental updates can never hide an improving swap.
    while swaps < max_swaps:
        count = cover_counts(col_indptr, col_indices, is_open, n)
        gain, loss, extra = _swap_state(
            row_indptr, row_indices, weights, is_open, count, slot, n_slots
        )
        improved = False
        while swaps < max_swaps:
            best_delta = tolerance
            best_in = -1
            best_slot = -1
            for j in range(m):
                if is_open[j] or role[j] != CANDIDATE:
                    continue
                g = gain[j]
                for s in range(n_slots):
                    delta = g - loss[s] + extra[j, s]
                    if delta > best_delta:
                        best_delta = delta
                        best_in = j
                        best_slot = s
            if best_in < 0:
                break
            leaving = members[best_slot]
            _apply_swap(
                leaving, best_in, col_indptr, col_indices, row_indptr, row_indices, weights,
                is_open, count, slot, gain, loss, extra, touched,
            )
            members[best_slot] = best_in
            swaps += 1
            improved = True
        if not improved:
            break
    return swaps


@njit(cache=True)
def iterated_interchange(
    col_indptr: np.ndarray,
    col_indices: np.ndarray,
    row_indptr: np.ndarray,
    row_indices: np.ndarray,
    weights: np.ndarray,
    role: np.ndarray,
    is_open: np.ndarray,
    rounds: int,
    kick: int,
    seed: int,
) -> tuple[np.ndarray, float, int]:
    """Iterated local search: perturb the best plan (1 to ``kick`` random swaps), descend
    to a swap local optimum, keep the result when it is strictly better; ``rounds`` times.

    Starts with a descent from ``is_open``. Returns the best plan, its covered weight and the
    round in which it was found (0: the first descent).
    """
    np.random.seed(seed)
    n = weights.shape[0]
    tolerance = 1e-9 * max(1.0, weights.sum())
    best = is_open.copy()
    _local_search(
        col_indptr, col_indices, row_indptr, row_indices, weights, role, best, 1 << 30, tolerance
    )
    best_value = covered_weight(cover_counts(col_indptr, col_indices, best, n), weights)
    found = 0
    candidates = np.flatnonzero(role == CANDIDATE)
    for round_ in range(1, rounds + 1):
        plan = best.copy()
        opened = candidates[plan[candidates]]
        closed = candidates[~plan[candidates]]
        if opened.shape[0] == 0 or closed.shape[0] == 0:
            break
        for _ in range(np.random.randint(1, kick + 1)):
            a = np.random.randint(opened.shape[0])
            b = np.random.randint(closed.shape[0])
            plan[opened[a]] = False
            plan[closed[b]] = True
            opened[a], closed[b] = closed[b], opened[a]
        _local_search(
            col_indptr, col_indices, row_indptr, row_indices, weights, role, plan, 1 << 30,
            tolerance,
        )
        value = covered_weight(cover_counts(col_indptr, col_indices, plan, n), weights)
        if value > best_value + tolerance:
            best = plan
            best_value = value
            found = round_
    return best, best_value, found


@njit(cache=True)
def _top_sites(values: np.ndarray, role: np.ndarray, how_many: int) -> np.ndarray:
    """Fixed sites plus the ``how_many`` candidates with the largest values (ties: lowest
    index)."""
    chosen = role == FIXED
    if how_many <= 0:
        return chosen
    candidates = np.flatnonzero(role == CANDIDATE)
    order = np.argsort(-values[candidates], kind="mergesort")
    for t in range(min(how_many, candidates.shape[0])):
        chosen[candidates[order[t]]] = True
    return chosen


@njit(cache=True)
def lagrangian(
    col_indptr: np.ndarray,
    col_indices: np.ndarray,
    row_indptr: np.ndarray,
    row_indices: np.ndarray,
    weights: np.ndarray,
    role: np.ndarray,
    p: int,
    incumbent: float,
    iterations: int,
    patience: int,
    smoothing: float,
    initial: np.ndarray,
) -> tuple[float, np.ndarray, np.ndarray, float, np.ndarray]:
    """Lagrangian bound of maximal covering, relaxing z_i ≤ Σ_j a_ij y_j with λ_i ≥ 0.

    For any λ with 0 ≤ λ_i ≤ w_i,

        L(λ) = Σ_i (w_i − λ_i) + Σ_{j fixed} c_j + (sum of the p − |fixed| largest c_j over
        candidates),   c_j = Σ_{i covered by j} λ_i,

    is an upper bound on the optimum (z_i = 1 is optimal in the relaxation because
    w_i − λ_i ≥ 0, and the site part picks the best p sites for the prices c_j).
    λ is improved by projected steps along 1 − (average cover count), where the average
    is over past relaxation plans with weight ``smoothing`` for the newest (1 gives the plain
    subgradient), with Polyak step sizes toward ``incumbent``; the step factor halves, and λ
    returns to the best multipliers, after ``patience`` iterations without progress.

    ``initial`` holds starting multipliers (an empty array: w_i shared among the sites
    covering row i). The search stops early once the bound is at most ``incumbent``.

    Returns the best bound, its multipliers, the best plan met along the way (the y of a
    relaxation solution, feasible for the real problem), that plan's covered weight, and the
    running average of the relaxation plans (an estimate of a fractional y of the relaxation).
    """
    n = weights.shape[0]
    m = role.shape[0]
    free = p - int((role == FIXED).sum())
    # start: every row's weight shared among the sites that cover it
    multipliers = np.empty(n, dtype=np.float64)
    for i in range(n):
        if initial.shape[0] == n:
            multipliers[i] = min(max(initial[i], 0.0), weights[i])
        else:
            length = row_indptr[i + 1] - row_indptr[i]
            multipliers[i] = weights[i] / max(length, 1)
    best_bound = np.inf
    best_multipliers = multipliers.copy()
    best_plan = role == FIXED
    best_value = -1.0
    target = incumbent
    factor = 2.0
    stalled = 0
    prices = np.zeros(m, dtype=np.float64)
    subgradient = np.zeros(n, dtype=np.float64)
    average = np.zeros(n, dtype=np.float64)
    average_plan = np.zeros(m, dtype=np.float64)
    first = True
    for _ in range(iterations):
        for j in range(m):
            total = 0.0
            for k in range(col_indptr[j], col_indptr[j + 1]):
                total += multipliers[col_indices[k]]
            prices[j] = total
        plan = _top_sites(prices, role, free)
        bound = 0.0
        for i in range(n):
            bound += weights[i] - multipliers[i]
        for j in range(m):
            if plan[j]:
                bound += prices[j]
        count = cover_counts(col_indptr, col_indices, plan, n)
        value = covered_weight(count, weights)
        for j in range(m):
            if first:
                average_plan[j] = 1.0 if plan[j] else 0.0
            else:
                average_plan[j] = smoothing * plan[j] + (1.0 - smoothing) * average_plan[j]
        if value > best_value:
            best_value = value
            best_plan = plan
        if value > target:
            target = value
        if bound < best_bound - 1e-12 * max(1.0, abs(bound)):
            best_bound = bound
            best_multipliers[:] = multipliers
            stalled = 0
        else:
            stalled += 1
            if stalled >= patience:
                factor *= 0.5
                stalled = 0
                multipliers[:] = best_multipliers
                if factor < 1e-4:
                    break
        # dL/dλ_i = count_i − 1, so descend along 1 − count_i: lower λ_i where row i is
        # covered more than once, raise it where it is not covered; keep 0 ≤ λ_i ≤ w_i
        norm = 0.0
        for i in range(n):
            if first:
                average[i] = count[i]
            else:
                average[i] = smoothing * count[i] + (1.0 - smoothing) * average[i]
            g = 1.0 - average[i]
            at_upper = g > 0.0 and multipliers[i] >= weights[i]
            at_lower = g < 0.0 and multipliers[i] <= 0.0
            if at_upper or at_lower:
                g = 0.0
            subgradient[i] = g
            norm += g * g
        first = False
        if norm == 0.0:
            break  # λ is optimal: the relaxation's plan covers every row exactly once
        gap = bound - target
        if gap <= 1e-9 * max(1.0, abs(target)):
            break
        step = factor * gap / norm
        for i in range(n):
            value_i = multipliers[i] + step * subgradient[i]
            multipliers[i] = min(max(value_i, 0.0), weights[i])
    return best_bound, best_multipliers, best_plan, best_value, average_plan
