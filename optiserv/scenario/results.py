"""From a solved plan to the tables and the ``summary.json`` of a run.

Distances to the nearest provider of each service are taken from the instance's travel costs
(the same sparse d_ij the model used), before the plan (today's offers, what-if closures
applied) and after it. Shares and bands come from :mod:`optiserv.metrics`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from optiserv.coverage import nearest_open
from optiserv.data.services import BundleInstance
from optiserv.metrics import band_labels, coverage_by_label, service_coverage
from optiserv.scenario.model import POPULATION, Problem

__all__ = ["demand_table", "nearest_providers", "selected_table", "site_costs", "summarise"]


def nearest_providers(
    problem: Problem, offers: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """(n, S) nearest offering site (-1 if none reachable) and its travel cost (inf)."""
    costs = problem.inputs.instance.costs
    assert costs is not None
    n, n_services = problem.inputs.instance.n_demand, offers.shape[1]
    site = np.full((n, n_services), -1, dtype=np.int64)
    cost = np.full((n, n_services), np.inf)
    for s in range(n_services):
        site[:, s], cost[:, s] = nearest_open(costs, np.flatnonzero(offers[:, s]))
    return site, cost


def site_costs(bundle: BundleInstance, offers: NDArray[np.bool_]) -> pd.DataFrame:
    """Per site of the plan: gross one-off and annual cost, and the grants attributed to it.

    A grant pays min(share × eligible cost, cap) in total; each site is attributed that
    amount in proportion to its eligible cost, so the sites' grants add up to the total.
    """
    m, n_services = offers.shape
    names = bundle.catalogue.names
    added = offers & ~bundle.existing
    index = bundle.module_index
    one_off = np.zeros((m, n_services))
    annual = np.zeros((m, n_services))
    rows, cols = np.nonzero(added)
    one_off[rows, cols] = bundle.module_one_off[index[rows, cols]]
    annual[rows, cols] = bundle.module_annual[index[rows, cols]]
    point = offers.any(axis=1)
    new = point & ~bundle.existing_point
    kept = point & bundle.at_risk
    point_cost = np.where(
        new[:, None], np.column_stack([bundle.point_one_off, bundle.point_annual]), 0
    )
    subsidy = np.where(kept, bundle.subsidy, 0.0)
    grants = np.zeros((m, 2))
    for grant in bundle.grants:
        column = 0 if grant.period == "one_off" else 1
        modules = one_off if column == 0 else annual
        wanted = np.array([grant.services is None or name in grant.services for name in names])
        eligible = np.zeros(m)
        if "modules" in grant.covers:
            eligible += (modules * wanted).sum(axis=1)
        if "points" in grant.covers:
            eligible += point_cost[:, column]
        if "subsidies" in grant.covers and column == 1:
            eligible += subsidy
        total = eligible.sum()
        if total > 0:
            grants[:, column] += min(grant.share * total, grant.cap) * eligible / total
    return pd.DataFrame(
        {
            "one_off_cost": one_off.sum(axis=1) + point_cost[:, 0],
            "annual_cost": annual.sum(axis=1) + point_cost[:, 1] + subsidy,
            "grants_one_off": grants[:, 0],
            "grants_annual": grants[:, 1],
        }
    )


def _names(problem: Problem) -> list[str]:
    sites = problem.inputs.tables.sites
    if "name" in sites:
        return sites["name"].fillna("").astype(str).tolist()
    return [""] * len(sites)


def selected_table(problem: Problem, offers: NDArray[np.bool_] | None) -> pd.DataFrame:
    """One row per service point of the plan: status, services, costs and grants."""
    columns = [
        "site_id",
        "name",
        "status",
        "services",
        "new_services",
        "existing_services",
        "one_off_cost",
        "annual_cost",
        "grants_one_off",
        "grants_annual",
        "x",
        "y",
    ]
    if offers is None:
        return pd.DataFrame(columns=columns)
    bundle = problem.bundle
    names = bundle.catalogue.names
    costs = site_costs(bundle, offers)
    ids = bundle.instance.sites.ids.tolist()
    labels = _names(problem)
    xy = bundle.instance.sites.coordinates
    rows = []
    for j in np.flatnonzero(offers.any(axis=1)):
        added = offers[j] & ~bundle.existing[j]
        if not bundle.existing_point[j]:
            status = "new"
        elif bundle.at_risk[j]:
            status = "kept (subsidised)"
        elif added.any():
            status = "existing, extended"
        else:
            status = "existing"
        rows.append(
            {
                "site_id": ids[j],
                "name": labels[j],
                "status": status,
                "services": ";".join(names[s] for s in np.flatnonzero(offers[j])),
                "new_services": ";".join(names[s] for s in np.flatnonzero(added)),
                "existing_services": ";".join(names[s] for s in np.flatnonzero(bundle.existing[j])),
                **{key: float(costs.at[j, key]) for key in costs.columns},
                "x": float(xy[j, 0]),
                "y": float(xy[j, 1]),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def demand_table(
    problem: Problem,
    before: tuple[NDArray[np.int64], NDArray[np.float64]],
    after: tuple[NDArray[np.int64], NDArray[np.float64]] | None,
    assignment: NDArray[np.int64] | None,
    edges: list[float],
    unit: str,
) -> pd.DataFrame:
    """One row per demand point: distance and band to each service before and after, and
    the site serving it (unknown before-values and values beyond the cutoff are empty)."""
    inputs = problem.inputs
    instance = inputs.instance
    ids = instance.sites.ids.astype(object)
    frame = pd.DataFrame({"id": instance.demand.ids, "x": instance.demand.coordinates[:, 0]})
    frame["y"] = instance.demand.coordinates[:, 1]
    demand = inputs.tables.demand
    frame["name"] = demand["name"].astype(str).to_numpy() if "name" in demand else ""
    frame["municipality"] = inputs.municipality
    for group, values in instance.demand.weights.items():
        frame[group] = values
    for s, service in enumerate(problem.bundle.catalogue.names):
        for state, pair in (("before", before), ("after", after)):
            known = pair is not None and (state == "after" or problem.known_before(s))
            if not known:
                frame[f"{service}_{state}_{unit}"] = np.nan
                frame[f"{service}_{state}_band"] = None
                frame[f"{service}_{state}_site"] = None
                continue
            site, cost = pair
            value = cost[:, s] / problem.inputs.scale
            frame[f"{service}_{state}_{unit}"] = np.where(np.isfinite(value), value, np.nan)
            labels = band_labels(edges, unit)
            frame[f"{service}_{state}_band"] = [
                labels[k] for k in np.searchsorted(np.asarray(edges), value, side="left")
            ]
            frame[f"{service}_{state}_site"] = np.where(site[:, s] >= 0, ids[site[:, s]], None)
    frame["served_by"] = (
        None
        if assignment is None
        else np.where(assignment >= 0, ids[np.maximum(assignment, 0)], None)
    )
    return frame


def _coverage(
    problem: Problem,
    before: NDArray[np.float64],
    after: NDArray[np.float64] | None,
    edges: list[float],
    unit: str,
) -> dict[str, Any]:
    bundle = problem.bundle
    scale = problem.inputs.scale
    labels = band_labels(edges, unit)
    scaled_before, scaled_after = before / scale, None if after is None else after / scale
    services, municipalities, groups = {}, {}, {}
    weights = bundle.instance.demand.weights
    for s, service in enumerate(bundle.catalogue):
        threshold = service.threshold / scale
        known_before = scaled_before[:, s] if problem.known_before(s) else None
        known_after = None if scaled_after is None else scaled_after[:, s]
        row = service_coverage(
            bundle.populations[s], threshold, edges, labels, known_before, known_after
        )
        row.update(
            label=service.label,
            threshold=threshold,
            unit=unit,
            register=bool(problem.registered[s]),
            assumed_at=list(problem.assumed_at[s]),
        )
        services[service.name] = row
        per_label = coverage_by_label(
            problem.inputs.municipality,
            bundle.populations[s],
            threshold,
            edges,
            labels,
            known_before,
            known_after,
        )
        for label, values in per_label.items():
            municipalities.setdefault(label, {})[service.name] = values
        for group, values in weights.items():
            groups.setdefault(group, {})[service.name] = service_coverage(
                values, threshold, edges, labels, known_before, known_after
            )
    population = bundle.instance.weight(POPULATION)
    municipality = np.asarray(problem.inputs.municipality).astype(str)
    return {
        "services": services,
        "municipalities": {
            label: {
                "population_total": float(population[municipality == label].sum()),
                "services": values,
            }
            for label, values in municipalities.items()
        },
        "groups": {
            group: {"population_total": float(weights[group].sum()), "services": values}
            for group, values in groups.items()
        },
    }


def _closures(problem: Problem, before: NDArray[np.float64]) -> dict[str, Any] | None:
    if problem.closed.size == 0:
        return None
    _, today = nearest_providers(problem, problem.today)
    bundle = problem.bundle
    tables = problem.inputs.tables
    names = _names(problem)
    out: dict[str, Any] = {"sites": [], "services": {}}
    for j in problem.closed.tolist():
        out["sites"].append(
            {
                "site_id": bundle.instance.sites.ids[j],
                "name": names[j],
                "services": [bundle.catalogue.names[s] for s in np.flatnonzero(problem.today[j])],
                "x": float(tables.sites["x"].iloc[j]),
                "y": float(tables.sites["y"].iloc[j]),
            }
        )
    for s, service in enumerate(bundle.catalogue):
        if not problem.known_before(s):
            out["services"][service.name] = None
            continue
        people = bundle.populations[s]
        had = float(people[today[:, s] <= service.threshold].sum())
        has = float(people[before[:, s] <= service.threshold].sum())
        out["services"][service.name] = {
            "population_today": had,
            "population_before": has,
            "lost": had - has,
        }
    return out


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def summarise(
    problem: Problem,
    solution: Any,
    before: NDArray[np.float64],
    after: NDArray[np.float64] | None,
    selected: pd.DataFrame,
    edges: list[float],
    unit: str,
    currency: str,
) -> dict[str, Any]:
    """The ``summary.json`` of a run, without timings and provenance (the runner adds them)."""
    bundle = problem.bundle
    costs = solution.costs
    budgets = problem.model
    summary: dict[str, Any] = {
        "status": solution.status.value.lower(),
        "objective": _number(solution.objective),
        "bound": _number(solution.bound),
        "gap": _number(solution.gap),
        "message": solution.message,
        "objective_kind": problem.model.objective,
        "method": solution.method,
        "population_total": float(bundle.instance.weight(POPULATION).sum()),
        "cost_source": problem.inputs.cost_source,
        "bands": {"unit": unit, "edges": list(edges), "labels": band_labels(edges, unit)},
    }
    summary.update(_coverage(problem, before, after, edges, unit))
    summary["selected"] = [
        {
            "site_id": row.site_id,
            "name": row.name,
            "status": row.status,
            "services": [s for s in row.services.split(";") if s],
            "new_services": [s for s in row.new_services.split(";") if s],
            "one_off_cost": float(row.one_off_cost),
            "annual_cost": float(row.annual_cost),
            "grants_one_off": float(row.grants_one_off),
            "grants_annual": float(row.grants_annual),
        }
        for row in selected.itertuples(index=False)
    ]
    ids = bundle.instance.sites.ids
    summary["new_points"] = [ids[j] for j in solution.new_points.tolist()]
    summary["kept_sites"] = [ids[j] for j in solution.kept_sites.tolist()]
    summary["closed_at_risk"] = [ids[j] for j in solution.closed_sites.tolist()]
    summary["cost"] = {
        "currency": currency,
        "one_off": costs.get("one_off_gross"),
        "annual": costs.get("annual_gross"),
        "grants": {"one_off": costs.get("one_off_grants"), "annual": costs.get("annual_grants")},
        "net": {"one_off": costs.get("one_off_net"), "annual": costs.get("annual_net")},
        "budget": {
            "one_off": _number(budgets.budget_one_off),
            "annual": _number(budgets.budget_annual),
        },
        "planning_years": problem.model.planning_years,
    }
    summary["closures"] = _closures(problem, before)
    return summary
