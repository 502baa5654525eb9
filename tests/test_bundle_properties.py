"""Properties of the combined service point model (hypothesis) and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optiserv.data import Instance
from optiserv.data.services import (
    BundleInstance,
    BundlePlan,
    BundleRule,
    Grant,
    Module,
    Service,
    ServiceCatalogue,
)
from optiserv.evaluate_bundle import evaluate_bundle
from optiserv.exceptions import DataError, ParameterError
from optiserv.formulations.bundle import ServiceBundle
from optiserv.solvers import Status
from tests._bundle_cases import tiny_bundle

seeds = st.integers(min_value=0, max_value=10_000)


@given(seed=seeds, low=st.floats(0, 600), extra=st.floats(0, 600))
def test_coverage_never_falls_as_the_budget_rises(seed: int, low: float, extra: float) -> None:
    bundle = tiny_bundle(seed, grants=seed % 2 == 0)
    model = ServiceBundle(objective="coverage", budget_one_off=low)
    poorer = model.solve(bundle)
    richer = model.with_params(budget_one_off=low + extra).solve(bundle, initial=poorer.plan)
    assert poorer.status is Status.OPTIMAL and richer.status is Status.OPTIMAL
    assert richer.objective >= poorer.objective - 1e-6 * max(1.0, poorer.objective)


@given(seed=seeds, budget=st.floats(0, 800))
def test_closing_an_existing_site_never_raises_coverage(seed: int, budget: float) -> None:
    bundle = tiny_bundle(seed)
    model = ServiceBundle(objective="coverage", budget_one_off=budget)
    solution = model.solve(bundle)
    before = evaluate_bundle(bundle, solution, model)
    for j in solution.open_sites:
        offers = solution.offers.copy()
        offers[j] = False
        after = evaluate_bundle(bundle, BundlePlan(offers), model)
        for name, row in after.coverage.items():
            assert row["covered"] <= before.coverage[name]["covered"] + 1e-9
            assert row["graded"] <= before.coverage[name]["graded"] + 1e-9


@given(
    seed=seeds,
    objective=st.sampled_from(["coverage", "cost", "lexicographic"]),
    method=st.sampled_from(["exact", "heuristic"]),
    points=st.integers(1, 4),
)
def test_every_returned_plan_passes_the_evaluator(
    seed: int, objective: str, method: str, points: int
) -> None:
    bundle = tiny_bundle(seed, services=3, groups=True)
    model = ServiceBundle(
        objective=objective,
        method=method,
        budget_one_off=700.0,
        max_new_points=points,
        targets={"cash": 0.3},
        min_group_share={"groceries": 0.2},
    )
    solution = model.solve(bundle)
    if not solution.status.has_solution:
        assert solution.plan is None and solution.message
        return
    evaluation = evaluate_bundle(bundle, solution, model)
    assert evaluation.feasible, evaluation.violations
    assert solution.objective == pytest.approx(evaluation.objective, rel=1e-6, abs=1e-6)
    if solution.status is Status.FEASIBLE:
        assert math.isfinite(solution.gap)


# ---------------------------------------------------------------------------------- bad input
def _instance() -> Instance:
    rng = np.random.default_rng(0)
    return Instance.from_arrays(
        rng.random((6, 2)) * 1000, rng.random((3, 2)) * 1000, site_ids=["a", "b", "c"]
    )


def test_threshold_must_be_positive() -> None:
    with pytest.raises(DataError, match=r"'cash'.*threshold"):
        Service("cash", 0.0)
    with pytest.raises(DataError, match=r"'cash'.*fade_to"):
        Service("cash", 100.0, fade_to=50.0)


def test_negative_costs_name_the_module() -> None:
    with pytest.raises(DataError, match=r"'pharmacy' at site 'b'"):
        BundleInstance.build(_instance(), modules=[Module("b", "pharmacy", one_off=-5.0)])
    with pytest.raises(DataError, match=r"'cash'.*module_annual"):
        Service("cash", 100.0, module_annual=-1.0)
    with pytest.raises(DataError, match=r"point_costs.*'a'"):
        BundleInstance.build(_instance(), point_costs={"a": (-1.0, 0.0)})


def test_grant_share_outside_unit_interval() -> None:
    with pytest.raises(DataError, match=r"grant 'state'.*share"):
        Grant("state", 1.5)
    with pytest.raises(DataError, match=r"100 %"):
        BundleInstance.build(_instance(), grants=[Grant("a", 0.6), Grant("b", 0.6)])


def test_target_above_one_hundred_percent() -> None:
    bundle = BundleInstance.build(_instance(), modules={"a": ["cash"]})
    with pytest.raises(ParameterError, match=r"'cash'.*0.997"):
        ServiceBundle(targets={"cash": 99.7}).solve(bundle)
    with pytest.raises(ParameterError, match=r"'cash'"):
        ServiceBundle(targets={"cash": 1.2}).solve(bundle)


def test_missing_service_is_named() -> None:
    with pytest.raises(DataError, match=r"'post'.*not in the catalogue"):
        BundleInstance.build(_instance(), modules={"a": ["post"]})
    with pytest.raises(DataError, match=r"'post'"):
        BundleInstance.build(_instance(), offers={"a": ["post"]})
    bundle = BundleInstance.build(_instance(), modules={"a": ["cash"]})
    with pytest.raises(DataError, match=r"'post'"):
        ServiceBundle(targets={"post": 0.5}).solve(bundle)
    with pytest.raises(DataError, match=r"'post'"):
        ServiceBundle(rules=[BundleRule(("post",), at_least=1)]).solve(bundle)


def test_module_at_a_site_that_cannot_host_it() -> None:
    bundle = BundleInstance.build(_instance(), modules={"a": ["cash"]})
    with pytest.raises(DataError, match=r"site 'b' cannot host module 'cash'"):
        ServiceBundle(required_modules=[("b", "cash")]).solve(bundle)
    plan = np.zeros((3, bundle.n_services), dtype=bool)
    plan[2, bundle.catalogue.index("fuel")] = True
    with pytest.raises(DataError, match=r"site 'c' cannot host module 'fuel'"):
        evaluate_bundle(bundle, BundlePlan(plan), ServiceBundle())
    with pytest.raises(DataError, match=r"already offers"):
        BundleInstance.build(_instance(), offers={"a": ["cash"]}, modules={"a": ["cash"]})


def test_unknown_sites_and_bad_parameters() -> None:
    bundle = BundleInstance.build(_instance(), modules={"a": ["cash"]})
    with pytest.raises(DataError, match=r"site 'zz'"):
        ServiceBundle(required_sites=["zz"]).solve(bundle)
    with pytest.raises(DataError, match=r"site 'zz'"):
        BundleInstance.build(_instance(), at_risk={"zz": 1.0})
    with pytest.raises(DataError, match=r"not an existing service point"):
        BundleInstance.build(_instance(), at_risk={"a": 1.0})
    with pytest.raises(ParameterError, match=r"budget_one_off"):
        ServiceBundle(budget_one_off=-1).solve(bundle)
    with pytest.raises(ParameterError, match=r"min_group_share needs group labels"):
        ServiceBundle(min_group_share=0.5).solve(bundle)
    with pytest.raises(ParameterError, match=r"objective"):
        ServiceBundle(objective="fastest").solve(bundle)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"population column 'young'"):
        BundleInstance.build(_instance(), [Service("cash", 10.0, population="young")])


def test_missing_extra_population_is_reported_not_fatal() -> None:
    bundle = BundleInstance.build(_instance(), modules={"a": ["pharmacy"]})
    assert bundle.skipped_extra == {"pharmacy": ("aged_70",)}
    catalogue = ServiceCatalogue.default()
    assert catalogue.names == ("groceries", "fuel", "parcels", "pharmacy", "cash")
