"""Charts of a report (plotly figures): coverage per service, distance bands, the frontier."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["band_colours", "bands_chart", "coverage_chart", "frontier_chart", "layout"]

TODAY, PLAN = "#9e9e9e", "#1f5fa8"


def band_colours(count: int) -> list[str]:
    """``count`` colours from green (near) to red (far)."""
    from plotly.colors import sample_colorscale

    if count == 1:
        return ["#1a9850"]
    return list(
        sample_colorscale("RdYlGn", [1 - k / (count - 1) for k in range(count)], colortype="rgb")
    )


def layout(title: str, height: int = 380) -> dict[str, Any]:
    """The common layout of the charts."""
    return {
        "title": {"text": title, "x": 0.01},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "legend": {"orientation": "h", "y": -0.2},
        "font": {"family": "system-ui, sans-serif", "size": 13},
    }


def coverage_chart(summary: dict[str, Any]) -> Any:
    """Share of people within each service's threshold, today and with the plan."""
    import plotly.graph_objects as go

    services = summary["services"]
    names = [f"{name} ({v['threshold']:g} {v['unit']})" for name, v in services.items()]
    before = [
        None if v["share_before"] is None else 100 * v["share_before"] for v in services.values()
    ]
    after = [
        None if v["share_after"] is None else 100 * v["share_after"] for v in services.values()
    ]
    assumed = [v.get("register") is False and bool(v.get("assumed_at")) for v in services.values()]
    figure = go.Figure(
        [
            go.Bar(
                name="today",
                x=names,
                y=[0 if b is None else b for b in before],
                marker_color=TODAY,
                text=[
                    "unknown" if b is None else f"{b:.0f} %" + (" (assumed)" if guess else "")
                    for b, guess in zip(before, assumed, strict=True)
                ],
                textposition="outside",
            ),
            go.Bar(
                name="with the plan",
                x=names,
                y=[0 if a is None else a for a in after],
                marker_color=PLAN,
                text=["-" if a is None else f"{a:.0f} %" for a in after],
                textposition="outside",
            ),
        ]
    )
    figure.update_layout(**layout("People within each service's threshold (%)"), barmode="group")
    figure.update_yaxes(range=[0, 115], ticksuffix=" %", gridcolor="#eee")
    return figure


def bands_chart(summary: dict[str, Any]) -> Any:
    """People per distance band and service, today and with the plan (stacked)."""
    import plotly.graph_objects as go

    labels = summary["bands"]["labels"]
    colours = band_colours(len(labels))
    rows, values = [], {label: [] for label in labels}
    for name, service in summary["services"].items():
        for state, key in (("today", "bands_before"), ("plan", "bands_after")):
            bands = service.get(key)
            rows.append(f"{name} · {state}" + (" (unknown)" if bands is None else ""))
            for label in labels:
                values[label].append(0 if bands is None else bands.get(label, 0))
    figure = go.Figure(
        [
            go.Bar(name=label, y=rows, x=values[label], orientation="h", marker_color=colour)
            for label, colour in zip(labels, colours, strict=True)
        ]
    )
    figure.update_layout(
        **layout("People by distance to the nearest provider", height=120 + 28 * len(rows)),
        barmode="stack",
        legend_traceorder="normal",
    )
    figure.update_yaxes(autorange="reversed")
    figure.update_xaxes(title="people", gridcolor="#eee")
    return figure


def frontier_chart(sweep: pd.DataFrame, currency: str) -> Any:
    """Share covered per service at each point of the sweep grid (the budget frontier)."""
    import plotly.graph_objects as go

    shares = [c for c in sweep.columns if c.startswith("share_after:")]
    swept = [
        c
        for c in sweep.columns
        if c not in shares
        and ":" not in c
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
    if len(swept) == 1 and pd.api.types.is_numeric_dtype(sweep[swept[0]]):
        x = sweep[swept[0]]
        title = swept[0]
    else:
        x = [", ".join(f"{c}={row[c]}" for c in swept) for _, row in sweep.iterrows()]
        title = "grid point"
    figure = go.Figure(
        [
            go.Scatter(
                x=x,
                y=100 * sweep[column].astype(float),
                mode="lines+markers",
                name=column.split(":", 1)[1],
            )
            for column in shares
        ]
    )
    unit = f" ({currency})" if "budget" in title else ""
    figure.update_layout(**layout("Frontier: people within the threshold as the parameter changes"))
    figure.update_xaxes(title=title + unit, gridcolor="#eee")
    figure.update_yaxes(title="share within threshold", ticksuffix=" %", gridcolor="#eee")
    return figure
