"""Distances between demand points and sites: dense, radius-limited sparse, nearest-k.

Public functions validate and dispatch; the numeric work happens in :mod:`._kernels`.
Euclidean distances are in the coordinates' unit (metres in a metric CRS). Haversine takes
lon/lat degrees and returns great-circle metres on a sphere of radius :data:`EARTH_RADIUS`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from optiserv.data import CostMatrix, Instance, Metric
from optiserv.geometry import _kernels

__all__ = ["EARTH_RADIUS", "nearest", "pairwise", "travel_costs", "within_radius"]

EARTH_RADIUS = 6_371_008.8
"""Mean Earth radius in metres (IUGG)."""


def _as_points(points: NDArray) -> NDArray[np.float64]:
    return np.ascontiguousarray(points, dtype=np.float64)


def pairwise(a: NDArray, b: NDArray, metric: Metric = "euclidean") -> NDArray[np.float64]:
    """Dense (len(a), len(b)) distance matrix."""
    a, b = _as_points(a), _as_points(b)
    if metric == "haversine":
        return _kernels.haversine_dense(a, b, EARTH_RADIUS)
    return _kernels.euclidean_dense(a, b)


def _unit_vectors(lonlat: NDArray[np.float64]) -> NDArray[np.float64]:
    lon, lat = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    return np.column_stack((np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)))


def within_radius(
    a: NDArray, b: NDArray, radius: float, metric: Metric = "euclidean"
) -> CostMatrix:
    """Sparse distances for the pairs with d ≤ radius (closed interval).

    Candidate pairs come from a KD-tree over ``b``; no n×m matrix is formed. For haversine
    the tree holds 3-d unit vectors and the great-circle radius becomes a chord length.
    """
    a, b = _as_points(a), _as_points(b)
    if metric == "haversine":
        tree_a, tree_b = _unit_vectors(a), _unit_vectors(b)
        angle = min(radius / EARTH_RADIUS, np.pi)
        search = 2.0 * np.sin(angle / 2.0) * (1.0 + 1e-9)
    else:
        tree_a, tree_b = a, b
        search = radius * (1.0 + 1e-12) + 1e-9
    tree = cKDTree(tree_b)
    neighbours = tree.query_ball_point(tree_a, r=search, return_sorted=True)
    counts = np.fromiter((len(x) for x in neighbours), dtype=np.int64, count=len(neighbours))
    indptr = np.zeros(a.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = (
        np.fromiter((j for row in neighbours for j in row), dtype=np.int32, count=int(indptr[-1]))
        if indptr[-1]
        else np.zeros(0, dtype=np.int32)
    )
    rows = np.repeat(np.arange(a.shape[0]), counts)
    if metric == "haversine":
        data = _kernels.haversine_pairs(a, b, rows, indices, EARTH_RADIUS)
    else:
        data = _kernels.euclidean_pairs(a, b, rows, indices)
    keep = data <= radius
    per_row = np.bincount(rows[keep], minlength=a.shape[0])
    indptr[1:] = np.cumsum(per_row)
    return CostMatrix(indptr, indices[keep], data[keep], (a.shape[0], b.shape[0]), "metre")


def nearest(
    a: NDArray, b: NDArray, k: int, metric: Metric = "euclidean"
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The k nearest sites of every demand point: (indices, distances), each (n, k), sorted."""
    a, b = _as_points(a), _as_points(b)
    k = int(min(k, b.shape[0]))
    if metric == "haversine":
        _, index = cKDTree(_unit_vectors(b)).query(_unit_vectors(a), k=k)
    else:
        _, index = cKDTree(b).query(a, k=k)
    index = np.asarray(index, dtype=np.int64).reshape(a.shape[0], k)
    rows = np.repeat(np.arange(a.shape[0]), k)
    flat = index.ravel()
    if metric == "haversine":
        dist = _kernels.haversine_pairs(a, b, rows, flat.astype(np.int32), EARTH_RADIUS)
    else:
        dist = _kernels.euclidean_pairs(a, b, rows, flat.astype(np.int32))
    return index, dist.reshape(a.shape[0], k)


def travel_costs(instance: Instance, cutoff: float | None = None) -> CostMatrix:
    """d_ij for an instance: the user's cost matrix when given, otherwise computed distances.

    With a ``cutoff`` only pairs with d_ij ≤ cutoff are kept (radius search, never n×m);
    without one, every pair is stored.
    """
    if instance.costs is not None:
        return instance.costs if cutoff is None else instance.costs.within(cutoff)
    demand, sites = instance.demand.coordinates, instance.sites.coordinates
    if cutoff is None:
        return CostMatrix.from_dense(pairwise(demand, sites, instance.metric))
    return within_radius(demand, sites, cutoff, instance.metric)
