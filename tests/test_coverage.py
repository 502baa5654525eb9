"""Coverage matrices, exact reductions and nearest-open assignment against obvious references."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from optiserv.coverage import (
    _kernels,
    coverage_from_costs,
    coverage_matrix,
    nearest_open,
    reduce_coverage,
)
from optiserv.data import CostMatrix, Instance
from optiserv.exceptions import DataError, ParameterError
from optiserv.geometry import within_radius
from tests._pure_python import pure_python_report
from tests.reference import coverage as reference
from tests.reference.distances import euclidean_dense

ROOT = Path(__file__).resolve().parents[1]


def random_cover(seed: int, n: int, m: int, density: float, copies: int = 3) -> sp.csr_matrix:
    """A boolean matrix with many repeated rows (``copies`` of a random block) and empty rows."""
    rng = np.random.default_rng(seed)
    block = rng.random((n, m)) < density
    block[rng.random(n) < 0.1] = False
    stacked = np.concatenate([block] * copies)[rng.permutation(n * copies)]
    return sp.csr_matrix(stacked)


def assert_reduction_matches_reference(
    cover: sp.csr_matrix | np.ndarray, weights: np.ndarray
) -> None:
    dense = cover.toarray() if sp.issparse(cover) else np.asarray(cover)
    reduced = reduce_coverage(cover, weights)
    matrix, summed, group, unreachable = reference.reduce_reference(dense != 0, weights)
    np.testing.assert_array_equal(reduced.group, group)
    np.testing.assert_array_equal(reduced.matrix.toarray(), matrix)
    np.testing.assert_array_equal(reduced.unreachable, unreachable)
    assert reduced.weights.shape == summed.shape
    np.testing.assert_allclose(reduced.weights, summed, rtol=1e-12)
    assert reduced.matrix.dtype == bool and reduced.matrix.has_sorted_indices
    assert reduced.n_rows == matrix.shape[0]


# ---------------------------------------------------------------------------- coverage
def test_coverage_from_costs_closed_interval_and_zero_costs() -> None:
    dense = np.array(
        [
            [0.0, 5.0, 5.000001, np.inf],
            [np.inf, np.inf, np.inf, np.inf],
            [4.999999, 10.0, 0.0, 5.0],
        ]
    )
    cover = coverage_from_costs(CostMatrix.from_dense(dense), 5.0)
    np.testing.assert_array_equal(cover.toarray(), dense <= 5.0)
    assert cover.dtype == bool and cover.has_sorted_indices
    zero = coverage_from_costs(CostMatrix.from_dense(dense), 0.0)
    assert zero.toarray().tolist() == [
        [True, False, False, False],
        [False] * 4,
        [False, False, True, False],
    ]
    with pytest.raises(ParameterError):
        coverage_from_costs(CostMatrix.from_dense(dense), -1.0)


@pytest.mark.parametrize("radius", [0.0, 7.0, 25.0, np.inf])
def test_coverage_from_costs_matches_reference(radius: float) -> None:
    rng = np.random.default_rng(1)
    dense = np.round(rng.uniform(0, 30, (200, 40)))
    dense[rng.random(dense.shape) < 0.3] = np.inf
    cover = coverage_from_costs(CostMatrix.from_dense(dense), radius)
    np.testing.assert_array_equal(cover.toarray(), np.isfinite(dense) & (dense <= radius))


def test_coverage_matrix_of_an_instance() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0, 1_000, (120, 2)), rng.uniform(0, 1_000, (15, 2))
    a[:4] = b[:4]
    instance = Instance.from_arrays(a, b)
    for radius in (0.0, 150.0, 400.0):
        cover = coverage_matrix(instance, radius)
        np.testing.assert_array_equal(cover.toarray(), euclidean_dense(a, b) <= radius)


def test_coverage_of_user_costs_keeps_only_stored_pairs() -> None:
    costs = np.array([[1.0, np.inf], [np.inf, 3.0]])
    instance = Instance.from_arrays(np.zeros((2, 2)), np.zeros((2, 2)), costs=costs)
    assert coverage_matrix(instance, 2.0).toarray().tolist() == [[True, False], [False, False]]


# ---------------------------------------------------------------------------- reduction
@pytest.mark.parametrize("density", [0.0, 0.05, 0.3, 0.9])
def test_reduce_matches_reference(density: float) -> None:
    cover = random_cover(3, 150, 12, density)
    weights = np.random.default_rng(3).uniform(0, 10, cover.shape[0])
    assert_reduction_matches_reference(cover, weights)


def test_reduce_several_weight_columns() -> None:
    cover = random_cover(4, 100, 8, 0.3)
    weights = np.random.default_rng(4).uniform(0, 10, (cover.shape[0], 3))
    assert_reduction_matches_reference(cover, weights)
    reduced = reduce_coverage(cover, weights)
    reached = reduced.group >= 0
    np.testing.assert_allclose(reduced.weights.sum(axis=0), weights[reached].sum(axis=0))


def test_reduce_grows_its_table_past_many_groups() -> None:
    # every row distinct: several thousand groups, so the hash table doubles many times
    rows = np.array(list(itertools.combinations(range(16), 3)) * 2)
    cover = sp.csr_matrix(
        (np.ones(rows.size, dtype=bool), rows.ravel(), np.arange(0, rows.size + 1, 3)),
        shape=(rows.shape[0], 16),
    )
    weights = np.arange(rows.shape[0], dtype=np.float64)
    reduced = reduce_coverage(cover, weights)
    assert reduced.n_rows == rows.shape[0] // 2
    np.testing.assert_array_equal(reduced.group, np.tile(np.arange(rows.shape[0] // 2), 2))
    big = random_cover(5, 3_000, 30, 0.2, copies=2)
    assert_reduction_matches_reference(big, np.ones(big.shape[0]))


def test_reduce_is_exact_when_every_hash_collides(monkeypatch: pytest.MonkeyPatch) -> None:
    """With one hash for every row, only the exact comparison separates the rows."""
    cover = random_cover(6, 80, 6, 0.4)
    weights = np.random.default_rng(6).uniform(0, 5, cover.shape[0])
    expected = reduce_coverage(cover, weights)
    def one_key(indptr: np.ndarray, indices: np.ndarray, n_columns: int) -> np.ndarray:
        return np.zeros(indptr.size - 1, dtype=np.int64)

    monkeypatch.setattr(_kernels, "row_keys", one_key)
    colliding = reduce_coverage(cover, weights)
    np.testing.assert_array_equal(colliding.group, expected.group)
    np.testing.assert_array_equal(colliding.matrix.toarray(), expected.matrix.toarray())
    np.testing.assert_allclose(colliding.weights, expected.weights)
    assert_reduction_matches_reference(cover, weights)


def test_group_equal_rows_with_crafted_collisions() -> None:
    # rows 0 and 2 are equal; rows 1 and 3 have the same key as row 0 but differ (length, column)
    indptr = np.array([0, 2, 3, 5, 7, 7], dtype=np.int64)
    indices = np.array([1, 4, 1, 1, 4, 1, 5], dtype=np.int32)
    keys = np.array([9, 9, 9, 9, 9], dtype=np.int64)
    group, representative, group_indptr, group_indices = _kernels.group_equal_rows(
        indptr, indices, keys
    )
    assert group.tolist() == [0, 1, 0, 2, -1]
    assert representative.tolist() == [0, 1, 3]
    assert group_indptr.tolist() == [0, 2, 3, 5]
    assert group_indices.tolist() == [1, 4, 1, 1, 5]


def test_row_keys_are_non_negative_and_distinct() -> None:
    indptr = np.array([0, 2, 4, 5, 5], dtype=np.int64)
    indices = np.array([0, 1, 0, 2, 2**20 - 1], dtype=np.int32)
    keys = _kernels.row_keys(indptr, indices, 2**20)
    assert keys.dtype == np.int64 and (keys >= 0).all()
    assert len(set(keys.tolist())) == 4


def test_reduce_accepts_non_canonical_input_and_leaves_it_unchanged() -> None:
    # unsorted columns, a duplicate entry and an explicit zero
    data = np.array([1, 1, 1, 0, 1, 1], dtype=np.int8)
    indices = np.array([3, 0, 0, 2, 0, 3], dtype=np.int32)
    indptr = np.array([0, 3, 4, 6], dtype=np.int32)
    cover = sp.csr_matrix((data, indices, indptr), shape=(3, 4))
    before = (cover.data.copy(), cover.indices.copy(), cover.indptr.copy())
    reduced = reduce_coverage(cover, np.array([1.0, 2.0, 4.0]))
    assert reduced.group.tolist() == [0, -1, 0]
    assert reduced.matrix.toarray().tolist() == [[True, False, False, True]]
    assert reduced.weights.tolist() == [5.0] and reduced.unreachable.tolist() == [1]
    for kept, now in zip(before, (cover.data, cover.indices, cover.indptr), strict=True):
        np.testing.assert_array_equal(kept, now)


def test_reduce_accepts_dense_and_sparse_arrays() -> None:
    dense = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1], [0, 1, 0]])
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    for cover in (dense, sp.csr_array(dense), sp.coo_matrix(dense)):
        assert_reduction_matches_reference(cover, weights)


def test_reduce_empty_and_bad_weights() -> None:
    empty = reduce_coverage(sp.csr_matrix((0, 5), dtype=bool), np.zeros(0))
    assert empty.n_rows == 0 and empty.matrix.shape == (0, 5) and empty.weights.shape == (0,)
    nothing = reduce_coverage(sp.csr_matrix((4, 5), dtype=bool), np.ones((4, 2)))
    assert nothing.n_rows == 0 and nothing.weights.shape == (0, 2)
    assert nothing.unreachable.tolist() == [0, 1, 2, 3]
    with pytest.raises(DataError):
        reduce_coverage(sp.csr_matrix((4, 5), dtype=bool), np.ones(3))


@pytest.mark.parametrize("seed", range(6))
def test_reduced_model_has_the_same_mclp_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 100, (60, 2))
    b = rng.uniform(0, 100, (7, 2))
    a[rng.integers(0, 60, 15)] = a[rng.integers(0, 60, 15)]  # duplicate points
    radius = float(rng.uniform(15, 40))
    cover = coverage_from_costs(within_radius(a, b, radius), radius)
    weights = rng.integers(1, 50, 60).astype(np.float64)
    reduced = reduce_coverage(cover, weights)
    dense, merged = cover.toarray(), reduced.matrix.toarray()
    for p in (1, 2, 3):
        assert reference.mclp_brute_force(merged, reduced.weights, p) == pytest.approx(
            reference.mclp_brute_force(dense, weights, p)
        )
    for subset in itertools.combinations(range(7), 2):
        assert reference.covered_weight(merged, reduced.weights, subset) == pytest.approx(
            reference.covered_weight(dense, weights, subset)
        )
    assert not dense[reduced.unreachable].any()
    reached = reduced.group >= 0
    np.testing.assert_array_equal(merged[reduced.group[reached]], dense[reached])


@given(
    cover=arrays(
        np.bool_,
        st.tuples(st.integers(0, 40), st.integers(1, 6)),
        elements=st.booleans(),
    ),
    columns=st.integers(1, 3),
)
def test_reduce_property(cover: np.ndarray, columns: int) -> None:
    weights = np.arange(cover.shape[0] * columns, dtype=np.float64).reshape(-1, columns) % 7
    assert_reduction_matches_reference(sp.csr_matrix(cover), weights)
    reduced = reduce_coverage(sp.csr_matrix(cover), weights)
    assert len({tuple(row) for row in reduced.matrix.toarray()}) == reduced.n_rows


# ---------------------------------------------------------------------------- nearest open
def test_nearest_open_matches_reference() -> None:
    rng = np.random.default_rng(7)
    dense = np.round(rng.uniform(0, 20, (150, 25)))  # integer costs: many ties
    dense[rng.random(dense.shape) < 0.5] = np.inf
    dense[:, 3] = np.where(rng.random(150) < 0.2, 0.0, dense[:, 3])  # real zeros
    costs = CostMatrix.from_dense(dense)
    for open_sites in ([], [3], [0, 5, 9, 3, 3], list(range(25))):
        site, cost = nearest_open(costs, np.array(open_sites, dtype=np.int64))
        expected_site, expected_cost = reference.nearest_open_reference(dense, np.array(open_sites))
        np.testing.assert_array_equal(site, expected_site)
        np.testing.assert_array_equal(cost, expected_cost)


def test_nearest_open_rejects_unknown_sites() -> None:
    costs = CostMatrix.from_dense(np.ones((2, 3)))
    with pytest.raises(ParameterError):
        nearest_open(costs, [3])
    with pytest.raises(ParameterError):
        nearest_open(costs, [-1])


# ---------------------------------------------------------------------------- pure Python
_PURE_PYTHON_CHECK = textwrap.dedent(
    """
    import json
    import numpy as np
    import scipy.sparse as sp
    from optiserv.coverage import _kernels, coverage_from_costs, nearest_open, reduce_coverage
    from optiserv.data import CostMatrix
    from tests.reference import coverage as reference

    assert not hasattr(_kernels.row_keys, "py_func"), "numba is still compiling"
    rng = np.random.default_rng(0)
    dense = np.round(rng.uniform(0, 10, (40, 9)))
    dense[rng.random(dense.shape) < 0.4] = np.inf
    costs = CostMatrix.from_dense(dense)
    report = {}
    cover = coverage_from_costs(costs, 4.0)
    report["coverage"] = bool(np.array_equal(cover.toarray(), dense <= 4.0))
    stacked = sp.vstack([cover, cover[::-1]], format="csr")
    weights = rng.uniform(0, 3, (80, 2))
    reduced = reduce_coverage(stacked, weights)
    matrix, summed, group, unreachable = reference.reduce_reference(stacked.toarray(), weights)
    report["reduce"] = bool(
        np.array_equal(reduced.group, group)
        and np.array_equal(reduced.matrix.toarray(), matrix)
        and np.allclose(reduced.weights, summed)
        and np.array_equal(reduced.unreachable, unreachable)
    )
    keys = _kernels.row_keys(stacked.indptr.astype(np.int64), stacked.indices, 9)
    report["keys"] = bool((keys >= 0).all())
    site, cost = nearest_open(costs, np.array([1, 4, 7]))
    expected_site, expected_cost = reference.nearest_open_reference(dense, np.array([1, 4, 7]))
    report["nearest_open"] = bool(
        np.array_equal(site, expected_site) and np.array_equal(cost, expected_cost)
    )
    print(json.dumps({"report": report, "keys": keys[:10].tolist()}))
    """
)


def test_kernels_run_as_pure_python() -> None:
    """Every coverage kernel also runs, and agrees, with ``NUMBA_DISABLE_JIT=1``.

    The row hashes are the same numbers compiled and interpreted.
    """
    result = pure_python_report(_PURE_PYTHON_CHECK)
    assert result["report"] == dict.fromkeys(result["report"], True), result["report"]
    # the same hashes from the compiled kernel
    rng = np.random.default_rng(0)
    dense = np.round(rng.uniform(0, 10, (40, 9)))
    dense[rng.random(dense.shape) < 0.4] = np.inf
    cover = coverage_from_costs(CostMatrix.from_dense(dense), 4.0)
    stacked = sp.vstack([cover, cover[::-1]], format="csr")
    keys = _kernels.row_keys(stacked.indptr.astype(np.int64), stacked.indices, 9)
    assert keys[:10].tolist() == result["keys"]
