"""The national population grid and its candidate sites, on small hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from optiserv.datasets.sweden.grid import (
    GridRules,
    PopulationGrid,
    cell_keys,
    spread_population,
)
from optiserv.datasets.sweden.grid_sites import grid_sites, register_points
from optiserv.datasets.sweden.rules import SERVICES
from optiserv.exceptions import DataError, ParameterError

X0, Y0 = 500_000.0, 6_500_000.0  # a corner in SWEREF99 TM
SIDE = 20_000.0


def _borders() -> dict[str, tuple[str, shapely.Geometry]]:
    west = shapely.box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    east = shapely.box(X0 + SIDE, Y0, X0 + 2 * SIDE, Y0 + SIDE)
    return {"0001": ("West", west), "0002": ("East", east)}


def _localities() -> pd.DataFrame:
    return pd.DataFrame({
        "code": ["T1", "T2", "T3"],
        "name": ["Westby", "Lillby", "Eastby"],
        "municipality": ["0001", "0001", "0002"],
        "area": [300.0, 50.0, 120.0],  # hectares
        "population": [3000, 400, 1500],
        "x": [X0 + 5_000.0, X0 + 15_000.0, X0 + 30_000.0],
        "y": [Y0 + 5_000.0, Y0 + 15_000.0, Y0 + 10_000.0],
    })


def _totals(*, east: bool = True) -> pd.DataFrame:
    rows = [("0001", 5000, 2020), ("0001", 5200, 2024)]
    if east:
        rows.append(("0002", 2500, 2024))
    return pd.DataFrame(rows, columns=["code", "population", "year"])


def _postal_places() -> pd.DataFrame:
    return pd.DataFrame({
        "municipality": ["0001", "0001", "", "0002"],
        "x": [X0 + 12_000.0, X0 + 5_100.0, X0 + 35_000.0, np.nan],
        "y": [Y0 + 3_000.0, Y0 + 5_100.0, Y0 + 17_000.0, np.nan],
    })


def _grid(**changes: object) -> PopulationGrid:
    totals = changes.pop("totals", _totals())
    return spread_population(_localities(), totals, _postal_places(), _borders(),
                             GridRules(**changes))


def test_people_add_up_to_the_totals_and_localities() -> None:
    grid = _grid()
    assert grid.total == 5000 + 2500  # 0001 uses 2020, 0002 its only year
    assert int(grid.locality_population.sum()) == 3000 + 400 + 1500
    assert (grid.population >= 1).all()
    assert (grid.locality_population <= grid.population).all()
    assert grid.with_total == ("0001", "0002")
    assert grid.without_total == () and grid.estimated == ()


def test_cells_are_distinct_centres_of_the_grid() -> None:
    grid = _grid(cell_size=250.0)
    assert np.allclose((grid.x - 125.0) % 250.0, 0.0)
    assert np.allclose((grid.y - 125.0) % 250.0, 0.0)
    keys = cell_keys(grid.x, grid.y, 250.0)
    assert np.unique(keys).size == grid.n_cells


def test_locality_people_lie_in_the_disc_of_its_area() -> None:
    localities = _localities().iloc[[0]]
    totals = pd.DataFrame({"code": ["0001"], "population": [3000], "year": [2020]})
    grid = spread_population(localities, totals, _postal_places(), _borders(), GridRules())
    radius = np.sqrt(300.0 * 1e4 / np.pi)
    distance = np.hypot(grid.x - (X0 + 5_000.0), grid.y - (Y0 + 5_000.0))
    assert distance.max() <= radius + 250.0 * np.sqrt(2) / 2
    assert grid.total == 3000 and (grid.locality_population == grid.population).all()


def test_rural_people_stay_near_their_municipality() -> None:
    grid = _grid(postal_share=0.0)
    rural = grid.locality_population == 0
    west = grid.municipality == "0001"
    assert (grid.x[rural & west] <= X0 + SIDE + 125.0).all()
    assert (grid.x[rural & ~west] >= X0 + SIDE - 125.0).all()
    assert ((grid.y[rural] > Y0) & (grid.y[rural] < Y0 + SIDE)).all()


def test_deterministic_for_a_seed() -> None:
    first, again, other = _grid(seed=3), _grid(seed=3), _grid(seed=4)
    assert np.array_equal(first.x, again.x) and np.array_equal(first.population,
                                                                again.population)
    assert not (first.n_cells == other.n_cells and np.array_equal(first.x, other.x))


def test_missing_totals_are_flagged_not_guessed() -> None:
    grid = _grid(totals=_totals(east=False))
    assert grid.without_total == ("0002",) and grid.estimated == ()
    assert grid.total == 5000 + 1500
    assert any("no SCB total" in note for note in grid.notes)


def test_national_total_fills_the_missing_remainder() -> None:
    grid = _grid(totals=_totals(east=False), national_total=8000)
    assert grid.estimated == ("0002",) and grid.without_total == ()
    assert grid.total == 8000
    east = grid.municipality == "0002"
    assert int(grid.population[east].sum()) >= 8000 - 5000 - 250  # cells may mix at the border
    with pytest.raises(DataError, match="below the people"):
        _grid(totals=_totals(east=False), national_total=100)


def test_total_below_locality_population_gives_no_remainder() -> None:
    totals = pd.DataFrame({"code": ["0001", "0002"], "population": [1000, 1500],
                           "year": [2020, 2020]})
    grid = _grid(totals=totals)
    assert grid.total == 3000 + 400 + 1500
    assert any("below its locality population" in note for note in grid.notes)


def test_rules_and_keys_are_checked() -> None:
    with pytest.raises(ParameterError, match="cell_size"):
        GridRules(cell_size=0.0)
    with pytest.raises(ParameterError, match="postal_share"):
        GridRules(postal_share=1.5)
    with pytest.raises(DataError, match="outside the range"):
        cell_keys(np.array([-10.0]), np.array([5.0]), 250.0)


def _registers() -> tuple[pd.DataFrame, pd.DataFrame]:
    agents = pd.DataFrame({
        "register_id": [3, 1, 2, 4],
        "agent_type": ["Postombud", "Postombud", "Företagscenter", "Företagscenter"],
        "host": ["Preem Mack", "ICA Nära Westby", "Frisör Anna", "Coop Eastby"],
        "x": [X0 + 5_010.0, X0 + 5_020.0, X0 + 9_000.0, X0 + 30_010.0],
        "y": [Y0 + 5_010.0, Y0 + 5_020.0, Y0 + 9_000.0, Y0 + 10_010.0],
    })
    pharmacies = pd.DataFrame({
        "register_id": [7, 8],
        "amenity": ["pharmacy", "dentist"],
        "x": [X0 + 15_000.0, X0 + 16_000.0],
        "y": [Y0 + 15_000.0, Y0 + 16_000.0],
    })
    return agents, pharmacies


def test_register_points_offer_what_the_registers_say() -> None:
    points, offers = register_points(*_registers())
    column = {name: SERVICES.index(name) for name in SERVICES}
    # agents by register id (1 ICA, 3 Preem, 4 Coop; 2 a hairdresser's business centre is
    # left out), then the pharmacy (the dentist is left out)
    assert points.shape == (4, 2)
    assert offers[0, column["groceries"]] and offers[0, column["parcels"]]
    assert offers[1, column["fuel"]] and offers[1, column["parcels"]]
    assert offers[2, column["groceries"]] and not offers[2, column["parcels"]]
    assert offers[3, column["pharmacy"]] and offers[3].sum() == 1
    assert not offers[:, column["cash"]].any()


def test_sites_merge_by_cell_then_add_localities_and_cells() -> None:
    grid = _grid()
    points, offers = register_points(*_registers())
    sites = grid_sites(points, offers, _localities(), grid, n_sites=40, seed=1)
    assert sites.n_sites == 40
    # ICA and Preem share a cell: one site offering both; Westby's and Eastby's cells are
    # taken by it and Coop, Lillby's by the pharmacy: no locality site is added
    assert np.bincount(sites.kind, minlength=3).tolist() == [3, 0, 37]
    column = {name: SERVICES.index(name) for name in SERVICES}
    assert sites.offers[0, column["groceries"]] and sites.offers[0, column["fuel"]]
    assert not sites.offers[sites.kind > 0].any()
    keys = cell_keys(sites.x, sites.y, grid.cell_size)
    assert np.unique(keys).size == sites.n_sites
    again = grid_sites(points, offers, _localities(), grid, n_sites=40, seed=1)
    assert np.array_equal(sites.x, again.x) and np.array_equal(sites.y, again.y)
    with pytest.raises(ParameterError, match="n_sites"):
        grid_sites(points, offers, _localities(), grid, n_sites=2)


@pytest.mark.slow
def test_the_shared_swedish_data_spreads_into_a_national_grid() -> None:
    from pathlib import Path

    from optiserv.datasets.sweden import RAW_FILES
    from optiserv.datasets.sweden.grid import spread_population_from_raw
    from optiserv.datasets.sweden.grid_sites import grid_sites_from_raw
    from optiserv.datasets.sweden.raw import read_raw_data

    data = Path("/work/shared/data")
    if not all((data / relative).is_file() for relative in RAW_FILES.values()):
        pytest.skip("the raw Swedish data is not present")
    raw = read_raw_data(data)
    strict = spread_population_from_raw(raw)
    assert strict.total < 10_379_295 and len(strict.without_total) > 0
    assert int(strict.locality_population.sum()) == int(raw.localities["population"].sum())
    grid = spread_population_from_raw(raw, GridRules(national_total=10_379_295))
    assert grid.total == 10_379_295 and grid.without_total == ()
    assert set(grid.estimated) == set(strict.without_total)
    assert 300_000 < grid.n_cells < 900_000
    sites = grid_sites_from_raw(raw, grid, n_sites=20_000)
    assert sites.n_sites == 20_000 and sites.offers[sites.kind == 0].any(axis=1).all()
