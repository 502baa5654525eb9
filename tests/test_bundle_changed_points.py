"""``max_changed_points``: at most P sites change their offer (a new point, or an existing site
that gets at least one new module); exact, heuristic, evaluator and scenario schema."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from optiserv.data import Instance
from optiserv.data.services import BundleInstance, BundlePlan, Grant, Service, ServiceCatalogue
from optiserv.evaluate_bundle import evaluate_bundle
from optiserv.exceptions import ParameterError
from optiserv.formulations.bundle import ServiceBundle
from optiserv.scenario import ScenarioError, load_scenario
from optiserv.scenario.errors import format_path
from optiserv.solvers import Status
from tests._bundle_cases import all_plans, brute_force
from tests.test_bundle_heuristic import medium_bundle


def changed_sites(bundle: BundleInstance, offers: np.ndarray) -> int:
    """Sites offering something they do not offer today (counted here, from the definition)."""
    return int((offers & ~bundle.existing).any(axis=1).sum())


def existing_and_new(seed: int, *, at_risk: bool = True) -> BundleInstance:
    """Three existing sites that can be extended (site 0 at risk) and two new candidates:
    10 binary decisions, small enough to enumerate."""
    rng = np.random.default_rng(seed)
    instance = Instance.from_arrays(
        rng.random((16, 2)) * 10_000.0,
        rng.random((5, 2)) * 10_000.0,
        weights=rng.integers(1, 50, 16).astype(float),
        opening_cost=rng.integers(1, 4, 5).astype(float) * 100.0,
    )
    catalogue = ServiceCatalogue(
        tuple(
            Service(name, threshold=float(rng.uniform(2500, 4500)), module_one_off=50.0 * (s + 1))
            for s, name in enumerate(["groceries", "cash", "pharmacy"])
        )
    )
    return BundleInstance.build(
        instance,
        catalogue,
        offers={0: ["groceries"], 1: ["groceries"], 2: ["cash"]},
        modules={
            0: ["cash"],
            1: ["cash", "pharmacy"],
            2: ["pharmacy"],
            3: ["groceries", "cash"],
            4: ["cash", "pharmacy"],
        },
        at_risk={0: 30.0} if at_risk else None,
        grants=[Grant("state", 0.5, cap=100.0)],
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("objective", ["coverage", "lexicographic"])
def test_exact_matches_brute_force_with_one_changed_point(seed: int, objective: str) -> None:
    bundle = existing_and_new(seed)
    model = ServiceBundle(objective=objective, max_changed_points=1, budget_one_off=10_000.0)
    expected, best = brute_force(bundle, model)
    assert best is not None
    solution = model.solve(bundle)
    assert solution.status is Status.OPTIMAL
    assert solution.objective == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert changed_sites(bundle, solution.offers) <= 1
    evaluation = evaluate_bundle(bundle, solution, model)
    assert evaluation.feasible, evaluation.violations
    assert solution.objective == pytest.approx(evaluation.objective, rel=1e-6, abs=1e-6)
    # without the rule the optimum changes more than one site here, so the rule binds
    free = ServiceBundle(objective=objective, budget_one_off=10_000.0).solve(bundle)
    assert changed_sites(bundle, free.offers) > 1
    assert "max_changed_points" in solution.details["binding"]


def test_brute_force_counts_changes_independently() -> None:
    """The brute-force optimum with P = 1 equals the best plan that changes ≤ 1 site, counted
    here without the evaluator's rule."""
    bundle = existing_and_new(0)
    model = ServiceBundle(max_changed_points=1)
    unlimited = ServiceBundle()

    best = -math.inf
    for plan in all_plans(bundle):
        if changed_sites(bundle, plan.offers) <= 1:
            evaluation = evaluate_bundle(bundle, plan, unlimited)
            if evaluation.feasible:
                best = max(best, evaluation.objective)
    assert model.solve(bundle).objective == pytest.approx(best, rel=1e-9)


def test_zero_changed_points_keeps_everything_as_today() -> None:
    bundle = existing_and_new(3, at_risk=False)
    solution = ServiceBundle(max_changed_points=0).solve(bundle)
    assert solution.status is Status.OPTIMAL
    assert np.array_equal(solution.offers, bundle.existing)


def test_required_changes_beyond_the_limit_are_infeasible() -> None:
    bundle = existing_and_new(0)
    model = ServiceBundle(max_changed_points=1, required_modules=[(1, "cash")], required_sites=[3])
    solution = model.solve(bundle)
    assert solution.status is Status.INFEASIBLE
    assert "max_changed_points" in solution.message
    heuristic = model.with_params(method="heuristic").solve(bundle)
    assert not heuristic.status.has_solution


def test_evaluator_flags_two_changed_sites() -> None:
    bundle = existing_and_new(0)
    offers = bundle.existing.copy()
    cash, pharmacy = bundle.catalogue.names.index("cash"), bundle.catalogue.names.index("pharmacy")
    offers[1, pharmacy] = True  # extend existing site 1
    offers[4, cash] = True  # a new point at site 4
    plan = BundlePlan(offers)
    one = evaluate_bundle(bundle, plan, ServiceBundle(max_changed_points=1))
    assert not one.feasible
    assert any("2 sites change" in v and "max_changed_points = 1" in v for v in one.violations)
    assert evaluate_bundle(bundle, plan, ServiceBundle(max_changed_points=2)).feasible
    assert evaluate_bundle(bundle, plan, ServiceBundle()).feasible
    # keeping an at-risk site open as it is is no change
    assert evaluate_bundle(
        bundle, BundlePlan(bundle.existing), ServiceBundle(max_changed_points=0)
    ).feasible


@pytest.mark.parametrize("value", [-1, 1.5, "one", True, math.inf])
def test_invalid_limits_are_rejected(value: object) -> None:
    with pytest.raises(ParameterError, match="max_changed_points must be a non-negative integer"):
        ServiceBundle(max_changed_points=value).resolve(existing_and_new(0))  # type: ignore[arg-type]


@pytest.mark.parametrize("objective", ["coverage", "cost"])
@pytest.mark.parametrize("limit", [1, 2])
def test_heuristic_respects_the_limit(objective: str, limit: int) -> None:
    bundle = medium_bundle(0, n=250, m=40)
    model = ServiceBundle(
        objective=objective,
        budget_one_off=150_000.0,
        budget_annual=20_000.0,
        max_changed_points=limit,
        targets={"cash": 0.3} if objective == "cost" else None,
        method="heuristic",
    )
    solution = model.solve(bundle)
    if objective == "coverage":
        free = model.with_params(max_changed_points=None).solve(bundle)
        assert changed_sites(bundle, free.offers) > limit  # the limit matters
    if objective == "cost" and not solution.status.has_solution:
        assert model.with_params(method="exact").solve(bundle).status is Status.INFEASIBLE
        return
    assert solution.status.has_solution
    assert changed_sites(bundle, solution.offers) <= limit
    evaluation = evaluate_bundle(bundle, solution, model)
    assert evaluation.feasible, evaluation.violations
    exact = model.with_params(method="exact").solve(bundle)
    assert changed_sites(bundle, exact.offers) <= limit
    if objective == "coverage":
        assert solution.objective <= exact.objective + 1e-6 * exact.objective
        assert solution.bound >= exact.objective - 1e-6 * exact.objective


def test_heuristic_small_cases_within_the_limit() -> None:
    for seed in range(4):
        bundle = existing_and_new(seed)
        model = ServiceBundle(max_changed_points=1, method="heuristic")
        solution = model.solve(bundle)
        assert solution.status.has_solution
        assert changed_sites(bundle, solution.offers) <= 1
        assert evaluate_bundle(bundle, solution, model).feasible


# ---------------------------------------------------------------------------------- schema
VALID = """\
version: 1
name: tiny
data:
  demand: {path: demand.csv}
  sites: {path: sites.csv}
services:
  groceries: {threshold_km: 10}
budgets: {annual: 1000}
"""


def test_schema_accepts_max_changed_points(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(VALID + "rules: {max_changed_points: 1}\n", encoding="utf-8")
    scenario = load_scenario(path).scenario
    assert scenario.rules.max_changed_points == 1
    path.write_text(VALID, encoding="utf-8")
    assert load_scenario(path).scenario.rules.max_changed_points is None


def test_schema_rejects_a_negative_value_with_line_and_path(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        VALID + "rules:\n  min_services: 1\n  max_changed_points: -1\n", encoding="utf-8"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    issue = caught.value.issues[0]
    assert issue.line == 11, str(caught.value)
    assert format_path(issue.path) == "rules.max_changed_points"
    assert str(caught.value).startswith("scenario.yaml:11:")
    assert "-1" in str(caught.value)
