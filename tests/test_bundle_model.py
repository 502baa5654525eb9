"""The combined service point model: exact optimum against brute force, reductions to MCLP and
LSCP, the evaluator agreeing with every returned plan, and both backends."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optiserv.data import Instance
from optiserv.data.services import BundleInstance, BundleRule, Module, Service, ServiceCatalogue
from optiserv.evaluate_bundle import evaluate_bundle
from optiserv.formulations import MaximalCovering, SetCovering
from optiserv.formulations.bundle import BundleSolution, ServiceBundle
from optiserv.solvers import SolveOptions, Status
from tests._bundle_cases import brute_force, tiny_bundle

OBJECTIVES = [
    ServiceBundle(objective="coverage", budget_one_off=500.0, budget_annual=60.0),
    ServiceBundle(objective="coverage", max_new_points=2, min_services=2, budget_one_off=900.0),
    ServiceBundle(objective="cost", targets={"groceries": 0.6, "cash": 0.5}),
    ServiceBundle(objective="lexicographic", then="cost", budget_one_off=600.0),
    ServiceBundle(objective="lexicographic", then="coverage", max_new_points=1),
]


def check_against_evaluator(
    bundle: BundleInstance, model: ServiceBundle, solution: BundleSolution
) -> None:
    """The plan is feasible and its objective, coverage and costs are what the evaluator says."""
    evaluation = evaluate_bundle(bundle, solution, model)
    assert evaluation.feasible, evaluation.violations
    assert solution.objective == pytest.approx(evaluation.objective, rel=1e-6, abs=1e-6)
    for name, row in evaluation.coverage.items():
        assert solution.service_coverage[name]["covered"] == pytest.approx(row["covered"])
        assert solution.service_coverage[name]["graded"] == pytest.approx(row["graded"])
    for key, value in evaluation.costs.items():
        assert solution.costs[key] == pytest.approx(value, abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("model", OBJECTIVES, ids=lambda m: f"{m.objective}")
def test_exact_matches_brute_force(seed: int, model: ServiceBundle) -> None:
    bundle = tiny_bundle(seed, fade=seed == 2)
    expected, _ = brute_force(bundle, model)
    solution = model.solve(bundle)
    if math.isnan(expected):
        assert solution.status is Status.INFEASIBLE
        return
    assert solution.status is Status.OPTIMAL
    assert solution.objective == pytest.approx(expected, rel=1e-6, abs=1e-6)
    check_against_evaluator(bundle, model, solution)


@pytest.mark.parametrize("seed", [3, 4])
def test_equity_and_rules_match_brute_force(seed: int) -> None:
    bundle = tiny_bundle(seed, services=3, modules_per_site=2, groups=True, at_risk=False)
    model = ServiceBundle(
        objective="cost",
        min_group_share={"groceries": 0.4},
        rules=[BundleRule(("groceries", "cash"), at_least=1)],
    )
    expected, _ = brute_force(bundle, model)
    solution = model.solve(bundle)
    if math.isnan(expected):
        assert solution.status is Status.INFEASIBLE
        return
    assert solution.objective == pytest.approx(expected, rel=1e-6, abs=1e-6)
    check_against_evaluator(bundle, model, solution)


def test_cbc_backend_agrees_with_highs() -> None:
    bundle = tiny_bundle(5)
    model = ServiceBundle(objective="coverage", budget_one_off=500.0)
    highs = model.solve(bundle)
    cbc = model.solve(bundle, backend="cbc")
    assert cbc.status is Status.OPTIMAL
    assert cbc.objective == pytest.approx(highs.objective, rel=1e-6)
    check_against_evaluator(bundle, model, cbc)


def test_required_and_forbidden_are_respected() -> None:
    bundle = tiny_bundle(6)
    site_ids = bundle.instance.sites.ids
    j, s = int(bundle.module_site[0]), int(bundle.module_service[0])
    service = bundle.catalogue.names[s]
    other = int(bundle.module_site[-1])
    model = ServiceBundle(
        objective="coverage",
        budget_one_off=800.0,
        required_modules=[(site_ids[j], service)],
        forbidden_sites=[site_ids[other]],
    )
    solution = model.solve(bundle)
    assert solution.offers[j, s]
    assert not solution.offers[other].any()
    check_against_evaluator(bundle, model, solution)
    expected, _ = brute_force(bundle, model)
    assert solution.objective == pytest.approx(expected)


def _one_service(seed: int, *, n: int = 40, m: int = 9, cost: bool = False):
    rng = np.random.default_rng(seed)
    instance = Instance.from_arrays(
        rng.random((n, 2)) * 10_000,
        rng.random((m, 2)) * 10_000,
        weights=rng.integers(1, 100, n).astype(float),
        opening_cost=rng.integers(1, 9, m).astype(float) if cost else None,
    )
    catalogue = ServiceCatalogue((Service("cash", 3000.0),))
    return instance, catalogue


@pytest.mark.parametrize("p", [1, 2, 4])
def test_one_service_with_unit_costs_is_mclp(p: int) -> None:
    instance, catalogue = _one_service(7)
    bundle = BundleInstance.build(
        instance,
        catalogue,
        modules=[Module(j, "cash", one_off=1.0) for j in instance.sites.ids],
        point_costs={j: (0.0, 0.0) for j in instance.sites.ids},
    )
    bundle_solution = ServiceBundle(objective="coverage", budget_one_off=p).solve(bundle)
    mclp = MaximalCovering(p=p, radius=3000.0).solve(instance)
    # Σ y = p and Σ y ≤ p agree: covering never gets worse with one more site
    assert bundle_solution.objective == pytest.approx(mclp.objective)
    assert bundle_solution.new_points.size <= p


def test_full_targets_at_minimum_cost_is_set_covering() -> None:
    instance, catalogue = _one_service(8, cost=True)
    radius = 4500.0
    catalogue = ServiceCatalogue((Service("cash", radius),))
    bundle = BundleInstance.build(
        instance, catalogue, modules={j: ["cash"] for j in instance.sites.ids}
    )
    lscp = SetCovering(radius=radius).solve(instance)
    solution = ServiceBundle(objective="cost", targets={"cash": 1.0}).solve(bundle)
    assert lscp.status is solution.status
    if lscp.status is Status.OPTIMAL:
        assert solution.objective == pytest.approx(lscp.objective)


def test_infeasible_target_names_the_service() -> None:
    bundle = tiny_bundle(9)
    solution = ServiceBundle(
        objective="cost", targets={"cash": 1.0}, forbidden_sites=list(bundle.instance.sites.ids[1:])
    ).solve(bundle)
    assert solution.status is Status.INFEASIBLE
    assert "cash" in solution.message
    assert solution.plan is None


def test_budget_infeasibility_is_proven_by_the_solver() -> None:
    bundle = tiny_bundle(10, at_risk=False)
    solution = ServiceBundle(
        objective="coverage", budget_one_off=0.0, required_sites=[bundle.instance.sites.ids[1]]
    ).solve(bundle)
    assert solution.status is Status.INFEASIBLE
    assert "diagnose" in solution.message


def test_time_limited_solve_reports_status_and_gap_honestly() -> None:
    bundle = tiny_bundle(11)
    solution = ServiceBundle(objective="coverage", budget_one_off=400.0).solve(
        bundle, options=SolveOptions(time_limit=30.0)
    )
    assert solution.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert solution.bound >= solution.objective - 1e-6
    if solution.status is Status.OPTIMAL:
        assert solution.gap <= 1e-6


def test_solution_reports_bundles_and_serialises() -> None:
    bundle = tiny_bundle(12, fade=True)
    solution = ServiceBundle(objective="coverage", budget_one_off=700.0).solve(bundle)
    table = solution.bundles()
    assert list(table.columns[:2]) == ["site", "new"]
    assert len(table) == solution.open_sites.size
    summary = solution.to_dict()
    assert set(summary["service_coverage"]) == set(bundle.catalogue.names)
    assert summary["costs"]["one_off_net"] <= 700.0 + 1e-6
    assert solution.providers.shape == (bundle.instance.n_demand, bundle.n_services)
    graded = solution.coverage_table()["graded"]
    assert (graded >= solution.coverage_table()["covered"] - 1e-9).all()


def test_warm_start_from_a_plan() -> None:
    bundle = tiny_bundle(13)
    model = ServiceBundle(objective="coverage", budget_one_off=600.0, warm_start=False)
    first = model.solve(bundle)
    again = model.solve(bundle, initial=first.plan)
    assert again.objective == pytest.approx(first.objective)
