"""The result store: atomic commits, stale attempts, resume, the summary table and the report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from optiserv.batch import InProcess, ResultStore, expand_plan, load_plan, run_batch
from optiserv.batch.store import FIRST_COLUMNS, commit, is_complete, new_partial, stale_partials
from tests.test_batch_helpers import examples_plan


def _finished(partial: Path, text: str) -> Path:
    (partial / "summary.json").write_text(text, encoding="utf-8")
    (partial / "run.json").write_text("{}", encoding="utf-8")
    return partial


def test_commit_is_a_rename_and_the_first_attempt_wins(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first = _finished(new_partial(runs, "abc"), "first")
    second = _finished(new_partial(runs, "abc"), "second")
    assert commit(first, runs / "abc")
    assert not commit(second, runs / "abc")  # another attempt was committed first
    assert (runs / "abc" / "summary.json").read_text() == "first"
    assert not first.exists() and not second.exists()


def test_an_incomplete_folder_under_the_final_name_is_replaced(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "abc").mkdir(parents=True)
    (runs / "abc" / "summary.json").write_text("half", encoding="utf-8")  # no run.json
    assert not is_complete(runs / "abc")
    assert ResultStore(tmp_path).complete_ids() == set()
    assert commit(_finished(new_partial(runs, "abc"), "whole"), runs / "abc")
    assert (runs / "abc" / "summary.json").read_text() == "whole"


def test_only_attempts_of_dead_processes_are_stale(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    mine = new_partial(runs, "abc")
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    dead = Path(str(mine).replace(f"-{os.getpid()}-", f"-{process.pid}-"))
    dead.mkdir()
    assert stale_partials(runs) == [dead]
    assert stale_partials(runs, "other") == []
    assert ResultStore(tmp_path).clean() == [dead]
    assert mine.is_dir() and not dead.exists()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("store")
    plan = examples_plan(folder)
    run_batch(load_plan(plan), folder / "out", InProcess())
    return plan, folder / "out"


def test_summary_table_has_one_row_per_run_and_the_promised_columns(
    finished: tuple[Path, Path],
) -> None:
    _, out = finished
    for table in (pd.read_csv(out / "summary.csv"), pd.read_parquet(out / "summary.parquet")):
        assert len(table) == 6 and table["run_id"].is_unique
        assert list(table.columns[: len(FIRST_COLUMNS)]) == list(FIRST_COLUMNS)
        assert set(table["status"]) == {"optimal"}
        for column in (
            "share_before:groceries",
            "share_after:groceries",
            "population_after:pharmacy",
            "cost_annual",
            "net_annual",
            "single_points_of_failure_before",
            "single_points_of_failure_after",
            "time_solve",
            "time_total",
            "param:budgets.annual",
        ):
            assert column in table, column
        assert (table["share_after:groceries"] >= table["share_before:groceries"]).all()


def test_every_run_folder_is_complete_with_provenance(finished: tuple[Path, Path]) -> None:
    _, out = finished
    table = pd.read_csv(out / "summary.csv")
    for run_id in table["run_id"]:
        folder = out / "runs" / run_id
        for name in ("summary.json", "selected_sites.csv", "demand.gpkg", "run.json"):
            assert (folder / name).is_file(), name
        record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        assert record["run_id"] == run_id and record["inputs"]["demand"]
        assert record["identity"]["optiserv"] == record["optiserv_version"]
    assert not list((out / "runs" / ".partial").glob("*"))
    batch = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    assert batch["plan"]["text"].startswith("version: 1")
    assert batch["sessions"][0]["run"] == 6


def test_report_is_self_contained(finished: tuple[Path, Path]) -> None:
    _, out = finished
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "Example, Åsen shop closes · budgets.annual = 40000" in text
    for forbidden in ("http://", "https://", "<script", "<link", "@import"):
        assert forbidden not in text


def test_resume_skips_complete_runs_and_redoes_the_rest(
    finished: tuple[Path, Path], tmp_path: Path
) -> None:
    plan, out = finished
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    specs = expand_plan(load_plan(plan), copy)
    (copy / "runs" / specs[2].run_id / "run.json").unlink()  # as if it never committed
    shutil.rmtree(copy / "runs" / specs[4].run_id)
    result = run_batch(load_plan(plan), copy, InProcess(), specs=specs)
    assert (result.skipped, result.run, result.failed) == (4, 2, 0)
    again = run_batch(load_plan(plan), copy, InProcess())
    assert (again.skipped, again.run) == (6, 0)
    pd.testing.assert_frame_equal(
        result.table[["run_id", "objective", "selection"]],
        pd.read_csv(out / "summary.csv")[["run_id", "objective", "selection"]],
    )


def test_report_puts_the_areas_of_each_county_side_by_side() -> None:
    from optiserv.batch.report import render_report
    from optiserv.batch.table import summary_frame

    def row(area: str, name: str, county: str, covered: float, status: str = "optimal") -> dict:
        solved = status == "optimal"
        return {
            "run_id": area,
            "scenario": "plan",
            "area": area,
            "area_name": name,
            "county": county,
            "county_name": {"20": "Dalarnas", "25": "Norrbottens"}[county],
            "parameters": "{}",
            "status": status,
            "error": "" if solved else "no municipal total",
            "population_total": 1000.0 if solved else None,
            "population_before:groceries": covered * 500 if solved else None,
            "share_before:groceries": covered / 2 if solved else None,
            "population_after:groceries": covered * 1000 if solved else None,
            "share_after:groceries": covered if solved else None,
            "net_annual": 10000.0 if solved else None,
            "new_points": 1 if solved else None,
            "currency": "SEK",
            "single_points_of_failure_before": 2 if solved else None,
            "single_points_of_failure_after": 1 if solved else None,
        }

    table = summary_frame(
        [
            row("2039", "Älvdalen", "20", 0.8),
            row("2085", "Ludvika", "20", 0.6),
            row("2021", "Vansbro", "20", 0, "missing_data"),
            row("2505", "Arvidsjaur", "25", 0.9),
        ]
    )
    html = render_report(table, title="two counties")
    assert "plan · counties" in html  # the overview of the counties comes first
    assert html.index("county 20 Dalarnas") < html.index("county 25 Norrbottens")
    assert "2 of 3 with a result" in html and "70.0 %" in html  # (800 + 600) / 2000 people
    assert "2021 Vansbro</b> (missing_data): no municipal total" in html
    assert "4 → 2" in html  # single points of failure of the county, today → with the plan
