"""The screened preparation (KD-tree, costs from coordinates) equals the one built from every
pair within the largest threshold (the same instance given as a user cost matrix)."""

from __future__ import annotations

import numpy as np
import pytest

from optiserv.data import Instance
from optiserv.data.services import BundleInstance, Grant, Service, ServiceCatalogue
from optiserv.formulations.bundle import ServiceBundle
from optiserv.formulations.bundle.prepare import nearest_provider
from optiserv.geometry import travel_costs
from optiserv.solvers import Status


def _pair(seed: int) -> tuple[BundleInstance, BundleInstance]:
    """One random instance twice: costs from coordinates, and the same costs as a matrix.

    Several existing sites offer each service (some at risk, so their coverage is a
    decision), one service fades gradually from r_s to R_s, and there are equity groups.
    """
    rng = np.random.default_rng(seed)
    n, m = 300, 24
    instance = Instance.from_arrays(
        rng.random((n, 2)) * 20_000.0,
        rng.random((m, 2)) * 20_000.0,
        weights={"total": rng.integers(1, 50, n).astype(float)},
        opening_cost=rng.integers(1, 6, m).astype(float) * 100.0,
    )
    catalogue = ServiceCatalogue(
        (
            Service("groceries", threshold=3_000.0, fade_to=5_500.0, module_one_off=100.0),
            Service("cash", threshold=4_000.0, weight=2.0, module_one_off=50.0),
            Service("parcels", threshold=2_500.0, module_one_off=20.0),
        )
    )
    offers = {
        j: [name for name in catalogue.names if rng.random() < 0.5] or ["groceries"]
        for j in range(8)
    }
    modules = {
        j: [
            name for name in catalogue.names if name not in offers.get(j, []) and rng.random() < 0.7
        ]
        for j in range(m)
    }
    common = {
        "offers": offers,
        "modules": {j: names for j, names in modules.items() if names},
        "at_risk": {0: 30.0, 3: 40.0, 5: 20.0},
        "grants": [Grant("state", 0.5, cap=300.0)],
        "groups": rng.integers(0, 3, n),
    }
    screened = BundleInstance.build(instance, catalogue, **common)
    stored = BundleInstance.build(
        instance.replace(costs=travel_costs(instance)), catalogue, **common
    )
    return screened, stored


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_screened_blocks_equal_the_blocks_from_every_pair(seed: int) -> None:
    screened, stored = _pair(seed)
    model = ServiceBundle(objective="coverage", budget_one_off=600.0)
    fast, full = model.prepare(screened), model.prepare(stored)
    assert fast.costs is None and full.costs is not None
    for a, b in zip(fast.blocks, full.blocks, strict=True):
        assert (a.rows != b.rows).nnz == 0 and a.rows.shape == b.rows.shape
        for name in (
            "population",
            "group",
            "partial_row",
            "partial_unit",
            "partial_fraction",
            "fixed_population",
            "total_population",
            "unreachable_population",
            "row_of_demand",
        ):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    # the screen really dropped something: some points are covered by fixed providers
    assert any(block.fixed_population.sum() > 0 for block in fast.blocks)
    assert fast.blocks[0].partial_row.size > 0  # gradual pairs are kept
    sites = np.array([1, 4, 9, 17])
    for a, b in zip(
        nearest_provider(screened, fast, sites), nearest_provider(stored, full, sites), strict=True
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("objective", ["coverage", "cost"])
def test_screened_preparation_gives_the_same_optimum(objective: str) -> None:
    screened, stored = _pair(3)
    model = ServiceBundle(
        objective=objective,
        budget_one_off=600.0,
        targets={"cash": 0.5} if objective == "cost" else None,
        min_group_share={"groceries": 0.2},
    )
    fast, full = model.solve(screened), model.solve(stored)
    assert fast.status is Status.OPTIMAL and full.status is Status.OPTIMAL
    assert fast.objective == pytest.approx(full.objective, rel=1e-9)
    for name, row in fast.service_coverage.items():
        assert row == pytest.approx(full.service_coverage[name], rel=1e-9)
