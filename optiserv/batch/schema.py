"""The batch plan file schema, version 1: pydantic models that reject unknown keys.

A plan names one or more scenarios, optionally the areas (municipalities, counties, or all of
Sweden) to run each of them over, a parameter grid, a per-run time limit, how often a run is
retried when its worker dies, and where the results go. Paths are relative to the plan file.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PLAN_VERSION",
    "AreaSelection",
    "Plan",
    "PlanOutputs",
    "PlanSolver",
    "ScenarioEntry",
]

PLAN_VERSION = 1
"""The only plan version this optiserv reads."""

Text = Annotated[str, Field(min_length=1)]
Codes = Text | Annotated[list[Text], Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ScenarioEntry(_Strict):
    """A scenario of the plan, with an optional label and values laid over it."""

    path: Text
    """The scenario file (YAML), relative to the plan."""
    label: Text | None = None
    """The name of the scenario in the summary table (default: its name, or the file stem)."""
    set: dict[Text, Any] = {}
    """Key path → value set on the scenario (``budgets.annual: 30000``)."""


class AreaSelection(_Strict):
    """Which municipalities to run every scenario for, and where their inputs come from."""

    county: Codes | None = None
    """A county (län) by code (``"20"``) or name (``Dalarna``), or a list of them."""
    municipalities: Annotated[list[Text], Field(min_length=1)] | None = None
    """Municipalities by SCB code, as text (``"0428"``)."""
    all: bool = False
    """Every municipality of Sweden."""
    prepared: Text | list[Text] | None = None
    """Folders of prepared inputs, searched first (default: the checkout's scenarios/data;
    ``[]``: none, prepare every area from the shared raw data)."""
    shared_data: Text | None = None
    """The shared raw data to prepare other municipalities from (default: ../shared/data
    beside the checkout, else /work/shared/data)."""
    cache: Text | None = None
    """Where inputs prepared on the fly go (default: inputs/ in the output folder)."""


class PlanSolver(_Strict):
    """Solver settings laid over every scenario of the plan."""

    time_limit: Annotated[float, Field(gt=0)] | None = None
    """Seconds per run: a run that reaches it returns its best plan as FEASIBLE with a gap."""
    threads: Annotated[int, Field(ge=1)] | None = None
    """Solver threads per run, for every scenario. By default, scenarios that do not set
    ``solver.threads`` get 1: a batch runs runs side by side (one per core), and a fixed
    count keeps results the same on every machine."""


class PlanOutputs(_Strict):
    """Where the results go and what is written."""

    folder: Text | None = None
    """The output folder (default: runs/<plan name> beside the plan)."""
    run_reports: bool = False
    """Write report.html in every run folder (about 5 MB each)."""
    report: bool = True
    """Write report.html of the batch: the areas side by side, per county."""


class Plan(_Strict):
    """A whole batch plan (``version: 1``)."""

    version: Literal[1]
    name: Text | None = None
    description: str = ""
    scenarios: Annotated[list[Text | ScenarioEntry], Field(min_length=1)]
    areas: AreaSelection | None = None
    grid: dict[Text, Annotated[list[Any], Field(min_length=1)]] = {}
    """Key path → values; every combination is a run (with each scenario's own sweep)."""
    solver: PlanSolver = PlanSolver()
    retries: Annotated[int, Field(ge=0, le=20)] = 2
    """Extra attempts for a run whose worker process dies."""
    outputs: PlanOutputs = PlanOutputs()
