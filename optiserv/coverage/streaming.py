"""Coverage of very many demand points, streamed: only the distinct coverage sets are kept.

For a covering model a demand point matters only through its coverage set (the sites within
the radius) and its weight, and points with the same set can be merged with their weights
summed without changing any covering objective (isomorphic aggregation). When every point is
within reach of a handful of sites, millions of points share a few thousand distinct sets.

:func:`aggregated_coverage` therefore never forms the n × m coverage or distance matrix. It
streams the demand points in chunks through :func:`~optiserv.geometry.within_radius_chunks`
(a numba grid search for planar points, the KD-tree for lon/lat), and a numba kernel adds
each chunk's sets to a running hash table of distinct sets with their summed weights. Memory
is one chunk plus the distinct sets. The result is exactly what
:func:`~optiserv.coverage.reduce_coverage` gives on the full coverage matrix: the same rows in
the same order (first appearance), with weights summed in the same order.

:func:`nearest_open_within` streams the points once more to find, for a plan, the nearest
open site within the radius of every point, so a solution's assignment and covered weight
never need the full matrix either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from optiserv.coverage import _kernels, _stream_kernels
from optiserv.data import Metric
from optiserv.exceptions import DataError, ParameterError
from optiserv.geometry.distance import within_radius_chunks

__all__ = [
    "AggregatedCoverage",
    "CoverageAggregator",
    "aggregated_coverage",
    "nearest_open_within",
]


@dataclass(frozen=True, eq=False)
class AggregatedCoverage:
    """The distinct non-empty coverage sets of a stream of demand points, with summed weights.

    Attributes
    ----------
    matrix
        (k × m) boolean CSR: one row per distinct non-empty coverage set, in order of the
        first demand point that has it, columns sorted.
    weights
        (k,) or (k, g) summed weights of the points with each set (the shape follows the
        input weights).
    points
        (k,) number of demand points with each set.
    unreachable_weight
        Summed weight of the points no site covers: a float, or (g,) for (n, g) weights.
    n_unreachable
        Number of those points.
    n_demand
        Number of demand points streamed.
    group
        (n,) the row of ``matrix`` of every demand point (-1 when unreachable), when it was
        asked for; otherwise ``None``.
    """

    matrix: sp.csr_matrix
    weights: NDArray[np.float64]
    points: NDArray[np.int64]
    unreachable_weight: float | NDArray[np.float64]
    n_unreachable: int
    n_demand: int
    group: NDArray[np.int64] | None = None

    @property
    def n_rows(self) -> int:
        """Distinct non-empty coverage sets."""
        return int(self.matrix.shape[0])


class CoverageAggregator:
    """A running table of distinct coverage sets, fed one chunk of CSR rows at a time.

    Use it when the demand points arrive in pieces (read from files, generated on the fly);
    :func:`aggregated_coverage` drives it for points already in memory.

    Parameters
    ----------
    n_sites
        Number of sites m; every column index must be below it.
    n_groups
        Weight columns per row (population groups); ``None`` for one weight per row, which
        makes the result's weights one-dimensional.
    """

    def __init__(self, n_sites: int, *, n_groups: int | None = None) -> None:
        if int(n_sites) < 0:
            raise ParameterError(f"n_sites must be non-negative, got {n_sites}")
        if n_groups is not None and int(n_groups) < 1:
            raise ParameterError(f"n_groups must be positive, got {n_groups}")
        self.n_sites = int(n_sites)
        self.n_groups = n_groups
        columns = 1 if n_groups is None else int(n_groups)
        self._codes = _stream_kernels.column_codes(self.n_sites)
        self._table = _stream_kernels.empty_table(columns)
        self._counters = np.zeros(2, dtype=np.int64)
        self._empty_weight = np.zeros(columns, dtype=np.float64)
        self._groups: list[NDArray[np.int64]] = []
        self._n_demand = 0
        self._record: bool | None = None

    @property
    def n_sets(self) -> int:
        """Distinct non-empty sets seen so far."""
        return int(self._counters[0])

    @property
    def n_demand(self) -> int:
        """Rows added so far."""
        return self._n_demand

    def add(
        self,
        indptr: ArrayLike,
        indices: ArrayLike,
        weights: ArrayLike,
        *,
        record_group: bool = False,
    ) -> None:
        """Add rows: CSR ``indptr``/``indices`` (sorted, unique columns) and their weights.

        Parameters
        ----------
        indptr, indices
            CSR pattern of the rows; the columns of each row sorted ascending and unique.
        weights
            (rows,) weights, or (rows, g) when the aggregator was made with ``n_groups=g``.
        record_group
            Keep every row's set index for :attr:`AggregatedCoverage.group`; must be the
            same in every call.
        """
        pointers = np.ascontiguousarray(indptr, dtype=np.int64)
        columns = np.ascontiguousarray(indices, dtype=np.int32)
        rows = pointers.size - 1
        if rows < 0 or pointers[0] != 0 or pointers[-1] != columns.size:
            raise DataError("coverage rows: indptr must start at 0 and end at len(indices)")
        if columns.size and (columns.min() < 0 or columns.max() >= self.n_sites):
            raise DataError(f"coverage rows: site index outside 0..{self.n_sites - 1}")
        values = np.asarray(weights, dtype=np.float64)
        expected = (rows,) if self.n_groups is None else (rows, self.n_groups)
        if values.shape != expected:
            raise DataError(f"coverage rows: weights have shape {values.shape}, not {expected}")
        if self._record is None:
            self._record = bool(record_group)
        elif self._record != bool(record_group):
            raise ParameterError("record_group must be the same for every chunk")
        group = np.empty(rows if record_group else 0, dtype=np.int64)
        self._table = _stream_kernels.aggregate_rows(
            pointers, columns, np.ascontiguousarray(values.reshape(rows, self._empty_weight.size)),
            *self._codes,
            *self._table, self._counters, self._empty_weight, group,
        )
        if record_group:
            self._groups.append(group)
        self._n_demand += rows

    def result(self) -> AggregatedCoverage:
        """The distinct sets so far (copies: adding more rows later does not change them)."""
        _, _, set_indptr, set_indices, set_weight, set_points = self._table
        k = self.n_sets
        indptr = set_indptr[: k + 1].copy()
        indices = set_indices[: indptr[-1]].copy()
        matrix = sp.csr_matrix(
            (np.ones(indices.size, dtype=bool), indices, indptr), shape=(k, self.n_sites)
        )
        matrix.has_sorted_indices = True
        weights = set_weight[:k].copy()
        empty: float | NDArray[np.float64] = self._empty_weight.copy()
        if self.n_groups is None:
            weights = weights[:, 0].copy()
            empty = float(self._empty_weight[0])
        group = None
        if self._record:
            group = (
                np.concatenate(self._groups) if self._groups else np.zeros(0, dtype=np.int64)
            )
        return AggregatedCoverage(
            matrix=matrix,
            weights=weights,
            points=set_points[:k].copy(),
            unreachable_weight=empty,
            n_unreachable=int(self._counters[1]),
            n_demand=self._n_demand,
            group=group,
        )


def _check_radius(radius: float) -> float:
    radius = float(radius)
    if math.isnan(radius) or radius < 0:
        raise ParameterError(f"coverage radius must be a non-negative number, got {radius}")
    return radius


def _site_subset(mask: ArrayLike | None, m: int, name: str) -> NDArray[np.int64]:
    if mask is None:
        return np.arange(m, dtype=np.int64)
    values = np.asarray(mask, dtype=np.bool_)
    if values.shape != (m,):
        raise DataError(f"{name} must be a boolean mask with one entry per site ({m})")
    return np.flatnonzero(values).astype(np.int64)


def aggregated_coverage(
    demand_xy: ArrayLike,
    weights: ArrayLike,
    site_xy: ArrayLike,
    radius: float,
    *,
    metric: Metric = "euclidean",
    allowed: ArrayLike | None = None,
    chunk_rows: int | None = None,
    return_group: bool = False,
) -> AggregatedCoverage:
    """Distinct coverage sets (d_ij ≤ ``radius``) and their summed weights, streamed.

    Equal, row for row, to ``reduce_coverage(coverage_matrix(...), weights)`` restricted to
    the ``allowed`` sites, without ever holding more than one chunk of pairs.

    Parameters
    ----------
    demand_xy, site_xy
        (n, 2) demand and (m, 2) site coordinates: x, y in metres for ``euclidean``; lon, lat
        degrees for ``haversine``.
    weights
        (n,) demand weights w_i, or (n, g) for several population groups.
    radius
        Coverage threshold r (metres): covered ⇔ d_ij ≤ r.
    metric
        ``euclidean`` or ``haversine``.
    allowed
        Mask of the sites that may cover (e.g. not forbidden); all sites when ``None``.
    chunk_rows
        Demand points per chunk (memory against per-chunk overhead); a default when ``None``.
    return_group
        Also return every point's set index (an (n,) int64 array).

    Returns
    -------
    AggregatedCoverage
        The distinct non-empty sets in order of first appearance, their weights and point
        counts, and the weight no allowed site covers.
    """
    radius = _check_radius(radius)
    demand = np.asarray(demand_xy, dtype=np.float64)
    sites = np.asarray(site_xy, dtype=np.float64)
    values = np.asarray(weights, dtype=np.float64)
    n = demand.shape[0] if demand.ndim == 2 else -1
    if values.ndim not in (1, 2) or values.shape[0] != n:
        raise DataError(
            f"weights must have shape ({max(n, 0)},) or ({max(n, 0)}, g) to match the demand "
            f"points, got {values.shape}"
        )
    m = sites.shape[0] if sites.ndim == 2 else 0
    subset = _site_subset(allowed, m, "allowed")
    aggregator = CoverageAggregator(m, n_groups=None if values.ndim == 1 else values.shape[1])
    chunks = within_radius_chunks(
        demand, sites, radius, metric, sites=subset, chunk_rows=chunk_rows
    )
    for chunk in chunks:
        rows = values[chunk.start : chunk.start + chunk.n_rows]
        aggregator.add(chunk.indptr, chunk.indices, rows, record_group=return_group)
    if n == 0:
        aggregator.add(np.zeros(1, np.int64), np.zeros(0, np.int32), values,
                       record_group=return_group)
    return aggregator.result()


def nearest_open_within(
    demand_xy: ArrayLike,
    site_xy: ArrayLike,
    open_sites: ArrayLike,
    radius: float,
    *,
    metric: Metric = "euclidean",
    chunk_rows: int | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """For every demand point, the nearest open site within ``radius``, streamed.

    The same answer as ``nearest_open(within_radius(demand, sites, radius), open_sites)``,
    computed one chunk at a time over the open sites only.

    Parameters
    ----------
    demand_xy, site_xy
        (n, 2) demand and (m, 2) site coordinates, as for :func:`aggregated_coverage`.
    open_sites
        Indices j of the open sites.
    radius
        Largest distance at which a site serves a point (metres).
    metric
        ``euclidean`` or ``haversine``.
    chunk_rows
        Demand points per chunk; a default when ``None``.

    Returns
    -------
    site, distance
        (n,) nearest open site within the radius (ties: lowest index) and its distance;
        -1 and ``inf`` when there is none.
    """
    radius = _check_radius(radius)
    demand = np.asarray(demand_xy, dtype=np.float64)
    sites = np.asarray(site_xy, dtype=np.float64)
    n = demand.shape[0] if demand.ndim == 2 else 0
    m = sites.shape[0] if sites.ndim == 2 else 0
    chosen = np.asarray(open_sites, dtype=np.int64).ravel()
    if chosen.size and (chosen.min() < 0 or chosen.max() >= m):
        raise ParameterError(f"open sites must be indices in 0..{m - 1}")
    is_open = np.zeros(m, dtype=np.bool_)
    is_open[chosen] = True
    site = np.full(n, -1, dtype=np.int64)
    distance = np.full(n, np.inf)
    chunks = within_radius_chunks(
        demand, sites, radius, metric, sites=np.flatnonzero(is_open), chunk_rows=chunk_rows
    )
    for chunk in chunks:
        part = slice(chunk.start, chunk.start + chunk.n_rows)
        site[part], distance[part] = _kernels.nearest_open_rows(
            chunk.indptr, chunk.indices, chunk.data, is_open
        )
    return site, distance
