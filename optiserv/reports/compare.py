"""``compare.html``: two or more runs side by side, differences from the first highlighted."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from optiserv.reports.charts import PLAN, TODAY, layout
from optiserv.reports.files import write_text
from optiserv.reports.html import FigureWriter, page
from optiserv.reports.summary import headline, money, people, share_text

__all__ = ["comparison_rows", "render_comparison", "write_comparison"]


def comparison_rows(summaries: Sequence[dict[str, Any]]) -> list[tuple[str, list[Any], str]]:
    """Rows (label, one value per run, kind) for the side-by-side table.

    ``kind`` says how to print and compare: ``share`` and ``people`` (more is better),
    ``money`` (less is better), ``text``.
    """
    first = summaries[0]
    rows: list[tuple[str, list[Any], str]] = [
        ("status", [s["status"] for s in summaries], "text"),
        ("new points", [len(s.get("new_points", [])) for s in summaries], "count"),
    ]
    for name in first["services"]:

        def value(summary: dict[str, Any], key: str, service: str = name) -> Any:
            return summary["services"].get(service, {}).get(key)

        rows.append(
            (f"{name}: share today", [value(s, "share_before") for s in summaries], "share")
        )
        rows.append(
            (f"{name}: share with plan", [value(s, "share_after") for s in summaries], "share")
        )
        rows.append(
            (
                f"{name}: people with plan",
                [value(s, "population_after") for s in summaries],
                "people",
            )
        )
    for key, label in (("annual", "annual cost"), ("one_off", "one-off cost")):
        rows.append((label, [s["cost"].get(key) for s in summaries], "money"))
        rows.append(
            (f"net {label}", [(s["cost"].get("net") or {}).get(key) for s in summaries], "money")
        )
    return rows


def _cell(value: Any, kind: str, currency: str) -> str:
    if kind == "share":
        return share_text(value)
    if kind == "people":
        return people(value)
    if kind == "money":
        return money(value, currency)
    return str(value)


def _class(value: Any, base: Any, kind: str) -> str:
    if kind == "text":
        return "" if value == base else "worse"
    if value is None or base is None or abs(float(value) - float(base)) < 1e-9:
        return ""
    better = (
        float(value) > float(base) if kind in ("share", "people") else float(value) < float(base)
    )
    if kind == "count":
        return "changed"
    return "better" if better else "worse"


def _table(names: Sequence[str], summaries: Sequence[dict[str, Any]], currency: str) -> str:
    head = "".join(f"<th>{escape(name)}</th>" for name in names)
    body = []
    for label, values, kind in comparison_rows(summaries):
        cells = [f"<td>{escape(_cell(values[0], kind, currency))}</td>"]
        for value in values[1:]:
            css = _class(value, values[0], kind)
            attribute = f' class="{css}"' if css else ""
            cells.append(f"<td{attribute}>{escape(_cell(value, kind, currency))}</td>")
        body.append(f"<tr><th>{escape(label)}</th>{''.join(cells)}</tr>")
    return (
        f'<table class="compare"><thead><tr><th></th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _sites(names: Sequence[str], summaries: Sequence[dict[str, Any]]) -> str:
    plans = [
        {str(p["site_id"]): ", ".join(p["services"]) for p in s.get("selected", [])}
        for s in summaries
    ]
    every = sorted(set().union(*plans))
    rows = []
    for site in every:
        values = [plan.get(site, "—") for plan in plans]
        if len(set(values)) == 1:
            continue
        changed = ' class="changed"'
        cells = "".join(
            f"<td{changed if k and v != values[0] else ''}>{escape(v)}</td>"
            for k, v in enumerate(values)
        )
        rows.append(f"<tr><th>{escape(site)}</th>{cells}</tr>")
    if not rows:
        return "<p>The plans offer the same services at the same sites.</p>"
    head = "".join(f"<th>{escape(name)}</th>" for name in names)
    return (
        f"<table><thead><tr><th>site</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _chart(names: Sequence[str], summaries: Sequence[dict[str, Any]]) -> Any:
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    services = list(summaries[0]["services"])
    colours = [PLAN, TODAY, *qualitative.Set2]
    figure = go.Figure(
        [
            go.Bar(
                name=name,
                x=services,
                y=[
                    100 * (s["services"].get(service, {}).get("share_after") or 0)
                    for service in services
                ],
                marker_color=colours[k % len(colours)],
            )
            for k, (name, s) in enumerate(zip(names, summaries, strict=True))
        ]
    )
    figure.update_layout(
        **layout("People within the threshold with each plan (%)"), barmode="group"
    )
    figure.update_yaxes(range=[0, 105], ticksuffix=" %", gridcolor="#eee")
    return figure


def render_comparison(names: Sequence[str], summaries: Sequence[dict[str, Any]]) -> str:
    """The comparison page as one HTML string."""
    currency = summaries[0].get("cost", {}).get("currency", "SEK")
    figure = FigureWriter()
    lines = "".join(
        f"<li><b>{escape(name)}</b>: {escape(headline(s))}</li>"
        for name, s in zip(names, summaries, strict=True)
    )
    sections = [
        f'<section><h2>In short</h2><ul>{lines}</ul><p class="note">Green: better than '
        f"{escape(names[0])}; red: worse.</p></section>",
        f"<section><h2>Side by side</h2>{_table(names, summaries, currency)}</section>",
        "<section><h2>Coverage</h2>"
        + figure(_chart(names, summaries), "compare-coverage")
        + "</section>",
        f"<section><h2>Sites whose services differ</h2>{_sites(names, summaries)}</section>",
    ]
    return page(
        "optiserv · comparison", " vs ".join(names), sections, "compare.html written by optiserv"
    )


def write_comparison(names: Sequence[str], summaries: Sequence[dict[str, Any]], path: Path) -> Path:
    """Write ``compare.html`` atomically; returns its path."""
    return write_text(Path(path), render_comparison(names, summaries))
