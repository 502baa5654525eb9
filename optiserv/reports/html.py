"""``report.html``: one self-contained page that opens from disk with no network.

plotly.js is written inline once (``include_plotlyjs=True``), every other figure reuses it;
styles are inline; the map's base layers come from the run's own borders and roads. Nothing
is fetched: no CDN, no tile server, no fonts.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from optiserv.reports.charts import bands_chart, coverage_chart, frontier_chart
from optiserv.reports.files import write_text
from optiserv.reports.maps import map_figure
from optiserv.reports.record import RunRecord
from optiserv.reports.summary import headline, money, service_lines, status_line
from optiserv.reports.tables import closure_table, coverage_table, selected_table, sweep_table

__all__ = ["STYLE", "FigureWriter", "page", "render_report", "write_report"]

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#212121;
background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
header{background:#1f5fa8;color:white;padding:18px 24px}
header h1{margin:0;font-size:26px} header p{margin:6px 0 0;opacity:.9}
section{background:white;border:1px solid #e0e0e0;border-radius:6px;padding:14px 18px;margin:16px 0}
h2{font-size:19px;margin:4px 0 10px} .headline{font-size:20px;font-weight:600;margin:4px 0 8px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}
th,td{border-bottom:1px solid #e6e6e6;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f1f4f8} tr.new td{background:#fff4f8}
td.better{background:#e3f4e1;font-weight:600} td.worse{background:#fde3e1;font-weight:600}
td.changed{background:#fff6d6}
.note{color:#555;font-size:13px} code{font-size:12px}
footer{color:#666;font-size:12px;margin-top:24px;word-break:break-all}
"""

_CONFIG = {"displaylogo": False, "responsive": True}


class FigureWriter:
    """plotly figures as HTML fragments: plotly.js inline in the first one only."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, figure: Any, name: str) -> str:
        import plotly.io

        fragment = plotly.io.to_html(
            figure,
            full_html=False,
            include_plotlyjs=self.first,
            config=_CONFIG,
            div_id=name,
        )
        self.first = False
        return fragment


def page(title: str, subtitle: str, sections: Sequence[str], footer: str) -> str:
    """A whole HTML page."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header><main>"
        + "".join(sections)
        + f"<footer>{footer}</footer></main></body></html>\n"
    )


def _section(title: str, body: str, name: str = "") -> str:
    anchor = f' id="{escape(name)}"' if name else ""
    return f"<section{anchor}><h2>{escape(title)}</h2>{body}</section>"


def _items(lines: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"


def _footer(summary: dict[str, Any]) -> str:
    provenance = summary.get("provenance", {})
    solver = provenance.get("solver", {})
    inputs = provenance.get("inputs", {})
    files = "; ".join(
        f"{role}: {escape(Path(v['path']).name)} sha256 {str(v.get('sha256'))[:12]}…"
        for role, v in inputs.items()
    )
    return (
        f"optiserv {escape(str(provenance.get('optiserv_version', '?')))} · solver "
        f"{escape(str(solver.get('backend', '?')))} {escape(str(solver.get('version', '')))} · "
        f"seed {escape(str(provenance.get('seed', '')))} · finished "
        f"{escape(str(provenance.get('finished', '')))}<br>inputs: {files}"
    )


def render_report(record: RunRecord) -> str:
    """The report of a run as one HTML string."""
    summary = record.summary
    scenario = summary.get("scenario", {})
    cost = summary.get("cost", {})
    currency = cost.get("currency", "SEK")
    figure = FigureWriter()
    intro = (
        f'<p class="headline">{escape(headline(summary))}</p>'
        f"<p>{escape(status_line(summary))}</p>{_items(service_lines(summary))}"
        f'<p class="note">Travel costs: {escape(str(summary.get("cost_source")))}. Covered '
        "means a provider within the service's threshold (≤).</p>"
    )
    closures = summary.get("closures")
    if closures:
        lost = [
            f"{name}: {values['lost']:,.0f} people lose it within the threshold"
            for name, values in closures["services"].items()
            if values and values["lost"] > 0
        ]
        sites = ", ".join(f"{c['site_id']} {c['name']}" for c in closures["sites"])
        intro += f"<p>What-if closures: {escape(sites)}.</p>" + (_items(lost) if lost else "")
    notes = list(scenario.get("assumptions", [])) + list(scenario.get("notes", []))
    sections = [_section("Summary", intro, "summary")]
    if notes:
        sections.append(_section("Assumptions", _items(notes), "assumptions"))
    sections.append(_section("Map", figure(map_figure(record), "map"), "map-section"))
    sections.append(
        _section(
            "Coverage per service",
            figure(coverage_chart(summary), "coverage") + coverage_table(summary),
            "coverage-section",
        )
    )
    sections.append(
        _section("Distance bands", figure(bands_chart(summary), "bands"), "bands-section")
    )
    if record.sweep is not None and not record.sweep.empty:
        sections.append(
            _section(
                "Frontier",
                figure(frontier_chart(record.sweep, currency), "frontier")
                + sweep_table(record.sweep, currency),
                "frontier-section",
            )
        )
    net = cost.get("net") or {}
    grants = cost.get("grants") or {}
    costs = (
        f"<p>Annual cost {escape(money(cost.get('annual'), currency))}, grants "
        f"{escape(money(grants.get('annual'), currency))}, net "
        f"{escape(money(net.get('annual'), currency))} a year; one-off cost "
        f"{escape(money(cost.get('one_off'), currency))} (net "
        f"{escape(money(net.get('one_off'), currency))}).</p>"
    )
    sections.append(
        _section(
            "Service points of the plan", costs + selected_table(record.selected, currency), "sites"
        )
    )
    sections.append(
        _section(
            "Closure impact (N-1)",
            '<p class="note">People who would lose each service within its threshold if this '
            "point alone closed, with the rest of the plan in place.</p>"
            + closure_table(record.closure, list(summary["services"])),
            "closure",
        )
    )
    title = f"optiserv · {scenario.get('name', 'scenario')}"
    return page(title, scenario.get("description", ""), sections, _footer(summary))


def write_report(record: RunRecord, path: Path) -> Path:
    """Write ``report.html`` atomically; returns its path."""
    return write_text(Path(path), render_report(record))
