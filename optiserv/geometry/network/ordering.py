"""Orders that keep nearby things together in memory: a Hilbert curve over coordinates.

A shortest-path search with a cutoff touches a compact patch of the road network. Two
orders decide how much of that patch is still in the processor's caches when the next
search starts:

* the order of the **nodes** in the CSR arrays: numbered along a space-filling curve, a
  patch of the map is a few runs of consecutive array entries instead of one short run per
  row of a scan-line order, or scattered entries in the order of the source file;
* the order in which **sites** are searched: consecutive sites along the curve are
  neighbours, so their searches cover largely the same nodes and arcs.

Only speed depends on these orders, never a cost: a search gives the same sums on any
numbering of the nodes, and the results of all sites are put back in site order.

The Hilbert index ``h(x, y)`` of a point on a ``2^b × 2^b`` grid is its position along the
Hilbert curve that visits every cell once, each step to an edge-adjacent cell; cells close
along the curve are close on the map. Coordinates are scaled to that grid first.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["hilbert_index", "locality_order"]

_BITS = 16
"""Grid resolution of the curve: 2^16 cells per side (a cell is ~6 m on a 400 km region)."""


def hilbert_index(points: NDArray[np.float64], bits: int = _BITS) -> NDArray[np.int64]:
    """Position of each point along a Hilbert curve over the points' bounding box.

    Parameters
    ----------
    points
        (k, 2) coordinates (any planar or lon/lat pair; only their order matters).
    bits
        The curve runs over a ``2^bits × 2^bits`` grid (1 ≤ bits ≤ 31).

    Returns
    -------
    numpy.ndarray
        (k,) int64 indices in ``0 .. 4^bits - 1``; points in the same grid cell share one.
    """
    points = np.asarray(points, dtype=np.float64)
    side = 1 << bits
    if points.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    low = points.min(axis=0)
    extent = np.maximum(points.max(axis=0) - low, np.finfo(np.float64).tiny)
    cells = np.minimum((points - low) / extent * side, side - 1).astype(np.int64)
    x, y = cells[:, 0].copy(), cells[:, 1].copy()
    index = np.zeros(points.shape[0], dtype=np.int64)
    step = side >> 1
    while step > 0:
        right = (x & step) > 0
        upper = (y & step) > 0
        # quadrant 0 (lower left), 1 (upper left), 2 (upper right), 3 (lower right)
        index += step * step * ((3 * right.astype(np.int64)) ^ upper.astype(np.int64))
        # turn the lower quadrants so that the sub-curve starts and ends where it must
        lower = ~upper
        mirror = lower & right
        x[mirror] = (side - 1) ^ x[mirror]
        y[mirror] = (side - 1) ^ y[mirror]
        x[lower], y[lower] = y[lower], x[lower]
        step >>= 1
    return index


def locality_order(points: NDArray[np.float64]) -> NDArray[np.int64]:
    """The permutation that sorts points along the Hilbert curve (ties kept in input order)."""
    return np.argsort(hilbert_index(points), kind="stable").astype(np.int64)
