"""The batch report: the areas of each county side by side, from the summary table alone.

For every scenario (and grid point) and every county: one row per municipality with the share
of people within each service's threshold today and with the plan, the net cost, the new
points, the single points of failure (service points that are the last within the threshold
of some service for someone) today and with the plan, and the solver's status and gap; then
the county as a whole (shares weighted by population). When a plan spans several counties, a
table of the counties comes first. Runs without a result are listed with their reason. A plan
without areas gets one table of its runs. The page is one self-contained HTML file: inline
styles, no scripts, no network.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from optiserv.reports.files import write_text
from optiserv.reports.html import page
from optiserv.reports.summary import money, people, share_text

__all__ = ["render_report", "write_report"]

_WITHOUT_RESULT = ("failed", "missing_data", "pending")
_CELL = '<td style="white-space:nowrap">{}</td>'
_TOTAL = '<tr style="background:#f1f4f8;font-weight:600">{}</tr>'
_BAR = (
    '<span style="display:inline-block;width:50px;height:7px;background:#e6e6e6;'
    'margin-right:5px;vertical-align:middle"><span style="display:block;height:7px;'
    'width:{width:.0f}px;background:{colour}"></span></span>'
)


def _value(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _number(rows: pd.DataFrame, column: str) -> pd.Series:
    if column not in rows:
        return pd.Series(float("nan"), index=rows.index)
    return pd.to_numeric(rows[column], errors="coerce")


def _services(table: pd.DataFrame) -> list[str]:
    return [c.split(":", 1)[1] for c in table.columns if c.startswith("share_after:")]


def _parameters(text: str) -> str:
    values = json.loads(text) if text else {}
    return ", ".join(f"{key} = {value}" for key, value in values.items())


def _share(before: float | None, after: float | None) -> str:
    lines = []
    for value, colour in ((before, "#9e9e9e"), (after, "#1f5fa8")):
        width = 0.0 if value is None else 50 * value
        lines.append(_BAR.format(width=width, colour=colour) + escape(share_text(value)))
    gain = None if before is None or after is None else after - before
    change = f' <b style="color:#1a7f37">+{100 * gain:.1f}</b>' if gain and gain > 0 else ""
    return _CELL.format(f"{lines[0]}<br>{lines[1]}{change}")


def _spof(before: float | None, after: float | None) -> str:
    return " → ".join("?" if v is None else str(int(v)) for v in (before, after))


def _status(row: dict[str, Any]) -> str:
    status, gap = str(row.get("status", "")), _value(row.get("gap"))
    return status if status != "feasible" or gap is None else f"feasible, gap {100 * gap:.2g} %"


def _run_row(row: dict[str, Any], services: Sequence[str], currency: str, label: str) -> str:
    cells = [f"<td>{escape(label)}</td>", _CELL.format(escape(_status(row)))]
    cells.append(_CELL.format(escape(people(_value(row.get("population_total"))))))
    for service in services:
        cells.append(
            _share(
                _value(row.get(f"share_before:{service}")),
                _value(row.get(f"share_after:{service}")),
            )
        )
    cells.append(_CELL.format(escape(money(_value(row.get("net_annual")), currency))))
    new_points = _value(row.get("new_points"))
    cells.append(_CELL.format("" if new_points is None else int(new_points)))
    spof = [_value(row.get(f"single_points_of_failure_{k}")) for k in ("before", "after")]
    cells.append(_CELL.format(_spof(*spof)))
    return "<tr>" + "".join(cells) + "</tr>"


def _weighted(rows: pd.DataFrame, service: str, state: str) -> float | None:
    covered = _number(rows, f"population_{state}:{service}")
    total = _number(rows, "population_total")
    known = covered.notna() & total.notna()
    if not known.any() or total[known].sum() <= 0:
        return None
    return float(covered[known].sum() / total[known].sum())


def _aggregate_row(
    rows: pd.DataFrame, services: Sequence[str], currency: str, label: str, note: str
) -> str:
    """One row for a group of runs: people summed, shares weighted by population."""
    cells = [f"<td>{escape(label)}</td>", _CELL.format(escape(note))]
    cells.append(_CELL.format(escape(people(float(_number(rows, "population_total").sum())))))
    for service in services:
        cells.append(_share(_weighted(rows, service, "before"), _weighted(rows, service, "after")))
    cells.append(_CELL.format(escape(money(float(_number(rows, "net_annual").sum()), currency))))
    cells.append(_CELL.format(int(_number(rows, "new_points").sum())))
    spof = [
        float(_number(rows, f"single_points_of_failure_{k}").sum()) for k in ("before", "after")
    ]
    cells.append(_CELL.format(_spof(*spof)))
    return "".join(cells)


def _table(first: str, services: Sequence[str], body: str) -> str:
    header = [first, "status", "people", *services, "net cost a year", "new points"]
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    head += "<th>single points of failure<br>(today → plan)</th>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _currency(rows: pd.DataFrame) -> str:
    known = rows["currency"].dropna() if "currency" in rows else pd.Series(dtype=object)
    return str(known.iloc[0]) if len(known) else "SEK"


def _area_label(row: dict[str, Any]) -> str:
    return f"{row.get('area') or ''} {row.get('area_name') or ''}".strip()


def _without_result(rows: pd.DataFrame, label: Any) -> str:
    if rows.empty:
        return ""
    items = "".join(
        f"<li><b>{escape(label(r))}</b> ({escape(str(r['status']))}): "
        f"{escape(str(r['error']) or 'not run yet')}</li>"
        for r in rows.to_dict("records")
    )
    return f'<p class="note">No result for {len(rows)}:</p><ul class="note">{items}</ul>'


def _section(title: str, body: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{body}</section>"


def _county_name(rows: pd.DataFrame, county: str) -> str:
    names = rows.loc[rows["county"] == county, "county_name"].dropna()
    return f"{county} {names.iloc[0] if len(names) else ''}".strip()


def _counties(rows: pd.DataFrame, solved: pd.DataFrame, services: Sequence[str]) -> str:
    currency = _currency(rows)
    body = ""
    for county in sorted(rows["county"].unique()):
        done = solved[solved["county"] == county]
        note = f"{len(done)} of {int((rows['county'] == county).sum())} with a result"
        cells = _aggregate_row(done, services, currency, _county_name(rows, county), note)
        body += f"<tr>{cells}</tr>"
    body += _TOTAL.format(_aggregate_row(solved, services, currency, "all counties", ""))
    return _table("county", services, body)


def _variant(rows: pd.DataFrame, services: Sequence[str], title: str) -> list[str]:
    solved = rows[~rows["status"].isin(_WITHOUT_RESULT)]
    unsolved = rows[rows["status"].isin(_WITHOUT_RESULT)]
    currency = _currency(rows)
    sections = []
    if rows["county"].nunique() > 1:
        sections.append(_section(f"{title} · counties", _counties(rows, solved, services)))
    for county in sorted(rows["county"].unique()):
        done = solved[solved["county"] == county]
        body = "".join(
            _run_row(row, services, currency, _area_label(row)) for row in done.to_dict("records")
        )
        if len(done) > 1:
            note = f"{len(done)} with a result"
            body += _TOTAL.format(_aggregate_row(done, services, currency, "county", note))
        missing = unsolved[unsolved["county"] == county]
        html = (_table("municipality", services, body) if len(done) else "") + _without_result(
            missing, _area_label
        )
        sections.append(_section(f"{title} · county {_county_name(rows, county)}", html))
    return sections


def _run_label(row: dict[str, Any]) -> str:
    values = _parameters(str(row.get("parameters") or ""))
    return f"{row['scenario']}" + (f" · {values}" if values else "")


def _runs(table: pd.DataFrame, services: Sequence[str]) -> list[str]:
    solved = table[~table["status"].isin(_WITHOUT_RESULT)]
    unsolved = table[table["status"].isin(_WITHOUT_RESULT)]
    currency = _currency(table)
    body = "".join(
        _run_row(row, services, currency, _run_label(row)) for row in solved.to_dict("records")
    )
    html = (_table("run", services, body) if len(solved) else "") + _without_result(
        unsolved, _run_label
    )
    return [_section("Runs", html)]


def render_report(table: pd.DataFrame, *, title: str, description: str = "") -> str:
    """The batch report as one HTML string.

    Parameters
    ----------
    table
        The summary table (:func:`optiserv.batch.table.summary_frame`).
    title
        The plan's name.
    description
        The plan's description.
    """
    services = _services(table)
    counts = table["status"].value_counts().to_dict()
    summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    intro = (
        f"<p>{len(table)} runs: {escape(summary)}.</p>"
        '<p class="note">Shares: people within each service\'s threshold today (grey) and '
        "with the plan (blue), with the gain in percentage points; county rows weight them by "
        "population. A single point of failure is a service point that is the last within "
        "the threshold of some service for someone. Services without a register (cash) are "
        "unknown today.</p>"
    )
    sections = [_section("Summary", intro)]
    if not (table["area"] != "").any():
        sections += _runs(table, services)
    else:
        for (scenario, parameters), rows in table.groupby(["scenario", "parameters"], sort=False):
            values = _parameters(str(parameters))
            sections += _variant(rows, services, f"{scenario}" + (f" · {values}" if values else ""))
    footer = "optiserv batch report, built from summary.csv of this folder."
    return page(f"optiserv batch · {title}", description, sections, footer)


def write_report(table: pd.DataFrame, path: Path, *, title: str, description: str = "") -> Path:
    """Write the batch report atomically; returns its path."""
    return write_text(Path(path), render_report(table, title=title, description=description))
