"""Services, modules, grants and existing offers: the data of the combined service point model.

A *combined service point* is a site j (a village shop, a fuel pump, a community hall) that
offers one or more services s (groceries, fuel, parcels, pharmacy agent, cash). This module
holds what is known before any plan is made, validated once:

* :class:`Service` and :class:`ServiceCatalogue`: what each service is, its coverage threshold
  r_s (in the instance's cost unit: metres, or seconds of travel when travel times are given),
  its weight in the objective and the population group it counts.
* :class:`Module`: a service that a site *can* host, with its one-off and annual cost.
* :class:`Grant`: a subsidy that pays a share of some costs, up to a cap.
* :class:`BundleInstance`: an :class:`~optiserv.data.Instance` plus all of the above as
  immutable arrays, including the services each existing site offers today and which existing
  sites are at risk of closing.
* :class:`BundleRule`: a composition rule for new points ("at least one of these five").
* :class:`BundlePlan`: a plan, i.e. which site offers which service.

Every error is a :class:`~optiserv.exceptions.DataError` that names the service, site, module
or grant at fault. Costs are in one currency (SEK unless the user says otherwise): one-off
costs are paid once, annual costs every year.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from optiserv.data.instance import Instance, SiteStatus
from optiserv.exceptions import DataError, format_examples

__all__ = [
    "BundleInstance",
    "BundlePlan",
    "BundleRule",
    "Grant",
    "Module",
    "Service",
    "ServiceCatalogue",
]

GrantPeriod = Literal["one_off", "annual"]
CostKind = Literal["modules", "points", "subsidies"]
_COST_KINDS: tuple[str, ...] = ("modules", "points", "subsidies")


def _frozen(values: ArrayLike, dtype: type | np.dtype) -> NDArray:
    out = np.array(values, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


def _finite_non_negative(value: float, what: str) -> float:
    number = float(value)
    if math.isnan(number) or number < 0:
        raise DataError(f"{what} must be a non-negative number, got {value!r}")
    return number


# ---------------------------------------------------------------------------------- services
@dataclass(frozen=True)
class Service:
    """One service type s.

    Parameters
    ----------
    name
        Short unique name used everywhere else (``"cash"``, ``"pharmacy"``).
    threshold
        Coverage threshold r_s in the instance's cost unit (metres, or seconds of travel).
        Demand point i is covered for s by site j ⇔ d_ij ≤ r_s and j offers s.
    weight
        Weight of this service's covered population in the coverage objective (≥ 0).
    population
        The demand weight column (population group) this service counts; ``None`` is the
        instance's default column.
    extra_population
        Further weight columns added with a factor, counted only when the column exists in the
        instance, e.g. ``{"aged_70": 1.0}`` counts people aged 70+ twice for the pharmacy.
    fade_to
        Optional R_s > r_s for gradual coverage: full within r_s, falling linearly to zero at
        R_s. Targets and equity constraints count full coverage (d_ij ≤ r_s) only.
    module_one_off, module_annual
        Default one-off and annual cost of hosting this service at a new site, used for
        modules whose own cost is not given.
    label
        A human-readable name (e.g. the Swedish ``"apoteksombud"``).
    """

    name: str
    threshold: float
    weight: float = 1.0
    population: str | None = None
    extra_population: Mapping[str, float] = field(default_factory=dict)
    fade_to: float | None = None
    module_one_off: float = 0.0
    module_annual: float = 0.0
    label: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise DataError(f"service: the name must be a non-empty string, got {self.name!r}")
        where = f"service {self.name!r}"
        threshold = float(self.threshold)
        if not (math.isfinite(threshold) and threshold > 0):
            raise DataError(
                f"{where}: threshold must be a positive finite number, got {self.threshold!r}"
            )
        object.__setattr__(self, "threshold", threshold)
        weight = float(self.weight)
        if not (math.isfinite(weight) and weight >= 0):
            raise DataError(f"{where}: weight must be a non-negative number, got {self.weight!r}")
        object.__setattr__(self, "weight", weight)
        if self.fade_to is not None:
            fade = float(self.fade_to)
            if not (math.isfinite(fade) and fade > threshold):
                raise DataError(
                    f"{where}: fade_to (R_s = {self.fade_to!r}) must be finite and larger than "
                    f"the threshold r_s = {threshold:g}"
                )
            object.__setattr__(self, "fade_to", fade)
        extra = {}
        for group, factor in dict(self.extra_population).items():
            value = float(factor)
            if not (math.isfinite(value) and value >= 0):
                raise DataError(
                    f"{where}: extra_population factor for {group!r} must be a "
                    f"non-negative number, got {factor!r}"
                )
            extra[str(group)] = value
        object.__setattr__(self, "extra_population", extra)
        for name in ("module_one_off", "module_annual"):
            value = getattr(self, name)
            number = float(value)
            if not (math.isfinite(number) and number >= 0):
                raise DataError(f"{where}: {name} must be a non-negative cost, got {value!r}")
            object.__setattr__(self, name, number)

    @property
    def outer_threshold(self) -> float:
        """R_s for gradual coverage, or r_s when coverage is all-or-nothing."""
        return self.threshold if self.fade_to is None else float(self.fade_to)


@dataclass(frozen=True)
class ServiceCatalogue:
    """The ordered list of services S; position in the list is the service index s.

    Parameters
    ----------
    services
        The services, with unique names.
    """

    services: tuple[Service, ...]

    def __post_init__(self) -> None:
        services = tuple(self.services)
        if not services:
            raise DataError("service catalogue: at least one service is needed")
        for service in services:
            if not isinstance(service, Service):
                raise DataError(f"service catalogue: expected Service objects, got {service!r}")
        names = [s.name for s in services]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DataError(f"service catalogue: duplicate services {format_examples(duplicates)}")
        object.__setattr__(self, "services", services)

    @classmethod
    def default(cls) -> ServiceCatalogue:
        """The five services of a Swedish combined service point, with thresholds in metres.

        groceries (dagligvaror) 10 km, fuel (drivmedel) 15 km, parcels (paketombud) 10 km,
        pharmacy (apoteksombud) 20 km counting people aged 70+ twice when an ``aged_70``
        column exists, cash (betaltjänster) 25 km. The planner is expected to set these.
        """
        return cls(
            (
                Service("groceries", 10_000.0, label="dagligvaror"),
                Service("fuel", 15_000.0, label="drivmedel"),
                Service("parcels", 10_000.0, label="paket- och postombud"),
                Service(
                    "pharmacy", 20_000.0, extra_population={"aged_70": 1.0}, label="apoteksombud"
                ),
                Service("cash", 25_000.0, label="betaltjänster"),
            )
        )

    def __len__(self) -> int:
        return len(self.services)

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services)

    @property
    def names(self) -> tuple[str, ...]:
        """Service names in index order."""
        return tuple(s.name for s in self.services)

    def index(self, name: str, *, context: str = "") -> int:
        """The index s of a service name; a DataError names the missing service."""
        try:
            return self.names.index(name)
        except ValueError:
            where = f"{context}: " if context else ""
            raise DataError(
                f"{where}service {name!r} is not in the catalogue ({', '.join(self.names)})"
            ) from None

    def __getitem__(self, name: str) -> Service:
        return self.services[self.index(name)]

    @property
    def thresholds(self) -> NDArray[np.float64]:
        """r_s per service."""
        return np.array([s.threshold for s in self.services])


# ---------------------------------------------------------------------------------- modules, grants
@dataclass(frozen=True)
class Module:
    """A service that a site can host, with its costs.

    Parameters
    ----------
    site
        The site's id (as in the instance).
    service
        The service's name.
    one_off, annual
        Cost of adding this service at this site; ``None`` takes the service's default.
    """

    site: object
    service: str
    one_off: float | None = None
    annual: float | None = None


@dataclass(frozen=True)
class Grant:
    """A grant that pays ``share`` of the eligible costs, at most ``cap`` per period.

    Parameters
    ----------
    name
        A name for messages and reports.
    share
        Fraction of the eligible cost the grant pays, in [0, 1].
    cap
        Largest amount paid (currency; per year for annual grants). ``inf`` for no cap.
    period
        ``"one_off"`` grants offset one-off costs, ``"annual"`` grants offset annual costs.
    covers
        Which costs are eligible: ``"modules"`` (service modules), ``"points"`` (opening a new
        point), ``"subsidies"`` (keep-open subsidies of at-risk sites; annual only).
    services
        When given, only modules of these services are eligible.
    """

    name: str
    share: float
    cap: float = math.inf
    period: GrantPeriod = "one_off"
    covers: tuple[CostKind, ...] = ("modules", "points")
    services: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        where = f"grant {self.name!r}"
        share = float(self.share)
        if not (0.0 <= share <= 1.0):
            raise DataError(f"{where}: share must be in [0, 1], got {self.share!r}")
        object.__setattr__(self, "share", share)
        cap = float(self.cap)
        if math.isnan(cap) or cap < 0:
            raise DataError(f"{where}: cap must be non-negative (inf for none), got {self.cap!r}")
        object.__setattr__(self, "cap", cap)
        if self.period not in ("one_off", "annual"):
            raise DataError(f"{where}: period must be 'one_off' or 'annual', got {self.period!r}")
        covers = tuple(self.covers)
        unknown = [c for c in covers if c not in _COST_KINDS]
        if unknown or not covers:
            raise DataError(
                f"{where}: covers must be a non-empty subset of {_COST_KINDS}, got {self.covers!r}"
            )
        object.__setattr__(self, "covers", covers)
        if self.services is not None:
            object.__setattr__(self, "services", tuple(str(s) for s in self.services))


@dataclass(frozen=True)
class BundleRule:
    """A composition rule for every *new* point: it hosts between ``at_least`` and ``at_most``
    of ``services``.

    ``BundleRule(("groceries", "fuel", "parcels", "pharmacy", "cash"), at_least=1)`` is "at
    least one of these five". Existing sites are not subject to rules.
    """

    services: tuple[str, ...]
    at_least: int = 0
    at_most: int | None = None

    def __post_init__(self) -> None:
        services = tuple(str(s) for s in self.services)
        if not services:
            raise DataError("bundle rule: it must name at least one service")
        object.__setattr__(self, "services", services)
        if int(self.at_least) != self.at_least or self.at_least < 0:
            raise DataError(f"bundle rule on {services}: at_least must be a non-negative integer")
        if self.at_most is not None and (
            int(self.at_most) != self.at_most or self.at_most < self.at_least
        ):
            raise DataError(f"bundle rule on {services}: at_most must be an integer ≥ at_least")
        if self.at_least > len(services):
            raise DataError(
                f"bundle rule on {services}: at_least = {self.at_least} exceeds the "
                f"{len(services)} services it names"
            )


# ---------------------------------------------------------------------------------- instance
@dataclass(frozen=True, eq=False)
class BundleInstance:
    """An instance with services: build it with :meth:`build`, which validates everything once.

    Attributes
    ----------
    instance
        Demand points, sites and travel costs.
    catalogue
        The services S.
    existing
        (m, S) bool: site j offers service s today.
    existing_point
        (m,) bool: site j is an existing service point (it offers something today, or has
        status FIXED in the instance). Existing points pay no opening cost.
    at_risk
        (m,) bool: an existing point that closes unless the plan pays its keep-open subsidy.
    subsidy
        (m,) annual keep-open subsidy of at-risk sites (0 elsewhere).
    module_site, module_service, module_one_off, module_annual
        (K,) the modules: site index, service index, one-off and annual cost, sorted by site
        then service. At most one module per (site, service), never where s is offered today.
    point_one_off, point_annual
        (m,) cost of making a non-existing site a new point (one-off: the instance's site
        cost unless given; annual: 0 unless given).
    grants
        The grants.
    groups
        (n,) group label per demand point (municipality, …) for equity constraints, or None.
    populations
        (S, n) the demand weight each service counts: its population column plus extras.
    skipped_extra
        Per service, the extra population columns that were asked for but are absent.
    """

    instance: Instance
    catalogue: ServiceCatalogue
    existing: NDArray[np.bool_]
    existing_point: NDArray[np.bool_]
    at_risk: NDArray[np.bool_]
    subsidy: NDArray[np.float64]
    module_site: NDArray[np.int64]
    module_service: NDArray[np.int64]
    module_one_off: NDArray[np.float64]
    module_annual: NDArray[np.float64]
    point_one_off: NDArray[np.float64]
    point_annual: NDArray[np.float64]
    grants: tuple[Grant, ...]
    groups: NDArray | None
    populations: NDArray[np.float64]
    skipped_extra: Mapping[str, tuple[str, ...]]

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(
        cls,
        instance: Instance,
        catalogue: ServiceCatalogue | Sequence[Service] | None = None,
        *,
        offers: Mapping[object, Iterable[str]] | None = None,
        modules: Iterable[Module] | Mapping[object, Iterable[str]] | None = None,
        point_costs: Mapping[object, tuple[float, float]] | None = None,
        at_risk: Mapping[object, float] | None = None,
        grants: Sequence[Grant] = (),
        groups: ArrayLike | None = None,
    ) -> BundleInstance:
        """Validate and build.

        Parameters
        ----------
        instance
            The demand points and sites.
        catalogue
            The services (default: :meth:`ServiceCatalogue.default`).
        offers
            Existing offers: site id → the services it offers today.
        modules
            What sites can host: :class:`Module` entries, or site id → service names (costs
            from the services' defaults).
        point_costs
            site id → (one-off, annual) cost of opening a new point there. Sites not listed
            use the instance's opening cost as one-off cost and 0 as annual cost.
        at_risk
            Existing site id → annual keep-open subsidy. Such a site stays open only if the
            plan pays it.
        grants
            Grants offsetting costs.
        groups
            (n,) label per demand point (e.g. municipality code) for equity constraints.
        """
        if catalogue is None:
            catalogue = ServiceCatalogue.default()
        elif not isinstance(catalogue, ServiceCatalogue):
            catalogue = ServiceCatalogue(tuple(catalogue))
        m, n_services = instance.n_sites, len(catalogue)
        position = {site_id: j for j, site_id in enumerate(instance.sites.ids.tolist())}

        def site(site_id: object, what: str) -> int:
            key = site_id.item() if isinstance(site_id, np.generic) else site_id
            if key not in position:
                raise DataError(f"{what}: site {site_id!r} is not in the instance")
            return position[key]

        existing = np.zeros((m, n_services), dtype=bool)
        for site_id, services in (offers or {}).items():
            j = site(site_id, "offers")
            names = [services] if isinstance(services, str) else list(services)
            for name in names:
                existing[j, catalogue.index(name, context=f"offers at site {site_id!r}")] = True
        forbidden = instance.sites.forbidden
        bad = np.flatnonzero(existing.any(axis=1) & forbidden)
        if bad.size:
            raise DataError(
                "offers: sites with status FORBIDDEN cannot offer services today: ids "
                f"{format_examples(instance.sites.ids[bad].tolist())}"
            )
        existing_point = existing.any(axis=1) | (instance.sites.status == SiteStatus.FIXED)

        risk = np.zeros(m, dtype=bool)
        subsidy = np.zeros(m)
        for site_id, amount in (at_risk or {}).items():
            j = site(site_id, "at_risk")
            if not existing_point[j]:
                raise DataError(
                    f"at_risk: site {site_id!r} is not an existing service point, so it cannot "
                    "be at risk of closing"
                )
            risk[j] = True
            subsidy[j] = _finite_non_negative(amount, f"at_risk: subsidy of site {site_id!r}")
            if not math.isfinite(subsidy[j]):
                raise DataError(f"at_risk: subsidy of site {site_id!r} must be finite")

        entries = cls._module_entries(modules, catalogue)
        module_rows: dict[tuple[int, int], tuple[float, float]] = {}
        for entry in entries:
            j = site(entry.site, "modules")
            s = catalogue.index(entry.service, context=f"module at site {entry.site!r}")
            where = f"module {entry.service!r} at site {entry.site!r}"
            if (j, s) in module_rows:
                raise DataError(f"{where} is listed more than once")
            if existing[j, s]:
                raise DataError(f"{where}: the site already offers {entry.service!r} today")
            service = catalogue.services[s]
            one_off = service.module_one_off if entry.one_off is None else entry.one_off
            annual = service.module_annual if entry.annual is None else entry.annual
            one_off = _finite_non_negative(one_off, f"{where}: one-off cost")
            annual = _finite_non_negative(annual, f"{where}: annual cost")
            if not (math.isfinite(one_off) and math.isfinite(annual)):
                raise DataError(f"{where}: costs must be finite")
            module_rows[(j, s)] = (one_off, annual)
        keys = sorted(module_rows)
        module_site = np.array([k[0] for k in keys], dtype=np.int64)
        module_service = np.array([k[1] for k in keys], dtype=np.int64)
        module_one_off = np.array([module_rows[k][0] for k in keys], dtype=np.float64)
        module_annual = np.array([module_rows[k][1] for k in keys], dtype=np.float64)

        point_one_off = np.array(instance.sites.cost, dtype=np.float64)
        point_annual = np.zeros(m)
        for site_id, costs in (point_costs or {}).items():
            j = site(site_id, "point_costs")
            try:
                one_off, annual = costs
            except (TypeError, ValueError):
                raise DataError(
                    f"point_costs: site {site_id!r} needs a pair (one-off, annual), got {costs!r}"
                ) from None
            point_one_off[j] = _finite_non_negative(one_off, f"point_costs: one-off at {site_id!r}")
            point_annual[j] = _finite_non_negative(annual, f"point_costs: annual at {site_id!r}")
            if not (math.isfinite(point_one_off[j]) and math.isfinite(point_annual[j])):
                raise DataError(f"point_costs: costs at site {site_id!r} must be finite")
        point_one_off[existing_point] = 0.0
        point_annual[existing_point] = 0.0

        grants = tuple(grants)
        cls._check_grants(grants, catalogue)
        labels = cls._groups(groups, instance.n_demand)
        populations, skipped = cls._populations(instance, catalogue)
        return cls(
            instance=instance,
            catalogue=catalogue,
            existing=_frozen(existing, bool),
            existing_point=_frozen(existing_point, bool),
            at_risk=_frozen(risk, bool),
            subsidy=_frozen(subsidy, np.float64),
            module_site=_frozen(module_site, np.int64),
            module_service=_frozen(module_service, np.int64),
            module_one_off=_frozen(module_one_off, np.float64),
            module_annual=_frozen(module_annual, np.float64),
            point_one_off=_frozen(point_one_off, np.float64),
            point_annual=_frozen(point_annual, np.float64),
            grants=grants,
            groups=labels,
            populations=_frozen(populations, np.float64),
            skipped_extra=skipped,
        )

    @staticmethod
    def _module_entries(
        modules: Iterable[Module] | Mapping[object, Iterable[str]] | None,
        catalogue: ServiceCatalogue,
    ) -> list[Module]:
        if modules is None:
            return []
        if isinstance(modules, Mapping):
            entries: list[Module] = []
            for site_id, services in modules.items():
                names = [services] if isinstance(services, str) else list(services)
                entries.extend(Module(site_id, str(name)) for name in names)
            return entries
        entries = list(modules)
        for entry in entries:
            if not isinstance(entry, Module):
                raise DataError(f"modules: expected Module entries, got {entry!r}")
        return entries

    @staticmethod
    def _check_grants(grants: tuple[Grant, ...], catalogue: ServiceCatalogue) -> None:
        names = [g.name for g in grants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DataError(f"grants: duplicate names {format_examples(duplicates)}")
        for grant in grants:
            if not isinstance(grant, Grant):
                raise DataError(f"grants: expected Grant objects, got {grant!r}")
            for name in grant.services or ():
                catalogue.index(name, context=f"grant {grant.name!r}")
            if grant.period == "one_off" and "subsidies" in grant.covers:
                raise DataError(
                    f"grant {grant.name!r}: keep-open subsidies are annual, so a one-off grant "
                    "cannot cover them"
                )
        # The shares of the grants that can pay the same cost must not exceed 100 %.
        for period in ("one_off", "annual"):
            for kind in _COST_KINDS:
                for s, name in enumerate(catalogue.names):
                    if kind != "modules" and s > 0:
                        break
                    paying = [
                        g
                        for g in grants
                        if g.period == period
                        and kind in g.covers
                        and (kind != "modules" or g.services is None or name in g.services)
                    ]
                    total = sum(g.share for g in paying)
                    if total > 1.0 + 1e-12:
                        what = f"{kind} of {name!r}" if kind == "modules" else kind
                        raise DataError(
                            f"grants {format_examples([g.name for g in paying])}: together pay "
                            f"{total:.0%} of the {period.replace('_', '-')} cost of {what}; the "
                            "shares of grants on the same cost must not exceed 100 %"
                        )

    @staticmethod
    def _groups(groups: ArrayLike | None, n: int) -> NDArray | None:
        if groups is None:
            return None
        labels = np.asarray(groups)
        if labels.shape != (n,):
            raise DataError(
                f"groups: expected one label per demand point ({n},), got {labels.shape}"
            )
        if labels.dtype.kind not in "iub":
            labels = labels.astype(str).astype(object)
        return _frozen(labels, labels.dtype)

    @staticmethod
    def _populations(
        instance: Instance, catalogue: ServiceCatalogue
    ) -> tuple[NDArray[np.float64], dict[str, tuple[str, ...]]]:
        out = np.zeros((len(catalogue), instance.n_demand))
        skipped: dict[str, tuple[str, ...]] = {}
        for s, service in enumerate(catalogue):
            if service.population is not None and service.population not in instance.demand.weights:
                raise DataError(
                    f"service {service.name!r}: population column {service.population!r} is not "
                    f"in the demand weights ({', '.join(instance.demand.weight_names)})"
                )
            out[s] = instance.weight(service.population)
            missing = []
            for group, factor in service.extra_population.items():
                if group in instance.demand.weights:
                    out[s] = out[s] + factor * instance.demand.weights[group]
                else:
                    missing.append(group)
            if missing:
                skipped[service.name] = tuple(missing)
        return out, skipped

    # ------------------------------------------------------------------ views
    @property
    def n_services(self) -> int:
        """|S|."""
        return len(self.catalogue)

    @property
    def n_modules(self) -> int:
        """K, the number of (site, service) modules that can be added."""
        return int(self.module_site.size)

    @property
    def module_index(self) -> NDArray[np.int64]:
        """(m, S) module index k of (site j, service s), or -1 where j cannot host s."""
        out = np.full((self.instance.n_sites, self.n_services), -1, dtype=np.int64)
        out[self.module_site, self.module_service] = np.arange(self.n_modules)
        return out

    def site_index(self, site_id: object, *, context: str = "") -> int:
        """The index j of a site id; a DataError names an unknown site."""
        ids = self.instance.sites.ids
        key = site_id.item() if isinstance(site_id, np.generic) else site_id
        hits = (
            np.flatnonzero(ids == key)
            if ids.dtype != object
            else np.flatnonzero(np.array([v == key for v in ids.tolist()], dtype=bool))
        )
        if hits.size != 1:
            where = f"{context}: " if context else ""
            raise DataError(f"{where}site {site_id!r} is not in the instance")
        return int(hits[0])

    def module_of(self, site_id: object, service: str, *, context: str = "") -> int:
        """The module index k of (site id, service name); a DataError if the site cannot host it."""
        j = self.site_index(site_id, context=context)
        s = self.catalogue.index(service, context=context)
        k = int(self.module_index[j, s])
        if k < 0:
            where = f"{context}: " if context else ""
            if self.existing[j, s]:
                raise DataError(
                    f"{where}site {site_id!r} already offers {service!r} today; it "
                    "is not a module that can be added"
                )
            raise DataError(f"{where}site {site_id!r} cannot host module {service!r}")
        return k

    def empty_plan(self) -> BundlePlan:
        """The plan that keeps every existing offer (at-risk sites included) and adds nothing."""
        return BundlePlan(self.existing.copy())


@dataclass(frozen=True, eq=False)
class BundlePlan:
    """A plan: which site offers which service.

    Attributes
    ----------
    offers
        (m, S) bool: site j offers service s in the plan (existing offers that stay
        included). A site is a service point in the plan when it offers anything. An at-risk
        existing site that offers anything is kept (and its subsidy paid); it must then keep
        all its existing offers.
    """

    offers: NDArray[np.bool_]

    def __post_init__(self) -> None:
        offers = np.array(self.offers, dtype=bool, copy=True)
        if offers.ndim != 2:
            raise DataError(f"plan: offers must be a (sites, services) matrix, got {offers.shape}")
        offers.flags.writeable = False
        object.__setattr__(self, "offers", offers)

    @classmethod
    def from_ids(cls, bundle: BundleInstance, offers: Mapping[object, Iterable[str]]) -> BundlePlan:
        """Build from site id → service names (existing offers must be listed to stay)."""
        matrix = np.zeros((bundle.instance.n_sites, bundle.n_services), dtype=bool)
        for site_id, services in offers.items():
            j = bundle.site_index(site_id, context="plan")
            names = [services] if isinstance(services, str) else list(services)
            for name in names:
                matrix[j, bundle.catalogue.index(name, context=f"plan at site {site_id!r}")] = True
        return cls(matrix)

    @property
    def open_sites(self) -> NDArray[np.int64]:
        """Sites that offer at least one service, sorted."""
        return np.flatnonzero(self.offers.any(axis=1)).astype(np.int64)

    def to_ids(self, bundle: BundleInstance) -> dict[object, list[str]]:
        """site id → offered service names, for open sites."""
        names = bundle.catalogue.names
        ids = bundle.instance.sites.ids.tolist()
        return {ids[j]: [names[s] for s in np.flatnonzero(self.offers[j])] for j in self.open_sites}
