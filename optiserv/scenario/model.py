"""The thin mapping layer from a validated scenario to optiserv's model objects.

Every call into the data model, the travel-cost module and :class:`ServiceBundle` is here, so a
change of their signatures touches this file only:

* :func:`build_inputs`: data tables → :class:`~optiserv.data.Instance` with travel costs
  (road network, or straight line × detour, labelled with its ``cost_source``);
* :func:`build_problem`: scenario rules, services, costs and grants →
  :class:`~optiserv.data.services.BundleInstance`, :class:`ServiceBundle` and solve options.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from optiserv.data import Instance
from optiserv.data.io import instance_from_frames
from optiserv.data.services import BundleInstance, BundleRule, Grant, Module, Service
from optiserv.exceptions import DataError
from optiserv.formulations.service_bundle import ServiceBundle
from optiserv.scenario.loader import LoadedScenario
from optiserv.scenario.schema import Scenario
from optiserv.scenario.sources import SourceTables, read_sources
from optiserv.solvers import SolveOptions

__all__ = ["Inputs", "Problem", "build_inputs", "build_problem", "inputs_key"]

POPULATION = "population"
"""Name of the default population group (the demand file's population column)."""


@dataclass(frozen=True, eq=False)
class Inputs:
    """Data and travel costs: what sweep points with the same data and travel share.

    Attributes
    ----------
    tables
        The data as read.
    instance
        Demand points (weights: ``population`` and the declared groups) and sites, with
        sparse travel costs d_ij in metres or seconds.
    cost_source
        ``"straight line × 1.3 detour"`` or ``"road network ..."``.
    cost_report
        What the travel-cost computation did (pairs, unreachable points, ...).
    scale
        Cost units per scenario unit: 1000 (metres per km) or 60 (seconds per minute).
    municipality
        (n,) municipality label of each demand point.
    """

    tables: SourceTables
    instance: Instance
    cost_source: str
    cost_report: dict[str, Any]
    scale: float
    municipality: NDArray[np.object_]


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything a solve needs.

    Attributes
    ----------
    inputs
        The shared data and costs.
    bundle
        The instance with services, offers (closed sites removed), modules, costs, grants.
    model
        The model with the scenario's objective, budgets and rules.
    options, backend
        Solve options and solver backend.
    today
        (m, S) existing offers before the what-if closures.
    closed
        Indices of the closed sites.
    registered
        (S,) False for services without a register.
    assumed_at
        (S,) for each service without a register, the services whose sites are assumed to
        offer it today (``assume_at``); empty when before-coverage is unknown.
    notes
        Plain-language notes about how the scenario was mapped (e.g. a grant cap that
        cannot bind).
    """

    inputs: Inputs
    bundle: BundleInstance
    model: ServiceBundle
    options: SolveOptions
    backend: str
    today: NDArray[np.bool_]
    closed: NDArray[np.int64]
    registered: NDArray[np.bool_]
    assumed_at: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...]

    def known_before(self, service: int) -> bool:
        """True when today's offers of ``service`` are known: a register, or an assumption."""
        return bool(self.registered[service]) or bool(self.assumed_at[service])


def inputs_key(scenario: Scenario) -> str:
    """Scenarios with equal keys share :class:`Inputs` (same data, travel and cutoff)."""
    thresholds = sorted(scenario.threshold(name) for name in scenario.services)
    parts = [scenario.data.model_dump(), scenario.travel.model_dump(), thresholds]
    parts.append(list(scenario.outputs.bands))
    return json.dumps(parts, sort_keys=True, default=str)


def _cutoff(scenario: Scenario) -> float:
    travel = scenario.travel
    given = travel.cutoff_km if travel.measure == "distance" else travel.cutoff_minutes
    if given is not None:
        return float(given)
    largest = max([scenario.threshold(name) for name in scenario.services] + scenario.outputs.bands)
    return 2.0 * largest


def _instance(scenario: Scenario, tables: SourceTables, name: str) -> Instance:
    demand = tables.demand
    weights = [POPULATION, *scenario.data.demand.columns.groups]
    frame = pd.DataFrame({"id": demand["id"], "x": demand["x"], "y": demand["y"]})
    frame[POPULATION] = demand["population"]
    for group in scenario.data.demand.columns.groups:
        frame[group] = demand[f"group:{group}"]
    sites = tables.sites[["id", "x", "y"]]
    try:
        return instance_from_frames(
            frame, sites, weights=weights, crs=tables.crs, name=name, metric="euclidean"
        )
    except DataError as error:
        text = str(error)
        for role in ("demand", "sites"):
            text = text.replace(f"{role} table", f"{role} file '{tables.files[role]}'")
        raise DataError(text) from None


def _municipality(scenario: Scenario, tables: SourceTables, name: str) -> NDArray[np.object_]:
    demand = tables.demand
    if "municipality" in demand:
        return demand["municipality"].astype(str).to_numpy(dtype=object)
    if tables.boundaries is not None and len(tables.boundaries):
        import geopandas

        points = geopandas.GeoDataFrame(
            geometry=geopandas.points_from_xy(demand["x"], demand["y"]), crs=tables.crs
        )
        joined = geopandas.sjoin(points, tables.boundaries, how="left", predicate="within")
        joined = joined[~joined.index.duplicated(keep="first")]
        labels = joined["name"].reindex(points.index)
        return labels.fillna("outside the borders").astype(str).to_numpy(dtype=object)
    return np.full(len(demand), name, dtype=object)


def build_inputs(loaded: LoadedScenario) -> Inputs:
    """Read the data and compute travel costs.

    Raises
    ------
    DataError
        Naming the file and column at fault.
    """
    from optiserv.geometry.network import file_network_costs, straight_line_costs

    scenario = loaded.scenario
    tables = read_sources(scenario.data)
    instance = _instance(scenario, tables, loaded.name)
    measure = scenario.travel.measure
    scale = 1000.0 if measure == "distance" else 60.0
    cutoff = _cutoff(scenario) * scale
    demand_xy = instance.demand.coordinates
    site_xy = instance.sites.coordinates
    network = scenario.data.network
    if network is None:
        result = straight_line_costs(
            demand_xy,
            site_xy,
            cutoff=cutoff,
            measure=measure,
            detour_factor=scenario.travel.detour_factor,
            speed=scenario.travel.speed_kmh,
        )
    else:
        result = file_network_costs(
            network.path,
            demand_xy,
            site_xy,
            cutoff=cutoff,
            measure=measure,
            points_crs=tables.crs,
            cache_dir=network.cache,
            expected_metric="euclidean",
        )
    return Inputs(
        tables=tables,
        instance=instance.replace(costs=result.costs),
        cost_source=result.cost_source,
        cost_report=result.report.to_dict(),
        scale=scale,
        municipality=_municipality(scenario, tables, loaded.name),
    )


class _Sites:
    """Site ids of the scenario (text or numbers) → site index."""

    def __init__(self, loaded: LoadedScenario, instance: Instance) -> None:
        self.loaded = loaded
        self.ids = instance.sites.ids
        self.index = {str(site): j for j, site in enumerate(self.ids.tolist())}

    def __call__(self, site: object, path: tuple[str | int, ...]) -> int:
        key = str(site).strip()
        if key not in self.index:
            raise self.loaded.error(
                path,
                f"site {site!r} is not in the sites file '{self.loaded.scenario.data.sites.path}'",
            )
        return self.index[key]


def _catalogue(scenario: Scenario, scale: float) -> list[Service]:
    module = scenario.costs.module
    return [
        Service(
            name,
            threshold=scenario.threshold(name) * scale,
            weight=spec.weight,
            population=None if spec.population in (None, POPULATION) else spec.population,
            extra_population=dict(spec.extra_population),
            module_one_off=module.one_off if spec.one_off_cost is None else spec.one_off_cost,
            module_annual=module.annual if spec.annual_cost is None else spec.annual_cost,
            label=spec.label,
        )
        for name, spec in scenario.services.items()
    ]


def _offers(loaded: LoadedScenario, inputs: Inputs, names: list[str]) -> NDArray[np.bool_]:
    m = inputs.instance.n_sites
    today = np.zeros((m, len(names)), dtype=bool)
    existing = inputs.tables.existing
    if existing is None:
        return today
    index = {str(site): j for j, site in enumerate(inputs.instance.sites.ids.tolist())}
    unknown = sorted({site for site in existing["site"] if site not in index})
    if unknown:
        raise DataError(
            f"existing file '{inputs.tables.files['existing']}': column "
            f"{loaded.scenario.data.existing.columns.site!r}: sites not in the sites file: "  # type: ignore[union-attr]
            f"{unknown[:5]}"
        )
    position = {name: s for s, name in enumerate(names)}
    for site, services in zip(existing["site"], existing["services"], strict=True):
        for service in services:
            if service in position:
                today[index[site], position[service]] = True
    for name, spec in loaded.scenario.services.items():
        if spec.assume_at:
            columns = [position[other] for other in spec.assume_at]
            today[:, position[name]] |= today[:, columns].any(axis=1)
    return today


def _grants(
    loaded: LoadedScenario, bundle_costs: dict[str, NDArray[np.float64]], names: list[str]
) -> tuple[list[Grant], list[str]]:
    grants, notes = [], []
    for g, spec in enumerate(loaded.scenario.grants):
        if spec.cap_per_point is not None:
            most = _largest_point_cost(spec, bundle_costs, names)
            if spec.share * most > spec.cap_per_point:
                raise loaded.error(
                    ("grants", g, "cap_per_point"),
                    f"a point can cost up to {most:,.0f} a {spec.period.replace('_', '-')} "
                    f"period, so this per-point cap ({spec.cap_per_point:,.0f}) could bind; the "
                    "model supports only a total cap per grant: give cap instead",
                )
            notes.append(
                f"grant {spec.name!r}: the cap of {spec.cap_per_point:,.0f} per point never "
                f"binds (a point costs at most {most:,.0f}, of which the grant pays "
                f"{spec.share:.0%})"
            )
        grants.append(
            Grant(
                spec.name,
                share=spec.share,
                cap=math.inf if spec.cap is None else spec.cap,
                period=spec.period,
                covers=tuple(spec.covers),
                services=None if spec.services is None else tuple(spec.services),
            )
        )
    return grants, notes


def _largest_point_cost(
    spec: Any, costs: dict[str, NDArray[np.float64]], names: list[str]
) -> float:
    """The most one site can cost in the grant's period under what the grant covers."""
    column = 0 if spec.period == "one_off" else 1
    modules = costs["modules"][:, :, column]  # (m, S)
    eligible = np.array([spec.services is None or name in spec.services for name in names])
    total = np.zeros(modules.shape[0])
    if "modules" in spec.covers:
        total += (modules * eligible).sum(axis=1)
    if "points" in spec.covers:
        total += costs["points"][:, column]
    if "subsidies" in spec.covers and column == 1:
        total += costs["subsidies"]
    return float(total.max()) if total.size else 0.0


def build_problem(loaded: LoadedScenario, inputs: Inputs) -> Problem:
    """The bundle instance, model and solve options of a scenario on its inputs.

    Raises
    ------
    ScenarioError
        A rule names a site or module that does not exist (with the line of the rule).
    DataError
        The data contradict the rules (e.g. an existing offer at an unknown site).
    """
    scenario = loaded.scenario
    rules = scenario.rules
    instance = inputs.instance
    site = _Sites(loaded, instance)
    catalogue = _catalogue(scenario, inputs.scale)
    names = [service.name for service in catalogue]
    today = _offers(loaded, inputs, names)
    closed = np.array(
        sorted({site(s, ("rules", "closed_sites", k)) for k, s in enumerate(rules.closed_sites)}),
        dtype=np.int64,
    )
    offers = today.copy()
    offers[closed] = False
    ids = instance.sites.ids.tolist()
    hostable = np.ones_like(offers)
    hostable[closed] = False
    hostable &= ~offers
    module_cost = np.zeros((instance.n_sites, len(names), 2))
    for s, service in enumerate(catalogue):
        module_cost[:, s] = (service.module_one_off, service.module_annual)
    module_cost[~hostable] = 0.0
    modules = [Module(ids[j], names[s]) for j, s in np.argwhere(hostable)]
    point = np.zeros((instance.n_sites, 2))
    point[:] = (scenario.costs.new_point.one_off, scenario.costs.new_point.annual)
    sites_table = inputs.tables.sites
    for column, position in (("one_off_cost", 0), ("annual_cost", 1)):
        if column in sites_table:
            values = pd.to_numeric(sites_table[column], errors="coerce").to_numpy(dtype=float)
            point[:, position] = np.where(np.isnan(values), point[:, position], values)
    existing_point = offers.any(axis=1)
    point[existing_point] = 0.0
    at_risk = {}
    subsidy = np.zeros(instance.n_sites)
    for key, amount in rules.at_risk.items():
        j = site(key, ("rules", "at_risk", key))
        if not existing_point[j]:
            raise loaded.error(
                ("rules", "at_risk", key),
                f"site {key!r} offers none of the services today, so it cannot be at risk",
            )
        at_risk[ids[j]] = amount
        subsidy[j] = amount
    grants, notes = _grants(
        loaded, {"modules": module_cost, "points": point, "subsidies": subsidy}, names
    )
    bundle = BundleInstance.build(
        instance,
        catalogue,
        offers={
            ids[j]: [names[s] for s in np.flatnonzero(offers[j])]
            for j in np.flatnonzero(existing_point)
        },
        modules=modules,
        point_costs={
            ids[j]: (point[j, 0], point[j, 1])
            for j in range(instance.n_sites)
            if not existing_point[j]
        },
        at_risk=at_risk,
        grants=grants,
        groups=inputs.municipality,
    )
    model = ServiceBundle(
        objective=scenario.model.objective,
        then=scenario.model.then,
        budget_one_off=math.inf if scenario.budgets.one_off is None else scenario.budgets.one_off,
        budget_annual=math.inf if scenario.budgets.annual is None else scenario.budgets.annual,
        max_new_points=rules.max_new_points,
        max_changed_points=rules.max_changed_points,
        min_services=rules.min_services,
        rules=[
            BundleRule(tuple(rule.services), at_least=rule.at_least, at_most=rule.at_most)
            for rule in rules.bundles
        ],
        required_sites=[
            ids[site(s, ("rules", "required_sites", k))] for k, s in enumerate(rules.required_sites)
        ],
        forbidden_sites=[
            ids[site(s, ("rules", "forbidden_sites", k))]
            for k, s in enumerate(rules.forbidden_sites)
        ],
        required_modules=[
            (ids[site(m.site, ("rules", "required_modules", k, "site"))], m.service)
            for k, m in enumerate(rules.required_modules)
        ],
        forbidden_modules=[
            (ids[site(m.site, ("rules", "forbidden_modules", k, "site"))], m.service)
            for k, m in enumerate(rules.forbidden_modules)
        ],
        targets=dict(rules.targets),
        min_group_share=rules.min_group_share,
        planning_years=scenario.model.planning_years,
        method=scenario.model.method,
        warm_start=scenario.model.warm_start,
    )
    solver = scenario.solver
    options = SolveOptions(
        time_limit=math.inf if solver.time_limit is None else solver.time_limit,
        relative_gap=solver.gap,
        threads=solver.threads,
        seed=solver.seed,
    )
    registered = np.array([scenario.services[name].has_register for name in names])
    assumed_at = tuple(tuple(scenario.services[name].assume_at) for name in names)
    return Problem(
        inputs=inputs,
        bundle=bundle,
        model=model,
        options=options,
        backend=solver.backend,
        today=today,
        closed=closed,
        registered=registered,
        assumed_at=assumed_at,
        notes=tuple(notes),
    )
