"""The heuristic: valid plans, honest bounds and gaps, agreement with the exact optimum on
small cases."""

from __future__ import annotations

import numpy as np
import pytest

from optiserv.data import Instance
from optiserv.data.services import BundleInstance, Grant, Service, ServiceCatalogue
from optiserv.evaluate_bundle import evaluate_bundle
from optiserv.formulations.bundle import ServiceBundle
from optiserv.solvers import Status
from tests._bundle_cases import tiny_bundle


def medium_bundle(seed: int, *, n: int = 400, m: int = 60) -> BundleInstance:
    """A county-like random case: clustered demand, 3 services, 10 existing sites."""
    rng = np.random.default_rng(seed)
    centres = rng.random((12, 2)) * 60_000
    demand = centres[rng.integers(0, 12, n)] + rng.normal(0, 4000, (n, 2))
    sites = rng.random((m, 2)) * 60_000
    instance = Instance.from_arrays(
        demand,
        sites,
        weights=rng.integers(1, 300, n).astype(float),
        opening_cost=rng.integers(5, 20, m) * 1000.0,
    )
    catalogue = ServiceCatalogue(
        (
            Service("groceries", 8000.0, module_one_off=20_000, module_annual=2000),
            Service("parcels", 8000.0, module_one_off=5000, module_annual=500),
            Service("cash", 15_000.0, weight=2.0, module_one_off=10_000, module_annual=1000),
        )
    )
    existing = {j: ["groceries", "parcels"] for j in range(10)}
    modules = {j: ["groceries", "parcels", "cash"] for j in range(10, m)}
    modules.update({j: ["cash"] for j in range(10)})
    return BundleInstance.build(
        instance,
        catalogue,
        offers=existing,
        modules=modules,
        at_risk={j: 5000.0 for j in range(3)},
        grants=[Grant("state", 0.5, cap=60_000.0)],
        groups=rng.integers(0, 4, n),
    )


@pytest.mark.parametrize(
    "seed", [0, 1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("objective", ["coverage", "cost", "lexicographic"])
def test_heuristic_plans_are_feasible_and_bounded(seed: int, objective: str) -> None:
    bundle = medium_bundle(seed, n=250 if seed < 2 else 400, m=40 if seed < 2 else 60)
    model = ServiceBundle(
        objective=objective,
        budget_one_off=150_000.0,
        budget_annual=20_000.0,
        max_new_points=6,
        targets={"cash": 0.7},
        method="heuristic",
    )
    solution = model.solve(bundle)
    exact = model.with_params(method="exact").solve(bundle)
    if solution.status is Status.NO_SOLUTION:
        # an honest "found nothing" is allowed only with a finite bound or a proof
        assert exact.status in (Status.OPTIMAL, Status.INFEASIBLE)
        return
    assert solution.status in (Status.OPTIMAL, Status.FEASIBLE)
    evaluation = evaluate_bundle(bundle, solution, model)
    assert evaluation.feasible, evaluation.violations
    assert solution.objective == pytest.approx(evaluation.objective, rel=1e-6)
    if objective == "coverage":
        assert solution.bound >= exact.objective - 1e-6 * max(1.0, exact.objective)
        assert solution.objective <= exact.objective + 1e-6 * exact.objective
    elif objective == "cost":
        assert solution.bound <= exact.objective + 1e-6 * max(1.0, exact.objective)
        assert solution.objective >= exact.objective - 1e-6 * max(1.0, exact.objective)
    assert solution.gap >= 0
    assert solution.method == "heuristic"


def test_heuristic_finds_the_optimum_of_easy_cases() -> None:
    for seed in range(4):
        bundle = tiny_bundle(seed)
        model = ServiceBundle(objective="coverage", budget_one_off=500.0, method="heuristic")
        exact = model.with_params(method="exact").solve(bundle)
        found = model.solve(bundle)
        assert found.objective <= exact.objective + 1e-6
        assert found.objective >= 0.9 * exact.objective


def test_heuristic_respects_required_and_forbidden() -> None:
    bundle = medium_bundle(5)
    ids = bundle.instance.sites.ids
    model = ServiceBundle(
        objective="coverage",
        budget_one_off=100_000.0,
        method="heuristic",
        required_modules=[(ids[20], "cash")],
        forbidden_sites=[ids[21]],
        min_services=2,
    )
    solution = model.solve(bundle)
    evaluation = evaluate_bundle(bundle, solution, model)
    assert evaluation.feasible, evaluation.violations
    assert solution.offers[20, 2] and not solution.offers[21].any()
