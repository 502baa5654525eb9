"""Run the eleven "Service i samverkan" scenarios and write their findings.

    .venv/bin/python scenarios/findings.py            # writes service-i-samverkan/FINDINGS.md

Every number in ``FINDINGS.md`` comes from a run of this script: regenerate it whenever the model,
the data or a scenario changes; never edit it by hand. The scenarios run through the same
runner as ``optiserv run`` (:func:`optiserv.scenario.runner.run_scenario`).

Per municipality (the list is ``service-i-samverkan/batch.yaml``) the script

1. runs the scenario as written (``<municipality>.yaml``: ``rules.max_changed_points: 1``, one
   new point or one existing shop extended, every service weighing alike);
2. answers the municipality's own question, ONE local service solution, exactly: it solves the
   same scenario once per candidate site with every other site frozen as it is today
   (``rules.forbidden_modules`` / ``rules.forbidden_sites``; each solve picks that site's
   bundle), and recommends the site whose plan brings the most people within the thresholds
   of the services with a register. Services without one (cash; a register that is empty
   here) have no known coverage today, so they cannot choose the place: they break ties,
   then the lower net cost, then the site's order in ``sites.csv``. The scenario as written
   also changes one site only, but it ranks by every service alike, including those whose
   coverage today is unknown, which is why the candidates are solved one by one here;
3. reports the N-1 closure impact of the recommended plan: the existing sites that are the
   only provider of a service within its threshold for someone (single points of failure);
4. picks the largest rural shop by the rule of :func:`largest_rural_shop`, writes
   ``<municipality>-what-if-largest-rural-shop-closes.yaml`` (closing it) and runs it the same
   way: who loses what, and where the one point should go then.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from optiserv import __version__
from optiserv.scenario import LoadedScenario, load_scenario
from optiserv.scenario.runner import RunResult, run_scenario

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "service-i-samverkan"
BATCH = FOLDER / "batch.yaml"
FINDINGS = FOLDER / "FINDINGS.md"
WHAT_IF_SUFFIX = "-what-if-largest-rural-shop-closes"

URBAN_POPULATION = 3000
"""Localities with at least this many people (SCB 2020) count as urban in the what-if rule: the
classic Swedish rural classification (Glesbygdsverket, now Tillväxtanalys/Tillväxtverket)
measures glesbygd and tätortsnära landsbygd by car time to localities of 3,000 people or more."""

RURAL_SHOP_RULE = (
    "the grocery shop that is the nearest grocery, within the groceries threshold, for the most "
    "people living outside the urban localities. Urban: the municipality's largest locality and "
    f"every locality of at least {URBAN_POPULATION:,} people (SCB 2020). A site lies in the "
    "demand point nearest to it (straight line); sites in urban localities are not rural. One "
    "shop: grocery sites of the same chain or host name within 1 km of each other (the same "
    "shop listed by several parcel operators); a shop whose sites hold two chains (two shops "
    "within 200 m share a site) is skipped, since closing it would close both. Distances: the "
    "scenario's travel costs before the plan. Ties: the shop listed first in sites.csv"
)


# ---------------------------------------------------------------------------------- batch
def read_batch(path: Path = BATCH) -> list[Path]:
    """The scenario files a batch plan lists, as absolute paths (relative to the plan)."""
    plan = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(plan, dict) or not isinstance(plan.get("scenarios"), list):
        raise ValueError(f"{path}: expected a mapping with a 'scenarios' list")
    return [(Path(path).parent / str(entry)).resolve() for entry in plan["scenarios"]]


def what_if_path(scenario: Path) -> Path:
    """The what-if file of a municipality's scenario file."""
    return scenario.with_name(f"{scenario.stem}{WHAT_IF_SUFFIX}.yaml")


# ---------------------------------------------------------------------------------- sites
class SiteNames:
    """Readable names of the sites: the register names of an existing site (the shop that
    offers groceries first), else the site's own name and kind (locality, postal place)."""

    def __init__(self, loaded: LoadedScenario) -> None:
        data = loaded.scenario.data
        sites = pd.read_csv(data.sites.path, dtype=str)
        self.kind = dict(zip(sites["id"], sites["kind"], strict=True))
        self.name = dict(zip(sites["id"], sites["name"], strict=True))
        self.hosts: dict[str, list[str]] = {}
        self.chains: dict[str, set[str]] = {}
        """Site → the grocery chains (ICA, Coop, ...) among its register names."""
        self.grocers: dict[str, set[str]] = {}
        """Site → the register names of its grocery rows (case-folded)."""
        if data.existing is None:
            return
        existing = pd.read_csv(data.existing.path, dtype=str).fillna("")
        grocery = existing["services"].str.contains("groceries")
        ordered = pd.concat([existing[grocery], existing[~grocery]])
        for site, name, services in zip(
            ordered["site_id"], ordered["name"], ordered["services"], strict=True
        ):
            names = self.hosts.setdefault(site, [])
            if name.casefold() not in {n.casefold() for n in names}:
                names.append(name)
            if "groceries" in services:
                self.grocers.setdefault(site, set()).add(" ".join(name.casefold().split()))
                if chain(name) is not None:
                    self.chains.setdefault(site, set()).add(str(chain(name)))

    def __call__(self, site: str) -> str:
        site = str(site)
        if site in self.hosts:
            names = self.hosts[site]
            return " / ".join(names[:3]) + (" …" if len(names) > 3 else "")
        kind = {"locality": "locality", "postal_place": "postal place"}.get(
            self.kind.get(site, ""), "site"
        )
        return f"{self.name.get(site, site)} ({kind})"


_CHAINS = (
    ("ica", r"\bica"),
    ("coop", r"\bcoop\b|\bkonsum\b"),
    ("hemköp", r"\bhemköp\b"),
    ("willys", r"\bwillys\b"),
    ("lidl", r"\blidl\b"),
    ("tempo", r"\btempo\b"),
    ("matöppet", r"\bmat\s*öppet\b"),
    ("handlarn", r"\bhandlar"),
    ("direkten", r"\bdirekten\b"),
    ("östenssons", r"\böstenssons\b"),
)


def chain(name: str) -> str | None:
    """The grocery chain of a register name (ICA, Coop, ...), or None."""
    text = name.casefold()
    for label, pattern in _CHAINS:
        if re.search(pattern, text):
            return label
    return None


# ---------------------------------------------------------------------------------- the rule
SAME_SHOP_M = 1000.0
"""Grocery sites of the same chain (or host name) at most this far apart count as one shop: the
same shop is often listed by several parcel operators at points up to ~900 m apart (Coop in
Gunnarn, Storuman)."""


@dataclass(frozen=True)
class RuralShop:
    """The shop the what-if closes (one or more sites), and why."""

    site_ids: tuple[str, ...]
    name: str
    people: float
    places: tuple[str, ...]


def largest_rural_shop(result: RunResult) -> RuralShop | None:
    """The largest rural shop of a municipality's base run (the rule: :data:`RURAL_SHOP_RULE`).

    Returns None when no rural grocery site serves anyone.
    """
    problem = result.problem
    scenario = result.loaded.scenario
    groceries = list(problem.bundle.catalogue.names).index("groceries")
    raw = pd.read_csv(scenario.data.demand.path, dtype={"id": str}).set_index("id")
    demand = result.demand
    ids = demand["id"].astype(str)
    kind = raw.loc[ids, "kind"].to_numpy()
    locality = pd.to_numeric(raw.loc[ids, "locality_population"]).fillna(0).to_numpy()
    is_locality = kind == "locality"
    largest = locality[is_locality].max() if is_locality.any() else math.inf
    urban = is_locality & ((locality >= URBAN_POPULATION) | (locality >= largest))
    sites = problem.inputs.tables.sites
    site_ids = sites["id"].astype(str).tolist()
    site_xy = sites[["x", "y"]].to_numpy(dtype=float)
    demand_xy = demand[["x", "y"]].to_numpy(dtype=float)
    squared = ((site_xy[:, None, :] - demand_xy[None, :, :]) ** 2).sum(axis=2)
    rural = np.flatnonzero(problem.today[:, groceries] & ~urban[np.argmin(squared, axis=1)])
    names = SiteNames(result.loaded)
    # one shop: rural grocery sites within SAME_SHOP_M of the same chain or name (single link)
    shop = {int(j): int(j) for j in rural}

    def root(j: int) -> int:
        while shop[j] != j:
            j = shop[j]
        return j

    def same(a: str, b: str) -> bool:
        chains = names.chains.get(a, set()) & names.chains.get(b, set())
        return bool(chains or names.grocers.get(a, set()) & names.grocers.get(b, set()))

    for a in rural.tolist():
        for b in rural.tolist():
            near = math.dist(site_xy[a], site_xy[b]) <= SAME_SHOP_M
            if a < b and near and same(site_ids[a], site_ids[b]):
                shop[root(b)] = root(a)
    threshold = scenario.threshold("groceries")
    served = demand[f"groceries_before_{scenario.unit}"].to_numpy(dtype=float) <= threshold
    provider = demand["groceries_before_site"].astype(str).to_numpy()
    population = demand["population"].to_numpy(dtype=float)
    best: RuralShop | None = None
    for first in sorted({root(j) for j in shop}):
        members = [site_ids[j] for j in sorted(shop) if root(j) == first]
        chains = set().union(*(names.chains.get(site, set()) for site in members))
        if len(chains) > 1:
            continue  # the site holds shops of two chains: closing it closes more than one
        mine = served & ~urban & np.isin(provider, members)
        people = float(population[mine].sum())
        if people > 0 and (best is None or people > best.people):
            best = RuralShop(
                tuple(members),
                names(members[0]),
                people,
                tuple(demand["name"][mine].astype(str)),
            )
    return best


def what_if_text(scenario: Path, municipality: str, shop: RuralShop) -> str:
    """The what-if scenario file closing ``shop``."""
    sites = ", ".join(shop.site_ids)
    why = textwrap.wrap(
        f"Here: {shop.name} (site {sites}), the nearest grocery within the threshold for "
        f"{shop.people:,.0f} people ({', '.join(shop.places)}).",
        width=93,
    )
    about = textwrap.wrap(
        f"What if {shop.name}, the largest rural shop of {municipality}, closes: who loses "
        "which service, and where should the one new combined service point go then?",
        width=93,
    )
    return (
        f"# What if the largest rural shop of {municipality} closes? GENERATED by "
        "scenarios/findings.py:\n"
        "# do not edit; run `python scenarios/findings.py`. The shop is picked by the rule in\n"
        '# README.md ("What-if: the largest rural shop closes"): the grocery shop that is the\n'
        "# nearest grocery for the most people outside the urban localities.\n"
        + "".join(f"# {line}\n" for line in why)
        + "version: 1\n"
        f"extends: {scenario.name}\n"
        f"name: {municipality}, {shop.name} closes\n"
        "description: >-\n" + "".join(f"  {line}\n" for line in about) + "rules:\n"
        f"  closed_sites: [{sites}]\n"
    )


def write_what_if(scenario: Path, municipality: str, shop: RuralShop) -> Path:
    """Write the what-if file (only when its text changes); return its path."""
    path = what_if_path(scenario)
    text = what_if_text(scenario, municipality, shop)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------- one point
def single_point_overrides(result: RunResult, candidate: int) -> dict[str, Any]:
    """Key paths that freeze every site but ``candidate`` as it is today."""
    bundle = result.problem.bundle
    ids = bundle.instance.sites.ids.tolist()
    names = bundle.catalogue.names
    existing = bundle.existing_point
    module_site = np.asarray(bundle.module_site)
    module_service = np.asarray(bundle.module_service)
    modules = [
        {"site": str(ids[j]), "service": names[s]}
        for j, s in zip(module_site.tolist(), module_service.tolist(), strict=True)
        if j != candidate and existing[j]
    ]
    hosts = np.unique(module_site)
    sites = [str(ids[j]) for j in hosts.tolist() if j != candidate and not existing[j]]
    return {
        "rules.forbidden_modules": modules,
        "rules.forbidden_sites": sites,
        "model.warm_start": False,
    }


def _people_reached(result: RunResult, *, registered: bool) -> float:
    """Σ_s ρ_s × people within r_s after the plan, over the services with (or without) a
    register."""
    services = result.loaded.scenario.services
    return float(
        sum(
            services[name].weight * (values["population_after"] or 0.0)
            for name, values in result.summary["services"].items()
            if values["register"] is registered
        )
    )


@dataclass
class SinglePoint:
    """The best one-point plan, and how it was found."""

    result: RunResult
    candidates: int
    statuses: dict[str, int]
    worst_gap: float
    seconds: float


def best_single_point(
    base: RunResult, *, on_candidate: Callable[[int, int], None] | None = None
) -> SinglePoint:
    """Solve the scenario once per candidate site, every other site frozen; the best plan.

    Best: the most people within reach of the services with a register (Σ ρ_s × people),
    then of those without one, then the lower net annual and one-off cost, then the site
    listed first. The winner is solved again with the full analysis (closure impact,
    independent evaluator).
    """
    started = time.perf_counter()
    bundle = base.problem.bundle
    candidates = np.unique(np.asarray(bundle.module_site)).tolist()
    best: tuple[tuple[float, ...], int] | None = None
    statuses: dict[str, int] = {}
    worst_gap = 0.0
    for k, j in enumerate(candidates):
        if on_candidate is not None:
            on_candidate(k, len(candidates))
        variant = base.loaded.with_values(single_point_overrides(base, j))
        run = run_scenario(variant, inputs=base.problem.inputs, analyse=False)
        status = run.summary["status"]
        statuses[status] = statuses.get(status, 0) + 1
        gap = run.summary["gap"]
        worst_gap = max(worst_gap, math.inf if gap is None else float(gap))
        if run.solution.plan is None:
            continue
        net = run.summary["cost"]["net"]
        key = (
            _people_reached(run, registered=True),
            _people_reached(run, registered=False),
            -(net["annual"] or 0.0),
            -(net["one_off"] or 0.0),
            -k,
        )
        if best is None or key > best[0]:
            best = (key, j)
    if best is None:
        raise RuntimeError(f"{base.loaded.name}: no candidate site gave a plan")
    winner = base.loaded.with_values(single_point_overrides(base, best[1]))
    result = run_scenario(winner, inputs=base.problem.inputs)
    return SinglePoint(result, len(candidates), statuses, worst_gap, time.perf_counter() - started)


# ---------------------------------------------------------------------------------- results
@dataclass
class Findings:
    """Everything FINDINGS.md says about one municipality."""

    path: Path
    base: RunResult
    single: SinglePoint
    names: SiteNames
    shop: RuralShop | None = None
    what_if: RunResult | None = None
    what_if_single: SinglePoint | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def run_municipality(
    path: Path, *, write_what_ifs: bool = True, log: Callable[[str], None] = print
) -> Findings:
    """Run one municipality: the scenario, the one-point answer and the what-if."""
    clock = time.perf_counter()
    base = run_scenario(load_scenario(path))
    seconds = {"scenario": time.perf_counter() - clock}
    log(f"{base.loaded.name}: {base.summary['status']}; solving one point per candidate site")
    single = best_single_point(base)
    seconds["one point"] = single.seconds
    found = Findings(path, base, single, SiteNames(base.loaded), seconds=seconds)
    found.shop = largest_rural_shop(base)
    what_if = what_if_path(path)
    if found.shop is not None and write_what_ifs:
        write_what_if(path, base.loaded.name, found.shop)
    if found.shop is not None and what_if.is_file():
        clock = time.perf_counter()
        found.what_if = run_scenario(load_scenario(what_if))
        found.what_if_single = best_single_point(found.what_if)
        seconds["what-if"] = time.perf_counter() - clock
        log(f"{base.loaded.name}: what-if {found.shop.name} closes: done")
    return found


# ---------------------------------------------------------------------------------- FINDINGS.md
_MAX_PLACES = 8


def _n(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _gap(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "none"
    if value == 0:
        return "0"
    return f"{value:.1e}" if value < 1e-4 else f"{value:.2%}"


def _changed(result: RunResult) -> list[dict[str, Any]]:
    """The plan's points that are new or get new services."""
    return [p for p in result.summary["selected"] if p["status"] == "new" or p["new_services"]]


def _point(point: dict[str, Any], names: SiteNames) -> str:
    kind = "new point" if point["status"] == "new" else "existing site, extended"
    return f"{names(point['site_id'])} (`{point['site_id']}`, {kind})"


def _bundle(point: dict[str, Any]) -> str:
    added = ", ".join(point["new_services"]) or "nothing"
    return f"adds {added} (then offers {', '.join(point['services'])})"


def _gain(values: dict[str, Any]) -> str:
    if values["gain"] is None:
        return f"{_n(values['population_after'])} within reach (today unknown)"
    return f"+{_n(values['gain'])}"


def _gains(result: RunResult) -> str:
    return ", ".join(
        f"{service} {_gain(values)}" for service, values in result.summary["services"].items()
    )


def _places(items: list[str]) -> str:
    if not items:
        return "–"
    more = len(items) - _MAX_PLACES
    return ", ".join(items[:_MAX_PLACES]) + (f" and {more} more" if more > 0 else "")


def _gainers(result: RunResult, service: str) -> list[str]:
    """Demand points (people) within the threshold of ``service`` with the plan and not before
    (for a service without a register: every point within reach of the plan's providers)."""
    demand = result.demand
    scenario = result.loaded.scenario
    threshold = scenario.threshold(service)
    before = demand[f"{service}_before_{scenario.unit}"].to_numpy(dtype=float)
    after = demand[f"{service}_after_{scenario.unit}"].to_numpy(dtype=float)
    reached = np.nan_to_num(after, nan=math.inf) <= threshold
    had = np.nan_to_num(before, nan=math.inf) <= threshold
    rows = demand[reached & ~had]
    return [
        f"{name} {people:,.0f}"
        for name, people in zip(rows["name"], rows["population"], strict=True)
    ]


def _status(result: RunResult) -> str:
    summary = result.summary
    verified = summary.get("verification", {})
    check = "feasible" if verified.get("feasible") else "NOT verified"
    return f"{summary['status']}, gap {_gap(summary['gap'])}, independent evaluator: {check}"


def _cost(result: RunResult) -> str:
    cost = result.summary["cost"]
    once = f", {_n(cost['one_off'])} once" if cost["one_off"] else ""
    return f"{_n(cost['annual'])} SEK a year, {_n(cost['net']['annual'])} net of the grant{once}"


def _spof(result: RunResult, names: SiteNames) -> list[str]:
    """Existing sites that are the only provider within r_s of a service for someone."""
    closure = result.closure
    if closure is None or closure.empty:
        return []
    services = [c.split(":", 1)[1] for c in closure.columns if c.startswith("lost:")]
    rows = []
    spof = closure[closure["existing"] & closure["single_point_of_failure"]]
    for row in spof.to_dict("records"):
        lost = [f"{s} {row[f'lost:{s}']:,.0f}" for s in services if row[f"lost:{s}"] > 0]
        rows.append(f"{names(row['site'])} (`{row['site']}`): {', '.join(lost)}")
    return rows


def _demand_note(result: RunResult) -> str:
    """Where the people outside localities were placed (the demand's main weakness)."""
    raw = pd.read_csv(result.loaded.scenario.data.demand.path, dtype={"id": str})
    spread = pd.to_numeric(raw["spread_population"]).fillna(0)
    localities = int((raw["kind"] == "locality").sum())
    outside = float(spread.sum())
    postal = raw[raw["kind"] == "postal_place"]
    if len(postal):
        where = (
            "placed on "
            + ", ".join(
                f"{name} {people:,.0f}"
                for name, people in zip(postal["name"], postal["weight"], strict=True)
            )
            + " (postal places)"
        )
    else:
        where = "spread evenly over the localities (no usable postal place outside them)"
    return (
        f"Demand: {localities} localities (SCB 2020); the {outside:,.0f} people outside "
        f"them are {where}."
    )


def _caveats(result: RunResult) -> list[str]:
    """Registered services that no site offers today: their gain is an artefact upper bound."""
    problem = result.problem
    services = problem.bundle.catalogue.names
    missing = [
        services[s]
        for s in range(len(services))
        if problem.registered[s] and not problem.today[:, s].any()
    ]
    if not missing:
        return []
    return [
        f"Caveat: no site offers {' or '.join(missing)} in the registers used here (groceries "
        "and fuel are seen only where the shop hosts a parcel agent; the OpenStreetMap pharmacy "
        "extract holds about half of Sweden's pharmacies), so the gain for "
        f"{' and '.join(missing)} is an upper bound and may be an artefact of the data.",
        "",
    ]


def _coverage_table(plan: RunResult) -> list[str]:
    lines = [
        "| service | within | people today | with the point | gain | who gains (people) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for service, values in plan.summary["services"].items():
        before = values["population_before"]
        gain = "–" if values["gain"] is None else "+" + _n(values["gain"])
        lines.append(
            f"| {service} | {values['threshold']:g} {values['unit']} | "
            f"{'unknown' if before is None else _n(before)} | {_n(values['population_after'])} | "
            f"{gain} | {_places(_gainers(plan, service))} |"
        )
    return lines


def _single_status(single: SinglePoint) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(single.statuses.items()))
    return (
        f"{single.candidates} candidate sites solved ({counts}; largest gap "
        f"{_gap(single.worst_gap)}); the recommended plan: {_status(single.result)}"
    )


def _municipality_section(found: Findings) -> list[str]:
    base, single, names = found.base, found.single.result, found.names
    folder = Path(base.loaded.scenario.data.demand.path).parent.name
    lines = [
        f"## {base.loaded.name}",
        "",
        f"`{found.path.name}` (data `scenarios/data/{folder}`), "
        f"{_n(base.summary['population_total'])} people. {_demand_note(base)}",
        "",
    ]
    points = _changed(single)
    if points:
        lines.append(
            f"**Recommended point: {_point(points[0], names)}**, {_bundle(points[0])}; "
            f"{_cost(single)}."
        )
    else:
        lines.append("**No single point adds coverage** within the budget.")
    lines += ["", *_coverage_table(single), ""]
    lines += [f"Solver: {_single_status(found.single)}.", "", *_caveats(base)]
    spread = _changed(base)
    lines += [
        f"*The scenario as written* (`optiserv run {found.path.name}`; at most one site "
        f"changes, every service weighing alike, including those without a register; "
        f"{_status(base)}) changes "
        + ("; ".join(f"{_point(p, names)} {_bundle(p)}" for p in spread) if spread else "nothing")
        + f"; {_cost(base)}. People gained: {_gains(base)}.",
        "",
        "Single points of failure: existing sites that are, with the recommended point, the only "
        "provider of a service within its threshold for someone (N-1 closure impact; people "
        "who would lose it):",
        "",
    ]
    lines += [f"- {row}" for row in _spof(single, names)] or ["- none"]
    lines.append("")
    if found.shop is None or found.what_if is None or found.what_if_single is None:
        lines += ["What-if: no rural grocery shop serves anyone by the rule, so no what-if.", ""]
        return lines
    shop, what_if, again = found.shop, found.what_if, found.what_if_single.result
    closures = what_if.summary["closures"] or {"services": {}}
    lost = ", ".join(
        f"{service} −{_n(values['lost'])}"
        for service, values in closures["services"].items()
        if values is not None and values["lost"] > 0
    )
    sites = ", ".join(f"`{s}`" for s in shop.site_ids)
    lines.append(
        f"**What-if: {shop.name} ({sites}) closes** (`{what_if_path(found.path).name}`; the "
        f"nearest grocery for {_n(shop.people)} people: {_places(list(shop.places))}). "
        + (
            f"People losing access: {lost}."
            if lost
            else "Nobody loses a service within its threshold: another shop is near enough."
        )
    )
    then = _changed(again)
    if then:
        lines.append(
            f"The one point then goes to {_point(then[0], names)}, {_bundle(then[0])}; "
            f"{_cost(again)}; gained against the closure: {_gains(again)}. "
            f"Solver: {_single_status(found.what_if_single)}."
        )
    lines.append("")
    return lines


def _summary_table(found: list[Findings]) -> list[str]:
    services = list(found[0].base.summary["services"])
    lines = [
        "| municipality | recommended point | adds | "
        + " | ".join(f"+{s}" for s in services)
        + " | net SEK/year | solves: status, largest gap |",
        "|" + "---|" * 3 + "---:|" * (len(services) + 1) + "---|",
    ]
    for item in found:
        single = item.single.result
        points = _changed(single)
        point = points[0] if points else None
        where = "–"
        if point is not None:
            verb = "new point at" if point["status"] == "new" else "extend"
            where = f"{verb} {item.names(point['site_id'])}"
        gains = [
            _n(v["population_after"]) + "*" if v["gain"] is None else _n(v["gain"])
            for v in single.summary["services"].values()
        ]
        statuses = "/".join(sorted(item.single.statuses))
        lines.append(
            f"| {item.base.loaded.name} | {where} | "
            f"{', '.join(point['new_services']) if point else '–'} | "
            + " | ".join(gains)
            + f" | {_n(single.summary['cost']['net']['annual'])} | "
            f"{statuses}, {_gap(item.single.worst_gap)} |"
        )
    return lines


def _runs_table(found: list[Findings]) -> list[str]:
    lines = [
        "| scenario | status | gap | independent evaluator |",
        "|---|---|---:|---|",
    ]
    for item in found:
        for result in (item.base, item.what_if):
            if result is None:
                continue
            verified = result.summary.get("verification", {}).get("feasible")
            lines.append(
                f"| `{result.loaded.path.name}` | {result.summary['status']} | "
                f"{_gap(result.summary['gap'])} | {'feasible' if verified else 'NOT verified'} |"
            )
    return lines


def render(found: list[Findings], *, started: datetime, seconds: float) -> str:
    """The text of FINDINGS.md."""
    provenance = found[0].base.summary["provenance"]
    solver = provenance["solver"]
    scenario = found[0].base.loaded.scenario
    lines = [
        "# Service i samverkan: findings",
        "",
        "**Generated** by `scenarios/findings.py` from real runs; do not edit the numbers by "
        "hand. Regenerate with `python scenarios/findings.py` whenever the model changes (or the "
        "data, or a scenario).",
        "",
        f"- optiserv {__version__}, Python {provenance['python']}, solver {solver['backend']} "
        f"{solver['version']}; generated {started.strftime('%Y-%m-%d %H:%M')} UTC in "
        f"{seconds:,.0f} s.",
        "- Scenarios: the eleven of `batch.yaml`; shared settings in `common.yaml`; thresholds, "
        "costs and where each default comes from: `README.md`. **Costs are assumptions**: "
        f"{_n(scenario.costs.module.annual)} SEK a year per service commitment, a state grant "
        f"paying {scenario.grants[0].share:.0%} of it, a budget of "
        f"{_n(scenario.budgets.annual)} SEK a year net. Travel: straight line × "
        f"{scenario.travel.detour_factor:g}.",
        "- **Recommended point**: the municipality's ONE local service solution. The scenario is "
        "solved once per candidate site with every other site as it is today (each solve picks "
        "that site's bundle within the budget); the site whose plan brings the most people "
        "within the thresholds of the services *with a register* wins. Services without one "
        "(cash everywhere; pharmacy or fuel where the register is empty, see the scenario "
        "files) have no known coverage today, so they only break ties, then the lower cost, "
        "then the site listed first. Every solve is exact; statuses and gaps are given. The "
        "scenario as written (also one changed site, `rules.max_changed_points: 1`, but every "
        "service weighing alike) is reported under each municipality.",
        "- **Gain**: people newly within the threshold. Without a register today's coverage is "
        "unknown: `*` marks the people within reach of the plan's points for that service, not "
        "a gain.",
        f"- **What-if**: the largest rural shop closes. The rule: {RURAL_SHOP_RULE}.",
        "- **Registers are lower bounds**: groceries and fuel are seen only where the shop hosts "
        "a parcel agent, pharmacies only where OpenStreetMap has them (about half). A gain for "
        "fuel or pharmacy may be a station or pharmacy that exists but is not in the register.",
        "- **Demand** is SCB's localities plus the people outside them, spread over a few postal "
        "places or over the localities (`scenarios/data/README.md`). Where one postal place "
        "carries thousands of people (Skellefteå: Fällfors, 13,467) the recommendation follows "
        "that artefact; a population grid would be far better.",
        "",
        "## Summary",
        "",
        *_summary_table(found),
        "",
    ]
    for item in found:
        lines += _municipality_section(item)
    lines += [
        "## Runs",
        "",
        "Each scenario file as `optiserv run` solves it:",
        "",
        *_runs_table(found),
        "",
        "Data: SCB (CC0); GeoNames (geonames.org), CC BY 4.0; © OpenStreetMap contributors, "
        "ODbL 1.0; PTS survey of postal and parcel agents (c. 2021; reuse terms not stated, see "
        "`scenarios/data/README.md`).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--batch", type=Path, default=BATCH, help="the batch plan (scenarios)")
    parser.add_argument("--output", type=Path, default=FINDINGS, help="FINDINGS.md to write")
    parser.add_argument(
        "--no-what-ifs", action="store_true", help="run the what-if files as they are"
    )
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    found = [
        run_municipality(path, write_what_ifs=not args.no_what_ifs)
        for path in read_batch(args.batch)
    ]
    text = render(found, started=started, seconds=time.perf_counter() - clock)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({time.perf_counter() - clock:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
