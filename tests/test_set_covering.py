"""LSCP and backup coverage: brute force, both backends, the evaluator, and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optiserv.data import Instance
from optiserv.evaluate import evaluate
from optiserv.formulations.backup import BackupCovering
from optiserv.formulations.lscp import SetCovering
from optiserv.solvers import Status
from optiserv.testing import assert_solution_feasible, brute_force_optimum
from tests.conftest import random_instance

BACKENDS = ["highs", "cbc"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(4))
def test_lscp_matches_brute_force(seed: int, backend: str) -> None:
    instance = random_instance(seed, n=25, m=9, fixed=seed % 2, forbidden=1, with_costs=seed > 1)
    model = SetCovering(radius=6_000.0)
    solution = model.solve(instance, backend=backend)
    best, _ = brute_force_optimum(instance, model)
    if np.isnan(best):
        assert solution.status is Status.INFEASIBLE
        return
    assert solution.status is Status.OPTIMAL
    assert solution.objective == pytest.approx(best)
    assert_solution_feasible(solution, instance, model)
    assert solution.covered_weight == pytest.approx(instance.total_weight)


def test_lscp_objective_counts_sites_without_costs() -> None:
    instance = random_instance(5, n=40, m=10)
    solution = SetCovering(radius=8_000.0).solve(instance)
    assert solution.objective == pytest.approx(solution.open_sites.size)


def test_infeasible_lscp_names_points_and_smallest_radius() -> None:
    demand = np.array([[0.0, 0.0], [100.0, 0.0], [5_000.0, 0.0]])
    sites = np.array([[0.0, 10.0], [4_000.0, 0.0]])
    instance = Instance.from_arrays(demand, sites, demand_ids=["near", "also-near", "far"])
    solution = SetCovering(radius=500.0).solve(instance)
    assert solution.status is Status.INFEASIBLE
    assert "'far'" in solution.message
    assert solution.details["unreachable_demand"] == ["far"]
    assert solution.details["smallest_feasible_radius"] == pytest.approx(1_000.0)
    assert "1000" in solution.message
    feasible = SetCovering(radius=solution.details["smallest_feasible_radius"]).solve(instance)
    assert feasible.status is Status.OPTIMAL


def test_lscp_closed_interval_at_the_radius() -> None:
    instance = Instance.from_arrays([[0.0, 0.0], [3.0, 4.0]], [[0.0, 0.0]])
    assert SetCovering(radius=5.0).solve(instance).status is Status.OPTIMAL
    assert SetCovering(radius=4.999).solve(instance).status is Status.INFEASIBLE


@given(seed=st.integers(0, 10_000), radius=st.floats(2_500, 9_000))
def test_lscp_never_grows_as_the_radius_grows(seed: int, radius: float) -> None:
    instance = random_instance(seed, n=20, m=10)
    small = SetCovering(radius=radius).solve(instance)
    large = SetCovering(radius=radius * 1.3).solve(instance)
    if small.status is Status.OPTIMAL:
        assert large.status is Status.OPTIMAL
        assert large.objective <= small.objective + 1e-9


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(4))
def test_backup_matches_brute_force(seed: int, backend: str) -> None:
    instance = random_instance(seed, n=30, m=9, fixed=seed % 2, forbidden=seed % 3)
    model = BackupCovering(p=3, radius=4_000.0)
    solution = model.solve(instance, backend=backend)
    best, _ = brute_force_optimum(instance, model)
    assert solution.status is Status.OPTIMAL
    assert solution.objective == pytest.approx(best)
    result = assert_solution_feasible(solution, instance, model)
    assert solution.covered_weight == pytest.approx(result.covered_weight)
    assert solution.objective == pytest.approx(
        solution.covered_weight + solution.details["backup_weight"]
    )


def test_backup_never_counts_a_point_with_one_reachable_site() -> None:
    # demand 0 can reach only site 0; demand 1 reaches sites 1 and 2
    demand = np.array([[0.0, 0.0], [100.0, 0.0]])
    sites = np.array([[0.0, 1.0], [100.0, 1.0], [100.0, -1.0]])
    instance = Instance.from_arrays(demand, sites, weights=[10.0, 1.0])
    model = BackupCovering(p=3, radius=5.0)
    solution = model.solve(instance)
    assert solution.objective == pytest.approx(10 + 1 + 1)  # demand 0 covered, not backed up
    assert evaluate(instance, solution.open_sites, model).objective == pytest.approx(12)


@pytest.mark.parametrize("model", [SetCovering(radius=6_000.0),
                                   BackupCovering(p=3, radius=6_000.0)])
def test_the_time_limit_counts_the_coverage_phase(model, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The limit is for the whole ``solve`` call: what the coverage phase used is not given
    again to the search (there, a 20,000-point LSCP ran 0.3–0.7 s past its limit)."""
    import time

    from optiserv.formulations import lscp
    from optiserv.solvers import SolveOptions
    from optiserv.solvers.highs import HighsBackend

    prepare = type(model)._prepare
    limits: list[float] = []

    def slow_prepare(self, instance):  # type: ignore[no-untyped-def]
        time.sleep(0.2)
        return prepare(self, instance)

    engine, highs = lscp.solve_set_cover, HighsBackend.solve

    def engine_seen(problem, *, options, **kwargs):  # type: ignore[no-untyped-def]
        limits.append(options.time_limit)
        return engine(problem, options=options, **kwargs)

    def highs_seen(self, program, options, start=None):  # type: ignore[no-untyped-def]
        limits.append(options.time_limit)
        return highs(self, program, options, start)

    monkeypatch.setattr(type(model), "_prepare", slow_prepare)
    monkeypatch.setattr(lscp, "solve_set_cover", engine_seen)
    monkeypatch.setattr(HighsBackend, "solve", highs_seen)
    instance = random_instance(2, n=25, m=9)
    model.solve(instance, options=SolveOptions(time_limit=30.0))
    assert limits and limits[0] <= 30.0 - 0.2
