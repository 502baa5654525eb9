"""Distance kernels and the radius-limited KD-tree search against dense numpy references."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from optiserv.data import CostMatrix, Instance
from optiserv.exceptions import DataError, ParameterError
from optiserv.geometry import EARTH_RADIUS, distance, nearest, pairwise, travel_costs, within_radius
from tests._pure_python import pure_python_report
from tests.reference import distances as reference

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- inputs
def planar(seed: int, n: int, m: int, side: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """Uniform demand and sites in a square, with a few exact duplicates between and within."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.0, side, (n, 2))
    b = rng.uniform(0.0, side, (m, 2))
    shared = min(3, n, m)
    a[:shared] = b[:shared]
    if n > 5:
        a[5] = a[4]
    if m > 4:
        b[4] = b[3]
    return a, b


def lonlat(seed: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Points near the antimeridian and both poles, plus a few anywhere on the globe."""
    rng = np.random.default_rng(seed)

    def cloud(count: int) -> np.ndarray:
        lon = rng.uniform(-180.0, 180.0, count)
        lat = rng.uniform(-90.0, 90.0, count)
        kind = rng.integers(0, 4, count)
        near_antimeridian = kind == 0
        lon[near_antimeridian] = rng.choice([-180.0, 180.0], near_antimeridian.sum()) + rng.uniform(
            -0.3, 0.3, near_antimeridian.sum()
        )
        lon = np.clip(lon, -180.0, 180.0)
        lat[near_antimeridian] = rng.uniform(-10.0, 10.0, near_antimeridian.sum())
        lat[kind == 1] = rng.uniform(89.7, 90.0, (kind == 1).sum())
        lat[kind == 2] = rng.uniform(-90.0, -89.7, (kind == 2).sum())
        return np.column_stack((lon, lat))

    a, b = cloud(n), cloud(m)
    a[0], b[0] = (180.0, 0.0), (-180.0, 0.0)  # the same point, written two ways
    a[1], b[1] = (10.0, 90.0), (-170.0, 90.0)  # the north pole, two longitudes
    return a, b


def assert_csr_equal(costs: CostMatrix, distances: np.ndarray, radius: float) -> None:
    """``costs`` holds exactly the pairs with distances ≤ radius, with those distances."""
    indptr, indices, data = reference.within_radius_reference(distances, radius)
    np.testing.assert_array_equal(costs.indptr, indptr)
    np.testing.assert_array_equal(costs.indices, indices)
    np.testing.assert_array_equal(costs.data, data)


def assert_sorted_rows(costs: CostMatrix) -> None:
    rows = costs.row_indices()
    same_row = rows[1:] == rows[:-1]
    assert (np.diff(costs.indices.astype(np.int64))[same_row] > 0).all()


# ---------------------------------------------------------------------------- dense
def test_pairwise_euclidean_matches_reference_exactly() -> None:
    a, b = planar(0, 60, 25)
    np.testing.assert_array_equal(pairwise(a, b), reference.euclidean_dense(a, b))


def test_pairwise_haversine_matches_reference() -> None:
    a, b = lonlat(1, 80, 30)
    computed = pairwise(a, b, "haversine")
    np.testing.assert_allclose(computed, reference.haversine_dense(a, b), rtol=1e-12, atol=1e-6)
    assert computed[0, 0] < 1e-6  # lon 180 and lon -180 are the same meridian
    assert computed[1, 1] < 1e-6  # the pole has every longitude


def test_haversine_known_distances() -> None:
    quarter = np.pi * EARTH_RADIUS / 2
    a = np.array([[0.0, 0.0], [179.5, 0.0], [0.0, 90.0]])
    b = np.array([[90.0, 0.0], [-179.5, 0.0], [0.0, -90.0]])
    d = pairwise(a, b, "haversine")
    assert d[0, 0] == pytest.approx(quarter, rel=1e-12)
    assert d[1, 1] == pytest.approx(EARTH_RADIUS * np.radians(1.0), rel=1e-12)
    assert d[2, 2] == pytest.approx(2 * quarter, rel=1e-12)


def test_pairwise_rejects_bad_input() -> None:
    with pytest.raises(DataError):
        pairwise(np.zeros((3, 3)), np.zeros((2, 2)))
    with pytest.raises(ParameterError):
        pairwise(np.zeros((3, 2)), np.zeros((2, 2)), "manhattan")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- within_radius
@pytest.mark.parametrize("radius", [0.0, 3.0, 17.5, 60.0, 500.0])
def test_within_radius_euclidean_matches_reference(radius: float) -> None:
    a, b = planar(2, 300, 40)
    costs = within_radius(a, b, radius)
    assert_csr_equal(costs, reference.euclidean_dense(a, b), radius)
    assert costs.shape == (300, 40)
    assert costs.indptr.dtype == np.int64 and costs.indices.dtype == np.int32
    assert_sorted_rows(costs)


def test_within_radius_closed_interval_on_exact_ties() -> None:
    # 3-4-5 triangles: these distances are exact in floating point
    a = np.array([[0.0, 0.0], [100.0, 100.0], [7.0, 7.0], [1000.0, 0.0]])
    b = np.array([[3.0, 4.0], [103.0, 104.0], [0.0, 5.0], [7.0, 7.0], [6.0, 8.0], [0.0, 0.0]])
    costs = within_radius(a, b, 5.0)
    dense = costs.dense()
    assert dense[0, 0] == 5.0 and dense[0, 2] == 5.0 and dense[0, 5] == 0.0
    assert dense[1, 1] == 5.0 and dense[2, 3] == 0.0
    assert np.isinf(dense[0, 4])  # distance 10
    assert costs.indptr[4] == costs.indptr[3]  # a point far from every site has an empty row
    assert_csr_equal(costs, reference.euclidean_dense(a, b), 5.0)
    zero = within_radius(a, b, 0.0)
    assert zero.nnz == 2 and set(zip(zero.row_indices(), zero.indices, strict=True)) == {
        (0, 5),
        (2, 3),
    }


def test_within_radius_ties_at_large_coordinates() -> None:
    # metric CRS coordinates in the millions; the radius is exactly the distance of some pairs
    a, b = planar(3, 200, 30, side=10_000.0)
    a += 6_500_000.0
    b += 6_500_000.0
    dense = reference.euclidean_dense(a, b)
    for radius in (dense[7, 3], dense[0, 0], np.median(dense)):
        costs = within_radius(a, b, float(radius))
        assert_csr_equal(costs, dense, float(radius))


@pytest.mark.parametrize("radius", [0.0, 50_000.0, 400_000.0, 3_000_000.0, 30_000_000.0])
def test_within_radius_haversine_matches_kernel_and_reference(radius: float) -> None:
    a, b = lonlat(4, 400, 60)
    kernel_dense = pairwise(a, b, "haversine")
    costs = within_radius(a, b, radius, "haversine")
    # the same scalar kernel: exactly the thresholded dense matrix
    assert_csr_equal(costs, kernel_dense, radius)
    # and the numpy reference, except for pairs within rounding of the radius
    reference_dense = reference.haversine_dense(a, b)
    np.testing.assert_allclose(kernel_dense, reference_dense, rtol=1e-12, atol=1e-6)
    clear = np.abs(reference_dense - radius) > 1e-6
    np.testing.assert_array_equal(
        np.isfinite(costs.dense())[clear], (reference_dense <= radius)[clear]
    )
    assert_sorted_rows(costs)


def test_within_radius_haversine_ties_at_radius() -> None:
    a, b = lonlat(12, 120, 30)
    dense = pairwise(a, b, "haversine")
    for i, j in ((3, 4), (50, 7), (119, 29)):
        radius = float(dense[i, j])
        costs = within_radius(a, b, radius, "haversine")
        assert costs.dense()[i, j] == radius
        assert_csr_equal(costs, dense, radius)


def test_within_radius_haversine_across_antimeridian_and_pole() -> None:
    a = np.array([[179.99, 10.0], [-179.99, 10.0], [45.0, 89.999], [0.0, -89.9999]])
    b = np.array([[-179.995, 10.0], [-135.0, 89.999], [180.0, -89.9999], [0.0, 0.0]])
    costs = within_radius(a, b, 2_000.0, "haversine")
    dense = costs.dense()
    assert np.isfinite(dense[0, 0]) and np.isfinite(dense[1, 0])  # across lon ±180
    degree = EARTH_RADIUS * np.pi / 180
    # 0.001° from the north pole on opposite meridians: 0.002° apart, over the pole
    assert dense[2, 1] == pytest.approx(0.002 * degree, rel=1e-6)
    # 0.0001° from the south pole on meridians 0 and 180
    assert dense[3, 2] == pytest.approx(0.0002 * degree, rel=1e-6)
    assert np.isinf(dense[:, 3]).all()
    assert_csr_equal(costs, pairwise(a, b, "haversine"), 2_000.0)


def test_within_radius_many_chunks_and_long_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunk boundaries and rows longer than the insertion-sort limit."""
    monkeypatch.setattr(distance, "_MIN_CHUNK_ROWS", 7)
    monkeypatch.setattr(distance, "_MAX_CHUNK_ROWS", 7)
    a, b = planar(5, 101, 120)
    for radius in (5.0, 80.0, np.inf):
        assert_csr_equal(within_radius(a, b, radius), reference.euclidean_dense(a, b), radius)
    a, b = lonlat(6, 50, 80)
    radius = 8_000_000.0
    assert_csr_equal(within_radius(a, b, radius, "haversine"), pairwise(a, b, "haversine"), radius)


def test_within_radius_infinite_radius_keeps_every_pair() -> None:
    a, b = planar(7, 20, 9)
    assert within_radius(a, b, np.inf).nnz == 180
    a, b = lonlat(7, 20, 9)
    assert within_radius(a, b, np.inf, "haversine").nnz == 180
    assert within_radius(a, b, 1e9, "haversine").nnz == 180  # more than half the globe


def test_within_radius_empty_inputs() -> None:
    empty = within_radius(np.zeros((0, 2)), np.ones((4, 2)), 1.0)
    assert empty.shape == (0, 4) and empty.nnz == 0 and empty.indptr.tolist() == [0]
    no_sites = within_radius(np.ones((3, 2)), np.zeros((0, 2)), 1.0)
    assert no_sites.shape == (3, 0) and no_sites.indptr.tolist() == [0, 0, 0, 0]
    far = within_radius(np.zeros((3, 2)), np.full((2, 2), 100.0), 1.0)
    assert far.nnz == 0 and far.indptr.tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("radius", [-1.0, np.nan])
def test_within_radius_rejects_bad_radius(radius: float) -> None:
    with pytest.raises(ParameterError):
        within_radius(np.zeros((2, 2)), np.zeros((2, 2)), radius)


coordinate = st.integers(-6, 6).map(float)


@given(
    a=arrays(np.float64, st.tuples(st.integers(0, 25), st.just(2)), elements=coordinate),
    b=arrays(np.float64, st.tuples(st.integers(1, 12), st.just(2)), elements=coordinate),
    radius=st.sampled_from([0.0, 1.0, 2.0, 5.0, 13.0]).map(float),
)
def test_within_radius_property_on_integer_grid(
    a: np.ndarray, b: np.ndarray, radius: float
) -> None:
    """Integer points: many duplicates and many distances exactly at the radius."""
    assert_csr_equal(within_radius(a, b, radius), reference.euclidean_dense(a, b), radius)


@given(
    a=arrays(
        np.float64,
        st.tuples(st.integers(1, 15), st.just(2)),
        elements=st.floats(-90.0, 90.0, allow_nan=False),
    ),
    b=arrays(
        np.float64,
        st.tuples(st.integers(1, 10), st.just(2)),
        elements=st.floats(-90.0, 90.0, allow_nan=False),
    ),
    radius=st.floats(0.0, 2.5e7, allow_nan=False),
)
def test_within_radius_property_haversine(a: np.ndarray, b: np.ndarray, radius: float) -> None:
    a[:, 0] *= 2.0
    b[:, 0] *= 2.0
    assert_csr_equal(within_radius(a, b, radius, "haversine"), pairwise(a, b, "haversine"), radius)


# ---------------------------------------------------------------------------- nearest
@pytest.mark.parametrize("metric", ["euclidean", "haversine"])
@pytest.mark.parametrize("k", [1, 3, 40, 100])
def test_nearest_matches_reference(metric: str, k: int) -> None:
    rng = np.random.default_rng(8)
    if metric == "haversine":
        a, b = lonlat(8, 150, 40)
    else:
        a, b = rng.uniform(0, 100, (150, 2)), rng.uniform(0, 100, (40, 2))
    dense = pairwise(a, b, metric)  # type: ignore[arg-type]
    index, dist = nearest(a, b, k, metric)  # type: ignore[arg-type]
    expected_index, expected_dist = reference.nearest_reference(dense, k)
    assert index.shape == (150, min(k, 40)) and index.dtype == np.int64
    np.testing.assert_array_equal(dist, expected_dist)
    np.testing.assert_array_equal(index, expected_index)


def test_nearest_with_ties_is_sorted_and_consistent() -> None:
    a = np.array([[0.0, 0.0], [5.0, 5.0]])
    b = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [5.0, 5.0], [5.0, 5.0]])
    index, dist = nearest(a, b, 3)
    dense = reference.euclidean_dense(a, b)
    np.testing.assert_array_equal(dist, np.take_along_axis(dense, index, axis=1))
    assert index[0].tolist() == [0, 1, 2]  # four sites tied at 1: lowest indices first
    assert index[1, :2].tolist() == [4, 5] and dist[1, :2].tolist() == [0.0, 0.0]
    assert (np.diff(dist, axis=1) >= 0).all()


def test_nearest_edge_cases() -> None:
    a, b = planar(9, 5, 3)
    index, dist = nearest(a, b, 10)
    assert index.shape == (5, 3)
    index, dist = nearest(a, b, 0)
    assert index.shape == (5, 0) and dist.shape == (5, 0)
    index, dist = nearest(np.zeros((0, 2)), b, 2)
    assert index.shape == (0, 2)
    with pytest.raises(ParameterError):
        nearest(a, b, -1)


# ---------------------------------------------------------------------------- instance
def test_travel_costs_from_coordinates_and_given_costs() -> None:
    a, b = planar(10, 40, 12, side=10_000.0)
    instance = Instance.from_arrays(a, b)
    dense = reference.euclidean_dense(a, b)
    np.testing.assert_array_equal(travel_costs(instance).dense(), dense)
    assert_csr_equal(travel_costs(instance, cutoff=2_500.0), dense, 2_500.0)
    given_costs = np.where(dense < 3_000.0, dense * 2.0, np.inf)
    with_costs = Instance.from_arrays(a, b, costs=given_costs)
    np.testing.assert_array_equal(travel_costs(with_costs).dense(), given_costs)
    cut = travel_costs(with_costs, cutoff=2_000.0).dense()
    np.testing.assert_array_equal(cut, np.where(given_costs <= 2_000.0, given_costs, np.inf))


def test_travel_costs_haversine_instance() -> None:
    a, b = lonlat(11, 30, 10)
    instance = Instance.from_arrays(a, b, metric="haversine")
    assert_csr_equal(
        travel_costs(instance, cutoff=1_000_000.0), pairwise(a, b, "haversine"), 1_000_000.0
    )


# ---------------------------------------------------------------------------- pure Python
_PURE_PYTHON_CHECK = textwrap.dedent(
    """
    import json
    import numpy as np
    from optiserv.geometry import _kernels, distance, nearest, pairwise, within_radius
    from tests.reference import distances as reference

    assert not hasattr(_kernels.euclidean_dense, "py_func"), "numba is still compiling"
    distance._MIN_CHUNK_ROWS = distance._MAX_CHUNK_ROWS = 5
    rng = np.random.default_rng(0)
    a = np.round(rng.uniform(0, 20, (23, 2)))
    b = np.round(rng.uniform(0, 20, (40, 2)))
    report = {}
    dense = reference.euclidean_dense(a, b)
    report["pairwise"] = bool(np.array_equal(pairwise(a, b), dense))
    ok = True
    for radius in (0.0, 5.0, 30.0):
        costs = within_radius(a, b, radius)
        indptr, indices, data = reference.within_radius_reference(dense, radius)
        ok &= np.array_equal(costs.indptr, indptr) and np.array_equal(costs.indices, indices)
        ok &= np.array_equal(costs.data, data)
    report["within_radius"] = bool(ok)
    index, dist = nearest(a + 0.25 * rng.random(a.shape), b, 4)
    report["nearest"] = bool((np.diff(dist, axis=1) >= 0).all() and index.shape == (23, 4))
    lon = np.column_stack((rng.uniform(-180, 180, 23), rng.uniform(-90, 90, 23)))
    sites = np.column_stack((rng.uniform(-180, 180, 40), rng.uniform(-90, 90, 40)))
    hav = pairwise(lon, sites, "haversine")
    report["haversine"] = bool(np.allclose(hav, reference.haversine_dense(lon, sites), rtol=1e-12))
    costs = within_radius(lon, sites, 4e6, "haversine")
    indptr, indices, data = reference.within_radius_reference(hav, 4e6)
    report["haversine_within"] = bool(
        np.array_equal(costs.indices, indices) and np.array_equal(costs.data, data)
    )
    print(json.dumps(report))
    """
)


def test_kernels_run_as_pure_python() -> None:
    """Every geometry kernel also runs, and agrees, with ``NUMBA_DISABLE_JIT=1``."""
    report = pure_python_report(_PURE_PYTHON_CHECK)
    assert report == dict.fromkeys(report, True) and len(report) == 5, report
