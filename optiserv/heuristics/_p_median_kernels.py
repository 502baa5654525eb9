"""Numba kernels of the p-median Lagrangian relaxation: the bound and its subgradient ascent
(used by the heuristic's bound and by the branch and bound) and the branch and bound's filters;
and the kernels that prepare and search the sorted rows: per-row sort, candidate pairs, CSR to
CSC, greedy and best-improvement interchange.

The candidate pairs are kept in CSR layout by demand point, with weighted costs
c_ij = w_i d_ij **ascending within each demand point**; every kernel keeps that order. The
Lagrangian relaxation of the assignment rows Σ_j x_ij = 1 with multipliers λ_i is

    L(λ) = Σ_i λ_i + min { Σ_j ρ_j y_j : Σ_j y_j = p, fixed and closed sites respected },
    ρ_j = Σ_i min(0, c_ij − λ_i),

solved by opening the fixed sites and the free sites of smallest ρ_j (see
:class:`optiserv.heuristics.p_median.LagrangianBound`). Kernels import only numpy and numba.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit

Rows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""Sorted candidate pairs and their near rows: (start, site, cost, near_start, near_site,
near_cost). Rows ascend in cost; see :func:`near_rows`. Passing the full arrays twice means
no near rows."""

_PRANGE_ONLY = {
    "prange": True, "comprehension": False, "numpy": False, "reduction": False,
    "setitem": False, "stencil": False, "fusion": False, "inplace_binop": False,
}
"""Only explicit ``prange`` loops run in parallel. numba's other parallel passes would turn
every array fill and ``x[:] = y`` into a parallel region (OR-Library set: 84 s with them,
70 s without). These options do not always hold: a parallel kernel called from another one
is compiled with every pass on, and such a build can stay in numba's cache. So the parallel
kernels (``_..._parallel``) hold nothing but a ``prange`` over a serial block function
(``_..._block``), and the public kernels are serial and call them only for more than one
block: on the one-block path no parallel region ever opens. (pmed36 on two threads took 44 s
and 89 CPU s with a region per call, against 34 s and 35 CPU s now.)"""
_ROW_BLOCKS = 16
"""Fixed row blocks of the parallel sums (from ``_PARALLEL_MIN_PAIRS`` pairs up): every sum
adds the same partial sums in the same order whatever the number of threads, so bounds and
plans do not depend on it."""
_SWAP_BLOCKS = 2
"""Row blocks of the interchange's pass: each holds an (open sites × sites) table, so there
are only as many as the two cores the product is sized for."""
_PARALLEL_MIN_PAIRS = 1 << 20
"""Below this many pairs a pass runs as one block, in row order (the serial sum): a pass
then takes well under a millisecond, and starting threads and adding partial sums cost more
than they save. The OR-Library p-median set (at most 810,000 pairs; its branch and bound
calls these kernels at every node) took 93–121 s with 16 blocks against 64 s in one."""


@njit(cache=True)
def _blocks(n_pairs: int, blocks: int) -> int:
    """How many row blocks a pass over ``n_pairs`` pairs uses: ``blocks``, or 1 when small.
    It depends on the size only, never on the number of threads. One block runs in the
    calling thread, outside any parallel kernel (see ``_PRANGE_ONLY``)."""
    return blocks if n_pairs >= _PARALLEL_MIN_PAIRS else 1


@njit(cache=True)
def near_rows(
    start: np.ndarray, site: np.ndarray, cost: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``width`` pairs of every row (all of a shorter row), packed: the near rows.

    A copy, not a reduction: the kernels that take near rows read a row's near part first
    and go on in the full row only when they need pairs beyond it (:func:`_row_part`).
    Most passes stop early in every row, so they then read a few packed megabytes instead of
    touching a new page of the full arrays in every row.
    """
    n = start.shape[0] - 1
    near_start = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        near_start[i + 1] = near_start[i] + min(width, start[i + 1] - start[i])
    near_site = np.empty(near_start[n], dtype=np.int64)
    near_cost = np.empty(near_start[n])
    for i in range(n):
        first = start[i]
        for t in range(near_start[i + 1] - near_start[i]):
            near_site[near_start[i] + t] = site[first + t]
            near_cost[near_start[i] + t] = cost[first + t]
    return near_start, near_site, near_cost


@njit(cache=True, inline="always")
def _row_range(i: int, part: int, start: np.ndarray, near_start: np.ndarray) -> tuple[int, int]:
    """Row i in two parts, in order: part 0 is its near pairs (in the near arrays), part 1
    the rest of the full row (in the full arrays). Passing the full arrays as the near ones
    makes part 1 empty. Kernels pick the array by part per element, not as a returned
    array: handing arrays around inside the row loop costs a reference count each time."""
    if part == 0:
        return near_start[i], near_start[i + 1]
    return start[i] + near_start[i + 1] - near_start[i], start[i + 1]


@njit(cache=True)
def _site_values_block(
    block: int,
    blocks: int,
    rows: Rows,
    multiplier: np.ndarray,
    partial: np.ndarray,
) -> None:
    """Row block ``block`` of :func:`site_values`, summed into ``partial[block]``."""
    start, site, cost, near_start, near_site, near_cost = rows
    n = start.shape[0] - 1
    for i in range(block * n // blocks, (block + 1) * n // blocks):
        for part in range(2):
            first, last = _row_range(i, part, start, near_start)
            ended = False
            for k in range(first, last):
                reduced = (near_cost[k] if part == 0 else cost[k]) - multiplier[i]
                if reduced >= 0.0:
                    ended = True  # costs ascend within a row: no further pair contributes
                    break
                j = near_site[k] if part == 0 else site[k]
                partial[block, j] += reduced
            if ended:
                break


@njit(cache=True, parallel=_PRANGE_ONLY)
def _site_values_parallel(
    blocks: int,
    rows: Rows,
    multiplier: np.ndarray,
    partial: np.ndarray,
) -> None:
    """:func:`_site_values_block` for every block, blocks in parallel (nothing else here:
    see ``_PRANGE_ONLY``)."""
    for block in numba.prange(blocks):
        _site_values_block(block, blocks, rows, multiplier, partial)


@njit(cache=True)
def site_values(
    rows: Rows,
    multiplier: np.ndarray,
    n_sites: int,
) -> np.ndarray:
    """ρ_j = Σ_i min(0, c_ij − λ_i) over the candidate pairs (row blocks in parallel; near
    rows as in :func:`near_rows`, or the full arrays again)."""
    cost = rows[2]
    blocks = _blocks(cost.shape[0], _ROW_BLOCKS)
    partial = np.zeros((blocks, n_sites))
    if blocks == 1:  # no parallel region: see _blocks
        _site_values_block(0, 1, rows, multiplier, partial)
    else:
        _site_values_parallel(blocks, rows, multiplier, partial)
    return _block_sum(partial)


@njit(cache=True)
def _block_sum(partial: np.ndarray) -> np.ndarray:
    """Σ over the rows of ``partial`` (row blocks' partial sums), added in block order."""
    total = np.zeros(partial.shape[1])
    for block in range(partial.shape[0]):
        for j in range(partial.shape[1]):
            total[j] += partial[block, j]
    return total


@njit(cache=True)
def ordered_sum(values: np.ndarray) -> float:
    """Σ values, added in index order. Inside a parallel kernel numba may sum
    ``values.sum()`` in thread order (the thread-count test catches it)."""
    total = 0.0
    for value in values:
        total += value
    return total


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
    rows: Rows,
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
    best_multiplier = multiplier.copy()
    best_bound, iterations, _, _, _ = resume_ascent(
        rows, fixed, free, n_free, multiplier, best_multiplier, -np.inf,
        step_target, stop_above, max_iterations, patience, initial_scale, 0, min_scale,
    )
    return best_bound, best_multiplier, iterations


@njit(cache=True)
def _subgradient_block(
    block: int,
    blocks: int,
    rows: Rows,
    multiplier: np.ndarray,
    chosen: np.ndarray,
    subgradient: np.ndarray,
) -> None:
    """g_i = 1 − Σ_{j chosen, c_ij < λ_i} 1 for the rows of block ``block``."""
    start, site, cost, near_start, near_site, near_cost = rows
    n = start.shape[0] - 1
    for i in range(block * n // blocks, (block + 1) * n // blocks):
        served = 0.0
        for part in range(2):
            first, last = _row_range(i, part, start, near_start)
            ended = False
            for k in range(first, last):
                if (near_cost[k] if part == 0 else cost[k]) >= multiplier[i]:
                    ended = True
                    break
                if chosen[near_site[k] if part == 0 else site[k]]:
                    served += 1.0
            if ended:
                break
        subgradient[i] = 1.0 - served


@njit(cache=True, parallel=_PRANGE_ONLY)
def _subgradient_parallel(
    blocks: int,
    rows: Rows,
    multiplier: np.ndarray,
    chosen: np.ndarray,
    subgradient: np.ndarray,
) -> None:
    """:func:`_subgradient_block` for every block, blocks in parallel (nothing else here:
    see ``_PRANGE_ONLY``)."""
    for block in numba.prange(blocks):
        _subgradient_block(block, blocks, rows, multiplier, chosen, subgradient)


@njit(cache=True)
def resume_ascent(
    rows: Rows,
    fixed: np.ndarray,
    free: np.ndarray,
    n_free: int,
    multiplier: np.ndarray,
    best_multiplier: np.ndarray,
    best_bound: float,
    step_target: float,
    stop_above: float,
    max_iterations: int,
    patience: int,
    scale: float,
    since_improvement: int,
    min_scale: float,
) -> tuple[float, int, float, int, bool]:
    """The ascent of :func:`subgradient_ascent` from a saved state, for at most
    ``max_iterations`` more iterations.

    The state is the current λ (``multiplier``), the best λ so far (``best_multiplier``)
    and its bound, the scale s and the iterations since the last improvement; both arrays are
    updated in place. Returns the best bound, the iterations run, the scale, the iterations
    since the last improvement, and whether the ascent stopped by itself (scale below
    ``min_scale``, bound above ``stop_above``, or g = 0) rather than by the iteration limit.
    """
    start, cost = rows[0], rows[2]
    n = start.shape[0] - 1
    n_sites = fixed.shape[0]
    chosen = np.zeros(n_sites, dtype=np.bool_)
    iteration = 0
    subgradient = np.empty(n)
    blocks = _blocks(cost.shape[0], _ROW_BLOCKS)
    tolerance = 1e-9 * max(1.0, abs(step_target))
    while iteration < max_iterations:
        iteration += 1
        value = site_values(
            rows, multiplier, n_sites
        )
        bound = ordered_sum(multiplier) + choose_sites(value, fixed, free, n_free, chosen)
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
                    return best_bound, iteration, scale, since_improvement, True
                continue
        if best_bound > stop_above:
            return best_bound, iteration, scale, since_improvement, True
        if blocks == 1:  # no parallel region: see _blocks
            _subgradient_block(0, 1, rows, multiplier, chosen, subgradient)
        else:
            _subgradient_parallel(blocks, rows, multiplier, chosen, subgradient)
        norm = 0.0
        for i in range(n):  # in order: the same sum whatever the number of threads
            norm += subgradient[i] * subgradient[i]
        if norm == 0.0:
            return best_bound, iteration, scale, since_improvement, True
        step = scale * max(step_target - bound, tolerance) / norm
        for i in range(n):
            multiplier[i] += step * subgradient[i]
    return best_bound, iteration, scale, since_improvement, False


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
def sort_rows(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each CSR row's pairs in ascending (d_ij, j) order: the site and distance arrays.

    ``indices`` must increase within each row (as in :class:`optiserv.data.CostMatrix`), so a
    stable sort by d_ij breaks ties by the site index j. Same row pointers as the input.
    """
    site = np.empty(indices.shape[0], dtype=np.int64)
    distance = np.empty(data.shape[0])
    for i in range(indptr.shape[0] - 1):
        first, last = indptr[i], indptr[i + 1]
        order = np.argsort(data[first:last], kind="mergesort")
        for t in range(last - first):
            site[first + t] = indices[first + order[t]]
            distance[first + t] = data[first + order[t]]
    return site, distance


@njit(cache=True)
def transpose(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, n_columns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSC layout (column pointer, row of each entry, value) of a CSR layout.

    A counting sort by column: entries keep their row order within a column.
    """
    col_ptr = np.zeros(n_columns + 1, dtype=np.int64)
    for k in range(indices.shape[0]):
        col_ptr[indices[k] + 1] += 1
    for j in range(n_columns):
        col_ptr[j + 1] += col_ptr[j]
    fill = col_ptr[:-1].copy()
    rows = np.empty(indices.shape[0], dtype=np.int64)
    out = np.empty(values.shape[0])
    for i in range(indptr.shape[0] - 1):
        for k in range(indptr[i], indptr[i + 1]):
            position = fill[indices[k]]
            rows[position] = i
            out[position] = values[k]
            fill[indices[k]] = position + 1
    return col_ptr, rows, out


# ---------------------------------------------------------------------- heuristic on sorted rows
@njit(cache=True)
def nearest_two_sorted(
    rows: Rows,
    is_open: np.ndarray,
    penalty: float,
    best: np.ndarray,
    best_site: np.ndarray,
    second: np.ndarray,
) -> None:
    """Per demand row: cheapest open cost b1, its site s1 and the second-cheapest cost b2.

    Rows ascend in cost, so each row is read only up to its second open site (near part
    first, :func:`near_rows`); ``penalty`` (and s1 = −1) stands in for a missing one.
    """
    start, site, cost, near_start, near_site, near_cost = rows
    for i in range(start.shape[0] - 1):
        b1 = penalty
        b2 = penalty
        s1 = -1
        for part in range(2):
            first, last = _row_range(i, part, start, near_start)
            ended = False
            for k in range(first, last):
                j = near_site[k] if part == 0 else site[k]
                if is_open[j]:
                    c = near_cost[k] if part == 0 else cost[k]
                    if s1 < 0:
                        b1 = c
                        s1 = j
                    else:
                        b2 = c
                        ended = True
                        break
            if ended:
                break
        best[i] = b1
        best_site[i] = s1
        second[i] = b2


@njit(cache=True)
def greedy_sorted(
    rows: Rows,
    is_open: np.ndarray,
    can_open: np.ndarray,
    best: np.ndarray,
    n_to_open: int,
) -> None:
    """Open ``n_to_open`` more sites, each time the one of largest saving Σ_i max(0, b1_i − c_ij).

    ``best`` holds b1_i (the penalty where i has no open site) and is updated. Only the pairs
    cheaper than b1_i are read, a prefix of each ascending row (near part first,
    :func:`near_rows`). Ties go to the lowest j.
    """
    start, site, cost, near_start, near_site, near_cost = rows
    m = is_open.shape[0]
    n = start.shape[0] - 1
    for _ in range(n_to_open):
        # Σ_i max(0, b1_i − c_ij) is −ρ_j at λ = b1, term by term exactly
        gain = -site_values(rows, best, m)
        chosen = -1
        best_gain = -1.0
        for j in range(m):
            if can_open[j] and not is_open[j] and gain[j] > best_gain:
                best_gain = gain[j]
                chosen = j
        if chosen < 0:
            return
        is_open[chosen] = True
        for i in range(n):
            for part in range(2):
                first, last = _row_range(i, part, start, near_start)
                ended = False
                for k in range(first, last):
                    c = near_cost[k] if part == 0 else cost[k]
                    if c >= best[i]:
                        ended = True
                        break
                    if (near_site[k] if part == 0 else site[k]) == chosen:
                        best[i] = c
                        ended = True
                        break
                if ended:
                    break


@njit(cache=True)
def _swap_block(
    block: int,
    blocks: int,
    rows: Rows,
    is_open: np.ndarray,
    can_open: np.ndarray,
    best: np.ndarray,
    best_site: np.ndarray,
    second: np.ndarray,
    slot: np.ndarray,
    tables: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """The extra, gain and loss tables of :func:`interchange_sorted` for the rows of block
    ``block``, into ``tables[t][block]``."""
    start, site, cost, near_start, near_site, near_cost = rows
    extra_part, gain_part, loss_part = tables
    n = start.shape[0] - 1
    for i in range(block * n // blocks, (block + 1) * n // blocks):
        r = best_site[i]
        b1 = best[i]
        b2 = second[i]
        row_slot = -1
        if r >= 0:
            loss_part[block, r] += b2 - b1
            row_slot = slot[r]
        for part in range(2):
            first, last = _row_range(i, part, start, near_start)
            ended = False
            for k in range(first, last):
                c = near_cost[k] if part == 0 else cost[k]
                if c >= b2:
                    ended = True
                    break
                j = near_site[k] if part == 0 else site[k]
                if is_open[j] or not can_open[j]:
                    continue
                if c < b1:
                    gain_part[block, j] += b1 - c
                if row_slot >= 0:
                    extra_part[block, row_slot, j] += b2 - max(c, b1)
            if ended:
                break


@njit(cache=True, parallel=_PRANGE_ONLY)
def _swap_parallel(
    blocks: int,
    rows: Rows,
    is_open: np.ndarray,
    can_open: np.ndarray,
    best: np.ndarray,
    best_site: np.ndarray,
    second: np.ndarray,
    slot: np.ndarray,
    tables: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """:func:`_swap_block` for every block, blocks in parallel (nothing else here:
    see ``_PRANGE_ONLY``)."""
    for block in numba.prange(blocks):
        _swap_block(block, blocks, rows, is_open, can_open, best, best_site, second, slot, tables)


@njit(cache=True)
def interchange_sorted(
    rows: Rows,
    is_open: np.ndarray,
    can_open: np.ndarray,
    removable: np.ndarray,
    penalty: float,
    tolerance: float,
    max_swaps: int,
) -> int:
    """Best-improvement interchange with gain / loss / extra bookkeeping (Whitaker 1983;
    Resende & Werneck 2007); returns the number of swaps applied.

    With b1_i, s1_i, b2_i the cheapest open cost, its site and the second-cheapest open cost,
    closing an open site r and opening a closed site j changes the total cost by

        Δ(j, r) = −gain_j + loss_r − extra(r, j),
        gain_j = Σ_i max(0, b1_i − c_ij),   loss_r = Σ_{i: s1_i = r} (b2_i − b1_i),
        extra(r, j) = Σ_{i: s1_i = r, c_ij < b2_i} (b2_i − max(c_ij, b1_i)).

    One pass reads each row only up to b2_i (a prefix of the ascending row, near part first,
    :func:`near_rows`) and fills the (open removable sites × sites) table of extra; the best
    swap is applied while Δ < −``tolerance``. A pair missing from a row only makes b2_i
    larger (the loss of closing r is then overestimated), so every swap applied lowers the
    true cost. The pass runs in
    ``_SWAP_BLOCKS`` fixed row blocks in parallel, each with its own table (one block, in row
    order, below ``_PARALLEL_MIN_PAIRS`` pairs).
    """
    start, cost = rows[0], rows[2]
    n = start.shape[0] - 1
    m = is_open.shape[0]
    best = np.empty(n)
    second = np.empty(n)
    best_site = np.empty(n, dtype=np.int64)
    slot = np.full(m, -1, dtype=np.int64)
    blocks = _blocks(cost.shape[0], _SWAP_BLOCKS)
    swaps = 0
    while swaps < max_swaps:
        nearest_two_sorted(rows, is_open, penalty, best, best_site, second)
        open_list = np.flatnonzero(is_open & removable)
        q = open_list.shape[0]
        if q == 0:
            return swaps
        slot[:] = -1
        for s in range(q):
            slot[open_list[s]] = s
        extra_part = np.zeros((blocks, q, m))
        gain_part = np.zeros((blocks, m))
        loss_part = np.zeros((blocks, m))
        tables = (extra_part, gain_part, loss_part)
        if blocks == 1:  # no parallel region: see _blocks
            _swap_block(0, 1, rows, is_open, can_open, best, best_site, second, slot, tables)
        else:
            _swap_parallel(blocks, rows, is_open, can_open, best, best_site, second, slot, tables)
        extra, gain, loss = extra_part[0], gain_part[0], loss_part[0]
        for block in range(1, blocks):
            extra += extra_part[block]
            gain += gain_part[block]
            loss += loss_part[block]
        best_delta = np.inf
        entering = -1
        leaving = -1
        for j in range(m):
            if is_open[j] or not can_open[j]:
                continue
            for s in range(q):
                delta = loss[open_list[s]] - extra[s, j] - gain[j]
                if delta < best_delta:
                    best_delta = delta
                    entering = j
                    leaving = open_list[s]
        if entering < 0 or best_delta >= -tolerance:
            return swaps
        is_open[entering] = True
        is_open[leaving] = False
        swaps += 1
    return swaps


@njit(cache=True)
def candidate_pairs(
    start: np.ndarray,
    site: np.ndarray,
    distance: np.ndarray,
    allowed: np.ndarray,
    fixed: np.ndarray,
    rank: int,
    cap: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The pairs (i, j) with j allowed and d_ij ≤ T_i = min(cap_i, F_i, C_i), rows ascending.

    F_i is d_ij of i's nearest fixed site, C_i that of its (``rank`` + 1)-th nearest allowed
    site; both are met while reading the ascending row, so the row is read only up to T_i.
    Returns the kept row offsets, sites, distances, and T_i (``cap_i`` when no rule applies).
    """
    n = start.shape[0] - 1
    threshold = cap.copy()
    new_start = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        seen = 0
        kept = 0
        for k in range(start[i], start[i + 1]):
            j = site[k]
            if not allowed[j]:
                continue
            d = distance[k]
            if d > threshold[i]:
                break
            kept += 1
            if seen == rank or fixed[j]:
                threshold[i] = min(threshold[i], d)
            seen += 1
        new_start[i + 1] = new_start[i] + kept
    new_site = np.empty(new_start[n], dtype=np.int64)
    new_distance = np.empty(new_start[n])
    for i in range(n):
        position = new_start[i]
        end = new_start[i + 1]
        for k in range(start[i], start[i + 1]):
            if position == end:
                break
            if allowed[site[k]]:
                new_site[position] = site[k]
                new_distance[position] = distance[k]
                position += 1
    return new_start, new_site, new_distance, threshold


_BUCKET_LIMIT = 32
""":func:`stable_order` falls back to a merge sort when a bucket holds more values than this
(clustered values: insertion within a bucket would then cost its size squared)."""


@njit(cache=True)
def stable_order(values: np.ndarray) -> np.ndarray:
    """The stable ascending order of finite ``values``: ``np.argsort(values, kind="stable")``.

    A bucket sort: as many buckets as values between the smallest and the largest, filled in
    index order, then insertion within each bucket (stable: a value moves only past larger
    ones). The bucket of v, ⌊(v − lo) · scale⌋, never decreases as v grows, so the order is
    exactly the merge sort's. Expected linear time on spread-out values, as a row's
    distances are; a crowded bucket (> ``_BUCKET_LIMIT``) sends the row to the merge sort.
    """
    size = values.shape[0]
    if size < 2:
        return np.arange(size)
    low = values.min()
    high = values.max()
    if not high > low:
        return np.arange(size)  # all equal: already in index order
    scale = size / (high - low)
    bucket = np.empty(size, dtype=np.int64)
    filled = np.zeros(size + 1, dtype=np.int64)
    for t in range(size):
        b = min(int((values[t] - low) * scale), size - 1)
        bucket[t] = b
        filled[b + 1] += 1
    for b in range(size):
        if filled[b + 1] > _BUCKET_LIMIT:
            return np.argsort(values, kind="mergesort")
        filled[b + 1] += filled[b]
    order = np.empty(size, dtype=np.int64)
    for t in range(size):
        order[filled[bucket[t]]] = t
        filled[bucket[t]] += 1
    # insertion: a value of a later bucket is larger than any of an earlier one, so values
    # only move within their bucket
    for t in range(1, size):
        moving = order[t]
        value = values[moving]
        u = t
        while u > 0 and values[order[u - 1]] > value:
            order[u] = order[u - 1]
            u -= 1
        order[u] = moving
    return order


@njit(cache=True, parallel=_PRANGE_ONLY)
def dense_candidate_pairs(
    dense: np.ndarray, allowed: np.ndarray, fixed: np.ndarray, rank: int, cap: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`candidate_pairs` read straight from a dense (n, m) cost array.

    The same result as :func:`sort_rows` on the array's finite entries followed by
    :func:`candidate_pairs`, without sorting or storing the pairs beyond T_i: a first pass
    finds T_i = min(cap_i, F_i, C_i) per row (C_i by selection, not by sorting the row), a
    second sorts only the entries within T_i, by (d_ij, j). Rows run in parallel.
    """
    n, m = dense.shape
    threshold = cap.copy()
    count = np.zeros(n, dtype=np.int64)
    for i in numba.prange(n):
        values = np.empty(m)
        seen = 0
        limit = cap[i]
        for j in range(m):
            d = dense[i, j]
            if allowed[j] and np.isfinite(d):
                values[seen] = d
                seen += 1
                if fixed[j] and d < limit:
                    limit = d
        if seen > rank:
            kth = np.partition(values[:seen], rank)[rank]
            if kth < limit:
                limit = kth
        threshold[i] = limit
        kept = 0
        for t in range(seen):
            if values[t] <= limit:
                kept += 1
        count[i] = kept
    new_start = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        new_start[i + 1] = new_start[i] + count[i]
    site = np.empty(new_start[n], dtype=np.int64)
    distance = np.empty(new_start[n])
    for i in numba.prange(n):
        columns = np.empty(count[i], dtype=np.int64)
        values = np.empty(count[i])
        kept = 0
        for j in range(m):
            d = dense[i, j]
            if allowed[j] and np.isfinite(d) and d <= threshold[i]:
                columns[kept] = j
                values[kept] = d
                kept += 1
        order = stable_order(values)  # ties stay in ascending j
        first = new_start[i]
        for t in range(kept):
            site[first + t] = columns[order[t]]
            distance[first + t] = values[order[t]]
    return new_start, site, distance, threshold


@njit(cache=True)
def row_scaled(start: np.ndarray, scale: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` of each CSR row i times ``scale[i]`` (w_i d_ij from the row offsets, without
    a demand index per pair)."""
    out = np.empty(values.shape[0])
    for i in range(start.shape[0] - 1):
        for k in range(start[i], start[i + 1]):
            out[k] = scale[i] * values[k]
    return out


@njit(cache=True)
def ascending_within_rows(start: np.ndarray, cost: np.ndarray) -> bool:
    """True when ``cost`` never decreases within a row of the CSR layout ``start``."""
    for i in range(start.shape[0] - 1):
        for k in range(start[i] + 1, start[i + 1]):
            if cost[k] < cost[k - 1]:
                return False
    return True


@njit(cache=True)
def surviving_reach(
    start: np.ndarray,
    site: np.ndarray,
    cost: np.ndarray,
    distance: np.ndarray,
    multiplier: np.ndarray,
    chosen: np.ndarray,
    value: np.ndarray,
    last: float,
    slack: float,
    closed: np.ndarray,
) -> np.ndarray:
    """U_i of :func:`optiserv.formulations.p_median.reduce_by_bound`: the largest d_ij of a
    pair of row i whose forced use, x_ij = 1, raises the bound by at most ``slack`` (by
    max(0, c_ij − λ_i), plus ρ_j − ρ_last when j is outside the subproblem's plan) and whose
    site is not closed; ``inf`` for a row with no such pair."""
    n = start.shape[0] - 1
    reach = np.full(n, np.inf)
    for i in range(n):
        largest = -np.inf
        for k in range(start[i], start[i + 1]):
            j = site[k]
            if closed[j]:
                continue
            increase = max(0.0, cost[k] - multiplier[i])
            if not chosen[j]:
                increase += value[j] - last
            if not increase > slack and distance[k] > largest:
                largest = distance[k]
        if largest > -np.inf:
            reach[i] = largest
    return reach
