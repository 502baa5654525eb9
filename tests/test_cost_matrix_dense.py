"""A cost matrix given as a dense array: kept as it is, pairs within a cutoff extracted from it.

Every view of a dense-backed matrix is checked against the same matrix built from its pairs
(``from_pairs``, the plain CSR path), and its memory against the size of the array.
"""

from __future__ import annotations

import pickle
import tracemalloc

import numpy as np
import pytest

from optiserv.data import CostMatrix, Instance, _dense
from optiserv.exceptions import DataError


def _random_dense(n: int, m: int, seed: int = 0) -> np.ndarray:
    """Costs 0–10 with exact zeros, some +inf and some -inf (both unreachable)."""
    rng = np.random.default_rng(seed)
    dense = np.round(rng.uniform(0.0, 10.0, size=(n, m)), 1)
    dense[rng.random((n, m)) < 0.05] = 0.0
    dense[rng.random((n, m)) < 0.2] = np.inf
    dense[rng.random((n, m)) < 0.02] = -np.inf
    return dense


def _from_pairs(dense: np.ndarray) -> CostMatrix:
    rows, cols = np.nonzero(np.isfinite(dense))
    return CostMatrix.from_pairs(rows, cols, dense[rows, cols], dense.shape)


def _assert_same(a: CostMatrix, b: CostMatrix) -> None:
    assert a.shape == b.shape and a.unit == b.unit and a.nnz == b.nnz
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.indptr.dtype == np.int64 and a.indices.dtype == np.int32
    assert a.data.dtype == np.float64


@pytest.mark.parametrize("block", [7, 1 << 18])  # many row blocks, and one
def test_dense_backed_views_equal_the_csr_ones(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(_dense, "_BLOCK_ENTRIES", block)
    dense = _random_dense(23, 9)
    reference = _from_pairs(dense)
    for cutoff in (0.0, 3.3, 5.0, 10.0, np.inf):
        within = CostMatrix.from_dense(dense).within(cutoff)
        _assert_same(within, reference.within(cutoff))
        assert not within.dense_backed
    costs = CostMatrix.from_dense(dense)
    assert costs.nnz == reference.nnz and costs.dense_backed  # counted, not materialised
    np.testing.assert_array_equal(costs.dense(), reference.dense())
    np.testing.assert_array_equal(costs.dense(fill=-1.0), reference.dense(fill=-1.0))
    for sites in (None, [0, 4, 8], [], [3]):
        expected = reference.dense()
        expected = expected if sites is None else expected[:, sites]
        expected = expected.min(axis=1) if expected.shape[1] else np.full(23, np.inf)
        np.testing.assert_array_equal(costs.row_minimum(sites), expected)
        np.testing.assert_array_equal(reference.row_minimum(sites), expected)
    rows = np.array([5, 0, 22, 5])
    _assert_same(costs.take_rows(rows), reference.take_rows(rows))
    _assert_same(costs, reference)  # reading the CSR arrays materialises them once
    assert not costs.dense_backed
    np.testing.assert_array_equal(costs.row_indices(), reference.row_indices())
    assert (costs.to_scipy() != reference.to_scipy()).nnz == 0


def test_dense_backed_matrix_validates_like_the_csr_one() -> None:
    with pytest.raises(DataError, match="NaN"):
        CostMatrix.from_dense(np.array([[1.0, np.nan]]))
    with pytest.raises(DataError, match="negative"):
        CostMatrix.from_dense(np.array([[1.0, -0.5]]))
    with pytest.raises(DataError, match="2-d"):
        CostMatrix.from_dense(np.zeros(3))
    unreachable = CostMatrix.from_dense(np.array([[-np.inf, 2.0]]))  # -inf: unreachable
    assert unreachable.nnz == 1 and unreachable.indices.tolist() == [1]


def test_dense_backed_matrix_is_immutable_and_pickles() -> None:
    dense = _random_dense(6, 4, seed=1)
    costs = CostMatrix.from_dense(dense, "second")
    with pytest.raises(AttributeError):
        costs.unit = "metre"  # type: ignore[misc]
    for matrix in (costs, CostMatrix.from_dense(dense, "second").within(7.0)):
        copy = pickle.loads(pickle.dumps(matrix))
        assert copy.dense_backed == matrix.dense_backed
        _assert_same(copy, matrix)
        assert not copy.data.flags.writeable


def _peak_bytes(call) -> tuple[object, int]:
    tracemalloc.start()
    try:
        out = call()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_read_only_dense_input_is_shared_and_a_cutoff_needs_only_its_pairs() -> None:
    n, m = 2_000, 500  # 8 MB of float64
    dense = np.random.default_rng(2).uniform(0.0, 100.0, size=(n, m))
    size = dense.nbytes
    copied, peak = _peak_bytes(lambda: CostMatrix.from_dense(dense))
    assert peak >= size  # a writeable array is copied: the caller may still change it
    dense.flags.writeable = False
    shared, peak = _peak_bytes(lambda: CostMatrix.from_dense(dense))
    assert peak < size / 2  # read-only: kept as it is, only block-sized masks
    within, peak = _peak_bytes(lambda: shared.within(1.0))  # about 1 % of the pairs
    assert within.nnz < n * m // 50
    assert peak < size / 2  # never all n·m pairs (12 bytes each) in CSR form
    nearest, peak = _peak_bytes(lambda: shared.row_minimum(np.arange(0, m, 2)))
    assert peak < size / 2 and shared.dense_backed
    np.testing.assert_array_equal(nearest, dense[:, ::2].min(axis=1))
    instance, peak = _peak_bytes(
        lambda: Instance.from_arrays(np.zeros((n, 2)), np.zeros((m, 2)), costs=dense)
    )
    assert peak < size / 2 and instance.costs.dense_backed
    _assert_same(within, copied.within(1.0))


def test_view_is_shared_only_when_its_bases_are_read_only(tmp_path) -> None:
    dense = np.random.default_rng(3).uniform(0.0, 100.0, size=(400, 50))
    np.savez(tmp_path / "costs.npz", cost=dense)
    loaded = np.load(tmp_path / "costs.npz")["cost"]  # a view of the buffer np.load read
    assert isinstance(loaded.base, np.ndarray)
    loaded.flags.writeable = False
    assert CostMatrix.from_dense(loaded)._dense is not loaded  # its base is still writeable
    loaded.base.flags.writeable = False
    assert CostMatrix.from_dense(loaded)._dense is loaded  # nothing can write to it now
    backing = dense.copy()
    view = backing[:200]
    view.flags.writeable = False
    costs = CostMatrix.from_dense(view)
    backing[0, 0] = -1.0  # written through the writeable base: the matrix kept a copy
    assert costs.dense()[0, 0] == dense[0, 0]


@pytest.mark.parametrize("block", [5, 1 << 18])  # many row blocks, and one
def test_nearest_open_reads_a_dense_matrix_in_place(
    monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """The same nearest open site (ties: the lowest j) and cost as on the CSR form, with
    +inf and -inf entries and rows that reach no open site; no CSR arrays are made."""
    from optiserv.coverage import nearest_open

    monkeypatch.setattr(_dense, "_BLOCK_ENTRIES", block)
    dense = np.round(_random_dense(31, 9, seed=3))  # integer costs: many ties
    dense[4] = np.inf
    reference = _from_pairs(dense)
    costs = CostMatrix.from_dense(dense)
    for sites in ([0, 4, 8], [8, 1, 1], [], [2], list(range(9))):
        site, cost = nearest_open(costs, sites)
        expected_site, expected_cost = nearest_open(reference, sites)
        np.testing.assert_array_equal(site, expected_site)
        np.testing.assert_array_equal(cost, expected_cost)
    assert costs.dense_backed
