"""Batch plans: read a plan file and expand it into runs with stable ids.

A plan lists scenarios; with ``areas`` each scenario is laid over every area's inputs (a
scenario file written into the output folder, ``extends:`` the plan's scenario, names the
area's data), and with ``grid`` (and each scenario's own ``sweep``) every combination of
values is a run.

The id of a run is the first 16 hex digits of the SHA-256 of its identity: the resolved
scenario (after ``extends``, the plan's values and the grid point; file paths and the output
folder left out), the SHA-256 of every input file it reads, and the optiserv version. The same
scenario on the same data with the same optiserv has the same id on any machine, in any folder,
so a batch that is run again finds the runs it has already done.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from optiserv import __version__
from optiserv.batch.areas import (
    Area,
    AreaInputs,
    area_data_section,
    default_prepared_folder,
    default_shared_data,
    read_catalogue,
    resolve_inputs,
)
from optiserv.batch.schema import PLAN_VERSION, Plan, ScenarioEntry
from optiserv.exceptions import DataError, OptiservError
from optiserv.scenario.errors import Issue, ScenarioError
from optiserv.scenario.loader import LoadedScenario, load_scenario
from optiserv.scenario.messages import issues_from_validation
from optiserv.scenario.yaml_source import SourceMap, read_yaml

__all__ = [
    "DATA_ROLES",
    "FAILED",
    "MISSING_DATA",
    "BatchPlan",
    "FileDigests",
    "RunSpec",
    "expand_plan",
    "load_plan",
    "run_id_of",
    "slug",
]

DATA_ROLES: tuple[str, ...] = ("demand", "sites", "existing", "boundaries", "roads", "network")
"""Roles of a scenario's ``data`` section that name a file."""

FAILED, MISSING_DATA = "failed", "missing_data"
"""Statuses of runs that produced no result (see :mod:`optiserv.batch.store`)."""

SINGLE_SOLVER_THREAD = 1
"""Solver threads of a run whose scenario and plan leave them unset: runs go side by side, one
per core, and the same count everywhere keeps the results the same on every machine."""


def slug(text: str) -> str:
    """``text`` as part of a file name (letters, digits, ``.``, ``-``, ``_``)."""
    return re.sub(r"[^\w.-]+", "-", text.strip(), flags=re.UNICODE).strip("-") or "plan"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def run_id_of(identity: Mapping[str, Any]) -> str:
    """The run id: 16 hex digits of the SHA-256 of the canonical JSON of ``identity``."""
    return hashlib.sha256(_canonical(identity).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class BatchPlan:
    """A validated plan and where it came from.

    Attributes
    ----------
    plan
        The validated plan; paths are as written.
    file
        The plan file.
    text
        Its text, for provenance.
    sources
        Where each key was written (for errors).
    """

    plan: Plan
    file: Path
    text: str
    sources: SourceMap

    @property
    def name(self) -> str:
        """The plan's name (the file's stem when it has none)."""
        return self.plan.name or self.file.stem

    def path(self, text: str) -> Path:
        """A path of the plan, relative to the plan file."""
        return (self.file.parent / text).resolve()

    def output_folder(self) -> Path:
        """``outputs.folder``, or ``runs/<name>`` beside the plan."""
        folder = self.plan.outputs.folder
        return (
            self.path(folder) if folder else self.file.parent.resolve() / "runs" / slug(self.name)
        )

    def issue(self, path: tuple[str | int, ...], message: str) -> ScenarioError:
        """A plan error located at ``path``."""
        return ScenarioError([self.sources.issue(path, message)])


def load_plan(path: str | Path) -> BatchPlan:
    """Read and validate a plan file.

    Parameters
    ----------
    path
        The plan file (YAML, ``version: 1``).

    Returns
    -------
    BatchPlan
        The validated plan.

    Raises
    ------
    ScenarioError
        For every mistake, naming the file, the line and the key path.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"plan file not found: {file}")
    document = read_yaml(file)
    data, sources = document.data, document.sources
    if not isinstance(data, dict):
        raise ScenarioError([sources.issue((), "expected a mapping of keys (a batch plan)")])
    if data.get("version") != PLAN_VERSION or isinstance(data.get("version"), bool):
        raise ScenarioError(
            [
                sources.issue(
                    ("version",),
                    f"a plan starts with 'version: {PLAN_VERSION}' (got "
                    f"{data.get('version')!r}); this optiserv reads plan version {PLAN_VERSION}",
                    key="version" not in data,
                )
            ]
        )
    codes = _code_issues(data, sources)
    if codes:
        raise ScenarioError(codes)
    try:
        plan = Plan.model_validate(data)
    except ValidationError as error:
        raise ScenarioError(issues_from_validation(error, data, sources, Plan)) from None
    selection = plan.areas
    if selection is not None and not (
        selection.all or selection.county or selection.municipalities
    ):
        raise ScenarioError(
            [sources.issue(("areas",), "name the areas: county, municipalities, or all: true")]
        )
    if selection is not None and selection.all and (selection.county or selection.municipalities):
        raise ScenarioError(
            [
                sources.issue(
                    ("areas", "all"),
                    "all: true runs every municipality; drop county "
                    "and municipalities, or drop all",
                )
            ]
        )
    return BatchPlan(plan, file, document.text, sources)


def _code_issues(data: dict[str, Any], sources: SourceMap) -> list[Issue]:
    areas = data.get("areas")
    if not isinstance(areas, dict):
        return []
    issues = []
    for key, width in (("county", 2), ("municipalities", 4)):
        raw = areas.get(key)
        listed = isinstance(raw, list)
        values: list[Any] = raw if isinstance(raw, list) else [raw]
        for position, value in enumerate(values):
            if isinstance(value, int) and not isinstance(value, bool):
                where: tuple[str | int, ...] = (
                    ("areas", key, position)
                    if listed
                    else (
                        "areas",
                        key,
                    )
                )
                issues.append(
                    sources.issue(
                        where,
                        f"write codes as quoted text, e.g. '{value:0{width}d}': YAML reads an "
                        f"unquoted code as a number (and 0123 as the octal number 83), got {value}",
                    )
                )
    return issues


@dataclass(frozen=True)
class RunSpec:
    """One run of a batch: what to solve, its id and its labels.

    Attributes
    ----------
    run_id
        The stable id (16 hex digits).
    scenario
        The scenario's label in the summary table.
    area, area_name, county, county_name
        The municipality and county (empty without areas).
    parameters
        The grid point: key path → value (empty without a grid).
    file
        The scenario file to load.
    overrides
        Key path → value laid over the file (the plan's ``set``, the grid point, the time
        limit).
    inputs
        Data role → SHA-256 of the file.
    identity
        What the id is the hash of.
    problem
        Why the run cannot be done (a broken scenario, missing inputs), or None.
    problem_status
        ``failed`` or ``missing_data`` when there is a problem.
    """

    run_id: str
    scenario: str
    parameters: dict[str, Any]
    file: str
    overrides: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    problem_status: str = FAILED
    area: str = ""
    area_name: str = ""
    county: str = ""
    county_name: str = ""

    @property
    def title(self) -> str:
        """``label · area · key=value`` for messages."""
        parts = [self.scenario]
        if self.area:
            parts.append(f"{self.area} {self.area_name}")
        parts += [f"{key}={value}" for key, value in self.parameters.items()]
        return " · ".join(parts)


class FileDigests:
    """SHA-256 of files, each read once per expansion."""

    def __init__(self) -> None:
        self.known: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        if path not in self.known:
            if not path.is_file():
                return "missing"
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            self.known[path] = digest.hexdigest()
        return self.known[path]


def _normalised(data: Mapping[str, Any]) -> dict[str, Any]:
    """The merged scenario without what does not change the result: file paths (their
    checksums stand in), the output folder, the cache folder and the sweep grid."""
    out = copy.deepcopy(dict(data))
    out.pop("sweep", None)
    if isinstance(out.get("outputs"), dict):
        out["outputs"].pop("folder", None)
    section = out.get("data")
    if isinstance(section, dict):
        for role in DATA_ROLES:
            if isinstance(section.get(role), dict):
                section[role].pop("path", None)
                section[role].pop("cache", None)
    return out


def _inputs(loaded: LoadedScenario, digests: FileDigests) -> dict[str, str]:
    data = loaded.scenario.data
    return {
        role: digests(Path(getattr(data, role).path))
        for role in DATA_ROLES
        if getattr(data, role) is not None
    }


def _entries(batch: BatchPlan) -> list[ScenarioEntry]:
    return [
        ScenarioEntry(path=item) if isinstance(item, str) else item for item in batch.plan.scenarios
    ]


def _label(entry: ScenarioEntry, file: Path) -> str:
    if entry.label:
        return entry.label
    try:
        name = read_yaml(file).data.get("name")
    except Exception:  # an unreadable file is reported when its runs are expanded
        name = None
    return str(name) if isinstance(name, str) and name else file.stem


def _grid(batch: BatchPlan) -> list[dict[str, Any]]:
    grid = batch.plan.grid
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def _points(loaded: LoadedScenario, grid: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The plan's grid times the scenario's own sweep (the plan's keys win)."""
    own = [
        {k: v for k, v in point.items() if k not in grid[0]} for point in loaded.sweep_points()
    ] or [{}]
    seen: list[dict[str, Any]] = []
    for outer, inner in itertools.product(grid, own):
        point = {**outer, **inner}
        if point not in seen:
            seen.append(point)
            yield point


def _write_area_scenario(target: Path, entry_file: Path, name: str, inputs: AreaInputs) -> Path:
    from optiserv.reports.files import write_text

    assert inputs.folder is not None
    document = {
        "version": 1,
        "extends": str(entry_file),
        "name": name,
        "data": area_data_section(inputs.folder),
    }
    text = (
        f"# Written by optiserv batch: {entry_file.name} over the inputs of {inputs.area.label}.\n"
        + json.dumps(document, indent=1, ensure_ascii=False)
        + "\n"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        write_text(target, text)
    return target


def _in_area(spec: RunSpec, area: Area | None) -> RunSpec:
    """``spec`` labelled with its municipality and county."""
    if area is None:
        return spec
    return replace(
        spec,
        area=area.code,
        area_name=area.name,
        county=area.county,
        county_name=area.county_name,
    )


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if isinstance(error, OptiservError) else f"{type(error).__name__}: {text}"


class _Expansion:
    """The runs of a plan, collected in plan order."""

    def __init__(self, batch: BatchPlan, out: Path) -> None:
        self.batch = batch
        self.out = out
        self.digests = FileDigests()
        self.grid = _grid(batch) or [{}]
        solver = batch.plan.solver
        self.limit: dict[str, Any] = {}
        if solver.time_limit is not None:
            self.limit["solver.time_limit"] = solver.time_limit
        if solver.threads is not None:
            self.limit["solver.threads"] = solver.threads
        self.specs: list[RunSpec] = []

    def problem(
        self,
        label: str,
        file: Path,
        area: Area | None,
        overrides: dict[str, Any],
        parameters: dict[str, Any],
        message: str,
        status: str = FAILED,
    ) -> None:
        """Add a run that cannot be done; its id comes from the scenario file's bytes, the
        area and the values, so that a later session finds it again."""
        try:
            text = file.read_text(encoding="utf-8")
        except OSError:
            text = ""
        identity = {
            "optiserv": __version__,
            "unavailable": {
                "file": file.name,
                "file_sha256": hashlib.sha256(text.encode()).hexdigest(),
                "area": "" if area is None else area.code,
                "overrides": overrides,
            },
        }
        spec = RunSpec(
            run_id_of(identity),
            label,
            parameters=parameters,
            file=str(file),
            overrides=overrides,
            identity=identity,
            problem=message,
            problem_status=status,
        )
        self.specs.append(_in_area(spec, area))

    def scenario(self, entry: ScenarioEntry, label: str, file: Path, area: Area | None) -> None:
        """Add the runs of one scenario file: one per grid point (and point of its sweep)."""
        base = {**entry.set, **self.limit}
        try:
            loaded = load_scenario(file)
        except Exception as error:
            for point in self.grid:
                overrides = {**base, **point}
                self.problem(label, file, area, overrides, point, _one_line(error))
            return
        for point in _points(loaded, self.grid):
            overrides = {**base, **point}
            try:
                variant = loaded.with_values(overrides) if overrides else loaded
                if variant.scenario.solver.threads is None:
                    overrides = {**overrides, "solver.threads": SINGLE_SOLVER_THREAD}
                    variant = variant.with_values({"solver.threads": SINGLE_SOLVER_THREAD})
            except Exception as error:
                self.problem(label, file, area, overrides, point, _one_line(error))
                continue
            inputs = _inputs(variant, self.digests)
            identity = {
                "optiserv": __version__,
                "scenario": _normalised(variant.data),
                "inputs": inputs,
            }
            spec = RunSpec(
                run_id_of(identity),
                label,
                parameters=point,
                file=str(file),
                overrides=overrides,
                inputs=inputs,
                identity=identity,
            )
            self.specs.append(_in_area(spec, area))


def _area_inputs(batch: BatchPlan, out: Path) -> list[AreaInputs]:
    selection = batch.plan.areas
    assert selection is not None
    listed = selection.prepared
    prepared = (
        [default_prepared_folder()]
        if listed is None
        else [batch.path(p) for p in ([listed] if isinstance(listed, str) else listed)]
    )
    shared = batch.path(selection.shared_data) if selection.shared_data else default_shared_data()
    cache = batch.path(selection.cache) if selection.cache else out / "inputs"
    catalogue = read_catalogue(shared if shared.is_dir() else None, prepared)
    county = selection.county
    try:
        areas = catalogue.select(
            counties=[county] if isinstance(county, str) else (county or []),
            municipalities=selection.municipalities or [],
            everything=selection.all,
        )
    except DataError as error:
        raise batch.issue(("areas",), str(error)) from None
    found = resolve_inputs(
        areas, prepared=prepared, cache=cache, shared_data=shared if shared.is_dir() else None
    )
    return [found[area.code] for area in areas]


def expand_plan(batch: BatchPlan, out: Path) -> list[RunSpec]:
    """Every run of the plan, in plan order (scenario, then area, then grid point).

    Area scenarios are written into ``out/scenarios/``; inputs prepared on the fly go to the
    plan's cache (default ``out/inputs``). A scenario that cannot be read, a grid value it
    rejects, or an area without inputs gives a run with a ``problem`` instead of an error:
    the rest of the batch goes on.

    Raises
    ------
    ScenarioError
        When two runs of the plan are the same run (same id).
    """
    expansion = _Expansion(batch, out)
    areas = _area_inputs(batch, out) if batch.plan.areas is not None else None
    for number, entry in enumerate(_entries(batch), start=1):
        file = batch.path(entry.path)
        label = _label(entry, file)
        if areas is None:
            expansion.scenario(entry, label, file, None)
            continue
        folder = out / "scenarios" / f"{number:02d}-{slug(label)}"
        for inputs in areas:
            area = inputs.area
            if inputs.folder is None:
                for point in expansion.grid:
                    overrides = {**entry.set, **expansion.limit, **point}
                    message = inputs.problem or f"no inputs for {area.label}"
                    expansion.problem(label, file, area, overrides, point, message, MISSING_DATA)
                continue
            target = folder / f"{area.folder}.yaml"
            _write_area_scenario(target, file, f"{label} · {area.name}", inputs)
            expansion.scenario(entry, label, target, area)
    seen: dict[str, RunSpec] = {}
    for spec in expansion.specs:
        if spec.run_id in seen:
            raise batch.issue(
                ("scenarios",),
                f"two runs of the plan are the same run (same scenario, inputs and values): "
                f"'{seen[spec.run_id].title}' and '{spec.title}'",
            )
        seen[spec.run_id] = spec
    return expansion.specs
