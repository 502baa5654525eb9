"""MCLP branch and bound on the sites: exact against brute force, honest when stopped."""

from __future__ import annotations

import numpy as np
import pytest

from optiserv.formulations._mclp_branch import NodeRelaxation, base_state, branch_and_bound
from optiserv.heuristics import CoveringProblem, CoveringResult, greedy_covering
from tests.test_heuristics import brute_force, random_problem


def weak_start(problem: CoveringProblem) -> CoveringResult:
    """The greedy plan with a loose bound (all weight), so the search has work to do."""
    greedy = greedy_covering(problem)
    return CoveringResult(greedy.sites, greedy.objective, float(problem.weights.sum()), "greedy")


def uniform_problem(seed: int, n: int, m: int, p: int, radius: float) -> CoveringProblem:
    """Demand and sites uniform in the unit square, integer weights: heavy overlap."""
    rng = np.random.default_rng(seed)
    demand, sites = rng.random((n, 2)), rng.random((m, 2))
    distance = np.sqrt(((demand[:, None, :] - sites[None, :, :]) ** 2).sum(axis=2))
    weights = rng.integers(1, 101, n).astype(float)
    return CoveringProblem.from_matrix(distance <= radius, weights, p=p)


@pytest.mark.parametrize("seed", range(40))
def test_branch_and_bound_finds_the_brute_force_optimum(seed: int) -> None:
    problem = random_problem(seed, n=18, m=9)
    found = branch_and_bound(problem, weak_start(problem))
    optimum = brute_force(problem)
    assert found.proven
    assert found.result.objective == pytest.approx(optimum)
    assert found.result.bound == pytest.approx(optimum)
    assert problem.value(problem.plan(found.result.sites)) == pytest.approx(optimum)
    problem.check_plan(problem.plan(found.result.sites))


@pytest.mark.parametrize("seed", range(6))
def test_branch_and_bound_is_exact_on_overlapping_geometric_instances(seed: int) -> None:
    problem = uniform_problem(seed, n=60, m=12, p=4, radius=0.3)
    found = branch_and_bound(problem, weak_start(problem))
    assert found.proven
    assert found.result.objective == pytest.approx(brute_force(problem))


@pytest.mark.parametrize("seed", range(6))
def test_fractional_weights_and_a_relative_gap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = uniform_problem(seed, n=50, m=11, p=3, radius=0.3)
    weights = base.weights * rng.uniform(0.5, 1.5, base.n_rows)
    problem = CoveringProblem.from_matrix(
        _matrix(base), weights, p=base.p
    )
    optimum = brute_force(problem)
    exact = branch_and_bound(problem, weak_start(problem))
    assert exact.proven and exact.result.objective == pytest.approx(optimum)
    assert not problem.integral
    loose = branch_and_bound(problem, weak_start(problem), relative_gap=0.05)
    assert loose.proven
    assert loose.result.objective >= optimum / 1.05 - 1e-9


def test_a_spent_time_budget_stops_with_a_valid_bound() -> None:
    problem = uniform_problem(3, n=200, m=30, p=5, radius=0.2)
    start = weak_start(problem)
    stopped = branch_and_bound(problem, start, seconds=0.0)
    optimum = brute_force(problem)
    assert stopped.nodes == 0
    assert not stopped.proven
    assert stopped.result.objective >= start.objective
    assert stopped.result.objective <= optimum + 1e-9
    assert stopped.result.bound >= optimum - 1e-9


def test_fixed_and_forbidden_sites_are_respected() -> None:
    for seed in range(20):
        problem = random_problem(seed, n=16, m=8)
        found = branch_and_bound(problem, weak_start(problem))
        plan = problem.plan(found.result.sites)
        problem.check_plan(plan)
        assert found.result.objective == pytest.approx(brute_force(problem))


def _matrix(problem: CoveringProblem) -> np.ndarray:
    dense = np.zeros((problem.n_rows, problem.n_sites), dtype=bool)
    rows = np.repeat(np.arange(problem.n_rows), np.diff(problem.row_indptr))
    dense[rows, problem.row_indices] = True
    return dense


@pytest.mark.parametrize("seed", range(10))
def test_a_relaxation_solved_before_the_search_gives_the_same_optimum(seed: int) -> None:
    problem = uniform_problem(seed, n=80, m=16, p=4, radius=0.3)
    relaxation = NodeRelaxation(problem, threads=None)
    assert relaxation.solve(base_state(problem)) is not None  # the whole problem's LP
    warm = branch_and_bound(problem, weak_start(problem), relaxation=relaxation)
    cold = branch_and_bound(problem, weak_start(problem))
    assert warm.proven and cold.proven
    assert warm.result.objective == pytest.approx(cold.result.objective)
    with pytest.raises(ValueError, match="another problem"):
        branch_and_bound(random_problem(seed), weak_start(random_problem(seed)),
                         relaxation=relaxation)


def test_the_node_relaxation_solves_whatever_thread_count_ran_before() -> None:
    """HiGHS sizes its task scheduler once per calling thread: a main-thread run with the
    default thread count made a later relaxation asking for one thread fail (and the MCLP fall
    back to the weaker subgradient bound). Each relaxation now solves on its own thread."""
    highspy = pytest.importorskip("highspy")
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.addVars(1, np.zeros(1), np.ones(1))
    highs.run()  # sizes this thread's scheduler with the default thread count
    problem = uniform_problem(0, n=80, m=16, p=4, radius=0.3)
    for threads in (1, None, 2, 1):
        assert NodeRelaxation(problem, threads=threads).solve(base_state(problem)) is not None


def test_node_relaxations_get_only_the_time_left(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each node's LP is limited to what is left of the search's budget; an LP stopped by it
    (here: all of them) leaves the parent's multipliers, and the answer stays valid."""
    problem = uniform_problem(3, n=60, m=16, p=3, radius=0.25)
    limits: list[float] = []

    def out_of_time(self, state, seconds=float("inf")):  # type: ignore[no-untyped-def]
        limits.append(seconds)
        return None

    monkeypatch.setattr(NodeRelaxation, "solve", out_of_time)
    found = branch_and_bound(problem, weak_start(problem), seconds=30.0)
    optimum = brute_force(problem)
    assert limits and all(0 < limit <= 30.0 for limit in limits)
    assert found.result.bound >= optimum - 1e-9
    assert found.result.objective <= optimum + 1e-9
    if found.proven:
        assert found.result.objective == pytest.approx(optimum)
