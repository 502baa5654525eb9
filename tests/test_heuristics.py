"""Covering heuristics: valid plans, valid bounds, kernels against naive references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from optiserv.exceptions import ParameterError
from optiserv.heuristics import (
    CoveringProblem,
    CoveringResult,
    greedy_covering,
    interchange_covering,
    lagrangian_covering_bound,
    solve_covering,
)
from optiserv.lp import ModelBuilder
from optiserv.solvers import SolveOptions, get_backend


def random_problem(seed: int, n: int = 14, m: int = 7) -> CoveringProblem:
    """A small random covering problem with some fixed and some forbidden sites."""
    rng = np.random.default_rng(seed)
    cover = rng.random((n, m)) < rng.uniform(0.1, 0.5)
    weights = rng.integers(0, 20, n).astype(float)
    role = rng.choice(3, m, p=[0.7, 0.15, 0.15])
    role[0] = 0  # at least one candidate, so p can always be met
    fixed, forbidden = role == 1, role == 2
    low, high = max(int(fixed.sum()), 1), int((~forbidden).sum())
    p = int(rng.integers(low, high + 1))
    return CoveringProblem.from_matrix(cover, weights, p=p, fixed=fixed, forbidden=forbidden)


def brute_force(problem: CoveringProblem) -> float:
    """The best covered weight over every admissible plan."""
    fixed = np.flatnonzero(problem.role == 1)
    free = np.flatnonzero(problem.role == 0)
    best = -np.inf
    for extra in itertools.combinations(free.tolist(), problem.p - fixed.size):
        best = max(best, problem.value(problem.plan(np.concatenate([fixed, extra]))))
    return float(best)


def all_plans(problem: CoveringProblem) -> list[tuple[np.ndarray, float]]:
    """Every admissible plan with its value."""
    fixed = np.flatnonzero(problem.role == 1)
    free = np.flatnonzero(problem.role == 0)
    plans = []
    for extra in itertools.combinations(free.tolist(), problem.p - fixed.size):
        plan = problem.plan(np.concatenate([fixed, extra]))
        plans.append((plan, problem.value(plan)))
    return plans


def assert_valid(problem: CoveringProblem, result: CoveringResult, optimum: float) -> None:
    """A feasible plan, its value recomputed, and objective ≤ optimum ≤ bound."""
    plan = problem.plan(result.sites)
    problem.check_plan(plan)
    assert np.array_equal(result.sites, np.sort(result.sites))
    assert result.objective == pytest.approx(problem.value(plan))
    assert result.objective <= optimum + 1e-9
    assert optimum <= result.bound + 1e-9
    assert result.gap >= 0


def lp_relaxation(problem: CoveringProblem) -> float:
    """The linear-programming relaxation's optimum, solved by HiGHS."""
    cover = sp.csr_matrix(
        (np.ones(problem.row_indices.size), problem.row_indices, problem.row_indptr),
        shape=(problem.n_rows, problem.n_sites),
    )
    builder = ModelBuilder()
    y = builder.add_variables(
        "y", problem.n_sites, lower=(problem.role == 1) * 1.0, upper=(problem.role != 2) * 1.0
    )
    z = builder.add_variables("z", problem.n_rows, cost=problem.weights, upper=1.0)
    builder.add_matrix_rows(
        [(z, sp.identity(problem.n_rows, format="csr")), (y, -cover)], upper=0.0
    )
    builder.add_matrix_rows([(y, np.ones((1, problem.n_sites)))], lower=problem.p, upper=problem.p)
    result = get_backend("highs").solve(builder.build("maximize"), SolveOptions())
    return result.objective


# ------------------------------------------------------------------ validity against brute force
@pytest.mark.parametrize("seed", range(40))
def test_every_heuristic_is_feasible_and_brackets_the_optimum(seed: int) -> None:
    problem = random_problem(seed)
    optimum = brute_force(problem)
    greedy = greedy_covering(problem)
    assert_valid(problem, greedy, optimum)
    local = interchange_covering(problem, greedy)
    assert_valid(problem, local, optimum)
    assert local.objective >= greedy.objective
    assert_valid(problem, interchange_covering(problem, greedy, rounds=20, seed=seed), optimum)
    relaxation = lagrangian_covering_bound(problem, incumbent=greedy.objective, iterations=200)
    assert relaxation.bound >= optimum - 1e-9
    assert_valid(problem, relaxation.result, optimum)
    best, _ = solve_covering(problem, rounds=20, lagrangian_iterations=200, seed=seed)
    assert_valid(problem, best, optimum)


def test_greedy_and_interchange_are_usually_optimal_on_tiny_instances() -> None:
    """Not a promise of optimality: a check that the search is not broken."""
    hits = 0
    for seed in range(60):
        problem = random_problem(1000 + seed, n=12, m=7)
        best, _ = solve_covering(problem, rounds=0, lagrangian_iterations=0)
        hits += best.objective == brute_force(problem)
    assert hits >= 50


@pytest.mark.parametrize("seed", range(12))
def test_lagrangian_fixings_keep_every_plan_at_least_as_good_as_the_incumbent(seed: int) -> None:
    problem = random_problem(2000 + seed, n=16, m=8)
    plans = all_plans(problem)
    values = np.array([value for _, value in plans])
    # a weak incumbent, so that the fixings are tested where they cut off real plans
    for incumbent in (float(np.quantile(values, 0.5)), float(values.max())):
        relaxation = lagrangian_covering_bound(problem, incumbent=incumbent, iterations=300)
        close, must_open = relaxation.fixings(problem, incumbent)
        assert not (close & must_open).any()
        for plan, value in plans:
            if value >= incumbent:
                assert not plan[close].any()
                assert plan[must_open].all()


@pytest.mark.parametrize("seed", range(8))
def test_lagrangian_bound_is_never_below_the_lp_relaxation(seed: int) -> None:
    problem = random_problem(3000 + seed, n=30, m=10)
    relaxation = lagrangian_covering_bound(problem, iterations=50)
    assert relaxation.bound >= lp_relaxation(problem) - 1e-6


def test_lagrangian_bound_approaches_the_lp_relaxation() -> None:
    rng = np.random.default_rng(7)
    points = rng.random((400, 2))
    sites = rng.random((40, 2))
    distance = np.linalg.norm(points[:, None, :] - sites[None, :, :], axis=2)
    problem = CoveringProblem.from_matrix(distance <= 0.15, rng.integers(1, 101, 400), p=6)
    relaxation = lagrangian_covering_bound(problem, iterations=3000)
    assert relaxation.bound <= lp_relaxation(problem) * 1.01


# ------------------------------------------------------------------ kernels against references
def naive_greedy(problem: CoveringProblem) -> np.ndarray:
    """Greedy by marginal weight, recomputing every gain from scratch (ties: lowest index)."""
    plan = problem.role == 1
    for _ in range(problem.p - int(plan.sum())):
        base = problem.value(plan)
        gains = np.full(problem.n_sites, -np.inf)
        for j in np.flatnonzero((problem.role == 0) & ~plan):
            trial = plan.copy()
            trial[j] = True
            gains[j] = problem.value(trial) - base
        plan[int(np.argmax(gains))] = True
    return plan


def naive_is_swap_optimal(problem: CoveringProblem, plan: np.ndarray) -> bool:
    """True when no single swap of an open and a closed candidate gains weight."""
    value = problem.value(plan)
    for out in np.flatnonzero(plan & (problem.role == 0)):
        for into in np.flatnonzero(~plan & (problem.role == 0)):
            trial = plan.copy()
            trial[out], trial[into] = False, True
            if problem.value(trial) > value + 1e-9:
                return False
    return True


@pytest.mark.parametrize("seed", range(15))
def test_greedy_matches_the_naive_reference(seed: int) -> None:
    problem = random_problem(4000 + seed, n=40, m=12)
    assert np.array_equal(problem.plan(greedy_covering(problem).sites), naive_greedy(problem))


@pytest.mark.parametrize("seed", range(15))
def test_interchange_ends_in_a_swap_local_optimum(seed: int) -> None:
    problem = random_problem(5000 + seed, n=40, m=12)
    rng = np.random.default_rng(seed)
    fixed = np.flatnonzero(problem.role == 1)
    free = np.flatnonzero(problem.role == 0)
    start = np.concatenate([fixed, rng.choice(free, problem.p - fixed.size, replace=False)])
    result = interchange_covering(problem, start)
    assert naive_is_swap_optimal(problem, problem.plan(result.sites))


@pytest.mark.parametrize("seed", range(10))
def test_submodular_bound_matches_the_naive_reference(seed: int) -> None:
    problem = random_problem(6000 + seed, n=30, m=9)
    plan = problem.plan(greedy_covering(problem).sites)
    base = problem.value(plan)
    gains = []
    for j in np.flatnonzero((problem.role == 0) & ~plan):
        trial = plan.copy()
        trial[j] = True
        gains.append(problem.value(trial) - base)
    free = problem.p - int((problem.role == 1).sum())
    expected = base + sum(sorted(gains, reverse=True)[:free])
    assert problem.submodular_bound(plan) == pytest.approx(expected)


@given(seed=st.integers(0, 10_000), rounds=st.integers(0, 30))
def test_iterated_interchange_never_loses_weight(seed: int, rounds: int) -> None:
    problem = random_problem(seed, n=25, m=10)
    greedy = greedy_covering(problem)
    result = interchange_covering(problem, greedy, rounds=rounds, seed=seed)
    assert result.objective >= greedy.objective
    problem.check_plan(problem.plan(result.sites))


def test_the_search_is_deterministic_for_a_seed() -> None:
    problem = random_problem(11, n=60, m=15)
    first, _ = solve_covering(problem, rounds=50, seed=3)
    second, _ = solve_covering(problem, rounds=50, seed=3)
    assert np.array_equal(first.sites, second.sites)
    assert first.bound == second.bound


@pytest.mark.parametrize("seed", range(8))
def test_a_stalled_search_is_valid_deterministic_and_no_better_than_all_rounds(seed: int) -> None:
    problem = random_problem(seed, n=60, m=15)
    optimum = brute_force(problem)
    stalled, _ = solve_covering(problem, rounds=200, seed=seed, stall=5)
    again, _ = solve_covering(problem, rounds=200, seed=seed, stall=5)
    assert_valid(problem, stalled, optimum)
    assert np.array_equal(stalled.sites, again.sites)
    full, _ = solve_covering(problem, rounds=200, seed=seed)
    assert full.objective >= stalled.objective  # the stalled rounds are a prefix of all


def test_stall_must_be_positive() -> None:
    problem = random_problem(0, n=14, m=7)
    with pytest.raises(ParameterError, match="stall"):
        solve_covering(problem, rounds=10, stall=0)


def test_a_spent_time_budget_still_gives_a_valid_plan_and_bound() -> None:
    problem = random_problem(12, n=14, m=7)
    best, _ = solve_covering(problem, rounds=10_000, seconds=0.0)
    assert_valid(problem, best, brute_force(problem))


# ------------------------------------------------------------------ edge cases and validation
def test_only_fixed_sites_leave_nothing_to_choose() -> None:
    cover = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)
    problem = CoveringProblem.from_matrix(
        cover, [1.0, 2.0, 4.0], p=2, fixed=[True, False, True], forbidden=None
    )
    best, _ = solve_covering(problem)
    assert best.sites.tolist() == [0, 2]
    assert best.objective == best.bound == 5.0
    assert best.gap == 0.0


def test_no_demand_rows() -> None:
    problem = CoveringProblem.from_matrix(np.zeros((0, 4), dtype=bool), np.zeros(0), p=2)
    best, _ = solve_covering(problem)
    assert best.objective == best.bound == 0.0
    assert best.sites.size == 2


def test_fractional_weights_are_not_rounded() -> None:
    cover = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)
    problem = CoveringProblem.from_matrix(cover, [0.25, 0.5, 0.125], p=1)
    assert not problem.integral
    best, _ = solve_covering(problem)
    assert best.objective == 0.75
    assert best.bound >= 0.75


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"p": 0}, "positive integer"),
        ({"p": 4}, "larger than the number of sites"),
        ({"p": 1, "fixed": [True, True, False]}, "more than p"),
        ({"p": 2, "fixed": [True, False, False], "forbidden": [True, False, False]}, "both"),
        ({"p": 1, "fixed": [True, False]}, "one entry per site"),
    ],
)
def test_invalid_problems_are_parameter_errors(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ParameterError, match=fragment):
        CoveringProblem.from_matrix(np.ones((2, 3), dtype=bool), [1.0, 2.0], **kwargs)


def test_negative_weights_are_rejected() -> None:
    with pytest.raises(ParameterError, match="non-negative"):
        CoveringProblem.from_matrix(np.ones((2, 3), dtype=bool), [1.0, -2.0], p=1)


def test_interchange_rejects_an_infeasible_start() -> None:
    problem = CoveringProblem.from_matrix(np.ones((2, 3), dtype=bool), [1.0, 2.0], p=2)
    with pytest.raises(ParameterError, match="opens 1 sites"):
        interchange_covering(problem, [0])
