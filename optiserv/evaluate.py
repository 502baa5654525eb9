"""Independent evaluator: recompute a plan's objective and check its feasibility from scratch.

This module shares no code with the model builders, the kernels or the reductions. It reads the
instance's raw arrays, computes the distances to the open sites with plain numpy, and applies
each model's definition directly. Every solver test compares the solver's objective with this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.optimize import linprog

from optiserv.data import Instance
from optiserv.exceptions import ParameterError

__all__ = ["Evaluation", "evaluate"]

_EARTH_RADIUS = 6_371_008.8
_CHUNK = 65_536


class _Model(Protocol):
    name: str

    def get_params(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Evaluation:
    """The objective of a plan as recomputed from the instance, and whether it is feasible.

    Attributes
    ----------
    objective
        The model's objective for this plan (nan when it cannot be computed).
    feasible
        True when the plan satisfies every constraint of the model.
    violations
        One sentence per violated constraint.
    covered_weight
        Weight of demand within reach of an open site (coverage models: within r).
    """

    objective: float
    feasible: bool
    violations: list[str] = field(default_factory=list)
    covered_weight: float = 0.0


def evaluate(
    instance: Instance,
    open_sites: ArrayLike,
    model: _Model,
    *,
    assignment: ArrayLike | None = None,
) -> Evaluation:
    """Recompute ``model``'s objective for the plan that opens ``open_sites`` (site indices).

    ``assignment`` (demand → site index) is needed only for single-sourcing capacitated
    facility location, where the allocation is part of the plan.
    """
    sites = np.unique(np.asarray(open_sites, dtype=np.int64))
    params = model.get_params()
    violations = _status_violations(instance, sites)
    distance = _distance_to(instance, sites)  # (n, |open|), inf where unreachable
    weight = np.asarray(instance.weight(), dtype=np.float64)
    name = model.name
    if name == "lscp":
        return _set_covering(instance, sites, distance, weight, params, violations)
    if name in ("mclp", "backup"):
        return _maximal_covering(name, sites, distance, weight, params, violations)
    if name in ("pmedian", "pcenter", "uflp"):
        return _median_center(instance, name, sites, distance, weight, params, violations)
    if name == "cflp":
        return _capacitated(instance, sites, distance, weight, params, violations, assignment)
    raise ParameterError(f"evaluate: unknown model {name!r}")


# ---------------------------------------------------------------------- distances
def _distance_to(instance: Instance, sites: NDArray[np.int64]) -> NDArray[np.float64]:
    n = instance.n_demand
    if instance.costs is not None:
        costs = instance.costs
        out = np.full((n, sites.size), np.inf)
        position = np.full(instance.n_sites, -1, dtype=np.int64)
        position[sites] = np.arange(sites.size)
        rows = np.repeat(np.arange(n), np.diff(costs.indptr))
        hit = position[costs.indices] >= 0
        out[rows[hit], position[costs.indices[hit]]] = costs.data[hit]
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
            out[start : start + _CHUNK] = 2 * _EARTH_RADIUS * np.arcsin(np.sqrt(np.minimum(h, 1)))
        else:
            delta = block[:, np.newaxis, :] - target[np.newaxis, :, :]
            out[start : start + _CHUNK] = np.sqrt((delta**2).sum(axis=2))
    return out


def _status_violations(instance: Instance, sites: NDArray[np.int64]) -> list[str]:
    violations = []
    if sites.size and (sites.min() < 0 or sites.max() >= instance.n_sites):
        raise ParameterError(f"evaluate: site index outside 0..{instance.n_sites - 1}")
    status = np.asarray(instance.sites.status)
    opened = np.zeros(instance.n_sites, dtype=bool)
    opened[sites] = True
    forbidden_open = np.flatnonzero(opened & (status == 2))
    fixed_closed = np.flatnonzero(~opened & (status == 1))
    if forbidden_open.size:
        violations.append(
            f"forbidden sites are open: {instance.sites.ids[forbidden_open].tolist()}"
        )
    if fixed_closed.size:
        violations.append(f"fixed sites are closed: {instance.sites.ids[fixed_closed].tolist()}")
    return violations


def _count_rule(params: dict[str, Any], sites: NDArray[np.int64], violations: list[str]) -> None:
    p = params.get("p")
    if p is not None and sites.size != int(p):
        violations.append(f"{sites.size} sites are open, the model requires p = {p}")


# ---------------------------------------------------------------------- models
def _set_covering(
    instance: Instance,
    sites: NDArray[np.int64],
    distance: NDArray[np.float64],
    weight: NDArray[np.float64],
    params: dict[str, Any],
    violations: list[str],
) -> Evaluation:
    radius = float(params["radius"])
    covered = (distance <= radius).any(axis=1) if sites.size else np.zeros(len(weight), bool)
    if not covered.all():
        missing = instance.demand.ids[~covered]
        violations.append(f"{missing.size} demand points are not covered: {missing[:5].tolist()}")
    cost = np.asarray(instance.sites.cost, dtype=np.float64)
    unit = cost if (cost > 0).any() else np.ones_like(cost)
    return Evaluation(
        objective=float(unit[sites].sum()),
        feasible=not violations,
        violations=violations,
        covered_weight=float(weight[covered].sum()),
    )


def _maximal_covering(
    name: str,
    sites: NDArray[np.int64],
    distance: NDArray[np.float64],
    weight: NDArray[np.float64],
    params: dict[str, Any],
    violations: list[str],
) -> Evaluation:
    _count_rule(params, sites, violations)
    count = (distance <= float(params["radius"])).sum(axis=1)
    covered_weight = float(weight[count >= 1].sum())
    objective = covered_weight
    if name == "backup":
        objective += float(weight[count >= 2].sum())
    return Evaluation(objective, not violations, violations, covered_weight)


def _median_center(
    instance: Instance,
    name: str,
    sites: NDArray[np.int64],
    distance: NDArray[np.float64],
    weight: NDArray[np.float64],
    params: dict[str, Any],
    violations: list[str],
) -> Evaluation:
    if name != "uflp":
        _count_rule(params, sites, violations)
    if sites.size == 0:
        violations.append("no site is open")
        return Evaluation(math.nan, False, violations, 0.0)
    nearest = distance.min(axis=1)
    reachable = np.isfinite(nearest)
    if not reachable.all():
        missing = instance.demand.ids[~reachable]
        violations.append(
            f"{missing.size} demand points reach no open site: {missing[:5].tolist()}"
        )
    covered_weight = float(weight[reachable].sum())
    if name == "pcenter":
        objective = float(nearest.max())
    else:
        objective = float((weight * nearest).sum()) if reachable.all() else math.inf
        if name == "uflp":
            objective += float(np.asarray(instance.sites.cost)[sites].sum())
    return Evaluation(objective, not violations, violations, covered_weight)


def _capacitated(
    instance: Instance,
    sites: NDArray[np.int64],
    distance: NDArray[np.float64],
    weight: NDArray[np.float64],
    params: dict[str, Any],
    violations: list[str],
    assignment: ArrayLike | None,
) -> Evaluation:
    capacity = np.asarray(instance.sites.capacity, dtype=np.float64)[sites]
    opening = float(np.asarray(instance.sites.cost)[sites].sum())
    if sites.size == 0:
        return Evaluation(math.nan, False, [*violations, "no site is open"], 0.0)
    if params.get("single_sourcing"):
        if assignment is None:
            raise ParameterError("evaluate: single-sourcing cflp needs the assignment")
        chosen = np.asarray(assignment, dtype=np.int64)
        position = np.full(instance.n_sites, -1, dtype=np.int64)
        position[sites] = np.arange(sites.size)
        column = position[chosen]
        if (column < 0).any():
            violations.append("some demand is assigned to a closed site")
            return Evaluation(math.nan, False, violations, 0.0)
        cost = distance[np.arange(len(weight)), column]
        if not np.isfinite(cost).all():
            violations.append("some demand is assigned to a site it cannot reach")
        load = np.bincount(column, weights=weight, minlength=sites.size)
        over = load > capacity * (1 + 1e-9) + 1e-9
        if over.any():
            violations.append(
                f"capacity exceeded at sites {instance.sites.ids[sites[over]].tolist()}"
            )
        objective = opening + float((weight * cost).sum())
        return Evaluation(objective, not violations, violations, float(weight.sum()))
    # splittable demand: the cheapest allocation of this set of sites is a transportation LP
    n, k = distance.shape
    reachable = np.isfinite(distance)
    rows, cols = np.nonzero(reachable)
    unit_cost = weight[rows] * distance[rows, cols]
    n_pairs = rows.size
    pairs = np.arange(n_pairs)
    demand_rows = sparse.csr_matrix((np.ones(n_pairs), (rows, pairs)), shape=(n, n_pairs))
    capacity_rows = sparse.csr_matrix((weight[rows], (cols, pairs)), shape=(k, n_pairs))
    finite_capacity = np.isfinite(capacity)
    result = linprog(
        unit_cost,
        A_ub=capacity_rows[finite_capacity] if finite_capacity.any() else None,
        b_ub=capacity[finite_capacity] if finite_capacity.any() else None,
        A_eq=demand_rows,
        b_eq=np.ones(n),
        bounds=(0, None),
        method="highs",
    )
    if result.status != 0:
        violations.append("the open sites cannot serve all demand within their capacities")
        return Evaluation(math.inf, False, violations, 0.0)
    return Evaluation(opening + float(result.fun), not violations, violations, float(weight.sum()))
