"""The reachable ceiling caps every reported bound, and the greedy respects its time limit."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from optiserv.formulations.bundle import ServiceBundle
from optiserv.formulations.bundle.arrays import heuristic_arrays
from optiserv.formulations.bundle.build import build_program
from optiserv.formulations.bundle.model import reachable_ceiling
from optiserv.heuristics import _bundle_kernels as kernels
from optiserv.heuristics.bundle import run_bundle_heuristic
from optiserv.solvers import SolveOptions, Status
from optiserv.solvers.highs import HighsBackend
from tests.test_bundle_heuristic import medium_bundle


def _ceiling(model: ServiceBundle, seed: int) -> float:
    bundle = medium_bundle(seed, n=250, m=40)
    resolved = model.resolve(bundle)
    built = build_program(bundle, model.prepare(bundle), resolved, "coverage")
    return reachable_ceiling(built)


@pytest.mark.parametrize("method", ["exact", "heuristic"])
def test_reported_bound_never_exceeds_the_reachable_ceiling(method: str) -> None:
    model = ServiceBundle(objective="coverage", method=method, budget_one_off=150_000.0)
    bundle = medium_bundle(0, n=250, m=40)
    ceiling = _ceiling(model, 0)
    # the ceiling counts the people within r_s of any provider or possible unit
    prepared = model.prepare(bundle)
    weights = np.array([service.weight for service in bundle.catalogue])
    expected = sum(
        weights[b.service] * float((b.total_population - b.unreachable_population).sum())
        for b in prepared.blocks
    )
    assert ceiling == pytest.approx(expected, rel=1e-12)
    solution = model.solve(bundle, options=SolveOptions(time_limit=30))
    assert solution.objective <= solution.bound <= ceiling * (1 + 1e-12)


def test_without_a_budget_the_ceiling_proves_the_heuristic_plan() -> None:
    model = ServiceBundle(objective="coverage", method="heuristic", min_services=0)
    bundle = medium_bundle(1, n=250, m=40)
    solution = model.solve(bundle, options=SolveOptions(time_limit=30))
    ceiling = _ceiling(model, 1)
    # every unit can be switched on, so the plan reaches the ceiling and the gap is zero
    assert solution.objective == pytest.approx(ceiling, rel=1e-9)
    assert solution.gap <= 1e-9
    assert solution.details["reachable_ceiling"] == pytest.approx(ceiling)


class _NoBoundHighs(HighsBackend):
    """HiGHS that stops as if at its time limit: its plan, no bound of its own."""

    def solve(self, program, options, initial=None):  # type: ignore[no-untyped-def]
        result = super().solve(program, options, initial)
        none = math.inf if program.sense == "maximize" else -math.inf
        return dataclasses.replace(result, status=Status.FEASIBLE, bound=none)


def test_the_ceiling_proves_a_time_limited_exact_plan() -> None:
    model = ServiceBundle(objective="coverage", min_services=0)
    bundle = medium_bundle(1, n=250, m=40)
    solution = model.solve(bundle, backend=_NoBoundHighs(), options=SolveOptions(time_limit=30))
    # without a budget every unit opens and the plan reaches the ceiling: proven, not FEASIBLE
    assert solution.status is Status.OPTIMAL and "reachable ceiling" in solution.message
    assert solution.bound == pytest.approx(_ceiling(model, 1), rel=1e-12)


@pytest.mark.parametrize("objective", ["coverage", "cost"])
def test_the_exact_path_reports_the_lagrangian_bound_beside_the_solver(objective: str) -> None:
    if objective == "coverage":
        model = ServiceBundle(objective="coverage", budget_one_off=150_000.0)
    else:
        model = ServiceBundle(objective="cost", targets={"groceries": 0.7})
    bundle = medium_bundle(0, n=250, m=40)
    optimum = model.solve(bundle, options=SolveOptions(time_limit=60))
    assert optimum.status is Status.OPTIMAL
    blind = model.solve(bundle, backend=_NoBoundHighs(), options=SolveOptions(time_limit=60))
    # the solver gave no bound; the Lagrangian searched beside it gives a proven one
    assert "Lagrangian" in blind.message and math.isfinite(blind.bound)
    if objective == "coverage":
        assert optimum.objective <= blind.bound + 1e-6 <= _ceiling(model, 0) * (1 + 1e-9) + 1e-6
    else:
        assert blind.bound <= optimum.objective + 1e-6
    assert blind.objective == pytest.approx(optimum.objective, rel=1e-9)


def test_greedy_stops_at_its_time_limit_with_a_feasible_plan() -> None:
    model = ServiceBundle(objective="coverage", budget_one_off=150_000.0, max_new_points=6)
    bundle = medium_bundle(0, n=250, m=40)
    resolved = model.resolve(bundle)
    arrays = heuristic_arrays(bundle, model.prepare(bundle), resolved, "coverage")
    stopped = run_bundle_heuristic(arrays, time_limit=0.0)
    full = run_bundle_heuristic(arrays, time_limit=math.inf)
    assert stopped.feasible and "time limit" in stopped.message
    assert stopped.moves == 0 < full.moves
    assert "time limit" not in full.message
    assert stopped.covered_weight <= full.covered_weight


def test_greedy_in_batches_equals_one_run() -> None:
    """The lazy greedy's keys carry over between calls, so batches of one move each make
    the same plan as one call."""
    model = ServiceBundle(objective="coverage", budget_one_off=150_000.0, max_new_points=6)
    bundle = medium_bundle(1, n=250, m=40)
    arrays = heuristic_arrays(bundle, model.prepare(bundle), model.resolve(bundle), "coverage")
    problem = arrays.problem()
    n_sites, n_units = arrays.site_kind.size, arrays.module_site.size + arrays.site_kind.size
    plans = []
    for batch in (1, n_units):
        state = kernels.new_state(problem)
        log = np.empty(2 * n_units + 2, dtype=np.int64)
        log_size = np.zeros(1, dtype=np.int64)
        assert kernels.complete_forced(problem, state, log, log_size)
        key = np.full(n_sites, np.inf)
        moves = 0
        while True:
            made = kernels.greedy_coverage(problem, state, key, log, log_size, batch)
            moves += made
            if made < batch:
                break
        plans.append((moves, state.on.copy(), float(state.money[2])))
    assert plans[0][0] == plans[1][0] > 1
    np.testing.assert_array_equal(plans[0][1], plans[1][1])
    assert plans[0][2] == plans[1][2]


def _target_arrays(seed: int):  # type: ignore[no-untyped-def]
    model = ServiceBundle(objective="cost", targets={"groceries": 0.7})
    bundle = medium_bundle(seed, n=250, m=40)
    return heuristic_arrays(bundle, model.prepare(bundle), model.resolve(bundle), "cost")


def test_the_target_greedy_stops_at_its_time_limit_and_says_so() -> None:
    arrays = _target_arrays(0)
    stopped = run_bundle_heuristic(arrays, time_limit=0.0)
    full = run_bundle_heuristic(arrays, time_limit=math.inf)
    assert full.feasible and "time limit" not in full.message
    # the targets are short before the first move, so a spent limit leaves no feasible plan
    assert not stopped.feasible
    assert "time limit" in stopped.message and "groceries" in stopped.message


@pytest.mark.parametrize("cost_mode", [0, 1])
def test_the_target_greedy_in_batches_equals_one_run(cost_mode: int) -> None:
    """The deficit greedy's keys carry over between calls, so batches of one move each make
    the same plan as one call to the end."""
    arrays = _target_arrays(1)
    problem = arrays.problem()
    n_units = arrays.module_site.size + arrays.site_kind.size
    plans = []
    for batch in (1, None):
        state = kernels.new_state(problem)
        log = np.empty(2 * n_units + 2, dtype=np.int64)
        log_size = np.zeros(1, dtype=np.int64)
        assert kernels.complete_forced(problem, state, log, log_size)
        if batch is None:
            met = kernels.greedy_deficit(problem, state, np.int64(cost_mode), log, log_size)
            moves = -1
        else:
            key = kernels.deficit_keys(problem, state, np.int64(cost_mode))
            moves, outcome = 0, kernels.DEFICIT_BATCH_USED
            while outcome == kernels.DEFICIT_BATCH_USED:
                made, outcome = kernels.greedy_deficit_moves(
                    problem, state, np.int64(cost_mode), key, log, log_size, batch
                )
                moves += made
            met = outcome == kernels.DEFICIT_MET
        plans.append((met, state.on.copy(), moves))
    assert plans[0][0] and plans[1][0]
    assert plans[0][2] > 1
    np.testing.assert_array_equal(plans[0][1], plans[1][1])
