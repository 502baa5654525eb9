"""Run the whole preparation: raw shared files in, compact per-municipality inputs out.

The output folder gets, per municipality, ``<code>_<slug>/demand.csv``, ``sites.csv``,
``existing.csv`` and ``boundary.geojson`` (EPSG:3006), and at the top a ``README.md`` and a
``manifest.json`` with the SHA-256 of every raw input and output file, the rules, the
population year used and the counts. The same raw files and rules give byte-identical
output: rows are sorted, numbers formatted explicitly and nothing depends on the clock.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from optiserv.datasets.sweden.demand import (
    DemandResult,
    PopulationChoice,
    build_demand,
    choose_population,
    classify_postal_places,
    report_uncoded_postal_places,
)
from optiserv.datasets.sweden.existing import (
    EXISTING_COLUMNS,
    BorderIndex,
    ExistingResult,
    build_existing,
)
from optiserv.datasets.sweden.log import PreparationLog
from optiserv.datasets.sweden.names import FUEL_PATTERNS, GROCERY_PATTERNS
from optiserv.datasets.sweden.raw import RAW_FILES, RawData, read_raw_data, sha256_of
from optiserv.datasets.sweden.readme import render_readme
from optiserv.datasets.sweden.rules import SERVICES, Municipality, PreparationRules
from optiserv.datasets.sweden.sites import SITE_COLUMNS, build_sites
from optiserv.exceptions import DataError

__all__ = [
    "OUTPUT_FILES",
    "MunicipalityData",
    "PreparationResult",
    "prepare_scenario_data",
]

OUTPUT_FILES: tuple[str, ...] = ("demand.csv", "sites.csv", "existing.csv", "boundary.geojson")
"""Files written for each municipality."""

DEMAND_COLUMNS = ["id", "x", "y", "weight", "kind", "name", "locality_population",
                  "spread_population", "source_ids"]
_COORDINATES = ("x", "y")

SOURCES: dict[str, dict[str, str]] = {
    RAW_FILES["localities"]: {
        "title": "SCB tätorter 2020 (localities: point, population, land area)",
        "producer": "Statistics Sweden (SCB)",
        "licence": "CC0 1.0",
        "attribution": "Källa: SCB (courtesy, not required)",
    },
    RAW_FILES["population"]: {
        "title": "SCB municipal population, 31 December 2020 and 2024 (partial table)",
        "producer": "Statistics Sweden (SCB)",
        "licence": "CC0 1.0",
        "attribution": "Källa: SCB (courtesy, not required)",
    },
    RAW_FILES["postal_places"]: {
        "title": "GeoNames postal codes, Sweden",
        "producer": "GeoNames",
        "licence": "CC BY 4.0",
        "attribution": "GeoNames (geonames.org), CC BY 4.0",
    },
    RAW_FILES["agents"]: {
        "title": "Postal and parcel agents (PTS ombud survey, c. 2021)",
        "producer": "Post- och telestyrelsen (PTS), as published in PredictiveMovement/"
                    "digital-twin (ombud.xlsx, commit c82daaa2)",
        "licence": "not stated: public authority register whose reuse terms were not stated "
                   "in the source; confirm with PTS before wider distribution",
        "attribution": "Source: PTS survey of postal and parcel agents (c. 2021)",
    },
    RAW_FILES["pharmacies"]: {
        "title": "OpenStreetMap pharmacies and health facilities in Sweden (c. 2019-2020)",
        "producer": "OpenStreetMap contributors",
        "licence": "ODbL 1.0",
        "attribution": "© OpenStreetMap contributors",
    },
    RAW_FILES["borders"]: {
        "title": "SCB municipality borders (generalised, 2024 division), EPSG:3006",
        "producer": "Statistics Sweden (SCB)",
        "licence": "CC0 1.0",
        "attribution": "Källa: SCB (courtesy, not required)",
    },
}
"""Provenance and licence of every raw input, keyed by its path under ``shared/data``."""


@dataclass(frozen=True, eq=False)
class MunicipalityData:
    """Everything prepared for one municipality.

    Attributes
    ----------
    municipality
        Code and name.
    population
        The municipal total used and its year.
    demand
        Demand points and the spread of the population outside localities.
    postal_places
        The used postal places, inside or outside localities.
    existing
        Existing service points (with ``site_id``) and the name-rule matches.
    sites
        Candidate sites.
    """

    municipality: Municipality
    population: PopulationChoice
    demand: DemandResult
    postal_places: pd.DataFrame
    existing: ExistingResult
    sites: pd.DataFrame

    def service_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Existing register rows, and distinct sites, offering each service (cash has no
        register and is left out)."""
        existing = self.existing.existing
        offered = existing["services"].str.split(";")
        rows: dict[str, int] = {}
        sites: dict[str, int] = {}
        for service in SERVICES:
            if service == "cash":
                continue
            mask = offered.apply(lambda values, s=service: s in values).to_numpy(bool)
            rows[service] = int(mask.sum())
            sites[service] = int(existing.loc[mask, "site_id"].nunique())
        return rows, sites

    def merged_duplicates(self) -> int:
        """Register rows merged into another row as the same agent listed again."""
        ids = self.existing.existing["duplicate_register_ids"]
        return sum(len([d for d in text.split(";") if d]) for text in ids)

    def counts(self) -> dict[str, object]:
        """Counts for the manifest and the README."""
        existing = self.existing.existing
        by_service, sites_by_service = self.service_counts()
        places = self.postal_places
        return {
            "localities": int((self.demand.demand["kind"] == "locality").sum()),
            "postal_places_used": len(places),
            "postal_places_outside_localities": int((places["locality"] == "").sum()),
            "demand_points": len(self.demand.demand),
            "sites": len(self.sites),
            "existing_rows": len(existing),
            "existing_rows_by_service": by_service,
            "existing_sites_by_service": sites_by_service,
            "duplicate_register_rows_merged": self.merged_duplicates(),
        }


@dataclass(frozen=True, eq=False)
class PreparationResult:
    """The prepared data and where it was written.

    Attributes
    ----------
    municipalities
        One entry per municipality, in the rules' order.
    log
        Every surprise met on the way.
    manifest
        The manifest as written to ``manifest.json``.
    output
        The output folder.
    """

    municipalities: tuple[MunicipalityData, ...]
    log: PreparationLog
    manifest: dict[str, object]
    output: Path


def _text(value: object, column: str) -> str:
    if column in _COORDINATES:
        return f"{float(value):.1f}"  # type: ignore[arg-type]
    return str(value)


def _write_csv(path: Path, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in frame[list(columns)].itertuples(index=False):
            writer.writerow([_text(v, c) for v, c in zip(row, columns, strict=True)])


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _write_boundary(path: Path, municipality: Municipality, raw: RawData) -> None:
    feature = raw.border_features[municipality.code]
    collection = {
        "type": "FeatureCollection",
        "name": municipality.folder,
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3006"}},
        "features": [{
            "type": "Feature",
            "properties": {"code": municipality.code, "name": municipality.name},
            "geometry": feature["geometry"],
        }],
    }
    path.write_text(json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n",
                    encoding="utf-8")


def _prepare_one(
    raw: RawData,
    index: BorderIndex,
    municipality: Municipality,
    rules: PreparationRules,
    log: PreparationLog,
) -> MunicipalityData:
    code = municipality.code
    if code not in raw.borders:
        raise DataError(f"borders file: no municipality {code} {municipality.name}")
    border_name = raw.borders[code][0]
    if border_name != municipality.name:
        log.add(code, "name_differs", f"the borders file names {code} {border_name!r}")
    population = choose_population(raw.population, municipality, rules, log)
    localities = raw.localities[raw.localities["municipality"] == code]
    other_years = sorted(set(localities["year"]) - {rules.locality_year})
    if other_years:
        raise DataError(f"localities file: {code} has years {other_years}, expected "
                        f"{rules.locality_year}")
    places = classify_postal_places(raw.postal_places, raw.localities, raw.borders[code][1],
                                    municipality, rules, log)
    demand = build_demand(raw.localities, places, population, municipality, rules, log)
    existing = build_existing(raw.agents, raw.pharmacies, index, municipality, rules, log)
    sites, site_of = build_sites(existing.existing, localities, places, rules)
    table = existing.existing.copy()
    table["site_id"] = [site_of[i] for i in table["id"]]
    existing = ExistingResult(table, existing.grocery_matches, existing.fuel_matches,
                              existing.unmatched_hosts)
    return MunicipalityData(municipality, population, demand, places, existing, sites)


def _municipality_manifest(
    data: MunicipalityData, rules: PreparationRules, files: dict[str, str]
) -> dict[str, object]:
    demand = data.demand
    spread_rule = (f"fallback: {rules.rest_fallback}" if demand.fallback
                   else f"postal places outside localities: {rules.rest_spread}")
    return {
        "code": data.municipality.code,
        "name": data.municipality.name,
        "folder": data.municipality.folder,
        "population": {
            "total": data.population.total,
            "year": data.population.year,
            "source": data.population.source,
            "years_available": list(data.population.available_years),
            "locality_year": rules.locality_year,
            "locality_population": demand.locality_population,
            "rest_outside_localities": demand.rest,
            "rest_spread": spread_rule,
            "rest_carriers": list(demand.carriers),
        },
        "counts": data.counts(),
        "before_coverage": {
            "groceries": "from PTS agent host names (lower bound: only stores that host an "
                         "agent are seen)",
            "fuel": "from PTS agent host names (lower bound)",
            "parcels": "PTS agents of types " + ", ".join(rules.parcel_agent_types),
            "pharmacy": "OpenStreetMap amenity=pharmacy (lower bound: incomplete extract)",
            "cash": "unknown",
        },
        "files": files,
    }


def prepare_scenario_data(
    shared_data: Path | str,
    output: Path | str,
    rules: PreparationRules | None = None,
) -> PreparationResult:
    """Prepare the per-municipality inputs from the raw shared files.

    Parameters
    ----------
    shared_data
        The ``shared/data`` folder (holding ``sweden/...``).
    output
        Folder to write into (created when missing); existing files of the same names are
        overwritten.
    rules
        The assumptions; :class:`PreparationRules` defaults when ``None``.

    Returns
    -------
    PreparationResult
        The prepared tables, the log and the manifest.
    """
    rules = rules if rules is not None else PreparationRules()
    raw = read_raw_data(Path(shared_data))
    index = BorderIndex(raw.borders)
    log = PreparationLog()
    report_uncoded_postal_places(raw.postal_places, raw.borders, rules.municipalities, log)
    log.add("all", "cash_unknown",
            "no open register of cash services (betaltjänster, ATMs): before-coverage for "
            "cash is unknown, not zero")
    prepared = tuple(_prepare_one(raw, index, m, rules, log) for m in rules.municipalities)

    root = Path(output)
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    output_checksums: dict[str, str] = {}
    for data in prepared:
        folder = root / data.municipality.folder
        folder.mkdir(exist_ok=True)
        _write_csv(folder / "demand.csv", data.demand.demand, DEMAND_COLUMNS)
        _write_csv(folder / "sites.csv", data.sites, SITE_COLUMNS)
        _write_csv(folder / "existing.csv", data.existing.existing, [*EXISTING_COLUMNS,
                                                                      "site_id"])
        _write_boundary(folder / "boundary.geojson", data.municipality, raw)
        files = {name: sha256_of(folder / name) for name in OUTPUT_FILES}
        output_checksums.update({f"{data.municipality.folder}/{n}": h for n, h in files.items()})
        entries.append(_municipality_manifest(data, rules, files))

    readme = render_readme(prepared, log, rules, SOURCES, raw.checksums)
    (root / "README.md").write_text(readme, encoding="utf-8")
    output_checksums["README.md"] = sha256_of(root / "README.md")
    manifest: dict[str, object] = {
        "title": "optiserv: Swedish rural service scenarios, prepared inputs "
                 "(Service i samverkan, eleven municipalities)",
        "generated_by": "scenarios/prepare.py (optiserv.datasets.sweden.prepare_scenario_data)",
        "coordinate_reference_system": "EPSG:3006 (SWEREF99 TM), metres",
        "inputs": {
            path: {"sha256": raw.checksums[path], **SOURCES[path]} for path in RAW_FILES.values()
        },
        "rules": rules.describe(),
        "name_rules": {
            "applied_to": "PTS column OMBUD (host business), lower-cased, apostrophes unified, "
                          "former brands ('f.d.', 'fd', 'gml.', 'före detta' ...) removed",
            "groceries": [{"label": p.label, "pattern": p.pattern} for p in GROCERY_PATTERNS],
            "fuel": [{"label": p.label, "pattern": p.pattern} for p in FUEL_PATTERNS],
        },
        "municipalities": entries,
        "outputs": dict(sorted(output_checksums.items())),
        "log": [e.as_dict() for e in log.entries],
    }
    _write_json(root / "manifest.json", manifest)
    return PreparationResult(prepared, log, manifest, root)
