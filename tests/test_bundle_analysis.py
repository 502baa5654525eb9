"""Analyses: budget frontier, marginal values, N-1 closure impact, infeasibility diagnosis."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from optiserv.analysis import (
    budget_frontier,
    closure_impact,
    diagnose,
    full_coverage_budget,
    marginal_values,
)
from optiserv.data import Instance
from optiserv.data.services import BundleInstance, BundlePlan, Module, Service, ServiceCatalogue
from optiserv.evaluate_bundle import evaluate_bundle
from optiserv.formulations.bundle import ServiceBundle
from optiserv.solvers import Status
from tests._bundle_cases import tiny_bundle


def test_frontier_is_monotone_and_reaches_full_coverage() -> None:
    bundle = tiny_bundle(21, services=3)
    model = ServiceBundle(max_new_points=3)
    frame = budget_frontier(bundle, model, steps=5)
    assert list(frame["budget"]) == sorted(frame["budget"])
    assert (frame["status"] == "optimal").all()
    assert (np.diff(frame["objective"]) >= -1e-6).all()
    assert (frame["one_off_net"] <= frame["budget"] + 1e-6).all()
    top, plan = full_coverage_budget(bundle, model)
    assert frame["budget"].iloc[-1] == pytest.approx(top)
    best = model.solve(bundle)  # no budget at all
    assert frame["objective"].iloc[-1] == pytest.approx(
        evaluate_bundle(bundle, plan, model).objective
    ) or frame["objective"].iloc[-1] <= (best.objective + 1e-6)
    for name in bundle.catalogue.names:
        assert f"share:{name}" in frame


def test_frontier_at_given_budgets_for_the_annual_budget() -> None:
    bundle = tiny_bundle(22)
    frame = budget_frontier(bundle, ServiceBundle(), budget="annual", budgets=[0.0, 40.0, 80.0])
    assert len(frame) == 3 and (np.diff(frame["objective"]) >= -1e-6).all()


def test_marginal_values_match_re_evaluation() -> None:
    bundle = tiny_bundle(23, services=3)
    model = ServiceBundle(budget_one_off=900.0)
    solution = model.solve(bundle)
    frame = marginal_values(bundle, solution)
    base = evaluate_bundle(bundle, solution, model)
    names = bundle.catalogue.names
    ids = list(bundle.instance.sites.ids)
    for row in frame.itertuples():
        offers = solution.offers.copy()
        j = ids.index(row.site)
        if row.item == "module":
            offers[j, names.index(row.service)] = False
        else:
            offers[j] = False
        after = evaluate_bundle(bundle, BundlePlan(offers), model)
        lost = sum(base.coverage[n]["covered"] - after.coverage[n]["covered"] for n in names)
        assert row.people_lost == pytest.approx(lost)
        if row.people_lost > 0:
            assert row.cost_per_person == pytest.approx(row.cost / row.people_lost)
    assert list(frame["cost_per_person"]) == sorted(frame["cost_per_person"])


def test_closure_impact_marks_single_points_of_failure() -> None:
    rng = np.random.default_rng(3)
    instance = Instance.from_arrays(
        np.array([[0.0, 0.0], [100.0, 0.0], [5000.0, 0.0], [5100.0, 0.0]]),
        np.array([[50.0, 0.0], [60.0, 0.0], [5050.0, 0.0]]),
        weights=rng.integers(1, 10, 4).astype(float),
        site_ids=["x", "y", "z"],
    )
    bundle = BundleInstance.build(
        instance,
        ServiceCatalogue((Service("cash", 500.0), Service("parcels", 500.0))),
        offers={"x": ["cash", "parcels"], "y": ["cash"], "z": ["parcels"]},
    )
    frame = closure_impact(bundle).set_index("site")
    weights = instance.weight()
    assert frame.loc["x", "lost:cash"] == 0  # y also offers cash there
    assert frame.loc["x", "lost:parcels"] == pytest.approx(weights[0] + weights[1])
    assert frame.loc["z", "lost:parcels"] == pytest.approx(weights[2] + weights[3])
    assert not frame.loc["y", "single_point_of_failure"]
    assert frame.loc["x", "single_point_of_failure"] and frame.loc["z", "single_point_of_failure"]
    # the property: closing a site never raises anyone's coverage
    for site in ("x", "y", "z"):
        offers = bundle.existing.copy()
        offers[list(instance.sites.ids).index(site)] = False
        after = evaluate_bundle(bundle, BundlePlan(offers), ServiceBundle())
        before = evaluate_bundle(bundle, bundle.empty_plan(), ServiceBundle())
        lost = {
            n: before.coverage[n]["covered"] - after.coverage[n]["covered"]
            for n in ("cash", "parcels")
        }
        assert lost["cash"] == pytest.approx(frame.loc[site, "lost:cash"])
        assert lost["parcels"] == pytest.approx(frame.loc[site, "lost:parcels"])


def test_diagnosis_of_an_unreachable_target() -> None:
    bundle = tiny_bundle(24)
    model = ServiceBundle(
        objective="cost", targets={"cash": 1.0}, forbidden_sites=list(bundle.instance.sites.ids[3:])
    )
    report = diagnose(bundle, model)
    assert report.status is Status.INFEASIBLE
    row = report.reach.set_index("service").loc["cash"]
    assert row["reachable_share"] < 1.0
    assert math.isfinite(row["threshold_for_target"])
    assert (report.unreachable["service"] == "cash").sum() == row["unreachable_points"]
    assert "targets" in report.conflicting
    assert "cash" in report.message
    # the threshold found really makes the target reachable
    catalogue = ServiceCatalogue(
        tuple(
            Service(s.name, row["threshold_for_target"] if s.name == "cash" else s.threshold)
            for s in bundle.catalogue
        )
    )
    ids = bundle.instance.sites.ids
    wider = BundleInstance.build(
        bundle.instance,
        catalogue,
        offers={ids[0]: ["groceries"]},
        modules=[
            Module(ids[j], bundle.catalogue.names[s])
            for j, s in zip(bundle.module_site, bundle.module_service, strict=True)
        ],
    )
    assert diagnose(wider, model).reach.set_index("service").loc["cash", "reachable_share"] >= 1.0


def test_diagnosis_finds_the_smallest_budget() -> None:
    bundle = tiny_bundle(25, at_risk=False)
    model = ServiceBundle(objective="coverage", targets={"cash": 0.5}, budget_one_off=0.0)
    report = diagnose(bundle, model)
    if report.status is Status.INFEASIBLE:
        assert "budget_one_off" in report.conflicting
        assert report.smallest_budget_one_off > 0
        fixed = model.with_params(budget_one_off=report.smallest_budget_one_off + 1e-6)
        assert fixed.solve(bundle).status is Status.OPTIMAL
        tighter = model.with_params(budget_one_off=report.smallest_budget_one_off * 0.999)
        assert tighter.solve(bundle).status is Status.INFEASIBLE
    assert isinstance(report.reach, pd.DataFrame)


def test_diagnosis_of_a_feasible_model_reports_binding_constraints() -> None:
    bundle = tiny_bundle(26)
    report = diagnose(bundle, ServiceBundle(budget_one_off=300.0))
    assert report.status is Status.OPTIMAL
    assert report.conflicting == []
    assert report.smallest_max_new_points == pytest.approx(0.0)
