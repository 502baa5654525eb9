"""The Lagrangian bound of the combined service point model: valid against brute force and the
exact optimum, at the search's end and at arbitrary multipliers; close to the LP bound; the
heuristic path reports it honestly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optiserv.data.services import BundleInstance
from optiserv.formulations.bundle import ServiceBundle
from optiserv.formulations.bundle.arrays import heuristic_arrays
from optiserv.formulations.bundle.bound import PackedBound, bound_problem
from optiserv.formulations.bundle.build import ObjectiveKind, build_program
from optiserv.heuristics import _bundle_bound_kernels as kernels
from optiserv.heuristics.bundle_bound import lagrangian_bound
from optiserv.solvers import HighsBackend, SolveOptions, Status, relative_gap
from tests._bundle_cases import brute_force, tiny_bundle
from tests.test_bundle_heuristic import medium_bundle

# (tiny_bundle keywords, ServiceBundle keywords): every feature the bound has to handle
CASES = [
    ({}, {"objective": "coverage", "budget_one_off": 300.0}),
    ({"fade": True}, {"objective": "coverage", "budget_one_off": 250.0, "max_new_points": 2}),
    ({}, {"objective": "coverage", "budget_annual": 40.0, "min_services": 2}),
    (
        {"services": 3, "modules_per_site": 3, "m": 4},
        {"objective": "coverage", "min_services": 2, "budget_one_off": 400.0},
    ),
    ({}, {"objective": "coverage", "max_changed_points": 1}),
    ({"groups": True}, {"objective": "cost", "targets": {"groceries": 0.4}}),
    ({"groups": True}, {"objective": "cost", "min_group_share": 0.3}),
    ({"grants": False}, {"objective": "cost", "targets": {"cash": 0.5}, "max_new_points": 3}),
    ({"fade": True}, {"objective": "lexicographic", "then": "cost", "budget_one_off": 300.0}),
    ({"fade": True}, {"objective": "lexicographic", "then": "coverage", "budget_one_off": 300.0}),
]


def _packed(
    bundle: BundleInstance,
    model: ServiceBundle,
    objective: ObjectiveKind,
    minimum_full_coverage: float | None = None,
) -> PackedBound:
    resolved = model.resolve(bundle)
    prepared = model.prepare(bundle)
    arrays = heuristic_arrays(bundle, prepared, resolved, "coverage")
    packed = bound_problem(
        bundle, prepared, resolved, arrays, objective, minimum_full_coverage=minimum_full_coverage
    )
    assert packed is not None
    return packed


def _value_at(packed: PackedBound, rng: np.random.Generator) -> float:
    """L at random multipliers ≥ 0, in the program's units."""
    problem = packed.problem
    n_rows = problem.row_ptr.size - 1
    n_units = problem.unit_ptr.size - 1
    size = kernels.COUPLING + problem.grant_table.shape[0] + problem.side_need.size
    scale = max(1.0, float(problem.row_objective.max(initial=0.0)))
    lam = rng.random(n_rows) * scale * 1.5
    mu = rng.random(problem.pair_unit.size) * scale
    theta = rng.random(size) * rng.choice([0.0, 1e-3, 0.1, 1.0, 10.0], size)
    price = kernels.unit_prices(problem, lam, mu)
    value = kernels.coupling_value(
        problem,
        price,
        lam,
        mu,
        theta,
        np.zeros(n_units),
        np.zeros(n_rows),
        np.zeros(problem.pair_unit.size),
        np.zeros(size),
    )
    return packed.to_program(float(value))


def _assert_bounds(sense: str, bound: float, optimum: float) -> None:
    slack = 1e-7 * max(1.0, abs(optimum))
    if sense == "maximize":
        assert bound >= optimum - slack, (bound, optimum)
    else:
        assert bound <= optimum + slack, (bound, optimum)


@pytest.mark.parametrize("seed", [0, 1, pytest.param(2, marks=pytest.mark.slow)])
@pytest.mark.parametrize(("shape", "params"), CASES)
def test_bound_is_valid_against_brute_force(
    seed: int, shape: dict[str, object], params: dict[str, object]
) -> None:
    bundle = tiny_bundle(seed, **shape)  # type: ignore[arg-type]
    model = ServiceBundle(**params)  # type: ignore[arg-type]
    optimum, best = brute_force(bundle, model)
    if best is None:
        pytest.skip("no feasible plan")
    objective = str(params["objective"])
    first: ObjectiveKind = {
        "coverage": "coverage",
        "cost": "cost",
        "lexicographic": "full_coverage",
    }[objective]  # type: ignore[assignment]
    stages = [(first, None, best.full_coverage if objective == "lexicographic" else optimum)]
    if objective == "lexicographic":
        second: ObjectiveKind = "cost" if params["then"] == "cost" else "coverage"
        top = best.full_coverage
        stages.append((second, top - 1e-6 * max(1.0, top), optimum))
    rng = np.random.default_rng(seed)
    for stage, minimum, value in stages:
        packed = _packed(bundle, model, stage, minimum)
        sense = "minimize" if packed.sign < 0 else "maximize"
        # the search's end, its start, and arbitrary multipliers all bound the optimum
        for iterations in (1, 400):
            result = lagrangian_bound(
                packed.problem,
                target=packed.from_program(value),
                max_iterations=iterations,
                tolerance=0.0,
            )
            _assert_bounds(sense, packed.to_program(result.bound), value)
        for _ in range(20):
            _assert_bounds(sense, _value_at(packed, rng), value)


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
@pytest.mark.parametrize("objective", ["coverage", "cost"])
def test_bound_is_valid_and_close_to_the_lp_on_medium_cases(seed: int, objective: str) -> None:
    bundle = medium_bundle(seed, n=250, m=40)
    model = ServiceBundle(
        objective=objective,  # type: ignore[arg-type]
        budget_one_off=150_000.0,
        budget_annual=20_000.0,
        max_new_points=6,
        targets={"cash": 0.7},
        min_services=2,
    )
    exact = model.solve(bundle)
    assert exact.status is Status.OPTIMAL
    kind: ObjectiveKind = "coverage" if objective == "coverage" else "cost"
    packed = _packed(bundle, model, kind)
    result = lagrangian_bound(
        packed.problem, target=packed.from_program(exact.objective), tolerance=0.0
    )
    bound = packed.to_program(result.bound)
    _assert_bounds("maximize" if objective == "coverage" else "minimize", bound, exact.objective)
    prepared, resolved = model.prepare(bundle), model.resolve(bundle)
    relaxation = HighsBackend().solve(
        build_program(bundle, prepared, resolved, kind).program.relaxed(), SolveOptions()
    )
    assert relaxation.status is Status.OPTIMAL
    # the bound may beat the LP (each site's choice is solved in integers) but not by much,
    # and the search ends near the best multipliers
    assert abs(bound - relaxation.objective) <= 0.02 * abs(relaxation.objective)


@pytest.mark.parametrize("objective", ["coverage", "cost", "lexicographic"])
def test_heuristic_reports_the_lagrangian_bound_honestly(objective: str) -> None:
    bundle = medium_bundle(0, n=250, m=40)
    model = ServiceBundle(
        objective=objective,  # type: ignore[arg-type]
        budget_one_off=150_000.0,
        budget_annual=20_000.0,
        max_new_points=6,
        targets={"cash": 0.7},
        method="heuristic",
    )
    # a loose requested gap: the LP runs only when the Lagrangian bound does not meet it
    solution = model.solve(bundle, options=SolveOptions(relative_gap=0.05))
    exact = model.with_params(method="exact").solve(bundle)
    assert solution.status in (Status.OPTIMAL, Status.FEASIBLE)
    lagrangian = solution.details["lagrangian"]["bound"]
    if relative_gap(solution.objective, lagrangian) <= 0.05:
        assert "Lagrangian relaxation" in solution.details["bound_source"]
        assert "lp_bound" not in solution.details
    else:
        assert "lp_bound" in solution.details
    assert solution.gap == pytest.approx(relative_gap(solution.objective, solution.bound))
    assert math.isfinite(solution.bound)
    if objective == "coverage":
        assert solution.bound >= exact.objective - 1e-6 * exact.objective
    elif objective == "cost":
        assert solution.bound <= exact.objective + 1e-6 * exact.objective
    # with no gap allowed, the LP relaxation refines the bound; the tighter one is kept
    refined = model.solve(bundle)
    lagrangian = refined.details["lagrangian"]["bound"]
    minimize = objective != "coverage"  # lexicographic: then="cost" by default
    candidates = [lagrangian, refined.details.get("lp_bound", lagrangian)]
    tighter = max(candidates) if minimize else min(candidates)
    tighter = min(tighter, refined.objective) if minimize else max(tighter, refined.objective)
    assert refined.bound == pytest.approx(tighter, rel=1e-12)
    assert refined.gap == pytest.approx(relative_gap(refined.objective, refined.bound))


def test_without_the_lagrangian_bound_the_lp_bound_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import optiserv.formulations.bundle.model as model_module

    monkeypatch.setattr(model_module, "bound_problem", lambda *args, **kwargs: None)
    bundle = medium_bundle(1, n=250, m=40)
    model = ServiceBundle(objective="coverage", budget_one_off=150_000.0, method="heuristic")
    solution = model.solve(bundle)
    exact = model.with_params(method="exact").solve(bundle)
    assert solution.details["bound_source"] == "LP relaxation"
    assert "lagrangian" not in solution.details
    assert solution.bound >= exact.objective - 1e-6 * exact.objective
