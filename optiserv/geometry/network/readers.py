"""Road network files → :class:`RoadNetwork`: OpenStreetMap, OSMnx GraphML and edge tables.

Every reader applies the same :class:`~optiserv.geometry.network.roads.RoadOptions` (speeds per
road class, one-way and access rules) and records what it read in ``RoadNetwork.details``.
Lengths are computed once, in metres, from the source's own coordinates (great-circle for
lon/lat); projecting the network afterwards (``crs=``) moves the nodes, never the lengths.

* :func:`read_osm`: ``.osm.pbf`` (and ``.osm``/``.osm.bz2``) through pyosmium. Every OSM way
  with a ``highway`` class in the speed table and open to cars becomes node-to-node segments;
  a way that leaves the extract loses the segments that touch missing nodes.
* :func:`read_graphml`: GraphML as OSMnx writes it (node ``x``/``y``, edge ``length``,
  ``highway``, ``maxspeed``), read with the standard library's XML parser.
* :func:`read_edge_table`: a table of road links (CSV, GeoPackage, Shapefile, GeoJSON,
  FlatGeobuf, or Parquet when pyarrow is installed) in the shape of Trafikverket's NVDB
  exports: from/to node ids or a line geometry, a length and optionally a speed, a road
  class and a one-way flag. Column names are set with :class:`EdgeColumns`.
"""

from __future__ import annotations

import ast
import hashlib
import math
import xml.etree.ElementTree as ElementTree
from array import array
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from optiserv.exceptions import DataError, format_examples
from optiserv.geometry.network.graph import (
    RoadNetwork,
    great_circle_metres,
    network_from_segments,
)
from optiserv.geometry.network.roads import (
    BOTH,
    FORWARD,
    RoadOptions,
    is_car_accessible,
    parse_maxspeed,
    parse_oneway,
    travel_direction,
)

__all__ = [
    "EdgeColumns",
    "network_fingerprint",
    "read_edge_table",
    "read_graphml",
    "read_network",
    "read_osm",
]

WGS84 = "EPSG:4326"
_OSM_SUFFIXES = (".pbf", ".osm", ".bz2", ".gz", ".o5m", ".opl")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class EdgeColumns:
    """Column names of an edge table. Columns that are absent from the file are not used.

    Parameters
    ----------
    from_node, to_node
        Node identifiers at the two ends of each link. Without them, nodes are found by
        matching end coordinates of the line geometries (within ``node_tolerance``).
    length
        Link length in metres. Without it, the geometry's length (geodesic for lon/lat), or
        the straight line between the end points.
    speed
        Speed in km/h (a speed limit such as NVDB's Hastighetsgräns).
    road_class
        Road class looked up in the speed table (OSM names, or NVDB functional class 0–9
        with :data:`~optiserv.geometry.network.roads.SWEDISH_FUNCTIONAL_CLASS_SPEEDS`).
    oneway
        One-way flag, read by :func:`~optiserv.geometry.network.roads.parse_oneway`: ``yes``,
        ``1``, ``forward`` (drawn direction only), ``-1``, ``backward`` (against it),
        anything else both ways.
    from_x, from_y, to_x, to_y
        End point coordinates, for tables without a geometry.
    geometry
        Line geometry: the layer's geometry, or WKT text in this column of a CSV file.
    """

    from_node: str = "from"
    to_node: str = "to"
    length: str = "length"
    speed: str = "speed"
    road_class: str = "road_class"
    oneway: str = "oneway"
    from_x: str = "from_x"
    from_y: str = "from_y"
    to_x: str = "to_x"
    to_y: str = "to_y"
    geometry: str = "geometry"


# ---------------------------------------------------------------------- shared helpers
def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def network_fingerprint(
    path: str | Path, options: RoadOptions, crs: str | None = None, extra: str = ""
) -> str:
    """The fingerprint :func:`read_network` gives the network in ``path``, without reading it.

    A digest of the file's bytes, the reader, its options and the target CRS (and ``extra``
    reader settings), so that cost caches can be looked up before an expensive read.
    """
    path = Path(path)
    return hashlib.sha256(
        f"{_file_digest(path)}:{_reader_kind(path)}:{options.key()}:{crs}:{extra}".encode()
    ).hexdigest()


def _reader_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".graphml"):
        return "graphml"
    if name.endswith(".pbf") or (".osm" in name and name.endswith(_OSM_SUFFIXES)):
        return "osm"
    return "table"


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"road network: no such file {path}")
    return path


def _is_geographic(crs: str | None) -> bool:
    if crs is None:
        return False
    from pyproj import CRS

    return bool(CRS.from_user_input(crs).is_geographic)


def _segment_lengths(
    coordinates: NDArray[np.float64],
    first: NDArray[np.int64],
    last: NDArray[np.int64],
    geographic: bool,
) -> NDArray[np.float64]:
    """Straight length in metres of each segment: great-circle for lon/lat, else planar."""
    a, b = coordinates[first], coordinates[last]
    if not geographic:
        return np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
    return great_circle_metres(a, b)


def _finish(
    coordinates: NDArray[np.float64],
    first: NDArray[np.int64],
    last: NDArray[np.int64],
    length: NDArray[np.float64],
    speed: NDArray[np.float64],
    direction: NDArray[np.int8],
    *,
    native_crs: str | None,
    crs: str | None,
    node_ids: NDArray | None,
    source: str,
    fingerprint: str,
    details: dict[str, Any],
) -> RoadNetwork:
    # Number nodes along a space-filling curve: the nodes a search visits together then sit
    # together in memory, which makes searches on real data (numbered by OSM id) much faster.
    order = _spatial_order(coordinates)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    coordinates, first, last = coordinates[order], rank[first], rank[last]
    node_ids = None if node_ids is None else node_ids[order]
    details = {
        **details,
        "nodes": int(coordinates.shape[0]),
        "segments": int(first.size),
        "one_way_segments": int((direction != BOTH).sum()),
        "total_length_m": float(length.sum()),
    }
    network = network_from_segments(
        coordinates,
        first,
        last,
        length,
        speed,
        direction,
        metric="haversine" if _is_geographic(native_crs) else "euclidean",
        crs=native_crs,
        node_ids=node_ids,
        source=source,
        fingerprint=fingerprint,
        details=details,
    )
    if crs is None:
        return network
    projected = network.to_crs(crs)
    return RoadNetwork(
        projected.coordinates,
        projected.indptr,
        projected.heads,
        projected.length,
        projected.time,
        metric=projected.metric,
        crs=projected.crs,
        node_ids=projected.node_ids,
        source=source,
        fingerprint=fingerprint,
        details=details,
    )


def _interleave_bits(values: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Spread the low 16 bits of each value to the even bit positions."""
    values = values & np.uint64(0xFFFF)
    for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
        values = (values | (values << np.uint64(shift))) & np.uint64(mask)
    return values


def _spatial_order(coordinates: NDArray[np.float64]) -> NDArray[np.int64]:
    """Node order along a Z-order (Morton) curve over a 65,536 × 65,536 grid of the extent."""
    if coordinates.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    low = coordinates.min(axis=0)
    extent = np.maximum(coordinates.max(axis=0) - low, 1e-12)
    cells = np.minimum((coordinates - low) / extent * 65_536, 65_535).astype(np.uint64)
    key = _interleave_bits(cells[:, 0]) | (_interleave_bits(cells[:, 1]) << np.uint64(1))
    return np.argsort(key, kind="stable").astype(np.int64)


def _compact_nodes(keys: NDArray) -> tuple[NDArray, NDArray[np.int64], NDArray[np.int64]]:
    """Unique keys, the index of each key's first occurrence, and the inverse map."""
    axis = 0 if keys.ndim == 2 else None
    unique, first_seen, inverse = np.unique(keys, return_index=True, return_inverse=True, axis=axis)
    return unique, first_seen.astype(np.int64), inverse.reshape(-1).astype(np.int64)


# ---------------------------------------------------------------------- OpenStreetMap
def read_osm(
    path: str | Path, *, options: RoadOptions | None = None, crs: str | None = None
) -> RoadNetwork:
    """Read the car network of an OpenStreetMap file (``.osm.pbf``, ``.osm``, ``.osm.bz2``).

    Parameters
    ----------
    path
        The OSM file. Its bytes, the options and ``crs`` make the network's fingerprint.
    options
        Road classes, speeds, one-way and access rules (:class:`RoadOptions` defaults).
    crs
        Project the nodes to this CRS (``"EPSG:3006"``, SWEREF 99 TM, for Swedish data).
        ``None`` keeps lon/lat degrees, with haversine snapping.

    Returns
    -------
    RoadNetwork
        One node per OSM node used by a drivable way; arcs between consecutive nodes of each
        way, in the directions a car may drive them. Lengths are great-circle metres.
    """
    import osmium

    path = _existing(path)
    options = options or RoadOptions()
    # Compact typed buffers (8 bytes per value) rather than lists of Python objects, so a
    # county or national extract fits in memory.
    refs = array("q")
    lons = array("d")
    lats = array("d")
    located = array("b")
    way_of_node = array("q")
    way_speed: list[float] = []
    way_direction: list[int] = []
    way_class: list[str] = []
    skipped: Counter[str] = Counter()
    missing = 0
    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    try:
        for way in processor:
            tags = {tag.k: tag.v for tag in way.tags}
            road_class = tags["highway"]
            class_speed = options.class_speed(road_class)
            if class_speed is None:
                skipped[f"class {road_class}"] += 1
                continue
            if not is_car_accessible(tags, options.excluded_access):
                skipped["closed to cars"] += 1
                continue
            limit = parse_maxspeed(tags.get("maxspeed")) if options.use_maxspeed else None
            index = len(way_speed)
            way_speed.append(limit if limit is not None else class_speed)
            way_direction.append(travel_direction(tags, options.respect_oneway))
            way_class.append(road_class)
            for node in way.nodes:
                location = node.location
                refs.append(node.ref)
                way_of_node.append(index)
                if location.valid():
                    located.append(1)
                    lons.append(location.lon)
                    lats.append(location.lat)
                else:  # a node outside the extract breaks the way at this point
                    located.append(0)
                    lons.append(math.nan)
                    lats.append(math.nan)
                    missing += 1
    except RuntimeError as error:
        raise DataError(f"road network: cannot read {path}: {error}") from error

    ref_array = np.frombuffer(refs, dtype=np.int64) if refs else np.zeros(0, np.int64)
    way_array = np.frombuffer(way_of_node, dtype=np.int64) if refs else np.zeros(0, np.int64)
    valid = np.frombuffer(located, dtype=np.int8).astype(bool) if refs else np.zeros(0, bool)
    pair = (way_array[1:] == way_array[:-1]) & valid[1:] & valid[:-1]
    positions = np.flatnonzero(pair)
    used = np.zeros(ref_array.size, dtype=bool)
    used[positions] = True
    used[positions + 1] = True
    ids, first_seen, inverse = _compact_nodes(ref_array[used])
    node_of_position = np.full(ref_array.size, -1, dtype=np.int64)
    node_of_position[used] = inverse
    used_positions = np.flatnonzero(used)[first_seen]
    coordinates = (
        np.column_stack((np.frombuffer(lons)[used_positions], np.frombuffer(lats)[used_positions]))
        if ids.size
        else np.zeros((0, 2))
    )
    first = node_of_position[positions]
    last = node_of_position[positions + 1]
    segment_way = way_array[positions]
    length = _segment_lengths(coordinates, first, last, geographic=True)
    classes = np.asarray(way_class, dtype=object)[segment_way] if positions.size else []
    details: dict[str, Any] = {
        "reader": "osm",
        "ways": len(way_speed),
        "missing_node_references": missing,
        "skipped_ways": dict(sorted(skipped.items())),
        "segments_per_class": dict(sorted(Counter(classes).items())),
    }
    return _finish(
        coordinates,
        first,
        last,
        length,
        np.asarray(way_speed, dtype=np.float64)[segment_way],
        np.asarray(way_direction, dtype=np.int8)[segment_way],
        native_crs=WGS84,
        crs=crs,
        node_ids=ids,
        source=f"OpenStreetMap {path.name}",
        fingerprint=network_fingerprint(path, options, crs),
        details=details,
    )


# ---------------------------------------------------------------------- GraphML (OSMnx)
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _graphml_value(text: str | None, kind: str) -> Any:
    if text is None:
        return None
    if kind in ("double", "float"):
        return float(text)
    if kind in ("int", "long"):
        return int(text)
    if kind == "boolean":
        return text.strip().lower() == "true"
    return text


def _first_of_list(value: object) -> object:
    """OSMnx writes merged attributes as a Python list literal; take them apart."""
    if isinstance(value, str) and value.startswith("["):
        try:
            items = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        return items
    return value


def read_graphml(
    path: str | Path, *, options: RoadOptions | None = None, crs: str | None = None
) -> RoadNetwork:
    """Read a road graph saved as GraphML by OSMnx (``ox.save_graphml``).

    Nodes need ``x`` and ``y`` (lon/lat, or metres of the graph's ``crs`` attribute when the
    graph was projected; lon/lat is assumed when the graph has no ``crs``). Each edge's
    ``length`` (metres) is used when present, otherwise the straight line between its nodes.
    The speed is the edge's ``maxspeed`` (when ``options.use_maxspeed``), else its
    ``highway`` class speed; edges whose class is not in the speed table are left out, and
    edges without a class get ``speed_kph`` or ``options.fallback_speed``.

    In a directed graph (OSMnx's MultiDiGraph) every edge is one arc, so one-way streets are
    those without a reverse edge. With ``options.respect_oneway=False``, and in undirected
    graphs, every edge is driven both ways.
    """
    path = _existing(path)
    options = options or RoadOptions()
    keys: dict[str, tuple[str, str]] = {}
    graph_data: dict[str, Any] = {}
    node_index: dict[str, int] = {}
    xs: list[float] = []
    ys: list[float] = []
    sources: list[str] = []
    targets: list[str] = []
    edge_data: list[dict[str, Any]] = []
    directed = True
    try:
        for _, element in ElementTree.iterparse(path, events=("end",)):
            name = _local(element.tag)
            if name == "key":
                keys[element.get("id", "")] = (
                    element.get("attr.name", ""),
                    element.get("attr.type", "string"),
                )
            elif name == "node":
                data = _element_data(element, keys)
                if "x" not in data or "y" not in data:
                    raise DataError(
                        f"road network: GraphML node {element.get('id')!r} in {path} has no x/y"
                    )
                node_index[element.get("id", "")] = len(xs)
                xs.append(float(data["x"]))
                ys.append(float(data["y"]))
                element.clear()
            elif name == "edge":
                sources.append(element.get("source", ""))
                targets.append(element.get("target", ""))
                edge_data.append(_element_data(element, keys))
                element.clear()
            elif name == "graph":
                directed = element.get("edgedefault", "directed") == "directed"
                graph_data = _element_data(element, keys)
    except ElementTree.ParseError as error:
        raise DataError(f"road network: {path} is not valid GraphML: {error}") from error

    unknown = [node for node in (*sources, *targets) if node not in node_index]
    if unknown:
        raise DataError(
            f"road network: GraphML edges refer to unknown nodes {format_examples(unknown)}"
        )
    native_crs = str(graph_data.get("crs") or WGS84)
    coordinates = np.column_stack((xs, ys)) if xs else np.zeros((0, 2))
    first = np.fromiter((node_index[s] for s in sources), dtype=np.int64, count=len(sources))
    last = np.fromiter((node_index[t] for t in targets), dtype=np.int64, count=len(targets))
    straight = _segment_lengths(coordinates, first, last, _is_geographic(native_crs))
    length = np.fromiter(
        (float(d["length"]) if d.get("length") is not None else math.nan for d in edge_data),
        dtype=np.float64,
        count=len(edge_data),
    )
    length = np.where(np.isfinite(length), length, straight)
    speed = np.full(first.size, math.nan)
    classes: Counter[str] = Counter()
    for k, data in enumerate(edge_data):
        road_class = _first_of_list(data.get("highway"))
        limit = (
            parse_maxspeed(_first_of_list(data.get("maxspeed"))) if options.use_maxspeed else None
        )
        class_speed = options.class_speed(road_class) if road_class is not None else None
        if road_class is not None and class_speed is None:
            continue  # a class that is not driven on
        classes[str(road_class)] += 1
        if limit is not None:
            speed[k] = limit
        elif class_speed is not None:
            speed[k] = class_speed
        elif data.get("speed_kph") is not None:
            speed[k] = float(data["speed_kph"])
        else:
            speed[k] = options.fallback_speed
    keep = np.isfinite(speed)
    one_way = directed and options.respect_oneway
    direction = np.full(int(keep.sum()), FORWARD if one_way else BOTH, dtype=np.int8)
    details: dict[str, Any] = {
        "reader": "graphml",
        "edges": len(edge_data),
        "skipped_edges": int((~keep).sum()),
        "segments_per_class": dict(sorted(classes.items())),
        "directed": directed,
    }
    network = _finish(
        coordinates,
        first[keep],
        last[keep],
        length[keep],
        speed[keep],
        direction,
        native_crs=native_crs,
        crs=crs,
        node_ids=np.asarray(list(node_index), dtype=object),
        source=f"GraphML {path.name}",
        fingerprint=network_fingerprint(path, options, crs),
        details=details,
    )
    return network


def _element_data(
    element: ElementTree.Element, keys: Mapping[str, tuple[str, str]]
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for child in element:
        if _local(child.tag) == "data":
            name, kind = keys.get(child.get("key", ""), (child.get("key", ""), "string"))
            data[name] = _graphml_value(child.text, kind)
    return data


# ---------------------------------------------------------------------- edge tables (NVDB)
def _read_table(path: Path, columns: EdgeColumns) -> tuple[pd.DataFrame, Any, str | None]:
    """The attribute frame, the geometries (or None) and the file's CRS (or None)."""
    import shapely

    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = pd.read_csv(path)
        geometry = None
        if columns.geometry in frame.columns:
            try:
                geometry = shapely.from_wkt(frame[columns.geometry].to_numpy(dtype=object))
            except shapely.errors.GEOSException as error:
                raise DataError(
                    f"road network: bad WKT in column {columns.geometry!r}: {error}"
                ) from error
        return frame, geometry, None
    if suffix in (".parquet", ".geoparquet"):
        try:
            import geopandas

            frame = geopandas.read_parquet(path)
        except ImportError as error:
            raise DataError(
                "road network: reading Parquet needs pyarrow (pip install pyarrow), or convert "
                f"{path.name} to GeoPackage"
            ) from error
    else:
        import pyogrio

        try:
            frame = pyogrio.read_dataframe(path)
        except Exception as error:  # pyogrio raises its own DataSourceError family
            raise DataError(f"road network: cannot read {path}: {error}") from error
    crs = frame.crs.to_string() if getattr(frame, "crs", None) is not None else None
    geometry = frame.geometry.to_numpy() if hasattr(frame, "geometry") else None
    return pd.DataFrame(frame.drop(columns=frame.geometry.name, errors="ignore")), geometry, crs


def _end_points(
    geometry: Any,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """First and last coordinate of each geometry, and a mask of non-empty geometries."""
    import shapely

    coordinates, index = shapely.get_coordinates(geometry, return_index=True)
    count = len(geometry)
    valid = np.zeros(count, dtype=bool)
    start = np.full((count, 2), math.nan)
    end = np.full((count, 2), math.nan)
    if index.size:
        _, first_position = np.unique(index, return_index=True)
        last_position = index.size - 1 - np.unique(index[::-1], return_index=True)[1]
        present = np.unique(index)
        valid[present] = True
        start[present] = coordinates[first_position]
        end[present] = coordinates[last_position]
    return start, end, valid


def _geometry_lengths(geometry: Any, geographic: bool) -> NDArray[np.float64]:
    import shapely

    if not geographic:
        return np.asarray(shapely.length(geometry), dtype=np.float64)
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    return np.array(
        [
            geod.geometry_length(g) if g is not None and not g.is_empty else math.nan
            for g in geometry
        ]
    ).reshape(-1)


def _numeric(frame: pd.DataFrame, column: str) -> NDArray[np.float64] | None:
    if column not in frame.columns:
        return None
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)


def _table_settings(
    columns: EdgeColumns, source_crs: str | None, node_tolerance: float | None
) -> str:
    """Reader settings that change the network; empty for the defaults :func:`read_network` uses."""
    if columns == EdgeColumns() and source_crs is None and node_tolerance is None:
        return ""
    return f"{columns}:{source_crs}:{node_tolerance}"


def read_edge_table(
    path: str | Path,
    *,
    options: RoadOptions | None = None,
    columns: EdgeColumns | None = None,
    crs: str | None = None,
    source_crs: str | None = None,
    node_tolerance: float | None = None,
) -> RoadNetwork:
    """Read a table of road links (NVDB-style) into a network.

    Parameters
    ----------
    path
        CSV, GeoPackage, Shapefile, GeoJSON, FlatGeobuf, or (with pyarrow) Parquet.
    options
        Speeds per road class, use of the speed column, one-way rule, fallback speed.
    columns
        Column names (:class:`EdgeColumns`).
    crs
        Project the nodes to this CRS after reading.
    source_crs
        The CRS of the table's coordinates when the file does not say (a CSV). Without either,
        coordinates are taken to be metres of an unnamed projected CRS.
    node_tolerance
        When nodes are matched by end coordinates: ends closer than this (in coordinate units;
        default 0.01 m, or 1e-7° for lon/lat) are one node.

    Notes
    -----
    The speed of a link is its speed column (when ``options.use_maxspeed``), else the speed
    of its road class (links of classes missing from the table are left out), else
    ``options.fallback_speed``.
    """
    path = _existing(path)
    options = options or RoadOptions()
    columns = columns or EdgeColumns()
    frame, geometry, file_crs = _read_table(path, columns)
    native_crs = source_crs or file_crs
    geographic = _is_geographic(native_crs)
    n = len(frame)
    coordinate_columns = (columns.from_x, columns.from_y, columns.to_x, columns.to_y)
    if geometry is not None:
        start, end, valid = _end_points(geometry)
        if not valid.all():
            rows = format_examples(np.flatnonzero(~valid).tolist())
            raise DataError(f"road network: empty geometry in rows {rows}")
    elif all(c in frame.columns for c in coordinate_columns):
        values = frame[list(coordinate_columns)].to_numpy(dtype=np.float64)
        start, end = values[:, :2], values[:, 2:]
    else:
        raise DataError(
            f"road network: {path.name} needs a line geometry or the columns "
            f"{', '.join(coordinate_columns)} to place its nodes"
        )
    bad = ~(np.isfinite(start).all(axis=1) & np.isfinite(end).all(axis=1))
    if bad.any():
        rows = format_examples(np.flatnonzero(bad).tolist())
        raise DataError(f"road network: missing end coordinates in rows {rows}")

    if columns.from_node in frame.columns and columns.to_node in frame.columns:
        ends = pd.concat([frame[columns.from_node], frame[columns.to_node]], ignore_index=True)
        if ends.isna().any():
            rows = np.flatnonzero(ends.isna().to_numpy()) % max(n, 1)
            raise DataError(
                f"road network: missing from/to node in rows {format_examples(rows.tolist())}"
            )
        numeric = pd.api.types.is_numeric_dtype(ends)
        keys = ends.to_numpy() if numeric else ends.astype(str).to_numpy(dtype=str)
        ids, first_seen, inverse = _compact_nodes(keys)
        node_ids: NDArray | None = ids
    else:
        tolerance = node_tolerance or (1e-7 if geographic else 0.01)
        keys = np.round(np.vstack((start, end)) / tolerance).astype(np.int64)
        _, first_seen, inverse = _compact_nodes(keys)
        node_ids = None
    coordinates = np.vstack((start, end))[first_seen]
    first, last = inverse[:n], inverse[n:]

    length = _numeric(frame, columns.length)
    fallback_length = (
        _geometry_lengths(geometry, geographic)
        if geometry is not None
        else _segment_lengths(
            np.vstack((start, end)), np.arange(n), np.arange(n, 2 * n), geographic
        )
    )
    length = (
        fallback_length
        if length is None
        else np.where(np.isfinite(length), length, fallback_length)
    )

    speed = np.full(n, options.fallback_speed)
    keep = np.ones(n, dtype=bool)
    classes: Counter[str] = Counter()
    if columns.road_class in frame.columns:
        for k, value in enumerate(frame[columns.road_class].tolist()):
            class_speed = options.class_speed(value)
            if class_speed is None:
                keep[k] = False
            else:
                speed[k] = class_speed
                classes[str(value)] += 1
    limits = _numeric(frame, columns.speed) if options.use_maxspeed else None
    if limits is not None:
        stated = np.isfinite(limits) & (limits > 0)
        speed = np.where(stated, limits, speed)
    direction = np.full(n, BOTH, dtype=np.int8)
    if options.respect_oneway and columns.oneway in frame.columns:
        parsed = [parse_oneway(v) for v in frame[columns.oneway].tolist()]
        direction = np.array([BOTH if v is None else v for v in parsed], dtype=np.int8).reshape(-1)
    details: dict[str, Any] = {
        "reader": "table",
        "rows": n,
        "skipped_rows": int((~keep).sum()),
        "segments_per_class": dict(sorted(classes.items())),
    }
    return _finish(
        coordinates,
        first[keep],
        last[keep],
        length[keep],
        speed[keep],
        direction[keep],
        native_crs=native_crs,
        crs=crs,
        node_ids=node_ids,
        source=f"edge table {path.name}",
        fingerprint=network_fingerprint(
            path, options, crs, extra=_table_settings(columns, source_crs, node_tolerance)
        ),
        details=details,
    )


def read_network(
    path: str | Path, *, options: RoadOptions | None = None, crs: str | None = None
) -> RoadNetwork:
    """Read any supported road network file, choosing the reader by file name.

    ``.graphml`` → :func:`read_graphml`; ``.osm.pbf``, ``.pbf``, ``.osm``, ``.osm.bz2`` →
    :func:`read_osm`; anything else → :func:`read_edge_table` with default column names.
    """
    path = _existing(path)
    kind = _reader_kind(path)
    if kind == "graphml":
        return read_graphml(path, options=options, crs=crs)
    if kind == "osm":
        return read_osm(path, options=options, crs=crs)
    return read_edge_table(path, options=options, crs=crs)
