"""Numba kernels for shortest paths on the road graph. Only numpy and numba are imported here.

Fastmath is off: ``inf`` marks unreached nodes and must compare correctly. The kernels release
the GIL (``nogil=True``) so that the caller can run blocks of sources on a thread pool; each
call owns its buffers, so calls never share writable memory.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["costs_from_sources", "stable_group"]

_INITIAL_OUTPUT = 65_536


@njit(cache=True, nogil=True, inline="always")
def _push(keys: np.ndarray, nodes: np.ndarray, size: int, key: float, node: int) -> None:
    """Insert (key, node) into a 4-ary min-heap of ``size`` entries; the caller checks room."""
    position = size
    while position > 0:
        parent = (position - 1) >> 2
        if keys[parent] <= key:
            break
        keys[position] = keys[parent]
        nodes[position] = nodes[parent]
        position = parent
    keys[position] = key
    nodes[position] = node


@njit(cache=True, nogil=True, inline="always")
def _pop_last_into_root(keys: np.ndarray, nodes: np.ndarray, size: int) -> None:
    """Remove the root of a 4-ary heap whose new size is ``size`` (the old last entry sinks)."""
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
        nodes[position] = nodes[smallest]
        position = smallest
    keys[position] = key
    nodes[position] = node


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
        Cost added per point (its off-network leg), indexed by point id.
    cutoff
        A pair is reported when ``network + point offset + source offset <= cutoff``.

    Returns
    -------
    points, sources, costs
        int32 point ids, int32 positions in ``sources`` and float64 total costs. Entries are
        grouped by source, in source order; within a source, in the order the search reached
        the points' nodes.
    """
    n_nodes = indptr.shape[0] - 1
    distance = np.full(n_nodes, np.inf)
    touched = np.empty(n_nodes, dtype=np.int32)
    # Every push follows an improvement through one arc, and each arc is relaxed at most once
    # per search, so the heap never holds more than n_arcs + 1 entries: it never grows.
    heap_keys = np.empty(heads.shape[0] + 1, dtype=np.float64)
    heap_nodes = np.empty(heads.shape[0] + 1, dtype=np.int32)
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
        size = 1
        n_found = 0
        while size > 0:
            here = heap_keys[0]
            node = heap_nodes[0]
            size -= 1
            if size > 0:
                _pop_last_into_root(heap_keys, heap_nodes, size)
            if here > distance[node]:
                continue  # a stale entry: the node was reached more cheaply since
            for p in range(point_start[node], point_start[node + 1]):
                point = point_ids[p]
                total = here + point_offsets[point] + offset
                if total <= cutoff:
                    found_points[n_found] = point
                    found_costs[n_found] = total
                    n_found += 1
            for arc in range(indptr[node], indptr[node + 1]):
                head = heads[arc]
                candidate = here + weights[arc]
                if candidate <= limit and candidate < distance[head]:
                    if distance[head] == np.inf:
                        touched[n_touched] = head
                        n_touched += 1
                    distance[head] = candidate
                    _push(heap_keys, heap_nodes, size, candidate, head)
                    size += 1
        for t in range(n_touched):
            distance[touched[t]] = np.inf
        if count + n_found > out_points.shape[0]:
            capacity = max(2 * out_points.shape[0], count + n_found)
            out_points = _grow_int32(out_points, capacity)
            out_sources = _grow_int32(out_sources, capacity)
            out_costs = _grow_float64(out_costs, capacity)
        out_points[count : count + n_found] = found_points[:n_found]
        out_sources[count : count + n_found] = k
        out_costs[count : count + n_found] = found_costs[:n_found]
        count += n_found
    return out_points[:count].copy(), out_sources[:count].copy(), out_costs[:count].copy()


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
