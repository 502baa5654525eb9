"""HTML tables of a report: selected sites, closure impact, sweep results, coverage."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import pandas as pd

from optiserv.reports.summary import money, people, share_text

__all__ = ["closure_table", "coverage_table", "html_table", "selected_table", "sweep_table"]


def html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    classes: str = "",
    row_classes: Sequence[str] | None = None,
) -> str:
    """A plain HTML table; every cell is escaped."""
    head = "".join(f"<th>{escape(str(cell))}</th>" for cell in header)
    body = []
    for k, row in enumerate(rows):
        extra = f' class="{row_classes[k]}"' if row_classes and row_classes[k] else ""
        cells = "".join(f"<td>{escape(str(cell))}</td>" for cell in row)
        body.append(f"<tr{extra}>{cells}</tr>")
    rows_html = "".join(body)
    return (
        f'<table class="{classes}"><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>'
    )


def coverage_table(summary: dict[str, Any]) -> str:
    """People and shares within each service's threshold, today and with the plan."""
    rows = []
    for name, values in summary.get("services", {}).items():
        rows.append(
            [
                name,
                values.get("label") or "",
                f"{values['threshold']:g} {values['unit']}",
                people(values.get("population_before")),
                share_text(values.get("share_before")),
                people(values.get("population_after")),
                share_text(values.get("share_after")),
                people(values.get("gain")),
            ]
        )
    return html_table(
        [
            "service",
            "label",
            "threshold",
            "people today",
            "share today",
            "people with plan",
            "share with plan",
            "gain",
        ],
        rows,
        classes="numbers",
    )


def selected_table(selected: pd.DataFrame, currency: str) -> str:
    """The service points of the plan, new points first."""
    if selected.empty:
        return "<p>No plan, so no service points.</p>"
    order = {"new": 0, "kept (subsidised)": 1, "existing, extended": 2, "existing": 3}
    frame = selected.assign(rank=selected["status"].map(order).fillna(4)).sort_values(
        ["rank", "site_id"], kind="stable"
    )
    rows = [
        [
            row.site_id,
            row.name,
            row.status,
            row.services.replace(";", ", "),
            row.new_services.replace(";", ", "),
            money(row.annual_cost, currency),
            money(row.grants_annual, currency),
            money(row.one_off_cost, currency),
        ]
        for row in frame.itertuples(index=False)
    ]
    classes = ["new" if row[2] != "existing" else "" for row in rows]
    return html_table(
        [
            "site",
            "name",
            "status",
            "services",
            "added services",
            "annual cost",
            "annual grants",
            "one-off cost",
        ],
        rows,
        classes="numbers",
        row_classes=classes,
    )


def closure_table(closure: pd.DataFrame | None, services: Sequence[str], limit: int = 15) -> str:
    """N-1: people who lose each service within its threshold if one point alone closes."""
    if closure is None or closure.empty:
        return "<p>No closure analysis.</p>"
    rows = []
    for _, values in closure.head(limit).iterrows():
        rows.append(
            [values["site"], values["services"]]
            + [people(values.get(f"lost:{name}")) for name in services]
            + ["yes" if values["single_point_of_failure"] else "no"]
        )
    return html_table(
        ["site", "services", *[f"lost: {name}" for name in services], "single point of failure"],
        [[str(cell) for cell in row] for row in rows],
        classes="numbers",
    )


def sweep_table(sweep: pd.DataFrame | None, currency: str) -> str:
    """The sweep grid's results."""
    if sweep is None or sweep.empty:
        return ""
    shares = [c for c in sweep.columns if c.startswith("share_after:")]
    swept = [
        c
        for c in sweep.columns
        if c not in shares
        and not c.startswith("population_after:")
        and c
        not in (
            "status",
            "objective",
            "bound",
            "gap",
            "one_off",
            "annual",
            "net_one_off",
            "net_annual",
            "new_points",
        )
    ]
    rows = []
    for _, row in sweep.iterrows():
        rows.append(
            [str(row[c]) for c in swept]
            + [row["status"], str(row["new_points"]), money(row["net_annual"], currency)]
            + [share_text(None if pd.isna(row[c]) else float(row[c])) for c in shares]
        )
    return html_table(
        [*swept, "status", "new points", "net annual cost", *[c.split(":", 1)[1] for c in shares]],
        rows,
        classes="numbers",
    )
