"""Areas of a batch: Swedish municipalities and counties, and the inputs of each.

An area is a municipality (kommun, four-digit SCB code); a county (län, two-digit code) is the
set of municipalities whose code starts with it. The names come from the SCB borders in the
shared raw data (or, without it, from the manifests of prepared inputs).

Inputs of an area are the four files that :mod:`optiserv.datasets.sweden` writes per
municipality (``demand.csv``, ``sites.csv``, ``existing.csv``, ``boundary.geojson``). They
are looked up, in order, in the folders of prepared inputs (``scenarios/data``), in the batch's
cache, and otherwise prepared on the fly from the shared raw data into the cache. An area the
preparation cannot serve (most often: the shared SCB table has no municipal population total
for it) gets a plain-language reason instead, and its runs are recorded as ``missing_data``:
nothing is guessed.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optiserv.exceptions import DataError

__all__ = [
    "INPUT_FILES",
    "Area",
    "AreaCatalogue",
    "AreaInputs",
    "area_data_section",
    "default_prepared_folder",
    "default_shared_data",
    "read_catalogue",
    "resolve_inputs",
]

INPUT_FILES: tuple[str, ...] = ("demand.csv", "sites.csv", "existing.csv", "boundary.geojson")
"""The files of one area's inputs, as :mod:`optiserv.datasets.sweden` writes them."""

_BORDERS = "sweden/scb_admin_boundaries/kommuner_epsg3006.geojson"
_COUNTIES = "sweden/scb_admin_boundaries/lan_epsg3006.geojson"
_POPULATION = "sweden/scb_kommun_population/kommun_population.csv"
_PROVENANCE = "preparation.json"
_REPOSITORY = Path(__file__).resolve().parents[2]


def default_prepared_folder() -> Path:
    """``scenarios/data`` of the source checkout optiserv runs from."""
    return _REPOSITORY / "scenarios" / "data"


def default_shared_data() -> Path:
    """``../shared/data`` beside the checkout when present, else ``/work/shared/data``."""
    beside = _REPOSITORY.parent / "shared" / "data"
    return beside if (beside / "sweden").is_dir() else Path("/work/shared/data")


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


@dataclass(frozen=True)
class Area:
    """One municipality.

    Attributes
    ----------
    code
        SCB kommunkod, four digits with the leading zero (``"0428"``).
    name
        SCB name without "kommun".
    county
        SCB länskod, the first two digits of ``code``.
    county_name
        The county's name (SCB's genitive form without "län", e.g. ``"Dalarnas"``), or empty.
    """

    code: str
    name: str
    county: str
    county_name: str

    @property
    def folder(self) -> str:
        """The inputs folder name, ``<code>_<ascii name>``, as the data preparation names it."""
        from optiserv.datasets.sweden import Municipality

        return Municipality(self.code, self.name).folder

    @property
    def label(self) -> str:
        """``0428 Vingåker``."""
        return f"{self.code} {self.name}"


@dataclass(frozen=True)
class AreaCatalogue:
    """Every municipality and county known to the batch.

    Attributes
    ----------
    municipalities
        Code → name.
    counties
        Code → name.
    """

    municipalities: dict[str, str]
    counties: dict[str, str]

    def area(self, code: str) -> Area:
        """The municipality with SCB code ``code``."""
        if code not in self.municipalities:
            raise DataError(
                f"no municipality with code {code!r} (SCB kommunkod, four digits, e.g. '0428')"
            )
        county = code[:2]
        return Area(code, self.municipalities[code], county, self.counties.get(county, ""))

    def county_code(self, text: str) -> str:
        """The code of a county given by its code (``"20"``) or name (``"Dalarna"``,
        ``"Dalarnas län"``; case and accents ignored)."""
        if text in self.counties:
            return text
        wanted = _folded(text).removesuffix(" lan").strip()
        for code, name in self.counties.items():
            folded = _folded(name)
            if wanted in (folded, folded.removesuffix("s")):
                return code
        known = ", ".join(f"{c} {n}" for c, n in sorted(self.counties.items()))
        raise DataError(f"no county {text!r}; the counties are: {known}")

    def select(
        self,
        *,
        counties: Iterable[str] = (),
        municipalities: Iterable[str] = (),
        everything: bool = False,
    ) -> list[Area]:
        """The areas of the given counties and municipalities (or all), in code order."""
        if everything:
            return [self.area(code) for code in sorted(self.municipalities)]
        codes: set[str] = set()
        for county in counties:
            prefix = self.county_code(county)
            codes |= {c for c in self.municipalities if c[:2] == prefix}
        codes |= {self.area(code).code for code in municipalities}
        return [self.area(code) for code in sorted(codes)]


def _features(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        document = json.load(handle)
    return [feature.get("properties", {}) for feature in document.get("features", [])]


def read_catalogue(shared_data: Path | None, prepared: Sequence[Path] = ()) -> AreaCatalogue:
    """Municipalities and counties from the shared SCB borders, else from prepared manifests.

    Parameters
    ----------
    shared_data
        The shared data folder holding ``sweden/...``, or None.
    prepared
        Folders of prepared inputs, each with a ``manifest.json``.
    """
    municipalities: dict[str, str] = {}
    counties: dict[str, str] = {}
    if shared_data is not None and (shared_data / _BORDERS).is_file():
        for properties in _features(shared_data / _BORDERS):
            municipalities[str(properties["code"])] = str(properties["name"])
        if (shared_data / _COUNTIES).is_file():
            for properties in _features(shared_data / _COUNTIES):
                counties[str(properties["code"])] = str(properties["name"])
    for folder in prepared:
        manifest = folder / "manifest.json"
        if not manifest.is_file():
            continue
        with manifest.open(encoding="utf-8") as handle:
            entries = json.load(handle).get("municipalities", [])
        for entry in entries:
            municipalities.setdefault(str(entry["code"]), str(entry["name"]))
    if not municipalities:
        raise DataError(
            "areas: no list of municipalities found: neither the shared SCB borders "
            f"({shared_data}/{_BORDERS}) nor a manifest.json in the prepared folders "
            f"({', '.join(map(str, prepared)) or 'none'})"
        )
    return AreaCatalogue(municipalities, counties)


@dataclass(frozen=True)
class AreaInputs:
    """Where an area's inputs are, or why there are none.

    Attributes
    ----------
    area
        The municipality.
    folder
        The folder holding :data:`INPUT_FILES`, or None.
    origin
        ``prepared`` (shipped folder), ``cache`` (prepared by an earlier batch), ``new``
        (prepared now), or ``missing``.
    problem
        Why there are no inputs (``origin == "missing"``), else None.
    """

    area: Area
    folder: Path | None
    origin: str
    problem: str | None = None


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in INPUT_FILES)


def _population_codes(shared_data: Path) -> set[str]:
    path = shared_data / _POPULATION
    if not path.is_file():
        return set()
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["code"] for row in csv.DictReader(handle)}


def _missing_total(area: Area, shared_data: Path, known: int) -> str:
    return (
        f"no inputs for {area.label}: the shared SCB population table "
        f"({shared_data / _POPULATION}) has no municipal total for it (it covers {known} of "
        "290 municipalities), so the people outside localities cannot be counted; not "
        "guessed. Add SCB's total to that table, or prepare the inputs yourself"
    )


def _provenance(manifest: dict[str, Any], area: Area) -> dict[str, Any]:
    entries = [e for e in manifest.get("municipalities", []) if e.get("code") == area.code]
    return {
        "generated_by": "optiserv batch: optiserv.datasets.sweden.prepare_scenario_data",
        "municipality": entries[0] if entries else None,
        "inputs": manifest.get("inputs"),
        "rules": manifest.get("rules"),
        "log": [e for e in manifest.get("log", []) if e.get("municipality") == area.code],
    }


class _Preparation:
    """Prepare areas into a staging folder, splitting groups in halves to isolate failures:
    the preparation stops at its first bad municipality, so a group that fails is retried
    as two halves until each failure is one municipality."""

    def __init__(self, shared_data: Path, staging: Path) -> None:
        self.shared_data = shared_data
        self.staging = staging
        self.count = 0
        self.problems: dict[str, str] = {}
        self.made: dict[str, Path] = {}

    def run(self, areas: Sequence[Area]) -> None:
        from optiserv.datasets.sweden import (
            Municipality,
            PreparationRules,
            prepare_scenario_data,
        )

        if not areas:
            return
        self.count += 1
        output = self.staging / str(self.count)
        rules = PreparationRules(municipalities=tuple(Municipality(a.code, a.name) for a in areas))
        try:
            result = prepare_scenario_data(self.shared_data, output, rules)
        except Exception as error:  # one bad municipality stops the whole group
            if len(areas) == 1:
                detail = " ".join(str(error).split())
                self.problems[areas[0].code] = (
                    f"cannot prepare inputs for {areas[0].label}: {detail}"
                )
                return
            half = len(areas) // 2
            self.run(areas[:half])
            self.run(areas[half:])
            return
        for area in areas:
            folder = output / area.folder
            text = json.dumps(_provenance(result.manifest, area), ensure_ascii=False, indent=1)
            (folder / _PROVENANCE).write_text(text + "\n", encoding="utf-8")
            self.made[area.code] = folder


def _prepare_into_cache(
    areas: Sequence[Area], shared_data: Path, cache: Path
) -> dict[str, AreaInputs]:
    """Prepare ``areas`` into ``cache``; every area comes back with a folder or a problem."""
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache))
    try:
        preparation = _Preparation(shared_data, staging)
        preparation.run(list(areas))
        out: dict[str, AreaInputs] = {}
        for area in areas:
            if area.code in preparation.problems:
                out[area.code] = AreaInputs(area, None, "missing", preparation.problems[area.code])
                continue
            target = cache / area.folder
            try:
                os.rename(preparation.made[area.code], target)
            except OSError:  # prepared meanwhile by another batch: same bytes, keep that one
                if not _complete(target):
                    raise
            out[area.code] = AreaInputs(area, target, "new")
        return out
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resolve_inputs(
    areas: Sequence[Area],
    *,
    prepared: Sequence[Path],
    cache: Path,
    shared_data: Path | None,
) -> dict[str, AreaInputs]:
    """The inputs of every area: shipped, cached, prepared now, or a reason why not.

    Parameters
    ----------
    areas
        The areas of the plan.
    prepared
        Folders of prepared inputs, searched first (``<code>_*`` sub-folders).
    cache
        Folder for inputs prepared on the fly (created when needed).
    shared_data
        The shared raw data to prepare from, or None to prepare nothing.

    Returns
    -------
    dict
        Area code → :class:`AreaInputs`.
    """
    out: dict[str, AreaInputs] = {}
    wanted: list[Area] = []
    for area in areas:
        found = [folder / area.folder for folder in prepared if _complete(folder / area.folder)]
        if found:
            out[area.code] = AreaInputs(area, found[0], "prepared")
        elif _complete(cache / area.folder):
            out[area.code] = AreaInputs(area, cache / area.folder, "cache")
        else:
            wanted.append(area)
    if not wanted:
        return out
    if shared_data is None or not (shared_data / "sweden").is_dir():
        for area in wanted:
            out[area.code] = AreaInputs(
                area,
                None,
                "missing",
                f"no inputs for {area.label}: not among the prepared folders "
                f"({', '.join(map(str, prepared)) or 'none'}) and no shared raw data to "
                f"prepare them from ({shared_data})",
            )
        return out
    totals = _population_codes(shared_data)
    ready = []
    for area in wanted:
        if area.code in totals:
            ready.append(area)
        else:
            problem = _missing_total(area, shared_data, len(totals))
            out[area.code] = AreaInputs(area, None, "missing", problem)
    out.update(_prepare_into_cache(ready, shared_data, cache))
    return out


def area_data_section(folder: Path) -> dict[str, Any]:
    """The scenario ``data`` section that reads an area's inputs from ``folder``."""
    return {
        "crs": "EPSG:3006",
        "demand": {
            "path": str(folder / "demand.csv"),
            "columns": {"id": "id", "x": "x", "y": "y", "population": "weight", "name": "name"},
        },
        "sites": {
            "path": str(folder / "sites.csv"),
            "columns": {"id": "id", "x": "x", "y": "y", "name": "name"},
        },
        "existing": {
            "path": str(folder / "existing.csv"),
            "columns": {"site": "site_id", "services": "services"},
            "list_separator": ";",
        },
        "boundaries": {
            "path": str(folder / "boundary.geojson"),
            "columns": {"id": "code", "name": "name"},
        },
    }
