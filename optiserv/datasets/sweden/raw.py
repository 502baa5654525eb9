"""Read the raw shared files once, as text, and put every point in SWEREF99 TM.

Every table is read with all columns as text, so that codes keep their leading zeros and
nothing is guessed; numbers are converted here, explicitly. Each reader names the file and
column at fault when the file is not what its README describes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from shapely.geometry import shape

from optiserv.exceptions import DataError

__all__ = [
    "RAW_FILES",
    "RawData",
    "read_raw_data",
    "sha256_of",
    "wgs84_to_sweref99tm",
]

RAW_FILES: dict[str, str] = {
    "localities": "sweden/scb_tatorter_2020/tatorter_2020.csv",
    "population": "sweden/scb_kommun_population/kommun_population.csv",
    "postal_places": "sweden/geonames_postal_codes_SE/geonames_postal_codes_SE.csv",
    "agents": "sweden/pts_postal_agents_2021/postal_agents_sweden.csv",
    "pharmacies": "sweden/osm_health_facilities_2019/osm_health_facilities_sweden.csv",
    "borders": "sweden/scb_admin_boundaries/kommuner_epsg3006.geojson",
}
"""Raw inputs, as paths relative to the shared data folder (``shared/data``)."""

_COLUMNS: dict[str, tuple[str, ...]] = {
    "localities": ("code", "name", "mun_code", "area", "pop", "year",
                   "x_sweref99tm", "y_sweref99tm"),
    "population": ("code", "name", "population", "year", "source"),
    "postal_places": ("postal_code", "place_name", "admin_code2", "latitude", "longitude",
                      "accuracy"),
    "agents": ("DB_ID", "OPERATÖR", "Omb_TYP", "LevFrekv", "OMBUD", "ADRESS", "ORT",
               "x_sweref99tm", "y_sweref99tm", "KOMMUNKOD", "KOMMUNNAMN"),
    "pharmacies": ("osm_node_id", "amenity", "name", "lat", "lon", "kommun_code_pip"),
}

_TO_SWEREF99TM = Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def wgs84_to_sweref99tm(
    longitude: NDArray[np.float64], latitude: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Project WGS84 degrees to SWEREF99 TM metres, rounded to 0.1 m."""
    x, y = _TO_SWEREF99TM.transform(np.asarray(longitude, float), np.asarray(latitude, float))
    return np.round(np.asarray(x, float), 1), np.round(np.asarray(y, float), 1)


@dataclass(frozen=True, eq=False)
class RawData:
    """The raw tables, with numbers converted and SWEREF99 TM columns ``x``, ``y`` added.

    Attributes
    ----------
    localities
        SCB tätorter: ``code, name, municipality, area`` (hectares), ``population``,
        ``year, x, y``.
    population
        SCB municipal totals: ``code, name, population, year, source``.
    postal_places
        GeoNames postal codes: ``postal_code, place_name, municipality`` (empty when
        missing), ``latitude, longitude`` (NaN when missing), ``accuracy`` (GeoNames flag as
        text: ``1`` estimated, ``4`` geonameid, ``6`` centroid, empty unknown), ``x, y``.
    agents
        PTS postal agents: ``register_id, operator, agent_type, deliveries_per_week, host,
        address, town, municipality, municipality_name, x, y`` (the register's own SWEREF99
        TM point).
    pharmacies
        OpenStreetMap health facilities: ``register_id, amenity, name, latitude, longitude,
        file_municipality`` (the file's approximate point-in-polygon code), ``x, y``.
    borders
        Municipality code → (name, MultiPolygon in EPSG:3006).
    border_features
        Municipality code → the GeoJSON feature as read, to be written back unchanged.
    checksums
        Relative path of each raw file → hex SHA-256.
    """

    localities: pd.DataFrame
    population: pd.DataFrame
    postal_places: pd.DataFrame
    agents: pd.DataFrame
    pharmacies: pd.DataFrame
    borders: dict[str, tuple[str, shapely.Geometry]]
    border_features: dict[str, dict[str, object]]
    checksums: dict[str, str]


def _read_text_table(root: Path, key: str) -> pd.DataFrame:
    path = root / RAW_FILES[key]
    if not path.is_file():
        raise DataError(f"raw file {RAW_FILES[key]!r} is missing under {root}")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in _COLUMNS[key] if c not in frame.columns]
    if missing:
        raise DataError(f"raw file {RAW_FILES[key]!r}: missing columns {missing}")
    return pd.DataFrame({c: frame[c].str.strip() for c in _COLUMNS[key]})


def _numbers(frame: pd.DataFrame, column: str, key: str, *, allow_empty: bool = False
             ) -> NDArray[np.float64]:
    text = frame[column]
    empty = text == ""
    values = pd.to_numeric(text.where(~empty, None), errors="coerce").to_numpy(float)
    bad = np.isnan(values) & ~(empty.to_numpy() & allow_empty)
    if bad.any():
        examples = ", ".join(repr(v) for v in text[bad].head(5))
        raise DataError(f"raw file {RAW_FILES[key]!r}: column {column!r}: not a number: "
                        f"{examples}")
    return values


def _integers(frame: pd.DataFrame, column: str, key: str) -> NDArray[np.int64]:
    values = _numbers(frame, column, key)
    if (values != np.round(values)).any():
        raise DataError(f"raw file {RAW_FILES[key]!r}: column {column!r}: expected integers")
    return values.astype(np.int64)


def _read_localities(root: Path) -> pd.DataFrame:
    raw = _read_text_table(root, "localities")
    return pd.DataFrame({
        "code": raw["code"],
        "name": raw["name"],
        "municipality": raw["mun_code"],
        "area": _numbers(raw, "area", "localities"),
        "population": _integers(raw, "pop", "localities"),
        "year": _integers(raw, "year", "localities"),
        "x": _numbers(raw, "x_sweref99tm", "localities"),
        "y": _numbers(raw, "y_sweref99tm", "localities"),
    })


def _read_population(root: Path) -> pd.DataFrame:
    raw = _read_text_table(root, "population")
    return pd.DataFrame({
        "code": raw["code"],
        "name": raw["name"],
        "population": _integers(raw, "population", "population"),
        "year": _integers(raw, "year", "population"),
        "source": raw["source"],
    })


def _read_postal_places(root: Path) -> pd.DataFrame:
    raw = _read_text_table(root, "postal_places")
    latitude = _numbers(raw, "latitude", "postal_places", allow_empty=True)
    longitude = _numbers(raw, "longitude", "postal_places", allow_empty=True)
    known = np.isfinite(latitude) & np.isfinite(longitude)
    x = np.full(latitude.size, np.nan)
    y = np.full(latitude.size, np.nan)
    x[known], y[known] = wgs84_to_sweref99tm(longitude[known], latitude[known])
    return pd.DataFrame({
        "postal_code": raw["postal_code"],
        "place_name": raw["place_name"],
        "municipality": raw["admin_code2"],
        "latitude_text": raw["latitude"],
        "longitude_text": raw["longitude"],
        "latitude": latitude,
        "longitude": longitude,
        "accuracy": raw["accuracy"],
        "x": x,
        "y": y,
    })


def _read_agents(root: Path) -> pd.DataFrame:
    raw = _read_text_table(root, "agents")
    agents = pd.DataFrame({
        "register_id": _integers(raw, "DB_ID", "agents"),
        "operator": raw["OPERATÖR"],
        "agent_type": raw["Omb_TYP"],
        "deliveries_per_week": raw["LevFrekv"],
        "host": raw["OMBUD"],
        "address": raw["ADRESS"],
        "town": raw["ORT"],
        "municipality": raw["KOMMUNKOD"],
        "municipality_name": raw["KOMMUNNAMN"],
        "x": _numbers(raw, "x_sweref99tm", "agents"),
        "y": _numbers(raw, "y_sweref99tm", "agents"),
    })
    if not agents["register_id"].is_unique:
        raise DataError(f"raw file {RAW_FILES['agents']!r}: column 'DB_ID' is not unique")
    return agents


def _read_pharmacies(root: Path) -> pd.DataFrame:
    raw = _read_text_table(root, "pharmacies")
    latitude = _numbers(raw, "lat", "pharmacies")
    longitude = _numbers(raw, "lon", "pharmacies")
    x, y = wgs84_to_sweref99tm(longitude, latitude)
    frame = pd.DataFrame({
        "register_id": _integers(raw, "osm_node_id", "pharmacies"),
        "amenity": raw["amenity"],
        "name": raw["name"],
        "latitude": latitude,
        "longitude": longitude,
        "file_municipality": raw["kommun_code_pip"],
        "x": x,
        "y": y,
    })
    if not frame["register_id"].is_unique:
        raise DataError(f"raw file {RAW_FILES['pharmacies']!r}: column 'osm_node_id' is not "
                        "unique")
    return frame


def _read_borders(
    root: Path,
) -> tuple[dict[str, tuple[str, shapely.Geometry]], dict[str, dict[str, object]]]:
    path = root / RAW_FILES["borders"]
    if not path.is_file():
        raise DataError(f"raw file {RAW_FILES['borders']!r} is missing under {root}")
    collection = json.loads(path.read_text(encoding="utf-8"))
    crs_name = str(collection.get("crs", {}).get("properties", {}).get("name", ""))
    if not crs_name.endswith("3006"):
        raise DataError(f"raw file {RAW_FILES['borders']!r}: expected EPSG:3006, "
                        f"got crs {crs_name!r}")
    borders: dict[str, tuple[str, shapely.Geometry]] = {}
    features: dict[str, dict[str, object]] = {}
    for feature in collection["features"]:
        code = str(feature["properties"]["code"])
        borders[code] = (str(feature["properties"]["name"]),
                         shape(feature["geometry"]))
        features[code] = feature
    return borders, features


def read_raw_data(shared_data: Path) -> RawData:
    """Read and check every raw file under ``shared_data`` (the ``shared/data`` folder).

    Parameters
    ----------
    shared_data
        Folder holding ``sweden/...`` as listed in :data:`RAW_FILES`.

    Returns
    -------
    RawData
        The tables, borders and SHA-256 checksums of the files read.
    """
    root = Path(shared_data)
    borders, features = _read_borders(root)
    checksums = {relative: sha256_of(root / relative) for relative in RAW_FILES.values()}
    return RawData(
        localities=_read_localities(root),
        population=_read_population(root),
        postal_places=_read_postal_places(root),
        agents=_read_agents(root),
        pharmacies=_read_pharmacies(root),
        borders=borders,
        border_features=features,
        checksums=checksums,
    )
