"""Streamed coverage for very large maximal covering: the grid radius search, the running
aggregation of identical coverage sets, the streamed assignment, and MCLP on the streamed rows,
each checked against the matrix path or an obvious reference."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from optiserv.coverage import coverage_matrix, nearest_open, reduce_coverage
from optiserv.coverage import streaming as streaming_module
from optiserv.coverage.streaming import (
    CoverageAggregator,
    aggregated_coverage,
    nearest_open_within,
)
from optiserv.data import Instance
from optiserv.exceptions import DataError, ParameterError
from optiserv.formulations import MaximalCovering
from optiserv.formulations import _coverage_common as common
from optiserv.geometry import pairwise, within_radius
from optiserv.geometry.distance import within_radius_chunks
from optiserv.solvers import SolveOptions, Status
from optiserv.testing import assert_solution_feasible, brute_force_optimum
from tests._pure_python import pure_python_report
from tests.conftest import random_instance
from tests.reference import coverage as reference
from tests.reference.distances import euclidean_dense, within_radius_reference

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- helpers
def joined(chunks: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate streamed chunks into one CSR (indptr, indices, data)."""
    pointers, indices, data = [np.zeros(1, dtype=np.int64)], [], []
    offset, expected_start = 0, 0
    for chunk in chunks:
        assert chunk.start == expected_start
        expected_start += chunk.n_rows
        pointers.append(chunk.indptr[1:] + offset)
        offset += int(chunk.indptr[-1])
        indices.append(chunk.indices)
        data.append(chunk.data)
    if not indices:
        return pointers[0], np.zeros(0, np.int32), np.zeros(0)
    return np.concatenate(pointers), np.concatenate(indices), np.concatenate(data)


def assert_chunks_equal_within_radius(
    a: np.ndarray,
    b: np.ndarray,
    radius: float,
    metric: str = "euclidean",
    chunk_rows: int | None = None,
    sites: np.ndarray | None = None,
) -> None:
    expected = within_radius(a, b, radius, metric)  # type: ignore[arg-type]
    chunks = list(
        within_radius_chunks(a, b, radius, metric, sites=sites, chunk_rows=chunk_rows)  # type: ignore[arg-type]
    )
    indptr, indices, data = joined(chunks)
    if sites is not None:
        # restrict the full search to the sites asked for
        keep = np.isin(expected.indices, sites)
        rows = expected.row_indices()[keep]
        counts = np.bincount(rows, minlength=a.shape[0])
        expected_indptr = np.concatenate([[0], np.cumsum(counts)])
        expected_indices, expected_data = expected.indices[keep], expected.data[keep]
    else:
        expected_indptr, expected_indices, expected_data = (
            expected.indptr, expected.indices, expected.data
        )
    np.testing.assert_array_equal(indptr, expected_indptr)
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_array_equal(data, expected_data)  # bit for bit
    assert indices.dtype == np.int32 and indptr.dtype == np.int64


def planar(seed: int, n: int, m: int, side: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.0, side, (n, 2)), rng.uniform(0.0, side, (m, 2))
    a[: min(3, n, m)] = b[: min(3, n, m)]  # points on top of sites
    return a, b


# ---------------------------------------------------------------------------- grid search
@pytest.mark.parametrize("radius", [0.0, 2.0, 9.5, 40.0, 500.0, np.inf])
@pytest.mark.parametrize("chunk_rows", [None, 1, 37])
def test_grid_chunks_equal_within_radius(radius: float, chunk_rows: int | None) -> None:
    a, b = planar(1, 400, 50)
    assert_chunks_equal_within_radius(a, b, radius, chunk_rows=chunk_rows)


def test_grid_chunks_closed_interval_on_exact_ties() -> None:
    # 3-4-5 triangles: distances exactly at the radius are kept
    a = np.array([[0.0, 0.0], [100.0, 100.0], [7.0, 7.0], [1000.0, 0.0], [-1e9, 5.0]])
    b = np.array([[3.0, 4.0], [103.0, 104.0], [0.0, 5.0], [7.0, 7.0], [6.0, 8.0], [0.0, 0.0]])
    for radius in (0.0, 5.0, 10.0):
        assert_chunks_equal_within_radius(a, b, radius)
    indptr, indices, data = joined(list(within_radius_chunks(a, b, 5.0)))
    assert indices[indptr[0] : indptr[1]].tolist() == [0, 2, 5]
    assert data[indptr[0] : indptr[1]].tolist() == [5.0, 5.0, 0.0]


def test_grid_chunks_at_large_coordinates_and_tiny_radius() -> None:
    """Coordinates in the millions with radii from micrometres: no pair is missed."""
    rng = np.random.default_rng(3)
    b = 6_500_000.0 + rng.uniform(0.0, 10_000.0, (40, 2))
    a = np.concatenate([b + rng.normal(0.0, 1e-6, b.shape), b[:5], b + 0.5])
    dense = euclidean_dense(a, b)
    for radius in (0.0, 1e-6, float(dense[0, 0]), float(dense[3, 7]), 1_000.0):
        assert_chunks_equal_within_radius(a, b, radius, chunk_rows=17)
        expected = within_radius_reference(dense, radius)
        streamed = joined(list(within_radius_chunks(a, b, radius)))
        for got, want in zip(streamed, expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_grid_chunks_degenerate_site_layouts() -> None:
    rng = np.random.default_rng(4)
    a = rng.uniform(-50.0, 150.0, (300, 2))
    one_site = np.array([[10.0, 10.0]])
    same_place = np.repeat(one_site, 6, axis=0)
    on_a_line = np.column_stack((np.linspace(0.0, 100.0, 30), np.full(30, 3.0)))
    at_origin = np.zeros((2, 2))
    for b in (one_site, same_place, on_a_line, at_origin):
        for radius in (0.0, 0.5, 12.0, 300.0, np.inf):
            assert_chunks_equal_within_radius(a, b, radius, chunk_rows=64)
    # a tiny radius against a wide spread of sites: the grid stays small and exact
    wide = rng.uniform(0.0, 1e6, (50, 2))
    points = np.concatenate([wide[:10] + 1e-4, rng.uniform(0.0, 1e6, (100, 2))])
    assert_chunks_equal_within_radius(points, wide, 1e-3)


def test_grid_chunks_site_subset_and_haversine() -> None:
    a, b = planar(5, 250, 40)
    subset = np.array([0, 3, 4, 17, 39])
    assert_chunks_equal_within_radius(a, b, 20.0, sites=subset, chunk_rows=31)
    assert_chunks_equal_within_radius(a, b, 20.0, sites=np.zeros(0, np.int64), chunk_rows=31)
    rng = np.random.default_rng(6)
    lon = np.column_stack((rng.uniform(10, 12, 300), rng.uniform(60, 61, 300)))
    sites = np.column_stack((rng.uniform(10, 12, 30), rng.uniform(60, 61, 30)))
    for radius in (0.0, 5_000.0, 30_000.0):
        assert_chunks_equal_within_radius(lon, sites, radius, "haversine", chunk_rows=50)
        assert_chunks_equal_within_radius(
            lon, sites, radius, "haversine", sites=np.array([2, 5, 29])
        )


def test_grid_chunks_empty_inputs_and_bad_arguments() -> None:
    assert list(within_radius_chunks(np.zeros((0, 2)), np.ones((3, 2)), 1.0)) == []
    (chunk,) = within_radius_chunks(np.ones((4, 2)), np.zeros((0, 2)), 1.0)
    assert chunk.indptr.tolist() == [0, 0, 0, 0, 0] and chunk.indices.size == 0
    with pytest.raises(ParameterError):
        list(within_radius_chunks(np.ones((4, 2)), np.ones((3, 2)), -1.0))
    with pytest.raises(ParameterError):
        list(within_radius_chunks(np.ones((4, 2)), np.ones((3, 2)), 1.0, sites=[3]))
    with pytest.raises(ParameterError):
        list(within_radius_chunks(np.ones((4, 2)), np.ones((3, 2)), 1.0, chunk_rows=0))
    with pytest.raises(DataError):
        list(within_radius_chunks(np.ones((4, 3)), np.ones((3, 2)), 1.0))


coordinate = st.integers(-6, 6).map(float)


@given(
    a=arrays(np.float64, st.tuples(st.integers(0, 30), st.just(2)), elements=coordinate),
    b=arrays(np.float64, st.tuples(st.integers(1, 12), st.just(2)), elements=coordinate),
    radius=st.sampled_from([0.0, 1.0, 2.0, 5.0, 13.0]).map(float),
    chunk_rows=st.integers(1, 8),
)
def test_grid_chunks_property_on_integer_grid(
    a: np.ndarray, b: np.ndarray, radius: float, chunk_rows: int
) -> None:
    """Integer points: many duplicates and many distances exactly at the radius."""
    assert_chunks_equal_within_radius(a, b, radius, chunk_rows=chunk_rows)


# ---------------------------------------------------------------------------- aggregation
def assert_aggregation_matches_reduction(
    a: np.ndarray,
    b: np.ndarray,
    weights: np.ndarray,
    radius: float,
    *,
    metric: str = "euclidean",
    allowed: np.ndarray | None = None,
    chunk_rows: int | None = None,
) -> None:
    cover = sp.csr_matrix(within_radius(a, b, radius, metric).dense() <= radius)  # type: ignore[arg-type]
    if allowed is not None:
        cover = sp.csr_matrix(cover.toarray() & allowed[np.newaxis, :])
    expected = reduce_coverage(cover, weights)
    aggregated = aggregated_coverage(
        a, weights, b, radius, metric=metric, allowed=allowed,  # type: ignore[arg-type]
        chunk_rows=chunk_rows, return_group=True,
    )
    assert aggregated.matrix.shape == expected.matrix.shape
    np.testing.assert_array_equal(aggregated.matrix.indptr, expected.matrix.indptr)
    np.testing.assert_array_equal(aggregated.matrix.indices, expected.matrix.indices)
    # the same sums in the same order: equal bit for bit
    np.testing.assert_array_equal(aggregated.weights, expected.weights)
    np.testing.assert_array_equal(aggregated.group, expected.group)
    assert aggregated.n_unreachable == expected.unreachable.size
    np.testing.assert_allclose(
        aggregated.unreachable_weight, weights[expected.unreachable].sum(axis=0), rtol=1e-12
    )
    assert aggregated.points.sum() + aggregated.n_unreachable == a.shape[0]
    np.testing.assert_array_equal(
        aggregated.points, np.bincount(expected.group[expected.group >= 0],
                                       minlength=expected.n_rows)
    )
    assert aggregated.n_demand == a.shape[0] and aggregated.n_rows == expected.n_rows
    assert aggregated.matrix.dtype == bool and aggregated.matrix.has_sorted_indices


@pytest.mark.parametrize("chunk_rows", [None, 1, 13, 1000])
def test_aggregation_equals_reduce_coverage(chunk_rows: int | None) -> None:
    rng = np.random.default_rng(7)
    a, b = np.round(rng.uniform(0, 60, (700, 2))), np.round(rng.uniform(0, 60, (25, 2)))
    weights = rng.integers(1, 100, 700).astype(float)
    for radius in (0.0, 8.0, 15.0):
        assert_aggregation_matches_reduction(a, b, weights, radius, chunk_rows=chunk_rows)


def test_aggregation_with_allowed_sites_groups_and_haversine() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.uniform(0, 60, (500, 2)), rng.uniform(0, 60, (30, 2))
    allowed = rng.random(30) < 0.7
    weights = rng.uniform(0, 5, (500, 3))
    assert_aggregation_matches_reduction(a, b, weights, 12.0, allowed=allowed, chunk_rows=77)
    lon = np.column_stack((rng.uniform(10, 12, 400), rng.uniform(60, 61, 400)))
    sites = np.column_stack((rng.uniform(10, 12, 20), rng.uniform(60, 61, 20)))
    assert_aggregation_matches_reduction(
        lon, sites, rng.uniform(0, 5, 400), 25_000.0, metric="haversine", allowed=allowed[:20]
    )


def test_aggregation_matches_the_obvious_reference() -> None:
    rng = np.random.default_rng(9)
    a, b = np.round(rng.uniform(0, 30, (200, 2))), np.round(rng.uniform(0, 30, (12, 2)))
    weights = rng.uniform(0, 2, 200)
    cover = euclidean_dense(a, b) <= 6.0
    matrix, summed, group, unreachable = reference.reduce_reference(cover, weights)
    aggregated = aggregated_coverage(a, weights, b, 6.0, chunk_rows=9, return_group=True)
    np.testing.assert_array_equal(aggregated.matrix.toarray(), matrix)
    np.testing.assert_allclose(aggregated.weights, summed, rtol=1e-12)
    np.testing.assert_array_equal(aggregated.group, group)
    assert aggregated.n_unreachable == unreachable.size


def test_aggregator_is_exact_when_every_hash_collides() -> None:
    """With every column code zero, all sets of one length share a key: only the column
    comparison separates them."""
    rng = np.random.default_rng(10)
    cover = sp.csr_matrix(np.concatenate([rng.random((60, 8)) < 0.4] * 4))
    weights = rng.uniform(0, 1, cover.shape[0])
    colliding = CoverageAggregator(8)
    colliding._codes = (np.zeros(8, np.int64), np.zeros(8, np.int64))
    honest = CoverageAggregator(8)
    for aggregator in (colliding, honest):
        for start in range(0, cover.shape[0], 50):
            part = cover[start : start + 50]
            aggregator.add(part.indptr, part.indices, weights[start : start + 50],
                           record_group=True)
    expected = reduce_coverage(cover, weights)
    for aggregator in (colliding, honest):
        result = aggregator.result()
        np.testing.assert_array_equal(result.matrix.toarray(), expected.matrix.toarray())
        np.testing.assert_array_equal(result.weights, expected.weights)
        np.testing.assert_array_equal(result.group, expected.group)


def test_aggregator_grows_past_many_sets_and_results_are_snapshots() -> None:
    m = 40
    rows = [np.flatnonzero(np.array(list(np.binary_repr(k, m)), dtype=int)) for k in range(1, 5000)]
    indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])])
    indices = np.concatenate(rows).astype(np.int32)
    aggregator = CoverageAggregator(m, n_groups=2)
    aggregator.add(indptr, indices, np.ones((len(rows), 2)))
    first = aggregator.result()
    assert first.n_rows == 4999 and aggregator.n_sets == 4999
    aggregator.add(indptr, indices, np.ones((len(rows), 2)))
    assert aggregator.result().n_rows == 4999 and aggregator.n_demand == 2 * 4999
    assert (aggregator.result().weights == 2.0).all() and (first.weights == 1.0).all()
    assert (aggregator.result().points == 2).all()
    np.testing.assert_array_equal(first.matrix.toarray(), aggregator.result().matrix.toarray())


def test_aggregator_rejects_bad_rows() -> None:
    aggregator = CoverageAggregator(3)
    with pytest.raises(DataError):
        aggregator.add([0, 2], [0, 3], [1.0])  # site index out of range
    with pytest.raises(DataError):
        aggregator.add([0, 1], [0, 1], [1.0])  # indptr does not end at len(indices)
    with pytest.raises(DataError):
        aggregator.add([0, 1], [0], [1.0, 2.0])  # one weight per row
    aggregator.add([0, 1], [0], [1.0])
    with pytest.raises(ParameterError):
        aggregator.add([0, 1], [0], [1.0], record_group=True)
    with pytest.raises(ParameterError):
        CoverageAggregator(3, n_groups=0)
    with pytest.raises(DataError):
        aggregated_coverage(np.zeros((3, 2)), np.ones(2), np.zeros((2, 2)), 1.0)
    with pytest.raises(ParameterError):
        aggregated_coverage(np.zeros((3, 2)), np.ones(3), np.zeros((2, 2)), -1.0)
    with pytest.raises(DataError):
        aggregated_coverage(np.zeros((3, 2)), np.ones(3), np.zeros((2, 2)), 1.0, allowed=[True])


def test_aggregation_of_no_demand() -> None:
    empty = aggregated_coverage(np.zeros((0, 2)), np.zeros(0), np.ones((3, 2)), 1.0,
                                return_group=True)
    assert empty.n_rows == 0 and empty.n_demand == 0 and empty.unreachable_weight == 0.0
    assert empty.matrix.shape == (0, 3) and empty.group is not None and empty.group.size == 0


# ---------------------------------------------------------------------------- assignment
@pytest.mark.parametrize("metric", ["euclidean", "haversine"])
def test_nearest_open_within_equals_nearest_open(metric: str) -> None:
    rng = np.random.default_rng(11)
    if metric == "euclidean":
        a, b = np.round(rng.uniform(0, 50, (600, 2))), np.round(rng.uniform(0, 50, (30, 2)))
        radius = 9.0
    else:
        a = np.column_stack((rng.uniform(10, 12, 600), rng.uniform(60, 61, 600)))
        b = np.column_stack((rng.uniform(10, 12, 30), rng.uniform(60, 61, 30)))
        radius = 20_000.0
    costs = within_radius(a, b, radius, metric)  # type: ignore[arg-type]
    for open_sites in ([0, 5, 9, 29], [], list(range(30))):
        expected = nearest_open(costs, np.asarray(open_sites, dtype=np.int64))
        site, distance = nearest_open_within(
            a, b, open_sites, radius, metric=metric, chunk_rows=101  # type: ignore[arg-type]
        )
        np.testing.assert_array_equal(site, expected[0])
        np.testing.assert_array_equal(distance, expected[1])
    with pytest.raises(ParameterError):
        nearest_open_within(a, b, [30], radius)


# ---------------------------------------------------------------------------- MCLP
@pytest.mark.parametrize(
    ("seed", "p", "radius", "fixed", "forbidden"),
    [(0, 2, 2_500.0, 0, 0), (1, 3, 3_000.0, 1, 1), (2, 3, 4_000.0, 2, 1), (3, 4, 6_000.0, 0, 2)],
)
def test_streamed_rows_equal_matrix_rows(
    seed: int, p: int, radius: float, fixed: int, forbidden: int
) -> None:
    instance = random_instance(seed, n=300, m=12, fixed=fixed, forbidden=forbidden)
    for drop in (True, False):
        matrix = common.coverage_rows(instance, radius, drop_fixed_covered=drop, stream=False)
        streamed = common.coverage_rows(instance, radius, drop_fixed_covered=drop, stream=True)
        assert matrix.data is not None and streamed.streamed
        np.testing.assert_array_equal(streamed.matrix.toarray(), matrix.matrix.toarray())
        np.testing.assert_array_equal(streamed.weights, matrix.weights)  # integer weights
        assert streamed.fixed_weight == matrix.fixed_weight
        assert streamed.unreachable_weight == matrix.unreachable_weight
        open_sites = np.flatnonzero(~instance.sites.forbidden)[:p]
        assignment, covered = common.served_by_rows(instance, streamed, open_sites)
        expected_assignment, expected_covered = common.served_by_rows(
            instance, matrix, open_sites
        )
        np.testing.assert_array_equal(assignment, expected_assignment)
        assert covered == expected_covered


def test_user_costs_are_never_streamed() -> None:
    instance = random_instance(3, n=40, m=6)
    with_costs = instance.replace(costs=within_radius(
        instance.demand.coordinates, instance.sites.coordinates, 3_000.0
    ))
    rows = common.coverage_rows(with_costs, 3_000.0, drop_fixed_covered=True, stream=True)
    assert not rows.streamed


@pytest.mark.parametrize(
    ("seed", "p", "radius", "fixed", "forbidden"),
    [(0, 2, 2_500.0, 0, 0), (1, 3, 3_000.0, 1, 1), (4, 2, 6_000.0, 1, 0), (5, 5, 3_500.0, 2, 2)],
)
def test_mclp_streamed_matches_brute_force_and_matrix_path(
    monkeypatch: pytest.MonkeyPatch, seed: int, p: int, radius: float, fixed: int, forbidden: int
) -> None:
    instance = random_instance(seed, n=60, m=10, fixed=fixed, forbidden=forbidden)
    model = MaximalCovering(p=p, radius=radius)
    best, _ = brute_force_optimum(instance, model)
    matrix_solution = model.solve(instance)
    monkeypatch.setattr(common, "STREAM_MIN_DEMAND", 0)
    solution = model.solve(instance)
    assert solution.details["coverage_streamed"] is True
    assert matrix_solution.details["coverage_streamed"] is False
    assert solution.status is Status.OPTIMAL
    assert solution.objective == pytest.approx(best)
    assert solution.bound == pytest.approx(best)
    assert_solution_feasible(solution, instance, model)
    assert solution.covered_weight == pytest.approx(solution.objective)
    for key in ("reduced_rows", "model_rows", "dominated_sites", "unreachable_demand_weight"):
        assert solution.details[key] == matrix_solution.details[key]
    np.testing.assert_array_equal(solution.open_sites, matrix_solution.open_sites)
    np.testing.assert_array_equal(solution.assignment, matrix_solution.assignment)


def test_mclp_streams_haversine_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(12)
    demand = np.column_stack((rng.uniform(14, 16, 400), rng.uniform(62, 63, 400)))
    sites = np.column_stack((rng.uniform(14, 16, 15), rng.uniform(62, 63, 15)))
    instance = Instance.from_arrays(
        demand, sites, weights=rng.integers(1, 50, 400), metric="haversine"
    )
    model = MaximalCovering(p=3, radius=15_000.0)
    expected = model.solve(instance)
    monkeypatch.setattr(common, "STREAM_MIN_DEMAND", 0)
    solution = model.solve(instance)
    assert solution.details["coverage_streamed"]
    assert solution.objective == expected.objective and solution.is_optimal
    np.testing.assert_array_equal(solution.assignment, expected.assignment)
    assert_solution_feasible(solution, instance, model)


def test_mclp_streams_large_instances_by_default() -> None:
    rng = np.random.default_rng(13)
    n = common.STREAM_MIN_DEMAND
    instance = Instance.from_arrays(
        rng.uniform(0, 50_000, (n, 2)), rng.uniform(0, 50_000, (40, 2)),
        weights=rng.integers(1, 101, n),
    )
    model = MaximalCovering(p=5, radius=6_000.0)
    solution = model.solve(instance, options=SolveOptions(time_limit=60))
    assert solution.details["coverage_streamed"] is True
    assert solution.status is Status.OPTIMAL
    assert solution.covered_weight == pytest.approx(solution.objective)
    covered = (pairwise(instance.demand.coordinates, instance.sites.coordinates[
        solution.open_sites]) <= 6_000.0).any(axis=1)
    assert solution.objective == pytest.approx(float(instance.weight()[covered].sum()))
    assert ((solution.assignment >= 0) == covered).all()
    assert solution.details["reduced_rows"] < n // 10  # aggregation pays


# ---------------------------------------------------------------------------- large
def uniform_instance(n: int, m: int, seed: int) -> tuple[Instance, float]:
    """n points and m sites uniform in a 100 km square; a radius reaching ~5 sites."""
    rng = np.random.default_rng(seed)
    radius = 100_000.0 * np.sqrt(5.0 / (np.pi * m))
    instance = Instance.from_arrays(
        rng.uniform(0, 100_000, (n, 2)), rng.uniform(0, 100_000, (m, 2)),
        weights=rng.integers(1, 101, n),
    )
    return instance, float(radius)


@pytest.mark.slow
def test_a_million_points_solved_to_proven_optimality() -> None:
    instance, radius = uniform_instance(1_000_000, 300, 0)
    model = MaximalCovering(p=20, radius=radius)
    solution = model.solve(instance, options=SolveOptions(time_limit=600))
    assert solution.status is Status.OPTIMAL and solution.gap <= 1e-9
    assert solution.details["coverage_streamed"] is True
    assert solution.covered_weight == solution.objective
    # the covered weight recomputed from the plan, chunk by chunk with plain numpy
    covered = 0.0
    open_xy = instance.sites.coordinates[solution.open_sites]
    for start in range(0, instance.n_demand, 100_000):
        block = instance.demand.coordinates[start : start + 100_000]
        near = (pairwise(block, open_xy) <= radius).any(axis=1)
        covered += float(instance.weight()[start : start + 100_000][near].sum())
    assert covered == solution.objective


@pytest.mark.slow
def test_streamed_and_matrix_paths_agree_on_a_large_instance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instance, radius = uniform_instance(200_000, 200, 1)
    model = MaximalCovering(p=15, radius=radius)
    streamed = model.solve(instance)
    monkeypatch.setattr(common, "STREAM_MIN_DEMAND", instance.n_demand + 1)
    matrix = model.solve(instance)
    assert streamed.details["coverage_streamed"] and not matrix.details["coverage_streamed"]
    assert streamed.status is matrix.status is Status.OPTIMAL
    assert streamed.objective == matrix.objective
    assert streamed.details["reduced_rows"] == matrix.details["reduced_rows"]
    coverage = coverage_matrix(instance, radius)
    reduced = reduce_coverage(coverage, instance.weight())
    assert reduced.n_rows >= streamed.details["reduced_rows"]


# ---------------------------------------------------------------------------- pure Python
_PURE_PYTHON_CHECK = textwrap.dedent(
    """
    import json
    import numpy as np
    from optiserv.coverage import _stream_kernels, nearest_open, reduce_coverage
    from optiserv.coverage.streaming import aggregated_coverage, nearest_open_within
    from optiserv.geometry import _kernels, within_radius
    from optiserv.geometry.distance import within_radius_chunks

    assert not hasattr(_stream_kernels.aggregate_rows, "py_func"), "numba is still compiling"
    assert not hasattr(_kernels.grid_radius_rows, "py_func"), "numba is still compiling"
    rng = np.random.default_rng(0)
    a = np.round(rng.uniform(0, 20, (60, 2)))
    b = np.round(rng.uniform(0, 20, (9, 2)))
    weights = rng.integers(1, 9, 60).astype(float)
    report = {}
    ok = True
    for radius in (0.0, 4.0, 30.0):
        costs = within_radius(a, b, radius)
        parts = list(within_radius_chunks(a, b, radius, chunk_rows=7))
        ok &= np.array_equal(np.concatenate([p.indices for p in parts]), costs.indices)
        ok &= np.array_equal(np.concatenate([p.data for p in parts]), costs.data)
    report["grid"] = bool(ok)
    aggregated = aggregated_coverage(a, weights, b, 4.0, chunk_rows=11, return_group=True)
    reduced = reduce_coverage(within_radius(a, b, 4.0).to_scipy(), weights)
    report["aggregate"] = bool(
        np.array_equal(aggregated.group, reduced.group)
        and np.array_equal(aggregated.weights, reduced.weights)
    )
    site, _ = nearest_open_within(a, b, [1, 4], 4.0, chunk_rows=13)
    report["assign"] = bool(
        np.array_equal(site, nearest_open(within_radius(a, b, 4.0), np.array([1, 4]))[0])
    )
    print(json.dumps(report))
    """
)


def test_kernels_run_as_pure_python() -> None:
    """The streaming kernels also run, and agree, with ``NUMBA_DISABLE_JIT=1``."""
    report = pure_python_report(_PURE_PYTHON_CHECK)
    assert report == dict.fromkeys(report, True) and len(report) == 3, report


def test_module_exports() -> None:
    assert set(streaming_module.__all__) == {
        "AggregatedCoverage", "CoverageAggregator", "aggregated_coverage", "nearest_open_within"
    }
