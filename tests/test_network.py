"""Road network travel costs: readers, one-way rules, snapping, cutoff, caching, MCLP on top.

The shortest paths are checked against networkx on a real OpenStreetMap extract (Kotka,
Finland, from the shared data folder) and against closed forms on synthetic grids, rings and
trees (tests/reference/networks.py).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from optiserv.data import Instance
from optiserv.exceptions import DataError, ParameterError
from optiserv.formulations.mclp import MaximalCovering
from optiserv.geometry.network import (
    SWEDISH_FUNCTIONAL_CLASS_SPEEDS,
    EdgeColumns,
    RoadNetwork,
    RoadOptions,
    SnapOptions,
    _kernels,
    file_network_costs,
    network_costs,
    read_edge_table,
    read_graphml,
    read_network,
    read_osm,
    snap_points,
    straight_line_costs,
    write_cost_table,
)
from optiserv.geometry.network import tables as network_tables
from optiserv.geometry.network._buckets import bucket_costs_from_sources
from optiserv.geometry.network._kernels import csr_from_pairs
from optiserv.geometry.network.costs import _bucket_ring
from optiserv.geometry.network.ordering import hilbert_index, locality_order
from optiserv.geometry.network.roads import (
    BACKWARD,
    BOTH,
    FORWARD,
    parse_maxspeed,
    parse_oneway,
    travel_direction,
)
from tests.reference.networks import (
    grid_distance,
    grid_network,
    networkx_costs,
    networkx_graph,
    ring_network,
    rural_grid_network,
    tree_distance,
    tree_network,
)

FINNISH_TM = "EPSG:3067"
"""ETRS-TM35FIN, metres: the projected CRS for the Finnish extracts."""

PYROSM_DRIVING_CLASSES = [
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
]
"""The classes in the README's driving-network counts (no service roads, no tracks)."""


def roads_folder() -> Path | None:
    """The pyrosm Finland test extracts in ../shared (as CI lays it) or /work/shared."""
    for base in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")):
        folder = base / "data" / "roads" / "pyrosm_finland_testdata"
        if (folder / "test.osm.pbf").is_file():
            return folder
    return None


@pytest.fixture(scope="module")
def roads() -> Path:
    folder = roads_folder()
    if folder is None:
        pytest.skip("shared/data/roads/pyrosm_finland_testdata (OSM test extracts) is not present")
    return folder


@pytest.fixture(scope="module")
def kotka(roads: Path) -> RoadNetwork:
    return read_osm(roads / "test.osm.pbf", crs=FINNISH_TM)


def random_points(network: RoadNetwork, count: int, seed: int) -> np.ndarray:
    """Points spread over the network's bounding box."""
    rng = np.random.default_rng(seed)
    low, high = network.coordinates.min(axis=0), network.coordinates.max(axis=0)
    return low + rng.random((count, 2)) * (high - low)


# ---------------------------------------------------------------------- reading OSM
@pytest.mark.parametrize(
    ("name", "nodes", "segments", "one_way", "arcs"),
    [("test.osm.pbf", 749, 781, 184, 1378), ("Helsinki.osm.pbf", 1437, 1500, 874, 2126)],
)
def test_osm_driving_network_matches_the_readme_counts(
    roads: Path, name: str, nodes: int, segments: int, one_way: int, arcs: int
) -> None:
    options = RoadOptions(speeds=dict.fromkeys(PYROSM_DRIVING_CLASSES, 50.0))
    network = read_osm(roads / name, options=options)
    assert network.n_nodes == nodes
    assert network.details["segments"] == segments
    assert network.details["one_way_segments"] == one_way
    assert network.n_arcs == arcs
    assert network.metric == "haversine"


def test_kotka_length_and_fragments(roads: Path) -> None:
    options = RoadOptions(speeds=dict.fromkeys(PYROSM_DRIVING_CLASSES, 50.0))
    network = read_osm(roads / "test.osm.pbf", options=options)
    assert network.details["total_length_m"] == pytest.approx(44_600, abs=100)
    count, _ = network.components()
    assert count > 1  # the README: the extract is not one connected piece
    assert network.largest_component().sum() < network.n_nodes


def test_default_options_add_service_roads_and_leave_out_paths(roads: Path) -> None:
    network = read_osm(roads / "test.osm.pbf")
    per_class = network.details["segments_per_class"]
    assert per_class["service"] > 0
    assert "cycleway" not in per_class and "footway" not in per_class
    assert network.details["skipped_ways"]["class cycleway"] > 0


OSM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="optiserv tests">
{nodes}
  <way id="10"><nd ref="1"/><nd ref="2"/>
    <tag k="highway" v="residential"/><tag k="oneway" v="yes"/></way>
  <way id="11"><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="oneway" v="-1"/></way>
  <way id="12"><nd ref="3"/><nd ref="4"/><tag k="highway" v="motorway"/></way>
  <way id="13"><nd ref="4"/><nd ref="5"/>
    <tag k="highway" v="motorway"/><tag k="oneway" v="no"/></way>
  <way id="14"><nd ref="5"/><nd ref="6"/>
    <tag k="highway" v="tertiary"/><tag k="junction" v="roundabout"/></way>
  <way id="15"><nd ref="6"/><nd ref="7"/>
    <tag k="highway" v="residential"/><tag k="access" v="no"/></way>
  <way id="16"><nd ref="7"/><nd ref="8"/><tag k="highway" v="footway"/></way>
  <way id="17"><nd ref="8"/><nd ref="9"/>
    <tag k="highway" v="residential"/><tag k="motor_vehicle" v="destination"/></way>
  <way id="18"><nd ref="9"/><nd ref="99"/><nd ref="10"/><tag k="highway" v="residential"/></way>
  <way id="19"><nd ref="10"/><nd ref="11"/>
    <tag k="highway" v="residential"/><tag k="maxspeed" v="30"/></way>
  <way id="20"><nd ref="11"/><nd ref="12"/><tag k="highway" v="residential"/>
    <tag k="oneway" v="true"/><tag k="access" v="private"/><tag k="motorcar" v="yes"/></way>
</osm>
"""


@pytest.fixture
def tagged_osm(tmp_path: Path) -> Path:
    """A hand-made OSM file: one way per rule, nodes 55.6 m apart along latitude 60°."""
    nodes = "\n".join(
        f'  <node id="{k}" lat="60.0" lon="{15 + 0.001 * k:.3f}" version="1"/>'
        for k in range(1, 13)
    )
    path = tmp_path / "rules.osm"
    path.write_text(OSM_XML.format(nodes=nodes))
    return path


def osm_arcs(network: RoadNetwork) -> set[tuple[int, int]]:
    ids = network.node_ids
    assert ids is not None
    return set(zip(ids[network.tails()].tolist(), ids[network.heads].tolist(), strict=True))


def test_one_way_and_access_rules_from_osm_tags(tagged_osm: Path) -> None:
    network = read_osm(tagged_osm)
    assert osm_arcs(network) == {
        (1, 2),  # oneway=yes
        (3, 2),  # oneway=-1: against the drawing direction
        (3, 4),  # motorway: one-way implied
        (4, 5),
        (5, 4),  # motorway with oneway=no
        (5, 6),  # roundabout: one-way implied
        # 6-7 access=no and 7-8 footway are not roads for cars
        (8, 9),
        (9, 8),  # motor_vehicle=destination is open
        # 9-99-10 touches node 99, which is missing from the file
        (10, 11),
        (11, 10),
        (11, 12),  # access=private, but motorcar=yes is more specific; oneway=true
    }
    assert network.details["missing_node_references"] == 1
    assert network.details["skipped_ways"] == {"class footway": 1, "closed to cars": 1}


def test_ignoring_one_way_drives_every_road_both_ways(tagged_osm: Path) -> None:
    network = read_osm(tagged_osm, options=RoadOptions(respect_oneway=False))
    arcs = osm_arcs(network)
    assert all((b, a) in arcs for a, b in arcs)
    assert (2, 1) in arcs and (2, 3) in arcs


def test_speeds_from_maxspeed_and_class(tagged_osm: Path) -> None:
    network = read_osm(tagged_osm)
    ids = network.node_ids
    assert ids is not None
    speed = network.length / network.time * 3.6
    by_arc = dict(
        zip(zip(ids[network.tails()], ids[network.heads], strict=True), speed, strict=True)
    )
    assert by_arc[(10, 11)] == pytest.approx(30.0)  # maxspeed
    assert by_arc[(1, 2)] == pytest.approx(40.0)  # residential default
    assert by_arc[(3, 4)] == pytest.approx(110.0)  # motorway default
    without = read_osm(tagged_osm, options=RoadOptions(use_maxspeed=False))
    assert without.time.max() == pytest.approx(without.length.max() / (40 / 3.6))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", 50.0),
        ("30 mph", 48.28032),
        ("SE:rural", 70.0),
        ("se:urban", 50.0),
        ("none", None),
        ("30;50", 40.0),
        ("['50', '70']", 60.0),
        ("walk", 7.0),
        (None, None),
        (80, 80.0),
        ("", None),
    ],
)
def test_parse_maxspeed(value: object, expected: float | None) -> None:
    result = parse_maxspeed(value)
    assert result == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", FORWARD),
        ("1", FORWARD),
        ("true", FORWARD),
        (True, FORWARD),
        ("-1", BACKWARD),
        ("no", BOTH),
        ("false", BOTH),
        (False, BOTH),
        ("reversible", BOTH),
        (None, None),
        ("maybe", None),
        (1.0, FORWARD),
        (-1.0, BACKWARD),
    ],
)
def test_parse_oneway(value: object, expected: int | None) -> None:
    assert parse_oneway(value) == expected


def test_travel_direction_implied_one_way() -> None:
    assert travel_direction({"highway": "motorway"}) == FORWARD
    assert travel_direction({"highway": "motorway", "oneway": "no"}) == BOTH
    assert travel_direction({"highway": "residential", "junction": "roundabout"}) == FORWARD
    assert travel_direction({"highway": "residential"}) == BOTH
    assert travel_direction({"highway": "motorway"}, respect_oneway=False) == BOTH


# ---------------------------------------------------------------------- shortest paths
@pytest.mark.parametrize("measure", ["distance", "time"])
@pytest.mark.parametrize("name", ["test.osm.pbf", "Helsinki.osm.pbf"])
def test_random_pairs_agree_exactly_with_networkx(roads: Path, name: str, measure: str) -> None:
    network = read_osm(roads / name, crs=FINNISH_TM)
    rng = np.random.default_rng(7)
    on_nodes = network.coordinates[rng.choice(network.n_nodes, 15, replace=False)]
    demand = np.vstack((random_points(network, 45, seed=1), on_nodes))
    sites = np.vstack((random_points(network, 10, seed=2), network.coordinates[[0, 5]]))
    cutoff = 2_000.0 if measure == "distance" else 200.0
    result = network_costs(network, demand, sites, cutoff=cutoff, measure=measure)  # type: ignore[arg-type]
    expected = networkx_costs(network, demand, sites, cutoff=cutoff, measure=measure)
    np.testing.assert_array_equal(result.costs.dense(), expected)
    assert result.costs.unit == ("metre" if measure == "distance" else "second")
    assert 0 < result.costs.nnz < demand.shape[0] * sites.shape[0]
    # searching forwards from every demand point sums the same arcs in the other order
    forward = networkx_costs(
        network, demand, sites, cutoff=cutoff * 2, measure=measure, reverse_search=False
    )
    forward[forward > cutoff * (1 + 1e-12)] = np.inf
    np.testing.assert_allclose(result.costs.dense(), forward, rtol=1e-12)


def test_lon_lat_and_projected_networks_give_the_same_costs(
    roads: Path, kotka: RoadNetwork
) -> None:
    geographic = read_osm(roads / "test.osm.pbf")
    assert geographic.metric == "haversine" and kotka.metric == "euclidean"
    rng = np.random.default_rng(2)
    demand_ids = rng.choice(kotka.node_ids, 40, replace=False)  # type: ignore[arg-type]
    site_ids = rng.choice(kotka.node_ids, 6, replace=False)  # type: ignore[arg-type]

    def at(network: RoadNetwork, ids: np.ndarray) -> np.ndarray:
        index = {node: k for k, node in enumerate(network.node_ids.tolist())}  # type: ignore[union-attr]
        return network.coordinates[[index[node] for node in ids.tolist()]]

    projected = network_costs(kotka, at(kotka, demand_ids), at(kotka, site_ids), cutoff=250.0)
    lonlat = network_costs(
        geographic, at(geographic, demand_ids), at(geographic, site_ids), cutoff=250.0
    )
    np.testing.assert_array_equal(projected.costs.dense(), lonlat.costs.dense())


def test_engines_agree_bit_for_bit(kotka: RoadNetwork) -> None:
    demand, sites = random_points(kotka, 200, seed=3), random_points(kotka, 25, seed=4)
    results = [
        network_costs(kotka, demand, sites, cutoff=300.0, measure="time", engine=engine)
        for engine in ("numba", "scipy")
    ]
    numba, scipy = (r.costs for r in results)
    np.testing.assert_array_equal(numba.indptr, scipy.indptr)
    np.testing.assert_array_equal(numba.indices, scipy.indices)
    np.testing.assert_array_equal(numba.data, scipy.data)
    single = network_costs(kotka, demand, sites, cutoff=300.0, measure="time", workers=1)
    np.testing.assert_array_equal(single.costs.data, numba.data)


def test_hilbert_order_visits_every_cell_once_through_neighbours() -> None:
    bits = 4
    cells = np.array(list(itertools.product(range(1 << bits), repeat=2)), dtype=np.float64)
    index = hilbert_index(cells, bits=bits)
    assert sorted(index.tolist()) == list(range(4**bits))
    path = cells[np.argsort(index)]
    assert np.abs(np.diff(path, axis=0)).sum(axis=1).tolist() == [1.0] * (4**bits - 1)
    assert locality_order(cells).tolist() == np.argsort(index, kind="stable").tolist()
    assert hilbert_index(np.zeros((0, 2))).shape == (0,)


def test_renumbered_network_has_the_same_arcs_and_costs(kotka: RoadNetwork) -> None:
    renumbered, new_index = kotka.in_locality_order()
    assert kotka.in_locality_order()[0] is renumbered  # kept
    np.testing.assert_array_equal(renumbered.coordinates[new_index], kotka.coordinates)
    assert sorted(new_index.tolist()) == list(range(kotka.n_nodes))

    def arcs(network: RoadNetwork, relabel: np.ndarray) -> list[tuple[int, int, float, float]]:
        tails, heads = relabel[network.tails()], relabel[network.heads]
        columns = (tails, heads, network.length, network.time)
        return sorted(zip(*(column.tolist() for column in columns), strict=True))

    inverse = np.argsort(new_index)
    assert arcs(renumbered, inverse) == arcs(kotka, np.arange(kotka.n_nodes))
    demand, sites = random_points(kotka, 150, seed=8), random_points(kotka, 20, seed=9)
    for measure in ("distance", "time"):
        cutoff = 2_500.0 if measure == "distance" else 250.0
        original = network_costs(kotka, demand, sites, cutoff=cutoff, measure=measure)  # type: ignore[arg-type]
        moved = network_costs(renumbered, demand, sites, cutoff=cutoff, measure=measure)  # type: ignore[arg-type]
        np.testing.assert_array_equal(original.costs.dense(), moved.costs.dense())


def test_costs_do_not_depend_on_site_order_or_threads() -> None:
    network = rural_grid_network(60, seed=5)
    demand, sites = random_points(network, 3_000, seed=1), random_points(network, 300, seed=2)
    reference = network_costs(network, demand, sites, cutoff=900.0, measure="time", workers=1)
    assert reference.costs.nnz > 10_000
    shuffle = np.random.default_rng(3).permutation(sites.shape[0])
    shuffled = network_costs(network, demand, sites[shuffle], cutoff=900.0, measure="time")
    np.testing.assert_array_equal(shuffled.costs.dense(), reference.costs.dense()[:, shuffle])
    threaded = network_costs(network, demand, sites, cutoff=900.0, measure="time", workers=3)
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(threaded.costs, name), getattr(reference.costs, name))


@pytest.mark.parametrize("width", [0.05, 1.0, 7.0, 1_000.0])
def test_bucket_queue_gives_the_heap_costs_bit_for_bit(width: float) -> None:
    """Zero and tiny arcs, and widths far above the arc weights, force rescans in a bucket."""
    rng = np.random.default_rng(11)
    n_nodes, n_arcs = 300, 1_500
    tails, heads = rng.integers(0, n_nodes, n_arcs), rng.integers(0, n_nodes, n_arcs)
    weights = np.round(rng.exponential(3.0, n_arcs), 3) * (rng.random(n_arcs) > 0.1)
    network = RoadNetwork.from_arcs(rng.random((n_nodes, 2)), tails, heads, weights, weights)
    n_points, n_sources = 400, 40
    point_nodes = rng.integers(0, n_nodes, n_points)
    point_start, point_ids = _kernels.stable_group(point_nodes, n_nodes)
    point_offsets = rng.random(n_points)[point_ids]
    sources = rng.integers(0, n_nodes, n_sources)
    source_offsets = rng.random(n_sources)
    limits = np.where(rng.random(n_sources) < 0.1, -1.0, 4.0 + 8.0 * rng.random(n_sources))
    arrays = (network.indptr, network.heads, network.length, sources, source_offsets, limits)
    points = (point_start, point_ids, point_offsets, 9.0)
    heap = _kernels.costs_from_sources(*arrays, *points)
    assert heap[0].size > 1_000

    def pairs(found: tuple[np.ndarray, ...]) -> dict[tuple[int, int], float]:
        return {(p, k): c for p, k, c in zip(*(a.tolist() for a in found), strict=True)}

    n_buckets = int(min(network.length.max(), limits.max()) / width) + 4
    for pool in (network.n_arcs + 1, 2):  # 2: the entry pool must grow
        buckets = bucket_costs_from_sources(*arrays, *points, width, n_buckets, pool)
        assert pairs(buckets) == pairs(heap)
        assert np.all(np.diff(buckets[1]) >= 0)  # grouped by source, in source order


def test_finite_cutoff_buckets_and_infinite_cutoff_heap_agree(kotka: RoadNetwork) -> None:
    demand, sites = random_points(kotka, 200, seed=12), random_points(kotka, 15, seed=13)
    weights = kotka.reversed().in_locality_order()[0].time
    assert _bucket_ring(weights, 300.0) is not None  # the bucket kernel runs below
    bucketed = network_costs(kotka, demand, sites, cutoff=300.0, measure="time")
    everything = network_costs(kotka, demand, sites, cutoff=math.inf, measure="time")
    np.testing.assert_array_equal(bucketed.costs.dense(), everything.costs.within(300.0).dense())
    assert _bucket_ring(weights, math.inf) is None
    assert _bucket_ring(np.zeros(4), 300.0) is None
    assert _bucket_ring(weights, 1e12) is None  # too many buckets per search: the heap
    width, n_buckets = _bucket_ring(np.array([0.0, 2.0, 3.0, 50.0]), 20.0)  # type: ignore[misc]
    assert width > 0 and n_buckets * width > 20.0


def test_csr_from_pairs_matches_scipy_in_any_order() -> None:
    rng = np.random.default_rng(6)
    n_rows, n_columns = 40, 25
    flat = rng.choice(n_rows * n_columns, 300, replace=False)
    rows, columns = (flat // n_columns).astype(np.int32), (flat % n_columns).astype(np.int32)
    values = rng.random(flat.size)
    indptr, indices, data = csr_from_pairs(rows, columns, values, n_rows, n_columns)
    expected = sp.coo_matrix((values, (rows, columns)), shape=(n_rows, n_columns)).tocsr()
    expected.sort_indices()
    np.testing.assert_array_equal(indptr, expected.indptr)
    np.testing.assert_array_equal(indices, expected.indices)
    np.testing.assert_array_equal(data, expected.data)
    empty = csr_from_pairs(rows[:0], columns[:0], values[:0], 3, 2)
    assert empty[0].tolist() == [0, 0, 0, 0] and empty[1].size == empty[2].size == 0


def test_grid_costs_are_manhattan_distances() -> None:
    network = grid_network(9, 11, spacing=100.0)
    rng = np.random.default_rng(0)
    demand_nodes = rng.choice(network.n_nodes, 30, replace=False)
    site_nodes = rng.choice(network.n_nodes, 7, replace=False)
    result = network_costs(
        network,
        network.coordinates[demand_nodes],
        network.coordinates[site_nodes],
        cutoff=math.inf,
        measure="distance",
    )
    expected = np.array(
        [[grid_distance(int(a), int(b), 11) for b in site_nodes] for a in demand_nodes]
    )
    np.testing.assert_array_equal(result.costs.dense(), expected)
    timed = network_costs(
        network,
        network.coordinates[demand_nodes],
        network.coordinates[site_nodes],
        cutoff=math.inf,
        measure="time",
    )
    np.testing.assert_array_equal(timed.costs.dense(), expected / 10.0)  # 10 m/s on the grid


def test_tree_costs_are_path_lengths() -> None:
    network, parent, length = tree_network(300, seed=5)
    rng = np.random.default_rng(1)
    demand_nodes = rng.choice(300, 40, replace=False)
    site_nodes = rng.choice(300, 6, replace=False)
    result = network_costs(
        network,
        network.coordinates[demand_nodes],
        network.coordinates[site_nodes],
        cutoff=3_000.0,
        measure="distance",
    )
    expected = np.array(
        [[tree_distance(int(a), int(b), parent, length) for b in site_nodes] for a in demand_nodes]
    )
    expected[expected > 3_000.0] = np.inf
    np.testing.assert_array_equal(result.costs.dense(), expected)


# ---------------------------------------------------------------------- one-way direction
def test_cost_is_travel_from_demand_to_site_on_a_one_way_ring() -> None:
    ring = ring_network(10, length=100.0)
    demand = ring.coordinates[[0, 4]]
    sites = ring.coordinates[[3]]
    to_site = network_costs(ring, demand, sites, cutoff=math.inf, measure="distance")
    from_site = network_costs(
        ring, demand, sites, cutoff=math.inf, measure="distance", direction="from_site"
    )
    # 0 → 3 is three arcs forwards; 4 → 3 is nine arcs round the ring
    np.testing.assert_array_equal(to_site.costs.dense(), [[300.0], [900.0]])
    np.testing.assert_array_equal(from_site.costs.dense(), [[700.0], [100.0]])
    within = network_costs(ring, demand, sites, cutoff=500.0, measure="distance")
    np.testing.assert_array_equal(within.costs.dense(), [[300.0], [np.inf]])


def test_one_way_streets_make_kotka_costs_asymmetric(kotka: RoadNetwork) -> None:
    nodes = kotka.coordinates
    rng = np.random.default_rng(11)
    points = nodes[rng.choice(kotka.n_nodes, 60, replace=False)]
    there = network_costs(kotka, points, points, cutoff=math.inf, measure="distance")
    back = network_costs(
        kotka, points, points, cutoff=math.inf, measure="distance", direction="from_site"
    )
    there_dense, back_dense = there.costs.dense(), back.costs.dense()
    # from_site(i, j) is the trip j → i, which is to_site(j, i) when the points are the same
    np.testing.assert_allclose(back_dense, there_dense.T, rtol=1e-12)
    asymmetric = there_dense != there_dense.T
    assert asymmetric.any()
    # and the demand → site cost is the forward path of networkx, not the way back
    graph = networkx_graph(kotka, "distance")
    snapped = snap_points(kotka, points).node
    i, j = (int(k) for k in np.argwhere(asymmetric & np.isfinite(there_dense))[0])
    forward = nx.shortest_path_length(graph, int(snapped[i]), int(snapped[j]), weight="weight")
    assert there_dense[i, j] == pytest.approx(forward, rel=1e-12)


# ---------------------------------------------------------------------- cutoff and snapping
def test_cutoff_is_a_closed_interval() -> None:
    network = grid_network(5, 5, spacing=100.0)
    demand = network.coordinates[[0]] + [0.0, -30.0]  # 30 m off the network, below node 0
    sites = network.coordinates[[12]] + [20.0, 0.0]  # 20 m to the right of node 12 (2, 2)
    exact = 400.0 + 30.0 + 20.0
    at = network_costs(network, demand, sites, cutoff=exact, measure="distance")
    assert at.costs.dense()[0, 0] == exact
    below = network_costs(network, demand, sites, cutoff=np.nextafter(exact, 0), measure="distance")
    assert below.costs.nnz == 0
    assert below.report.demand_without_site == 1


def test_snapping_legs_are_added_as_distance_and_time() -> None:
    network = grid_network(3, 3, spacing=100.0)
    demand = np.array([[0.0, -40.0]])
    sites = np.array([[200.0, 260.0]])  # 60 m above node (2, 2) at (200, 200)
    distance = network_costs(network, demand, sites, cutoff=math.inf, measure="distance")
    assert distance.costs.dense()[0, 0] == pytest.approx(400.0 + 40.0 + 60.0)
    snapping = SnapOptions(off_network_speed=18.0)  # 5 m/s
    time = network_costs(network, demand, sites, cutoff=math.inf, measure="time", snapping=snapping)
    assert time.costs.dense()[0, 0] == pytest.approx(40.0 + 40.0 / 5.0 + 60.0 / 5.0)
    snap = time.report.demand_snap
    assert snap is not None and snap["max_leg_m"] == pytest.approx(40.0)


def test_far_snaps_are_reported() -> None:
    network = grid_network(3, 3, spacing=100.0)
    demand = np.array([[0.0, 0.0], [100.0, -900.0], [2_000.0, 100.0]])
    result = network_costs(
        network,
        demand,
        network.coordinates[[4]],
        cutoff=math.inf,
        measure="distance",
        snapping=SnapOptions(tolerance=500.0),
    )
    snap = result.report.demand_snap
    assert snap is not None
    assert snap["beyond_tolerance"] == 2
    assert snap["beyond_tolerance_examples"] == [1, 2]
    assert snap["max_leg_m"] == pytest.approx(1_800.0)
    assert any("2 beyond 500 m" in line for line in result.report.lines())


# ---------------------------------------------------------------------- unreachable pairs
def two_islands() -> RoadNetwork:
    """Two 3 × 3 grids 10 km apart, with no road between them."""
    west, east = grid_network(3, 3), grid_network(3, 3, origin=10_000.0)
    return RoadNetwork.from_arcs(
        np.vstack((west.coordinates, east.coordinates)),
        np.concatenate((west.tails(), east.tails() + 9)),
        np.concatenate((west.heads, east.heads + 9)),
        np.concatenate((west.length, east.length)),
        np.concatenate((west.time, east.time)),
        source="two islands",
    )


def test_disconnected_parts_are_absent_and_reported() -> None:
    network = two_islands()
    demand = network.coordinates[[0, 4, 8, 9, 13]]  # three on the west island, two on the east
    sites = network.coordinates[[2, 11]]
    result = network_costs(network, demand, sites, cutoff=math.inf, measure="distance")
    dense = result.costs.dense()
    assert np.isinf(dense[:3, 1]).all() and np.isinf(dense[3:, 0]).all()
    assert np.isfinite(dense[:3, 0]).all() and np.isfinite(dense[3:, 1]).all()
    report = result.report
    assert report.components == 2
    assert report.disconnected_pairs == 3 * 1 + 2 * 1
    assert report.pairs_within_cutoff == 5
    assert report.demand_off_main_component == 2  # both islands have 9 nodes: the first wins
    assert report.demand_without_site == 0


def test_kotka_fragments_are_counted(kotka: RoadNetwork) -> None:
    demand, sites = random_points(kotka, 300, seed=8), random_points(kotka, 20, seed=9)
    report = network_costs(kotka, demand, sites, cutoff=math.inf, measure="time").report
    assert report.components > 1
    reachable_at_most = demand.shape[0] * sites.shape[0] - report.disconnected_pairs
    assert 0 < report.pairs_within_cutoff <= reachable_at_most
    assert report.network is not None and report.network["nodes"] == kotka.n_nodes


def test_largest_component_only_snapping(kotka: RoadNetwork) -> None:
    points = random_points(kotka, 300, seed=8)
    snapping = SnapOptions(largest_component_only=True)
    result = network_costs(kotka, points, points[:5], cutoff=math.inf, snapping=snapping)
    assert result.report.demand_off_main_component == 0
    assert result.report.disconnected_pairs == 0


# ---------------------------------------------------------------------- a model on top
def test_mclp_on_network_costs_matches_brute_force() -> None:
    network = grid_network(6, 6, spacing=100.0)
    # make the middle row one-way eastwards to break the symmetry of the grid
    tails, heads = network.tails(), network.heads
    westward = (tails // 6 == 3) & (heads == tails - 1)
    network = RoadNetwork.from_arcs(
        network.coordinates,
        tails[~westward],
        heads[~westward],
        network.length[~westward],
        network.time[~westward],
    )
    rng = np.random.default_rng(3)
    demand = rng.random((25, 2)) * 500.0
    sites = rng.random((7, 2)) * 500.0
    weights = rng.integers(1, 50, 25).astype(float)
    costs = network_costs(network, demand, sites, cutoff=400.0, measure="distance").costs
    instance = Instance.from_arrays(demand, sites, weights=weights, costs=costs)
    radius = 250.0
    solution = MaximalCovering(p=2, radius=radius).solve(instance)
    cover = costs.dense() <= radius
    best = max(
        weights[cover[:, list(pair)].any(axis=1)].sum()
        for pair in itertools.combinations(range(7), 2)
    )
    assert solution.objective == pytest.approx(best)
    assert best < weights.sum()  # the radius binds, so the network distances matter


# ---------------------------------------------------------------------- caching
def test_cache_reuses_and_separates_entries(tmp_path: Path, kotka: RoadNetwork) -> None:
    demand, sites = random_points(kotka, 50, seed=1), random_points(kotka, 5, seed=2)
    first = network_costs(kotka, demand, sites, cutoff=200.0, cache_dir=tmp_path)
    again = network_costs(kotka, demand, sites, cutoff=200.0, cache_dir=tmp_path)
    assert (first.report.cache, again.report.cache) == ("stored", "hit")
    np.testing.assert_array_equal(first.costs.data, again.costs.data)
    np.testing.assert_array_equal(first.costs.indices, again.costs.indices)
    assert again.cost_source == first.cost_source
    other_cutoff = network_costs(kotka, demand, sites, cutoff=250.0, cache_dir=tmp_path)
    other_snap = network_costs(
        kotka, demand, sites, cutoff=200.0, cache_dir=tmp_path, snapping=SnapOptions(5.0)
    )
    moved = network_costs(kotka, demand + 1.0, sites, cutoff=200.0, cache_dir=tmp_path)
    assert {other_cutoff.report.cache, other_snap.report.cache, moved.report.cache} == {"stored"}
    assert (
        len(
            {
                first.report.cache_key,
                other_cutoff.report.cache_key,
                other_snap.report.cache_key,
                moved.report.cache_key,
            }
        )
        == 4
    )
    assert len(list(tmp_path.glob("costs-*.npz"))) == 4


def test_file_cache_hit_skips_reading_the_network(
    tmp_path: Path, roads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = roads / "test.osm.pbf"
    network = read_network(path, crs=FINNISH_TM)
    demand, sites = random_points(network, 40, seed=1), random_points(network, 4, seed=2)
    kwargs = {"cutoff": 300.0, "points_crs": FINNISH_TM, "cache_dir": tmp_path}
    first = file_network_costs(path, demand, sites, **kwargs)  # type: ignore[arg-type]

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network file was read despite a cached result")

    monkeypatch.setattr(network_tables, "read_network", no_reading)
    second = file_network_costs(path, demand, sites, **kwargs)  # type: ignore[arg-type]
    assert second.report.cache == "hit"
    np.testing.assert_array_equal(first.costs.data, second.costs.data)


def test_damaged_cache_entry_is_recomputed(tmp_path: Path) -> None:
    network = grid_network(3, 3)
    first = network_costs(
        network, network.coordinates, network.coordinates[:2], cutoff=500.0, cache_dir=tmp_path
    )
    entry = next(tmp_path.glob("costs-*.npz"))
    entry.write_bytes(b"not an npz file")
    again = network_costs(
        network, network.coordinates, network.coordinates[:2], cutoff=500.0, cache_dir=tmp_path
    )
    assert again.report.cache == "stored"
    np.testing.assert_array_equal(first.costs.data, again.costs.data)


# ---------------------------------------------------------------------- fallback
def test_straight_line_fallback_is_labelled() -> None:
    demand = np.array([[0.0, 0.0], [3_000.0, 4_000.0]])
    sites = np.array([[0.0, 0.0]])
    distance = straight_line_costs(demand, sites, cutoff=10_000.0)
    np.testing.assert_allclose(distance.costs.dense(), [[0.0], [6_500.0]])
    assert distance.cost_source == "straight line × 1.3 detour"
    time = straight_line_costs(demand, sites, cutoff=400.0, measure="time", speed=60.0)
    np.testing.assert_allclose(time.costs.dense(), [[0.0], [390.0]])
    assert time.costs.unit == "second"
    assert time.cost_source == "straight line × 1.3 detour at 60 km/h"
    tight = straight_line_costs(demand, sites, cutoff=6_499.0)
    assert tight.costs.nnz == 1


# ---------------------------------------------------------------------- other readers
def osmnx_style_graph() -> nx.MultiDiGraph:
    """A small MultiDiGraph with OSMnx's attributes, as ``ox.save_graphml`` writes them."""
    graph = nx.MultiDiGraph(crs="epsg:4326")
    for node, (lon, lat) in enumerate([(15.0, 60.0), (15.01, 60.0), (15.02, 60.0), (15.01, 60.01)]):
        graph.add_node(str(100 + node), x=str(lon), y=str(lat))
    roads = [
        ("100", "101", "560.0", "secondary", "False", ""),
        ("101", "100", "560.0", "secondary", "False", ""),
        ("101", "102", "560.0", "['residential', 'tertiary']", "True", "30"),
        ("101", "103", "1112.0", "footway", "False", ""),
        ("103", "101", "1112.0", "track", "False", ""),
        ("102", "103", "1200.0", "unclassified", "False", "SE:rural"),
        ("103", "102", "1200.0", "unclassified", "False", "SE:rural"),
    ]
    for tail, head, length, highway, oneway, maxspeed in roads:
        attributes = {"length": length, "highway": highway, "oneway": oneway}
        if maxspeed:
            attributes["maxspeed"] = maxspeed
        graph.add_edge(tail, head, **attributes)
    return graph


def test_graphml_as_osmnx_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "roads.graphml"
    nx.write_graphml(osmnx_style_graph(), path)
    network = read_graphml(path)
    ids = network.node_ids
    assert ids is not None
    arcs = set(zip(ids[network.tails()].tolist(), ids[network.heads].tolist(), strict=True))
    assert arcs == {("100", "101"), ("101", "100"), ("101", "102"), ("102", "103"), ("103", "102")}
    pairs = zip(ids[network.tails()].tolist(), ids[network.heads].tolist(), strict=True)
    seconds = dict(zip(pairs, network.time, strict=True))
    assert seconds[("100", "101")] == pytest.approx(560.0 / (70.0 / 3.6))  # secondary
    assert seconds[("101", "102")] == pytest.approx(560.0 / (30.0 / 3.6))  # maxspeed
    assert seconds[("102", "103")] == pytest.approx(1200.0 / (70.0 / 3.6))  # SE:rural
    assert network.metric == "haversine"
    projected = read_network(path, crs="EPSG:3006")
    assert projected.metric == "euclidean" and projected.crs == "EPSG:3006"
    np.testing.assert_array_equal(projected.length, network.length)


def test_edge_table_csv_with_node_ids_and_nvdb_column_names(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "FRAN_NOD": ["a", "b", "c", "a"],
            "TILL_NOD": ["b", "c", "d", "d"],
            "LANGD": [100.0, 100.0, 100.0, 1_000.0],
            "FUNKTIONELL_VAGKLASS": [3, 3, 9, 8],
            "HASTIGHETSGRANS": [np.nan, 90.0, np.nan, np.nan],
            "KORRIKTNING": ["båda", "med", "mot", "båda"],
            "from_x": [0.0, 100.0, 200.0, 0.0],
            "from_y": [0.0, 0.0, 0.0, 0.0],
            "to_x": [100.0, 200.0, 300.0, 300.0],
            "to_y": [0.0, 0.0, 0.0, 0.0],
        }
    )
    path = tmp_path / "nvdb.csv"
    table.to_csv(path, index=False)
    columns = EdgeColumns(
        from_node="FRAN_NOD",
        to_node="TILL_NOD",
        length="LANGD",
        speed="HASTIGHETSGRANS",
        road_class="FUNKTIONELL_VAGKLASS",
        oneway="KORRIKTNING",
    )
    options = RoadOptions(speeds=SWEDISH_FUNCTIONAL_CLASS_SPEEDS)
    network = read_edge_table(path, options=options, columns=columns)
    ids = network.node_ids
    assert ids is not None
    arcs = dict(
        zip(
            zip(ids[network.tails()].tolist(), ids[network.heads].tolist(), strict=True),
            network.time,
            strict=True,
        )
    )
    assert set(arcs) == {("a", "b"), ("b", "a"), ("b", "c"), ("d", "c"), ("a", "d"), ("d", "a")}
    assert arcs[("a", "b")] == pytest.approx(100.0 / (70.0 / 3.6))  # class 3
    assert arcs[("b", "c")] == pytest.approx(100.0 / (90.0 / 3.6))  # speed column
    assert arcs[("d", "c")] == pytest.approx(100.0 / (20.0 / 3.6))  # class 9
    costs = network_costs(
        network, [[0.0, 0.0]], [[300.0, 0.0]], cutoff=math.inf, measure="distance"
    )
    assert costs.costs.dense()[0, 0] == 1_000.0  # a → b → c → d is blocked at c → d


def test_edge_table_geopackage_matches_nodes_by_geometry(tmp_path: Path) -> None:
    import geopandas
    from shapely.geometry import LineString

    frame = geopandas.GeoDataFrame(
        {"road_class": ["primary", "residential", "cycleway"], "oneway": [None, "1", None]},
        geometry=[
            LineString([(0, 0), (50, 10), (100, 0)]),
            LineString([(100, 0), (100, 100)]),
            LineString([(100, 100), (0, 0)]),
        ],
        crs="EPSG:3006",
    )
    path = tmp_path / "links.gpkg"
    frame.to_file(path, driver="GPKG")
    network = read_edge_table(path)
    assert network.crs is not None and "3006" in network.crs
    assert network.n_nodes == 3  # the cycleway is left out, so only its ends' roads count
    assert network.n_arcs == 3  # primary both ways, residential one way
    assert sorted(network.length.tolist()) == pytest.approx(
        sorted([2 * math.hypot(50, 10)] * 2 + [100.0])
    )
    assert network.details["skipped_rows"] == 1


def test_edge_table_without_coordinates_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bare.csv"
    pd.DataFrame({"from": [1], "to": [2], "length": [10.0]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="needs a line geometry"):
        read_edge_table(path)


# ---------------------------------------------------------------------- the CLI entry point
def write_points(path: Path, ids: list[str], xy: np.ndarray, weights: bool) -> Path:
    frame = pd.DataFrame({"id": ids, "x": xy[:, 0], "y": xy[:, 1]})
    if weights:
        frame["weight"] = 1.0
    frame.to_csv(path, index=False)
    return path


def test_write_cost_table_on_a_network_and_without(tmp_path: Path, roads: Path) -> None:
    network = read_osm(roads / "test.osm.pbf", crs=FINNISH_TM)
    demand_xy, site_xy = random_points(network, 30, seed=1), random_points(network, 4, seed=2)
    demand_csv = write_points(
        tmp_path / "demand.csv", [f"d{k}" for k in range(30)], demand_xy, True
    )
    sites_csv = write_points(tmp_path / "sites.csv", [f"s{k}" for k in range(4)], site_xy, False)
    out = tmp_path / "out" / "costs.csv"
    report = write_cost_table(
        roads / "test.osm.pbf", demand_csv, sites_csv, 300.0, "time", out, points_crs=FINNISH_TM
    )
    table = pd.read_csv(out)
    assert list(table.columns) == ["demand_id", "site_id", "cost"]
    assert len(table) == report.pairs_within_cutoff > 0
    assert (table["cost"] <= 300.0).all()
    assert report.cost_source == "road network OpenStreetMap test.osm.pbf"
    expected = network_costs(network, demand_xy, site_xy, cutoff=300.0).costs.dense()
    row = table.iloc[0]
    i, j = int(row["demand_id"][1:]), int(row["site_id"][1:])
    assert row["cost"] == pytest.approx(expected[i, j], abs=1e-3)
    saved = json.loads(out.with_name("costs.csv.report.json").read_text())
    assert saved["cost_source"] == report.cost_source and saved["unit"] == "second"

    fallback = write_cost_table(None, demand_csv, sites_csv, 3_000.0, "distance", out)
    assert fallback.cost_source == "straight line × 1.3 detour"
    assert len(pd.read_csv(out)) == fallback.pairs_within_cutoff


def test_write_cost_table_needs_matching_coordinates(tmp_path: Path, roads: Path) -> None:
    xy = np.array([[500_000.0, 6_700_000.0]])
    demand_csv = write_points(tmp_path / "demand.csv", ["d"], xy, True)
    sites_csv = write_points(tmp_path / "sites.csv", ["s"], xy, False)
    with pytest.raises(DataError, match="give the points' CRS"):
        write_cost_table(
            roads / "test.osm.pbf", demand_csv, sites_csv, 60.0, "time", tmp_path / "out.csv"
        )


# ---------------------------------------------------------------------- validation
def test_bad_parameters_are_named() -> None:
    network = grid_network(2, 2)
    points = network.coordinates
    with pytest.raises(ParameterError, match="cutoff"):
        network_costs(network, points, points, cutoff=-1.0)
    with pytest.raises(ParameterError, match="measure"):
        network_costs(network, points, points, cutoff=1.0, measure="hours")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="direction"):
        network_costs(network, points, points, cutoff=1.0, direction="both")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="shape"):
        network_costs(network, points[:, :1], points, cutoff=1.0)
    with pytest.raises(ParameterError, match="speed"):
        SnapOptions(off_network_speed=0.0)
    with pytest.raises(ParameterError, match="speeds"):
        RoadOptions(speeds={"primary": -5.0})
    with pytest.raises(DataError, match="no such file"):
        read_network("/nonexistent/roads.osm.pbf")


def test_a_damaged_osm_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.osm.pbf"
    path.write_bytes(b"this is not a protocol buffer")
    with pytest.raises(DataError, match="cannot read"):
        read_network(path)


def test_parallel_arcs_keep_the_shortest_length_and_time() -> None:
    network = RoadNetwork.from_arcs(
        [[0.0, 0.0], [100.0, 0.0]], [0, 0, 1], [1, 1, 1], [100.0, 120.0, 5.0], [20.0, 8.0, 1.0]
    )
    assert network.n_arcs == 1  # the self-loop 1 → 1 is dropped
    assert network.length.tolist() == [100.0] and network.time.tolist() == [8.0]


def test_empty_demand_gives_an_empty_matrix() -> None:
    network = grid_network(2, 2)
    result = network_costs(network, np.zeros((0, 2)), network.coordinates, cutoff=100.0)
    assert result.costs.shape == (0, 4) and result.costs.nnz == 0


@pytest.mark.slow
def test_engines_agree_on_a_large_rural_grid() -> None:
    network = rural_grid_network(400, seed=3)
    rng = np.random.default_rng(4)
    low, high = network.coordinates.min(axis=0), network.coordinates.max(axis=0)
    demand = low + rng.random((50_000, 2)) * (high - low)
    sites = low + rng.random((1_000, 2)) * (high - low)
    results = [
        network_costs(network, demand, sites, cutoff=1_800.0, measure="time", engine=engine)
        for engine in ("numba", "scipy")
    ]
    numba, scipy = (r.costs for r in results)
    assert numba.nnz > 1_000_000
    np.testing.assert_array_equal(numba.indptr, scipy.indptr)
    np.testing.assert_array_equal(numba.indices, scipy.indices)
    np.testing.assert_array_equal(numba.data, scipy.data)
