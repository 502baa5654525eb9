"""p-median: brute force, both formulations, both backends, reductions, heuristic, OR-Library."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optiserv.data import CostMatrix, Instance
from optiserv.exceptions import ParameterError
from optiserv.formulations.p_median import (
    PMedian,
    _build_assignment,
    _build_radius,
    _inconsistent,
    prepare_p_median,
    reduce_by_bound,
)
from optiserv.heuristics.p_median import greedy_interchange, lagrangian_bound, probe_sites
from optiserv.heuristics.p_median_tree import lagrangian_branch_and_bound
from optiserv.lp import LinearProgram
from optiserv.solvers import SolveOptions, SolverResult, Status, get_backend
from optiserv.testing import assert_solution_feasible, brute_force_optimum
from tests.conftest import random_instance

FORMULATIONS = ["radius", "assignment"]


def pmed_folder() -> Path | None:
    """The shared OR-Library pmed folder (../shared beside the checkout, or /work/shared)."""
    for shared in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")):
        folder = shared / "benchmarks" / "orlib_pmed"
        if (folder / "pmedopt.txt").is_file():
            return folder
    return None


def total_cost(instance: Instance, open_sites: tuple[int, ...] | np.ndarray) -> float:
    """Σ_i w_i min_{j open} d_ij from the dense costs (inf when some i reaches no open site)."""
    dense = _dense(instance)[:, list(open_sites)]
    return float((instance.weight() * dense.min(axis=1)).sum())


def _dense(instance: Instance) -> np.ndarray:
    if instance.costs is not None:
        return instance.costs.dense()
    delta = instance.demand.coordinates[:, None, :] - instance.sites.coordinates[None, :, :]
    return np.sqrt((delta**2).sum(axis=2))


def tree_from_zero(instance: Instance, p: int, plan, time_limit: float):  # type: ignore[no-untyped-def]
    """The Lagrangian tree on the prepared pairs from λ = 0 and ``plan`` (not integral)."""
    data = prepare_p_median(instance, p)
    weight = instance.weight()
    return lagrangian_branch_and_bound(
        data.costs, weight, p, start=data.start, site=data.site,
        cost=weight[data.demand] * data.distance, fixed=data.site_lower > 0,
        allowed=data.site_upper > 0, multipliers=np.zeros(instance.n_demand),
        incumbent=plan.open_sites, incumbent_cost=plan.objective, integral=False,
        time_limit=time_limit,
    )


def solve_program(program: LinearProgram) -> float:
    result = get_backend("highs").solve(program, SolveOptions())
    assert result.status is Status.OPTIMAL
    return result.objective


def unreachable_instance(seed: int, n: int = 12, m: int = 7) -> Instance:
    """Random costs with about a third of the pairs unreachable, every demand reaching a site."""
    rng = np.random.default_rng(seed)
    dense = rng.integers(1, 60, (n, m)).astype(float)
    dense[rng.random((n, m)) < 0.35] = np.inf
    dense[np.arange(n), rng.integers(0, m, n)] = rng.integers(1, 60, n)
    return Instance.from_arrays(
        np.zeros((n, 2)), np.zeros((m, 2)), weights=rng.integers(0, 9, n), costs=dense
    )


# ---------------------------------------------------------------------- exactness
@pytest.mark.parametrize("lagrangian", [True, False], ids=["lagrangian", "mip-only"])
@pytest.mark.parametrize("formulation", FORMULATIONS)
@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force(seed: int, formulation: str, lagrangian: bool) -> None:
    instance = random_instance(
        seed, n=18, m=8, fixed=seed % 2, forbidden=int(seed % 3 == 0), integer_weights=seed < 3
    )
    for p in (2, 3, 5):
        model = PMedian(p=p, formulation=formulation, lagrangian=lagrangian)  # type: ignore[arg-type]
        solution = model.solve(instance)
        best, _ = brute_force_optimum(instance, model)
        assert solution.status is Status.OPTIMAL
        assert solution.objective == pytest.approx(best, rel=1e-9)
        assert solution.open_sites.size == p
        assert solution.bound <= solution.objective + 1e-6
        assert_solution_feasible(solution, instance, model)


@pytest.mark.parametrize("seed", range(6))
def test_tree_search_matches_brute_force(seed: int) -> None:
    instance = random_instance(
        seed + 80, n=20, m=10, fixed=seed % 2, forbidden=int(seed % 3 == 0),
        integer_weights=seed < 3,
    )
    for p in (2, 3, 5):
        model = PMedian(p=p, search="tree")
        solution = model.solve(instance)
        best, _ = brute_force_optimum(instance, model)
        assert solution.status is Status.OPTIMAL
        assert solution.objective == pytest.approx(best, rel=1e-9)
        assert solution.open_sites.size == p
        assert solution.objective - 1e-6 <= solution.bound <= solution.objective + 1e-6
        assert_solution_feasible(solution, instance, model)


def test_objective_is_total_weighted_cost_not_mean() -> None:
    instance = random_instance(7, n=20, m=6)
    solution = PMedian(p=2).solve(instance)
    assert solution.objective == pytest.approx(total_cost(instance, solution.open_sites))
    assert solution.details["total_cost"] == pytest.approx(solution.objective)


@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_mip_path_with_lagrangian_reduction(formulation: str) -> None:
    # an instance whose Lagrangian bound stays below the optimum, so the reduced MIP is solved
    instance = random_instance(1, n=14, m=12, integer_weights=False)
    model = PMedian(p=2, formulation=formulation, search="mip")  # type: ignore[arg-type]
    solution = model.solve(instance)
    assert "solve" in solution.timings
    assert solution.details["lagrangian_bound"] < solution.objective
    best, _ = brute_force_optimum(instance, model)
    assert solution.status is Status.OPTIMAL
    assert solution.objective == pytest.approx(best, rel=1e-9)
    assert_solution_feasible(solution, instance, model)


def test_tree_path_closes_the_lagrangian_gap() -> None:
    # the same instance: the Lagrangian branch and bound closes the gap, no MIP
    instance = random_instance(1, n=14, m=12, integer_weights=False)
    model = PMedian(p=2, search="tree")
    solution = model.solve(instance)
    assert "solve" not in solution.timings and "tree" in solution.timings
    assert solution.details["tree_nodes"] >= 1
    assert solution.details["lagrangian_bound"] < solution.objective
    best, _ = brute_force_optimum(instance, model)
    assert solution.status is Status.OPTIMAL
    assert solution.objective == pytest.approx(best, rel=1e-9)
    assert solution.bound == pytest.approx(solution.objective, rel=1e-9)
    assert_solution_feasible(solution, instance, model)


def integer_cost_instance(seed: int, n: int, m: int) -> Instance:
    """Integer weights and integer costs, one fixed and one forbidden site (ties are common)."""
    rng = np.random.default_rng(seed)
    status = np.zeros(m, dtype=int)
    status[rng.permutation(m)[:2]] = [1, 2]
    return Instance.from_arrays(
        np.zeros((n, 2)), np.zeros((m, 2)), weights=rng.integers(0, 6, n),
        costs=rng.integers(1, 30, (n, m)).astype(float), site_status=status,
    )


@pytest.mark.parametrize("integral", [True, False], ids=["integral", "real"])
@pytest.mark.parametrize("seed", range(6))
def test_tree_from_a_poor_incumbent_finds_the_optimum(seed: int, integral: bool) -> None:
    """The tree alone, from unreduced pairs, zero multipliers and an arbitrary plan."""
    instance = (
        integer_cost_instance(seed, 24, 11) if integral
        else random_instance(seed + 60, n=24, m=11, fixed=seed % 2, forbidden=int(seed % 3 == 0),
                             integer_weights=False)
    )
    for p in (2, 3, 5):
        model = PMedian(p=p)
        best, _ = brute_force_optimum(instance, model)
        data = prepare_p_median(instance, p)
        weight = instance.weight()
        fixed, allowed = data.site_lower > 0, data.site_upper > 0
        incumbent = np.union1d(np.flatnonzero(fixed), np.flatnonzero(allowed & ~fixed)[: p])[:p]
        incumbent = np.union1d(np.flatnonzero(fixed), np.setdiff1d(incumbent, np.flatnonzero(
            fixed))[: p - int(fixed.sum())])
        result = lagrangian_branch_and_bound(
            data.costs, weight, p, start=data.start, site=data.site,
            cost=weight[data.demand] * data.distance, fixed=fixed, allowed=allowed,
            multipliers=np.zeros(instance.n_demand), incumbent=incumbent,
            incumbent_cost=total_cost(instance, incumbent), integral=integral,
        )
        assert result.complete
        assert result.objective == pytest.approx(best, rel=1e-9)
        assert result.objective == pytest.approx(total_cost(instance, result.open_sites))
        assert result.open_sites.size == p and fixed[result.open_sites].sum() == fixed.sum()
        assert allowed[result.open_sites].all()
        assert result.bound <= result.objective + 1e-9
        assert result.bound >= result.objective - max(1e-6, 1e-9 * result.objective)


def test_tree_out_of_time_reports_a_valid_bound() -> None:
    instance = random_instance(3, n=30, m=12, integer_weights=False)
    p = 3
    data = prepare_p_median(instance, p)
    weight = instance.weight()
    plan = greedy_interchange(data.costs, weight, p)
    result = tree_from_zero(instance, p, plan, time_limit=0.0)
    best, _ = brute_force_optimum(instance, PMedian(p=p))
    assert not result.complete
    assert result.bound <= best + 1e-9
    assert result.objective == pytest.approx(plan.objective)


def test_out_of_time_after_the_first_bound_keeps_plan_and_bound() -> None:
    """A time limit spent by the first bound: no interchange from it and no reductions, a
    FEASIBLE plan with a bound the optimum respects."""
    instance = random_instance(5, n=40, m=12, integer_weights=False)
    model = PMedian(p=3)
    solution = model.solve(instance, options=SolveOptions(time_limit=1e-9))
    best, _ = brute_force_optimum(instance, model)
    assert solution.status in (Status.FEASIBLE, Status.OPTIMAL)
    assert solution.bound <= best + 1e-9 <= solution.objective + 1e-9
    if solution.status is Status.FEASIBLE:
        assert solution.details["stopped_by_time_limit_at_stage"] == 1
    assert_solution_feasible(solution, instance, model)


@pytest.mark.parametrize("seed", range(3))
def test_highs_and_cbc_agree(seed: int) -> None:
    instance = random_instance(seed + 10, n=16, m=7, fixed=seed % 2, forbidden=1)
    for formulation in FORMULATIONS:
        model = PMedian(p=3, formulation=formulation, lagrangian=False)  # type: ignore[arg-type]
        highs = model.solve(instance, backend="highs")
        cbc = model.solve(instance, backend="cbc")
        assert highs.status is cbc.status is Status.OPTIMAL
        assert cbc.backend == "cbc"
        assert highs.objective == pytest.approx(cbc.objective, rel=1e-9)
        assert_solution_feasible(cbc, instance, model)


# ---------------------------------------------------------------------- formulations agree
@pytest.mark.parametrize("seed", range(3))
def test_formulations_have_the_same_lp_and_mip_optimum(seed: int) -> None:
    instance = random_instance(seed + 20, n=30, m=12, fixed=int(seed == 1), forbidden=1)
    for p in (2, 4):
        data = prepare_p_median(instance, p)
        radius = _build_radius(instance, data, p).program
        assignment = _build_assignment(instance, data, p).program
        assert radius.nnz < assignment.nnz
        assert solve_program(radius.relaxed()) == pytest.approx(solve_program(assignment.relaxed()))
        assert solve_program(radius) == pytest.approx(solve_program(assignment))


@pytest.mark.parametrize("seed", range(2))
def test_radius_model_prices_every_plan_exactly(seed: int) -> None:
    """For every integral y, min over z of the radius model equals the plan's total cost."""
    instance = random_instance(seed + 30, n=12, m=6, fixed=seed, integer_weights=False)
    p = 3
    data = prepare_p_median(instance, p)
    built = _build_radius(instance, data, p)
    program = built.program
    fixed = np.flatnonzero(instance.sites.fixed).tolist()
    free = np.flatnonzero(instance.sites.candidate).tolist()
    for extra in itertools.combinations(free, p - len(fixed)):
        plan = np.array(sorted(fixed + list(extra)))
        lower, upper = program.col_lower.copy(), program.col_upper.copy()
        y = np.zeros(instance.n_sites)
        y[plan] = 1.0
        lower[: instance.n_sites] = upper[: instance.n_sites] = y
        fixed_program = LinearProgram(
            program.objective, program.constraints, program.row_lower, program.row_upper,
            lower, upper, np.zeros(program.n_cols, dtype=bool), program.sense, program.offset,
        )
        assert solve_program(fixed_program) == pytest.approx(total_cost(instance, plan), rel=1e-9)


def test_zero_weight_demand_must_still_be_served() -> None:
    # demand 0 has no weight and reaches only site 2, so site 2 must open
    dense = np.array([[np.inf, np.inf, 5.0], [1.0, 2.0, 9.0], [2.0, 1.0, 9.0]])
    instance = Instance.from_arrays(
        np.zeros((3, 2)), np.zeros((3, 2)), weights=[0.0, 1.0, 1.0], costs=dense
    )
    for formulation in FORMULATIONS:
        solution = PMedian(p=2, formulation=formulation).solve(instance)  # type: ignore[arg-type]
        assert solution.status is Status.OPTIMAL
        assert 2 in solution.open_sites.tolist()
        assert solution.objective == pytest.approx(3.0)


# ---------------------------------------------------------------------- unreachable pairs
@pytest.mark.parametrize("lagrangian", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_unreachable_pairs_match_brute_force(seed: int, lagrangian: bool) -> None:
    instance = unreachable_instance(seed)
    for p in (2, 3):
        for formulation in FORMULATIONS:
            model = PMedian(p=p, formulation=formulation, lagrangian=lagrangian)  # type: ignore[arg-type]
            solution = model.solve(instance)
            best, _ = brute_force_optimum(instance, model)
            if math.isnan(best):
                assert solution.status is Status.INFEASIBLE
                assert "no" in solution.message and str(p) in solution.message
                continue
            assert solution.status is Status.OPTIMAL
            assert solution.objective == pytest.approx(best)
            assert_solution_feasible(solution, instance, model)


def test_demand_reaching_no_allowed_site_is_infeasible_with_ids() -> None:
    dense = np.array([[1.0, np.inf], [np.inf, np.inf], [2.0, 3.0]])
    instance = Instance.from_arrays(
        np.zeros((3, 2)), np.zeros((2, 2)), demand_ids=["a", "b", "c"], costs=dense
    )
    solution = PMedian(p=1).solve(instance)
    assert solution.status is Status.INFEASIBLE
    assert "'b'" in solution.message
    assert solution.details["unreachable_demand"] == ["b"]


def test_disjoint_reach_needs_more_than_p_sites() -> None:
    # three demand points, each reachable from its own site only: p = 2 cannot serve all
    dense = np.full((3, 3), np.inf)
    np.fill_diagonal(dense, 1.0)
    instance = Instance.from_arrays(np.zeros((3, 2)), np.zeros((3, 2)), costs=dense)
    for lagrangian in (True, False):
        solution = PMedian(p=2, lagrangian=lagrangian).solve(instance)
        assert solution.status is Status.INFEASIBLE
        assert "no 2 sites" in solution.message


def test_sparse_user_cost_matrix_is_respected() -> None:
    costs = CostMatrix.from_pairs([0, 0, 1, 2], [0, 1, 1, 2], [4.0, 1.0, 2.0, 3.0], (3, 3), "unit")
    instance = Instance.from_arrays(np.zeros((3, 2)), np.zeros((3, 2)), costs=costs)
    solution = PMedian(p=2).solve(instance)
    assert solution.status is Status.OPTIMAL
    assert sorted(solution.open_sites.tolist()) == [1, 2]
    assert solution.objective == pytest.approx(6.0)


# ---------------------------------------------------------------------- properties
@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 14), m=st.integers(3, 7))
def test_objective_never_grows_with_p(seed: int, n: int, m: int) -> None:
    instance = random_instance(seed, n=n, m=m, integer_weights=False)
    objectives = [PMedian(p=p).solve(instance).objective for p in range(1, m + 1)]
    assert all(b <= a + 1e-9 * max(1.0, a) for a, b in itertools.pairwise(objectives))
    assert objectives[-1] == pytest.approx(total_cost(instance, np.arange(m)))


# ---------------------------------------------------------------------- reductions and heuristic
@pytest.mark.parametrize("seed", range(4))
def test_lagrangian_bound_and_reduction_keep_the_optimum(seed: int) -> None:
    instance = random_instance(seed + 40, n=20, m=9, fixed=seed % 2, integer_weights=False)
    p = 3
    model = PMedian(p=p, lagrangian=False)
    best, best_set = brute_force_optimum(instance, model)
    data = prepare_p_median(instance, p)
    weight = instance.weight()
    plan = greedy_interchange(data.costs, weight, p, fixed=instance.sites.fixed)
    bound = lagrangian_bound(
        data.start, data.site, weight[data.demand] * data.distance, p,
        fixed=instance.sites.fixed, forbidden=instance.sites.forbidden,
        upper_bound=plan.objective,
    )
    assert bound.bound <= best + 1e-6
    assert plan.objective >= best - 1e-6
    reduced = reduce_by_bound(instance, data, p, bound, plan.objective)
    assert best_set is not None
    assert reduced.site_upper[list(best_set)].all()
    lower_bound_model = _build_radius(instance, reduced, p).program
    assert solve_program(lower_bound_model) == pytest.approx(best)


@pytest.mark.parametrize("p", [2, 3])
def test_probing_keeps_every_plan_as_good_as_the_incumbent(p: int) -> None:
    instance = random_instance(1, n=14, m=12, integer_weights=False)
    data = prepare_p_median(instance, p)
    weight = instance.weight()
    cost = weight[data.demand] * data.distance
    no_sites = np.zeros(instance.n_sites, dtype=bool)
    plan = greedy_interchange(data.costs, weight, p)
    bound = lagrangian_bound(
        data.start, data.site, cost, p, fixed=no_sites, forbidden=no_sites,
        upper_bound=plan.objective,
    )
    close, force_open = probe_sites(
        data.start, data.site, cost, p, fixed=no_sites, forbidden=no_sites,
        upper_bound=plan.objective, bound=bound,
    )
    assert not (close & force_open).any()
    for sites in itertools.combinations(range(instance.n_sites), p):
        if total_cost(instance, sites) <= plan.objective + 1e-9:
            chosen = np.zeros(instance.n_sites, dtype=bool)
            chosen[list(sites)] = True
            assert not (chosen & close).any()
            assert (chosen | ~force_open).all()


def test_inconsistent_solver_answers_are_detected() -> None:
    instance = random_instance(2, n=10, m=5)
    data = prepare_p_median(instance, 2)
    program = _build_assignment(instance, data, 2).program
    values = get_backend("highs").solve(program, SolveOptions()).values
    assert values is not None
    true_value = program.value(values)

    def answer(objective: float) -> SolverResult:
        return SolverResult(Status.OPTIMAL, values, objective, objective, "highs", "", 0.0)

    assert not _inconsistent(answer(true_value), program, -math.inf)
    assert _inconsistent(answer(true_value * 0.99), program, -math.inf)
    assert _inconsistent(answer(true_value), program, true_value * 1.01)


@pytest.mark.parametrize("seed", range(4))
def test_heuristic_plan_is_feasible_and_a_local_optimum(seed: int) -> None:
    instance = random_instance(seed + 50, n=25, m=9, fixed=seed % 2, forbidden=1)
    p = 3
    plan = greedy_interchange(
        travel_costs_of(instance), instance.weight(), p,
        fixed=instance.sites.fixed, forbidden=instance.sites.forbidden,
    )
    is_open = set(plan.open_sites.tolist())
    assert len(is_open) == p and plan.serves_all
    assert set(np.flatnonzero(instance.sites.fixed).tolist()) <= is_open
    assert not is_open & set(np.flatnonzero(instance.sites.forbidden).tolist())
    assert plan.objective == pytest.approx(total_cost(instance, plan.open_sites))
    for leave in is_open - set(np.flatnonzero(instance.sites.fixed).tolist()):
        for enter in set(np.flatnonzero(instance.sites.candidate).tolist()) - is_open:
            swapped = sorted((is_open - {leave}) | {enter})
            assert total_cost(instance, swapped) >= plan.objective - 1e-6


def travel_costs_of(instance: Instance) -> CostMatrix:
    from optiserv.geometry import travel_costs

    return travel_costs(instance)


# ---------------------------------------------------------------------- parameters
def test_bad_parameters_raise() -> None:
    instance = random_instance(0, n=10, m=5, forbidden=1)
    with pytest.raises(ParameterError, match="larger than the number of sites"):
        PMedian(p=5).solve(instance)
    with pytest.raises(ParameterError, match="positive integer"):
        PMedian(p=0).solve(instance)
    with pytest.raises(ParameterError, match="formulation"):
        PMedian(p=2, formulation="nearest").solve(instance)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="search"):
        PMedian(p=2, search="breadth").solve(instance)  # type: ignore[arg-type]
    fixed = random_instance(0, n=10, m=5, fixed=3)
    with pytest.raises(ParameterError, match="fixed open"):
        PMedian(p=2).solve(fixed)


def test_time_limit_answer_is_honest() -> None:
    instance = random_instance(1, n=14, m=12, integer_weights=False)
    solution = PMedian(p=2).solve(instance, options=SolveOptions(time_limit=1e-6))
    assert solution.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert solution.bound <= solution.objective + 1e-6
    assert solution.objective == pytest.approx(total_cost(instance, solution.open_sites))


# ---------------------------------------------------------------------- OR-Library
@pytest.mark.parametrize("number", range(1, 6))
def test_orlib_pmed_reaches_published_optimum(number: int) -> None:
    folder = pmed_folder()
    if folder is None:
        pytest.skip("shared OR-Library pmed files (../shared/benchmarks/orlib_pmed) not present")
    from optiserv.datasets.orlib_pmed import read_pmed, read_pmed_optima

    optimum = read_pmed_optima(folder / "pmedopt.txt")[f"pmed{number}"]
    problem = read_pmed(folder / f"pmed{number}.txt")
    solution = PMedian(p=problem.p).solve(problem.instance)
    assert solution.status is Status.OPTIMAL
    assert round(solution.objective) == optimum
    assert solution.objective == pytest.approx(optimum, abs=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_tree_restarting_waiting_children_from_the_root_pairs_is_exact(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above ``_SHARED_PAIRS`` a waiting open child starts again from the root's pairs
    instead of its parent's reduced ones (a superset, to bound the tree's memory): forced
    here on small trees, the tree still proves the brute-force optimum, on a dense-backed
    cost matrix that it never turns into CSR arrays (pricing reads the open columns)."""
    from optiserv.heuristics import p_median_tree

    monkeypatch.setattr(p_median_tree, "_SHARED_PAIRS", 0)
    rng = np.random.default_rng(seed)  # random integer costs: trees branch
    instance = Instance.from_arrays(
        np.zeros((30, 2)), np.zeros((13, 2)), weights=rng.integers(0, 6, 30),
        costs=CostMatrix.from_dense(rng.integers(1, 30, (30, 13)).astype(float)),
    )
    weight = instance.weight()
    results = {}
    for p in (3, 4, 6):
        data = prepare_p_median(instance, p)
        fixed, allowed = data.site_lower > 0, data.site_upper > 0
        poor = np.flatnonzero(allowed)[:p]
        results[p] = lagrangian_branch_and_bound(
            data.costs, weight, p, start=data.start, site=data.site,
            cost=data.pair_cost(weight), fixed=fixed, allowed=allowed,
            multipliers=np.zeros(instance.n_demand), incumbent=poor,
            incumbent_cost=float(weight @ instance.costs.dense()[:, poor].min(axis=1)),
            integral=True,
        )
        assert data.costs.dense_backed  # before the brute force below reads every pair
    for p, result in results.items():
        best, _ = brute_force_optimum(instance, PMedian(p=p))
        assert result.complete
        assert result.objective == pytest.approx(best, rel=1e-9)
    assert any(result.nodes > 1 for result in results.values())  # waiting children restarted


def test_a_reduction_that_keeps_every_pair_keeps_the_arrays() -> None:
    """With no plan to beat (upper bound ∞) the bound removes nothing, and the reduced data
    holds the very arrays it was given instead of an equal copy (300 MB at 20k × 1,000)."""
    instance = random_instance(8, n=40, m=12)
    p = 3
    data = prepare_p_median(instance, p)
    cost = data.pair_cost(instance.weight())
    bound = lagrangian_bound(
        data.start, data.site, cost, p, fixed=data.site_lower > 0,
        forbidden=data.site_upper == 0, upper_bound=1e12, max_iterations=50,
    )
    reduced = reduce_by_bound(instance, data, p, bound, math.inf, cost)
    assert reduced.site is data.site and reduced.distance is data.distance
    assert reduced.start is data.start
    tighter = reduce_by_bound(instance, data, p, bound, bound.bound * 1.0001, cost)
    assert tighter.n_pairs < data.n_pairs  # a real reduction still makes new arrays


def test_tree_stopped_inside_a_node_keeps_it_open_with_a_valid_bound(monkeypatch) -> None:
    """The clock runs out during a node's ascent: the node is neither filtered nor branched,
    it stays open, and the tree's bound is its ascent bound, which the optimum respects."""
    from optiserv.heuristics import p_median_tree

    instance = random_instance(5, n=40, m=14, integer_weights=False)
    p = 4
    data = prepare_p_median(instance, p)
    weight = instance.weight()
    plan = greedy_interchange(data.costs, weight, p)
    bound_node = p_median_tree._Search.bound_node
    bounds: list[float] = []

    def out_of_time(search, node):  # type: ignore[no-untyped-def]
        result = bound_node(search, node)
        bounds.append(result[0])
        search.deadline = -math.inf
        return result

    restrict = p_median_tree._Search.restrict
    filters: list[int] = []

    def counted(search, *args, **kwargs):  # type: ignore[no-untyped-def]
        filters.append(1)
        return restrict(search, *args, **kwargs)

    monkeypatch.setattr(p_median_tree._Search, "bound_node", out_of_time)
    monkeypatch.setattr(p_median_tree._Search, "restrict", counted)
    result = tree_from_zero(instance, p, plan, time_limit=60.0)
    best, _ = brute_force_optimum(instance, PMedian(p=p))
    assert len(bounds) == 1 and result.nodes == 1
    assert len(filters) == 1  # the node's first filter only: no reduction after the clock
    assert not result.complete
    assert result.bound == pytest.approx(min(bounds[0], plan.objective))
    assert result.bound <= best + 1e-9
