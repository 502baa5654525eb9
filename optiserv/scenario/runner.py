"""Run a scenario: read, build, solve, measure; and run a sweep grid.

The runner returns data (:class:`RunResult`); :mod:`optiserv.scenario.outputs` writes it. A
``on_phase`` callback hears the name of each phase as it starts, for progress bars.
"""

from __future__ import annotations

import hashlib
import math
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optiserv import __version__
from optiserv.scenario.loader import LoadedScenario
from optiserv.scenario.model import Inputs, Problem, build_inputs, build_problem, inputs_key
from optiserv.scenario.results import (
    demand_table,
    nearest_providers,
    selected_table,
    summarise,
)

__all__ = [
    "PHASES",
    "RunResult",
    "file_digest",
    "run_scenario",
    "run_sweep",
    "scenario_fingerprint",
]

PHASES = ("reading data and travel costs", "building the model", "solving", "analysing")
"""The phases of :func:`run_scenario`, in order."""

PhaseCallback = Callable[[str], None]


@dataclass(eq=False)
class RunResult:
    """What a run produced, before it is written.

    Attributes
    ----------
    loaded
        The scenario.
    problem
        The bundle instance, model and options.
    solution
        The model's :class:`~optiserv.formulations.service_bundle.BundleSolution`.
    summary
        The content of ``summary.json``.
    selected
        Service points of the plan (``selected_sites``).
    demand
        Demand points with distances before and after (``demand.gpkg``).
    closure
        N-1 closure impact of the plan's points, or None.
    sweep
        The sweep grid's results (one row per point), or None.
    """

    loaded: LoadedScenario
    problem: Problem
    solution: Any
    summary: dict[str, Any]
    selected: pd.DataFrame
    demand: pd.DataFrame
    closure: pd.DataFrame | None = None
    sweep: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scenario_fingerprint(loaded: LoadedScenario) -> str:
    """SHA-256 of the merged scenario and the bytes of every input file it names: two runs
    with the same fingerprint solved the same problem."""
    data = loaded.scenario.data
    paths = [
        getattr(data, role).path
        for role in ("demand", "sites", "existing", "boundaries", "roads", "network")
        if getattr(data, role) is not None
    ]
    digests = [file_digest(Path(p)) if Path(p).is_file() else "missing" for p in paths]
    return hashlib.sha256((loaded.digest() + "".join(digests)).encode()).hexdigest()


class _Clock:
    def __init__(self, on_phase: PhaseCallback | None) -> None:
        self.on_phase = on_phase
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        if self.on_phase is not None:
            self.on_phase(phase)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - started


def _provenance(loaded: LoadedScenario, problem: Problem, solution: Any) -> dict[str, Any]:
    inputs = {
        role: {"path": str(path), "sha256": file_digest(path) if path.is_file() else None}
        for role, path in problem.inputs.tables.files.items()
    }
    files = [
        {
            "path": str(doc.file),
            "sha256": hashlib.sha256(doc.text.encode()).hexdigest(),
            "text": doc.text,
        }
        for doc in loaded.documents
    ]
    options = problem.options
    return {
        "optiserv_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "solver": {"backend": solution.backend, "version": solution.backend_version},
        "options": {
            "backend": problem.backend,
            "time_limit": None if math.isinf(options.time_limit) else options.time_limit,
            "relative_gap": options.relative_gap,
            "threads": options.threads,
            "method": problem.model.method,
        },
        "seed": options.seed,
        "inputs": inputs,
        "scenario_files": files,
        "scenario": loaded.data,
        "overrides": loaded.overrides,
        "fingerprint": scenario_fingerprint(loaded),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _verify(problem: Problem, solution: Any) -> dict[str, Any]:
    from optiserv.evaluate_bundle import evaluate_bundle

    if solution.plan is None:
        return {"checked": False}
    evaluation = evaluate_bundle(problem.bundle, solution, problem.model)
    return {
        "checked": True,
        "feasible": evaluation.feasible,
        "violations": list(evaluation.violations),
        "objective": evaluation.objective,
    }


def run_scenario(
    loaded: LoadedScenario,
    *,
    inputs: Inputs | None = None,
    on_phase: PhaseCallback | None = None,
    analyse: bool = True,
) -> RunResult:
    """Solve a scenario and measure the plan.

    Parameters
    ----------
    loaded
        The validated scenario.
    inputs
        Data and costs already read for an identical ``data``/``travel`` section (sweeps).
    on_phase
        Called with each phase's name (:data:`PHASES`) as it starts.
    analyse
        Also compute the closure impact, the evaluator's check and (when infeasible) a
        diagnosis.

    Returns
    -------
    RunResult
        The solution, the summary and the tables.
    """
    clock = _Clock(on_phase)
    scenario = loaded.scenario
    with clock(PHASES[0]):
        if inputs is None:
            inputs = build_inputs(loaded)
    with clock(PHASES[1]):
        problem = build_problem(loaded, inputs)
    with clock(PHASES[2]):
        solution = problem.model.solve(
            problem.bundle, backend=problem.backend, options=problem.options
        )
    with clock(PHASES[3]):
        offers = None if solution.plan is None else np.asarray(solution.offers)
        before = nearest_providers(problem, np.asarray(problem.bundle.existing))
        after = None if offers is None else nearest_providers(problem, offers)
        edges, unit = list(scenario.outputs.bands), scenario.unit
        selected = selected_table(problem, offers)
        summary = summarise(
            problem,
            solution,
            before[1],
            None if after is None else after[1],
            selected,
            edges,
            unit,
            scenario.costs.currency,
        )
        assignment = None if offers is None else np.asarray(solution.assignment)
        demand = demand_table(problem, before, after, assignment, edges, unit)
        closure = None
        if analyse:
            summary["verification"] = _verify(problem, solution)
            if scenario.outputs.closure_impact:
                from optiserv.analysis import closure_impact

                plan = solution.plan
                closure = closure_impact(problem.bundle, plan, only_existing=False)
            if solution.status.value == "infeasible":
                from optiserv.analysis import diagnose

                summary["diagnosis"] = diagnose(
                    problem.bundle, problem.model, backend=problem.backend, options=problem.options
                ).message
    summary["scenario"] = {
        "name": loaded.name,
        "file": str(loaded.path),
        "description": scenario.description,
        "assumptions": list(scenario.assumptions),
        "notes": list(problem.notes),
    }
    summary["timings"] = {
        **{phase: round(seconds, 4) for phase, seconds in clock.seconds.items()},
        "solver": {k: round(float(v), 4) for k, v in solution.timings.items()},
    }
    summary["provenance"] = _provenance(loaded, problem, solution)
    return RunResult(
        loaded, problem, solution, summary, selected, demand, closure, timings=clock.seconds
    )


def _grid_row(point: dict[str, Any], result: RunResult) -> dict[str, Any]:
    summary = result.summary
    row: dict[str, Any] = {
        **point,
        "status": summary["status"],
        "objective": summary["objective"],
        "bound": summary["bound"],
        "gap": summary["gap"],
    }
    cost = summary["cost"]
    row["one_off"], row["annual"] = cost["one_off"], cost["annual"]
    row["net_one_off"], row["net_annual"] = cost["net"]["one_off"], cost["net"]["annual"]
    row["new_points"] = len(summary["new_points"])
    for name, values in summary["services"].items():
        row[f"share_after:{name}"] = values["share_after"]
        row[f"population_after:{name}"] = values["population_after"]
    return row


def run_sweep(
    loaded: LoadedScenario,
    *,
    on_point: Callable[[int, int, dict[str, Any]], None] | None = None,
    on_phase: PhaseCallback | None = None,
) -> RunResult:
    """Run the scenario as written (its full result) and every point of its ``sweep`` grid.

    Points that share data and travel settings reuse one read of the data and one travel-cost
    computation. ``on_point(k, total, values)`` is called before each grid point.

    Returns
    -------
    RunResult
        The base scenario's result with ``sweep``: one row per grid point with the swept
        values, status, objective, bound, gap, costs and the share covered per service.
    """
    base = run_scenario(loaded, on_phase=on_phase)
    cache = {inputs_key(loaded.scenario): base.problem.inputs}
    points = list(loaded.sweep_points())
    rows = []
    for k, values in enumerate(points):
        if on_point is not None:
            on_point(k, len(points), values)
        variant = loaded.with_values(values)
        key = inputs_key(variant.scenario)
        result = run_scenario(variant, inputs=cache.get(key), analyse=False)
        cache.setdefault(key, result.problem.inputs)
        rows.append(_grid_row(values, result))
    base.sweep = pd.DataFrame(rows)
    return base
