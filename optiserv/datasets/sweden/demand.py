"""Demand points of one municipality: its localities, and the rest spread over postal places.

The population of each SCB locality (tätort) sits at the locality's point. The rest of the
municipality's population, SCB's municipal total minus the people in localities, lives in
villages and the countryside. Without a population grid, it is spread over the GeoNames
postal places that lie outside every locality, by the rule chosen in
:class:`~optiserv.datasets.sweden.rules.PreparationRules`, in whole people, so that the
demand adds up exactly to SCB's total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from optiserv.datasets.sweden.log import PreparationLog
from optiserv.datasets.sweden.rules import Municipality, PreparationRules
from optiserv.exceptions import DataError

__all__ = [
    "ESTIMATED_ACCURACY",
    "DemandResult",
    "PopulationChoice",
    "apportion",
    "build_demand",
    "choose_population",
    "classify_postal_places",
    "locality_radius",
    "report_uncoded_postal_places",
]

ESTIMATED_ACCURACY = "1"
"""GeoNames accuracy flag of an estimated point."""


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` whole people in proportion to integer ``weights``, exactly.

    Largest-remainder (Hamilton) method in exact integer arithmetic: every share gets the
    whole part of its quota ``total · w / Σw``; the people left over go one each to the
    largest remainders, ties to the earlier position. The result adds up to ``total``.

    Parameters
    ----------
    total
        Number of people to split, ≥ 0.
    weights
        Non-negative integer weights, at least one positive.
    """
    if total < 0:
        raise DataError(f"cannot split a negative number of people ({total})")
    weights = [int(w) for w in weights]
    if not weights or min(weights) < 0 or sum(weights) == 0:
        raise DataError(f"cannot split {total} people over weights {weights}")
    weight_sum = sum(weights)
    shares = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    left = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda k: (-remainders[k], k))
    for k in order[:left]:
        shares[k] += 1
    return shares


def locality_radius(area_hectares: np.ndarray, rules: PreparationRules) -> np.ndarray:
    """Radius in metres within which a point counts as inside a locality.

    ``factor · sqrt(area · 10⁴ / π) + margin``: the radius of a circle with the locality's
    land area, scaled, plus the margin for coarse coordinates.
    """
    equivalent = np.sqrt(np.asarray(area_hectares, float) * 1e4 / np.pi)
    return rules.locality_radius_factor * equivalent + rules.locality_radius_margin


@dataclass(frozen=True)
class PopulationChoice:
    """The municipal total used.

    Attributes
    ----------
    total
        Registered population on 31 December of ``year`` (people).
    year
        Reference year.
    source
        Where the figure was read (the population file's ``source``).
    available_years
        Every year the population file has for this municipality.
    """

    total: int
    year: int
    source: str
    available_years: tuple[int, ...]


def choose_population(
    population: pd.DataFrame,
    municipality: Municipality,
    rules: PreparationRules,
    log: PreparationLog,
) -> PopulationChoice:
    """The preferred year's total when present, otherwise the latest year's."""
    rows = population[population["code"] == municipality.code]
    if rows.empty:
        raise DataError(
            f"population file: no total for {municipality.code} {municipality.name}"
        )
    years = tuple(sorted(int(y) for y in rows["year"]))
    if len(set(years)) != len(years):
        raise DataError(f"population file: {municipality.code} has repeated years {years}")
    preferred = rows[rows["year"] == rules.preferred_population_year]
    row = preferred.iloc[0] if not preferred.empty else rows.loc[rows["year"].idxmax()]
    choice = PopulationChoice(int(row["population"]), int(row["year"]), str(row["source"]),
                              years)
    if choice.year != rules.locality_year:
        log.add(
            municipality.code,
            "population_year",
            f"no {rules.preferred_population_year} total; used {choice.year} "
            f"({choice.total} people, {choice.source}) against {rules.locality_year} "
            f"localities, so the rest outside localities also absorbs the localities' change "
            f"{rules.locality_year}-{choice.year}",
        )
    return choice


def _postal_codes(count: int) -> str:
    return f"{count} postal code{'' if count == 1 else 's'}"


def _group_names(names: pd.Series) -> str:
    seen: dict[str, str] = {}
    for name in sorted(names, key=lambda n: (n.casefold(), n)):
        seen.setdefault(name.casefold(), name)
    return "/".join(seen.values())


def classify_postal_places(
    postal_places: pd.DataFrame,
    localities: pd.DataFrame,
    border: shapely.Geometry,
    municipality: Municipality,
    rules: PreparationRules,
    log: PreparationLog,
) -> pd.DataFrame:
    """The municipality's distinct postal places, each marked inside or outside localities.

    Postal codes without coordinates, and (unless ``use_estimated_postal_points``) those
    whose point is estimated, are logged and left out. Postal codes sharing one point are
    one place. A place is *used* when its point lies
    inside the municipality's border or within ``boundary_tolerance`` of it; it is *inside* a
    locality by the radius rule (:func:`locality_radius`, any locality in Sweden) or the name
    rule (same name as a locality of this municipality).

    Returns
    -------
    pandas.DataFrame
        One row per used place: ``id`` (``postal-`` and its lowest postal code), ``name``
        (names at the point joined by ``/``), ``postal_codes`` (joined by ``;``), ``count``
        (number of postal codes), ``x``, ``y``, ``locality`` (code of the locality it lies
        in, empty when outside every locality), ``rule`` (``radius``, ``name`` or empty).
    """
    code = municipality.code
    rows = postal_places[postal_places["municipality"] == code]
    no_point = rows[~np.isfinite(rows["x"].to_numpy())]
    if not no_point.empty:
        log.add(code, "postal_without_coordinates",
                f"{_postal_codes(len(no_point))} without coordinates, not used: "
                + ", ".join(sorted(no_point["postal_code"])))
    rows = rows[np.isfinite(rows["x"].to_numpy())]
    if not rules.use_estimated_postal_points:
        estimated = rows[rows["accuracy"] == ESTIMATED_ACCURACY].sort_values("postal_code")
        if not estimated.empty:
            listed = ", ".join(f"{c} {n}" for c, n in zip(
                estimated["postal_code"], estimated["place_name"], strict=True))
            log.add(code, "postal_point_estimated",
                    f"{_postal_codes(len(estimated))}: point flagged by GeoNames as estimated "
                    f"(accuracy {ESTIMATED_ACCURACY}); not used: {listed}")
        rows = rows[rows["accuracy"] != ESTIMATED_ACCURACY]
    groups = []
    for (_, _), group in rows.groupby(["latitude_text", "longitude_text"], sort=True):
        codes = sorted(group["postal_code"])
        groups.append({
            "id": "postal-" + codes[0].replace(" ", ""),
            "name": _group_names(group["place_name"]),
            "postal_codes": ";".join(codes),
            "count": len(codes),
            "x": float(group["x"].iloc[0]),
            "y": float(group["y"].iloc[0]),
        })
    places = pd.DataFrame(groups, columns=["id", "name", "postal_codes", "count", "x", "y"])
    places = places.sort_values("id", kind="stable").reset_index(drop=True)

    points = shapely.points(places["x"].to_numpy(float), places["y"].to_numpy(float))
    distance = shapely.distance(border, points) if len(places) else np.zeros(0)
    outside_border = np.asarray(distance) > rules.boundary_tolerance
    for k in np.flatnonzero(outside_border):
        place = places.iloc[k]
        log.add(code, "postal_outside_municipality",
                f"{place['id']} {place['name']!r} ({_postal_codes(place['count'])}) is coded "
                f"{code} but its point lies {distance[k] / 1000:.1f} km outside the border; "
                "not used")
    places = places[~outside_border].reset_index(drop=True)

    radius = locality_radius(localities["area"].to_numpy(float), rules)
    locality_x = localities["x"].to_numpy(float)
    locality_y = localities["y"].to_numpy(float)
    own = localities[localities["municipality"] == code]
    own_names = {name.casefold(): (c, x, y, r) for name, c, x, y, r in zip(
        own["name"], own["code"], own["x"], own["y"],
        locality_radius(own["area"].to_numpy(float), rules), strict=True)}
    inside_code: list[str] = []
    inside_rule: list[str] = []
    for place in places.itertuples(index=False):
        ratio = np.hypot(locality_x - place.x, locality_y - place.y) / radius
        nearest = int(np.argmin(ratio))
        if ratio[nearest] <= 1.0:
            inside_code.append(str(localities["code"].iloc[nearest]))
            inside_rule.append("radius")
            continue
        named = [own_names[n.casefold()] for n in place.name.split("/")
                 if rules.match_locality_names and n.casefold() in own_names]
        if named:
            locality_code, x, y, r = named[0]
            inside_code.append(str(locality_code))
            inside_rule.append("name")
            log.add(code, "postal_place_far_from_namesake",
                    f"{place.id} {place.name!r} lies {np.hypot(x - place.x, y - place.y):.0f} m "
                    f"from the point of locality {locality_code} (radius {r:.0f} m); "
                    "treated as that locality by the name rule")
            continue
        inside_code.append("")
        inside_rule.append("")
    places["locality"] = inside_code
    places["rule"] = inside_rule
    return places


def report_uncoded_postal_places(
    postal_places: pd.DataFrame,
    borders: dict[str, tuple[str, shapely.Geometry]],
    municipalities: Sequence[Municipality],
    log: PreparationLog,
) -> None:
    """Log the postal codes without coordinates or without a municipality code, and those
    without a code that lie in a project municipality (not used: the official code decides).
    """
    without_point = int((~np.isfinite(postal_places["x"].to_numpy())).sum())
    log.add("all", "postal_without_coordinates",
            f"{without_point} of {len(postal_places)} GeoNames postal codes have no coordinates"
            + ("; they are not used" if without_point else ""))
    uncoded = postal_places[postal_places["municipality"] == ""]
    located = uncoded[np.isfinite(uncoded["x"].to_numpy())]
    log.add("all", "postal_without_municipality",
            f"{len(uncoded)} of {len(postal_places)} GeoNames postal codes have no municipality "
            "code; they are not used")
    for municipality in municipalities:
        border = borders[municipality.code][1]
        inside = shapely.contains_xy(border, located["x"].to_numpy(float),
                                     located["y"].to_numpy(float))
        if inside.any():
            hits = located[inside].sort_values("postal_code")
            listed = ", ".join(f"{c} {n}" for c, n in zip(hits["postal_code"], hits["place_name"],
                                                          strict=True))
            log.add(municipality.code, "postal_without_municipality",
                    f"{_postal_codes(len(hits))} without a municipality code inside the "
                    f"border (not used): {listed}")


@dataclass(frozen=True, eq=False)
class DemandResult:
    """Demand points of one municipality and how they were made.

    Attributes
    ----------
    demand
        ``id, x, y, weight, kind, name, locality_population, spread_population, source_ids``;
        ``weight`` is people (locality population plus the spread share).
    locality_population
        People in the municipality's localities (SCB, ``locality_year``).
    rest
        Total minus ``locality_population``: the people spread.
    carriers
        Ids of the demand points that received the rest.
    fallback
        True when no postal place lay outside the localities and the rest went to the
        localities (``rest_fallback``).
    """

    demand: pd.DataFrame
    locality_population: int
    rest: int
    carriers: tuple[str, ...]
    fallback: bool


def build_demand(
    localities: pd.DataFrame,
    places: pd.DataFrame,
    population: PopulationChoice,
    municipality: Municipality,
    rules: PreparationRules,
    log: PreparationLog,
) -> DemandResult:
    """Demand points whose weights add up exactly to ``population.total``.

    Parameters
    ----------
    localities
        All localities (tätorter); this municipality's are selected by code.
    places
        This municipality's postal places from :func:`classify_postal_places`.
    population
        The municipal total used.
    """
    code = municipality.code
    own = localities[localities["municipality"] == code].sort_values("code", kind="stable")
    locality_population = int(own["population"].sum())
    rest = population.total - locality_population
    if rest < 0:
        raise DataError(
            f"{code} {municipality.name}: the localities hold {locality_population} people, "
            f"more than the municipal total {population.total} ({population.year})"
        )
    frame = pd.DataFrame({
        "id": "tatort-" + own["code"],
        "x": own["x"].to_numpy(float),
        "y": own["y"].to_numpy(float),
        "kind": "locality",
        "name": own["name"].to_numpy(),
        "locality_population": own["population"].to_numpy(np.int64),
        "spread_population": np.zeros(len(own), np.int64),
        "source_ids": own["code"].to_numpy(),
    })
    outside = places[places["locality"] == ""]
    fallback = outside.empty
    if not fallback:
        carriers = pd.DataFrame({
            "id": outside["id"].to_numpy(),
            "x": outside["x"].to_numpy(float),
            "y": outside["y"].to_numpy(float),
            "kind": "postal_place",
            "name": outside["name"].to_numpy(),
            "locality_population": np.zeros(len(outside), np.int64),
            "spread_population": np.zeros(len(outside), np.int64),
            "source_ids": outside["postal_codes"].to_numpy(),
        })
        weights = (outside["count"].tolist() if rules.rest_spread == "postal_codes"
                   else [1] * len(outside))
        carriers["spread_population"] = np.asarray(apportion(rest, weights), np.int64)
        frame = pd.concat([frame, carriers], ignore_index=True)
        carrier_ids = tuple(carriers["id"])
    else:
        if own.empty:
            raise DataError(f"{code} {municipality.name}: no locality and no postal place "
                            "outside localities to carry the population")
        weights = (own["population"].tolist() if rules.rest_fallback == "localities_population"
                   else [1] * len(own))
        frame["spread_population"] = np.asarray(apportion(rest, weights), np.int64)
        carrier_ids = tuple(frame["id"])
        log.add(code, "no_postal_place_outside_localities",
                f"no usable postal place lies outside the localities; the {rest} people outside "
                f"localities were spread over the {len(own)} localities ({rules.rest_fallback})")
    frame["weight"] = frame["locality_population"] + frame["spread_population"]
    if int(frame["weight"].sum()) != population.total:  # guaranteed by apportion; kept as a check
        raise DataError(f"{code}: demand adds up to {int(frame['weight'].sum())}, "
                        f"not {population.total}")
    columns = ["id", "x", "y", "weight", "kind", "name", "locality_population",
               "spread_population", "source_ids"]
    return DemandResult(frame[columns], locality_population, rest, carrier_ids, fallback)
