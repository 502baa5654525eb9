"""Road networks with known shortest paths, and the obvious (slow) way to compute network costs.

* :func:`grid_network`: a square grid with equal integer arc lengths; the shortest distance
  between two nodes is ``spacing × (|Δrow| + |Δcolumn|)`` exactly (integer sums are exact in
  floating point).
* :func:`ring_network`: a one-way ring; the distance from node a to node b is
  ``length × ((b − a) mod k)``, and the way back is the rest of the ring.
* :func:`tree_network`: a random tree with integer lengths; the distance between two nodes is
  found by walking parent pointers to their lowest common ancestor.
* :func:`rural_grid_network`: a large, irregular grid in the style of a rural road network
  (jittered junctions, missing links, curvy roads, road classes, a few one-way links), built
  with numpy for the benchmark.
* :func:`networkx_costs`: network costs the obvious way: networkx Dijkstra from every site
  with a cutoff, and brute-force nearest-node snapping.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
from numpy.typing import NDArray

from optiserv.geometry.network import RoadNetwork
from optiserv.geometry.network.roads import BACKWARD, BOTH, FORWARD

__all__ = [
    "grid_network",
    "networkx_costs",
    "networkx_graph",
    "ring_network",
    "rural_grid_network",
    "tree_distance",
    "tree_network",
]


def grid_network(
    rows: int, columns: int, spacing: float = 100.0, speed: float = 36.0, origin: float = 0.0
) -> RoadNetwork:
    """A two-way grid; node ``r * columns + c`` sits at (origin + c·spacing, r·spacing).

    Every arc is ``spacing`` metres long and takes ``spacing / (speed / 3.6)`` seconds
    (36 km/h = 10 m/s, so 100 m take exactly 10 s).
    """
    r, c = np.divmod(np.arange(rows * columns), columns)
    coordinates = np.column_stack((origin + c * spacing, r * spacing)).astype(np.float64)
    right = np.flatnonzero(c < columns - 1)
    up = np.flatnonzero(r < rows - 1)
    tails = np.concatenate((right, right + 1, up, up + columns))
    heads = np.concatenate((right + 1, right, up + columns, up))
    length = np.full(tails.size, float(spacing))
    return RoadNetwork.from_arcs(
        coordinates, tails, heads, length, length / (speed / 3.6), source="grid"
    )


def grid_distance(a: int, b: int, columns: int, spacing: float = 100.0) -> float:
    """Shortest distance in metres between two nodes of :func:`grid_network`."""
    ra, ca = divmod(a, columns)
    rb, cb = divmod(b, columns)
    return spacing * (abs(ra - rb) + abs(ca - cb))


def ring_network(nodes: int, length: float = 100.0, speed: float = 36.0) -> RoadNetwork:
    """A one-way ring 0 → 1 → … → nodes−1 → 0 on a circle, each arc ``length`` metres."""
    angle = 2 * np.pi * np.arange(nodes) / nodes
    radius = nodes * length / (2 * np.pi)
    coordinates = np.column_stack((radius * np.cos(angle), radius * np.sin(angle)))
    tails = np.arange(nodes)
    heads = (tails + 1) % nodes
    lengths = np.full(nodes, float(length))
    return RoadNetwork.from_arcs(
        coordinates, tails, heads, lengths, lengths / (speed / 3.6), source="ring"
    )


def tree_network(
    nodes: int, seed: int, speed: float = 36.0
) -> tuple[RoadNetwork, NDArray[np.int64], NDArray[np.float64]]:
    """A random two-way tree: (network, parent of each node (−1 for the root), arc length).

    Node k > 0 hangs from a random earlier node; lengths are integers from 10 to 500 m.
    """
    rng = np.random.default_rng(seed)
    parent = np.full(nodes, -1, dtype=np.int64)
    parent[1:] = [rng.integers(0, k) for k in range(1, nodes)]
    length = rng.integers(10, 501, nodes).astype(np.float64)
    length[0] = 0.0
    coordinates = rng.random((nodes, 2)) * 10_000.0
    child = np.arange(1, nodes)
    tails = np.concatenate((child, parent[1:]))
    heads = np.concatenate((parent[1:], child))
    lengths = np.concatenate((length[1:], length[1:]))
    network = RoadNetwork.from_arcs(
        coordinates, tails, heads, lengths, lengths / (speed / 3.6), source="tree"
    )
    return network, parent, length


def tree_distance(a: int, b: int, parent: NDArray[np.int64], length: NDArray[np.float64]) -> float:
    """Path length between two tree nodes, by walking both up to their common ancestor."""
    above_a = {}
    total, node = 0.0, a
    while node != -1:
        above_a[node] = total
        total += length[node]
        node = int(parent[node])
    total, node = 0.0, b
    while node not in above_a:
        total += length[node]
        node = int(parent[node])
    return above_a[node] + total


def rural_grid_network(
    side: int, spacing: float = 500.0, seed: int = 0, *, missing: float = 0.1
) -> RoadNetwork:
    """A large irregular road grid, ``side × side`` junctions ``spacing`` metres apart.

    Junctions are jittered by up to 30 % of the spacing, a share ``missing`` of the links is
    left out (lakes, forest), links are 0–25 % longer than the straight line (curves), every
    tenth row and column is a primary road (80 km/h), every fifth a secondary road (70 km/h),
    the rest unclassified (50 km/h), and 2 % of the links are one-way. About
    ``2 · side² · (1 − missing)`` road links, twice as many arcs.
    """
    rng = np.random.default_rng(seed)
    r, c = np.divmod(np.arange(side * side), side)
    jitter = (rng.random((side * side, 2)) - 0.5) * 0.6 * spacing
    coordinates = np.column_stack((c * spacing, r * spacing)) + jitter
    right = np.flatnonzero(c < side - 1)
    up = np.flatnonzero(r < side - 1)
    first = np.concatenate((right, up))
    last = np.concatenate((right + 1, up + side))
    along_row = np.concatenate((np.ones(right.size, bool), np.zeros(up.size, bool)))
    keep = rng.random(first.size) >= missing
    first, last, along_row = first[keep], last[keep], along_row[keep]
    line = np.where(along_row, r[first], c[first])
    speed = np.where(line % 10 == 0, 80.0, np.where(line % 5 == 0, 70.0, 50.0))
    straight = np.hypot(*(coordinates[last] - coordinates[first]).T)
    length = np.round(straight * (1.0 + 0.25 * rng.random(first.size)), 1)
    direction = rng.choice([BOTH, FORWARD, BACKWARD], size=first.size, p=[0.98, 0.01, 0.01])
    forward, backward = direction != BACKWARD, direction != FORWARD
    tails = np.concatenate((first[forward], last[backward]))
    heads = np.concatenate((last[forward], first[backward]))
    lengths = np.concatenate((length[forward], length[backward]))
    seconds = lengths / (np.concatenate((speed[forward], speed[backward])) / 3.6)
    return RoadNetwork.from_arcs(
        coordinates, tails, heads, lengths, seconds, source=f"rural grid {side}×{side}"
    )


def networkx_graph(network: RoadNetwork, measure: str) -> nx.DiGraph:
    """The network as a networkx DiGraph with the measure's arc weight as ``weight``."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(network.n_nodes))
    weights = network.weights(measure)  # type: ignore[arg-type]
    graph.add_weighted_edges_from(
        zip(network.tails().tolist(), network.heads.tolist(), weights.tolist(), strict=True)
    )
    return graph


def _nearest_nodes(network: RoadNetwork, points: NDArray) -> tuple[NDArray, NDArray]:
    """Nearest node by brute force over every node (planar coordinates only)."""
    points = np.asarray(points, dtype=np.float64)
    difference = points[:, None, :] - network.coordinates[None, :, :]
    distance = np.sqrt((difference**2).sum(axis=2))
    node = distance.argmin(axis=1)
    return node, distance[np.arange(points.shape[0]), node]


def networkx_costs(
    network: RoadNetwork,
    demand: NDArray,
    sites: NDArray,
    *,
    cutoff: float,
    measure: str = "distance",
    off_network_speed: float = 20.0,
    reverse_search: bool = True,
) -> NDArray[np.float64]:
    """Dense (n, m) demand → site costs, ``inf`` where unreachable or beyond the cutoff.

    With ``reverse_search`` (the same order of additions as optiserv, so results agree to
    the bit), one networkx Dijkstra per site runs on the reversed graph; otherwise one per
    demand point on the graph as it is (agreement to rounding).
    """
    demand_node, demand_leg = _nearest_nodes(network, demand)
    site_node, site_leg = _nearest_nodes(network, sites)
    if measure == "time":
        demand_leg = demand_leg / (off_network_speed / 3.6)
        site_leg = site_leg / (off_network_speed / 3.6)
    graph = networkx_graph(network, measure)
    out = np.full((len(demand_node), len(site_node)), np.inf)
    if reverse_search:
        reverse = graph.reverse(copy=False)
        for j, node in enumerate(site_node):
            reached = nx.single_source_dijkstra_path_length(reverse, int(node), weight="weight")
            for i, start in enumerate(demand_node):
                if int(start) in reached:
                    out[i, j] = reached[int(start)] + demand_leg[i] + site_leg[j]
    else:
        for i, start in enumerate(demand_node):
            reached = nx.single_source_dijkstra_path_length(graph, int(start), weight="weight")
            for j, node in enumerate(site_node):
                if int(node) in reached:
                    out[i, j] = reached[int(node)] + demand_leg[i] + site_leg[j]
    out[out > cutoff] = math.inf
    return out
