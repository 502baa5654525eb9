"""Sparse travel cost between demand points and sites over the road network.

Direction
---------
d_ij is the cost of travelling **from demand point i to site j** (residents drive to the
shop), which is what every model in optiserv assumes. On a network with one-way roads the
cost i → j differs from j → i, so the searches are run the right way round:

* ``direction="to_site"`` (default): one Dijkstra search per site on the **reversed** graph.
  A search from site j's node t on the reversed graph settles each node v at the cost of the
  path v → t on the real roads, which is the cost from the demand points at v to the site.
* ``direction="from_site"``: one search per site on the graph as it is, giving j → i
  (a service that drives out to people, such as home delivery).

Searching from the sites rather than from the demand points means m searches instead of n,
and each stops at the cutoff.

Cost of a pair
--------------
``cost = network + leg_i + leg_j``, the network cost between the two snapped nodes plus the
off-network legs of the demand point and the site (see :mod:`.snapping`). Pairs with
``cost <= cutoff`` are stored (the closed interval used everywhere in optiserv); pairs beyond
the cutoff, and pairs that cannot reach each other at all (different components, wrong side of
a one-way system, islands), are absent from the :class:`~optiserv.data.CostMatrix`, which
means unreachable.

Engines
-------
``numba`` (the default): a shortest-path kernel with a bucket queue (exactly Dijkstra's
costs, see :mod:`._buckets`; a 4-ary heap for an infinite cutoff) that stops at the cutoff,
touches only the nodes it reaches, and writes pairs straight into compact arrays; blocks of
sites run on a thread pool. It searches a copy of the graph whose nodes are numbered along a
Hilbert curve, and takes the sites in that order, so that consecutive searches find most of
their nodes and arcs still in the processor's caches (see :mod:`.ordering`); two counting
sorts then put the pairs in row and site order.
``scipy``: ``scipy.sparse.csgraph.dijkstra`` with ``indices`` and ``limit`` on blocks of
sites; simpler, but it returns a dense block × nodes array per block. Both compute
bit-for-bit the same costs.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import dijkstra

from optiserv.data import CostMatrix, Metric
from optiserv.exceptions import DataError, ParameterError
from optiserv.geometry.distance import pairwise, within_radius
from optiserv.geometry.network import _buckets, _kernels
from optiserv.geometry.network.cache import cache_key, load_costs, store_costs
from optiserv.geometry.network.graph import UNITS, Measure, RoadNetwork
from optiserv.geometry.network.snapping import SnapOptions, Snapped, snap_points

__all__ = [
    "DEFAULT_DETOUR_FACTOR",
    "DEFAULT_FALLBACK_SPEED",
    "CostReport",
    "Direction",
    "Engine",
    "NetworkCosts",
    "from_cache_entry",
    "network_cache_key",
    "network_costs",
    "straight_line_costs",
]

Direction = Literal["to_site", "from_site"]
"""``to_site``: cost of demand i travelling to site j; ``from_site``: site j to demand i."""
Engine = Literal["auto", "numba", "scipy"]
"""Shortest-path implementation; ``auto`` is ``numba``."""

DEFAULT_DETOUR_FACTOR = 1.3
"""Road distance ÷ straight-line distance assumed without a network (rural Sweden: 1.2–1.4)."""
DEFAULT_FALLBACK_SPEED = 60.0
"""Average speed in km/h assumed over straight-line × detour distance without a network."""

_LIMIT_SLACK = 1e-9
"""Relative widening of each search's limit; the exact ``<= cutoff`` test follows."""
_SCIPY_BLOCK_BYTES = 64 * 2**20
"""Largest dense distance block the scipy engine holds at a time."""
_SITES_PER_BLOCK = 256
_BUCKET_QUANTILE = 0.05
"""Bucket width of the numba search: this quantile of the positive arc weights (speed only)."""
_MOST_BUCKETS = 65_536
"""Most buckets one search may pass through; beyond it (a huge cutoff) the heap is used."""


@dataclass(frozen=True)
class CostReport:
    """What a cost computation did, for logs, reports and the command line.

    Attributes
    ----------
    cost_source
        Human-readable origin of the costs, printed with every result that uses them
        (``"road network OpenStreetMap test.osm.pbf"``, ``"straight line × 1.3 detour"``).
    measure, unit
        ``distance`` in ``metre`` or ``time`` in ``second``.
    cutoff
        Largest cost kept (metres or seconds).
    direction
        ``to_site`` or ``from_site`` (see the module notes).
    engine
        Shortest-path engine used, ``cache`` for a cache hit, or ``straight line``.
    n_demand, n_sites
        Number of demand points and sites.
    pairs_within_cutoff
        Stored (reachable within the cutoff) pairs.
    demand_without_site
        Demand points with no site within the cutoff.
    sites_without_demand
        Sites that reach no demand point within the cutoff.
    disconnected_pairs
        Pairs whose nodes lie in different weakly connected components of the network: no
        cutoff would make them reachable. 0 without a network.
    components
        Weakly connected components of the network (0 without one).
    demand_off_main_component, sites_off_main_component
        Points snapped to a node outside the largest component.
    demand_snap, site_snap
        Snapping summaries (:meth:`Snapped.summary`), or ``None`` without a network.
    network
        Node, arc and reader counts of the network, or ``None``.
    cache
        ``off`` (no cache folder), ``hit`` (loaded) or ``stored`` (computed and written).
    cache_key
        The cache key, when caching is on.
    seconds
        Wall-clock seconds per phase (``snap``, ``search``, ``assemble``, ``report``; or
        ``cache_load`` for a hit). For logs and benchmarks only.
    """

    cost_source: str
    measure: str
    unit: str
    cutoff: float
    direction: str
    engine: str
    n_demand: int
    n_sites: int
    pairs_within_cutoff: int
    demand_without_site: int
    sites_without_demand: int
    disconnected_pairs: int = 0
    components: int = 0
    demand_off_main_component: int = 0
    sites_off_main_component: int = 0
    demand_snap: dict[str, Any] | None = None
    site_snap: dict[str, Any] | None = None
    network: dict[str, Any] | None = None
    cache: str = "off"
    cache_key: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return asdict(self)

    def lines(self) -> list[str]:
        """A short human-readable summary, one fact per line."""
        out = [
            f"cost source: {self.cost_source}",
            f"measure: {self.measure} in {self.unit}s, cutoff {self.cutoff:g}, {self.direction}",
            f"pairs within cutoff: {self.pairs_within_cutoff:,} of "
            f"{self.n_demand:,} × {self.n_sites:,}",
            f"demand points with no site within cutoff: {self.demand_without_site:,}",
        ]
        if self.network is not None:
            out.append(
                f"network: {self.network['nodes']:,} nodes, {self.network['arcs']:,} arcs, "
                f"{self.components} components; pairs never connected: {self.disconnected_pairs:,}"
            )
            out.append(
                f"off the main component: {self.demand_off_main_component:,} demand points, "
                f"{self.sites_off_main_component:,} sites"
            )
        for what, snap in (("demand", self.demand_snap), ("sites", self.site_snap)):
            if snap is not None:
                out.append(
                    f"{what} snapped: median {snap['median_leg_m']:.0f} m, max "
                    f"{snap['max_leg_m']:.0f} m, {snap['beyond_tolerance']:,} beyond "
                    f"{snap['tolerance_m']:g} m"
                )
        out.append(f"cache: {self.cache}")
        return out


@dataclass(frozen=True, eq=False)
class NetworkCosts:
    """Sparse travel costs and the report of how they were made.

    ``costs`` plugs into ``Instance.from_arrays(..., costs=result.costs)``.
    """

    costs: CostMatrix
    report: CostReport

    @property
    def cost_source(self) -> str:
        """Where the costs come from, for every output that prints them."""
        return self.report.cost_source


# ---------------------------------------------------------------------- validation
def _points(values: ArrayLike, what: str) -> NDArray[np.float64]:
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise DataError(f"{what}: coordinates must have shape (k, 2), got {array.shape}")
    if not np.isfinite(array).all():
        raise DataError(f"{what}: NaN or infinite coordinates")
    return array


def _check_common(cutoff: float, measure: str) -> float:
    if measure not in UNITS:
        raise ParameterError(f"measure must be 'distance' or 'time', got {measure!r}")
    cutoff = float(cutoff)
    if math.isnan(cutoff) or cutoff < 0:
        raise ParameterError(f"cutoff must be a non-negative cost (or inf), got {cutoff}")
    return cutoff


# ---------------------------------------------------------------------- network costs
def network_costs(
    network: RoadNetwork,
    demand: ArrayLike,
    sites: ArrayLike,
    *,
    cutoff: float,
    measure: Measure = "time",
    direction: Direction = "to_site",
    snapping: SnapOptions | None = None,
    engine: Engine = "auto",
    workers: int | None = None,
    cache_dir: str | Path | None = None,
) -> NetworkCosts:
    """Sparse travel costs d_ij over the road network, within a cutoff.

    Parameters
    ----------
    network
        The road network, in the coordinate system of the points (see
        :meth:`RoadNetwork.to_crs`).
    demand, sites
        (n, 2) and (m, 2) coordinates of demand points and sites.
    cutoff
        Largest cost kept, in metres (``distance``) or seconds (``time``): use the largest
        coverage threshold of the run. ``inf`` keeps every reachable pair.
    measure
        ``distance`` (metres along roads) or ``time`` (seconds of car travel).
    direction
        ``to_site`` (demand → site, the default) or ``from_site``; see the module notes.
    snapping
        Off-network speed, snap tolerance and component restriction.
    engine
        ``numba`` (``auto``) or ``scipy``; both give identical costs.
    workers
        Threads for the numba engine (default: the CPUs available to this process).
    cache_dir
        Folder of cached cost matrices; ``None`` turns caching off.

    Returns
    -------
    NetworkCosts
        ``costs``: an (n, m) :class:`CostMatrix` in ``metre`` or ``second``, absent pairs
        unreachable within the cutoff; ``report``: snapping, reachability and cache facts.
    """
    demand_xy, site_xy = _points(demand, "demand"), _points(sites, "sites")
    cutoff = _check_common(cutoff, measure)
    if direction not in ("to_site", "from_site"):
        raise ParameterError(f"direction must be 'to_site' or 'from_site', got {direction!r}")
    if engine not in ("auto", "numba", "scipy"):
        raise ParameterError(f"engine must be 'auto', 'numba' or 'scipy', got {engine!r}")
    snapping = snapping or SnapOptions()
    key = network_cache_key(
        network.fingerprint, demand_xy, site_xy, cutoff, measure, direction, snapping
    )
    if cache_dir is not None:
        started = time.perf_counter()
        cached = load_costs(cache_dir, key)
        if cached is not None:
            return from_cache_entry(cached, key, time.perf_counter() - started)
    result = _compute(
        network, demand_xy, site_xy, cutoff, measure, direction, snapping, engine, workers
    )
    if cache_dir is None:
        return result
    report = _replace_report(result.report, cache="stored", cache_key=key)
    store_costs(cache_dir, key, result.costs, report.to_dict())
    return NetworkCosts(result.costs, report)


def network_cache_key(
    fingerprint: str,
    demand: NDArray[np.float64],
    sites: NDArray[np.float64],
    cutoff: float,
    measure: str,
    direction: str,
    snapping: SnapOptions,
) -> str:
    """The cache key of a network cost computation (see :mod:`.cache`)."""
    return cache_key(fingerprint, measure, direction, float(cutoff), snapping.key(), demand, sites)


def from_cache_entry(
    cached: tuple[CostMatrix, dict[str, Any]], key: str, seconds: float
) -> NetworkCosts:
    """Costs and report from a cache entry, the report marked as a hit."""
    costs, fields = cached
    fields = {**fields, "cache": "hit", "cache_key": key, "seconds": {"cache_load": seconds}}
    return NetworkCosts(costs, CostReport(**fields))


def _replace_report(report: CostReport, **changes: Any) -> CostReport:
    return CostReport(**{**report.to_dict(), **changes})


def _compute(
    network: RoadNetwork,
    demand: NDArray[np.float64],
    sites: NDArray[np.float64],
    cutoff: float,
    measure: Measure,
    direction: Direction,
    snapping: SnapOptions,
    engine: Engine,
    workers: int | None,
) -> NetworkCosts:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    demand_snap = snap_points(network, demand, snapping)
    site_snap = snap_points(network, sites, snapping)
    seconds["snap"] = time.perf_counter() - started
    started = time.perf_counter()
    searched = network.reversed() if direction == "to_site" else network
    demand_offsets = demand_snap.offsets(measure, snapping.off_network_speed)
    site_offsets = site_snap.offsets(measure, snapping.off_network_speed)
    limits = (cutoff - site_offsets) * (1.0 + _LIMIT_SLACK) + _LIMIT_SLACK
    limits = np.where(site_offsets <= cutoff, limits, -1.0)
    search = _search_scipy if engine == "scipy" else _search_numba
    points, columns, values = search(
        searched,
        measure,
        site_snap.node,
        site_offsets,
        limits,
        demand_snap.node,
        demand_offsets,
        cutoff,
        workers,
    )
    seconds["search"] = time.perf_counter() - started
    started = time.perf_counter()
    costs = _assemble(points, columns, values, (demand.shape[0], sites.shape[0]), UNITS[measure])
    seconds["assemble"] = time.perf_counter() - started
    started = time.perf_counter()
    report = _network_report(
        network, costs, demand_snap, site_snap, cutoff, measure, direction, engine
    )
    seconds["report"] = time.perf_counter() - started
    return NetworkCosts(costs, _replace_report(report, seconds=seconds))


def _points_by_node(nodes: NDArray[np.int64], n_nodes: int) -> tuple[NDArray, NDArray]:
    """CSR grouping of point indices by the node they snapped to."""
    return _kernels.stable_group(np.ascontiguousarray(nodes, dtype=np.int64), n_nodes)


def _search_numba(
    graph: RoadNetwork,
    measure: Measure,
    sources: NDArray[np.int64],
    source_offsets: NDArray[np.float64],
    limits: NDArray[np.float64],
    point_nodes: NDArray[np.int64],
    point_offsets: NDArray[np.float64],
    cutoff: float,
    workers: int | None,
) -> tuple[NDArray, NDArray, NDArray]:
    """Cutoff searches from every source on the graph renumbered along a Hilbert curve.

    The sources are searched in the order of their renumbered nodes, which is their order
    along the curve, so that consecutive searches reuse cached parts of the graph; the
    positions returned are the sources' own. Blocks of sources run on a thread pool.
    """
    layout, new_index = graph.in_locality_order()
    sources = new_index[sources]
    point_start, point_ids = _points_by_node(new_index[point_nodes], layout.n_nodes)
    grouped_offsets = point_offsets[point_ids]
    weights = layout.weights(measure)
    kernel = _choose_kernel(weights, limits, layout.n_arcs + 1)
    order = np.argsort(sources, kind="stable")
    m = sources.size
    workers = max(1, workers or len(os.sched_getaffinity(0)))
    block = max(1, min(_SITES_PER_BLOCK, math.ceil(m / (4 * workers))))
    starts = list(range(0, m, block))

    def run(start: int) -> tuple[NDArray, NDArray, NDArray]:
        chosen = order[start : start + block]
        found, local, values = kernel(
            layout.indptr,
            layout.heads,
            weights,
            sources[chosen],
            source_offsets[chosen],
            limits[chosen],
            point_start,
            point_ids,
            grouped_offsets,
            cutoff,
        )
        return found, chosen[local].astype(np.int32), values

    if workers == 1 or len(starts) == 1:
        parts = [run(start) for start in starts]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(run, starts))
    return _concatenate(parts)


def _choose_kernel(
    weights: NDArray[np.float64], limits: NDArray[np.float64], pool: int
) -> Callable[..., tuple[NDArray, NDArray, NDArray]]:
    """The bucket-queue kernel with its ring when :func:`_bucket_ring` allows one, else the heap."""
    ring = _bucket_ring(weights, float(limits.max()) if limits.size else 0.0)
    if ring is None:
        return cast(Callable[..., tuple[NDArray, NDArray, NDArray]], _kernels.costs_from_sources)
    width, n_buckets = ring
    bucketed = cast(
        Callable[..., tuple[NDArray, NDArray, NDArray]], _buckets.bucket_costs_from_sources
    )

    def kernel(*arrays: NDArray | float) -> tuple[NDArray, NDArray, NDArray]:
        return bucketed(*arrays, width, n_buckets, pool)

    return kernel


def _bucket_ring(weights: NDArray[np.float64], largest_limit: float) -> tuple[float, int] | None:
    """Bucket width and ring size for :func:`._buckets.bucket_costs_from_sources`, or ``None``.

    The width is the ``_BUCKET_QUANTILE`` quantile of the positive weights (it changes speed
    only); the ring spans the longest arc a search can use (no longer than the limit) plus a
    margin for rounding. ``None`` (search with the heap instead) when the limit is infinite,
    no weight is positive, or a search would pass more than ``_MOST_BUCKETS`` buckets.
    """
    positive = weights[weights > 0]
    if not (positive.size and math.isfinite(largest_limit)):
        return None
    width = float(np.quantile(positive, _BUCKET_QUANTILE))
    if largest_limit / width > _MOST_BUCKETS:
        return None
    reach = min(float(weights.max()), max(largest_limit, 0.0))
    return width, int(reach / width) + 4


def _search_scipy(
    graph: RoadNetwork,
    measure: Measure,
    sources: NDArray[np.int64],
    source_offsets: NDArray[np.float64],
    limits: NDArray[np.float64],
    point_nodes: NDArray[np.int64],
    point_offsets: NDArray[np.float64],
    cutoff: float,
    workers: int | None,
) -> tuple[NDArray, NDArray, NDArray]:
    matrix = graph.to_scipy(measure)
    active = np.flatnonzero(limits >= 0)
    block = max(1, _SCIPY_BLOCK_BYTES // (8 * max(graph.n_nodes + point_nodes.size, 1)))
    parts = []
    for start in range(0, active.size, block):
        chosen = active[start : start + block]
        reached = dijkstra(
            matrix, directed=True, indices=sources[chosen], limit=float(limits[chosen].max())
        )
        total = (reached[:, point_nodes] + point_offsets[None, :]) + source_offsets[chosen, None]
        local, found = np.nonzero(total <= cutoff)
        parts.append((found.astype(np.int32), chosen[local].astype(np.int32), total[local, found]))
    return _concatenate(parts)


def _concatenate(parts: list[tuple[NDArray, NDArray, NDArray]]) -> tuple[NDArray, NDArray, NDArray]:
    if not parts:
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0)
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))  # type: ignore[return-value]


def _assemble(
    rows: NDArray, columns: NDArray, values: NDArray, shape: tuple[int, int], unit: str
) -> CostMatrix:
    """A CostMatrix from unique (row, column, value) pairs in any order (see ``csr_from_pairs``)."""
    indptr, indices, data = _kernels.csr_from_pairs(rows, columns, values, shape[0], shape[1])
    return CostMatrix.adopt(indptr, indices, data, shape, unit)


def _network_report(
    network: RoadNetwork,
    costs: CostMatrix,
    demand_snap: Snapped,
    site_snap: Snapped,
    cutoff: float,
    measure: Measure,
    direction: Direction,
    engine: Engine,
) -> CostReport:
    count, labels = network.components()
    sizes = np.bincount(labels, minlength=count)
    main = int(np.argmax(sizes)) if count else 0
    demand_labels, site_labels = labels[demand_snap.node], labels[site_snap.node]
    demand_per = np.bincount(demand_labels, minlength=count).astype(np.int64)
    site_per = np.bincount(site_labels, minlength=count).astype(np.int64)
    n, m = costs.shape
    connected = int((demand_per * site_per).sum())
    per_site = np.bincount(costs.indices, minlength=m)
    return CostReport(
        cost_source=f"road network {network.source}",
        measure=measure,
        unit=UNITS[measure],
        cutoff=cutoff,
        direction=direction,
        engine="scipy" if engine == "scipy" else "numba",
        n_demand=n,
        n_sites=m,
        pairs_within_cutoff=costs.nnz,
        demand_without_site=int((np.diff(costs.indptr) == 0).sum()),
        sites_without_demand=int((per_site == 0).sum()),
        disconnected_pairs=n * m - connected,
        components=count,
        demand_off_main_component=int((demand_labels != main).sum()),
        sites_off_main_component=int((site_labels != main).sum()),
        demand_snap=demand_snap.summary(),
        site_snap=site_snap.summary(),
        network={
            "source": network.source,
            "nodes": network.n_nodes,
            "arcs": network.n_arcs,
            "largest_component_nodes": int(sizes.max()) if count else 0,
            **{k: v for k, v in network.details.items() if isinstance(v, (int, float, str))},
        },
    )


# ---------------------------------------------------------------------- without a network
def straight_line_costs(
    demand: ArrayLike,
    sites: ArrayLike,
    *,
    cutoff: float,
    measure: Measure = "distance",
    metric: Metric = "euclidean",
    detour_factor: float = DEFAULT_DETOUR_FACTOR,
    speed: float = DEFAULT_FALLBACK_SPEED,
) -> NetworkCosts:
    """Costs without a road network: straight line × detour factor (÷ speed for time).

    Parameters
    ----------
    demand, sites
        (n, 2) and (m, 2) coordinates: metres for ``euclidean``, lon/lat for ``haversine``.
    cutoff
        Largest cost kept, metres or seconds.
    measure
        ``distance``: ``straight × detour_factor`` metres; ``time``: that distance at
        ``speed`` km/h, in seconds.
    metric
        How straight-line distances are measured.
    detour_factor
        Road distance per straight-line distance (≥ 1).
    speed
        Average speed in km/h for ``time``.

    Returns
    -------
    NetworkCosts
        Costs labelled ``cost_source="straight line × 1.3 detour"`` (``at 60 km/h`` for time),
        so every output says they are an estimate.
    """
    demand_xy, site_xy = _points(demand, "demand"), _points(sites, "sites")
    cutoff = _check_common(cutoff, measure)
    if not (math.isfinite(detour_factor) and detour_factor >= 1.0):
        raise ParameterError(f"detour_factor must be a finite number ≥ 1, got {detour_factor}")
    if not (math.isfinite(speed) and speed > 0):
        raise ParameterError(f"speed must be a positive speed in km/h, got {speed}")
    scale = detour_factor if measure == "distance" else detour_factor / (speed / 3.6)
    if math.isfinite(cutoff):
        straight = within_radius(demand_xy, site_xy, cutoff / scale * (1.0 + _LIMIT_SLACK), metric)
    else:
        straight = CostMatrix.from_dense(pairwise(demand_xy, site_xy, metric))
    scaled = CostMatrix(
        straight.indptr, straight.indices, straight.data * scale, straight.shape, UNITS[measure]
    ).within(cutoff)
    label = f"straight line × {detour_factor:g} detour"
    if measure == "time":
        label += f" at {speed:g} km/h"
    n, m = scaled.shape
    report = CostReport(
        cost_source=label,
        measure=measure,
        unit=UNITS[measure],
        cutoff=cutoff,
        direction="to_site",
        engine="straight line",
        n_demand=n,
        n_sites=m,
        pairs_within_cutoff=scaled.nnz,
        demand_without_site=int((np.diff(scaled.indptr) == 0).sum()),
        sites_without_demand=int((np.bincount(scaled.indices, minlength=m) == 0).sum()),
    )
    return NetworkCosts(scaled, report)
