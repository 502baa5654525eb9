"""Distances between demand points and sites: dense, radius-limited sparse, nearest-k.

Public functions validate and dispatch; the numeric work happens in :mod:`._kernels`.
Euclidean distances are in the coordinates' unit (metres in a metric CRS). Haversine takes
lon/lat degrees and returns great-circle metres on a sphere of radius :data:`EARTH_RADIUS`.

Every distance is computed by the same scalar kernel whichever function asks for it, so the
entries of :func:`within_radius` and :func:`nearest` equal the matching entries of
:func:`pairwise` exactly.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from optiserv.data import CostMatrix, Instance, Metric
from optiserv.exceptions import DataError, ParameterError
from optiserv.geometry import _kernels

__all__ = ["EARTH_RADIUS", "nearest", "pairwise", "travel_costs", "within_radius"]

EARTH_RADIUS = 6_371_008.8
"""Mean Earth radius in metres (IUGG)."""

_SEARCH_MARGIN = 1e-9
"""Relative widening of the KD-tree search radius; the exact filter in the kernel follows."""

_CANDIDATES_PER_CHUNK = 4_000_000
"""Target number of candidate pairs per chunk of demand points (bounds peak memory)."""

_MIN_CHUNK_ROWS = 1_024
_MAX_CHUNK_ROWS = 131_072
_SAMPLE_ROWS = 1_024


# ---------------------------------------------------------------------------- validation
def _as_points(points: ArrayLike, what: str) -> NDArray[np.float64]:
    """A C-contiguous (k, 2) float64 copy or view of ``points``."""
    array = np.ascontiguousarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise DataError(f"{what}: coordinates must have shape (k, 2), got {array.shape}")
    return array


def _check_metric(metric: str) -> None:
    if metric not in ("euclidean", "haversine"):
        raise ParameterError(f"metric must be 'euclidean' or 'haversine', got {metric!r}")


def _kernel_points(points: NDArray[np.float64], metric: Metric) -> NDArray[np.float64]:
    """The layout the kernels expect: planar (k, 2) or spherical (k, 3) radians."""
    if metric == "haversine":
        return _kernels.spherical_coordinates(points)
    return points


def _unit_vectors(lonlat: NDArray[np.float64]) -> NDArray[np.float64]:
    """(k, 3) points on the unit sphere for lon/lat degrees (where a KD-tree works)."""
    lon, lat = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    cos_lat = np.cos(lat)
    return np.column_stack((cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)))


# ---------------------------------------------------------------------------- dense
def pairwise(a: ArrayLike, b: ArrayLike, metric: Metric = "euclidean") -> NDArray[np.float64]:
    """Dense distance matrix between every demand point and every site.

    Parameters
    ----------
    a, b
        (n, 2) and (m, 2) coordinates: x, y in a metric unit for ``euclidean``; lon, lat
        in degrees for ``haversine``.
    metric
        ``euclidean`` (distance in the coordinates' unit) or ``haversine`` (metres).

    Returns
    -------
    ndarray
        (n, m) distances d_ij.
    """
    _check_metric(metric)
    a, b = _as_points(a, "demand"), _as_points(b, "sites")
    if metric == "haversine":
        return _kernels.haversine_dense(
            _kernels.spherical_coordinates(a), _kernels.spherical_coordinates(b), EARTH_RADIUS
        )
    return _kernels.euclidean_dense(a, b)


# ---------------------------------------------------------------------------- radius search
def _search_radius(radius: float, metric: Metric) -> float:
    """Radius for the KD-tree: a little wider than ``radius``, so no pair within it is missed.

    For haversine the tree holds unit vectors, and a great-circle distance ``radius`` is the
    chord 2 sin(radius / 2R).
    """
    if metric == "haversine":
        angle = radius / EARTH_RADIUS
        if angle >= math.pi:
            return 2.0 + _SEARCH_MARGIN
        return 2.0 * math.sin(0.5 * angle) * (1.0 + _SEARCH_MARGIN) + 1e-15
    return radius * (1.0 + _SEARCH_MARGIN)


def _chunk_rows(site_tree: cKDTree, demand_tree_points: NDArray[np.float64], search: float) -> int:
    """Demand points per chunk so that a chunk yields about ``_CANDIDATES_PER_CHUNK`` pairs.

    The number of sites per demand point is estimated from an evenly spaced sample.
    """
    n = demand_tree_points.shape[0]
    step = max(1, n // _SAMPLE_ROWS)
    counts = site_tree.query_ball_point(demand_tree_points[::step], search, return_length=True)
    per_row = max(1.0, float(np.mean(counts)))
    rows = int(_CANDIDATES_PER_CHUNK / per_row)
    return min(max(rows, _MIN_CHUNK_ROWS), _MAX_CHUNK_ROWS)


def within_radius(
    a: ArrayLike, b: ArrayLike, radius: float, metric: Metric = "euclidean"
) -> CostMatrix:
    """Sparse distances for the pairs with d_ij ≤ ``radius`` (a closed interval).

    Candidate pairs come from scipy's KD-tree (a tree over the sites, searched with trees
    over chunks of demand points); no n × m matrix is formed. The kernel then recomputes
    every candidate's exact distance, keeps those ≤ ``radius`` and writes the CSR rows
    (count, prefix sum, fill), sorted by site index. For haversine the trees hold 3-d unit
    vectors and the great-circle radius becomes a slightly widened chord length.

    Parameters
    ----------
    a, b
        (n, 2) demand and (m, 2) site coordinates: x, y for ``euclidean``; lon, lat degrees
        for ``haversine``.
    radius
        Largest distance kept: in the coordinates' unit for ``euclidean``, metres for
        ``haversine``. ``inf`` keeps every pair.
    metric
        ``euclidean`` or ``haversine``.

    Returns
    -------
    CostMatrix
        (n, m) distances in ``metre`` units; pairs further than ``radius`` are not stored.
    """
    _check_metric(metric)
    a, b = _as_points(a, "demand"), _as_points(b, "sites")
    radius = float(radius)
    if math.isnan(radius) or radius < 0:
        raise ParameterError(f"radius must be a non-negative number, got {radius}")
    n, m = a.shape[0], b.shape[0]
    if n == 0 or m == 0:
        return CostMatrix(
            np.zeros(n + 1, dtype=np.int64), np.zeros(0, np.int32), np.zeros(0), (n, m), "metre"
        )
    spherical = metric == "haversine"
    demand, sites = _kernel_points(a, metric), _kernel_points(b, metric)
    tree_a, tree_b = (_unit_vectors(a), _unit_vectors(b)) if spherical else (a, b)
    search = _search_radius(radius, metric)
    site_tree = cKDTree(tree_b)
    chunk = _chunk_rows(site_tree, tree_a, search)
    pointers, indices, data = [], [], []
    offset = 0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        # unbalanced, non-compact chunk trees build fastest and search as fast here
        demand_tree = cKDTree(tree_a[start:stop], balanced_tree=False, compact_nodes=False)
        pairs = site_tree.sparse_distance_matrix(demand_tree, search, output_type="ndarray")
        indptr, chunk_indices, chunk_data = _kernels.csr_from_candidates(
            pairs["j"], pairs["i"], demand[start:stop], sites, radius, spherical, EARTH_RADIUS
        )
        pointers.append(indptr[1:] + offset)
        offset += int(indptr[-1])
        indices.append(chunk_indices)
        data.append(chunk_data)
    indptr = np.concatenate([np.zeros(1, dtype=np.int64), *pointers])
    return CostMatrix(indptr, np.concatenate(indices), np.concatenate(data), (n, m), "metre")


# ---------------------------------------------------------------------------- nearest
def nearest(
    a: ArrayLike, b: ArrayLike, k: int, metric: Metric = "euclidean"
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The k nearest sites of every demand point.

    Parameters
    ----------
    a, b
        (n, 2) demand and (m, 2) site coordinates, as for :func:`pairwise`.
    k
        Neighbours wanted; at most m are returned.
    metric
        ``euclidean`` or ``haversine``.

    Returns
    -------
    indices, distances
        (n, min(k, m)) site indices and their exact distances (coordinate unit or metres),
        each row sorted by (distance, site index). Sites tied with the k-th distance may be
        left out in favour of another tied site.
    """
    _check_metric(metric)
    a, b = _as_points(a, "demand"), _as_points(b, "sites")
    if int(k) < 0:
        raise ParameterError(f"k must be non-negative, got {k}")
    n, k = a.shape[0], int(min(int(k), b.shape[0]))
    if n == 0 or k == 0:
        return np.zeros((n, k), dtype=np.int64), np.zeros((n, k), dtype=np.float64)
    tree_a, tree_b = (_unit_vectors(a), _unit_vectors(b)) if metric == "haversine" else (a, b)
    _, found = cKDTree(tree_b).query(tree_a, k=k)
    index = np.ascontiguousarray(np.asarray(found, dtype=np.int64).reshape(n, k))
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    flat = index.ravel()
    demand, sites = _kernel_points(a, metric), _kernel_points(b, metric)
    if metric == "haversine":
        distance = _kernels.haversine_pairs(demand, sites, rows, flat, EARTH_RADIUS)
    else:
        distance = _kernels.euclidean_pairs(demand, sites, rows, flat)
    distance = distance.reshape(n, k)
    _kernels.sort_rows_by_distance(index, distance)
    return index, distance


# ---------------------------------------------------------------------------- instance
def travel_costs(instance: Instance, cutoff: float | None = None) -> CostMatrix:
    """d_ij for an instance: the user's cost matrix when given, otherwise computed distances.

    Parameters
    ----------
    instance
        The instance; its ``costs`` replace computed distances when present.
    cutoff
        When given, only pairs with d_ij ≤ ``cutoff`` are kept (radius search, never
        n × m); without one, every pair is stored.

    Returns
    -------
    CostMatrix
        Travel costs in the instance's unit (metres for computed distances).
    """
    if instance.costs is not None:
        return instance.costs if cutoff is None else instance.costs.within(cutoff)
    demand, sites = instance.demand.coordinates, instance.sites.coordinates
    if cutoff is None:
        return CostMatrix.from_dense(pairwise(demand, sites, instance.metric))
    return within_radius(demand, sites, cutoff, instance.metric)
