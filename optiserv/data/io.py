"""Read user tables and files into a validated :class:`~optiserv.data.Instance`, once.

Three entry points, from the most to the least prepared input:

* :func:`instance_from_frames`: pandas tables with coordinate columns;
* :func:`instance_from_geodataframes`: GeoDataFrames of points in any CRS, projected here;
* :func:`read_instance_csv`: CSV files on disk.

Every mistake in the input raises :class:`~optiserv.exceptions.DataError` with one line that
names the file (or table), the column and the offending ids and values, e.g.
``demand file 'demand.csv': column 'weight': negative values at ids 'd7' (-3.0)``.

File formats
------------
Demand CSV
    ``id,x,y,weight``. ``weight`` is the default population group w_i (people, households, ...),
    non-negative. Further population groups are columns named ``weight_<group>`` (for example
    ``weight_aged_70``); they are kept under their column name, after ``weight``. Every other
    column (names, municipality codes, ...) is ignored, so a numeric column is never taken for
    a population group by accident.
Sites CSV
    ``id,x,y`` and optionally ``capacity`` (in demand-weight units; empty or ``inf`` means
    uncapacitated), ``cost`` (opening cost f_j; empty means 0), and the site's status, given
    either as ``fixed`` and/or ``forbidden`` columns of 0/1, or as one ``status`` column holding
    ``candidate``/``fixed``/``forbidden`` or 0/1/2. Empty cells in these optional columns take
    the default (candidate, uncapacitated, cost 0).
Costs CSV (optional)
    A long table ``demand_id,site_id,cost`` of travel costs d_ij (metres by default, or seconds:
    pass ``cost_unit``). It replaces the distances computed from coordinates; pairs that are not
    listed, or listed with cost ``inf``, are unreachable.

Coordinates are x, y in metres of a projected CRS for ``metric="euclidean"``, or longitude,
latitude in degrees for ``metric="haversine"`` (x is longitude, y is latitude). Ids are kept as
written: a column of plain integers (``7``, not ``007``) becomes integer ids, anything else
text. Comma, semicolon and tab separated files are recognised from the header line; with a
semicolon or tab separator a decimal comma (``12,5``) is accepted. Files are read as UTF-8
(a byte-order mark is fine). Lines are counted from 1, the header being line 1.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from optiserv.data.costs import CostMatrix
from optiserv.data.instance import Instance, Metric, SiteStatus
from optiserv.exceptions import DataError, format_examples

if TYPE_CHECKING:
    import geopandas

__all__ = [
    "DEFAULT_TARGET_CRS",
    "instance_from_frames",
    "instance_from_geodataframes",
    "read_instance_csv",
]

DEFAULT_TARGET_CRS = "EPSG:3006"
"""SWEREF99 TM, the national projected CRS of Sweden (metres)."""

_WGS84 = "EPSG:4326"
_INTEGER_TEXT = re.compile(r"0|-?[1-9][0-9]*")
_STATUS_WORDS = {
    "candidate": SiteStatus.CANDIDATE,
    "fixed": SiteStatus.FIXED,
    "forbidden": SiteStatus.FORBIDDEN,
}
_SEPARATORS = (",", ";", "\t")
_COST_IDS = ("demand_id", "site_id")

FilePath = str | PathLike[str]


# ---------------------------------------------------------------------------------------------
# A table and where it came from
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Table:
    """A raw table plus what error messages need: its source name and row names.

    ``lines`` holds each row's line number in its file (None for a frame, whose rows are named
    by index label); rows are named this way where no id is known yet. ``decimal_comma``
    allows ``12,5`` in numeric text columns.
    """

    frame: pd.DataFrame
    source: str
    lines: NDArray[np.int64] | None = None
    decimal_comma: bool = False

    @classmethod
    def of_frame(cls, frame: pd.DataFrame, source: str) -> _Table:
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{source}: expected a pandas DataFrame, got {type(frame).__name__}")
        return cls(frame, source)

    def rows(self, mask: NDArray[np.bool_]) -> list[_Raw]:
        """Names of the rows in ``mask``: ``line 5`` in a file, ``row 3`` in a frame."""
        where = np.flatnonzero(mask)
        if self.lines is None:
            return [_Raw(f"row {self.frame.index[k]}") for k in where]
        return [_Raw(f"line {self.lines[k]}") for k in where]

    def fail(self, column: str, problem: str) -> DataError:
        """A DataError naming this table, the column and the problem."""
        return DataError(f"{self.source}: column {column!r}: {problem}")

    def require(self, *columns: str) -> None:
        """Raise if any column is missing, listing the columns that are there."""
        missing = [c for c in columns if c not in self.frame.columns]
        if missing:
            have = ", ".join(repr(str(c)) for c in self.frame.columns) or "none"
            plural = "s" if len(missing) > 1 else ""
            names = ", ".join(repr(c) for c in missing)
            raise DataError(
                f"{self.source}: missing column{plural} {names}; the columns are {have}"
            )

    def has(self, column: str) -> bool:
        return column in self.frame.columns

    def text(self, column: str) -> NDArray[np.object_]:
        """The column as stripped strings (missing values become empty strings)."""
        series = self.frame[column].astype(object)
        values = series.where(series.notna(), "").to_numpy(dtype=object)
        if values.size == 0:
            return values
        return np.char.strip(values.astype(str)).astype(object)


def _examples(labels: NDArray | Sequence[object], values: NDArray | None = None) -> str:
    """``'a' (1.5), 'b' (-2)``: offending ids with their values, the first few only."""
    labels = list(labels)
    if values is None:
        return format_examples(labels)
    shown = [
        f"{_label(label)} ({_value(value)})"
        for label, value in zip(labels, list(values), strict=True)
    ]
    return format_examples(_Raw(s) for s in shown)


def _value(value: object) -> str:
    """A value as the user would have written it: ``'abc'``, ``2``, ``-0.5``, ``nan``."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if number.is_integer() and abs(number) < 1e15:
            return str(int(number))
        return repr(number)
    return str(value)


class _Raw(str):
    """A string that :func:`format_examples` should print without quotes."""

    def __repr__(self) -> str:
        return str(self)


def _label(label: object) -> str:
    return repr(label) if isinstance(label, str) and not isinstance(label, _Raw) else str(label)


# ---------------------------------------------------------------------------------------------
# Columns
# ---------------------------------------------------------------------------------------------
def _ids(table: _Table, column: str) -> NDArray:
    """Ids as integers when every id is a plain integer, else as text; no blanks, no repeats."""
    table.require(column)
    series = table.frame[column]
    if pd.api.types.is_bool_dtype(series):
        raise table.fail(column, "ids must be integers or text, not true/false")
    if pd.api.types.is_integer_dtype(series) and not series.isna().any():
        ids: NDArray = series.to_numpy(dtype=np.int64)
    elif pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(values)
        if missing.any():
            raise table.fail(column, f"missing ids at {format_examples(table.rows(missing))}")
        fractional = values != np.round(values)
        if fractional.any():
            raise table.fail(
                column,
                f"ids must be integers or text, got {format_examples(values[fractional].tolist())}",
            )
        ids = values.astype(np.int64)
    else:
        text = table.text(column)
        missing = text == ""
        if missing.any():
            raise table.fail(column, f"missing ids at {format_examples(table.rows(missing))}")
        if _all_integer_text(text):
            try:
                ids = text.astype(np.int64)
            except OverflowError:
                ids = text
        else:
            ids = text
    unique, counts = np.unique(ids, return_counts=True)
    repeated = unique[counts > 1]
    if repeated.size:
        raise table.fail(column, f"duplicate ids {format_examples(repeated.tolist())}")
    return ids


def _all_integer_text(text: NDArray[np.object_]) -> bool:
    """True when every string is a plain integer such as ``7`` or ``-12`` (not ``007``)."""
    return bool(pd.Series(text, dtype=object).str.fullmatch(_INTEGER_TEXT.pattern).all())


def _id_keys(ids: NDArray) -> NDArray[np.object_]:
    """The text form of ids, used to match ids across tables."""
    return np.array([str(v) for v in ids.tolist()], dtype=object)


class _Pairs:
    """Labels ``('d1', 's2')`` of cost-table rows, made only for the rows an error names."""

    def __init__(self, rows: NDArray, cols: NDArray, demand_ids: NDArray, site_ids: NDArray):
        self._rows, self._cols = rows, cols
        self._demand_ids, self._site_ids = demand_ids, site_ids

    def __getitem__(self, selection: NDArray) -> NDArray[np.object_]:
        demand = self._demand_ids[self._rows[selection]].tolist()
        sites = self._site_ids[self._cols[selection]].tolist()
        labels = np.empty(len(demand), dtype=object)
        labels[:] = [_Raw(f"({d!r}, {j!r})") for d, j in zip(demand, sites, strict=True)]
        return labels


def _numbers(
    table: _Table,
    column: str,
    ids: NDArray | _Pairs,
    *,
    default: float | None = None,
    what: str = "ids",
) -> NDArray[np.float64]:
    """A numeric column as float64. Blank cells take ``default`` or are an error.

    Text that is not a number is an error naming the ids and values. Literal ``nan`` and
    ``inf`` are returned as such; the caller decides whether they are allowed.
    """
    table.require(column)
    series = table.frame[column]
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        if default is not None:
            values = np.where(np.isnan(values), default, values)
        return values
    text = table.text(column)
    blank = text == ""
    parsed = pd.Series(text, dtype=object)
    if table.decimal_comma:
        parsed = parsed.str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(parsed, errors="coerce")
    values = numbers.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    unreadable = np.zeros(text.size, dtype=bool)
    for k in np.flatnonzero(np.isnan(values) & ~blank):  # "nan" itself, or not a number
        try:
            values[k] = float(parsed.iloc[k])
        except ValueError:
            unreadable[k] = True
    if unreadable.any():
        raise table.fail(
            column, f"non-numeric values at {what} {_examples(ids[unreadable], text[unreadable])}"
        )
    if blank.any():
        if default is None:
            raise table.fail(column, f"missing values at {what} {_examples(ids[blank])}")
        values[blank] = default
    return values


def _coordinates(
    table: _Table, x: str, y: str, ids: NDArray, metric: Metric
) -> NDArray[np.float64]:
    table.require(x, y)
    columns = []
    for column in (x, y):
        values = _numbers(table, column, ids)
        bad = ~np.isfinite(values)
        if bad.any():
            raise table.fail(
                column,
                f"NaN or infinite coordinates at ids {_examples(ids[bad], values[bad])}",
            )
        columns.append(values)
    if metric == "haversine":
        for column, values, limit, meaning in (
            (x, columns[0], 180.0, "longitude"),
            (y, columns[1], 90.0, "latitude"),
        ):
            outside = np.abs(values) > limit
            if outside.any():
                raise table.fail(
                    column,
                    f"{meaning} outside [-{limit:g}, {limit:g}] degrees (metric 'haversine' "
                    f"needs lon/lat) at ids {_examples(ids[outside], values[outside])}",
                )
    return np.column_stack(columns)


def _weight_columns(table: _Table, weights: Sequence[str] | None) -> list[str]:
    if weights is None:
        table.require("weight")
        extra = [str(c) for c in table.frame.columns if str(c).startswith("weight_")]
        return ["weight", *extra]
    if isinstance(weights, str):
        weights = (weights,)
    names = list(weights)
    if not names:
        raise DataError(f"{table.source}: at least one weight column is needed")
    table.require(*names)
    return names


def _weights(
    table: _Table, ids: NDArray, weights: Sequence[str] | None
) -> dict[str, NDArray[np.float64]]:
    out: dict[str, NDArray[np.float64]] = {}
    for column in _weight_columns(table, weights):
        values = _numbers(table, column, ids)
        bad = ~np.isfinite(values)
        if bad.any():
            raise table.fail(
                column, f"NaN or infinite weights at ids {_examples(ids[bad], values[bad])}"
            )
        negative = values < 0
        if negative.any():
            raise table.fail(
                column, f"negative weights at ids {_examples(ids[negative], values[negative])}"
            )
        out[column] = values
    return out


def _zero_one(table: _Table, column: str, ids: NDArray) -> NDArray[np.bool_]:
    values = _numbers(table, column, ids, default=0.0)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        raise table.fail(column, f"must be 0 or 1, at ids {_examples(ids[bad], values[bad])}")
    return values == 1.0


def _status(table: _Table, ids: NDArray) -> NDArray[np.int8]:
    """Site status from ``status``, or from ``fixed`` / ``forbidden``; candidate by default."""
    flags = [c for c in ("fixed", "forbidden") if table.has(c)]
    if table.has("status") and flags:
        raise table.fail(
            "status",
            f"give the site status either as 'status' or as {' and '.join(map(repr, flags))}, "
            "not both",
        )
    status = np.full(ids.size, int(SiteStatus.CANDIDATE), dtype=np.int8)
    if table.has("status"):
        series = table.frame["status"]
        if pd.api.types.is_numeric_dtype(series):
            text = np.array(
                ["" if pd.isna(v) else f"{float(v):g}" for v in series.tolist()], dtype=object
            )
        else:
            text = table.text("status")
        allowed = {**_STATUS_WORDS, **{str(int(s)): s for s in SiteStatus}, "": None}
        lowered = np.array([v.lower() for v in text], dtype=object)
        bad = np.array([v not in allowed for v in lowered], dtype=bool)
        if bad.any():
            raise table.fail(
                "status",
                "must be candidate, fixed or forbidden (or 0, 1, 2), at ids "
                f"{_examples(ids[bad], text[bad])}",
            )
        for k, word in enumerate(lowered):
            if word:
                status[k] = int(allowed[word])  # type: ignore[arg-type]
    else:
        fixed = _zero_one(table, "fixed", ids) if table.has("fixed") else None
        forbidden = _zero_one(table, "forbidden", ids) if table.has("forbidden") else None
        if fixed is not None and forbidden is not None and (fixed & forbidden).any():
            raise table.fail(
                "forbidden",
                f"sites both fixed and forbidden: ids {_examples(ids[fixed & forbidden])}",
            )
        if fixed is not None:
            status[fixed] = int(SiteStatus.FIXED)
        if forbidden is not None:
            status[forbidden] = int(SiteStatus.FORBIDDEN)
    if (status == SiteStatus.FORBIDDEN).all():
        column = "status" if table.has("status") else "forbidden"
        raise table.fail(column, "every site is forbidden, so no site can be opened")
    return status


def _capacity(table: _Table, ids: NDArray) -> NDArray[np.float64] | None:
    if not table.has("capacity"):
        return None
    values = _numbers(table, "capacity", ids, default=np.inf)
    bad = np.isnan(values) | (values < 0)
    if bad.any():
        raise table.fail(
            "capacity",
            f"must be a non-negative number (or empty/inf for uncapacitated), at ids "
            f"{_examples(ids[bad], values[bad])}",
        )
    return values


def _opening_cost(table: _Table, ids: NDArray) -> NDArray[np.float64] | None:
    if not table.has("cost"):
        return None
    values = _numbers(table, "cost", ids, default=0.0)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise table.fail(
            "cost",
            f"opening costs must be finite and non-negative, at ids "
            f"{_examples(ids[bad], values[bad])}",
        )
    return values


def _cost_matrix(
    table: _Table,
    demand_ids: NDArray,
    site_ids: NDArray,
    demand_source: str,
    sites_source: str,
    unit: str,
) -> CostMatrix:
    """The long table ``demand_id, site_id, cost`` as a sparse cost matrix."""
    table.require("demand_id", "site_id", "cost")
    if len(table.frame) == 0:
        raise DataError(f"{table.source}: has no rows")
    pairs = [
        _match_ids(table, column, known_ids, other)
        for column, known_ids, other in (
            ("demand_id", demand_ids, demand_source),
            ("site_id", site_ids, sites_source),
        )
    ]
    rows, cols = pairs
    pair_labels = _Pairs(rows, cols, demand_ids, site_ids)
    costs = _numbers(table, "cost", pair_labels, what="pairs")
    pair_key = rows * site_ids.size + cols
    order = np.argsort(pair_key, kind="stable")
    same = np.diff(pair_key[order]) == 0
    if same.any():
        repeated = np.unique(order[1:][same])
        raise DataError(
            f"{table.source}: columns 'demand_id', 'site_id': pairs listed more than once: "
            f"{format_examples(pair_labels[repeated].tolist())}"
        )
    bad = np.isnan(costs) | (costs < 0)
    if bad.any():
        raise table.fail(
            "cost",
            "costs must be non-negative numbers (inf or a missing pair means unreachable), at "
            f"pairs {_examples(pair_labels[bad], costs[bad])}",
        )
    return CostMatrix.from_pairs(rows, cols, costs, (demand_ids.size, site_ids.size), unit)


def _match_ids(table: _Table, column: str, known_ids: NDArray, other: str) -> NDArray[np.int64]:
    """Position of each cell's id among ``known_ids``; blank or unknown ids are errors.

    The common case, ids written exactly as in the other file, is one hash lookup; only the
    cells that do not match are stripped of spaces and looked at again.
    """
    series = table.frame[column]
    if (
        known_ids.dtype.kind in "iu"
        and pd.api.types.is_integer_dtype(series)
        and not series.isna().any()
    ):
        index = pd.Index(known_ids).get_indexer(series.to_numpy(dtype=np.int64))
        values: NDArray = series.to_numpy(dtype=np.int64)
    else:
        if pd.api.types.is_numeric_dtype(series):
            numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
            values = np.array([_number_id(v) for v in numbers.tolist()], dtype=object)
        else:
            values = np.array(series.astype(object).where(series.notna(), ""), dtype=object)
        keys = pd.Index(_id_keys(known_ids))
        index = keys.get_indexer(values)
        retry = np.flatnonzero(index < 0)
        if retry.size:
            values[retry] = np.char.strip(values[retry].astype(str)).astype(object)
            index[retry] = keys.get_indexer(values[retry])
    index = index.astype(np.int64)
    unknown = index < 0
    if unknown.any():
        blank = unknown & (values == "")
        if blank.any():
            raise table.fail(column, f"missing ids at {format_examples(table.rows(blank))}")
        names = list(dict.fromkeys(_natural(values[unknown]).tolist()))
        raise table.fail(column, f"ids not in the {other}: {format_examples(names)}")
    return index


def _number_id(value: float) -> str:
    """The text of an id that pandas read as a float (``7.0`` → ``7``; NaN → blank)."""
    if math.isnan(value):
        return ""
    return str(int(value)) if value.is_integer() else str(value)


def _natural(keys: NDArray) -> NDArray:
    """Text ids as integers when they all are, for messages that match the file."""
    if keys.size and all(_INTEGER_TEXT.fullmatch(str(v)) for v in keys):
        return keys.astype(np.int64)
    return keys


# ---------------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------------
def _build(
    demand: _Table,
    sites: _Table,
    costs: _Table | None,
    *,
    x: str,
    y: str,
    id: str,
    weights: Sequence[str] | None,
    metric: Metric,
    crs: str | None,
    cost_unit: str,
    name: str,
) -> Instance:
    """Check every column with its source in hand, then let the Instance check the rest."""
    if metric not in ("euclidean", "haversine"):
        raise DataError(f"metric must be 'euclidean' or 'haversine', got {metric!r}")
    for table in (demand, sites):
        if len(table.frame) == 0:
            raise DataError(f"{table.source}: has no rows")
    demand_ids = _ids(demand, id)
    site_ids = _ids(sites, id)
    demand_xy = _coordinates(demand, x, y, demand_ids, metric)
    site_xy = _coordinates(sites, x, y, site_ids, metric)
    weight_map = _weights(demand, demand_ids, weights)
    status = _status(sites, site_ids)
    capacity = _capacity(sites, site_ids)
    opening_cost = _opening_cost(sites, site_ids)
    matrix = (
        None
        if costs is None
        else _cost_matrix(costs, demand_ids, site_ids, demand.source, sites.source, cost_unit)
    )
    try:
        return Instance.from_arrays(
            demand_xy,
            site_xy,
            weights=weight_map,
            demand_ids=demand_ids,
            site_ids=site_ids,
            site_status=status,
            capacity=capacity,
            opening_cost=opening_cost,
            costs=matrix,
            metric=metric,
            crs=crs,
            name=name,
        )
    except DataError as error:  # anything the checks above did not anticipate
        raise DataError(f"{demand.source} and {sites.source}: {error}") from None


def instance_from_frames(
    demand: pd.DataFrame,
    sites: pd.DataFrame,
    *,
    x: str = "x",
    y: str = "y",
    id: str = "id",
    weights: Sequence[str] | None = ("weight",),
    metric: Metric = "euclidean",
    crs: str | None = None,
    costs: pd.DataFrame | None = None,
    cost_unit: str = "metre",
    name: str = "instance",
) -> Instance:
    """Build an instance from pandas tables of demand points and sites.

    Parameters
    ----------
    demand
        One row per demand point i, with id, coordinate and weight columns.
    sites
        One row per site j, with id and coordinate columns and optionally ``fixed``,
        ``forbidden`` or ``status``, ``capacity`` and ``cost`` (see the module docstring).
    x, y
        Coordinate columns, in both tables: metres in a projected CRS for ``euclidean``,
        longitude and latitude in degrees for ``haversine``.
    id
        Id column, in both tables. Ids must be unique within a table.
    weights
        Demand columns that are population groups, the default group w_i first. ``None``
        takes ``weight`` plus every ``weight_<group>`` column.
    metric
        How d_ij is computed from coordinates when ``costs`` is not given.
    crs
        The coordinates' CRS, recorded on the instance (e.g. ``"EPSG:3006"``).
    costs
        Optional long table ``demand_id, site_id, cost`` that replaces computed distances;
        pairs not listed are unreachable.
    cost_unit
        What ``costs`` measures, e.g. ``"metre"`` or ``"second"``.
    name
        A name for the instance.

    Returns
    -------
    Instance
        The validated, immutable instance.

    Raises
    ------
    DataError
        When a column is missing or holds a bad value; the message names the table, the
        column and the offending ids.
    """
    return _build(
        _Table.of_frame(demand, "demand table"),
        _Table.of_frame(sites, "sites table"),
        None if costs is None else _Table.of_frame(costs, "costs table"),
        x=x,
        y=y,
        id=id,
        weights=weights,
        metric=metric,
        crs=crs,
        cost_unit=cost_unit,
        name=name,
    )


# ---------------------------------------------------------------------------------------------
# GeoDataFrames
# ---------------------------------------------------------------------------------------------
def _point_table(
    gdf: geopandas.GeoDataFrame, source: str, id: str, crs: str
) -> _Table:
    """Coordinates of point geometries in ``crs`` as columns ``x``, ``y`` of a plain table."""
    table = _Table.of_frame(pd.DataFrame(gdf), source)
    ids = _ids(table, id)
    geometry = gdf.geometry
    empty = np.asarray(geometry.isna() | geometry.is_empty, dtype=bool)
    if empty.any():
        raise DataError(
            f"{source}: column {gdf.geometry.name!r}: missing or empty geometries at ids "
            f"{format_examples(ids[empty].tolist())}"
        )
    kinds = np.asarray(geometry.geom_type, dtype=object)
    not_points = kinds != "Point"
    if not_points.any():
        raise DataError(
            f"{source}: column {gdf.geometry.name!r}: only Point geometries are accepted, got "
            f"ids {_examples(ids[not_points], kinds[not_points])}; convert them first, e.g. "
            "with gdf.representative_point() or gdf.centroid in a projected CRS"
        )
    projected = geometry.to_crs(crs)
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    frame["x"] = projected.x.to_numpy()
    frame["y"] = projected.y.to_numpy()
    return _Table(frame, source)


def _crs_text(crs: object) -> str:
    from pyproj import CRS

    parsed = CRS.from_user_input(crs)
    authority = parsed.to_authority()
    return f"{authority[0]}:{authority[1]}" if authority else parsed.to_string()


def instance_from_geodataframes(
    demand_gdf: geopandas.GeoDataFrame,
    sites_gdf: geopandas.GeoDataFrame,
    *,
    id: str = "id",
    weights: Sequence[str] | None = ("weight",),
    target_crs: str | None = DEFAULT_TARGET_CRS,
    metric: Metric = "euclidean",
    costs: pd.DataFrame | None = None,
    cost_unit: str = "metre",
    name: str = "instance",
) -> Instance:
    """Build an instance from GeoDataFrames of points, projecting them once.

    Both frames must have a CRS, and the same one. With ``metric="euclidean"`` the points
    are projected to ``target_crs`` (SWEREF99 TM, EPSG:3006, by default), whose unit must be
    the metre, so distances are metres. ``target_crs=None`` keeps a projected input CRS as it
    is (a geographic one is then an error). With ``metric="haversine"`` the points are kept as
    (or converted to) WGS84 longitude/latitude and distances are great-circle metres.

    Only Point geometries are accepted: a polygon's representative point is a modelling choice
    (centroid, population-weighted centre, ...) that belongs to the user, so other geometry
    types raise a :class:`DataError` naming the ids, rather than being moved silently.

    Parameters
    ----------
    demand_gdf, sites_gdf
        Demand points and sites; the non-geometry columns are read as in
        :func:`instance_from_frames`.
    id
        Id column in both frames.
    weights
        Demand population-group columns, default group first (``None``: ``weight`` and every
        ``weight_<group>``).
    target_crs
        The metric CRS for Euclidean distances.
    metric
        ``"euclidean"`` (projected metres) or ``"haversine"`` (lon/lat, great circle).
    costs
        Optional long table ``demand_id, site_id, cost`` replacing computed distances.
    cost_unit
        What ``costs`` measures.
    name
        A name for the instance.

    Returns
    -------
    Instance
        The validated instance; its ``crs`` is the CRS of the stored coordinates.

    Raises
    ------
    DataError
        Missing or differing CRSs, non-point geometries, and every column problem of
        :func:`instance_from_frames`.
    """
    import geopandas
    from pyproj import CRS

    for gdf, source in ((demand_gdf, "demand table"), (sites_gdf, "sites table")):
        if not isinstance(gdf, geopandas.GeoDataFrame):
            raise DataError(f"{source}: expected a GeoDataFrame, got {type(gdf).__name__}")
        if gdf.crs is None:
            raise DataError(
                f"{source}: the GeoDataFrame has no CRS; set it first, e.g. "
                "gdf.set_crs('EPSG:4326') for longitude/latitude"
            )
    demand_crs, sites_crs = CRS.from_user_input(demand_gdf.crs), CRS.from_user_input(sites_gdf.crs)
    if not demand_crs.equals(sites_crs, ignore_axis_order=True):
        raise DataError(
            f"CRS mismatch: demand table is in {_crs_text(demand_gdf.crs)} but sites table is "
            f"in {_crs_text(sites_gdf.crs)}; convert one with to_crs() first"
        )
    if metric == "haversine":
        crs = _WGS84
    elif metric == "euclidean":
        source_crs = CRS.from_user_input(demand_gdf.crs)
        if target_crs is None:
            if source_crs.is_geographic:
                raise DataError(
                    f"the input CRS {_crs_text(source_crs)} is geographic (degrees); give a "
                    "projected target_crs for Euclidean distances, or use metric='haversine'"
                )
            crs = _crs_text(source_crs)
        else:
            crs = _crs_text(target_crs)
        units = {axis.unit_name.lower() for axis in CRS.from_user_input(crs).axis_info}
        if not units <= {"metre", "meter"}:
            raise DataError(
                f"target CRS {crs} is not in metres (axis units: {', '.join(sorted(units))}); "
                "Euclidean distances need a projected CRS in metres, such as EPSG:3006"
            )
    else:
        raise DataError(f"metric must be 'euclidean' or 'haversine', got {metric!r}")
    return _build(
        _point_table(demand_gdf, "demand table", id, crs),
        _point_table(sites_gdf, "sites table", id, crs),
        None if costs is None else _Table.of_frame(costs, "costs table"),
        x="x",
        y="y",
        id=id,
        weights=weights,
        metric=metric,
        crs=crs,
        cost_unit=cost_unit,
        name=name,
    )


# ---------------------------------------------------------------------------------------------
# CSV files
# ---------------------------------------------------------------------------------------------
def _read_csv(path: FilePath, role: str, text_columns: Sequence[str]) -> _Table:
    """Read a CSV file, with the file's name in every error.

    ``text_columns`` (the ids) are read as text, so ``007`` stays ``007``. Other columns are
    parsed as numbers by pandas where every cell is one (the fast path), else kept as text
    and checked cell by cell later, so that a bad cell can be named.
    """
    path = Path(path)
    source = f"{role} file '{path}'"
    if not path.exists():
        raise DataError(f"{source} does not exist")
    if path.is_dir():
        raise DataError(f"{source} is a directory, not a CSV file")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header_line = handle.readline()
            rest = handle.read(1)
    except UnicodeDecodeError:
        raise DataError(f"{source} is not UTF-8 text") from None
    except OSError as error:
        raise DataError(f"{source} cannot be read: {error.strerror}") from None
    if not header_line.strip():
        raise DataError(f"{source} is empty" if not rest else f"{source}: the first line is blank")
    separator = max(_SEPARATORS, key=header_line.count)
    header = [c.strip() for c in next(csv.reader([header_line], delimiter=separator))]
    seen: set[str] = set()
    for column in header:
        if column == "":
            raise DataError(f"{source}: the header has an unnamed column: {header_line.strip()!r}")
        if column in seen:
            raise DataError(f"{source}: column {column!r} appears more than once in the header")
        seen.add(column)
    try:
        frame = pd.read_csv(
            path,
            sep=separator,
            header=0,
            names=header,
            dtype={column: str for column in text_columns if column in seen},
            keep_default_na=False,
            skip_blank_lines=False,
            skipinitialspace=True,
            decimal="," if separator != "," else ".",
            encoding="utf-8-sig",
            index_col=False,
        )
    except UnicodeDecodeError:
        raise DataError(f"{source} is not UTF-8 text") from None
    except pd.errors.ParserError as error:
        reason = " ".join(str(error).split())
        raise DataError(f"{source} is not a valid CSV file: {reason}") from None
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    frame[text] = frame[text].fillna("")  # cells missing from short lines
    lines = np.arange(2, len(frame) + 2, dtype=np.int64)  # the header is line 1
    # a blank line has no numbers, so it only exists when every column is text
    blank = np.zeros(len(frame), dtype=bool)
    if len(text) == len(frame.columns):
        blank = (frame == "").all(axis=1).to_numpy()
    if blank.any():
        frame = frame.loc[~blank].reset_index(drop=True)
        lines = lines[~blank]
    return _Table(frame, source, lines, decimal_comma=separator != ",")


def read_instance_csv(
    demand_path: FilePath,
    sites_path: FilePath,
    costs_path: FilePath | None = None,
    *,
    metric: Metric = "euclidean",
    x: str = "x",
    y: str = "y",
    id: str = "id",
    weights: Sequence[str] | None = None,
    crs: str | None = None,
    cost_unit: str = "metre",
    name: str | None = None,
) -> Instance:
    """Read demand points, sites and optional travel costs from CSV files.

    The file formats are described in the module docstring: demand ``id,x,y,weight`` (plus
    ``weight_<group>`` columns), sites ``id,x,y`` (plus ``fixed``/``forbidden`` or
    ``status``, ``capacity``, ``cost``), costs ``demand_id,site_id,cost``.

    Parameters
    ----------
    demand_path, sites_path
        The demand and sites files.
    costs_path
        Optional travel costs d_ij, replacing distances computed from coordinates; pairs not
        listed are unreachable.
    metric
        ``"euclidean"``: x, y in metres. ``"haversine"``: x longitude, y latitude in degrees.
    x, y, id
        Column names of the coordinates and ids, in both files.
    weights
        Demand population-group columns, default first; ``None``: ``weight`` and every
        ``weight_<group>`` column.
    crs
        The coordinates' CRS, recorded on the instance.
    cost_unit
        What the costs file measures (``"metre"``, ``"second"``).
    name
        The instance's name; the demand file's stem by default.

    Returns
    -------
    Instance
        The validated instance.

    Raises
    ------
    DataError
        For every problem in the files; the message names the file, the column and the
        offending ids and values.
    """
    demand = _read_csv(demand_path, "demand", [id])
    sites = _read_csv(sites_path, "sites", [id, "status"])
    costs = None if costs_path is None else _read_csv(costs_path, "costs", _COST_IDS)
    return _build(
        demand,
        sites,
        costs,
        x=x,
        y=y,
        id=id,
        weights=weights,
        metric=metric,
        crs=crs,
        cost_unit=cost_unit,
        name=Path(demand_path).stem if name is None else name,
    )
