"""Write a run folder: every file under a temporary name first, then renamed into place.

Layout of a run folder (names in :data:`optiserv.reports.record.RUN_FILES`)::

    selected_sites.gpkg / .csv   service points of the plan: status, services, costs, grants
    demand.gpkg                  demand points: distance, band and provider per service,
                                 before and after
    boundaries.gpkg, roads.gpkg  the map's base layers (when given)
    closure_impact.csv           N-1: who loses which service if one point closes
    sweep.csv                    the sweep grid's results (optiserv sweep)
    summary.json                 the numbers scripts rely on (written after the data files)
    report.html                  the self-contained report (rebuilt by optiserv report)

A folder is never overwritten silently: a new run gets a new folder
(``<outputs.folder>/<name>-<YYYYmmdd-HHMMSS>``, numbered on a clash), and an explicit folder
that already holds files is refused unless ``overwrite`` is set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd

from optiserv.exceptions import DataError
from optiserv.reports.files import atomic_write
from optiserv.reports.record import RUN_FILES, json_ready
from optiserv.scenario.runner import RunResult

__all__ = ["new_run_folder", "prepare_folder", "run_slug", "write_run"]


def run_slug(name: str) -> str:
    """``name`` as a folder-name prefix (letters, digits, ``.``, ``-``, ``_``)."""
    text = re.sub(r"[^\w.-]+", "-", name.strip(), flags=re.UNICODE).strip("-")
    return text or "run"


def new_run_folder(parent: Path, name: str) -> Path:
    """A new, empty folder ``parent/<name>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3`` on a clash)."""
    parent.mkdir(parents=True, exist_ok=True)
    stem = f"{run_slug(name)}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    for number in range(1, 1000):
        folder = parent / (stem if number == 1 else f"{stem}-{number}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise DataError(f"outputs: cannot make a new run folder in '{parent}'")


def prepare_folder(folder: Path, *, overwrite: bool) -> Path:
    """Use ``folder`` for a run: create it, or refuse one that holds files unless
    ``overwrite``, in which case the files of an earlier run are removed first."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"--out '{folder}' is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise DataError(
                f"--out '{folder}' already holds files; choose a new folder or add --overwrite"
            )
        for name in RUN_FILES.values():
            (folder / name).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _gpkg(frame: pd.DataFrame, crs: str, layer: str) -> Callable[[Path], None]:
    import geopandas

    points = geopandas.GeoDataFrame(
        frame.drop(columns=["x", "y"]),
        geometry=geopandas.points_from_xy(frame["x"], frame["y"]),
        crs=crs,
    )
    return lambda target: points.to_file(target, driver="GPKG", layer=layer, engine="pyogrio")


def write_run(result: RunResult, folder: Path, *, report: bool = True) -> dict[str, Path]:
    """Write every output of ``result`` into ``folder`` (which must exist).

    Returns
    -------
    dict
        Output name → file written.
    """
    crs = result.problem.inputs.tables.crs
    written: dict[str, Path] = {}

    def put(name: str, write: Callable[[Path], None]) -> None:
        path = folder / RUN_FILES[name]
        atomic_write(path, write)
        written[name] = path

    put("demand", _gpkg(result.demand, crs, "demand"))
    put("selected_gpkg", _gpkg(result.selected, crs, "selected_sites"))
    put("selected_csv", lambda target: result.selected.to_csv(target, index=False))
    tables = result.problem.inputs.tables
    if tables.boundaries is not None:
        boundaries = tables.boundaries
        put(
            "boundaries",
            lambda target: boundaries.to_file(
                target, driver="GPKG", layer="boundaries", engine="pyogrio"
            ),
        )
    if tables.roads is not None and len(tables.roads):
        roads = tables.roads
        put(
            "roads",
            lambda target: roads.to_file(target, driver="GPKG", layer="roads", engine="pyogrio"),
        )
    if result.closure is not None:
        closure = result.closure
        put("closure", lambda target: closure.to_csv(target, index=False))
    if result.sweep is not None:
        sweep = result.sweep
        put("sweep", lambda target: sweep.to_csv(target, index=False))
    text = json.dumps(json_ready(result.summary), indent=2, ensure_ascii=False, allow_nan=False)
    put("summary", lambda target: target.write_text(text + "\n", encoding="utf-8"))
    if report:
        from optiserv.reports.html import write_report
        from optiserv.reports.record import load_run

        written["report"] = write_report(load_run(folder), folder / RUN_FILES["report"])
    return written
