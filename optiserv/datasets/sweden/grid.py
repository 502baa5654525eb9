"""Population spread over a regular grid of square cells (250 m by default), for all of Sweden.

The national service analysis counts people in 250 m cells. SCB's population grid is not in
the shared data, so this module builds a *synthetic* grid with the spatial structure of
Sweden from what is there: SCB localities (tätorter, population and land area, 2020), the
SCB municipal totals (only for part of the country), the GeoNames postal places and the SCB
municipal borders. All coordinates are SWEREF99 TM (EPSG:3006) metres.

Method (every random draw comes from one ``numpy.random.default_rng(seed)``, in a fixed order,
so the grid is deterministic for a seed):

1. **Localities.** Each of the P_l people of locality l is placed uniformly at random in the
   disc of the locality's land area around its point: radius ρ_l = √(A_l · 10⁴ / π) for A_l
   in hectares (uniform in a disc: r = ρ_l √U, angle 2πV).
2. **Municipal remainder.** Where SCB's municipal total T_k exists (the year
   ``population_year`` when present, otherwise the latest year), the remainder
   R_k = max(0, T_k − Σ_{l in k} P_l) lives outside localities. It is split into
   h_k = clamp(round(R_k / household_size), 1, R_k) households, each one point: every
   household gets one person and the other R_k − h_k people go to households uniformly at
   random. A share ``postal_share`` of the households sit in a normal cloud of standard
   deviation ``postal_spread`` around a postal place of k chosen uniformly at random among
   the distinct postal points of k that lie outside every locality (outside
   ρ_l + ``locality_margin`` of each locality point); the rest (all of them when k has no
   such place) are a sparse rural background, uniform inside k's border (rejection sampling).
3. **Municipalities without a total.** The shared data has SCB totals for only part of the
   country. Their remainder is unknown and, by default, left out: the grid then has only
   their locality population, and :attr:`PopulationGrid.without_total` lists them. Only when
   a national total N is given (``national_total``, an SCB figure) is the pool
   N − Σ_l P_l − Σ_{k with total} R_k split over those municipalities in proportion to
   1 + their number of postal places outside localities (largest remainders, whole people),
   then spread as in step 2; :attr:`PopulationGrid.estimated` lists them. That split is an
   estimate, not SCB data.
4. **Cells.** Every person or household point is snapped to the cell containing it
   (⌊x / c⌋, ⌊y / c⌋) and people in one cell are summed. A cell's municipality is the one
   that put the most people in it (ties to the lower code). A cell is kept at its centre.

What is synthetic: the position of every person and household inside its locality disc,
postal cloud or municipality; the household sizes; the split of unknown remainders. What is
SCB data: the locality points, populations and areas, the municipal totals and borders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from optiserv.datasets.sweden.demand import apportion
from optiserv.datasets.sweden.raw import RawData
from optiserv.exceptions import DataError, ParameterError

__all__ = ["GridRules", "PopulationGrid", "cell_keys", "spread_population",
           "spread_population_from_raw"]

_ROW_BITS = 22
"""Bits of the row index ⌊y / c⌋ in a cell key (4·10⁶ rows: 10⁹ m at c = 250 m)."""


@dataclass(frozen=True, kw_only=True)
class GridRules:
    """The parameters of the spread (see the module docstring).

    Parameters
    ----------
    cell_size
        Cell side c in metres.
    population_year
        Preferred year of the municipal totals (the localities' year, 2020).
    household_size
        Mean people per household outside localities.
    postal_share
        Share of the households outside localities placed around postal places, in [0, 1].
    postal_spread
        Standard deviation, metres, of the normal cloud around a postal place.
    locality_margin
        Metres added to a locality's radius when deciding that a postal place is inside it.
    national_total
        SCB's national population (people) to estimate the remainder of municipalities
        without a total; ``None`` leaves it out.
    seed
        Seed of the random generator.
    """

    cell_size: float = 250.0
    population_year: int = 2020
    household_size: float = 2.2
    postal_share: float = 0.3
    postal_spread: float = 3000.0
    locality_margin: float = 1000.0
    national_total: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("cell_size", "household_size", "postal_spread"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise ParameterError(f"grid rules: {name} must be a positive number, "
                                     f"got {getattr(self, name)!r}")
        if not 0.0 <= float(self.postal_share) <= 1.0:
            raise ParameterError(f"grid rules: postal_share must be in [0, 1], "
                                 f"got {self.postal_share!r}")
        if not (math.isfinite(self.locality_margin) and self.locality_margin >= 0):
            raise ParameterError(f"grid rules: locality_margin must be ≥ 0, "
                                 f"got {self.locality_margin!r}")
        if self.national_total is not None and int(self.national_total) < 0:
            raise ParameterError(f"grid rules: national_total must be ≥ 0, "
                                 f"got {self.national_total!r}")


@dataclass(frozen=True, eq=False)
class PopulationGrid:
    """Populated cells.

    Attributes
    ----------
    x, y
        (n,) cell centres, EPSG:3006 metres.
    population
        (n,) people in the cell (≥ 1).
    locality_population
        (n,) of which placed from localities (step 1); the rest is from remainders.
    municipality
        (n,) code of the municipality that put the most people in the cell.
    cell_size
        Cell side, metres.
    with_total
        Municipalities whose remainder comes from an SCB total.
    estimated
        Municipalities whose remainder was estimated from the national total (step 3).
    without_total
        Municipalities without a total whose remainder is left out.
    notes
        What was found and done, one sentence each (negative remainders, missing postal
        places, the pool of step 3).
    """

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    population: NDArray[np.int64]
    locality_population: NDArray[np.int64]
    municipality: NDArray[np.object_]
    cell_size: float
    with_total: tuple[str, ...]
    estimated: tuple[str, ...]
    without_total: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def n_cells(self) -> int:
        """Number of populated cells."""
        return int(self.population.size)

    @property
    def total(self) -> int:
        """People in the grid."""
        return int(self.population.sum())


def cell_keys(x: NDArray[np.float64], y: NDArray[np.float64], cell_size: float
              ) -> NDArray[np.int64]:
    """Integer key of the cell holding each point: (⌊x / c⌋ << 22) + ⌊y / c⌋.

    Valid for 0 ≤ y < c · 2²² and x ≥ 0, which holds for SWEREF99 TM in Sweden.
    """
    column = np.floor(np.asarray(x, float) / cell_size).astype(np.int64)
    row = np.floor(np.asarray(y, float) / cell_size).astype(np.int64)
    if column.size and (column.min() < 0 or row.min() < 0 or row.max() >= 1 << _ROW_BITS):
        raise DataError("grid: a point lies outside the range of cell keys (negative or too "
                        "far north); are the coordinates EPSG:3006 metres?")
    return (column << _ROW_BITS) + row


def _cell_centres(keys: NDArray[np.int64], cell_size: float
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    column = keys >> _ROW_BITS
    row = keys & ((1 << _ROW_BITS) - 1)
    return ((column + 0.5) * cell_size).astype(np.float64), ((row + 0.5) * cell_size).astype(
        np.float64)


def _disc(rng: np.random.Generator, centre_x: NDArray[np.float64], centre_y: NDArray[np.float64],
          radius: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One uniform point in the disc of each (centre, radius)."""
    distance = radius * np.sqrt(rng.random(radius.size))
    angle = 2.0 * np.pi * rng.random(radius.size)
    return centre_x + distance * np.cos(angle), centre_y + distance * np.sin(angle)


def _inside(rng: np.random.Generator, border: shapely.Geometry, count: int
            ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``count`` points uniform inside ``border`` (rejection sampling in its bounding box)."""
    min_x, min_y, max_x, max_y = shapely.bounds(border)
    share = max(float(shapely.area(border)) / ((max_x - min_x) * (max_y - min_y)), 0.01)
    xs: list[NDArray[np.float64]] = []
    ys: list[NDArray[np.float64]] = []
    found = 0
    while found < count:
        draws = int((count - found) / share * 1.2) + 16
        x = min_x + (max_x - min_x) * rng.random(draws)
        y = min_y + (max_y - min_y) * rng.random(draws)
        keep = shapely.contains_xy(border, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
        found += int(keep.sum())
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]


def _chosen_totals(totals: pd.DataFrame, year: int) -> dict[str, int]:
    """Municipality code → total of ``year`` when present, otherwise of the latest year."""
    chosen: dict[str, int] = {}
    for code, rows in totals.groupby("code", sort=True):
        preferred = rows[rows["year"] == year]
        row = preferred.iloc[0] if not preferred.empty else rows.loc[rows["year"].idxmax()]
        chosen[str(code)] = int(row["population"])
    return chosen


def _outside_places(postal_places: pd.DataFrame, localities: pd.DataFrame,
                    borders: dict[str, tuple[str, shapely.Geometry]], margin: float
                    ) -> dict[str, NDArray[np.float64]]:
    """Municipality code → (p, 2) distinct postal points outside every locality.

    A postal point belongs to the municipality whose border contains it, else to its GeoNames
    code; a point is inside a locality when within ρ_l + ``margin`` of its point.
    """
    known = postal_places[np.isfinite(postal_places["x"].to_numpy(float))]
    points = known.drop_duplicates(["x", "y"])[["x", "y", "municipality"]]
    xy = points[["x", "y"]].to_numpy(float)
    if not len(xy):
        return {}
    radius = np.sqrt(localities["area"].to_numpy(float) * 1e4 / np.pi) + margin
    centres = localities[["x", "y"]].to_numpy(float)
    inside = np.zeros(len(xy), dtype=bool)
    if len(centres):
        tree = cKDTree(xy)
        for centre, reach in zip(centres, radius, strict=True):
            inside[tree.query_ball_point(centre, reach)] = True
    codes = sorted(borders)
    located = np.asarray(points["municipality"].to_numpy(), dtype=object).copy()
    tree_of_borders = shapely.STRtree([borders[c][1] for c in codes])
    point_index, border_index = tree_of_borders.query(shapely.points(xy), predicate="within")
    located[point_index] = np.asarray(codes, dtype=object)[border_index]
    out: dict[str, NDArray[np.float64]] = {}
    for code in codes:
        mine = (located == code) & ~inside
        if mine.any():
            out[code] = xy[mine]
    return out


def _households(rng: np.random.Generator, people: int, size: float) -> NDArray[np.int64]:
    """Household sizes adding up to ``people``: one each, the rest uniformly at random."""
    count = min(people, max(1, round(people / size)))
    return 1 + np.bincount(rng.integers(0, count, people - count), minlength=count)


def spread_population(
    localities: pd.DataFrame,
    totals: pd.DataFrame,
    postal_places: pd.DataFrame,
    borders: dict[str, tuple[str, shapely.Geometry]],
    rules: GridRules | None = None,
) -> PopulationGrid:
    """Spread the population over cells (method in the module docstring).

    Parameters
    ----------
    localities
        ``municipality, area`` (hectares), ``population, x, y`` (as
        :attr:`RawData.localities`).
    totals
        SCB municipal totals ``code, population, year`` (as :attr:`RawData.population`).
    postal_places
        ``municipality, x, y`` (NaN when unknown), as :attr:`RawData.postal_places`.
    borders
        Municipality code → (name, polygon in EPSG:3006).
    rules
        The parameters; default :class:`GridRules`.
    """
    rules = rules or GridRules()
    rng = np.random.default_rng(rules.seed)
    codes = sorted(borders)
    code_index = {code: k for k, code in enumerate(codes)}
    unknown = sorted(set(localities["municipality"]) - set(code_index))
    if unknown:
        raise DataError(f"grid: localities in municipalities without a border: {unknown[:5]}")
    notes: list[str] = []

    # step 1: people of localities, uniform in the disc of the land area
    people = localities["population"].to_numpy(np.int64)
    radius = np.sqrt(localities["area"].to_numpy(float) * 1e4 / np.pi)
    owner = np.repeat(localities["municipality"].map(code_index).to_numpy(np.int64), people)
    x, y = _disc(rng, np.repeat(localities["x"].to_numpy(float), people),
                 np.repeat(localities["y"].to_numpy(float), people), np.repeat(radius, people))
    parts = [(cell_keys(x, y, rules.cell_size), owner, np.ones(owner.size, np.int64), True)]
    del x, y

    # steps 2 and 3: remainders outside localities
    chosen = {c: t for c, t in _chosen_totals(totals, rules.population_year).items()
              if c in code_index}
    in_localities = localities.groupby("municipality")["population"].sum()
    remainder: dict[str, int] = {}
    for code, total in chosen.items():
        rest = total - int(in_localities.get(code, 0))
        if rest < 0:
            notes.append(f"{code}: the SCB total {total} is below its locality population "
                         f"{int(in_localities.get(code, 0))}; no remainder")
        remainder[code] = max(rest, 0)
    places = _outside_places(postal_places, localities, borders, rules.locality_margin)
    missing = [c for c in codes if c not in chosen]
    estimated: list[str] = []
    if rules.national_total is not None and missing:
        pool = int(rules.national_total) - int(people.sum()) - sum(remainder.values())
        if pool < 0:
            raise DataError(f"grid: national total {rules.national_total} is below the people "
                            f"already placed ({int(people.sum()) + sum(remainder.values())})")
        weights = [1 + len(places.get(c, ())) for c in missing]
        for code, share in zip(missing, apportion(pool, weights), strict=True):
            remainder[code] = share
        estimated = missing
        notes.append(f"{len(missing)} municipalities without an SCB total share an estimated "
                     f"{pool} people (national total minus localities and known remainders), "
                     "in proportion to 1 + their postal places outside localities")
    elif missing:
        notes.append(f"{len(missing)} municipalities have no SCB total: only their locality "
                     "population is in the grid")
    for code in sorted(remainder):
        rest = remainder[code]
        if rest == 0:
            continue
        sizes = _households(rng, rest, rules.household_size)
        own_places = places.get(code)
        near_post = 0 if own_places is None else round(sizes.size * rules.postal_share)
        if own_places is None:
            notes.append(f"{code}: no postal place outside localities; its remainder is all "
                         "rural background")
        chosen_place = rng.integers(0, 1 if own_places is None else len(own_places), near_post)
        post_xy = (np.zeros((0, 2)) if own_places is None else own_places[chosen_place]
                   + rng.normal(0.0, rules.postal_spread, (near_post, 2)))
        background_x, background_y = _inside(rng, borders[code][1], sizes.size - near_post)
        hx = np.concatenate([post_xy[:, 0], background_x])
        hy = np.concatenate([post_xy[:, 1], background_y])
        parts.append((cell_keys(hx, hy, rules.cell_size),
                      np.full(sizes.size, code_index[code], np.int64), sizes, False))

    # step 4: merge into cells
    keys = np.concatenate([p[0] for p in parts])
    owners = np.concatenate([p[1] for p in parts])
    counts = np.concatenate([p[2] for p in parts])
    from_locality = np.concatenate([np.full(p[0].size, p[3]) for p in parts])
    del parts
    combined = keys * len(codes) + owners
    pairs, inverse = np.unique(combined, return_inverse=True)
    pair_people = np.bincount(inverse, weights=counts).astype(np.int64)
    pair_cell = pairs // len(codes)
    pair_owner = pairs % len(codes)
    cells, cell_of_pair = np.unique(pair_cell, return_inverse=True)
    population = np.bincount(cell_of_pair, weights=pair_people).astype(np.int64)
    locality_people = np.bincount(inverse, weights=counts * from_locality, minlength=pairs.size)
    locality_population = np.bincount(cell_of_pair, weights=locality_people).astype(np.int64)
    # the owner with most people per cell, ties to the lower code (pairs are sorted by owner)
    order = np.lexsort((pair_owner, -pair_people, cell_of_pair))
    first = order[np.r_[True, cell_of_pair[order][1:] != cell_of_pair[order][:-1]]]
    cell_x, cell_y = _cell_centres(cells, rules.cell_size)
    with_total = tuple(sorted(chosen))
    return PopulationGrid(
        x=cell_x,
        y=cell_y,
        population=population,
        locality_population=locality_population,
        municipality=np.asarray(codes, dtype=object)[pair_owner[first]],
        cell_size=float(rules.cell_size),
        with_total=with_total,
        estimated=tuple(estimated),
        without_total=tuple(c for c in missing if c not in estimated),
        notes=tuple(notes),
    )


def spread_population_from_raw(raw: RawData, rules: GridRules | None = None) -> PopulationGrid:
    """:func:`spread_population` on the tables of :func:`~.raw.read_raw_data`."""
    return spread_population(raw.localities, raw.population, raw.postal_places, raw.borders,
                             rules)
