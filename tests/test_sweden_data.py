"""The prepared data of the eleven Swedish municipalities: reproducible, exact, traceable."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from optiserv.data.io import read_instance_csv
from optiserv.datasets.sweden import (
    OUTPUT_FILES,
    PROJECT_MUNICIPALITIES,
    RAW_FILES,
    Municipality,
    PreparationResult,
    PreparationRules,
    clean_host_name,
    is_fuel_host,
    is_grocery_host,
    prepare_scenario_data,
)
from optiserv.datasets.sweden.demand import apportion
from optiserv.exceptions import DataError, ParameterError

REPOSITORY = Path(__file__).resolve().parents[1]
COMMITTED = REPOSITORY / "scenarios" / "data"
BORDER_TOLERANCE = 2000.0  # metres


def _shared_data() -> Path | None:
    for candidate in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")):
        data = candidate / "data"
        if all((data / relative).is_file() for relative in RAW_FILES.values()):
            return data
    return None


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def shared_data() -> Path:
    found = _shared_data()
    if found is None:
        pytest.skip("the raw Swedish data (shared/data/sweden/...) is not present beside this "
                    "checkout (../shared) nor at /work/shared")
    return found


@pytest.fixture(scope="module")
def prepared(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> PreparationResult:
    return prepare_scenario_data(shared_data, tmp_path_factory.mktemp("prepared"))


# ------------------------------------------------------------------------- reproducibility
def test_the_same_raw_files_give_byte_identical_output(
    prepared: PreparationResult, shared_data: Path, tmp_path: Path
) -> None:
    again = prepare_scenario_data(shared_data, tmp_path)
    first, second = _files(prepared.output), _files(again.output)
    assert sorted(first) == sorted(second)
    different = [name for name in first if first[name] != second[name]]
    assert not different
    assert prepared.manifest == again.manifest


def test_committed_data_matches_a_fresh_run(prepared: PreparationResult) -> None:
    fresh = _files(prepared.output)
    committed = _files(COMMITTED)
    assert sorted(committed) == sorted(fresh), "run scenarios/prepare.py and commit the output"
    different = [name for name in fresh if committed[name] != fresh[name]]
    assert not different, f"stale committed files {different}: run scenarios/prepare.py"


def test_manifest_checksums_every_raw_input_and_output(
    prepared: PreparationResult, shared_data: Path
) -> None:
    manifest = json.loads((prepared.output / "manifest.json").read_text(encoding="utf-8"))

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert set(manifest["inputs"]) == set(RAW_FILES.values())
    for relative, entry in manifest["inputs"].items():
        assert entry["sha256"] == digest(shared_data / relative)
        assert entry["licence"]
    expected = {f"{m.folder}/{name}" for m in PROJECT_MUNICIPALITIES for name in OUTPUT_FILES}
    assert set(manifest["outputs"]) == expected | {"README.md"}
    for relative, checksum in manifest["outputs"].items():
        assert checksum == digest(prepared.output / relative)


def _manifest(prepared: PreparationResult) -> Any:
    return json.loads((prepared.output / "manifest.json").read_text(encoding="utf-8"))


def test_manifest_records_year_counts_and_cash_unknown(prepared: PreparationResult) -> None:
    manifest = _manifest(prepared)
    entries = {e["code"]: e for e in manifest["municipalities"]}
    assert list(entries) == [m.code for m in PROJECT_MUNICIPALITIES]
    for entry in entries.values():
        assert entry["before_coverage"]["cash"] == "unknown"
        assert entry["population"]["year"] in (2020, 2024)
        assert entry["counts"]["demand_points"] > 0
    assert manifest["rules"]["boundary_tolerance"] == BORDER_TOLERANCE
    assert any(e["topic"] == "cash_unknown" for e in manifest["log"])


# ------------------------------------------------------------------------------- demand
def _scb_totals(shared_data: Path) -> dict[str, tuple[int, int]]:
    """Code → (population, year): 2020 where present, else the latest year."""
    rows = _read_csv(shared_data / RAW_FILES["population"])
    totals: dict[str, tuple[int, int]] = {}
    for row in rows:
        year, people = int(row["year"]), int(row["population"])
        current = totals.get(row["code"])
        if current is None or (current[1] != 2020 and (year == 2020 or year > current[1])):
            totals[row["code"]] = (people, year)
    return totals


@pytest.mark.parametrize("municipality", PROJECT_MUNICIPALITIES, ids=lambda m: m.folder)
def test_demand_adds_up_exactly_to_the_scb_total(
    prepared: PreparationResult, shared_data: Path, municipality: Municipality
) -> None:
    people, year = _scb_totals(shared_data)[municipality.code]
    rows = _read_csv(prepared.output / municipality.folder / "demand.csv")
    weights = [int(r["weight"]) for r in rows]
    assert sum(weights) == people
    assert min(weights) >= 0
    for row in rows:
        assert int(row["weight"]) == (int(row["locality_population"])
                                      + int(row["spread_population"]))
    localities = _read_csv(shared_data / RAW_FILES["localities"])
    own = {r["code"]: int(r["pop"]) for r in localities if r["mun_code"] == municipality.code}
    demand_localities = {r["source_ids"]: int(r["locality_population"]) for r in rows
                         if r["kind"] == "locality"}
    assert demand_localities == own
    entry = next(e for e in _manifest(prepared)["municipalities"]
                 if e["code"] == municipality.code)
    assert entry["population"]["year"] == year
    assert entry["population"]["total"] == people


def test_prepared_files_read_as_an_instance(prepared: PreparationResult) -> None:
    folder = prepared.output / PROJECT_MUNICIPALITIES[0].folder
    instance = read_instance_csv(folder / "demand.csv", folder / "sites.csv")
    assert instance.demand.size == len(_read_csv(folder / "demand.csv"))
    assert instance.sites.size == len(_read_csv(folder / "sites.csv"))


def test_apportion_is_exact_and_breaks_ties_by_position() -> None:
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert apportion(0, [1, 2]) == [0, 0]
    assert apportion(7, [0, 3, 1]) == [0, 5, 2]
    rng = np.random.default_rng(1)
    for _ in range(50):
        weights = rng.integers(0, 1000, size=rng.integers(1, 12)).tolist()
        weights[0] += 1
        total = int(rng.integers(0, 100_000))
        shares = apportion(total, weights)
        assert sum(shares) == total
        quotas = [total * w / sum(weights) for w in weights]
        assert all(abs(s - q) < 1 for s, q in zip(shares, quotas, strict=True))
    with pytest.raises(DataError):
        apportion(-1, [1])
    with pytest.raises(DataError):
        apportion(5, [0, 0])


# ------------------------------------------------------------------------ existing points
@pytest.mark.parametrize("municipality", PROJECT_MUNICIPALITIES, ids=lambda m: m.folder)
def test_existing_points_lie_in_or_near_their_municipality(
    prepared: PreparationResult, municipality: Municipality
) -> None:
    folder = prepared.output / municipality.folder
    collection = json.loads((folder / "boundary.geojson").read_text(encoding="utf-8"))
    assert collection["crs"]["properties"]["name"].endswith("3006")
    border = shape(collection["features"][0]["geometry"])
    rows = _read_csv(folder / "existing.csv")
    assert rows, "every project municipality has postal agents"
    x = np.array([float(r["x"]) for r in rows])
    y = np.array([float(r["y"]) for r in rows])
    distance = shapely.distance(border, shapely.points(x, y))
    far = [r["id"] for r, d in zip(rows, distance, strict=True) if d > BORDER_TOLERANCE]
    assert not far


@pytest.mark.parametrize("municipality", PROJECT_MUNICIPALITIES, ids=lambda m: m.folder)
def test_every_existing_point_is_a_register_row(
    prepared: PreparationResult, shared_data: Path, municipality: Municipality
) -> None:
    agents = {int(r["DB_ID"]): r for r in _read_csv(shared_data / RAW_FILES["agents"])}
    osm = {int(r["osm_node_id"]): r for r in _read_csv(shared_data / RAW_FILES["pharmacies"])}
    to_sweref = Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)
    folder = prepared.output / municipality.folder
    sites = {r["id"] for r in _read_csv(folder / "sites.csv")}
    rows = _read_csv(folder / "existing.csv")
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        register_id = int(row["register_id"])
        assert row["site_id"] in sites
        services = set(row["services"].split(";"))
        assert "cash" not in services
        if row["source"] == "pts_postal_agents_2021":
            raw = agents[register_id]
            assert row["id"] == f"pts-{register_id}"
            assert float(row["x"]) == float(raw["x_sweref99tm"])
            assert float(row["y"]) == float(raw["y_sweref99tm"])
            assert raw["KOMMUNKOD"] == municipality.code
            assert row["name"] == raw["OMBUD"].strip()
            duplicates = [agents[int(d)] for d in row["duplicate_register_ids"].split(";") if d]
            assert all(d["KOMMUNKOD"] == municipality.code for d in duplicates)
            hosts = [raw["OMBUD"].strip()] + [d["OMBUD"].strip() for d in duplicates]
            assert ("groceries" in services) == any(is_grocery_host(h) for h in hosts)
            assert ("fuel" in services) == any(is_fuel_host(h) for h in hosts)
            assert ("parcels" in services) == (raw["Omb_TYP"] != "Företagscenter")
        else:
            assert row["source"] == "osm_health_facilities_2019"
            raw = osm[register_id]
            assert raw["amenity"] == "pharmacy"
            assert services == {"pharmacy"}
            x, y = to_sweref.transform(float(raw["lon"]), float(raw["lat"]))
            assert abs(float(row["x"]) - x) <= 0.05 and abs(float(row["y"]) - y) <= 0.05


# ------------------------------------------------------------------------------ name rules
@pytest.mark.parametrize("name", [
    "ICA Nära Finnbergs", "ICASupermarket Smedby", "COOP KONSUM ARVIDSJAUR",
    "Handlar'n Bastuträsk", "HANDLAR´N RUNMARÖ LANTHANDEL", "Storkågeträsk Lanthand",
    "MatÖppet Sparreholm", "Bettna Bar&Livs", "INGERS KIOSK & MINILIVS",
    "Finnbergs Diversehandel", "Handelsboden i Häradsbäck", "Affärn Abborrträsk",
    "Nära dej Slussfors Boa", "Tempo Bureå", "PAKETBOX LIDL MOTALA", "City Gross Norrköping",
    "Hemköp Malmköping", "WILLYS ÄLMHULT", "Netto Östermalmsgatan", "Direkten Centralen",
    "Östenssons Borensberg", "LILLA ESSINGEN LIVS (F.D. TEMPO)",
])
def test_grocery_rule_matches(name: str) -> None:
    assert is_grocery_host(name)


@pytest.mark.parametrize("name", [
    "Pressbyrån Mirum Gallerian", "MyWay Åby", "Akademibokhandeln", "Cykelaffären i Röstånga",
    "BT Järn & Maskin AB", "OKQ8 Arvidsjaur", "ASPUDDENS HJÄRTA FD DIREKTEN", "Färghandeln Hova",
    "Bussgods Arvidsjaur", "Frendo Tärnaby", "Jamaica Café", "PostNord Ljungby",
    "Momangen", "Lidhults Bygg & Lantmän", "Livsstil Butik",
])
def test_grocery_rule_rejects(name: str) -> None:
    assert not is_grocery_host(name)


@pytest.mark.parametrize("name", [
    "OKQ8 Vingåker", "OK/Q8 Storuman", "OkQ8 Ludvika", "OK Söder Skellefteå", "Circlek Ludvika",
    "Circle K Boden", "Preem Kåge", "ST1 Bjärnum", "FRENDO/ST1", "Gulf Idre",
    "GULFMACKEN DOMSJÖ", "Tanka Ludvika", "Q-STAR/BILISTEN", "BUREÅMACKEN",
    "BENSIN OCH LIVS I SKELLEFTEHAM", "DIN-X MARIESTAD", "UNO-X OFFERDAL", "SHELL VARBERG",
    "Ingo Hallsberg", "Statoil Kiruna", "PUMP HAMBURGSUND", "CIRCLE K ASKIM (FD STATOIL)",
])
def test_fuel_rule_matches(name: str) -> None:
    assert is_fuel_host(name)


@pytest.mark.parametrize("name", [
    "POSTNORD KARLSTAD PUMPGATAN", "Frendo Tärnaby", "ICA Supermarket Kåge",
    "Burträsk Gummiverkstad", "FRENDO (FD. HYDRO)", "BUTIK ALKASS (F.D OK/Q8)",
    "Mackmyra Whisky", "Bokhandeln", "Shellfish Bar", "Coop Konsum Idre",
])
def test_fuel_rule_rejects(name: str) -> None:
    assert not is_fuel_host(name)


def test_host_names_are_cleaned_of_former_brands() -> None:
    assert clean_host_name("Lilla Essingen  Livs (F.D. Tempo)") == "lilla essingen livs ()"
    assert clean_host_name("HANDLAR´N") == "handlar'n"


def test_rules_are_validated() -> None:
    with pytest.raises(ParameterError):
        PreparationRules(site_merge_distance=-1.0)
    with pytest.raises(ParameterError):
        PreparationRules(rest_spread="by_area")  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        PreparationRules(municipalities=())
