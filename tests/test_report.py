"""Metrics and reports: bands and shares, the plain-language summary, self-contained pages."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from optiserv.metrics import (
    band_index,
    band_labels,
    coverage_by_label,
    population_by_band,
    service_coverage,
)
from optiserv.reports import load_run, write_comparison, write_report
from optiserv.reports.summary import headline, service_lines
from optiserv.scenario import load_scenario
from optiserv.scenario.outputs import write_run
from optiserv.scenario.runner import run_scenario

EXAMPLES = Path(__file__).resolve().parents[1] / "scenarios" / "examples"
EDGES = [5.0, 10.0, 20.0]
LABELS = band_labels(EDGES)


def test_band_labels_and_closed_upper_edges() -> None:
    assert LABELS == ["0–5 km", "5–10 km", "10–20 km", ">20 km"]
    distance = [0.0, 5.0, 5.0001, 10.0, 19.9, 20.0, 20.5, np.inf]
    assert band_index(distance, EDGES).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    counts = population_by_band(distance, np.ones(8), EDGES)
    assert counts.tolist() == [2, 2, 2, 2] and counts.sum() == 8


def test_service_coverage_known_and_unknown() -> None:
    people = np.array([100.0, 50.0, 25.0])
    row = service_coverage(people, 10.0, EDGES, LABELS, before=[12, 3, np.inf], after=[10, 3, 30])
    assert row["population_before"] == 50 and row["population_after"] == 150
    assert row["share_after"] == pytest.approx(150 / 175) and row["gain"] == 100
    assert row["bands_before"] == {"0–5 km": 50, "5–10 km": 0, "10–20 km": 100, ">20 km": 25}
    unknown = service_coverage(people, 10.0, EDGES, LABELS, before=None, after=[1, 1, 1])
    assert unknown["population_before"] is None and unknown["share_before"] is None
    assert unknown["bands_before"] is None and unknown["gain"] is None
    empty = service_coverage(np.zeros(1), 10.0, EDGES, LABELS, before=[1], after=[1])
    assert empty["share_after"] is None


def test_coverage_by_label_adds_up() -> None:
    labels = np.array(["a", "b", "a"])
    people = np.array([1.0, 2.0, 4.0])
    rows = coverage_by_label(labels, people, 5.0, EDGES, LABELS, [1, 9, 9], [1, 1, 9])
    assert list(rows) == ["a", "b"]
    assert rows["a"]["population_after"] == 1 and rows["b"]["population_after"] == 2


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report-run")
    write_run(run_scenario(load_scenario(EXAMPLES / "closure.yaml")), folder)
    return folder


def external_sources(html: str) -> list[str]:
    """src/href attributes of script, link, img and iframe tags that point off the machine."""
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", html, flags=re.IGNORECASE)
    return [
        tag
        for tag in tags
        if re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", tag, re.I)
    ]


def test_report_is_self_contained(run_folder: Path) -> None:
    html = (run_folder / "report.html").read_text(encoding="utf-8")
    assert external_sources(html) == []
    assert html.count("<script") >= 5 and "Plotly.newPlot" in html
    assert html.count('id="map"') == 1 and "plotly.js v" in html  # plotly.js inline, once
    assert len(re.findall(r"plotly\.js v\d", html)) == 1
    for text in (
        "The plan reaches",
        "Assumptions",
        "Closure impact",
        "unknown",
        "s01",
        "What-if closures",
        "straight line × 1.3 detour",
    ):
        assert text in html, text


def test_report_rebuilds_from_stored_results(run_folder: Path, tmp_path: Path) -> None:
    record = load_run(run_folder)
    assert record.boundaries is not None and len(record.boundaries) == 2
    rebuilt = write_report(record, tmp_path / "report.html")
    original = (run_folder / "report.html").read_text(encoding="utf-8")
    assert rebuilt.read_text(encoding="utf-8") == original


def test_plain_language_summary(run_folder: Path) -> None:
    summary = load_run(run_folder).summary
    sentence = headline(summary)
    assert sentence.startswith("The plan reaches ") and "more people within" in sentence
    assert "SEK a year" in sentence
    lines = service_lines(summary)
    assert any(line.startswith("cash") and "today unknown" in line for line in lines)
    no_plan = {**summary, "status": "infeasible", "message": "budget too small"}
    assert headline(no_plan).startswith("No plan was found")


def test_comparison_page_highlights_differences(run_folder: Path, tmp_path: Path) -> None:
    summary = load_run(run_folder).summary
    better = {**summary, "services": {**summary["services"]}}
    groceries = dict(better["services"]["groceries"])
    groceries["share_after"] = min(1.0, groceries["share_after"] + 0.1)
    better["services"]["groceries"] = groceries
    page = write_comparison(["closure", "better"], [summary, better], tmp_path / "compare.html")
    html = page.read_text(encoding="utf-8")
    assert external_sources(html) == []
    assert 'class="better"' in html and "groceries: share with plan" in html
