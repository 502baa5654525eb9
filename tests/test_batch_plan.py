"""Batch plans: validation with file and line, expansion, stable run ids, areas and their
inputs, and a plan with broken scenarios that still finishes every other run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import optiserv.batch.plan as plan_module
from optiserv.batch import InProcess, expand_plan, load_plan, run_batch
from optiserv.batch.areas import INPUT_FILES
from optiserv.cli import main
from optiserv.scenario.errors import ScenarioError
from tests.test_batch_helpers import EXAMPLES, REPOSITORY, examples_plan, shared_data, write


def test_plan_errors_name_file_line_and_key(tmp_path: Path) -> None:
    plan = write(
        tmp_path / "plan.yaml",
        f"version: 1\nscenarios: [{EXAMPLES / 'base.yaml'}]\ngrid:\n  budgets.annual: []\n"
        "retry: 3\n",
    )
    with pytest.raises(ScenarioError) as caught:
        load_plan(plan)
    text = str(caught.value)
    assert "plan.yaml:4: grid['budgets.annual']" in text or "plan.yaml:4: grid" in text
    assert "plan.yaml:5: retry: " in text
    write(plan, "scenarios: [a.yaml]\n")
    with pytest.raises(ScenarioError, match="version: 1"):
        load_plan(plan)


def test_unquoted_municipality_codes_are_refused(tmp_path: Path) -> None:
    plan = write(
        tmp_path / "plan.yaml",
        "version: 1\nscenarios: [a.yaml]\nareas:\n  municipalities: [2039, 0123]\n",
    )
    with pytest.raises(ScenarioError) as caught:
        load_plan(plan)
    assert "plan.yaml:4: areas.municipalities[0]: write codes as quoted text, e.g. '2039'" in str(
        caught.value
    )
    assert "got 83" in str(caught.value)  # 0123 is the octal number 83 in YAML


def test_runs_are_the_scenarios_times_the_grid_in_order(tmp_path: Path) -> None:
    specs = expand_plan(load_plan(examples_plan(tmp_path)), tmp_path / "out")
    assert [s.scenario for s in specs] == ["Example base"] * 3 + ["Example, Åsen shop closes"] * 3
    assert [s.parameters["budgets.annual"] for s in specs] == [20000, 40000, 80000] * 2
    assert len({s.run_id for s in specs}) == 6
    assert all(len(s.run_id) == 16 and s.problem is None for s in specs)
    assert set(specs[0].inputs) == {"demand", "sites", "existing", "boundaries"}


def test_run_ids_are_stable_and_follow_scenario_inputs_and_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = [s.run_id for s in expand_plan(load_plan(examples_plan(tmp_path)), tmp_path / "a")]
    # the same scenarios and data elsewhere (copied folder, other output folder): same ids
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLES, copy)
    plan = write(
        tmp_path / "copy-plan.yaml",
        f"version: 1\nscenarios: [{copy / 'base.yaml'}, {copy / 'closure.yaml'}]\n"
        "grid: {budgets.annual: [20000, 40000, 80000]}\noutputs: {folder: elsewhere}\n",
    )
    assert [s.run_id for s in expand_plan(load_plan(plan), tmp_path / "b")] == first
    # one changed byte in an input changes the ids of the runs that read it
    demand = copy / "data" / "demand.geojson"
    demand.write_text(
        demand.read_text(encoding="utf-8").replace('"befolkning": 3', '"befolkning": 4', 1)
    )
    changed = [s.run_id for s in expand_plan(load_plan(plan), tmp_path / "b")]
    assert not set(changed) & set(first)
    # another optiserv version: other ids
    monkeypatch.setattr(plan_module, "__version__", "99.0")
    again = [s.run_id for s in expand_plan(load_plan(examples_plan(tmp_path)), tmp_path / "a")]
    assert not set(again) & set(first)


def test_plan_values_and_time_limit_are_part_of_the_run(tmp_path: Path) -> None:
    plan = write(
        tmp_path / "plan.yaml",
        f"""version: 1
scenarios:
  - {EXAMPLES / "base.yaml"}
  - path: {EXAMPLES / "base.yaml"}
    label: strict pharmacy
    set: {{services.pharmacy.threshold_km: 15}}
solver: {{time_limit: 7}}
""",
    )
    specs = expand_plan(load_plan(plan), tmp_path / "out")
    assert [s.scenario for s in specs] == ["Example base", "strict pharmacy"]
    assert specs[1].overrides == {
        "services.pharmacy.threshold_km": 15,
        "solver.time_limit": 7.0,
        "solver.threads": 1,  # one solver thread per run unless the scenario or plan says
    }
    assert specs[0].identity["scenario"]["solver"]["time_limit"] == 7.0
    assert specs[0].identity["scenario"]["solver"]["threads"] == 1
    assert specs[0].run_id != specs[1].run_id


def test_a_scenario_sweep_is_expanded_with_the_plan_grid(tmp_path: Path) -> None:
    plan = write(
        tmp_path / "plan.yaml",
        f"version: 1\nscenarios: [{EXAMPLES / 'sweep.yaml'}]\n"
        "grid: {services.groceries.threshold_km: [8, 10]}\n",
    )
    specs = expand_plan(load_plan(plan), tmp_path / "out")
    assert len(specs) == 2 * 5  # the plan's grid times the scenario's own sweep
    assert specs[0].parameters == {"services.groceries.threshold_km": 8, "budgets.annual": 0}


def test_the_same_run_twice_is_a_plan_error(tmp_path: Path) -> None:
    plan = write(
        tmp_path / "plan.yaml",
        f"version: 1\nscenarios: [{EXAMPLES / 'base.yaml'}, {EXAMPLES / 'base.yaml'}]\n",
    )
    with pytest.raises(ScenarioError, match="two runs of the plan are the same run"):
        expand_plan(load_plan(plan), tmp_path / "out")


def _broken_plan(folder: Path) -> Path:
    bad_key = write(
        folder / "bad-key.yaml",
        f"version: 1\nextends: {EXAMPLES / 'base.yaml'}\nname: bad key\nbudgets:\n  anual: 5\n",
    )
    data = folder / "data"
    shutil.copytree(EXAMPLES / "data", data)
    sites = pd.read_csv(data / "sites.csv").rename(columns={"east": "easting"})
    sites.to_csv(data / "sites.csv", index=False)
    bad_data = write(
        folder / "bad-data.yaml",
        f"version: 1\nextends: {EXAMPLES / 'base.yaml'}\nname: bad data\ndata:\n"
        f"  sites: {{path: {data / 'sites.csv'}}}\n",
    )
    return write(
        folder / "plan.yaml",
        f"version: 1\nname: broken\nscenarios: [{EXAMPLES / 'base.yaml'}, {bad_key}, "
        f"{bad_data}, {EXAMPLES / 'closure.yaml'}]\n",
    )


def test_broken_scenarios_are_reported_and_the_others_finish(tmp_path: Path) -> None:
    plan = load_plan(_broken_plan(tmp_path))
    result = run_batch(plan, tmp_path / "out", InProcess())
    table = result.table.set_index("scenario")
    assert table.loc["Example base", "status"] == "optimal"
    assert table.loc["Example, Åsen shop closes", "status"] == "optimal"
    assert table.loc["bad key", "status"] == "failed"
    assert "bad-key.yaml:5: budgets.anual: unknown key 'anual'" in table.loc["bad key", "error"]
    assert table.loc["bad data", "status"] == "failed"
    assert "east" in table.loc["bad data", "error"]  # the missing column is named
    assert table.loc["bad data", "error_kind"] == "input"
    assert (result.run, result.failed, result.skipped) == (2, 2, 0)
    failed = json.loads(
        (tmp_path / "out" / "failed" / f"{table.loc['bad data', 'run_id']}.json").read_text()
    )
    assert "Traceback" in failed["traceback"]


def test_cli_exit_status_and_one_line_for_broken_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _broken_plan(tmp_path)
    code = main(["batch", str(plan), "--in-process", "--out", str(tmp_path / "out"), "--json"])
    captured = capsys.readouterr()
    assert code == 2
    document = json.loads(captured.out)
    assert (document["run"], document["failed"], document["skipped"]) == (2, 2, 0)
    assert {f["status"] for f in document["failures"]} == {"failed"}
    errors = [line for line in captured.err.splitlines() if line.startswith("optiserv: error:")]
    assert len(errors) == 1 and "2 of 4 runs have no result" in errors[0]
    # again: the two good runs are skipped, the two broken ones tried (and failing) again
    code = main(["batch", str(plan), "--in-process", "--out", str(tmp_path / "out"), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 2 and (document["skipped"], document["run"], document["failed"]) == (2, 0, 2)


def test_cli_refuses_two_executors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["batch", str(examples_plan(tmp_path)), "--in-process", "--dask-local", "2"])
    assert code == 2
    assert "choose one executor" in capsys.readouterr().err


def test_dry_run_lists_runs_without_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["batch", str(examples_plan(tmp_path)), "--dry-run", "--out", str(out)])
    assert code == 0
    assert capsys.readouterr().out.count("to run") == 6
    assert not (out / "runs").exists()


# --------------------------------------------------------------------------------- areas
needs_shared = pytest.mark.skipif(shared_data() is None, reason="no shared raw data")


def _area_plan(folder: Path, areas: str) -> Path:
    common = REPOSITORY / "scenarios" / "service-i-samverkan" / "common.yaml"
    return write(
        folder / "plan.yaml",
        f"version: 1\nname: areas\nscenarios: [{common}]\nareas:\n{areas}",
    )


@needs_shared
def test_county_by_name_takes_its_municipalities_and_flags_missing_totals(tmp_path: Path) -> None:
    plan = _area_plan(tmp_path, '  county: Dalarna\n  municipalities: ["0428"]\n')
    specs = expand_plan(load_plan(plan), tmp_path / "out")
    codes = [s.area for s in specs]
    assert codes[0] == "0428" and len(codes) == 16 and all(c[:2] == "20" for c in codes[1:])
    by_code = {s.area: s for s in specs}
    assert by_code["2039"].problem is None  # shipped in scenarios/data
    assert by_code["2080"].problem is None  # prepared now, from the shared raw data
    assert (tmp_path / "out" / "inputs" / "2080_falun" / "preparation.json").is_file()
    missing = by_code["2021"]  # Vansbro: no municipal total in the shared SCB table
    assert missing.problem_status == "missing_data"
    assert "no municipal total" in (missing.problem or "") and "not guessed" in (
        missing.problem or ""
    )
    assert by_code["2039"].county == "20" and by_code["2039"].county_name == "Dalarnas"


@needs_shared
def test_inputs_prepared_on_the_fly_equal_the_shipped_ones_and_give_the_same_ids(
    tmp_path: Path,
) -> None:
    shipped = expand_plan(
        load_plan(_area_plan(tmp_path / "a", '  municipalities: ["0428"]\n')),
        tmp_path / "a" / "out",
    )
    fresh = expand_plan(
        load_plan(_area_plan(tmp_path / "b", '  municipalities: ["0428"]\n  prepared: []\n')),
        tmp_path / "b" / "out",
    )
    prepared = tmp_path / "b" / "out" / "inputs" / "0428_vingaker"
    for name in INPUT_FILES:
        expected = REPOSITORY / "scenarios" / "data" / "0428_vingaker" / name
        assert (prepared / name).read_bytes() == expected.read_bytes(), name
    assert [s.run_id for s in fresh] == [s.run_id for s in shipped]


@needs_shared
def test_unknown_area_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no county 'Atlantis'"):
        expand_plan(load_plan(_area_plan(tmp_path, "  county: Atlantis\n")), tmp_path / "out")


def test_an_output_folder_of_something_else_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    write(out / "thesis.docx", "not a batch")
    code = main(["batch", str(examples_plan(tmp_path)), "--in-process", "--out", str(out)])
    assert code == 2
    assert "holds files a batch does not write (thesis.docx)" in capsys.readouterr().err
