"""Small combined service point instances and a brute-force optimum, for the bundle tests."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from optiserv.data import Instance
from optiserv.data.services import BundleInstance, BundlePlan, Grant, Service, ServiceCatalogue
from optiserv.evaluate_bundle import BundleEvaluation, evaluate_bundle


def tiny_bundle(
    seed: int,
    *,
    n: int = 14,
    m: int = 5,
    services: int = 2,
    modules_per_site: int = 2,
    at_risk: bool = True,
    grants: bool = True,
    fade: bool = False,
    groups: bool = False,
) -> BundleInstance:
    """A random instance small enough to enumerate: ≤ 10 binary decisions by default.

    Site 0 is an existing point offering the first service (at risk when ``at_risk``);
    the other sites can host ``modules_per_site`` services each.
    """
    rng = np.random.default_rng(seed)
    side = 10_000.0
    instance = Instance.from_arrays(
        rng.random((n, 2)) * side,
        rng.random((m, 2)) * side,
        weights={
            "total": rng.integers(1, 50, n).astype(float),
            "aged_70": rng.integers(0, 10, n).astype(float),
        },
        opening_cost=rng.integers(1, 6, m).astype(float) * 100.0,
    )
    catalogue = ServiceCatalogue(
        tuple(
            Service(
                name,
                threshold=float(rng.uniform(2500, 4500)),
                weight=float(rng.integers(1, 3)),
                fade_to=float(rng.uniform(5000, 7000)) if fade and s == 0 else None,
                extra_population={"aged_70": 1.0} if s == 1 else {},
                module_one_off=float(rng.integers(1, 4) * 50),
                module_annual=float(rng.integers(0, 3) * 10),
            )
            for s, name in enumerate(["groceries", "cash", "pharmacy", "fuel"][:services])
        )
    )
    modules = {
        j: list(rng.choice(catalogue.names, size=min(modules_per_site, services), replace=False))
        for j in range(1, m)
    }
    return BundleInstance.build(
        instance,
        catalogue,
        offers={0: [catalogue.names[0]]},
        modules=modules,
        at_risk={0: 30.0} if at_risk else None,
        grants=[Grant("state", 0.5, cap=150.0)] if grants else (),
        groups=rng.integers(0, 2, n) if groups else None,
    )


def all_plans(bundle: BundleInstance) -> list[BundlePlan]:
    """Every plan: each module on or off, each at-risk site kept or closed."""
    risky = np.flatnonzero(bundle.at_risk)
    decisions = bundle.n_modules + risky.size
    if decisions > 14:
        raise ValueError("too many decisions to enumerate")
    plans = []
    for bits in itertools.product((False, True), repeat=decisions):
        offers = bundle.existing.copy()
        offers[risky] = False
        for position, j in enumerate(risky):
            if bits[bundle.n_modules + position]:
                offers[j] = bundle.existing[j]
        on = np.array(bits[: bundle.n_modules], dtype=bool)
        # a module at an at-risk site needs the site kept
        if np.isin(
            bundle.module_site[on], risky[~np.array(bits[bundle.n_modules :], dtype=bool)]
        ).any():
            continue
        offers[bundle.module_site[on], bundle.module_service[on]] = True
        plans.append(BundlePlan(offers))
    return plans


def brute_force(bundle: BundleInstance, model: Any) -> tuple[float, BundleEvaluation | None]:
    """The optimum over all plans by the independent evaluator (nan when none is feasible)."""
    params = model.get_params()
    evaluations = [evaluate_bundle(bundle, plan, model) for plan in all_plans(bundle)]
    feasible = [e for e in evaluations if e.feasible]
    if not feasible:
        return math.nan, None
    objective = params["objective"]
    if objective == "lexicographic":
        top = max(e.full_coverage for e in feasible)
        feasible = [e for e in feasible if e.full_coverage >= top - 1e-6 * max(1.0, top)]
        objective = "cost" if params["then"] == "cost" else "coverage"
    pick = min if objective == "cost" else max
    best = pick(feasible, key=lambda e: e.objective)
    return best.objective, best
