"""Existing service points of one municipality, from the registers only.

* parcels: PTS postal agents of the types in ``rules.parcel_agent_types``;
* groceries, fuel: PTS agents whose host name is a grocery store or a fuel station
  (:mod:`optiserv.datasets.sweden.names`);
* pharmacy: OpenStreetMap nodes with ``amenity = pharmacy`` inside the municipality;
* cash: no open register, so nothing here: before-coverage for cash is unknown.

Every row is one register row (``source``, ``register_id``) at that row's own coordinates.
An agent listed twice by the same operator is kept once, with the other register ids in
``duplicate_register_ids``. A PTS agent belongs to the municipality of its register code
(``KOMMUNKOD``); where its point lies elsewhere, that is logged, not corrected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from optiserv.datasets.sweden.log import PreparationLog
from optiserv.datasets.sweden.names import (
    FUEL_PATTERNS,
    GROCERY_PATTERNS,
    NamePattern,
    matching_labels,
)
from optiserv.datasets.sweden.rules import SERVICES, Municipality, PreparationRules

__all__ = ["AGENT_SOURCE", "PHARMACY_SOURCE", "BorderIndex", "ExistingResult",
           "build_existing"]

AGENT_SOURCE = "pts_postal_agents_2021"
PHARMACY_SOURCE = "osm_health_facilities_2019"

_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")

EXISTING_COLUMNS = ["id", "source", "register_id", "municipality", "name", "type", "operator",
                    "deliveries_per_week", "x", "y", "services", "duplicate_register_ids",
                    "located_municipality"]


class BorderIndex:
    """Which municipality a point lies in, against SCB's generalised borders.

    Parameters
    ----------
    borders
        Municipality code → (name, polygon in EPSG:3006).
    """

    def __init__(self, borders: dict[str, tuple[str, shapely.Geometry]]) -> None:
        self.codes = sorted(borders)
        self.names = {code: borders[code][0] for code in self.codes}
        self.geometries = [borders[code][1] for code in self.codes]
        self._tree = shapely.STRtree(self.geometries)

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Code of the municipality containing each point, ``""`` when none does."""
        points = shapely.points(np.asarray(x, float), np.asarray(y, float))
        out = np.full(points.size, "", dtype=object)
        point_index, border_index = self._tree.query(points, predicate="within")
        for p, b in sorted(zip(point_index.tolist(), border_index.tolist(), strict=True)):
            if out[p] == "":
                out[p] = self.codes[b]
        return out

    def nearest(self, x: float, y: float) -> tuple[str, float]:
        """Code of the nearest municipality border and the distance to it, metres."""
        index, distance = self._tree.query_nearest(shapely.Point(x, y), return_distance=True)
        best = min(zip(index.tolist(), distance.tolist(), strict=True), key=lambda p: (p[1], p[0]))
        return self.codes[best[0]], float(best[1])

    def distance(self, code: str, x: float, y: float) -> float:
        """Metres from a point to a municipality (0 inside)."""
        return float(shapely.distance(self.geometries[self.codes.index(code)],
                                      shapely.Point(x, y)))

    def describe(self, code: str) -> str:
        """``"1864 Ljusnarsberg"``, or ``"no municipality"`` for ``""``."""
        return f"{code} {self.names[code]}" if code else "no municipality (sea, lake or edge)"


def _normalised(text: str) -> str:
    return _NOT_ALPHANUMERIC.sub("", text.casefold())


@dataclass(frozen=True, eq=False)
class ExistingResult:
    """Existing service points of one municipality.

    Attributes
    ----------
    existing
        One row per kept register row, columns :data:`EXISTING_COLUMNS`; ``services`` is a
        ``;``-separated list in :data:`~optiserv.datasets.sweden.rules.SERVICES` order.
    grocery_matches, fuel_matches
        Host name → labels of the name patterns it matched, for the README.
    unmatched_hosts
        Host names of counted agents that matched neither rule. A kept agent offers
        groceries (fuel) when any of the host names of its duplicate rows matches.
    """

    existing: pd.DataFrame
    grocery_matches: dict[str, list[str]]
    fuel_matches: dict[str, list[str]]
    unmatched_hosts: list[str]


def _duplicate_groups(agents: pd.DataFrame, distance_limit: float) -> list[list[int]]:
    """Positions of agents grouped as one agent listed more than once.

    Same operator and agent type, same host name or same address and town (letters and
    digits only, any case), at most ``distance_limit`` metres apart. Rows are taken in
    register-id order; each joins the first kept row it duplicates.
    """
    order = np.argsort(agents["register_id"].to_numpy(), kind="stable")
    kept: list[list[int]] = []
    keys = [
        (row.operator, row.agent_type, _normalised(row.host),
         _normalised(row.address) + "|" + _normalised(row.town), row.x, row.y)
        for row in agents.itertuples(index=False)
    ]
    for position in order.tolist():
        operator, agent_type, host, address, x, y = keys[position]
        for group in kept:
            first = keys[group[0]]
            if (first[0], first[1]) != (operator, agent_type):
                continue
            if host != first[2] and address != first[3]:
                continue
            if np.hypot(first[4] - x, first[5] - y) <= distance_limit:
                group.append(position)
                break
        else:
            kept.append([position])
    return kept


def _services(parcels: bool, groceries: bool, fuel: bool, pharmacy: bool) -> str:
    offered = {"parcels": parcels, "groceries": groceries, "fuel": fuel, "pharmacy": pharmacy}
    return ";".join(s for s in SERVICES if offered.get(s, False))


def _agents(
    agents: pd.DataFrame,
    index: BorderIndex,
    municipality: Municipality,
    rules: PreparationRules,
    log: PreparationLog,
    grocery_patterns: tuple[NamePattern, ...],
    fuel_patterns: tuple[NamePattern, ...],
) -> tuple[pd.DataFrame, dict[str, list[str]], dict[str, list[str]], list[str]]:
    code = municipality.code
    own = agents[agents["municipality"] == code].reset_index(drop=True)
    located = index.locate(own["x"].to_numpy(), own["y"].to_numpy())
    for row, where in zip(own.itertuples(index=False), located, strict=True):
        if where == code:
            continue
        gap = index.distance(code, row.x, row.y)
        log.add(code, "agent_in_other_municipality",
                f"pts-{row.register_id} {row.host!r} ({row.town}): register code {code}, but "
                f"the point lies in {index.describe(where)}, {gap:.0f} m from {code}'s border; "
                f"kept in {code} (official code)")
    foreign_index = agents["municipality"] != code
    foreign = agents[foreign_index]
    border = index.geometries[index.codes.index(code)]
    inside = shapely.contains_xy(border, foreign["x"].to_numpy(float),
                                 foreign["y"].to_numpy(float))
    for row in foreign[inside].sort_values("register_id").itertuples(index=False):
        log.add(code, "agent_from_other_municipality",
                f"pts-{row.register_id} {row.host!r} ({row.town}) lies inside {code}'s border "
                f"but its register code is {row.municipality} {row.municipality_name}; "
                "not counted here (official code)")

    counted = own["agent_type"].isin(rules.parcel_agent_types).to_numpy()
    for row in own[~counted].sort_values("register_id").itertuples(index=False):
        log.add(code, "agent_type_not_counted",
                f"pts-{row.register_id} {row.host!r} is a {row.agent_type}, not one of "
                f"{', '.join(rules.parcel_agent_types)}; not an existing service point")
    own = own[counted].reset_index(drop=True)
    located = located[counted]

    rows = []
    grocery_matches: dict[str, list[str]] = {}
    fuel_matches: dict[str, list[str]] = {}
    unmatched: set[str] = set()
    records = own.to_dict("records")
    for group in _duplicate_groups(own, rules.duplicate_agent_distance):
        first = records[group[0]]
        duplicates = sorted(int(records[k]["register_id"]) for k in group[1:])
        if duplicates:
            spread = max(np.hypot(records[k]["x"] - first["x"], records[k]["y"] - first["y"])
                         for k in group[1:])
            log.add(code, "duplicate_agents",
                    f"pts-{first['register_id']} {first['host']!r} ({first['operator']}, "
                    f"{first['agent_type']}) is listed again as "
                    + ", ".join(f"pts-{d}" for d in duplicates)
                    + f" (up to {spread:.0f} m apart); kept pts-{first['register_id']}")
        grocery = fuel = False
        for host in sorted({str(records[k]["host"]) for k in group}):
            grocery_labels = matching_labels(host, grocery_patterns)
            fuel_labels = matching_labels(host, fuel_patterns)
            if grocery_labels:
                grocery_matches[host] = grocery_labels
            if fuel_labels:
                fuel_matches[host] = fuel_labels
            if not grocery_labels and not fuel_labels:
                unmatched.add(host)
            grocery = grocery or bool(grocery_labels)
            fuel = fuel or bool(fuel_labels)
        rows.append({
            "id": f"pts-{first['register_id']}",
            "source": AGENT_SOURCE,
            "register_id": int(first["register_id"]),
            "municipality": code,
            "name": first["host"],
            "type": first["agent_type"],
            "operator": first["operator"],
            "deliveries_per_week": first["deliveries_per_week"],
            "x": float(first["x"]),
            "y": float(first["y"]),
            "services": _services(True, grocery, fuel, False),
            "duplicate_register_ids": ";".join(str(d) for d in duplicates),
            "located_municipality": located[group[0]],
        })
    frame = pd.DataFrame(rows, columns=EXISTING_COLUMNS)
    return (frame, dict(sorted(grocery_matches.items())), dict(sorted(fuel_matches.items())),
            sorted(unmatched))


def _pharmacies(
    pharmacies: pd.DataFrame,
    index: BorderIndex,
    municipality: Municipality,
    rules: PreparationRules,
    log: PreparationLog,
) -> pd.DataFrame:
    code = municipality.code
    chosen = pharmacies[pharmacies["amenity"] == rules.pharmacy_amenity]
    located = index.locate(chosen["x"].to_numpy(), chosen["y"].to_numpy())
    assigned = located.copy()
    for k in np.flatnonzero(located == ""):
        nearest, gap = index.nearest(float(chosen["x"].iloc[k]), float(chosen["y"].iloc[k]))
        if gap <= rules.boundary_tolerance:
            assigned[k] = nearest
            if nearest == code:
                log.add(code, "pharmacy_outside_border",
                        f"osm-{chosen['register_id'].iloc[k]} {chosen['name'].iloc[k]!r} lies "
                        f"outside every border, {gap:.0f} m from {code}; assigned to {code}")
    mine = chosen[assigned == code].copy()
    mine["located_municipality"] = located[assigned == code]
    file_codes = chosen["file_municipality"].to_numpy()
    for k in np.flatnonzero((file_codes == code) != (assigned == code)):
        log.add(code, "pharmacy_municipality_differs",
                f"osm-{chosen['register_id'].iloc[k]} {chosen['name'].iloc[k]!r}: the file says "
                f"{file_codes[k] or 'none'}, the border says {assigned[k] or 'none'}; the border "
                "decides")
    records = mine.sort_values("register_id", kind="stable").to_dict("records")
    groups: list[list[int]] = []
    for position, row in enumerate(records):
        for group in groups:
            first = records[group[0]]
            if (_normalised(first["name"]) == _normalised(row["name"])
                    and np.hypot(first["x"] - row["x"], first["y"] - row["y"])
                    <= rules.duplicate_agent_distance):
                group.append(position)
                break
        else:
            groups.append([position])
    rows = []
    for group in groups:
        first = records[group[0]]
        duplicates = [int(records[k]["register_id"]) for k in group[1:]]
        if duplicates:
            log.add(code, "duplicate_pharmacies",
                    f"osm-{first['register_id']} {first['name']!r} has namesakes within "
                    f"{rules.duplicate_agent_distance:.0f} m: "
                    + ", ".join(f"osm-{d}" for d in duplicates) + "; kept the first")
        rows.append({
            "id": f"osm-{first['register_id']}",
            "source": PHARMACY_SOURCE,
            "register_id": int(first["register_id"]),
            "municipality": code,
            "name": first["name"],
            "type": rules.pharmacy_amenity,
            "operator": "",
            "deliveries_per_week": "",
            "x": float(first["x"]),
            "y": float(first["y"]),
            "services": "pharmacy",
            "duplicate_register_ids": ";".join(str(d) for d in duplicates),
            "located_municipality": first["located_municipality"],
        })
    return pd.DataFrame(rows, columns=EXISTING_COLUMNS)


def build_existing(
    agents: pd.DataFrame,
    pharmacies: pd.DataFrame,
    index: BorderIndex,
    municipality: Municipality,
    rules: PreparationRules,
    log: PreparationLog,
    *,
    grocery_patterns: tuple[NamePattern, ...] = GROCERY_PATTERNS,
    fuel_patterns: tuple[NamePattern, ...] = FUEL_PATTERNS,
) -> ExistingResult:
    """Existing service points of one municipality: agents first, then pharmacies.

    Parameters
    ----------
    agents, pharmacies
        The raw registers (:class:`~optiserv.datasets.sweden.raw.RawData`).
    index
        Municipality borders.
    """
    code = municipality.code
    frame, grocery, fuel, unmatched = _agents(agents, index, municipality, rules, log,
                                              grocery_patterns, fuel_patterns)
    pharmacy = _pharmacies(pharmacies, index, municipality, rules, log)
    existing = pd.concat([frame, pharmacy], ignore_index=True) if len(pharmacy) else frame
    if not existing["services"].str.contains("groceries").any():
        log.add(code, "no_grocery",
                "no agent host is recognised as a grocery store: the register shows no grocery "
                "store in this municipality")
    if not existing["services"].str.contains("fuel").any():
        log.add(code, "no_fuel", "no agent host is recognised as a fuel station")
    if pharmacy.empty:
        log.add(code, "no_pharmacy",
                "the OpenStreetMap extract has no pharmacy here; it is incomplete (690 of about "
                "1,400 Swedish pharmacies), so pharmacy before-coverage is a lower bound")
    return ExistingResult(existing, grocery, fuel, unmatched)
