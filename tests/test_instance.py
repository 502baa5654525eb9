"""The instance model validates once, at the boundary, and is immutable afterwards."""

from __future__ import annotations

import numpy as np
import pytest

from optiserv.data import CostMatrix, Instance, SiteStatus
from optiserv.exceptions import DataError, OptiservError


def _points(n: int) -> np.ndarray:
    return np.arange(2 * n, dtype=float).reshape(n, 2)


def test_builds_from_arrays_with_defaults() -> None:
    instance = Instance.from_arrays(_points(4), _points(2))
    assert instance.n_demand == 4 and instance.n_sites == 2
    assert instance.weight().tolist() == [1, 1, 1, 1]
    assert instance.demand.ids.tolist() == [0, 1, 2, 3]
    assert (instance.sites.status == SiteStatus.CANDIDATE).all()
    assert np.isinf(instance.sites.capacity).all()


def test_arrays_are_read_only_copies() -> None:
    demand = _points(3)
    instance = Instance.from_arrays(demand, _points(2), weights=[1, 2, 3])
    demand[0, 0] = 99.0
    assert instance.demand.coordinates[0, 0] == 0.0
    with pytest.raises(ValueError):
        instance.demand.coordinates[0, 0] = 5.0
    with pytest.raises(ValueError):
        instance.weight()[0] = 7.0


def test_population_groups() -> None:
    instance = Instance.from_arrays(
        _points(3), _points(1), weights={"total": [10, 20, 30], "aged_70": [1, 2, 3]}
    )
    assert instance.demand.weight_names == ["total", "aged_70"]
    assert instance.total_weight == 60
    assert instance.weight("aged_70").sum() == 6
    with pytest.raises(DataError, match="no weight column 'children'"):
        instance.weight("children")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"demand_coordinates": [[0, 0], [np.nan, 1]]}, r"NaN or infinite coordinates at ids 1"),
        ({"demand_coordinates": [[0, 0], [np.inf, 1]]}, r"NaN or infinite coordinates"),
        ({"weights": [1, -2]}, r"negative weight 'weight' at ids 1"),
        ({"demand_ids": ["a", "a"]}, r"duplicate ids 'a'"),
        ({"site_ids": [7, 7]}, r"sites: duplicate ids 7"),
        ({"site_coordinates": np.zeros((0, 2))}, r"no candidate sites"),
        ({"site_status": [2, 2]}, r"every site is forbidden"),
        ({"site_status": [0, 5]}, r"status must be 0 \(candidate\)"),
        ({"capacity": [1, -1]}, r"capacity is NaN or negative at ids 1"),
        ({"weights": [1, 2, 3]}, r"weight 'weight' has shape"),
        ({"metric": "manhattan"}, r"metric must be"),
    ],
)
def test_bad_input_names_the_field_and_ids(kwargs: dict, message: str) -> None:
    arguments = {"demand_coordinates": _points(2), "site_coordinates": _points(2), **kwargs}
    with pytest.raises(DataError, match=message) as caught:
        Instance.from_arrays(
            arguments.pop("demand_coordinates"), arguments.pop("site_coordinates"), **arguments
        )
    assert isinstance(caught.value, OptiservError)


def test_haversine_checks_lon_lat_range() -> None:
    with pytest.raises(DataError, match="lon/lat outside"):
        Instance.from_arrays([[200.0, 10.0]], [[10.0, 60.0]], metric="haversine")


def test_cost_matrix_keeps_zeros_and_drops_inf() -> None:
    dense = np.array([[0.0, np.inf, 3.0], [np.inf, np.inf, np.inf], [1.0, 2.0, 0.0]])
    costs = CostMatrix.from_dense(dense)
    assert costs.nnz == 5
    np.testing.assert_array_equal(costs.dense(), dense)
    within = costs.within(1.0)
    assert within.nnz == 3  # the two zeros and the 1.0: closed interval
    assert within.indptr.tolist() == [0, 1, 1, 3]
    sub = costs.take_rows(np.array([2, 0]))
    np.testing.assert_array_equal(sub.dense(), dense[[2, 0]])


def test_cost_matrix_from_dense_all_reachable_and_empty() -> None:
    dense = np.arange(12.0).reshape(3, 4)
    costs = CostMatrix.from_dense(dense)
    assert costs.indptr.tolist() == [0, 4, 8, 12] and costs.indices.dtype == np.int32
    np.testing.assert_array_equal(costs.dense(), dense)
    dense[0, 0] = 99.0  # the matrix does not share memory with the caller's array
    assert costs.data[0] == 0.0 and not costs.data.flags.writeable
    for shape in ((0, 3), (3, 0)):
        assert CostMatrix.from_dense(np.zeros(shape)).nnz == 0


def test_cost_matrix_adopt_keeps_fresh_arrays_and_copies_views() -> None:
    indptr, indices = np.array([0, 1, 2]), np.array([1, 0], dtype=np.int32)
    backing = np.array([5.0, 6.0, 7.0])
    costs = CostMatrix.adopt(indptr, indices, backing[:2], (2, 2))
    assert costs.indices is indices and not indices.flags.writeable  # handed over, frozen
    backing[0] = 1.0  # a view of another array is copied, so this changes nothing
    np.testing.assert_array_equal(costs.dense(), [[np.inf, 5.0], [6.0, np.inf]])
    given = np.array([1, 0], dtype=np.int32)
    assert CostMatrix(indptr, given, [1.0, 2.0], (2, 2)).indices is not given  # plain: copied
    assert given.flags.writeable


def test_cost_matrix_from_pairs_rejects_duplicates() -> None:
    with pytest.raises(DataError, match="listed more than once"):
        CostMatrix.from_pairs([0, 0], [1, 1], [2.0, 3.0], (1, 2))
    costs = CostMatrix.from_pairs([1, 0], [0, 1], [2.0, 3.0], (2, 2))
    np.testing.assert_array_equal(costs.dense(), [[np.inf, 3.0], [2.0, np.inf]])


def test_costs_shape_must_match() -> None:
    with pytest.raises(DataError, match="does not match"):
        Instance.from_arrays(_points(2), _points(2), costs=np.ones((3, 2)))
