"""End to end on the small shipped scenario: every output is written, and summary.json agrees
with the independent evaluator (optiserv.evaluate_bundle)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas
import numpy as np
import pandas as pd
import pytest

from optiserv.data.services import BundlePlan
from optiserv.evaluate_bundle import evaluate_bundle
from optiserv.exceptions import DataError
from optiserv.reports.record import RUN_FILES, load_run
from optiserv.scenario import ScenarioError, load_scenario
from optiserv.scenario.model import build_inputs, build_problem
from optiserv.scenario.outputs import new_run_folder, prepare_folder, write_run
from optiserv.scenario.runner import run_scenario, run_sweep

EXAMPLES = Path(__file__).resolve().parents[1] / "scenarios" / "examples"


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("base-run")
    result = run_scenario(load_scenario(EXAMPLES / "base.yaml"))
    write_run(result, folder)
    return folder, json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def evaluation_of(summary: dict, scenario: Path):  # type: ignore[no-untyped-def]
    """Rebuild the problem from the scenario and evaluate the plan written in summary.json."""
    loaded = load_scenario(scenario)
    problem = build_problem(loaded, build_inputs(loaded))
    offers = {row["site_id"]: row["services"] for row in summary["selected"]}
    plan = BundlePlan.from_ids(problem.bundle, offers)
    return problem, evaluate_bundle(problem.bundle, plan, problem.model)


def test_every_output_is_written(base_run: tuple[Path, dict]) -> None:
    folder, _ = base_run
    for name in (
        "summary",
        "selected_gpkg",
        "selected_csv",
        "demand",
        "boundaries",
        "closure",
        "report",
    ):
        assert (folder / RUN_FILES[name]).is_file(), name
    assert not list(folder.glob(".*partial*"))  # no temporary files left behind
    demand = geopandas.read_file(folder / "demand.gpkg")
    assert demand.crs.to_epsg() == 3006 and len(demand) == 24
    for column in (
        "groceries_before_km",
        "groceries_after_km",
        "groceries_after_band",
        "groceries_after_site",
        "served_by",
        "municipality",
        "aged_70",
    ):
        assert column in demand.columns, column
    assert demand["cash_before_km"].isna().all()  # no register: unknown, not zero
    selected = pd.read_csv(folder / "selected_sites.csv")
    assert set(selected["status"]) <= {"new", "existing", "existing, extended", "kept (subsidised)"}
    assert len(geopandas.read_file(folder / "selected_sites.gpkg")) == len(selected)


def test_summary_has_the_keys_scripts_rely_on(base_run: tuple[Path, dict]) -> None:
    _, summary = base_run
    for key in (
        "status",
        "objective",
        "bound",
        "gap",
        "population_total",
        "services",
        "municipalities",
        "groups",
        "selected",
        "cost",
        "timings",
        "provenance",
        "cost_source",
    ):
        assert key in summary, key
    assert summary["status"] == "optimal"
    assert summary["cost_source"] == "straight line × 1.3 detour"
    groceries = summary["services"]["groceries"]
    for key in (
        "population_before",
        "population_after",
        "share_before",
        "share_after",
        "bands_before",
        "bands_after",
    ):
        assert groceries[key] is not None, key
    assert list(groceries["bands_after"]) == ["0–5 km", "5–10 km", "10–20 km", ">20 km"]
    assert sum(groceries["bands_after"].values()) == pytest.approx(groceries["population"])
    cash = summary["services"]["cash"]
    assert cash["population_before"] is None and cash["share_before"] is None
    assert cash["bands_before"] is None and cash["population_after"] is not None
    assert set(summary["municipalities"]) == {"Norrby", "Söderby"}
    assert set(summary["groups"]) == {"population", "aged_70"}
    assert set(summary["cost"]) >= {"one_off", "annual", "grants"}
    for row in summary["selected"]:
        assert set(row) >= {"site_id", "services", "one_off_cost", "annual_cost"}
    provenance = summary["provenance"]
    assert provenance["solver"]["backend"] == "highs" and provenance["seed"] == 0
    assert provenance["scenario_files"][0]["text"].startswith("# A small, made-up example")
    for entry in provenance["inputs"].values():
        assert len(entry["sha256"]) == 64


def test_summary_agrees_with_the_independent_evaluator(base_run: tuple[Path, dict]) -> None:
    _, summary = base_run
    problem, evaluation = evaluation_of(summary, EXAMPLES / "base.yaml")
    assert evaluation.feasible, evaluation.violations
    assert summary["objective"] == pytest.approx(evaluation.objective, rel=1e-9)
    for name, values in summary["services"].items():
        assert values["population_after"] == pytest.approx(evaluation.coverage[name]["covered"])
        assert values["share_after"] == pytest.approx(evaluation.coverage[name]["share"])
    costs = evaluation.costs
    assert summary["cost"]["one_off"] == pytest.approx(costs["one_off_gross"])
    assert summary["cost"]["annual"] == pytest.approx(costs["annual_gross"])
    assert summary["cost"]["grants"]["annual"] == pytest.approx(costs["annual_grants"])
    assert summary["cost"]["net"]["annual"] == pytest.approx(costs["annual_net"])
    # the points' own costs and grants add up to the totals
    selected = summary["selected"]
    assert sum(r["annual_cost"] for r in selected) == pytest.approx(costs["annual_gross"])
    assert sum(r["grants_annual"] for r in selected) == pytest.approx(costs["annual_grants"])
    # before = today's offers, measured the same way
    today = evaluate_bundle(problem.bundle, problem.bundle.empty_plan(), problem.model)
    for name in ("groceries", "parcels", "pharmacy"):
        assert summary["services"][name]["population_before"] == pytest.approx(
            today.coverage[name]["covered"]
        )
    # per municipality adds up to the whole
    for name, values in summary["services"].items():
        parts = [
            m["services"][name]["population_after"] for m in summary["municipalities"].values()
        ]
        assert sum(parts) == pytest.approx(values["population_after"])
    assert summary["verification"]["feasible"] is True


def test_closure_variant_removes_the_shop(tmp_path: Path) -> None:
    result = run_scenario(load_scenario(EXAMPLES / "closure.yaml"), analyse=False)
    summary = result.summary
    closures = summary["closures"]
    assert [s["site_id"] for s in closures["sites"]] == ["s01"]
    assert closures["services"]["groceries"]["lost"] > 0
    assert closures["services"]["cash"] is None  # unknown, no register
    assert "s01" not in [row["site_id"] for row in summary["selected"]]
    _, evaluation = evaluation_of(summary, EXAMPLES / "closure.yaml")
    assert evaluation.feasible
    assert summary["objective"] == pytest.approx(evaluation.objective)


def test_sweep_runs_the_grid(tmp_path: Path) -> None:
    result = run_sweep(load_scenario(EXAMPLES / "sweep.yaml"))
    frame = result.sweep
    assert frame is not None and list(frame["budgets.annual"]) == [0, 20000, 40000, 80000, 200000]
    assert (frame["status"] == "optimal").all()
    assert frame["objective"].is_monotonic_increasing  # more budget never covers fewer people
    assert (frame["net_annual"] <= frame["budgets.annual"] + 1e-6).all()
    write_run(result, tmp_path)
    record = load_run(tmp_path)
    assert record.sweep is not None and len(record.sweep) == 5


def test_run_folders_are_never_overwritten(tmp_path: Path) -> None:
    first = new_run_folder(tmp_path, "Example base")
    second = new_run_folder(tmp_path, "Example base")
    assert first != second and first.name.startswith("Example-base-")
    (first / "summary.json").write_text("{}")
    with pytest.raises(DataError, match="already holds files"):
        prepare_folder(first, overwrite=False)
    assert prepare_folder(first, overwrite=True) == first
    assert not (first / "summary.json").exists()


def test_interrupted_write_leaves_no_file_that_looks_complete(tmp_path: Path) -> None:
    from optiserv.reports.files import atomic_write

    target = tmp_path / "summary.json"

    def fail(path: Path) -> None:
        path.write_text('{"status": "opt')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, fail)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_data_errors_name_the_file_and_column(tmp_path: Path) -> None:
    text = (EXAMPLES / "base.yaml").read_text(encoding="utf-8")
    text = text.replace("population: befolkning", "population: people")
    text = text.replace("path: data/", f"path: {EXAMPLES / 'data'}/")
    scenario = tmp_path / "broken.yaml"
    scenario.write_text(text, encoding="utf-8")
    loaded = load_scenario(scenario)
    with pytest.raises(DataError, match=r"demand file '.*demand.geojson': missing column 'people'"):
        build_inputs(loaded)


def test_unknown_site_in_a_rule_names_the_line(tmp_path: Path) -> None:
    text = (EXAMPLES / "closure.yaml").read_text(encoding="utf-8").replace("[s01]", "[s99]")
    text = text.replace("extends: base.yaml", f"extends: {EXAMPLES / 'base.yaml'}")
    scenario = tmp_path / "closure.yaml"
    scenario.write_text(text, encoding="utf-8")
    loaded = load_scenario(scenario)
    with pytest.raises(DataError, match=r"closure.yaml:6: rules.closed_sites\[0\]: site 's99'"):
        build_problem(loaded, build_inputs(loaded))


def test_alvdalen_sample_run(tmp_path: Path) -> None:
    scenario = EXAMPLES.parent / "service-i-samverkan" / "alvdalen.yaml"
    result = run_scenario(load_scenario(scenario))
    summary = result.summary
    assert summary["status"] == "optimal"
    assert summary["population_total"] == 7033
    assert summary["services"]["cash"]["share_before"] is None
    assert summary["cost"]["net"]["annual"] <= 30000 + 1e-6
    assert "never binds" in " ".join(summary["scenario"]["notes"])
    np.testing.assert_allclose(summary["verification"]["objective"], summary["objective"])


def _derived(tmp_path: Path, body: str) -> Path:
    scenario = tmp_path / "derived.yaml"
    scenario.write_text(
        f"version: 1\nextends: {EXAMPLES / 'base.yaml'}\nname: derived\n{body}", encoding="utf-8"
    )
    return scenario


def test_cash_assumed_at_grocery_sites(tmp_path: Path) -> None:
    scenario = _derived(tmp_path, "services:\n  cash: {assume_at: [groceries]}\n")
    loaded = load_scenario(scenario)
    problem = build_problem(loaded, build_inputs(loaded))
    names = list(problem.bundle.catalogue.names)
    cash, groceries = names.index("cash"), names.index("groceries")
    assert problem.today[:, groceries].any()
    np.testing.assert_array_equal(problem.today[:, cash], problem.today[:, groceries])
    assert problem.known_before(cash) and not problem.registered[cash]
    result = run_scenario(loaded, analyse=False)
    summary = result.summary
    row = summary["services"]["cash"]
    assert row["register"] is False and row["assumed_at"] == ["groceries"]
    assert row["share_before"] is not None and row["share_before"] <= row["share_after"]
    # no cash module is bought where cash is assumed already
    assumed_sites = set(problem.bundle.instance.sites.ids[problem.today[:, cash]].tolist())
    for selected in summary["selected"]:
        if selected["site_id"] in assumed_sites:
            assert "cash" in selected["services"]
    _, evaluation = evaluation_of(summary, scenario)
    assert evaluation.feasible
    assert summary["objective"] == pytest.approx(evaluation.objective)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("services:\n  groceries: {assume_at: [cash]}\n", "for services with register: false"),
        ("services:\n  cash: {assume_at: [cash]}\n", "expected another service"),
        ("services:\n  cash: {assume_at: [bakery]}\n", "got 'bakery'"),
    ],
)
def test_bad_assume_at_names_the_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=rf"services\.\w+\.assume_at\[0\]: .*{message}"):
        load_scenario(_derived(tmp_path, body))
