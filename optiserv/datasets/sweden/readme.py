"""Write the README of the prepared data: sources, licences, rules, numbers and the log.

The README is generated with the data, so that it always describes the files beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from optiserv.datasets.sweden.log import PreparationLog
from optiserv.datasets.sweden.names import FUEL_PATTERNS, GROCERY_PATTERNS, NamePattern
from optiserv.datasets.sweden.raw import RAW_FILES
from optiserv.datasets.sweden.rules import PreparationRules

if TYPE_CHECKING:
    from optiserv.datasets.sweden.prepare import MunicipalityData

__all__ = ["render_readme"]

_HEADER = """\
# Prepared inputs: the eleven municipalities of "Service i samverkan"

In "Service i samverkan" (2017–2020) eleven Swedish municipalities each wrote a rural service
plan. This folder holds, for each of them, the demand points, candidate sites, existing
service points and border that optiserv's scenarios use. **It is generated** by
`scenarios/prepare.py` (code in `optiserv/datasets/sweden/`) from the raw files in the shared
data folder; do not edit it by hand: change the rules and run again. The same raw files give
byte-identical output; `manifest.json` holds the SHA-256 of every raw input and output file.

```
.venv/bin/python scenarios/prepare.py                       # ../shared/data or /work/shared/data
.venv/bin/python scenarios/prepare.py --shared-data PATH --output scenarios/data
```

## Files

All coordinates are SWEREF99 TM (EPSG:3006), metres, written to 0.1 m. Lists inside a cell
are separated by `;`.

Per municipality, in `<code>_<slug>/`:

- `demand.csv`, demand points i: `id` (`tatort-<SCB code>` or `postal-<postal code>`), `x`,
  `y`, `weight` (people = `locality_population` + `spread_population`), `kind` (`locality`,
  `postal_place`), `name`, `locality_population` (SCB 2020), `spread_population` (share of the
  people outside localities), `source_ids` (SCB locality code, or the postal codes at the
  point).
- `sites.csv`, candidate sites j: `id` (id of the site's first point), `x`, `y`, `kind`
  (`agent`, `pharmacy`, `locality`, `postal_place`), `name`, `members` (ids of every point
  merged into the site).
- `existing.csv`, existing service points, one per register row: `id` (`pts-<DB_ID>` or
  `osm-<node id>`), `source`, `register_id`, `municipality` (official code), `name` (host
  business or OSM name), `type` (PTS agent type or `pharmacy`), `operator`,
  `deliveries_per_week`, `x`, `y` (the register's own point), `services` (of `groceries`,
  `fuel`, `parcels`, `pharmacy`), `duplicate_register_ids` (other register rows of the same
  agent), `located_municipality` (by the border; empty when the point is outside every
  border), `site_id` (the site in `sites.csv`).
- `boundary.geojson`: the municipality's SCB generalised border, EPSG:3006 (legacy `crs`
  member), properties `code`, `name`.

`demand.csv` and `sites.csv` read directly with `optiserv.data.io.read_instance_csv`
(`id,x,y,weight`; other columns are ignored). Cash has no register: its before-coverage is
**unknown**, not zero, and `existing.csv` has no cash rows.
"""

_LICENCES = """\
## Sources, licences and attribution

| source (under `shared/data/`) | producer | licence | used for |
|---|---|---|---|
| `{localities}` | Statistics Sweden (SCB) | CC0 1.0 | locality points, population, area |
| `{population}` | Statistics Sweden (SCB) figures | CC0 1.0 | municipal totals |
| `{borders}` | Statistics Sweden (SCB) | CC0 1.0 | borders, point-in-polygon checks |
| `{postal_places}` | GeoNames | CC BY 4.0 | postal places (demand, sites) |
| `{agents}` | PTS survey of postal and parcel agents, c. 2021 | not stated | agents |
| `{pharmacies}` | OpenStreetMap contributors | ODbL 1.0 | pharmacies |

- **SCB**: CC0 1.0, no conditions. "Källa: SCB" is given as a courtesy.
- **GeoNames**: CC BY 4.0. Attribution required: **"GeoNames (geonames.org), CC BY 4.0"**.
  The postal places were deduplicated, filtered and projected here (changes made).
- **OpenStreetMap**: **"© OpenStreetMap contributors"**, ODbL 1.0
  (https://opendatacommons.org/licenses/odbl/1-0/). The pharmacy rows of `existing.csv`, and
  the `sites.csv` files that contain them, are derived from an OpenStreetMap extract; that
  extract and the derived database stay under the ODbL: they may be reused, shared and
  adapted under the same licence, with the attribution above.
- **PTS postal agents**: a register compiled by a Swedish public authority (PTS), obtained from
  the public repository PredictiveMovement/digital-twin (`packages/simulator/data/ombud.xlsx`,
  commit `c82daaa2`, 2021). **Its reuse terms were not stated in the source.** Keep this
  provenance and this caveat wherever these files are shipped, and confirm the terms with
  PTS (or request the current register from PTS) before distributing them more widely.

The project-wide notice for shipped data is `NOTICE.md` at the repository root.
"""


def _patterns(patterns: Sequence[NamePattern]) -> str:
    return "\n".join(f"  - {p.label}: `{p.pattern}`" for p in patterns)


def _rules(rules: PreparationRules) -> str:
    estimated = (
        "postal codes whose point GeoNames flags as estimated (accuracy 1) are used too"
        if rules.use_estimated_postal_points
        else "postal codes whose point GeoNames flags as estimated (accuracy 1) are not used: "
        "here they are copies of another place's point or tens of kilometres off"
    )
    by_name = (
        ", or when it has the name of a locality of the municipality (its people are counted "
        "in that locality)" if rules.match_locality_names else ""
    )
    return f"""\
## Rules

**Demand.** Each SCB locality (tätort, {rules.locality_year}) is a demand point with its
population. The municipal total is SCB's figure for {rules.preferred_population_year} where
the population file has it (to match the localities' year), otherwise the latest year there
(table below). The people outside localities (total minus the localities' population) are
spread over the GeoNames postal places of the municipality that lie outside every locality:

- postal codes at the same point are one postal place; {estimated};
- a postal place is used only when its municipality code is this municipality and its point
  lies inside the border or within {rules.boundary_tolerance:.0f} m of it (GeoNames codes and
  points disagree often; see the log); postal codes without a municipality code are not used;
- a postal place is *inside* a locality when its distance to the locality's point is at most
  {rules.locality_radius_factor:g} × √(area / π) + {rules.locality_radius_margin:.0f} m (area
  = the locality's land area; the margin covers GeoNames points rounded to whole
  arc-minutes){by_name};
- the people are split `{rules.rest_spread}` (`equal`: the same share per postal place;
  `postal_codes`: in proportion to the postal codes at the point) in whole people by the
  largest-remainder method (ties to the lower id), so every municipality adds up **exactly**
  to SCB's total;
- when no postal place lies outside the localities, the people outside localities are spread
  over the municipality's localities instead (`{rules.rest_fallback}`), and the log says so.

**Existing services** come from the registers only; no point is invented.

- *parcels*: PTS agents of type {", ".join(rules.parcel_agent_types)} (`Postombud` sends and
  receives letters and parcels, `Utlämningsställe` hands out parcels, `Box_Paketskåp` is a
  parcel locker for pick-up). `Företagscenter` (PostNord's counter for businesses) is not
  counted; the log lists those rows.
- *groceries*: agents whose host name (`OMBUD`) matches one of these patterns (regular
  expressions, searched in the lower-cased name after removing former brands such as
  "f.d. Tempo"; code in `optiserv/datasets/sweden/names.py`):
{_patterns(GROCERY_PATTERNS)}
- *fuel*: agents whose host name matches one of:
{_patterns(FUEL_PATTERNS)}
- kiosks and tobacconists (Pressbyrån, MyWay, Momangen) and the convenience chain Frendo are
  not matched; Direkten, a convenience chain, is matched as grocery, as the project asked.
  Only stores that host a postal agent are seen, so groceries and fuel are lower bounds.
- *pharmacy*: OpenStreetMap nodes with `amenity = {rules.pharmacy_amenity}` whose point lies
  in the municipality's border (or outside every border and within
  {rules.boundary_tolerance:.0f} m of it). The extract is incomplete (690 of about 1,400
  Swedish pharmacies): a lower bound.
- *cash*: no open register; before-coverage is **unknown** (recorded in `manifest.json`).
- An agent listed more than once by the same operator (same agent type, same host name or same
  address, at most {rules.duplicate_agent_distance:.0f} m apart) is kept once, under its lowest
  register id, with the others in `duplicate_register_ids`. Agents of different operators in
  the same shop are separate register rows; they share a site.
- A PTS agent belongs to the municipality of its register code (`KOMMUNKOD`); when its point
  lies in another municipality or outside every border, it is kept and the log says so.

**Candidate sites** are the existing service points, the localities and the used postal
places, taken in that order; a point within {rules.site_merge_distance:.0f} m of an earlier
site joins the nearest one, so a site sits on a real service point whenever there is one.
"""


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|")


def _table(prepared: Sequence[MunicipalityData]) -> str:
    lines = [
        "## Numbers per municipality",
        "",
        "Existing points: register rows (distinct sites). Cash: unknown everywhere.",
        "",
        "| code | municipality | total (year) | in localities | localities | outside "
        "localities | spread over | parcels | groceries | fuel | pharmacy | demand points "
        "| sites |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for data in prepared:
        counts = data.counts()
        rows, sites = data.service_counts()
        demand = data.demand
        if demand.fallback:
            spread = f"the {counts['localities']} localities (no postal place outside)"
        else:
            names = demand.demand.set_index("id").loc[list(demand.carriers), "name"]
            spread = ", ".join(names)
        service_cells = " | ".join(f"{rows[s]} ({sites[s]})"
                                   for s in ("parcels", "groceries", "fuel", "pharmacy"))
        lines.append(
            f"| {data.municipality.code} | {data.municipality.name} | "
            f"{data.population.total} ({data.population.year}) | {demand.locality_population} | "
            f"{counts['localities']} | {demand.rest} | {_cell(spread)} | {service_cells} | "
            f"{counts['demand_points']} | {counts['sites']} |"
        )
    return "\n".join(lines) + "\n"


def _matches(prepared: Sequence[MunicipalityData]) -> str:
    lines = ["## What the name rules matched", "",
             "Host names as written in the register (one entry per kept agent name).", ""]
    for data in prepared:
        result = data.existing
        lines.append(f"### {data.municipality.code} {data.municipality.name}")
        lines.append("")
        grocery = "; ".join(f"{h} [{', '.join(v)}]" for h, v in result.grocery_matches.items())
        fuel = "; ".join(f"{h} [{', '.join(v)}]" for h, v in result.fuel_matches.items())
        lines.append(f"- groceries ({len(result.grocery_matches)}): {grocery or 'none'}")
        lines.append(f"- fuel ({len(result.fuel_matches)}): {fuel or 'none'}")
        lines.append(f"- neither ({len(result.unmatched_hosts)}): "
                     f"{'; '.join(result.unmatched_hosts) or 'none'}")
        lines.append("")
    return "\n".join(lines)


def _names(prepared: Sequence[MunicipalityData], codes: set[str]) -> str:
    listed = [d.municipality.name for d in prepared if d.municipality.code in codes]
    return ", ".join(listed) if listed else "none"


def _summary(
    log: PreparationLog, prepared: Sequence[MunicipalityData], rules: PreparationRules
) -> str:
    def where(topic: str) -> set[str]:
        return {e.municipality for e in log.entries if e.topic == topic}

    merged = sum(d.merged_duplicates() for d in prepared)
    carriers = "; ".join(
        f"{d.municipality.name} {d.demand.rest} people on {len(d.demand.carriers)}"
        for d in prepared if not d.demand.fallback
    ) or "none"
    later = ", ".join(f"{d.municipality.name} {d.population.year}" for d in prepared
                      if d.population.year != rules.locality_year) or "none"
    return f"""\
## What scenario authors should know

- **Population outside localities spread over the localities** (no usable postal place outside
  them): {_names(prepared, where("no_postal_place_outside_localities"))}. Elsewhere it sits
  on very few postal places: {carriers}. The GeoNames postal gazetteer lists few rural
  villages, and many of its points are wrong (see the log). A population grid (SCB 1 km grid, CC0)
  would be far better; it is not in the shared data.
- **Municipal total from another year than the localities** ({rules.locality_year}): {later};
  the rest outside localities also absorbs the localities' change since {rules.locality_year}.
- **Duplicate agents**: {merged} register rows were the same agent listed again by the same
  operator (mostly operator "Brun", whose agents appear up to three times); they are merged
  (see `duplicate_register_ids`).
- **No grocery store recognised**: {_names(prepared, where("no_grocery"))}. **No fuel station
  recognised**: {_names(prepared, where("no_fuel"))}. **No pharmacy in the OpenStreetMap
  extract**: {_names(prepared, where("no_pharmacy"))}. Groceries, fuel and pharmacy are lower
  bounds; cash is unknown.
- **Agents whose point is not in their official municipality** (kept under the official code):
  {_names(prepared, where("agent_in_other_municipality"))}; the log gives the distances
  (generalised borders cut lake and sea shores).
"""


def _log(log: PreparationLog, prepared: Sequence[MunicipalityData]) -> str:
    lines = ["## Preparation log", "",
             "Every surprise in the raw data, as printed by `scenarios/prepare.py`; also in "
             "`manifest.json` under `log`.", ""]
    groups = [("all", "All municipalities")] + [
        (d.municipality.code, f"{d.municipality.code} {d.municipality.name}") for d in prepared
    ]
    for code, title in groups:
        entries = log.for_municipality(code)
        lines.append(f"### {title}")
        lines.append("")
        lines.extend(f"- `{e.topic}`: {e.message}" for e in entries)
        if not entries:
            lines.append("- nothing to report")
        lines.append("")
    return "\n".join(lines)


def _checksums(checksums: Mapping[str, str]) -> str:
    lines = ["## Raw inputs", "", "| file under `shared/data/` | SHA-256 |", "|---|---|"]
    lines.extend(f"| `{path}` | `{checksums[path]}` |" for path in RAW_FILES.values())
    return "\n".join(lines) + "\n"


def render_readme(
    prepared: Sequence[MunicipalityData],
    log: PreparationLog,
    rules: PreparationRules,
    sources: Mapping[str, Mapping[str, str]],
    checksums: Mapping[str, str],
) -> str:
    """The README text for the prepared folder.

    Parameters
    ----------
    prepared
        The prepared municipalities.
    log
        The preparation log.
    rules
        The rules used.
    sources
        Provenance per raw file (checked to cover every raw file).
    checksums
        Raw file → SHA-256.
    """
    missing = [p for p in RAW_FILES.values() if p not in sources]
    if missing:
        raise ValueError(f"no provenance for raw files {missing}")
    parts = [
        _HEADER,
        _LICENCES.format(**RAW_FILES),
        _rules(rules),
        _table(prepared),
        _summary(log, prepared, rules),
        _matches(prepared),
        _log(log, prepared),
        _checksums(checksums),
    ]
    return "\n".join(parts)
