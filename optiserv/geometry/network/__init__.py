"""Travel on real roads: road networks → sparse demand × site travel costs.

The flow, one module per step::

    readers  (OSM PBF, OSMnx GraphML, NVDB-style edge tables; roads: classes, speeds, one-way)
      → graph     (RoadNetwork: directed CSR graph, length in metres and time in seconds)
      → snapping  (nearest node by KD-tree, off-network leg, far snaps reported)
      → costs     (Dijkstra from each site with a cutoff → CostMatrix; straight-line fallback)
      → cache     (npz files keyed by network content, points, options and cutoff)
      → tables    (files in, cost table out: what ``optiserv costs`` runs)

Example
-------
>>> network = read_network("roads.osm.pbf", crs="EPSG:3006")        # doctest: +SKIP
>>> result = network_costs(network, demand_xy, site_xy, cutoff=1800)  # doctest: +SKIP
>>> instance = Instance.from_arrays(demand_xy, site_xy, costs=result.costs)  # doctest: +SKIP
>>> print(result.cost_source)                                       # doctest: +SKIP
"""

from optiserv.geometry.network.costs import (
    DEFAULT_DETOUR_FACTOR,
    DEFAULT_FALLBACK_SPEED,
    CostReport,
    Direction,
    Engine,
    NetworkCosts,
    network_costs,
    straight_line_costs,
)
from optiserv.geometry.network.graph import Measure, RoadNetwork, network_from_segments
from optiserv.geometry.network.readers import (
    EdgeColumns,
    network_fingerprint,
    read_edge_table,
    read_graphml,
    read_network,
    read_osm,
)
from optiserv.geometry.network.roads import (
    SWEDISH_FUNCTIONAL_CLASS_SPEEDS,
    SWEDISH_RURAL_SPEEDS,
    RoadOptions,
)
from optiserv.geometry.network.snapping import SnapOptions, Snapped, snap_points
from optiserv.geometry.network.tables import file_network_costs, write_cost_table

__all__ = [
    "DEFAULT_DETOUR_FACTOR",
    "DEFAULT_FALLBACK_SPEED",
    "SWEDISH_FUNCTIONAL_CLASS_SPEEDS",
    "SWEDISH_RURAL_SPEEDS",
    "CostReport",
    "Direction",
    "EdgeColumns",
    "Engine",
    "Measure",
    "NetworkCosts",
    "RoadNetwork",
    "RoadOptions",
    "SnapOptions",
    "Snapped",
    "file_network_costs",
    "network_costs",
    "network_fingerprint",
    "network_from_segments",
    "read_edge_table",
    "read_graphml",
    "read_network",
    "read_osm",
    "snap_points",
    "straight_line_costs",
    "write_cost_table",
]
