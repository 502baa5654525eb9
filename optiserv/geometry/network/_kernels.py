"""Numba kernels for shortest paths on the road graph. Only numpy and numba are imported here.

Fastmath is off: ``inf`` marks unreached nodes and must compare correctly. The kernels release
the GIL (``nogil=True``) so that the caller can run blocks of sources on a thread pool; each
call owns its buffers, so calls never share writable memory.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["append_found", "costs_from_sources", "csr_from_pairs", "stable_group"]

_INITIAL_OUTPUT = 65_536


_IDLE = -1
"""Heap position of a node not yet reached in the current search."""
_SETTLED = -2
"""Heap position of a node whose cost is final in the current search."""


@njit(cache=True, nogil=True, inline="always")
def _sift_up(
    keys: np.ndarray, nodes: np.ndarray, where: np.ndarray, position: int, key: float, node: int
) -> None:
    """Move (key, node) up a 4-ary min-heap from ``position``, keeping ``where`` in step."""
    while position > 0:
        parent = (position - 1) >> 2
        parent_key = keys[parent]
        if parent_key <= key:
            break
        keys[position] = parent_key
        moved = nodes[parent]
        nodes[position] = moved
        where[moved] = position
        position = parent
    keys[position] = key
    nodes[position] = node
    where[node] = position


@njit(cache=True, nogil=True, inline="always")
def _sift_last_down(keys: np.ndarray, nodes: np.ndarray, where: np.ndarray, size: int) -> None:
    """After the root left a 4-ary heap now of ``size`` entries, sink the old last entry."""
    key = keys[size]
    node = nodes[size]
    position = 0
    while True:
        first = 4 * position + 1
        if first >= size:
            break
        smallest = first
        smallest_key = keys[first]
        for child in range(first + 1, min(first + 4, size)):
            if keys[child] < smallest_key:
                smallest = child
                smallest_key = keys[child]
        if smallest_key >= key:
            break
        keys[position] = smallest_key
        moved = nodes[smallest]
        nodes[position] = moved
        where[moved] = position
        position = smallest
    keys[position] = key
    nodes[position] = node
    where[node] = position


@njit(cache=True, nogil=True)
def costs_from_sources(
    indptr: np.ndarray,
    heads: np.ndarray,
    weights: np.ndarray,
    sources: np.ndarray,
    source_offsets: np.ndarray,
    limits: np.ndarray,
    point_start: np.ndarray,
    point_ids: np.ndarray,
    point_offsets: np.ndarray,
    cutoff: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dijkstra from each source with a cutoff, reporting the cost to every point reached.

    Each search settles nodes in increasing cost d(v) = min over paths of the arc weights
    summed from the source in path order (float64, the same sums as any label-setting or
    label-correcting method), and stops when the next cost exceeds the source's limit. The
    queue is a 4-ary min-heap with decrease-key: each node is in it at most once.

    Parameters
    ----------
    indptr, heads, weights
        The searched graph in CSR layout (int64, int32, float64); weights are non-negative.
    sources
        (k,) start node of each search.
    source_offsets
        (k,) cost added once per search (the source's own off-network leg).
    limits
        (k,) largest network cost explored from each source; a negative limit skips it.
    point_start, point_ids
        Points grouped by node: the points at node v are
        ``point_ids[point_start[v]:point_start[v + 1]]``.
    point_offsets
        Cost added per point (its off-network leg), in the grouped order of ``point_ids``:
        ``point_offsets[p]`` belongs to point ``point_ids[p]``.
    cutoff
        A pair is reported when ``network + point offset + source offset <= cutoff``.

    Returns
    -------
    points, sources, costs
        int32 point ids, int32 positions in ``sources`` and float64 total costs. Entries are
        grouped by source, in source order; within a source, in the order the search settled
        the points' nodes.
    """
    n_nodes = indptr.shape[0] - 1
    distance = np.full(n_nodes, np.inf)
    where = np.full(n_nodes, _IDLE, dtype=np.int32)
    touched = np.empty(n_nodes, dtype=np.int32)
    heap_keys = np.empty(n_nodes, dtype=np.float64)
    heap_nodes = np.empty(n_nodes, dtype=np.int32)
    # One search reports each point at most once, so per-search buffers never grow either;
    # only the output grows, between searches, which keeps the search loop free of it.
    found_points = np.empty(point_ids.shape[0], dtype=np.int32)
    found_costs = np.empty(point_ids.shape[0], dtype=np.float64)
    out_points = np.empty(_INITIAL_OUTPUT, dtype=np.int32)
    out_sources = np.empty(_INITIAL_OUTPUT, dtype=np.int32)
    out_costs = np.empty(_INITIAL_OUTPUT, dtype=np.float64)
    count = 0
    for k in range(sources.shape[0]):
        limit = limits[k]
        if not limit >= 0.0:
            continue
        start = sources[k]
        offset = source_offsets[k]
        distance[start] = 0.0
        touched[0] = start
        n_touched = 1
        heap_keys[0] = 0.0
        heap_nodes[0] = start
        where[start] = 0
        size = 1
        n_found = 0
        while size > 0:
            here = heap_keys[0]
            node = heap_nodes[0]
            where[node] = _SETTLED
            size -= 1
            if size > 0:
                _sift_last_down(heap_keys, heap_nodes, where, size)
            for p in range(point_start[node], point_start[node + 1]):
                total = here + point_offsets[p] + offset
                if total <= cutoff:
                    found_points[n_found] = point_ids[p]
                    found_costs[n_found] = total
                    n_found += 1
            for arc in range(indptr[node], indptr[node + 1]):
                head = heads[arc]
                candidate = here + weights[arc]
                if candidate <= limit and candidate < distance[head]:
                    position = where[head]
                    if position == _IDLE:
                        touched[n_touched] = head
                        n_touched += 1
                        position = size
                        size += 1
                    distance[head] = candidate
                    _sift_up(heap_keys, heap_nodes, where, position, candidate, head)
        for t in range(n_touched):
            distance[touched[t]] = np.inf
            where[touched[t]] = _IDLE
        out_points, out_sources, out_costs, count = append_found(
            out_points, out_sources, out_costs, count, found_points, found_costs, n_found, k
        )
    return out_points[:count].copy(), out_sources[:count].copy(), out_costs[:count].copy()


@njit(cache=True, nogil=True)
def append_found(
    out_points: np.ndarray,
    out_sources: np.ndarray,
    out_costs: np.ndarray,
    count: int,
    found_points: np.ndarray,
    found_costs: np.ndarray,
    n_found: int,
    source: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Append one search's ``n_found`` pairs to the output, doubling its room when full."""
    if count + n_found > out_points.shape[0]:
        capacity = max(2 * out_points.shape[0], count + n_found)
        out_points = _grow_int32(out_points, capacity)
        out_sources = _grow_int32(out_sources, capacity)
        out_costs = _grow_float64(out_costs, capacity)
    out_points[count : count + n_found] = found_points[:n_found]
    out_sources[count : count + n_found] = source
    out_costs[count : count + n_found] = found_costs[:n_found]
    return out_points, out_sources, out_costs, count + n_found


@njit(cache=True, nogil=True)
def _grow_int32(values: np.ndarray, capacity: int) -> np.ndarray:
    out = np.empty(capacity, dtype=np.int32)
    out[: values.shape[0]] = values
    return out


@njit(cache=True, nogil=True)
def _grow_float64(values: np.ndarray, capacity: int) -> np.ndarray:
    out = np.empty(capacity, dtype=np.float64)
    out[: values.shape[0]] = values
    return out


@njit(cache=True, nogil=True)
def stable_group(keys: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Counting sort: group positions by key, keeping their order within each group.

    Parameters
    ----------
    keys
        (k,) integer keys in ``0 .. n_groups - 1``.
    n_groups
        Number of possible keys.

    Returns
    -------
    start, order
        ``start`` (n_groups + 1,) int64 offsets and ``order`` (k,) int64 positions: the
        positions with key g are ``order[start[g]:start[g + 1]]``, in increasing order.
    """
    start = np.zeros(n_groups + 1, dtype=np.int64)
    for position in range(keys.shape[0]):
        start[keys[position] + 1] += 1
    for group in range(n_groups):
        start[group + 1] += start[group]
    fill = start[:-1].copy()
    order = np.empty(keys.shape[0], dtype=np.int64)
    for position in range(keys.shape[0]):
        key = keys[position]
        order[fill[key]] = position
        fill[key] += 1
    return start, order


@njit(cache=True, nogil=True)
def csr_from_pairs(
    rows: np.ndarray, columns: np.ndarray, values: np.ndarray, n_rows: int, n_columns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays of unique (row, column) → value pairs given in any order.

    Two counting sorts: the pairs are first ordered by column, then placed row by row in that
    order, so that the columns increase within every row whatever order the pairs came in.
    O(nnz + n_rows + n_columns) time.

    Parameters
    ----------
    rows, columns
        (nnz,) integer row in ``0 .. n_rows - 1`` and column in ``0 .. n_columns - 1`` of each
        pair; no pair may appear twice.
    values
        (nnz,) float64 value of each pair.
    n_rows, n_columns
        Shape of the matrix.

    Returns
    -------
    indptr, indices, data
        int64 row pointer (n_rows + 1,), int32 column indices and float64 values (nnz,).
    """
    n_pairs = rows.shape[0]
    column_start = np.zeros(n_columns + 1, dtype=np.int64)
    for k in range(n_pairs):
        column_start[columns[k] + 1] += 1
    for column in range(n_columns):
        column_start[column + 1] += column_start[column]
    by_column = np.empty(n_pairs, dtype=np.int64)
    for k in range(n_pairs):
        column = columns[k]
        by_column[column_start[column]] = k
        column_start[column] += 1
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for k in range(n_pairs):
        indptr[rows[k] + 1] += 1
    for row in range(n_rows):
        indptr[row + 1] += indptr[row]
    fill = indptr[:-1].copy()
    indices = np.empty(n_pairs, dtype=np.int32)
    data = np.empty(n_pairs, dtype=np.float64)
    for position in range(n_pairs):
        k = by_column[position]
        row = rows[k]
        slot = fill[row]
        indices[slot] = columns[k]
        data[slot] = values[k]
        fill[row] = slot + 1
    return indptr, indices, data
