"""Numba kernel: cutoff shortest paths with a bucket queue. Only numpy and numba are imported.

Costs are grouped into buckets of a fixed ``width``: bucket b holds the nodes whose current
cost d satisfies ``floor(d / width) == b``. The search empties bucket 0, then 1, 2, ...
Within a bucket, nodes are scanned in any order, and a node improved through a shorter arc
while its bucket is being emptied is scanned again (label-correcting inside a bucket, as in
Δ-stepping). This gives exactly the costs of Dijkstra's method:

* the cost of node v converges to d(v) = min over in-arcs (u, v) of fl(d(u) + w_uv), the
  least fixed point reached from d(source) = 0, which is the minimum over paths of the arc
  weights summed from the source in path order; Dijkstra's method computes the same minimum,
  because float64 addition of a non-negative weight is monotone (a ≤ b ⇒ fl(a + w) ≤ fl(b + w)),
  so both give identical float64 values, not merely equal up to rounding;
* when the search leaves bucket b, every node whose final cost lies in bucket ≤ b has been
  scanned at that cost: the nodes of a shortest path have non-decreasing costs, hence
  non-decreasing buckets, and each was scanned before its successor's bucket was emptied.

A push is O(1) (append to the bucket's list) and a pop is O(1), against O(log k) for a heap
of k entries. Each bucket is a first-in first-out list, so that inside a bucket the search is
the Bellman-Ford-Moore method, polynomial even where short arcs cause many rescans. Buckets
live on a ring of ``n_buckets`` lists, enough to hold every cost that can be pending at once:
pending costs lie within ``max arc weight`` of the bucket being emptied. Entries left behind
by an improvement are skipped when met (lazy deletion).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from optiserv.geometry.network._kernels import append_found

__all__ = ["bucket_costs_from_sources"]

_INITIAL_OUTPUT = 65_536
_NONE = -1
"""End of a bucket's list of entries."""
_UNSCANNED = -1.0
"""``scanned`` value of a node not scanned at any cost yet (every cost is ≥ 0)."""


@njit(cache=True, nogil=True)
def bucket_costs_from_sources(
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
    width: float,
    n_buckets: int,
    pool: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Costs from each source to every point within its limit, with a bucket queue.

    Parameters
    ----------
    indptr, heads, weights, sources, source_offsets, point_start, point_ids, point_offsets,
    cutoff
        As in :func:`~optiserv.geometry.network._kernels.costs_from_sources`.
    limits
        (k,) largest network cost explored from each source: finite; a negative limit skips
        the source.
    width
        Bucket width, > 0, in the unit of the weights. Any width gives the same costs; a
        width near the shorter arc weights keeps rescans and empty buckets both rare.
    n_buckets
        Ring size: at least ``floor(min(max weight, max limit) / width) + 4``.
    pool
        Initial room for queue entries (≥ 1), doubled whenever a search needs more;
        ``n_arcs + 1`` is enough unless nodes are rescanned.

    Returns
    -------
    points, sources, costs
        int32 point ids, int32 positions in ``sources`` and float64 total costs, grouped by
        source in source order; within a source, in the order the search first reached the
        points' nodes.
    """
    n_nodes = indptr.shape[0] - 1
    scale = 1.0 / width
    distance = np.full(n_nodes, np.inf)
    scanned = np.full(n_nodes, _UNSCANNED)
    touched = np.empty(n_nodes, dtype=np.int32)
    first = np.full(n_buckets, _NONE, dtype=np.int32)
    last = np.empty(n_buckets, dtype=np.int32)
    # Every entry but the source's follows an improvement through one arc, once per scan of
    # the arc's tail: n_arcs + 1 entries suffice unless nodes are rescanned; else they grow.
    entry_node = np.empty(max(pool, 1), dtype=np.int32)
    entry_next = np.empty(max(pool, 1), dtype=np.int32)
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
        offset = source_offsets[k]
        n_touched = _search(
            indptr, heads, weights, sources[k], limit, scale, distance, scanned, touched,
            first, last, entry_node, entry_next,
        )  # fmt: skip
        while n_touched < 0:  # the entry pool ran out (the search undid its marks): grow it
            entry_node = np.empty(2 * entry_node.shape[0], dtype=np.int32)
            entry_next = np.empty(2 * entry_next.shape[0], dtype=np.int32)
            n_touched = _search(
                indptr, heads, weights, sources[k], limit, scale, distance, scanned, touched,
                first, last, entry_node, entry_next,
            )  # fmt: skip
        n_found = 0
        for t in range(n_touched):
            node = touched[t]
            here = distance[node]
            for p in range(point_start[node], point_start[node + 1]):
                total = here + point_offsets[p] + offset
                if total <= cutoff:
                    found_points[n_found] = point_ids[p]
                    found_costs[n_found] = total
                    n_found += 1
            distance[node] = np.inf
            scanned[node] = _UNSCANNED
        out_points, out_sources, out_costs, count = append_found(
            out_points, out_sources, out_costs, count, found_points, found_costs, n_found, k
        )
    return out_points[:count].copy(), out_sources[:count].copy(), out_costs[:count].copy()


@njit(cache=True, nogil=True)
def _search(
    indptr: np.ndarray,
    heads: np.ndarray,
    weights: np.ndarray,
    start: int,
    limit: float,
    scale: float,
    distance: np.ndarray,
    scanned: np.ndarray,
    touched: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    entry_node: np.ndarray,
    entry_next: np.ndarray,
) -> int:
    """One search from ``start``, leaving final costs in ``distance``.

        Returns the number of nodes reached, listed in ``touched``; the caller resets their
        ``distance`` and ``scanned``. Returns -1, with every mark undone, if the entry pool is too
        small. ``scale`` is 1 / width; the ring has ``first.shape[0]`` slots, all empty; bucket
    lists run from ``first`` to ``last`` through ``entry_next``.
    """
    n_buckets = first.shape[0]
    capacity = entry_node.shape[0]
    distance[start] = 0.0
    touched[0] = start
    n_touched = 1
    entry_node[0] = start
    entry_next[0] = _NONE
    first[0] = 0
    last[0] = 0
    n_entries = 1
    pending = 1
    bucket = 0
    while pending > 0:
        current = bucket % n_buckets
        while first[current] != _NONE:
            entry = first[current]
            first[current] = entry_next[entry]
            pending -= 1
            node = entry_node[entry]
            here = distance[node]
            if here == scanned[node] or np.int64(here * scale) != bucket:
                continue  # scanned at this cost already, or improved into another bucket
            scanned[node] = here
            for arc in range(indptr[node], indptr[node + 1]):
                head = heads[arc]
                candidate = here + weights[arc]
                if candidate <= limit and candidate < distance[head]:
                    if n_entries == capacity:
                        first[:] = _NONE
                        for t in range(n_touched):
                            distance[touched[t]] = np.inf
                            scanned[touched[t]] = _UNSCANNED
                        return -1
                    if distance[head] == np.inf:
                        touched[n_touched] = head
                        n_touched += 1
                    distance[head] = candidate
                    target = np.int64(candidate * scale) % n_buckets
                    entry_node[n_entries] = head
                    entry_next[n_entries] = _NONE
                    if first[target] == _NONE:
                        first[target] = n_entries
                    else:
                        entry_next[last[target]] = n_entries
                    last[target] = n_entries
                    n_entries += 1
                    pending += 1
        bucket += 1
    return n_touched
