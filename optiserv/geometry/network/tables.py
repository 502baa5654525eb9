"""From files to a cost table: what ``optiserv costs`` runs.

:func:`file_network_costs` looks the costs up in the cache *before* reading the network (the
key needs only the file's digest), so repeated batch runs skip the read as well as the
searches. :func:`write_cost_table` reads demand points and sites from CSV, computes the costs
(on the network, or straight-line × detour without one) and writes a long table
``demand_id,site_id,cost`` plus a JSON report beside it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from optiserv.data import Metric
from optiserv.data.io import read_instance_csv
from optiserv.exceptions import DataError
from optiserv.geometry.network.cache import load_costs
from optiserv.geometry.network.costs import (
    DEFAULT_DETOUR_FACTOR,
    DEFAULT_FALLBACK_SPEED,
    CostReport,
    Direction,
    Engine,
    NetworkCosts,
    from_cache_entry,
    network_cache_key,
    network_costs,
    straight_line_costs,
)
from optiserv.geometry.network.graph import Measure
from optiserv.geometry.network.readers import network_fingerprint, read_network
from optiserv.geometry.network.roads import RoadOptions
from optiserv.geometry.network.snapping import SnapOptions

__all__ = ["file_network_costs", "write_cost_table"]


def file_network_costs(
    network_path: str | Path,
    demand: NDArray[np.float64],
    sites: NDArray[np.float64],
    *,
    cutoff: float,
    measure: Measure = "time",
    points_crs: str | None = None,
    options: RoadOptions | None = None,
    direction: Direction = "to_site",
    snapping: SnapOptions | None = None,
    engine: Engine = "auto",
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    expected_metric: Metric | None = None,
) -> NetworkCosts:
    """Network costs for a network file, reading the file only when the cache misses.

    ``points_crs`` is the CRS of ``demand`` and ``sites`` (``"EPSG:3006"``); the network is
    projected to it. ``None`` means the points are in the network's own coordinates (lon/lat
    for OpenStreetMap). ``expected_metric``, when given, is checked against the network's
    coordinates after reading. Other parameters as for
    :func:`~optiserv.geometry.network.costs.network_costs`.
    """
    options = options or RoadOptions()
    snapping = snapping or SnapOptions()
    demand = np.ascontiguousarray(demand, dtype=np.float64)
    sites = np.ascontiguousarray(sites, dtype=np.float64)
    if cache_dir is not None:
        key = network_cache_key(
            network_fingerprint(network_path, options, points_crs),
            demand,
            sites,
            float(cutoff),
            measure,
            direction,
            snapping,
        )
        started = time.perf_counter()
        cached = load_costs(cache_dir, key)
        if cached is not None:
            return from_cache_entry(cached, key, time.perf_counter() - started)
    network = read_network(network_path, options=options, crs=points_crs)
    if expected_metric is not None and network.metric != expected_metric:
        raise DataError(
            f"road network {network.source} has {network.metric} coordinates "
            f"({network.crs or 'CRS unknown'}) but the points are {expected_metric}: give the "
            "points' CRS (for example EPSG:3006) so the network can be projected to it"
        )
    return network_costs(
        network,
        demand,
        sites,
        cutoff=cutoff,
        measure=measure,
        direction=direction,
        snapping=snapping,
        engine=engine,
        workers=workers,
        cache_dir=cache_dir,
    )


def write_cost_table(
    network_path: str | Path | None,
    demand_csv: str | Path,
    sites_csv: str | Path,
    cutoff: float,
    measure: Measure,
    out_csv: str | Path,
    *,
    metric: Metric = "euclidean",
    points_crs: str | None = None,
    options: RoadOptions | None = None,
    direction: Direction = "to_site",
    snapping: SnapOptions | None = None,
    cache_dir: str | Path | None = None,
    detour_factor: float = DEFAULT_DETOUR_FACTOR,
    fallback_speed: float = DEFAULT_FALLBACK_SPEED,
) -> CostReport:
    """Compute sparse travel costs from files and write them as a long CSV table.

    Parameters
    ----------
    network_path
        Road network file (OSM PBF, GraphML, edge table); ``None`` for the straight-line
        fallback (straight line × ``detour_factor``, at ``fallback_speed`` km/h for time).
    demand_csv, sites_csv
        The demand and sites files of ``optiserv run`` (``id,x,y,...``), read by
        :func:`optiserv.data.io.read_instance_csv`.
    cutoff
        Largest cost kept, in metres (``distance``) or seconds (``time``).
    measure
        ``distance`` or ``time``.
    out_csv
        Output: one row per reachable pair, ``demand_id,site_id,cost``, sorted by demand then
        site; metres or seconds (see the report's ``unit``). It is the ``--costs`` file of
        ``optiserv run``. The report is also written as JSON beside it
        (``<out_csv>.report.json``).
    metric
        ``euclidean``: x, y in metres of ``points_crs``; ``haversine``: lon/lat degrees.
    points_crs
        CRS of the point coordinates, to which the network is projected (``"EPSG:3006"``).
        ``None``: lon/lat (EPSG:4326) for ``haversine``; for ``euclidean``, the network's own
        coordinates, which must then be projected metres.
    options, direction, snapping, cache_dir
        As for :func:`file_network_costs`.
    detour_factor, fallback_speed
        Used only without a network.

    Returns
    -------
    CostReport
        What was computed, including ``cost_source`` for the command line to print.
    """
    instance = read_instance_csv(demand_csv, sites_csv, metric=metric, crs=points_crs)
    demand, sites = instance.demand, instance.sites
    if network_path is None:
        result = straight_line_costs(
            demand.coordinates,
            sites.coordinates,
            cutoff=cutoff,
            measure=measure,
            metric=metric,
            detour_factor=detour_factor,
            speed=fallback_speed,
        )
    else:
        if points_crs is None and metric == "haversine":
            points_crs = "EPSG:4326"
        result = file_network_costs(
            network_path,
            demand.coordinates,
            sites.coordinates,
            cutoff=cutoff,
            measure=measure,
            points_crs=points_crs,
            options=options,
            direction=direction,
            snapping=snapping,
            cache_dir=cache_dir,
            expected_metric=metric,
        )
    costs = result.costs
    table = pd.DataFrame(
        {
            "demand_id": demand.ids[costs.row_indices()],
            "site_id": sites.ids[costs.indices],
            "cost": costs.data,
        }
    )
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False, float_format="%.3f")
    report_path = out_csv.with_name(out_csv.name + ".report.json")
    report_path.write_text(json.dumps(result.report.to_dict(), indent=2, default=str) + "\n")
    return result.report
