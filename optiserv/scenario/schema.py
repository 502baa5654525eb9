"""The scenario file schema, version 1: pydantic models that reject unknown keys.

A scenario names its data sources, services and thresholds, travel costs, costs, grants,
budgets and rules, the model and its objective, solver options and where outputs go. Every
model forbids keys it does not know and is strict about types (a number must be a number, not
text). Checks that need more than one key (a target that names a service, a threshold in the
unit of the travel measure) are in :func:`cross_check`, which returns each problem with its
key path.

Units: thresholds and bands are in kilometres for ``travel.measure: distance`` and in minutes
for ``time``; costs are in ``costs.currency`` (SEK by default), ``one_off`` paid once and
``annual`` every year; shares are fractions in [0, 1].
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from optiserv.scenario.errors import KeyPath

__all__ = [
    "SCHEMA_VERSION",
    "Budgets",
    "Costs",
    "Data",
    "GrantSpec",
    "ModelSpec",
    "Outputs",
    "Rules",
    "Scenario",
    "ServiceSpec",
    "SolverSpec",
    "Travel",
    "cross_check",
]

SCHEMA_VERSION = 1
"""The only scenario version this optiserv reads."""

NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
Share = Annotated[float, Field(ge=0, le=1)]
Text = Annotated[str, Field(min_length=1)]
SiteId = str | int
FileFormat = Literal["csv", "geojson", "gpkg", "parquet"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=False)


# ---------------------------------------------------------------------------------- data
class _Source(_Strict):
    path: Text
    """The file, relative to the scenario file that names it."""
    format: FileFormat | None = None
    """csv, geojson, gpkg or parquet; by default from the file's suffix."""
    layer: Text | None = None
    """The layer of a GeoPackage with several layers."""
    crs: Text | None = None
    """CRS of the coordinates (CSV: of the x, y columns; default data.crs). Geo files carry
    their own; when given here it must agree, or it is used for a file without one."""


class DemandColumns(_Strict):
    """Columns of the demand file (the defaults are the prepared Swedish files' names)."""

    id: Text = "id"
    x: Text = "x"
    y: Text = "y"
    population: Text = "weight"
    groups: dict[str, Text] = {}
    """Further population groups: group name → column (e.g. aged_70: weight_aged_70)."""
    municipality: Text | None = None
    name: Text | None = None


class DemandSource(_Source):
    columns: DemandColumns = DemandColumns()


class SiteColumns(_Strict):
    id: Text = "id"
    x: Text = "x"
    y: Text = "y"
    name: Text | None = None
    one_off_cost: Text | None = None
    """Optional per-site one-off cost of opening a new point (overrides costs.new_point)."""
    annual_cost: Text | None = None


class SiteSource(_Source):
    columns: SiteColumns = SiteColumns()


class ExistingColumns(_Strict):
    site: Text | None = "site_id"
    """The site (id in the sites file) of each existing point; null to match by x, y."""
    services: Text = "services"
    id: Text = "id"
    x: Text = "x"
    y: Text = "y"


class ExistingSource(_Source):
    columns: ExistingColumns = ExistingColumns()
    list_separator: Text = ";"
    """Separator of the services listed in one cell."""
    match_within_m: Positive = 200.0
    """Without a site column: an existing point joins the nearest site within this distance."""


class BoundaryColumns(_Strict):
    id: Text | None = None
    name: Text | None = None


class BoundarySource(_Source):
    columns: BoundaryColumns = BoundaryColumns()


class NetworkSource(_Strict):
    path: Text
    """Road network: OSM PBF, OSMnx GraphML or an edge table (CSV, GeoPackage)."""
    cache: Text | None = None
    """Folder for cost caches, relative to the scenario file."""


class Data(_Strict):
    crs: Text = "EPSG:3006"
    """Working CRS: projected, in metres (SWEREF99 TM by default)."""
    demand: DemandSource
    sites: SiteSource
    existing: ExistingSource | None = None
    boundaries: BoundarySource | None = None
    network: NetworkSource | None = None
    roads: _Source | None = None
    """Roads drawn on the map only (lines); travel costs use data.network."""


# ---------------------------------------------------------------------------------- services
class ServiceSpec(_Strict):
    """One service: threshold, label, weight, population group, register, module costs."""

    threshold_km: Positive | None = None
    threshold_minutes: Positive | None = None
    label: str = ""
    weight: NonNegative = 1.0
    population: Text | None = None
    """Population group counted (default: the demand's population column)."""
    extra_population: dict[str, NonNegative] = {}
    has_register: bool = Field(default=True, alias="register")
    """``register: false`` when no register of existing points exists (cash in Sweden):
    before-coverage is then unknown, not zero."""
    assume_at: list[Text] = []
    """With ``register: false``: assume the service is offered today at every site that offers
    any of these services (e.g. cash at grocery tills). Before-coverage is then an estimate,
    labelled as assumed in every output, and the plan counts those sites as existing offers."""
    one_off_cost: NonNegative | None = None
    annual_cost: NonNegative | None = None
    """Cost of hosting the service at a site (default: costs.module)."""


class Travel(_Strict):
    measure: Literal["distance", "time"] = "distance"
    detour_factor: Annotated[float, Field(ge=1)] = 1.3
    """Without a road network: road distance = straight line × detour factor."""
    speed_kmh: Positive = 60.0
    """Without a road network and measure time: average speed."""
    cutoff_km: Positive | None = None
    cutoff_minutes: Positive | None = None
    """Largest travel cost computed (default: twice the largest threshold or band)."""


class CostRate(_Strict):
    one_off: NonNegative = 0.0
    annual: NonNegative = 0.0


class Costs(_Strict):
    currency: Text = "SEK"
    module: CostRate = CostRate()
    """Default cost of one service commitment at a site (services may override)."""
    new_point: CostRate = CostRate()
    """Cost of making a site that offers nothing today a service point."""


class GrantSpec(_Strict):
    name: Text
    share: Share
    cap: NonNegative | None = None
    """Largest amount paid in total per period (null: no cap)."""
    cap_per_point: NonNegative | None = None
    """Largest amount paid per service point per period (null: no cap)."""
    period: Literal["one_off", "annual"] = "annual"
    covers: Annotated[list[Literal["modules", "points", "subsidies"]], Field(min_length=1)] = [
        "modules",
        "points",
    ]
    services: list[Text] | None = None


class Budgets(_Strict):
    one_off: NonNegative | None = None
    annual: NonNegative | None = None
    """Net of grants; null for no limit."""


class BundleRuleSpec(_Strict):
    services: Annotated[list[Text], Field(min_length=1)]
    at_least: Annotated[int, Field(ge=0)] = 0
    at_most: Annotated[int, Field(ge=0)] | None = None


class ModuleRef(_Strict):
    site: SiteId
    service: Text


class Rules(_Strict):
    min_services: Annotated[int, Field(ge=0)] = 1
    max_new_points: Annotated[int, Field(ge=0)] | None = None
    max_changed_points: Annotated[int, Field(ge=0)] | None = None
    """Sites whose offer changes: new points plus existing sites given a new module."""
    bundles: list[BundleRuleSpec] = []
    closed_sites: list[SiteId] = []
    """What-if closures: these sites offer nothing and cannot be chosen."""
    at_risk: dict[SiteId, NonNegative] = {}
    """Existing site → annual keep-open subsidy; the site closes unless the plan pays it."""
    required_sites: list[SiteId] = []
    forbidden_sites: list[SiteId] = []
    required_modules: list[ModuleRef] = []
    forbidden_modules: list[ModuleRef] = []
    targets: dict[str, Share] = {}
    """Service → minimum share of its population within the threshold."""
    min_group_share: Share | dict[str, Share] | None = None
    """Minimum covered share in every municipality (one share, or per service)."""


class ModelSpec(_Strict):
    objective: Literal["coverage", "cost", "lexicographic"] = "coverage"
    then: Literal["cost", "coverage"] = "cost"
    planning_years: NonNegative = 10.0
    method: Literal["exact", "heuristic"] = "exact"
    warm_start: bool = True


class SolverSpec(_Strict):
    backend: Text = "highs"
    time_limit: Positive | None = None
    """Seconds."""
    gap: Annotated[float, Field(ge=0, lt=1)] = 0.0
    threads: Annotated[int, Field(ge=1)] | None = None
    seed: int = 0


class Outputs(_Strict):
    folder: Text = "runs"
    """Where run folders go, relative to the scenario file."""
    bands: Annotated[list[Positive], Field(min_length=1)] = [5.0, 10.0, 20.0]
    """Upper edges of the distance bands (km, or minutes for measure time)."""
    report: bool = True
    closure_impact: bool = True


class Scenario(_Strict):
    """A whole scenario (``version: 1``)."""

    version: Literal[1]
    name: Text | None = None
    description: str = ""
    assumptions: list[Text] = []
    data: Data
    services: Annotated[dict[Text, ServiceSpec], Field(min_length=1)]
    travel: Travel = Travel()
    costs: Costs = Costs()
    grants: list[GrantSpec] = []
    budgets: Budgets = Budgets()
    rules: Rules = Rules()
    model: ModelSpec = ModelSpec()
    solver: SolverSpec = SolverSpec()
    outputs: Outputs = Outputs()
    sweep: dict[Text, Annotated[list[Any], Field(min_length=1)]] = {}
    """Parameter grid: key path (``budgets.annual``) → values; every combination is solved."""

    @property
    def unit(self) -> str:
        """``km`` or ``min``: the unit of thresholds and bands."""
        return "km" if self.travel.measure == "distance" else "min"

    def threshold(self, service: str) -> float:
        """The threshold of ``service`` in :attr:`unit`."""
        spec = self.services[service]
        value = spec.threshold_km if self.travel.measure == "distance" else spec.threshold_minutes
        return float(value or 0.0)


# ---------------------------------------------------------------------------------- checks
def _service_refs(scenario: Scenario) -> list[tuple[KeyPath, str]]:
    refs: list[tuple[KeyPath, str]] = []
    rules = scenario.rules
    refs += [(("rules", "targets", name), name) for name in rules.targets]
    if isinstance(rules.min_group_share, dict):
        refs += [(("rules", "min_group_share", name), name) for name in rules.min_group_share]
    for r, rule in enumerate(rules.bundles):
        refs += [(("rules", "bundles", r, "services", k), s) for k, s in enumerate(rule.services)]
    for key in ("required_modules", "forbidden_modules"):
        for k, module in enumerate(getattr(rules, key)):
            refs.append((("rules", key, k, "service"), module.service))
    for g, grant in enumerate(scenario.grants):
        refs += [(("grants", g, "services", k), s) for k, s in enumerate(grant.services or [])]
    return refs


def cross_check(scenario: Scenario) -> list[tuple[KeyPath, str]]:
    """Problems that involve more than one key, each with the key path to blame."""
    problems: list[tuple[KeyPath, str]] = []
    names = list(scenario.services)
    for path, name in _service_refs(scenario):
        if name not in scenario.services:
            problems.append((path, f"unknown service {name!r}; the services are {names}"))
    unit_key = "threshold_km" if scenario.travel.measure == "distance" else "threshold_minutes"
    other_key = "threshold_minutes" if unit_key == "threshold_km" else "threshold_km"
    groups = ["population", *scenario.data.demand.columns.groups]
    for name, spec in scenario.services.items():
        if getattr(spec, other_key) is not None:
            problems.append(
                (
                    ("services", name, other_key),
                    f"travel.measure is {scenario.travel.measure!r}, so give {unit_key} "
                    f"instead of {other_key}",
                )
            )
        elif getattr(spec, unit_key) is None:
            problems.append((("services", name), f"missing required key {unit_key!r}"))
        for k, other in enumerate(spec.assume_at):
            where: KeyPath = ("services", name, "assume_at", k)
            if spec.has_register:
                problems.append((where, "assume_at is for services with register: false"))
            elif other == name or other not in scenario.services:
                problems.append(
                    (where, f"expected another service of this scenario {names}, got {other!r}")
                )
            elif not scenario.services[other].has_register:
                problems.append((where, f"{other!r} has no register either: nothing to assume"))
        for key, group in (
            ("population", spec.population),
            *((k, k) for k in spec.extra_population),
        ):
            if group is not None and group not in groups:
                path: KeyPath = (
                    ("services", name, key)
                    if key == "population"
                    else ("services", name, "extra_population", key)
                )
                problems.append(
                    (
                        path,
                        f"unknown population group {group!r}; the groups are {groups} "
                        "(declare more under data.demand.columns.groups)",
                    )
                )
    bands = scenario.outputs.bands
    if any(b <= a for a, b in itertools.pairwise(bands)):
        problems.append((("outputs", "bands"), f"expected increasing band edges, got {bands}"))
    cutoff = "cutoff_km" if scenario.travel.measure == "distance" else "cutoff_minutes"
    other_cutoff = "cutoff_minutes" if cutoff == "cutoff_km" else "cutoff_km"
    if getattr(scenario.travel, other_cutoff) is not None:
        problems.append(
            (
                ("travel", other_cutoff),
                f"travel.measure is {scenario.travel.measure!r}: give {cutoff} instead",
            )
        )
    seen: set[str] = set()
    for g, grant in enumerate(scenario.grants):
        if grant.name in seen:
            problems.append((("grants", g, "name"), f"grant name {grant.name!r} is used twice"))
        seen.add(grant.name)
        if grant.period == "one_off" and "subsidies" in grant.covers:
            problems.append(
                (
                    ("grants", g, "covers"),
                    "keep-open subsidies are annual: a one_off grant cannot cover 'subsidies'",
                )
            )
    for r, rule in enumerate(scenario.rules.bundles):
        if rule.at_most is not None and rule.at_most < rule.at_least:
            problems.append((("rules", "bundles", r, "at_most"), "expected at_most ≥ at_least"))
    closed = {str(s) for s in scenario.rules.closed_sites}
    for k, site in enumerate(scenario.rules.required_sites):
        if str(site) in closed:
            problems.append(
                (("rules", "required_sites", k), f"site {site!r} is also in rules.closed_sites")
            )
    return problems
