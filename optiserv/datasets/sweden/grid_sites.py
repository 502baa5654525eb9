"""Candidate sites for a national grid: existing service points, localities, populated cells.

Points are taken in a fixed order and merged by cell of the population grid (one site per
cell, at the coordinates of its first point, with the union of the services):

1. existing service points from the registers, as in :mod:`~.existing` but nationwide and
   without the per-municipality checks: PTS postal agents of ``parcel_agent_types`` (parcels;
   groceries or fuel when the host name says so, :mod:`~.names`) and other agents whose host
   is a grocery store or fuel station, by register id; then OpenStreetMap pharmacies
   (pharmacy), by node id. Cash has no open register: no site offers it here;
2. SCB locality points, by locality code, in cells without a site;
3. populated cells without a site, drawn without replacement with probability proportional
   to √population (deterministic for the seed) until there are ``n_sites`` sites.

Step 3 is synthetic: the cells stand for buildings where a new point could open.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from optiserv.datasets.sweden.grid import PopulationGrid, cell_keys
from optiserv.datasets.sweden.names import is_fuel_host, is_grocery_host
from optiserv.datasets.sweden.raw import RawData
from optiserv.datasets.sweden.rules import PARCEL_AGENT_TYPES, SERVICES
from optiserv.exceptions import ParameterError

__all__ = ["KINDS", "GridSites", "grid_sites", "grid_sites_from_raw", "register_points"]

KINDS: tuple[str, ...] = ("existing", "locality", "cell")
"""Site kinds, in the order they are taken."""


@dataclass(frozen=True, eq=False)
class GridSites:
    """Candidate sites.

    Attributes
    ----------
    x, y
        (m,) EPSG:3006 metres.
    kind
        (m,) index into :data:`KINDS`; sites are ordered by kind.
    offers
        (m, 5) bool: the site offers the service of :data:`~.rules.SERVICES` today, by the
        registers (all False outside kind ``existing``).
    """

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    kind: NDArray[np.int64]
    offers: NDArray[np.bool_]

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return int(self.x.size)


def register_points(agents: pd.DataFrame, pharmacies: pd.DataFrame,
                    parcel_agent_types: tuple[str, ...] = PARCEL_AGENT_TYPES
                    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """(p, 2) points and (p, 5) offers of the register rows that offer a service.

    Agents by register id, then pharmacies (``amenity == "pharmacy"``) by node id.
    """
    agents = agents.sort_values("register_id", kind="stable")
    grocery = np.array([is_grocery_host(h) for h in agents["host"]], dtype=bool)
    fuel = np.array([is_fuel_host(h) for h in agents["host"]], dtype=bool)
    parcels = agents["agent_type"].isin(parcel_agent_types).to_numpy()
    agent_offers = np.zeros((len(agents), len(SERVICES)), dtype=bool)
    agent_offers[:, SERVICES.index("groceries")] = grocery
    agent_offers[:, SERVICES.index("fuel")] = fuel
    agent_offers[:, SERVICES.index("parcels")] = parcels
    keep = agent_offers.any(axis=1)
    pharmacy = pharmacies[pharmacies["amenity"] == "pharmacy"].sort_values("register_id",
                                                                           kind="stable")
    pharmacy_offers = np.zeros((len(pharmacy), len(SERVICES)), dtype=bool)
    pharmacy_offers[:, SERVICES.index("pharmacy")] = True
    points = np.vstack([agents[["x", "y"]].to_numpy(float)[keep],
                        pharmacy[["x", "y"]].to_numpy(float)])
    return points, np.vstack([agent_offers[keep], pharmacy_offers])


def grid_sites(
    points: NDArray[np.float64],
    offers: NDArray[np.bool_],
    localities: pd.DataFrame,
    grid: PopulationGrid,
    *,
    n_sites: int,
    seed: int = 0,
) -> GridSites:
    """Merge register points and localities by cell, then fill with populated cells.

    Parameters
    ----------
    points, offers
        Existing service points and their services (:func:`register_points`).
    localities
        ``code, x, y`` of the SCB localities.
    grid
        The population grid (its cell size and populated cells).
    n_sites
        Number of sites wanted; at least the existing points and localities after merging.
    seed
        Seed of the draw of cells.
    """
    cell = grid.cell_size
    existing_keys = cell_keys(points[:, 0], points[:, 1], cell)
    unique_keys, first, inverse = np.unique(existing_keys, return_index=True,
                                            return_inverse=True)
    order = np.argsort(first, kind="stable")  # sites in order of their first point
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    merged = np.zeros((unique_keys.size, offers.shape[1]), dtype=bool)
    np.logical_or.at(merged, rank[inverse.ravel()], offers)
    xs = [points[first[order], 0]]
    ys = [points[first[order], 1]]
    taken = set(unique_keys.tolist())

    ordered = localities.sort_values("code", kind="stable")
    locality_keys = cell_keys(ordered["x"].to_numpy(float), ordered["y"].to_numpy(float), cell)
    new_locality = []
    for k, key in enumerate(locality_keys.tolist()):
        if key not in taken:
            taken.add(key)
            new_locality.append(k)
    xs.append(ordered["x"].to_numpy(float)[new_locality])
    ys.append(ordered["y"].to_numpy(float)[new_locality])

    fixed = unique_keys.size + len(new_locality)
    if n_sites < fixed:
        raise ParameterError(f"grid sites: n_sites={n_sites} is below the {fixed} existing "
                             "points and localities")
    grid_keys = cell_keys(grid.x, grid.y, cell)
    free = np.flatnonzero(~np.isin(grid_keys, np.fromiter(taken, np.int64, len(taken))))
    wanted = min(n_sites - fixed, free.size)
    chance = np.sqrt(grid.population[free].astype(float))
    rng = np.random.default_rng(seed)
    drawn = np.sort(rng.choice(free, wanted, replace=False, p=chance / chance.sum()))
    xs.append(grid.x[drawn])
    ys.append(grid.y[drawn])
    kind = np.repeat(np.arange(3), [unique_keys.size, len(new_locality), wanted])
    all_offers = np.zeros((kind.size, offers.shape[1]), dtype=bool)
    all_offers[: unique_keys.size] = merged
    return GridSites(np.concatenate(xs), np.concatenate(ys), kind, all_offers)


def grid_sites_from_raw(raw: RawData, grid: PopulationGrid, *, n_sites: int, seed: int = 0
                        ) -> GridSites:
    """:func:`grid_sites` on the registers and localities of :func:`~.raw.read_raw_data`."""
    points, offers = register_points(raw.agents, raw.pharmacies)
    return grid_sites(points, offers, raw.localities, grid, n_sites=n_sites, seed=seed)
