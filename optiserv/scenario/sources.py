"""Read a scenario's data sources into plain tables in the working CRS.

Each source is CSV (read with pandas), GeoJSON, GeoPackage or Parquet (read with geopandas /
pyogrio). Columns are renamed by the scenario's column mapping, point coordinates are projected
to the working CRS (``data.crs``, metres) and every error names the file and the column. The
tables are then validated by :mod:`optiserv.data.io` when the instance is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optiserv.exceptions import DataError
from optiserv.scenario.schema import Data, _Source

__all__ = [
    "SourceTables",
    "read_boundaries",
    "read_lines",
    "read_points",
    "read_sources",
    "working_crs",
]

_SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
}


@dataclass(frozen=True)
class SourceTables:
    """The data of a scenario, in the working CRS.

    Attributes
    ----------
    demand, sites
        Plain tables with ``id``, ``x``, ``y`` and the mapped columns under their canonical names.
    existing
        ``site`` (text id of a site) and ``services`` (list of names), or None.
    boundaries, roads
        GeoDataFrames (``id``, ``name``, polygons; lines), or None.
    files
        Role (``demand``, ``sites``, ...) → the file read.
    crs
        The working CRS.
    """

    demand: pd.DataFrame
    sites: pd.DataFrame
    existing: pd.DataFrame | None
    boundaries: Any
    roads: Any
    files: dict[str, Path]
    crs: str


def working_crs(crs: str) -> str:
    """Check that ``crs`` is projected in metres; its ``AUTHORITY:CODE`` text."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        parsed = CRS.from_user_input(crs)
    except CRSError:
        raise DataError(f"data.crs: {crs!r} is not a coordinate reference system") from None
    units = {axis.unit_name.lower() for axis in parsed.axis_info}
    if parsed.is_geographic or not units <= {"metre", "meter"}:
        raise DataError(
            f"data.crs: {crs!r} is not a projected CRS in metres; use one such as EPSG:3006 "
            "(SWEREF99 TM)"
        )
    authority = parsed.to_authority()
    return f"{authority[0]}:{authority[1]}" if authority else parsed.to_string()


def _format(source: _Source, what: str) -> str:
    if source.format is not None:
        return source.format
    suffix = Path(source.path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(
            f"{what} file '{source.path}': cannot tell the format from the suffix {suffix!r}; "
            "give format: csv, geojson, gpkg or parquet"
        )
    return _SUFFIXES[suffix]


def _csv(path: Path, label: str, text_columns: list[str]) -> pd.DataFrame:
    try:
        with path.open(encoding="utf-8-sig") as handle:
            header = handle.readline()
    except UnicodeDecodeError:
        raise DataError(f"{label} is not UTF-8 text") from None
    separator = max((",", ";", "\t"), key=header.count)
    try:
        return pd.read_csv(
            path,
            sep=separator,
            dtype={column: str for column in text_columns},
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
            decimal="," if separator != "," else ".",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())
        raise DataError(f"{label} is not a valid CSV file: {reason}") from None


def _geo(path: Path, label: str, kind: str, layer: str | None) -> Any:
    import geopandas

    try:
        if kind == "parquet":
            try:
                return geopandas.read_parquet(path)
            except ImportError:
                raise DataError(
                    f"{label}: reading Parquet needs the pyarrow package (pip install pyarrow)"
                ) from None
        return geopandas.read_file(path, layer=layer, engine="pyogrio")
    except DataError:
        raise
    except Exception as error:  # pyogrio and pyarrow raise their own error types
        reason = " ".join(str(error).split())
        raise DataError(f"{label} cannot be read as {kind}: {reason}") from None


def _read(source: _Source, what: str, text_columns: list[str]) -> tuple[Any, str, Path]:
    path = Path(source.path)
    label = f"{what} file '{path}'"
    if not path.exists():
        raise DataError(f"{label} does not exist")
    if path.is_dir():
        raise DataError(f"{label} is a directory, not a data file")
    kind = _format(source, what)
    if kind == "csv":
        return _csv(path, label, text_columns), label, path
    return _geo(path, label, kind, source.layer), label, path


def _source_crs(frame: Any, source: _Source, label: str, default: str) -> str:
    file_crs = getattr(frame, "crs", None)
    if file_crs is None:
        return source.crs or default
    if source.crs is not None:
        from pyproj import CRS

        if not CRS.from_user_input(source.crs).equals(file_crs):
            raise DataError(
                f"{label}: the file's CRS is {file_crs.to_string()} but the scenario says "
                f"crs: {source.crs}; remove crs from the scenario or fix it"
            )
    return str(file_crs.to_string())


def _columns(frame: pd.DataFrame, mapping: dict[str, str | None], label: str) -> pd.DataFrame:
    missing = [column for column in mapping.values() if column and column not in frame.columns]
    if missing:
        have = ", ".join(repr(str(c)) for c in frame.columns if c != "geometry") or "none"
        names = ", ".join(repr(c) for c in missing)
        raise DataError(
            f"{label}: missing column{'s' if len(missing) > 1 else ''} {names} (named in the "
            f"scenario's columns); the columns are {have}"
        )
    return pd.DataFrame(
        {canonical: frame[column].to_numpy() for canonical, column in mapping.items() if column}
    )


def read_points(
    source: _Source, what: str, mapping: dict[str, str | None], crs: str
) -> pd.DataFrame:
    """A point source as a table with canonical columns and ``x``, ``y`` in ``crs``.

    ``mapping`` is canonical name → source column (``None`` to skip); for geo files ``x`` and
    ``y`` come from the geometry (polygons by their representative point).
    """
    id_column = mapping.get("id")
    frame, label, _ = _read(source, what, [c for c in (id_column,) if c])
    source_crs = _source_crs(frame, source, label, crs)
    if hasattr(frame, "geometry"):
        geometry = frame.geometry
        empty = np.asarray(geometry.isna() | geometry.is_empty, dtype=bool)
        if empty.any():
            raise DataError(f"{label}: {int(empty.sum())} rows have no geometry")
        if source_crs != crs:
            geometry = geometry.to_crs(crs)
        points = geometry.representative_point()
        table = _columns(
            pd.DataFrame(frame.drop(columns=frame.geometry.name)),
            {k: v for k, v in mapping.items() if k not in ("x", "y")},
            label,
        )
        table["x"], table["y"] = points.x.to_numpy(), points.y.to_numpy()
    else:
        table = _columns(frame, mapping, label)
        if source_crs != crs:
            from pyproj import Transformer

            for axis in ("x", "y"):
                table[axis] = pd.to_numeric(table[axis], errors="coerce")
            bad = table[["x", "y"]].isna().any(axis=1).to_numpy()
            if bad.any():
                raise DataError(
                    f"{label}: columns {mapping['x']!r}, {mapping['y']!r}: missing or "
                    f"non-numeric coordinates on {int(bad.sum())} rows"
                )
            transformer = Transformer.from_crs(source_crs, crs, always_xy=True)
            x, y = transformer.transform(table["x"].to_numpy(), table["y"].to_numpy())
            table["x"], table["y"] = x, y
    if "id" in table and table["id"].dtype == object:
        table["id"] = table["id"].astype(str).str.strip()
    return table


def read_boundaries(
    source: _Source, crs: str, id_column: str | None, name_column: str | None
) -> Any:
    """Municipality borders as a GeoDataFrame ``id``, ``name``, polygons in ``crs``."""
    import geopandas

    frame, label, _ = _read(source, "boundaries", [c for c in (id_column,) if c])
    if not hasattr(frame, "geometry"):
        raise DataError(f"{label}: borders need a geo file (GeoJSON, GeoPackage, Parquet)")
    frame = frame.set_crs(_source_crs(frame, source, label, crs), allow_override=True)
    kinds = set(frame.geom_type.dropna())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise DataError(f"{label}: expected polygons, got {sorted(kinds)}")
    plain = _columns(pd.DataFrame(frame), {"id": id_column, "name": name_column}, label)
    ids = (
        plain["id"].astype(str)
        if "id" in plain
        else pd.Series([str(k + 1) for k in range(len(frame))])
    )
    names = plain["name"].astype(str) if "name" in plain else ids
    return geopandas.GeoDataFrame(
        {"id": ids.to_numpy(), "name": names.to_numpy()},
        geometry=frame.geometry.to_crs(crs).to_numpy(),
        crs=crs,
    )


def read_lines(source: _Source, crs: str) -> Any:
    """Roads to draw: line geometries in ``crs``, simplified to 25 m."""
    frame, label, _ = _read(source, "roads", [])
    if not hasattr(frame, "geometry"):
        raise DataError(f"{label}: roads need a geo file (GeoJSON, GeoPackage, Parquet)")
    frame = frame.set_crs(_source_crs(frame, source, label, crs), allow_override=True)
    lines = frame[frame.geom_type.isin(["LineString", "MultiLineString"])].to_crs(crs)
    lines = lines[["geometry"]].copy()
    lines["geometry"] = lines.geometry.simplify(25.0)
    return lines


def _existing(data: Data, crs: str, sites: pd.DataFrame) -> pd.DataFrame | None:
    spec = data.existing
    if spec is None:
        return None
    columns = spec.columns
    mapping: dict[str, str | None] = {"services": columns.services}
    if columns.site is not None:
        mapping["site"] = columns.site
        frame, label, _ = _read(spec, "existing", [columns.site])
        table = _columns(frame, mapping, label)
        table["site"] = table["site"].astype(str).str.strip()
    else:
        mapping.update(id=columns.id, x=columns.x, y=columns.y)
        table = read_points(spec, "existing", mapping, crs)
        label = f"existing file '{spec.path}'"
        from scipy.spatial import cKDTree

        tree = cKDTree(sites[["x", "y"]].to_numpy(dtype=float))
        distance, nearest = tree.query(table[["x", "y"]].to_numpy(dtype=float))
        far = distance > spec.match_within_m
        if far.any():
            raise DataError(
                f"{label}: points {list(table['id'][far].astype(str))[:5]} are more than "
                f"{spec.match_within_m:g} m from every site; add them to the sites file"
            )
        table["site"] = sites["id"].astype(str).to_numpy()[nearest]
    cells = table["services"].fillna("").astype(str)
    table["services"] = [
        [name.strip() for name in cell.split(spec.list_separator) if name.strip()] for cell in cells
    ]
    return table[["site", "services"]]


def read_sources(data: Data) -> SourceTables:
    """Read every data source of a scenario.

    Raises
    ------
    DataError
        Naming the file and column at fault.
    """
    crs = working_crs(data.crs)
    demand_columns = data.demand.columns
    mapping: dict[str, str | None] = {
        "id": demand_columns.id,
        "x": demand_columns.x,
        "y": demand_columns.y,
        "population": demand_columns.population,
        "municipality": demand_columns.municipality,
        "name": demand_columns.name,
    }
    mapping.update({f"group:{g}": column for g, column in demand_columns.groups.items()})
    demand = read_points(data.demand, "demand", mapping, crs)
    site_columns = data.sites.columns
    sites = read_points(
        data.sites,
        "sites",
        {
            "id": site_columns.id,
            "x": site_columns.x,
            "y": site_columns.y,
            "name": site_columns.name,
            "one_off_cost": site_columns.one_off_cost,
            "annual_cost": site_columns.annual_cost,
        },
        crs,
    )
    files = {"demand": Path(data.demand.path), "sites": Path(data.sites.path)}
    existing = _existing(data, crs, sites)
    if data.existing is not None:
        files["existing"] = Path(data.existing.path)
    boundaries = None
    if data.boundaries is not None:
        boundaries = read_boundaries(
            data.boundaries, crs, data.boundaries.columns.id, data.boundaries.columns.name
        )
        files["boundaries"] = Path(data.boundaries.path)
    roads = None
    if data.roads is not None:
        roads = read_lines(data.roads, crs)
        files["roads"] = Path(data.roads.path)
    if data.network is not None:
        files["network"] = Path(data.network.path)
    return SourceTables(demand, sites, existing, boundaries, roads, files, crs)
