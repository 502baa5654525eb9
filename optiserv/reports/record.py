"""The files of a run folder, read back into a :class:`RunRecord` for the reports."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from optiserv.exceptions import DataError

__all__ = ["RUN_FILES", "RunRecord", "json_ready", "load_run", "load_summary"]

RUN_FILES = {
    "summary": "summary.json",
    "selected_gpkg": "selected_sites.gpkg",
    "selected_csv": "selected_sites.csv",
    "demand": "demand.gpkg",
    "boundaries": "boundaries.gpkg",
    "roads": "roads.gpkg",
    "closure": "closure_impact.csv",
    "sweep": "sweep.csv",
    "report": "report.html",
}
"""Output name → file name in a run folder."""


def json_ready(value: Any) -> Any:
    """Plain JSON values: numpy to Python, tuples to lists, non-finite floats to null."""
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_ready(item) for item in value]
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars
        return json_ready(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


@dataclass(frozen=True, eq=False)
class RunRecord:
    """A finished run as stored on disk.

    Attributes
    ----------
    folder
        The run folder.
    summary
        ``summary.json``.
    selected
        ``selected_sites.csv`` (with ``x``, ``y`` in the working CRS).
    demand
        ``demand.gpkg`` as a plain table with ``x``, ``y``.
    boundaries, roads
        GeoDataFrames of the base layers, or None.
    closure, sweep
        ``closure_impact.csv`` and ``sweep.csv``, or None.
    """

    folder: Path
    summary: dict[str, Any]
    selected: pd.DataFrame
    demand: pd.DataFrame
    boundaries: Any
    roads: Any
    closure: pd.DataFrame | None
    sweep: pd.DataFrame | None


def load_summary(folder: Path) -> dict[str, Any]:
    """``summary.json`` of a run folder; a DataError when the folder is not a finished run."""
    folder = Path(folder)
    path = folder / RUN_FILES["summary"]
    if not folder.is_dir():
        raise DataError(f"run folder '{folder}' does not exist")
    if not path.is_file():
        raise DataError(
            f"run folder '{folder}' has no {RUN_FILES['summary']}: it is not a finished "
            "optiserv run (run 'optiserv run SCENARIO' first)"
        )
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"'{path}' is not a valid summary: {error}") from None


def _geo(path: Path) -> Any:
    import geopandas

    return geopandas.read_file(path, engine="pyogrio") if path.is_file() else None


def load_run(folder: Path) -> RunRecord:
    """Read a run folder written by ``optiserv run`` or ``optiserv sweep``."""
    folder = Path(folder)
    summary = load_summary(folder)
    selected_path = folder / RUN_FILES["selected_csv"]
    selected = (
        pd.read_csv(selected_path, keep_default_na=False, na_values=[""], dtype={"site_id": str})
        if selected_path.is_file()
        else pd.DataFrame()
    )
    for column in ("services", "new_services", "existing_services", "name"):
        if column in selected:
            selected[column] = selected[column].fillna("").astype(str)
    demand_frame = _geo(folder / RUN_FILES["demand"])
    if demand_frame is None:
        raise DataError(f"run folder '{folder}' has no {RUN_FILES['demand']}")
    demand = pd.DataFrame(demand_frame.drop(columns="geometry"))
    demand["x"], demand["y"] = demand_frame.geometry.x, demand_frame.geometry.y
    closure_path, sweep_path = folder / RUN_FILES["closure"], folder / RUN_FILES["sweep"]
    return RunRecord(
        folder=folder,
        summary=summary,
        selected=selected,
        demand=demand,
        boundaries=_geo(folder / RUN_FILES["boundaries"]),
        roads=_geo(folder / RUN_FILES["roads"]),
        closure=pd.read_csv(closure_path) if closure_path.is_file() else None,
        sweep=pd.read_csv(sweep_path) if sweep_path.is_file() else None,
    )
