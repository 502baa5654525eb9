"""Maximal covering: brute force with fixed and forbidden sites, both backends, the heuristic
method, the exact reductions, and monotonicity properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optiserv.data import Instance
from optiserv.exceptions import ParameterError
from optiserv.formulations import MaximalCovering
from optiserv.formulations import mclp as mclp_module
from optiserv.solvers import SolveOptions, Status, get_backend
from optiserv.testing import assert_solution_feasible, brute_force_optimum
from tests.conftest import random_instance

BACKENDS = ["highs", "cbc"]


def cases() -> list[tuple[int, int, float, int, int]]:
    """(seed, p, radius, fixed, forbidden): small random instances, some with single-site
    rows (small radius), some with dominated sites (large radius)."""
    return [
        (0, 2, 2_500.0, 0, 0),
        (1, 3, 3_000.0, 1, 1),
        (2, 3, 4_000.0, 2, 1),
        (3, 4, 2_000.0, 0, 2),
        (4, 2, 6_000.0, 1, 0),
        (5, 5, 3_500.0, 2, 2),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("seed", "p", "radius", "fixed", "forbidden"), cases())
def test_exact_matches_brute_force(
    seed: int, p: int, radius: float, fixed: int, forbidden: int, backend: str
) -> None:
    instance = random_instance(seed, n=40, m=10, fixed=fixed, forbidden=forbidden)
    model = MaximalCovering(p=p, radius=radius)
    best, _ = brute_force_optimum(instance, model)
    solution = model.solve(instance, backend=backend)
    assert solution.status is Status.OPTIMAL
    assert solution.objective == pytest.approx(best)
    assert solution.bound == pytest.approx(best)
    assert solution.backend == backend
    assert_solution_feasible(solution, instance, model)
    assert solution.open_sites.size == p
    assert instance.sites.fixed[solution.open_sites].sum() == fixed
    assert not instance.sites.forbidden[solution.open_sites].any()
    assert solution.covered_weight == pytest.approx(solution.objective)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("seed", "p", "radius", "fixed", "forbidden"), cases())
def test_the_program_alone_matches_brute_force(
    seed: int,
    p: int,
    radius: float,
    fixed: int,
    forbidden: int,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reduced program, without the heuristic's fixings or its plan, is still exact."""
    instance = random_instance(seed + 100, n=40, m=10, fixed=fixed, forbidden=forbidden)
    model = MaximalCovering(p=p, radius=radius)
    best, _ = brute_force_optimum(instance, model)
    monkeypatch.setattr(mclp_module, "_LAGRANGIAN_ITERATIONS", 0)
    monkeypatch.setattr(mclp_module, "_ROUNDS", 0)
    prepared = model._prepare(instance)
    built = model._build(instance, prepared)
    result = get_backend(backend).solve(built.program, SolveOptions())
    assert result.status is Status.OPTIMAL
    assert result.objective == pytest.approx(best)
    start = model._warm_start(instance, prepared, built, SolveOptions())
    assert start is not None
    assert built.program.violation(start) == 0.0
    assert built.program.value(start) <= best + 1e-9


@pytest.mark.parametrize(("seed", "p", "radius", "fixed", "forbidden"), cases())
def test_heuristic_method_is_valid_and_brackets_the_optimum(
    seed: int, p: int, radius: float, fixed: int, forbidden: int
) -> None:
    instance = random_instance(seed + 200, n=40, m=10, fixed=fixed, forbidden=forbidden)
    model = MaximalCovering(p=p, radius=radius, method="heuristic")
    best, _ = brute_force_optimum(instance, model)
    solution = model.solve(instance)
    assert solution.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert solution.backend == "heuristic"
    assert solution.objective <= best + 1e-9 <= solution.bound + 2e-9
    if solution.status is Status.OPTIMAL:
        assert solution.objective == pytest.approx(best)
    assert_solution_feasible(solution, instance, model)
    assert solution.open_sites.size == p


def test_heuristic_reports_its_gap_on_a_hard_instance() -> None:
    instance = random_instance(42, n=1_500, m=120, side=60_000.0)
    solution = MaximalCovering(p=12, radius=6_000.0, method="heuristic").solve(instance)
    assert solution.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert solution.bound >= solution.objective
    assert solution.gap == pytest.approx(
        (solution.bound - solution.objective) / solution.objective
    )
    assert solution.gap < 0.05
    exact = MaximalCovering(p=12, radius=6_000.0).solve(instance)
    assert solution.objective <= exact.objective + 1e-9 <= solution.bound + 1e-9


def test_time_limited_solve_is_never_worse_than_the_heuristic() -> None:
    # The heuristic's own search is cut short by the time limit too (by how much depends on the
    # machine), so compare with the heuristic plan and bound of this very solve.
    instance = random_instance(43, n=3_000, m=200, side=80_000.0)
    model = MaximalCovering(p=20, radius=8_000.0)
    solution = model.solve(instance, options=SolveOptions(time_limit=0.5))
    assert solution.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert solution.objective >= solution.details["heuristic_objective"] - 1e-9
    assert solution.objective <= solution.bound <= solution.details["heuristic_bound"] + 1e-9
    assert_solution_feasible(solution, instance, model)


def test_objective_counts_demand_covered_by_fixed_sites() -> None:
    demand = np.array([[0.0, 0.0], [10.0, 0.0], [100.0, 0.0], [200.0, 0.0]])
    sites = np.array([[0.0, 0.0], [100.0, 0.0], [200.0, 0.0]])
    instance = Instance.from_arrays(
        demand, sites, weights=[5.0, 7.0, 11.0, 13.0], site_status=[1, 0, 0]
    )
    solution = MaximalCovering(p=2, radius=15.0).solve(instance)
    assert solution.status is Status.OPTIMAL
    assert solution.objective == pytest.approx(5 + 7 + 13)
    assert sorted(solution.open_sites.tolist()) == [0, 2]


def test_co_located_and_useless_sites_are_closed_without_losing_the_optimum() -> None:
    demand = np.array([[0.0, 0.0], [1.0, 0.0], [50.0, 0.0], [51.0, 0.0], [500.0, 0.0]])
    # sites 0 and 1 are co-located, 3 covers a subset of 2's demand, 4 covers nothing
    sites = np.array([[0.0, 0.0], [0.0, 0.0], [50.5, 0.0], [51.0, 0.0], [5_000.0, 0.0]])
    instance = Instance.from_arrays(demand, sites, weights=[1.0, 2.0, 3.0, 4.0, 5.0])
    model = MaximalCovering(p=4, radius=1.0)
    solution = model.solve(instance)
    best, _ = brute_force_optimum(instance, model)
    assert solution.objective == pytest.approx(best) == 10.0
    assert solution.open_sites.size == 4
    assert solution.details["dominated_sites"] == 0  # closing 3 would leave fewer than p sites
    smaller = MaximalCovering(p=2, radius=1.0).solve(instance)
    assert smaller.objective == pytest.approx(10.0)
    assert smaller.details["dominated_sites"] == 3


def test_only_fixed_sites() -> None:
    instance = random_instance(7, n=30, m=6, fixed=3)
    model = MaximalCovering(p=3, radius=3_000.0)
    solution = model.solve(instance)
    assert solution.status is Status.OPTIMAL
    assert sorted(solution.open_sites.tolist()) == sorted(
        np.flatnonzero(instance.sites.fixed).tolist()
    )
    assert_solution_feasible(solution, instance, model)


def test_nothing_within_reach() -> None:
    instance = random_instance(8, n=20, m=5)
    solution = MaximalCovering(p=2, radius=0.0).solve(instance)
    assert solution.status is Status.OPTIMAL
    assert solution.objective == 0.0
    assert solution.open_sites.size == 2


def test_unknown_method_is_a_parameter_error() -> None:
    with pytest.raises(ParameterError, match="method"):
        MaximalCovering(p=2, radius=1.0, method="fast").solve(random_instance(1))  # type: ignore[arg-type]


def test_parameters_round_trip() -> None:
    model = MaximalCovering(p=3, radius=2.5, method="heuristic")
    assert model.get_params() == {"p": 3, "radius": 2.5, "method": "heuristic"}


@given(seed=st.integers(0, 10_000), p=st.integers(1, 5))
def test_optimum_never_decreases_as_p_grows(seed: int, p: int) -> None:
    instance = random_instance(seed, n=30, m=8, fixed=seed % 2, forbidden=int(seed % 3 == 0))
    low = MaximalCovering(p=max(p, 1), radius=3_000.0).solve(instance)
    high = MaximalCovering(p=max(p, 1) + 1, radius=3_000.0).solve(instance)
    assert low.status is high.status is Status.OPTIMAL
    assert high.objective >= low.objective - 1e-9


@given(
    seed=st.integers(0, 10_000),
    radius=st.floats(500.0, 6_000.0),
    growth=st.floats(0.0, 3_000.0),
)
def test_optimum_never_decreases_as_the_radius_grows(
    seed: int, radius: float, growth: float
) -> None:
    instance = random_instance(seed, n=30, m=8, fixed=seed % 2)
    small = MaximalCovering(p=3, radius=radius).solve(instance)
    large = MaximalCovering(p=3, radius=radius + growth).solve(instance)
    assert small.status is large.status is Status.OPTIMAL
    assert large.objective >= small.objective - 1e-9
