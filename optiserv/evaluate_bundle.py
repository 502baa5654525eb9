"""Independent evaluator of combined service point plans.

It recomputes, from a plan and the raw instance alone, every service's coverage and every cost,
and checks every rule of :class:`~optiserv.formulations.bundle.ServiceBundle`. It shares no code
with the model builder, the reductions, the heuristics or the geometry kernels: distances are
computed here with plain numpy (or read from the user's cost matrix), and each constraint is
applied from its definition. The only imports from optiserv are the input data types.

Definitions used (the model's documentation states the same):

* site j offers s in the plan ⇔ ``plan.offers[j, s]``; a site is a point ⇔ it offers anything;
* demand i is covered for s ⇔ min over offering sites of d_ij ≤ r_s; its graded coverage is 1
  there and (R_s − d) / (R_s − r_s) for r_s < d < R_s;
* a site *changes* ⇔ it offers some service it does not offer today (every new point does);
  ``max_changed_points`` bounds the number of changed sites;
* costs: every offered module that is not an existing offer; one new-point cost per point that
  is not an existing point; the keep-open subsidy of every at-risk site that stays; grants pay
  min(share × eligible cost, cap) per grant and period.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from optiserv.data.services import BundleInstance, BundlePlan
from optiserv.exceptions import DataError, ParameterError

__all__ = ["BundleEvaluation", "distance_to_sites", "evaluate_bundle"]

_EARTH_RADIUS_METRES = 6_371_008.8
_CHUNK = 4096
_RELATIVE = 1e-6


class _Model(Protocol):
    name: str

    def get_params(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class BundleEvaluation:
    """A plan's objective and feasibility, recomputed from scratch.

    Attributes
    ----------
    objective
        The model's objective: weighted graded coverage (``coverage``), net one-off +
        planning years × net annual cost (``cost``), the second stage (``lexicographic``).
    feasible
        True when every rule holds.
    violations
        One sentence per violated rule.
    full_coverage
        Σ_s ρ_s × people within r_s (the first lexicographic stage).
    coverage
        Per service: ``population``, ``covered``, ``share``, ``graded``.
    costs
        ``one_off_gross/grants/net``, ``annual_gross/grants/net``, ``objective_cost``.
    new_points
        Number of new service points.
    covered
        (S, n) bool: demand i covered for service s within r_s.
    """

    objective: float
    feasible: bool
    violations: list[str] = field(default_factory=list)
    full_coverage: float = 0.0
    coverage: dict[str, dict[str, float]] = field(default_factory=dict)
    costs: dict[str, float] = field(default_factory=dict)
    new_points: int = 0
    covered: NDArray[np.bool_] | None = None


def distance_to_sites(bundle: BundleInstance, sites: NDArray[np.int64]) -> NDArray[np.float64]:
    """(n, len(sites)) travel cost from every demand point to the given sites; inf when a user
    cost matrix has no entry for the pair."""
    instance = bundle.instance
    n = instance.n_demand
    sites = np.asarray(sites, dtype=np.int64)
    if instance.costs is not None:
        matrix = instance.costs
        out = np.full((n, sites.size), np.inf)
        column = np.full(instance.n_sites, -1, dtype=np.int64)
        column[sites] = np.arange(sites.size)
        per_row = np.diff(np.asarray(matrix.indptr, dtype=np.int64)).astype(np.int64)
        rows = np.repeat(np.arange(n), per_row)
        indices = np.asarray(matrix.indices, dtype=np.int64)
        hit = column[indices] >= 0
        out[rows[hit], column[indices[hit]]] = np.asarray(matrix.data)[hit]
        return out
    demand = np.asarray(instance.demand.coordinates, dtype=np.float64)
    target = np.asarray(instance.sites.coordinates, dtype=np.float64)[sites]
    out = np.empty((n, sites.size))
    for start in range(0, n, _CHUNK):
        block = demand[start : start + _CHUNK]
        if instance.metric == "haversine":
            lon1, lat1 = np.radians(block[:, :1]), np.radians(block[:, 1:2])
            lon2, lat2 = np.radians(target[:, 0]), np.radians(target[:, 1])
            h = (
                np.sin((lat2 - lat1) / 2) ** 2
                + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
            )
            out[start : start + _CHUNK] = (
                2 * _EARTH_RADIUS_METRES * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
            )
        else:
            dx = block[:, :1] - target[np.newaxis, :, 0]
            dy = block[:, 1:2] - target[np.newaxis, :, 1]
            out[start : start + _CHUNK] = np.sqrt(dx * dx + dy * dy)
    return out


def _nearest_distance(bundle: BundleInstance, sites: NDArray[np.int64]) -> NDArray[np.float64]:
    if sites.size == 0:
        return np.full(bundle.instance.n_demand, np.inf)
    out = np.full(bundle.instance.n_demand, np.inf)
    for start in range(0, sites.size, 512):
        out = np.minimum(out, distance_to_sites(bundle, sites[start : start + 512]).min(axis=1))
    return out


def evaluate_bundle(
    bundle: BundleInstance, plan: BundlePlan | Any, model: _Model
) -> BundleEvaluation:
    """Recompute ``plan``'s objective under ``model`` and check every rule.

    ``plan`` is a :class:`BundlePlan` or anything with a ``plan`` attribute (a solution).
    Raises DataError when the plan offers a module a site cannot host.
    """
    if not isinstance(plan, BundlePlan):
        plan = getattr(plan, "plan", None)
        if plan is None:
            raise ParameterError("evaluate_bundle: the solution has no plan")
    params = model.get_params()
    offers = np.asarray(plan.offers, dtype=bool)
    instance = bundle.instance
    m, n_services = instance.n_sites, bundle.n_services
    names = bundle.catalogue.names
    ids = instance.sites.ids.tolist()
    if offers.shape != (m, n_services):
        raise DataError(f"plan: offers must have shape ({m}, {n_services}), got {offers.shape}")
    hostable = np.zeros((m, n_services), dtype=bool)
    hostable[np.asarray(bundle.module_site), np.asarray(bundle.module_service)] = True
    existing = np.asarray(bundle.existing, dtype=bool)
    added = offers & ~existing
    bad = np.argwhere(added & ~hostable)
    if bad.size:
        j, s = bad[0]
        raise DataError(
            f"plan: site {ids[j]!r} cannot host module {names[s]!r}"
            + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else "")
        )
    violations: list[str] = []
    point: NDArray[np.bool_] = np.asarray(offers.any(axis=1), dtype=bool)
    existing_point = np.asarray(bundle.existing_point, dtype=bool)
    at_risk = np.asarray(bundle.at_risk, dtype=bool)
    status = np.asarray(instance.sites.status)
    for j in np.flatnonzero(existing_point & ~at_risk):
        if (existing[j] & ~offers[j]).any():
            violations.append(f"existing site {ids[j]!r} (not at risk) drops an existing offer")
    kept = at_risk & point
    for j in np.flatnonzero(kept):
        if (existing[j] & ~offers[j]).any():
            violations.append(f"at-risk site {ids[j]!r} stays but drops an existing offer")
    for j in np.flatnonzero(point & (status == 2)):
        violations.append(f"site {ids[j]!r} has status FORBIDDEN but offers services")
    new = point & ~existing_point

    # model rules on sites and modules
    for site_id in params.get("required_sites", ()):
        j = ids.index(site_id)
        if not point[j]:
            violations.append(f"required site {site_id!r} is not a service point")
    for site_id in params.get("forbidden_sites", ()):
        j = ids.index(site_id)
        if point[j]:
            violations.append(f"forbidden site {site_id!r} is a service point")
    for site_id, service in params.get("required_modules", ()):
        if not offers[ids.index(site_id), names.index(service)]:
            violations.append(f"required module {service!r} at site {site_id!r} is not offered")
    for site_id, service in params.get("forbidden_modules", ()):
        if added[ids.index(site_id), names.index(service)]:
            violations.append(f"forbidden module {service!r} at site {site_id!r} is offered")
    rules = [(tuple(names), int(params.get("min_services", 1)), None)]
    rules += [(tuple(r.services), int(r.at_least), r.at_most) for r in params.get("rules", ())]
    for services, at_least, at_most in rules:
        columns = [names.index(s) for s in services]
        hosted = np.asarray(offers[:, columns].sum(axis=1), dtype=np.int64)
        for j in np.flatnonzero(new & (hosted < at_least)):
            violations.append(
                f"new point {ids[j]!r} hosts {hosted[j]} of {services}, fewer than {at_least}"
            )
        if at_most is not None:
            for j in np.flatnonzero(new & (hosted > at_most)):
                violations.append(
                    f"new point {ids[j]!r} hosts {hosted[j]} of {services}, more than {at_most}"
                )
    max_new = params.get("max_new_points")
    if max_new is not None and new.sum() > max_new:
        violations.append(f"{int(new.sum())} new points, more than max_new_points = {max_new}")
    max_changed = params.get("max_changed_points")
    changed = np.asarray(added.any(axis=1), dtype=bool) | new
    if max_changed is not None and changed.sum() > max_changed:
        violations.append(
            f"{int(changed.sum())} sites change (ids "
            f"{', '.join(repr(ids[j]) for j in np.flatnonzero(changed)[:10])}), more than "
            f"max_changed_points = {max_changed}"
        )

    costs = _costs(bundle, offers, added, new, kept, float(params.get("planning_years", 10.0)))
    for label, key in (("budget_one_off", "one_off_net"), ("budget_annual", "annual_net")):
        budget = float(params.get(label, math.inf))
        if costs[key] > budget + _RELATIVE * max(1.0, abs(budget)):
            violations.append(
                f"net {key.split('_net')[0].replace('_', '-')} cost "
                f"{costs[key]:.6g} exceeds {label} = {budget:.6g}"
            )

    # coverage, from distances computed here
    weights = np.array([service.weight for service in bundle.catalogue])
    populations = np.asarray(bundle.populations, dtype=np.float64)
    covered = np.zeros((n_services, instance.n_demand), dtype=bool)
    coverage: dict[str, dict[str, float]] = {}
    graded_total = full_total = 0.0
    for s, service in enumerate(bundle.catalogue):
        nearest = _nearest_distance(bundle, np.flatnonzero(offers[:, s]))
        covered[s] = nearest <= service.threshold
        if service.fade_to is None:
            graded = covered[s].astype(np.float64)
        else:
            ramp = (service.fade_to - nearest) / (service.fade_to - service.threshold)
            graded = np.where(covered[s], 1.0, np.clip(np.nan_to_num(ramp, neginf=0.0), 0, 1))
        population = populations[s]
        coverage[service.name] = {
            "population": float(population.sum()),
            "covered": float(population[covered[s]].sum()),
            "share": float(population[covered[s]].sum() / population.sum())
            if population.sum() > 0
            else 1.0,
            "graded": float(population @ graded),
        }
        graded_total += weights[s] * coverage[service.name]["graded"]
        full_total += weights[s] * coverage[service.name]["covered"]
    violations += _share_violations(bundle, params, covered, populations, coverage)

    objective_name = params.get("objective", "coverage")
    if objective_name == "cost" or (
        objective_name == "lexicographic" and params.get("then", "cost") == "cost"
    ):
        objective = costs["objective_cost"]
    else:
        objective = graded_total
    return BundleEvaluation(
        objective=float(objective),
        feasible=not violations,
        violations=violations,
        full_coverage=float(full_total),
        coverage=coverage,
        costs=costs,
        new_points=int(new.sum()),
        covered=covered,
    )


def _costs(
    bundle: BundleInstance,
    offers: NDArray[np.bool_],
    added: NDArray[np.bool_],
    new: NDArray[np.bool_],
    kept: NDArray[np.bool_],
    years: float,
) -> dict[str, float]:
    module_of = {
        (int(j), int(s)): k
        for k, (j, s) in enumerate(zip(bundle.module_site, bundle.module_service, strict=True))
    }
    names = bundle.catalogue.names
    # (kind of cost, site, service or '' for points and subsidies, one-off, annual)
    items: list[tuple[str, int, str, float, float]] = []
    for j, s in np.argwhere(added):
        k = module_of[(int(j), int(s))]
        items.append(
            (
                "modules",
                int(j),
                names[s],
                float(bundle.module_one_off[k]),
                float(bundle.module_annual[k]),
            )
        )
    for j in np.flatnonzero(new):
        items.append(
            ("points", int(j), "", float(bundle.point_one_off[j]), float(bundle.point_annual[j]))
        )
    for j in np.flatnonzero(kept):
        items.append(("subsidies", int(j), "", 0.0, float(bundle.subsidy[j])))
    out: dict[str, float] = {}
    for position, period in enumerate(("one_off", "annual")):
        gross = sum(item[3] if position == 0 else item[4] for item in items)
        paid = 0.0
        for grant in bundle.grants:
            if grant.period != period:
                continue
            eligible = sum(
                item[3] if position == 0 else item[4]
                for item in items
                if item[0] in grant.covers
                and (item[0] != "modules" or grant.services is None or item[2] in grant.services)
            )
            paid += min(grant.share * eligible, grant.cap)
        out[f"{period}_gross"] = float(gross)
        out[f"{period}_grants"] = float(paid)
        out[f"{period}_net"] = float(gross - paid)
    out["objective_cost"] = out["one_off_net"] + years * out["annual_net"]
    return out


def _share_violations(
    bundle: BundleInstance,
    params: Mapping[str, Any],
    covered: NDArray[np.bool_],
    populations: NDArray[np.float64],
    coverage: dict[str, dict[str, float]],
) -> list[str]:
    names = bundle.catalogue.names
    out = []
    for service, share in (params.get("targets") or {}).items():
        got = coverage[service]["share"]
        if got < share - _RELATIVE:
            out.append(f"target for {service!r}: {got:.6%} covered, below {share:.6%}")
    group_share = params.get("min_group_share")
    if group_share is None or bundle.groups is None:
        return out
    labels = np.asarray(bundle.groups)
    for s, service in enumerate(names):
        share = group_share.get(service) if isinstance(group_share, Mapping) else group_share
        if share is None:
            continue
        for label in np.unique(labels):
            members = labels == label
            total = populations[s][members].sum()
            got = populations[s][members & covered[s]].sum()
            if total > 0 and got < share * total - _RELATIVE * max(1.0, total):
                out.append(
                    f"group {label!r}: {got / total:.4%} covered for {service!r}, below {share:.4%}"
                )
    return out
