"""Numba kernels of the set-covering engine: exact reductions, the Lagrangian bound and its
subgradient ascent, and the Lagrangian primal heuristic.

The problem is min Σ_j c_j y_j s.t. Σ_{j ∈ J_i} y_j ≥ 1 for every row i, y ∈ {0, 1}^m. It is
held twice: by rows (CSR: ``row_start``, ``row_sites``, the sites J_i of row i) and by sites
(CSC: ``site_start``, ``site_rows``, the rows I_j of site j). Relaxing the rows with u ≥ 0 gives

    L(u) = Σ_i u_i + Σ_j min(0, c̄_j),   c̄_j = c_j − Σ_{i ∈ I_j} u_i,

a lower bound on the optimum for every u ≥ 0. Kernels import only numpy and numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Site states during the reductions.
REMOVED = 0
ALIVE = 1
OPEN = 2


# ---------------------------------------------------------------------------------- reductions
@njit(cache=True)
def _degrees(
    row_start: np.ndarray,
    row_sites: np.ndarray,
    row_alive: np.ndarray,
    site_state: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Alive sites per alive row, and alive rows per alive site."""
    n_rows = row_start.shape[0] - 1
    row_degree = np.zeros(n_rows, dtype=np.int64)
    site_degree = np.zeros(site_state.shape[0], dtype=np.int64)
    for i in range(n_rows):
        if not row_alive[i]:
            continue
        for k in range(row_start[i], row_start[i + 1]):
            j = row_sites[k]
            if site_state[j] == ALIVE:
                row_degree[i] += 1
                site_degree[j] += 1
    return row_degree, site_degree


@njit(cache=True)
def essential_sites(
    row_start: np.ndarray,
    row_sites: np.ndarray,
    site_start: np.ndarray,
    site_rows: np.ndarray,
    row_alive: np.ndarray,
    site_state: np.ndarray,
    open_singletons: bool,
    site_dirty: np.ndarray,
) -> tuple[int, bool]:
    """Open every alive site that is the only alive site of some alive row (when
    ``open_singletons``), and drop the rows an open site covers (marking their sites in
    ``site_dirty``). Returns (sites opened, False if some alive row has neither an open nor an
    alive site)."""
    n_rows = row_start.shape[0] - 1
    opened = 0
    for i in range(n_rows):
        if not row_alive[i]:
            continue
        only = -1
        count = 0
        for k in range(row_start[i], row_start[i + 1]):
            j = row_sites[k]
            if site_state[j] == OPEN:
                count = -1
                break
            if site_state[j] == ALIVE:
                count += 1
                only = j
        if count == 0:
            return opened, False
        if count == 1 and open_singletons:
            site_state[only] = OPEN
            opened += 1
    for j in range(site_state.shape[0]):
        if site_state[j] == OPEN:
            for k in range(site_start[j], site_start[j + 1]):
                i = site_rows[k]
                if row_alive[i]:
                    row_alive[i] = False
                    for t in range(row_start[i], row_start[i + 1]):
                        site_dirty[row_sites[t]] = True
    return opened, True


@njit(cache=True)
def _contains(values: np.ndarray, start: int, end: int, value: int) -> bool:
    """True when ``value`` is in the ascending ``values[start:end]`` (binary search)."""
    low, high = start, end
    while low < high:
        middle = (low + high) >> 1
        if values[middle] < value:
            low = middle + 1
        else:
            high = middle
    return low < end and values[low] == value


@njit(cache=True)
def dominated_rows(
    row_start: np.ndarray,
    row_sites: np.ndarray,
    site_start: np.ndarray,
    site_rows: np.ndarray,
    row_alive: np.ndarray,
    site_state: np.ndarray,
    row_dirty: np.ndarray,
    site_dirty: np.ndarray,
) -> int:
    """Drop every alive row i whose alive site set contains another alive row k's:
    J_k ⊊ J_i, or J_k = J_i and k < i (a strict order, so all may go at once: covering k
    covers i). Returns the number of rows dropped.

    Only pairs with a row in ``row_dirty`` (its alive sites changed since its last check, or
    it was never checked) are compared: two unchanged rows were compared before, with the
    same sets. ``row_dirty`` is cleared; the sites of dropped rows are marked in
    ``site_dirty``.

    Row k's candidates are the rows of its alive site covering fewest rows; each is checked
    by looking up k's other alive sites in its (ascending) site list, stopping at the first
    one missing, so a candidate that fails costs a few lookups, not a pass over its row."""
    n_rows = row_start.shape[0] - 1
    row_degree, site_degree = _degrees(row_start, row_sites, row_alive, site_state)
    drop = np.zeros(n_rows, dtype=np.bool_)
    for r in range(n_rows):
        if not row_alive[r] or row_degree[r] == 0:
            continue
        pivot = -1
        for k in range(row_start[r], row_start[r + 1]):
            j = row_sites[k]
            if site_state[j] == ALIVE and (pivot < 0 or site_degree[j] < site_degree[pivot]):
                pivot = j
        need = row_degree[r]
        changed = row_dirty[r]
        for t in range(site_start[pivot], site_start[pivot + 1]):
            i = site_rows[t]
            if i == r or not row_alive[i] or drop[i] or row_degree[i] < need:
                continue
            if not (changed or row_dirty[i]):
                continue
            if row_degree[i] == need and i < r:
                continue
            inside = True
            for k in range(row_start[r], row_start[r + 1]):
                j = row_sites[k]
                if j != pivot and site_state[j] == ALIVE and not _contains(
                    row_sites, row_start[i], row_start[i + 1], j
                ):
                    inside = False
                    break
            if inside:
                drop[i] = True
    dropped = 0
    for i in range(n_rows):
        row_dirty[i] = False
        if drop[i]:
            row_alive[i] = False
            dropped += 1
            for k in range(row_start[i], row_start[i + 1]):
                site_dirty[row_sites[k]] = True
    return dropped


@njit(cache=True)
def _precedes(costs: np.ndarray, degree: np.ndarray, a: int, b: int) -> bool:
    """True when site a is preferred to site b: (c_a, −|I_a|, a) < (c_b, −|I_b|, b)."""
    if costs[a] != costs[b]:
        return costs[a] < costs[b]
    if degree[a] != degree[b]:
        return degree[a] > degree[b]
    return a < b


@njit(cache=True)
def dominated_sites(
    row_start: np.ndarray,
    row_sites: np.ndarray,
    site_start: np.ndarray,
    site_rows: np.ndarray,
    costs: np.ndarray,
    row_alive: np.ndarray,
    site_state: np.ndarray,
    site_dirty: np.ndarray,
    row_dirty: np.ndarray,
) -> int:
    """Remove every alive site j whose alive rows are a subset of a preferred alive site k's
    (I_j ⊆ I_k and (c_k, −|I_k|, k) < (c_j, −|I_j|, j): a strict order, so all may go at once;
    swapping j for k in a plan never costs more). Sites with no alive row go too.
    Returns the number of sites removed. Candidates k are the sites of j's alive row with
    fewest sites, each checked by lookups in its ascending row list; only pairs with a site
    in ``site_dirty`` are compared (as in :func:`dominated_rows`, with the roles of rows and
    sites swapped)."""
    n_sites = site_state.shape[0]
    row_degree, site_degree = _degrees(row_start, row_sites, row_alive, site_state)
    drop = np.zeros(n_sites, dtype=np.bool_)
    for j in range(n_sites):
        if site_state[j] != ALIVE:
            continue
        if site_degree[j] == 0:
            drop[j] = True
            continue
        pivot = -1
        for t in range(site_start[j], site_start[j + 1]):
            i = site_rows[t]
            if row_alive[i] and (pivot < 0 or row_degree[i] < row_degree[pivot]):
                pivot = i
        need = site_degree[j]
        changed = site_dirty[j]
        for k in range(row_start[pivot], row_start[pivot + 1]):
            other = row_sites[k]
            if other == j or site_state[other] != ALIVE or site_degree[other] < need:
                continue
            if not (changed or site_dirty[other]):
                continue
            if not _precedes(costs, site_degree, other, j):
                continue
            inside = True
            for t in range(site_start[j], site_start[j + 1]):
                i = site_rows[t]
                if i != pivot and row_alive[i] and not _contains(
                    site_rows, site_start[other], site_start[other + 1], i
                ):
                    inside = False
                    break
            if inside:
                drop[j] = True
                break
    removed = 0
    for j in range(n_sites):
        site_dirty[j] = False
        if drop[j]:
            site_state[j] = REMOVED
            removed += 1
            for t in range(site_start[j], site_start[j + 1]):
                row_dirty[site_rows[t]] = True
    return removed


# ---------------------------------------------------------------------------------- Lagrangian
@njit(cache=True)
def reduced_costs(
    site_start: np.ndarray, site_rows: np.ndarray, costs: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """c̄_j = c_j − Σ_{i ∈ I_j} u_i."""
    n_sites = costs.shape[0]
    out = costs.copy()
    for j in range(n_sites):
        for t in range(site_start[j], site_start[j + 1]):
            out[j] -= u[site_rows[t]]
    return out


@njit(cache=True)
def lagrangian_value(
    site_start: np.ndarray, site_rows: np.ndarray, costs: np.ndarray, u: np.ndarray
) -> float:
    """L(u) = Σ_i u_i + Σ_j min(0, c̄_j)."""
    reduced = reduced_costs(site_start, site_rows, costs, u)
    total = u.sum()
    for j in range(reduced.shape[0]):
        if reduced[j] < 0.0:
            total += reduced[j]
    return total


@njit(cache=True)
def subgradient_block(
    row_start: np.ndarray,
    row_sites: np.ndarray,
    site_start: np.ndarray,
    site_rows: np.ndarray,
    costs: np.ndarray,
    u: np.ndarray,
    best_u: np.ndarray,
    state: np.ndarray,
    target: float,
    iterations: int,
    patience: int,
) -> int:
    """Run up to ``iterations`` subgradient steps on u (in place); keep the best u in
    ``best_u``. ``state`` = [best L, step factor f, iterations without improvement].

    Step (Held, Wolfe & Crowder 1974; Beasley 1990): x_j = 1 ⇔ c̄_j < 0, g_i = 1 − Σ_{J_i} x_j
    (0 when u_i = 0 and g_i < 0), u ← max(0, u + f (target − L(u)) g / ‖g‖²); f halves after
    ``patience`` steps without a better bound. Stops early when ‖g‖ = 0 (u is optimal) or
    f < 1e-4. Returns the number of steps done (negative when it stopped for good)."""
    n_rows = row_start.shape[0] - 1
    n_sites = costs.shape[0]
    chosen = np.zeros(n_sites, dtype=np.bool_)
    gradient = np.zeros(n_rows)
    for step in range(iterations):
        reduced = reduced_costs(site_start, site_rows, costs, u)
        value = u.sum()
        for j in range(n_sites):
            chosen[j] = reduced[j] < 0.0
            if chosen[j]:
                value += reduced[j]
        if value > state[0]:
            state[0] = value
            best_u[:] = u
            state[2] = 0.0
        else:
            state[2] += 1.0
            if state[2] >= patience:
                state[1] *= 0.5
                state[2] = 0.0
        norm = 0.0
        for i in range(n_rows):
            g = 1.0
            for k in range(row_start[i], row_start[i + 1]):
                if chosen[row_sites[k]]:
                    g -= 1.0
            if u[i] <= 0.0 and g < 0.0:
                g = 0.0
            gradient[i] = g
            norm += g * g
        if norm == 0.0 or state[1] < 1e-4:
            return -(step + 1)
        length = state[1] * max(target - value, 1e-9 * max(1.0, abs(target))) / norm
        for i in range(n_rows):
            u[i] = max(0.0, u[i] + length * gradient[i])
    return iterations


# ---------------------------------------------------------------------------------- primal
@njit(cache=True)
def greedy_cover(
    row_start: np.ndarray,
    row_sites: np.ndarray,
    site_start: np.ndarray,
    site_rows: np.ndarray,
    costs: np.ndarray,
    scores: np.ndarray,
    is_open: np.ndarray,
) -> bool:
    """Complete ``is_open`` (in place) to a cover: repeatedly open the site of smallest
    s_j / μ_j (s_j > 0) or s_j · μ_j (s_j ≤ 0), μ_j = rows it newly covers, s = ``scores``
    (the costs, or Lagrangian reduced costs). Ties go to the lower index. False if some row
    has no site."""
    n_rows = row_start.shape[0] - 1
    n_sites = costs.shape[0]
    covered = np.zeros(n_rows, dtype=np.bool_)
    left = n_rows
    for j in range(n_sites):
        if is_open[j]:
            for t in range(site_start[j], site_start[j + 1]):
                if not covered[site_rows[t]]:
                    covered[site_rows[t]] = True
                    left -= 1
    gain = np.zeros(n_sites, dtype=np.int64)
    for j in range(n_sites):
        if not is_open[j]:
            for t in range(site_start[j], site_start[j + 1]):
                if not covered[site_rows[t]]:
                    gain[j] += 1
    while left > 0:
        best = -1
        best_score = np.inf
        for j in range(n_sites):
            if gain[j] == 0 or is_open[j]:
                continue
            s = scores[j]
            score = s / gain[j] if s > 0.0 else s * gain[j]
            if score < best_score:
                best_score = score
                best = j
        if best < 0:
            return False
        is_open[best] = True
        for t in range(site_start[best], site_start[best + 1]):
            i = site_rows[t]
            if covered[i]:
                continue
            covered[i] = True
            left -= 1
            for k in range(row_start[i], row_start[i + 1]):
                gain[row_sites[k]] -= 1
    return True


@njit(cache=True)
def _cover_counts(
    site_start: np.ndarray, site_rows: np.ndarray, is_open: np.ndarray, n_rows: int
) -> np.ndarray:
    counts = np.zeros(n_rows, dtype=np.int64)
    for j in range(is_open.shape[0]):
        if is_open[j]:
            for t in range(site_start[j], site_start[j + 1]):
                counts[site_rows[t]] += 1
    return counts


@njit(cache=True)
def remove_redundant(
    site_start: np.ndarray,
    site_rows: np.ndarray,
    order: np.ndarray,
    is_open: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Close, in ``order`` (most expensive first), every open site all of whose rows another
    open site also covers; ``counts`` (cover count per row) is kept up to date."""
    for j in order:
        if not is_open[j]:
            continue
        needed = False
        for t in range(site_start[j], site_start[j + 1]):
            if counts[site_rows[t]] < 2:
                needed = True
                break
        if not needed:
            is_open[j] = False
            for t in range(site_start[j], site_start[j + 1]):
                counts[site_rows[t]] -= 1


@njit(cache=True)
def close_neighbours(
    row_start: np.ndarray,
    row_sites: np.ndarray,
    site_start: np.ndarray,
    site_rows: np.ndarray,
    centre: int,
    is_open: np.ndarray,
) -> None:
    """Close ``centre`` and every site sharing a row with it (in place)."""
    for t in range(site_start[centre], site_start[centre + 1]):
        i = site_rows[t]
        for k in range(row_start[i], row_start[i + 1]):
            is_open[row_sites[k]] = False


@njit(cache=True)
def _exclusive_row(site_start: np.ndarray, site_rows: np.ndarray, counts: np.ndarray,
                   j: int) -> int:
    """A row only site j covers (cover count 1), or −1."""
    for t in range(site_start[j], site_start[j + 1]):
        if counts[site_rows[t]] == 1:
            return site_rows[t]
    return -1


@njit(cache=True)
def swap_search(
    row_start: np.ndarray,
    row_sites: np.ndarray,
    site_start: np.ndarray,
    site_rows: np.ndarray,
    costs: np.ndarray,
    order: np.ndarray,
    is_open: np.ndarray,
) -> float:
    """Local search on a cover (in place): replace one or two open sites by one closed site
    that covers every row only they cover, when that costs strictly less (first improvement,
    repeated until none), then drop redundant sites. Returns the total saving.

    A site j replacing a and b must cover a row r only a covers, so it is one of J_r's, and a
    row only b covers, so that row lies in the rows N_a of J_r's sites; a pair whose b has
    such a row outside N_a is skipped unexamined (r is a's row with fewest sites). Only
    pairs that cannot improve are skipped, so the search is the same as examining every
    pair; on a national core of 21,000 rows and about 1,200 open sites, most pairs are far
    apart."""
    n_rows = row_start.shape[0] - 1
    n_sites = costs.shape[0]
    counts = _cover_counts(site_start, site_rows, is_open, n_rows)
    remove_redundant(site_start, site_rows, order, is_open, counts)
    hits = np.zeros(n_sites, dtype=np.int64)
    touched = np.zeros(n_sites, dtype=np.int64)
    lone = np.zeros(n_rows, dtype=np.int64)
    mark = np.full(n_rows, -1, dtype=np.int64)
    near = np.zeros(n_rows, dtype=np.int64)  # == visit: the row is in N_a
    exclusive = np.full(n_sites, -1, dtype=np.int64)
    visit = 0
    saving = 0.0
    improved = True
    while improved:
        improved = False
        opened = np.flatnonzero(is_open)
        for b in opened:
            exclusive[b] = _exclusive_row(site_start, site_rows, counts, b)
        for a_index in range(opened.shape[0]):
            a = opened[a_index]
            if not is_open[a]:
                continue
            # rows covered only by a, and N_a from the one of them with fewest sites
            n_lone_a = 0
            pivot = -1
            for t in range(site_start[a], site_start[a + 1]):
                i = site_rows[t]
                mark[i] = a
                if counts[i] == 1:
                    lone[n_lone_a] = i
                    n_lone_a += 1
                    if pivot < 0 or (row_start[i + 1] - row_start[i]
                                     < row_start[pivot + 1] - row_start[pivot]):
                        pivot = i
            visit += 1
            if pivot >= 0:
                for k in range(row_start[pivot], row_start[pivot + 1]):
                    j = row_sites[k]
                    for t in range(site_start[j], site_start[j + 1]):
                        near[site_rows[t]] = visit
            for b_index in range(a_index, opened.shape[0]):
                b = opened[b_index]
                if not is_open[b]:
                    continue
                n_lone = n_lone_a
                if b != a:
                    if pivot >= 0:
                        if exclusive[b] >= 0 and counts[exclusive[b]] != 1:
                            exclusive[b] = _exclusive_row(site_start, site_rows, counts, b)
                        if exclusive[b] >= 0 and near[exclusive[b]] != visit:
                            continue
                    # rows covered only by b, or only by a and b
                    for t in range(site_start[b], site_start[b + 1]):
                        i = site_rows[t]
                        if counts[i] == 1 or (counts[i] == 2 and mark[i] == a):
                            lone[n_lone] = i
                            n_lone += 1
                budget = costs[a] + (costs[b] if b != a else 0.0)
                n_touched = 0
                best = -1
                for r in range(n_lone):
                    i = lone[r]
                    for k in range(row_start[i], row_start[i + 1]):
                        j = row_sites[k]
                        if is_open[j] or costs[j] >= budget:
                            continue
                        if hits[j] == 0:
                            touched[n_touched] = j
                            n_touched += 1
                        hits[j] += 1
                for r in range(n_touched):
                    j = touched[r]
                    if hits[j] == n_lone and (best < 0 or costs[j] < costs[best]):
                        best = j
                    hits[j] = 0
                if best < 0 or n_lone == 0:
                    continue
                for t in range(site_start[a], site_start[a + 1]):
                    counts[site_rows[t]] -= 1
                is_open[a] = False
                if b != a:
                    for t in range(site_start[b], site_start[b + 1]):
                        counts[site_rows[t]] -= 1
                    is_open[b] = False
                is_open[best] = True
                for t in range(site_start[best], site_start[best + 1]):
                    counts[site_rows[t]] += 1
                saving += budget - costs[best]
                improved = True
                break
        remove_redundant(site_start, site_rows, order, is_open, counts)
    return saving
