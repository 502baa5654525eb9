"""Why a plan is infeasible, and what would make it feasible.

:func:`diagnose` reports, from the data and a few extra solves:

* per service, the demand points that no existing or possible site can cover within r_s, and
  the best coverage share reachable with every allowed module;
* per target and equity share, the smallest threshold that would make it reachable;
* which constraint families conflict (removing the family alone makes the model feasible);
* the smallest net one-off budget, net annual budget and number of new points with which the
  remaining rules can be met (each computed exactly by its own MIP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from optiserv.analysis._reach import nearest_distance, possible_providers
from optiserv.data.services import BundleInstance
from optiserv.formulations.bundle import ServiceBundle
from optiserv.formulations.bundle.build import (
    build_program,
    grant_eligibility,
    period_costs,
)
from optiserv.lp import LinearProgram
from optiserv.solvers import Backend, SolveOptions, Status, get_backend

__all__ = ["Diagnosis", "diagnose"]

_FAMILIES: dict[str, dict[str, Any]] = {
    "budget_one_off": {"budget_one_off": math.inf},
    "budget_annual": {"budget_annual": math.inf},
    "max_new_points": {"max_new_points": None},
    "max_changed_points": {"max_changed_points": None},
    "targets": {"targets": None},
    "min_group_share": {"min_group_share": None},
    "rules": {"rules": (), "min_services": 0},
    "required": {"required_sites": (), "required_modules": ()},
}


@dataclass(frozen=True)
class Diagnosis:
    """What blocks a plan and what would unblock it.

    Attributes
    ----------
    status
        The model's status as given.
    message
        A one-paragraph summary for a planner.
    reach
        Per service: ``population``, ``reachable_share`` (best share within r_s with every
        allowed module), ``unreachable_points``, ``unreachable_people``, ``target``,
        ``threshold_for_target`` (smallest r_s at which the target becomes reachable).
    unreachable
        One row per (service, demand point) that nothing can cover within r_s: ``service``,
        ``demand``, ``people``, ``distance`` to the nearest possible provider.
    groups
        Per (group, service) with an equity share: ``reachable_share``, ``required``,
        ``threshold_for_share``.
    conflicting
        Constraint families whose removal alone makes the model feasible.
    binding
        For a feasible model: constraints that hold with equality at the optimum.
    smallest_budget_one_off, smallest_budget_annual, smallest_max_new_points
        The least net one-off budget / net annual budget / number of new points with which
        every other rule can be met (nan when no plan meets them even without that limit).
    """

    status: Status
    message: str
    reach: pd.DataFrame
    unreachable: pd.DataFrame
    groups: pd.DataFrame
    conflicting: list[str] = field(default_factory=list)
    binding: list[str] = field(default_factory=list)
    smallest_budget_one_off: float = math.nan
    smallest_budget_annual: float = math.nan
    smallest_max_new_points: float = math.nan


def _already_relaxed(value: Any, relaxed: Any) -> bool:
    """Is a parameter already at its relaxed value (so relaxing it cannot help)?"""
    if relaxed in (None, ()):
        return not value
    return bool(value == relaxed)


def _threshold_for(distance: np.ndarray, people: np.ndarray, share: float) -> float:
    """Smallest r with Σ people[distance ≤ r] ≥ share × Σ people (inf if never)."""
    total = people.sum()
    if total <= 0 or share <= 0:
        return 0.0
    order = np.argsort(distance, kind="stable")
    reached = np.cumsum(people[order])
    position = int(np.searchsorted(reached, share * total - 1e-9 * total))
    return float(distance[order][position]) if position < order.size else math.inf


def diagnose(
    bundle: BundleInstance,
    model: ServiceBundle,
    *,
    backend: str | Backend = "highs",
    options: SolveOptions | None = None,
) -> Diagnosis:
    """Solve ``model`` and explain infeasibility (or report binding constraints)."""
    options = options or SolveOptions()
    solution = model.with_params(method="exact").solve(bundle, backend=backend, options=options)
    resolved = model.resolve(bundle)
    allowed = resolved.site_upper > 0
    ids = bundle.instance.demand.ids
    targets = model.targets
    group_share = model.min_group_share
    reach_rows, unreachable_rows, group_rows = [], [], []
    labels = None if bundle.groups is None else np.asarray(bundle.groups)
    for s, service in enumerate(bundle.catalogue):
        distance = nearest_distance(bundle, possible_providers(bundle, s, allowed))
        people = bundle.populations[s]
        out = distance > service.threshold
        target = targets.get(service.name, math.nan)
        reach_rows.append(
            {
                "service": service.name,
                "population": float(people.sum()),
                "reachable_share": float(people[~out].sum() / people.sum())
                if people.sum()
                else 1.0,
                "unreachable_points": int(out.sum()),
                "unreachable_people": float(people[out].sum()),
                "target": target,
                "threshold_for_target": _threshold_for(distance, people, target)
                if math.isfinite(target)
                else math.nan,
            }
        )
        for i in np.flatnonzero(out):
            unreachable_rows.append(
                {
                    "service": service.name,
                    "demand": ids[i],
                    "people": float(people[i]),
                    "distance": float(distance[i]),
                }
            )
        share = group_share.get(service.name) if isinstance(group_share, dict) else group_share
        if share is not None and labels is not None:
            for label in np.unique(labels):
                members = labels == label
                total = people[members].sum()
                group_rows.append(
                    {
                        "group": label,
                        "service": service.name,
                        "required": float(share),
                        "reachable_share": float(people[members & ~out].sum() / total)
                        if total
                        else 1.0,
                        "threshold_for_share": _threshold_for(
                            distance[members], people[members], float(share)
                        ),
                    }
                )
    conflicting: list[str] = []
    if solution.status is Status.INFEASIBLE:
        for family, relaxed in _FAMILIES.items():
            if all(_already_relaxed(model.get_params()[k], v) for k, v in relaxed.items()):
                continue
            trial = model.with_params(method="exact", warm_start=False, **relaxed).solve(
                bundle, backend=backend, options=options
            )
            if trial.status.has_solution:
                conflicting.append(family)
    smallest = {
        name: _smallest(bundle, model, name, backend, options)
        for name in ("budget_one_off", "budget_annual", "max_new_points")
    }
    binding = list(solution.details.get("binding", [])) if solution.status.has_solution else []
    message = _summary(
        solution.status, solution.message, reach_rows, conflicting, smallest, binding
    )
    return Diagnosis(
        status=solution.status,
        message=message,
        reach=pd.DataFrame(reach_rows),
        unreachable=pd.DataFrame(
            unreachable_rows, columns=["service", "demand", "people", "distance"]
        ),
        groups=pd.DataFrame(
            group_rows,
            columns=["group", "service", "required", "reachable_share", "threshold_for_share"],
        ),
        conflicting=conflicting,
        binding=binding,
        smallest_budget_one_off=smallest["budget_one_off"],
        smallest_budget_annual=smallest["budget_annual"],
        smallest_max_new_points=smallest["max_new_points"],
    )


def _smallest(
    bundle: BundleInstance,
    model: ServiceBundle,
    limit: str,
    backend: str | Backend,
    options: SolveOptions,
) -> float:
    """Minimise one resource (net one-off, net annual or new points) under every other rule."""
    free = model.with_params(**{limit: math.inf if limit != "max_new_points" else None})
    resolved = free.resolve(bundle)
    prepared = free.prepare(bundle)
    built = build_program(bundle, prepared, resolved, "cost")
    objective = np.zeros(built.program.n_cols)
    sites, modules, grants = built.sites, built.modules, built.grants
    if limit == "max_new_points":
        objective[sites.start : sites.start + sites.size] = resolved.site_kind == 0
    else:
        period = 0 if limit == "budget_one_off" else 1
        module_cost, site_cost = period_costs(bundle, resolved.site_kind)
        _, _, grant_period = grant_eligibility(bundle, resolved.site_kind)
        objective[modules.start : modules.start + modules.size] = module_cost[:, period]
        objective[sites.start : sites.start + sites.size] = site_cost[:, period]
        paid = (grant_period == period).astype(np.float64)
        objective[grants.start : grants.start + grants.size] = -paid
    program = LinearProgram(
        objective,
        built.program.constraints,
        built.program.row_lower,
        built.program.row_upper,
        built.program.col_lower,
        built.program.col_upper,
        built.program.integrality,
        "minimize",
        0.0,
    )
    result = get_backend(backend).solve(program, replace(options))
    if result.status is Status.OPTIMAL:
        return float(result.objective)
    if result.status is Status.FEASIBLE:
        return float(result.bound)  # a proven lower bound: no smaller limit can work
    return math.nan


def _summary(
    status: Status,
    message: str,
    reach: list[dict[str, Any]],
    conflicting: list[str],
    smallest: dict[str, float],
    binding: list[str],
) -> str:
    parts = [f"status {status.value}"]
    if status is Status.INFEASIBLE:
        parts.append(message)
    for row in reach:
        if math.isfinite(row["target"]) and row["reachable_share"] < row["target"]:
            parts.append(
                f"{row['service']}: at most {row['reachable_share']:.4%} reachable, target "
                f"{row['target']:.4%}; a threshold of {row['threshold_for_target']:.6g} would "
                "make it reachable"
            )
        elif row["unreachable_points"]:
            parts.append(
                f"{row['service']}: {row['unreachable_points']} demand points "
                f"({row['unreachable_people']:.6g} people) cannot be covered"
            )
    if conflicting:
        parts.append("feasible without: " + ", ".join(conflicting))
    for name, value in smallest.items():
        if math.isfinite(value):
            parts.append(f"smallest {name} meeting the other rules: {value:.6g}")
    if binding:
        parts.append("binding: " + ", ".join(binding))
    return "; ".join(parts)
