"""p-center: brute force, both backends, an independent MIP, unreachable pairs, time limits."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optiserv.data import Instance
from optiserv.exceptions import ParameterError
from optiserv.formulations.p_center import PCenter
from optiserv.lp import ModelBuilder
from optiserv.solvers import SolveOptions, Status, get_backend
from optiserv.testing import assert_solution_feasible, brute_force_optimum
from tests.conftest import random_instance


def dense_costs(instance: Instance) -> np.ndarray:
    if instance.costs is not None:
        return instance.costs.dense()
    delta = instance.demand.coordinates[:, None, :] - instance.sites.coordinates[None, :, :]
    return np.sqrt((delta**2).sum(axis=2))


def radius_of(instance: Instance, open_sites: np.ndarray) -> float:
    return float(dense_costs(instance)[:, open_sites].min(axis=1).max())


def gappy_instance(seed: int, n: int, m: int, top: int, share: float) -> Instance:
    """Integer costs 1..top-1 with about ``share`` of the pairs unreachable; every demand
    point reaches at least one site."""
    rng = np.random.default_rng(seed)
    dense = rng.integers(1, top, (n, m)).astype(float)
    dense[rng.random((n, m)) < share] = np.inf
    dense[np.arange(n), rng.integers(0, m, n)] = rng.integers(1, top, n)
    return Instance.from_arrays(np.zeros((n, 2)), np.zeros((m, 2)), costs=dense)


def classic_p_center_mip(instance: Instance, p: int) -> float:
    """The textbook p-center MIP, built independently of PCenter.

    min r  s.t.  Σ_j d_ij x_ij ≤ r, Σ_j x_ij = 1, x_ij ≤ y_j, Σ_j y_j = p, y binary.
    """
    dense = dense_costs(instance)
    n, m = dense.shape
    rows, cols = np.nonzero(np.isfinite(dense))
    pairs = rows.size
    builder = ModelBuilder()
    lower = instance.sites.fixed.astype(float)
    upper = (~instance.sites.forbidden).astype(float)
    y = builder.add_variables("y", m, lower=lower, upper=upper, integer=True)
    x = builder.add_variables("x", pairs, upper=1.0)
    r = builder.add_variables("r", 1, cost=1.0)
    builder.add_rows(
        np.concatenate((rows, np.arange(n))),
        np.concatenate((x.start + np.arange(pairs), np.full(n, r.start))),
        np.concatenate((dense[rows, cols], -np.ones(n))),
        n_rows=n,
        upper=0.0,
    )
    builder.add_rows(rows, x.start + np.arange(pairs), 1.0, n_rows=n, lower=1.0, upper=1.0)
    builder.add_rows(
        np.tile(np.arange(pairs), 2),
        np.concatenate((x.start + np.arange(pairs), y.start + cols)),
        np.concatenate((np.ones(pairs), -np.ones(pairs))),
        n_rows=pairs,
        upper=0.0,
    )
    builder.add_rows(np.zeros(m), y.columns, 1.0, n_rows=1, lower=p, upper=p)
    result = get_backend("highs").solve(builder.build("minimize"), SolveOptions())
    return result.objective if result.status is Status.OPTIMAL else math.nan


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force(seed: int) -> None:
    instance = random_instance(seed, n=20, m=8, fixed=seed % 2, forbidden=int(seed % 3 == 0))
    for p in (1, 2, 3, 5):
        model = PCenter(p=p)
        solution = model.solve(instance)
        best, _ = brute_force_optimum(instance, model)
        assert solution.status is Status.OPTIMAL
        assert solution.objective == pytest.approx(best)
        assert solution.bound == pytest.approx(best)
        assert solution.gap == 0.0
        assert solution.open_sites.size == p
        assert solution.details["radius"] == pytest.approx(best)
        assert_solution_feasible(solution, instance, model)


def test_weights_do_not_matter() -> None:
    instance = random_instance(3, n=20, m=8)
    heavy = Instance.from_arrays(
        instance.demand.coordinates,
        instance.sites.coordinates,
        weights=np.arange(1, 21) ** 3,
    )
    assert PCenter(p=3).solve(instance).objective == pytest.approx(
        PCenter(p=3).solve(heavy).objective
    )


@pytest.mark.parametrize("seed", range(2))
def test_highs_and_cbc_agree(seed: int) -> None:
    instance = random_instance(seed + 10, n=18, m=7, fixed=seed, forbidden=1)
    model = PCenter(p=3)
    highs = model.solve(instance, backend="highs")
    cbc = model.solve(instance, backend="cbc")
    assert highs.status is cbc.status is Status.OPTIMAL
    assert cbc.backend == "cbc"
    assert highs.objective == pytest.approx(cbc.objective)
    assert_solution_feasible(cbc, instance, model)


@pytest.mark.parametrize("seed", range(2))
def test_agrees_with_the_classic_mip(seed: int) -> None:
    instance = random_instance(seed + 20, n=45, m=16, fixed=seed, forbidden=2)
    for p in (2, 4):
        solution = PCenter(p=p).solve(instance)
        assert solution.status is Status.OPTIMAL
        assert solution.objective == pytest.approx(classic_p_center_mip(instance, p), rel=1e-7)
        assert solution.objective == pytest.approx(radius_of(instance, solution.open_sites))


def test_unreachable_pairs_match_brute_force() -> None:
    for seed in range(4):
        instance = gappy_instance(seed, 12, 7, 60, 0.4)
        for p in (2, 3):
            model = PCenter(p=p)
            solution = model.solve(instance)
            best, _ = brute_force_optimum(instance, model)
            if math.isnan(best):
                assert solution.status is Status.INFEASIBLE
                assert f"no {p} sites" in solution.message
                continue
            assert solution.status is Status.OPTIMAL
            assert solution.objective == pytest.approx(best)
            assert_solution_feasible(solution, instance, model)


def test_demand_reaching_no_allowed_site_is_infeasible() -> None:
    dense = np.array([[1.0, np.inf], [np.inf, 4.0]])
    instance = Instance.from_arrays(
        np.zeros((2, 2)), np.zeros((2, 2)), demand_ids=[10, 11], site_status=[0, 2], costs=dense
    )
    solution = PCenter(p=1).solve(instance)
    assert solution.status is Status.INFEASIBLE
    assert "11" in solution.message


def test_time_limit_returns_a_plan_with_a_proven_bound() -> None:
    instance = random_instance(4, n=60, m=20)
    best = PCenter(p=4).solve(instance).objective
    solution = PCenter(p=4).solve(instance, options=SolveOptions(time_limit=1e-6))
    assert solution.status in (Status.FEASIBLE, Status.OPTIMAL)
    assert solution.bound <= best + 1e-9 <= solution.objective + 2e-9
    assert solution.objective == pytest.approx(radius_of(instance, solution.open_sites))
    if solution.status is Status.FEASIBLE:
        assert solution.gap > 0


@settings(max_examples=12)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 12), m=st.integers(2, 6))
def test_radius_never_grows_with_p(seed: int, n: int, m: int) -> None:
    instance = random_instance(seed, n=n, m=m)
    radii = [PCenter(p=p).solve(instance).objective for p in range(1, m + 1)]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(radii))
    assert radii[-1] == pytest.approx(radius_of(instance, np.arange(m)))


def test_bad_parameters_raise() -> None:
    instance = random_instance(0, n=10, m=4)
    with pytest.raises(ParameterError, match="larger than the number of sites"):
        PCenter(p=5).solve(instance)
    with pytest.raises(ParameterError, match="positive integer"):
        PCenter(p=-1).solve(instance)


def test_passes_without_the_solver_never_repeat_an_open_question(monkeypatch) -> None:
    """A radius left open by a test without the MIP is not asked again without it (the
    answer could not change); the exact pass still asks, and the optimum is still found."""
    instance = random_instance(11, n=40, m=12)
    model = PCenter(p=3)
    asked: list[tuple[float, bool]] = []
    real_test = PCenter._test

    def open_without_mip(self, instance, data, radius, solver, exact, *rest):  # type: ignore[no-untyped-def]
        asked.append((radius, exact))
        if not exact:
            return "undecided (forced by the test)", None, "undecided"
        return real_test(self, instance, data, radius, solver, exact, *rest)

    monkeypatch.setattr(PCenter, "_test", open_without_mip)
    solution = model.solve(instance)
    without = [radius for radius, exact in asked if not exact]
    assert without and len(without) == len(set(without))
    assert any(exact for _, exact in asked)
    best, _ = brute_force_optimum(instance, model)
    assert solution.status is Status.OPTIMAL
    assert solution.objective == pytest.approx(best)


@pytest.mark.parametrize("seed", range(4))
def test_narrowing_to_a_plan_radius_keeps_exactly_the_shorter_pairs(seed: int) -> None:
    """``within(r)`` keeps each row's pairs with d_ij ≤ r, in order, with the right offsets
    (rows left empty included), leaves T_i alone, and its radii are the distinct distances
    in [lowest, r]."""
    n = 25
    instance = gappy_instance(seed, n, 9, 80, 0.3)
    data = PCenter(p=3)._prepare(instance)
    pairs = data.pairs
    radius = float(np.median(pairs.distance[pairs.start[:-1]]))  # half the rows keep none
    narrowed = data.within(radius)
    for i in range(n):
        row = slice(pairs.start[i], pairs.start[i + 1])
        keep = pairs.distance[row] <= radius
        kept = slice(narrowed.pairs.start[i], narrowed.pairs.start[i + 1])
        np.testing.assert_array_equal(narrowed.pairs.site[kept], pairs.site[row][keep])
        np.testing.assert_array_equal(narrowed.pairs.distance[kept], pairs.distance[row][keep])
    assert (np.diff(narrowed.pairs.start) == 0).any()  # some row keeps nothing
    assert narrowed.threshold is data.threshold
    assert narrowed.highest == radius
    expected = np.unique(pairs.distance)
    expected = expected[(expected >= data.lowest) & (expected <= radius)]
    np.testing.assert_array_equal(narrowed.radii, expected)
    assert data.within(data.highest + 1.0) is data
