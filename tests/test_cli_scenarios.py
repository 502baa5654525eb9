"""The scenario commands: validate, run, compare, sweep, report; exit codes, --quiet, --help."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optiserv.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "scenarios" / "examples"


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A copy of the shipped example whose runs go to tmp_path/runs."""
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder)
    base = folder / "base.yaml"
    base.write_text(
        base.read_text(encoding="utf-8").replace("folder: ../../runs/examples", "folder: ../runs"),
        encoding="utf-8",
    )
    return folder


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def one_line_error(result, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optiserv: error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_validate(runner: CliRunner, examples: Path) -> None:
    result = runner.invoke(app, ["validate", str(examples / "base.yaml")])
    assert result.exit_code == 0, result.output
    assert "valid scenario 'Example base'" in result.stdout
    assert "24 points" in result.stdout and "no register" in result.stdout
    quiet = runner.invoke(app, ["validate", "--quiet", str(examples / "closure.yaml")])
    assert quiet.exit_code == 0 and quiet.stdout == ""


def test_validate_reports_schema_errors_on_one_line(runner: CliRunner, examples: Path) -> None:
    broken = examples / "broken.yaml"
    broken.write_text("version: 1\nextends: base.yaml\nbudgets: {anual: 5}\n", encoding="utf-8")
    one_line_error(
        runner.invoke(app, ["validate", str(broken)]),
        "broken.yaml:3: budgets.anual: unknown key 'anual' (did you mean 'annual'?)",
    )
    one_line_error(runner.invoke(app, ["validate", str(examples / "nope.yaml")]), "does not exist")


def test_run_writes_a_run_folder_and_never_overwrites(runner: CliRunner, examples: Path) -> None:
    out = examples.parent / "out"
    result = runner.invoke(app, ["run", str(examples / "base.yaml"), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # the only thing on stdout
    assert summary["status"] == "optimal" and summary["run_folder"] == str(out)
    for name in (
        "summary.json",
        "report.html",
        "demand.gpkg",
        "selected_sites.gpkg",
        "selected_sites.csv",
        "closure_impact.csv",
    ):
        assert (out / name).is_file(), name
    again = runner.invoke(app, ["run", str(examples / "base.yaml"), "--out", str(out)])
    one_line_error(again, "already holds files", "--overwrite")
    forced = runner.invoke(
        app, ["run", "-q", str(examples / "base.yaml"), "--out", str(out), "--overwrite"]
    )
    assert forced.exit_code == 0 and forced.stdout == ""
    # without --out: a new folder under outputs.folder each time
    for _ in range(2):
        assert runner.invoke(app, ["run", "-q", str(examples / "base.yaml")]).exit_code == 0
    assert len(list((examples.parent / "runs").glob("Example-base-*"))) == 2


def test_report_rebuilds_from_a_run_folder(runner: CliRunner, examples: Path) -> None:
    out = examples.parent / "out"
    assert (
        runner.invoke(
            app, ["run", "-q", "--no-report", str(examples / "base.yaml"), "--out", str(out)]
        ).exit_code
        == 0
    )
    assert not (out / "report.html").exists()
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file() and "report.html" in result.stdout
    one_line_error(runner.invoke(app, ["report", str(examples)]), "no summary.json")


def test_compare_reuses_runs_and_writes_compare_html(runner: CliRunner, examples: Path) -> None:
    base, closure = str(examples / "base.yaml"), str(examples / "closure.yaml")
    first = runner.invoke(app, ["compare", base, closure, "--out", str(examples.parent / "c1")])
    assert first.exit_code == 0, first.output
    assert "groceries: share with plan" in first.stdout
    html = (examples.parent / "c1" / "compare.html").read_text(encoding="utf-8")
    assert "Åsen shop closes" in html and 'class="worse"' in html
    runs = sorted((examples.parent / "runs").iterdir())
    assert len(runs) == 2
    second = runner.invoke(
        app, ["compare", base, str(runs[0]), "--json", "--out", str(examples.parent / "c2")]
    )
    assert second.exit_code == 0, second.output
    assert len(list((examples.parent / "runs").iterdir())) == 2  # reused, not solved again
    record = json.loads(second.stdout)
    assert len(record["scenarios"]) == 2
    one_line_error(runner.invoke(app, ["compare", base]), "at least two")


def test_sweep_shows_the_frontier(runner: CliRunner, examples: Path) -> None:
    out = examples.parent / "sweep"
    result = runner.invoke(app, ["sweep", str(examples / "sweep.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "frontier of Example budget frontier" in result.stdout
    assert (out / "sweep.csv").is_file()
    assert "Frontier" in (out / "report.html").read_text(encoding="utf-8")
    one_line_error(runner.invoke(app, ["sweep", str(examples / "base.yaml")]), "no 'sweep:' grid")


def test_internal_error_exits_one_with_a_hint(
    runner: CliRunner, examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optiserv.scenario import runner as scenario_runner

    def explode(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.delenv("OPTISERV_DEBUG", raising=False)
    monkeypatch.setattr(scenario_runner, "run_scenario", explode)
    result = runner.invoke(
        app, ["run", str(examples / "base.yaml"), "--out", str(examples.parent / "x")]
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert "internal error: ZeroDivisionError: boom" in lines[-1] and "report" in lines[-1]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["validate", "run", "compare", "sweep", "report"])
def test_help_is_useful_on_its_own(runner: CliRunner, command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Exit status" in text
    assert len(text) > 400
    root = runner.invoke(app, ["--help"])
    assert command in root.stdout
