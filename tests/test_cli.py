"""The command line and the model registry: exit codes, --json, help, and the console script."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import optiserv
from optiserv.cli import REQUIRED_JSON_KEYS, app, main
from optiserv.exceptions import InfeasibleError, ParameterError
from optiserv.formulations import registry
from optiserv.formulations.registry import MODEL_NAMES, MODELS, make_formulation
from optiserv.solution import Solution
from optiserv.solvers import Status

# Demand points on a line (x in metres) and four sites. With radius 1100:
#   s1 (500) covers d0, d1000 (weight 30); s4 (2000) covers d1000, d2000 (50);
#   s2 (5500) covers d5000, d6000 (45); s3 (9000) covers d9000 (1).
DEMAND = [
    ("d0", 0, 10),
    ("d1000", 1000, 20),
    ("d2000", 2000, 30),
    ("d5000", 5000, 40),
    ("d6000", 6000, 5),
    ("d9000", 9000, 1),
]
SITES = [("s1", 500), ("s2", 5500), ("s3", 9000), ("s4", 2000)]
TOTAL_WEIGHT = 106.0


@pytest.fixture
def line_files(tmp_path: Path) -> dict[str, Path]:
    demand = tmp_path / "line_demand.csv"
    demand.write_text(
        "id,x,y,weight\n" + "".join(f"{i},{x},0,{w}\n" for i, x, w in DEMAND), encoding="utf-8"
    )
    sites = tmp_path / "line_sites.csv"
    sites.write_text("id,x,y\n" + "".join(f"{j},{x},0\n" for j, x in SITES), encoding="utf-8")
    costs = tmp_path / "line_costs.csv"
    rows = [f"{i},{j},{float(abs(dx - sx))!r}\n" for i, dx, _ in DEMAND for j, sx in SITES]
    costs.write_text("demand_id,site_id,cost\n" + "".join(rows), encoding="utf-8")
    return {"demand": demand, "sites": sites, "costs": costs}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def solve_args(files: dict[str, Path], model: str, *extra: str, costs: bool = False) -> list[str]:
    args = ["solve", model, "--demand", str(files["demand"]), "--sites", str(files["sites"])]
    if costs:
        args += ["--costs", str(files["costs"])]
    return [*args, *extra]


def run_json(runner: CliRunner, args: list[str]) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_user_error(result, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    """Exit 2, exactly one line on stderr, nothing on stdout, no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("optiserv: error: ")
    assert result.stdout == ""
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------
def test_json_has_the_promised_keys(runner: CliRunner, line_files: dict[str, Path]) -> None:
    summary = run_json(runner, solve_args(line_files, "mclp", "--p", "2", "--radius", "1100"))
    assert set(REQUIRED_JSON_KEYS) <= set(summary)
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(95.0)
    assert summary["bound"] == pytest.approx(95.0)
    assert summary["gap"] == pytest.approx(0.0, abs=1e-9)
    assert sorted(summary["open_sites"]) == ["s2", "s4"]
    assert summary["covered_weight"] == pytest.approx(95.0)
    assert summary["total_weight"] == pytest.approx(TOTAL_WEIGHT)


def test_set_covering_objective_counts_sites_without_costs(
    runner: CliRunner, line_files: dict[str, Path]
) -> None:
    summary = run_json(runner, solve_args(line_files, "lscp", "--radius", "1600"))
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(3.0)
    assert sorted(summary["open_sites"]) == ["s1", "s2", "s3"]


def test_infeasible_is_a_result_with_exit_zero(
    runner: CliRunner, line_files: dict[str, Path]
) -> None:
    result = runner.invoke(app, solve_args(line_files, "lscp", "--radius", "100", "--json"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "infeasible"
    assert summary["objective"] is None
    assert summary["open_sites"] == []
    table = runner.invoke(app, solve_args(line_files, "lscp", "--radius", "100"))
    assert table.exit_code == 0
    assert "infeasible" in table.stdout


@pytest.mark.parametrize(
    ("model", "extra"),
    [("mclp", ["--p", "2", "--radius", "1100"]), ("lscp", ["--radius", "1600"]), ("uflp", [])],
)
def test_costs_file_equal_to_distances_gives_the_same_objective(
    runner: CliRunner, line_files: dict[str, Path], model: str, extra: list[str]
) -> None:
    computed = run_json(runner, solve_args(line_files, model, *extra))
    from_file = run_json(runner, solve_args(line_files, model, *extra, costs=True))
    assert computed["status"] == from_file["status"] == "optimal"
    assert from_file["objective"] == pytest.approx(computed["objective"], rel=1e-9)


def test_costs_file_missing_pairs_are_unreachable(
    runner: CliRunner, line_files: dict[str, Path]
) -> None:
    costs = line_files["costs"]
    kept = [line for line in costs.read_text().splitlines() if not line.startswith("d2000,s4,")]
    costs.write_text("\n".join(kept) + "\n")
    summary = run_json(
        runner, solve_args(line_files, "mclp", "--p", "1", "--radius", "1100", costs=True)
    )
    # without (d2000, s4), s4 covers only d1000 (20), so s2 (d5000, d6000: 45) is best
    assert summary["objective"] == pytest.approx(45.0)
    assert summary["open_sites"] == ["s2"]


def test_table_output(runner: CliRunner, line_files: dict[str, Path]) -> None:
    result = runner.invoke(app, solve_args(line_files, "mclp", "-p", "2", "-r", "1100"))
    assert result.exit_code == 0, result.output
    for fragment in ("optimal", "covered demand weight", "s4", "106"):
        assert fragment in result.stdout
    assert not result.stdout.lstrip().startswith("{")


def test_cbc_backend_gives_the_same_answer(runner: CliRunner, line_files: dict[str, Path]) -> None:
    args = solve_args(line_files, "mclp", "--p", "2", "--radius", "1100")
    summary = run_json(runner, [*args, "--backend", "cbc", "--threads", "1", "--seed", "3"])
    assert summary["objective"] == pytest.approx(95.0)
    assert summary["backend"] == "cbc"


@pytest.mark.skipif(
    importlib.util.find_spec("optiserv.formulations.p_median") is None,
    reason="optiserv.formulations.p_median is not written yet",
)
def test_pmedian_objective_is_total_weighted_cost(
    runner: CliRunner, line_files: dict[str, Path]
) -> None:
    summary = run_json(runner, solve_args(line_files, "pmedian", "--p", "2"))
    distance = np.abs(np.subtract.outer([x for _, x, _ in DEMAND], [x for _, x in SITES]))
    weight = np.array([w for _, _, w in DEMAND], dtype=float)
    best = min(
        float(weight @ distance[:, [a, b]].min(axis=1))
        for a in range(len(SITES))
        for b in range(a + 1, len(SITES))
    )
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(best)


@pytest.mark.skipif(
    importlib.util.find_spec("optiserv.formulations.p_center") is None,
    reason="optiserv.formulations.p_center is not written yet",
)
def test_pcenter_objective_is_the_radius(runner: CliRunner, line_files: dict[str, Path]) -> None:
    summary = run_json(runner, solve_args(line_files, "pcenter", "--p", "2"))
    distance = np.abs(np.subtract.outer([x for _, x, _ in DEMAND], [x for _, x in SITES]))
    best = min(
        float(distance[:, [a, b]].min(axis=1).max())
        for a in range(len(SITES))
        for b in range(a + 1, len(SITES))
    )
    assert summary["objective"] == pytest.approx(best)


def test_demo_runs_on_the_shipped_files(runner: CliRunner) -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "mclp on demo" in result.stdout
    assert "optimal" in result.stdout
    summary = json.loads(runner.invoke(app, ["demo", "--json", "--p", "2"]).stdout)
    assert summary["status"] == "optimal" and len(summary["open_sites"]) == 2


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"optiserv {optiserv.__version__}"


def test_help_describes_models_formats_and_units(runner: CliRunner) -> None:
    result = runner.invoke(app, ["solve", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for fragment in (
        *MODEL_NAMES,
        "id,x,y,weight",
        "demand_id,site_id,cost",
        "fixed",
        "forbidden",
        "capacity",
        "metres",
        "haversine",
        "longitude",
        "--json",
        "--time-limit",
        "Exit status",
    ):
        assert fragment in text, fragment
    root = runner.invoke(app, [])
    assert root.exit_code == 0 and "solve" in root.stdout and "demo" in root.stdout


# ---------------------------------------------------------------------------------------------
# User errors: exit 2, one line
# ---------------------------------------------------------------------------------------------
def test_missing_parameter(runner: CliRunner, line_files: dict[str, Path]) -> None:
    result = runner.invoke(app, solve_args(line_files, "mclp", "--radius", "1100"))
    assert_user_error(result, "mclp needs --p")


def test_unused_parameter(runner: CliRunner, line_files: dict[str, Path]) -> None:
    result = runner.invoke(app, solve_args(line_files, "lscp", "--radius", "1", "--p", "2"))
    assert_user_error(result, "lscp does not use --p")


def test_bad_file_names_file_column_and_id(
    runner: CliRunner, line_files: dict[str, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "broken_sites.csv"
    bad.write_text("id,x,y\ns1,500,0\ns2,five,0\n")
    result = runner.invoke(
        app, ["solve", "lscp", "-d", str(line_files["demand"]), "-s", str(bad), "-r", "10"]
    )
    assert_user_error(result, "broken_sites.csv", "'x'", "'s2'", "'five'")


def test_missing_file(runner: CliRunner, line_files: dict[str, Path], tmp_path: Path) -> None:
    args = solve_args(line_files, "mclp", "-p", "1", "-r", "1", "--costs", str(tmp_path / "no.csv"))
    assert_user_error(runner.invoke(app, args), "costs file", "no.csv", "does not exist")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--p", "9", "--radius", "100"], "p = 9"),
        (["--p", "1", "--radius", "100", "--gap", "2"], "relative_gap"),
        (["--p", "1", "--radius", "100", "--time-limit", "0"], "time_limit"),
        (["--p", "1", "--radius", "100", "--backend", "gurobi"], "unknown backend 'gurobi'"),
        (["--p", "1", "--radius", "-5"], "radius must not be negative"),
    ],
)
def test_bad_parameters(
    runner: CliRunner, line_files: dict[str, Path], extra: list[str], fragment: str
) -> None:
    assert_user_error(runner.invoke(app, solve_args(line_files, "mclp", *extra)), fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["solve", "nearest", "-d", "a", "-s", "b"], "'nearest'"),
        (["solve", "mclp", "-s", "b"], "--demand"),
        (["solve", "mclp", "-d", "a", "-s", "b", "--p", "many"], "'--p'"),
        (["solve", "mclp", "-d", "a", "-s", "b", "--metric", "manhattan"], "manhattan"),
        (["solve"], "Missing argument"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_usage_errors_are_one_line(runner: CliRunner, args: list[str], fragment: str) -> None:
    result = runner.invoke(app, args)
    assert_user_error(result, fragment)


# ---------------------------------------------------------------------------------------------
# Internal errors: exit 1, one line and a hint; the traceback on request
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def broken_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("the kernel divided by zero")

    monkeypatch.setattr(registry, "make_formulation", explode)


@pytest.mark.usefixtures("broken_registry")
def test_internal_error_is_one_line_with_a_hint(
    runner: CliRunner, line_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPTISERV_DEBUG", raising=False)
    result = runner.invoke(app, solve_args(line_files, "uflp"))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "internal error: ZeroDivisionError: the kernel divided by zero" in lines[0]
    assert "report" in lines[0] and "--debug" in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("broken_registry")
@pytest.mark.parametrize("how", ["flag", "root flag", "environment"])
def test_debug_shows_the_traceback(
    runner: CliRunner, line_files: dict[str, Path], how: str
) -> None:
    args = solve_args(line_files, "uflp")
    env = None
    if how == "flag":
        args.append("--debug")
    elif how == "root flag":
        args.insert(0, "--debug")
    else:
        env = {"OPTISERV_DEBUG": "1"}
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert "ZeroDivisionError" in result.stderr


def test_user_error_traceback_only_with_debug(
    runner: CliRunner, line_files: dict[str, Path]
) -> None:
    args = solve_args(line_files, "mclp", "--radius", "1100")
    result = runner.invoke(app, [*args, "--debug"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "ParameterError" in result.stderr


class FakeModel:
    """Stands in for a formulation whose solve raises, or returns a solver failure."""

    name = "lscp"

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome

    def solve(self, instance, **_: object) -> Solution:  # type: ignore[no-untyped-def]
        if self.outcome == "raise":
            raise InfeasibleError("no plan covers 'd9000' within radius 1")
        return Solution(
            model="lscp",
            status=Status.ERROR,
            objective=math.nan,
            bound=math.nan,
            gap=math.inf,
            open_sites=np.zeros(0, dtype=np.int64),
            open_site_ids=(),
            assignment=np.full(instance.n_demand, -1),
            covered_weight=0.0,
            total_weight=instance.total_weight,
            message="solver crashed\nbadly",
        )


def test_infeasible_error_is_reported_as_a_result(
    runner: CliRunner, line_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "make_formulation", lambda *a, **k: FakeModel("raise"))
    result = runner.invoke(app, solve_args(line_files, "lscp", "--radius", "1", "--json"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "infeasible" and "'d9000'" in summary["message"]
    assert set(REQUIRED_JSON_KEYS) <= set(summary)


def test_solver_error_status_exits_one_after_printing(
    runner: CliRunner, line_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "make_formulation", lambda *a, **k: FakeModel("error"))
    result = runner.invoke(app, solve_args(line_files, "lscp", "--radius", "1", "--json"))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "error"
    assert result.stderr.strip() == "optiserv: the solver failed: solver crashed badly"


def test_main_returns_the_exit_code(
    line_files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPTISERV_DEBUG", raising=False)
    assert main(["--version"]) == 0
    assert main(solve_args(line_files, "mclp", "--radius", "5")) == 2
    assert capsys.readouterr().err.count("\n") == 1
    monkeypatch.setattr(registry, "make_formulation", lambda *a, **k: 1 / 0)
    assert main(solve_args(line_files, "uflp")) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "internal error: ZeroDivisionError" in error


# ---------------------------------------------------------------------------------------------
# The installed console script, in a real process
# ---------------------------------------------------------------------------------------------
def console_script() -> Path:
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / ("optiserv.exe" if os.name == "nt" else "optiserv")
        if candidate.exists():
            return candidate
    pytest.skip("the optiserv console script is not installed (pip install -e .)")


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPTISERV_DEBUG"}
    return subprocess.run(
        # a hang guard, not a timing check: a cold start compiles the numba kernels first
        [str(console_script()), *args], capture_output=True, text=True, env=env, timeout=900
    )


def test_console_script_json_is_the_only_thing_on_stdout(line_files: dict[str, Path]) -> None:
    process = run_script(*solve_args(line_files, "mclp", "--p", "2", "--radius", "1100"), "--json")
    assert process.returncode == 0, process.stderr
    summary = json.loads(process.stdout)  # fails if anything else was printed on stdout
    assert summary["objective"] == pytest.approx(95.0)
    assert set(REQUIRED_JSON_KEYS) <= set(summary)


def test_console_script_user_error(line_files: dict[str, Path], tmp_path: Path) -> None:
    process = run_script(
        "solve", "mclp", "-d", str(tmp_path / "gone.csv"), "-s", "x", "-p", "1", "-r", "1"
    )
    assert process.returncode == 2
    assert process.stdout == ""
    assert process.stderr.strip().splitlines() == [
        f"optiserv: error: demand file '{tmp_path / 'gone.csv'}' does not exist"
    ]


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------
def test_registry_lists_every_model_once() -> None:
    assert tuple(MODELS) == MODEL_NAMES
    assert set(MODEL_NAMES) == {"lscp", "mclp", "backup", "pmedian", "pcenter", "uflp", "cflp"}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_registry_builds_what_is_installed(name: str) -> None:
    spec = MODELS[name]
    parameters = {"p": 2, "radius": 1000.0}
    keywords = {k: parameters[k] for k in spec.parameters}
    if importlib.util.find_spec(spec.module) is None:
        with pytest.raises(ParameterError, match="not available"):
            make_formulation(name, **keywords)  # type: ignore[arg-type]
        return
    model = make_formulation(name.upper(), **keywords)  # type: ignore[arg-type]
    assert type(model).__name__ == spec.class_name
    assert model.name == name
    for key, value in {**keywords, **spec.constants}.items():
        assert getattr(model, key) == value


def test_registry_errors() -> None:
    with pytest.raises(ParameterError, match="unknown model 'nearest'; choose one of lscp"):
        make_formulation("nearest")
    with pytest.raises(ParameterError, match=r"mclp needs --p .* and --radius"):
        make_formulation("mclp")
    with pytest.raises(ParameterError, match="uflp does not use --p or --radius"):
        make_formulation("uflp", p=3, radius=2.0)
    assert make_formulation(" lscp ", radius=0.0).radius == 0.0


def test_costs_command_writes_a_table_solve_can_read(tmp_path: Path) -> None:
    """`optiserv costs` (straight-line fallback) writes demand_id,site_id,cost for --costs."""
    from importlib import resources

    from typer.testing import CliRunner

    from optiserv.cli import app

    folder = resources.files("optiserv") / "datasets" / "demo"
    demand, sites = str(folder / "demand.csv"), str(folder / "sites.csv")
    out = tmp_path / "costs.csv"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "costs",
            "--demand",
            demand,
            "--sites",
            sites,
            "--cutoff",
            "5000",
            "--measure",
            "distance",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    header = out.read_text().splitlines()[0]
    assert header == "demand_id,site_id,cost"
    solved = runner.invoke(
        app,
        [
            "solve",
            "lscp",
            "--demand",
            demand,
            "--sites",
            sites,
            "--costs",
            str(out),
            "--radius",
            "5000",
            "--json",
        ],
    )
    assert solved.exit_code == 0, solved.output
