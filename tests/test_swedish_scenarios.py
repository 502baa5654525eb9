"""The eleven "Service i samverkan" scenarios: they validate, their data exist, the batch runs
them all with honest statuses that the independent evaluator confirms, the what-ifs close the
shop their rule names, and the one-point answer changes exactly one point."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import yaml

from optiserv.batch import InProcess, load_plan, run_batch
from optiserv.batch.schema import PlanOutputs, PlanSolver
from optiserv.scenario import load_scenario
from optiserv.scenario.runner import run_scenario

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "scenarios" / "service-i-samverkan"
BATCH = FOLDER / "batch.yaml"
MUNICIPALITIES = {
    "arvidsjaur": "Arvidsjaur",
    "skelleftea": "Skellefteå",
    "storuman": "Storuman",
    "alvdalen": "Älvdalen",
    "ludvika": "Ludvika",
    "flen": "Flen",
    "vingaker": "Vingåker",
    "norrkoping": "Norrköping",
    "motala": "Motala",
    "ljungby": "Ljungby",
    "almhult": "Älmhult",
}
SCENARIOS = sorted(p for p in FOLDER.glob("*.yaml") if p.name not in ("common.yaml", "batch.yaml"))
WHAT_IFS = sorted(FOLDER.glob("*-what-if-*.yaml"))
TIME_LIMIT = 20.0
"""Seconds per run in the batch test; every run solves in about a second."""


def _findings() -> ModuleType:
    """scenarios/findings.py, imported as a module."""
    name = "optiserv_scenarios_findings"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scenarios" / "findings.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# ---------------------------------------------------------------------------------- files
def test_batch_lists_the_eleven_municipalities() -> None:
    listed = _findings().read_batch(BATCH)
    assert [p.stem for p in listed] == list(MUNICIPALITIES)
    assert all(p.is_file() for p in listed)
    plan = load_plan(BATCH).plan
    assert [str(entry) for entry in plan.scenarios] == [f"{s}.yaml" for s in MUNICIPALITIES]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_validates_and_its_data_exist(path: Path) -> None:
    loaded = load_scenario(path)
    data = loaded.scenario.data
    for role in ("demand", "sites", "existing", "boundaries"):
        source = getattr(data, role)
        assert source is not None, role
        file = Path(source.path)
        assert file.is_file(), file
        assert file.parent.parent == ROOT / "scenarios" / "data"
    stem = path.stem.split("-what-if-")[0]
    assert loaded.scenario.name is not None
    assert loaded.scenario.name.startswith(MUNICIPALITIES[stem])


def test_what_if_for_every_municipality() -> None:
    stems = {p.name.split("-what-if-")[0] for p in WHAT_IFS}
    assert stems == set(MUNICIPALITIES)


def test_defaults_sit_in_common_yaml_only() -> None:
    common = load_scenario(FOLDER / "ludvika.yaml").scenario
    thresholds = {name: spec.threshold_km for name, spec in common.services.items()}
    assert thresholds == {"groceries": 10, "parcels": 10, "fuel": 20, "pharmacy": 20, "cash": 25}
    assert common.travel.detour_factor == 1.3
    assert not common.services["cash"].has_register
    assert common.rules.max_new_points == 1
    assert common.rules.max_changed_points == 1
    assert common.grants[0].cap_per_point == 250_000
    for path in SCENARIOS:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        for spec in (raw.get("services") or {}).values():
            assert set(spec) <= {"register"}, f"{path.name} overrides more than a register"
        assert "travel" not in raw and "costs" not in raw and "budgets" not in raw, path.name


def test_findings_is_generated() -> None:
    text = (FOLDER / "FINDINGS.md").read_text(encoding="utf-8")
    assert "regenerate with `python scenarios/findings.py` whenever the model changes" in (
        text.lower()
    )
    for name in MUNICIPALITIES.values():
        assert f"\n## {name}\n" in text


# ---------------------------------------------------------------------------------- the batch
def test_the_batch_runs_all_eleven(tmp_path: Path) -> None:
    batch = load_plan(BATCH)
    plan = batch.plan.model_copy(
        update={
            "solver": PlanSolver(time_limit=TIME_LIMIT),
            "outputs": PlanOutputs(folder=str(tmp_path), run_reports=False, report=False),
        }
    )
    batch = dataclasses.replace(batch, plan=plan)
    result = run_batch(batch, tmp_path, InProcess())
    assert result.failed == 0 and result.missing == 0 and not result.interrupted
    table = result.table
    assert set(table["scenario"]) == set(MUNICIPALITIES.values())
    for row in table.to_dict("records"):
        assert row["status"] in ("optimal", "feasible"), row
        assert np.isfinite(row["gap"]), row
        if row["status"] == "optimal":
            assert row["gap"] <= 1e-6, row
        assert row["time_limit"] == TIME_LIMIT
        summary = json.loads(
            (tmp_path / "runs" / row["run_id"] / "summary.json").read_text(encoding="utf-8")
        )
        verification = summary["verification"]
        assert verification["checked"] and verification["feasible"], verification
        assert not verification["violations"]
        assert summary["status"] == row["status"]


# ---------------------------------------------------------------------------------- what-ifs
@pytest.mark.parametrize("path", WHAT_IFS, ids=lambda p: p.name.split("-what-if-")[0])
def test_what_if_closes_the_shop_its_rule_names(path: Path) -> None:
    findings = _findings()
    what_if = load_scenario(path)
    closed = [str(site) for site in what_if.scenario.rules.closed_sites]
    assert closed
    base_file = FOLDER / f"{path.name.split('-what-if-')[0]}.yaml"
    base = run_scenario(load_scenario(base_file), analyse=False)
    shop = findings.largest_rural_shop(base)
    assert shop is not None and list(shop.site_ids) == closed  # the rule still picks it
    groceries = list(base.problem.bundle.catalogue.names).index("groceries")
    ids = [str(s) for s in base.problem.bundle.instance.sites.ids.tolist()]
    today = base.problem.today
    assert all(today[ids.index(site), groceries] for site in closed)

    result = run_scenario(what_if, analyse=False)
    problem = result.problem
    index = [ids.index(site) for site in closed]
    assert not problem.bundle.existing[index].any()  # nothing offered there any more
    assert today[index].any(axis=1).all()  # ... but something was before the closure
    assert sorted(problem.closed.tolist()) == sorted(index)
    assert not set(closed) & {str(p["site_id"]) for p in result.summary["selected"]}
    reported = {str(site["site_id"]) for site in result.summary["closures"]["sites"]}
    assert reported == set(closed)
    assert result.summary["status"] in ("optimal", "feasible")


# ---------------------------------------------------------------------------------- one point
def test_one_point_answer_changes_exactly_one_site() -> None:
    findings = _findings()
    base = run_scenario(load_scenario(FOLDER / "vingaker.yaml"), analyse=False)
    single = findings.best_single_point(base)
    changed = [
        p for p in single.result.summary["selected"] if p["status"] == "new" or p["new_services"]
    ]
    assert len(changed) == 1
    assert single.statuses == {"optimal": single.candidates}
    assert single.result.summary["verification"]["feasible"]
    # the one point reaches no more people than the scenario as written, which may extend more
    people = [findings._people_reached(result, registered=True) for result in (single.result, base)]
    assert people[0] <= people[1] + 1e-9
