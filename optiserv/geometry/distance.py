"""Distances between demand points and sites: dense, radius-limited sparse, nearest-k.

Public functions validate and dispatch; the numeric work happens in :mod:`._kernels`.
:func:`within_radius_chunks` yields the rows of :func:`within_radius` one chunk of demand
points at a time (planar points through a numba grid over the sites), for demand too large
to hold as one sparse matrix.
Euclidean distances are in the coordinates' unit (metres in a metric CRS). Haversine takes
lon/lat degrees and returns great-circle metres on a sphere of radius :data:`EARTH_RADIUS`.

Every distance is computed by the same scalar kernel whichever function asks for it, so the
entries of :func:`within_radius` and :func:`nearest` equal the matching entries of
:func:`pairwise` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from optiserv.data import CostMatrix, Instance, Metric
from optiserv.exceptions import DataError, ParameterError
from optiserv.geometry import _kernels

__all__ = [
    "EARTH_RADIUS",
    "RadiusChunk",
    "nearest",
    "pairwise",
    "travel_costs",
    "within_radius",
    "within_radius_chunks",
]

EARTH_RADIUS = 6_371_008.8
"""Mean Earth radius in metres (IUGG)."""

_SEARCH_MARGIN = 1e-9
"""Relative widening of the KD-tree search radius; the exact filter in the kernel follows."""

_CANDIDATES_PER_CHUNK = 4_000_000
"""Target number of candidate pairs per chunk of demand points (bounds peak memory)."""

_MIN_CHUNK_ROWS = 1_024
_MAX_CHUNK_ROWS = 131_072
_SAMPLE_ROWS = 1_024

_GRID_CHUNK_ROWS = 262_144
"""Demand points per chunk of :func:`within_radius_chunks` on the planar grid."""

_GRID_CELLS_PER_SITE = 64
"""The planar grid has at most this many cells per site (at least 4,096, at most 4 Mi
cells): cells grow wider than half the radius rather than multiply when the radius is small
against the sites' extent."""


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
    pointers, indices, data = [], [], []
    offset = 0
    for chunk in _tree_chunks(a, b, radius, metric, None):
        pointers.append(chunk.indptr[1:] + offset)
        offset += int(chunk.indptr[-1])
        indices.append(chunk.indices)
        data.append(chunk.data)
    indptr = np.concatenate([np.zeros(1, dtype=np.int64), *pointers])
    return CostMatrix.adopt(indptr, np.concatenate(indices), np.concatenate(data), (n, m), "metre")


def _tree_chunks(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    radius: float,
    metric: Metric,
    chunk_rows: int | None,
) -> Iterator[RadiusChunk]:
    """KD-tree candidates per chunk of demand points, filtered exactly by the CSR kernel."""
    spherical = metric == "haversine"
    tree_a, tree_b = (_unit_vectors(a), _unit_vectors(b)) if spherical else (a, b)
    search = _search_radius(radius, metric)
    site_tree = cKDTree(tree_b)
    chunk = chunk_rows or _chunk_rows(site_tree, tree_a, search)
    sites = _kernel_points(b, metric)
    for start in range(0, a.shape[0], chunk):
        stop = min(start + chunk, a.shape[0])
        # unbalanced, non-compact chunk trees build fastest and search as fast here
        demand_tree = cKDTree(tree_a[start:stop], balanced_tree=False, compact_nodes=False)
        pairs = site_tree.sparse_distance_matrix(demand_tree, search, output_type="ndarray")
        demand = _kernel_points(a[start:stop], metric)
        indptr, indices, data = _kernels.csr_from_candidates(
            pairs["j"], pairs["i"], demand, sites, radius, spherical, EARTH_RADIUS
        )
        yield RadiusChunk(start, indptr, indices, data)


# ---------------------------------------------------------------------------- streamed search
class RadiusChunk(NamedTuple):
    """The pairs within the radius for the demand points ``start`` to ``start + n_rows``.

    Attributes
    ----------
    start
        Index of the chunk's first demand point.
    indptr, indices, data
        CSR rows of the chunk (int64 pointers, int32 site indices sorted within each row,
        float64 distances), as :func:`within_radius` stores them.
    """

    start: int
    indptr: NDArray[np.int64]
    indices: NDArray[np.int32]
    data: NDArray[np.float64]

    @property
    def n_rows(self) -> int:
        """Demand points in the chunk."""
        return int(self.indptr.size - 1)


class _SiteGrid(NamedTuple):
    """Per-cell candidate lists of a grid over the sites (see :func:`_kernels.grid_radius_rows`)."""

    cell_start: NDArray[np.int64]
    cell_sites: NDArray[np.int64]
    origin_x: float
    origin_y: float
    cell: float
    nx: int
    ny: int


def _site_grid(sites: NDArray[np.float64], subset: NDArray[np.int64], radius: float) -> _SiteGrid:
    """A grid of square cells around ``sites[subset]`` (non-empty, ascending), with every cell's
    list of the sites within the radius of it.

    The grid reaches beyond the sites by more than the radius, so a point outside it has no
    site within reach, and a point inside scans one list. Cells are half the radius wide
    (a list then holds about 1.7 times the sites actually within reach of a point), or wider
    when that keeps their number within ``_GRID_CELLS_PER_SITE`` per site. A list takes every
    site within ``radius + 2 · slack`` of its cell, where the slack (relative 1e-9 of the
    radius and 1e-12 of the largest coordinate) exceeds every rounding in the cell arithmetic:
    no pair within the radius is ever missed, and the exact distance test decides.
    """
    points = sites[subset]
    low, high = points.min(axis=0), points.max(axis=0)
    finite = math.isfinite(radius)
    scale = float(max(np.abs(low).max(), np.abs(high).max(), radius if finite else 0.0))
    slack = 1e-9 * radius + 1e-12 * scale + 1e-100
    reach = radius + 2.0 * slack
    origin = low - reach - slack
    span = high + reach + slack - origin
    if not (finite and np.isfinite(span).all()):
        # one cell holding every site: any finite point lands in it
        start = np.array([0, subset.size], dtype=np.int64)
        return _SiteGrid(start, subset.astype(np.int64), 0.0, 0.0, math.inf, 1, 1)
    budget = min(max(_GRID_CELLS_PER_SITE * subset.size, 4_096), 4_194_304)
    cell = max(
        0.5 * radius,
        math.sqrt(float(span[0] * span[1]) / budget),
        float(span.max()) / budget,
        1e-100,
    )
    nx, ny = (np.floor(span / cell).astype(np.int64) + 1).tolist()
    origin_x, origin_y = float(origin[0]), float(origin[1])
    cell_start, cell_sites = _kernels.grid_cell_sites(
        sites, subset, origin_x, origin_y, cell, nx, ny, reach
    )
    return _SiteGrid(cell_start, cell_sites, origin_x, origin_y, cell, nx, ny)


def within_radius_chunks(
    a: ArrayLike,
    b: ArrayLike,
    radius: float,
    metric: Metric = "euclidean",
    *,
    sites: ArrayLike | None = None,
    chunk_rows: int | None = None,
) -> Iterator[RadiusChunk]:
    """The pairs with d_ij ≤ ``radius``, one chunk of demand points at a time.

    Concatenated, the chunks hold exactly the rows of :func:`within_radius` (restricted to
    ``sites`` when given): the same pairs, the same distances bit for bit, sorted by site
    index. Memory stays proportional to one chunk, so demand too large for one sparse matrix
    can be streamed through a consumer such as
    :func:`optiserv.coverage.streaming.aggregated_coverage`.

    Planar points are searched through a uniform grid over the sites, in one numba pass per
    chunk; lon/lat points through the KD-tree search of :func:`within_radius`.

    Parameters
    ----------
    a, b
        (n, 2) demand and (m, 2) site coordinates, as for :func:`within_radius`.
    radius
        Largest distance kept (coordinates' unit, or metres for ``haversine``).
    metric
        ``euclidean`` or ``haversine``.
    sites
        Indices of the sites to search (e.g. the open ones); all sites when ``None``. Indices
        in the chunks are always into ``b``.
    chunk_rows
        Demand points per chunk; a size bounding each chunk's pairs when ``None``.

    Yields
    ------
    RadiusChunk
        Consecutive chunks covering demand points 0 to n − 1.
    """
    _check_metric(metric)
    a, b = _as_points(a, "demand"), _as_points(b, "sites")
    radius = float(radius)
    if math.isnan(radius) or radius < 0:
        raise ParameterError(f"radius must be a non-negative number, got {radius}")
    m = b.shape[0]
    subset = np.arange(m, dtype=np.int64) if sites is None else np.asarray(sites, np.int64)
    if subset.ndim != 1 or (subset.size and (subset.min() < 0 or subset.max() >= m)):
        raise ParameterError(f"sites must be indices in 0..{m - 1}")
    subset = np.unique(subset)
    if chunk_rows is not None and int(chunk_rows) < 1:
        raise ParameterError(f"chunk_rows must be positive, got {chunk_rows}")
    n = a.shape[0]
    if n == 0:
        return
    if subset.size == 0:
        step = int(chunk_rows or _GRID_CHUNK_ROWS)
        for start in range(0, n, step):
            rows = min(step, n - start)
            yield RadiusChunk(
                start, np.zeros(rows + 1, np.int64), np.zeros(0, np.int32), np.zeros(0)
            )
        return
    if metric == "haversine":
        for chunk in _tree_chunks(a, b[subset], radius, metric, chunk_rows):
            # subset is ascending, so mapping keeps every row sorted by site index
            yield chunk._replace(indices=subset[chunk.indices].astype(np.int32))
        return
    grid = _site_grid(b, subset, radius)
    step = int(chunk_rows or _GRID_CHUNK_ROWS)
    for start in range(0, n, step):
        indptr, indices, data = _kernels.grid_radius_rows(
            a[start : start + step], b, grid.cell_start, grid.cell_sites, grid.origin_x,
            grid.origin_y, grid.cell, grid.nx, grid.ny, radius,
        )
        yield RadiusChunk(start, indptr, indices, data)


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
