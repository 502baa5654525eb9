"""The report's map: borders (and roads) from the data, demand by distance band, service points.

No tiles and no geographic projection service: the map is a plotly scatter chart in the run's
projected CRS (metres, equal scale on both axes), so it works from disk without a network.
A menu picks the service and the state (today or with the plan); the legend toggles layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from optiserv.reports.charts import band_colours

__all__ = ["map_figure"]

_LARGE = 5_000
"""Above this many demand points, WebGL markers are used."""


def _lines(geometries: Any) -> tuple[list[float | None], list[float | None]]:
    """x, y of every ring or line, separated by None (one plotly trace for all)."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for geometry in geometries:
        if geometry is None or geometry.is_empty:
            continue
        parts = getattr(geometry, "geoms", [geometry])
        for part in parts:
            rings = [part.exterior, *part.interiors] if hasattr(part, "exterior") else [part]
            for ring in rings:
                x, y = ring.xy
                xs += [*x, None]
                ys += [*y, None]
    return xs, ys


def _sizes(population: pd.Series) -> np.ndarray:
    values = np.sqrt(np.maximum(population.to_numpy(dtype=float), 0.0))
    top = values.max() if values.size and values.max() > 0 else 1.0
    return 6 + 22 * values / top


def _hover_demand(demand: pd.DataFrame, service: str, state: str, unit: str) -> list[str]:
    distance = demand.get(f"{service}_{state}_{unit}")
    site = demand.get(f"{service}_{state}_site")
    out = []
    for k in range(len(demand)):
        name = demand["name"].iloc[k] if "name" in demand else ""
        value = None if distance is None else distance.iloc[k]
        text = "unknown" if value is None or pd.isna(value) else f"{value:.1f} {unit}"
        provider = "" if site is None or pd.isna(site.iloc[k]) else f" to {site.iloc[k]}"
        out.append(
            f"{demand['id'].iloc[k]} {name}<br>{demand['population'].iloc[k]:,.0f} people"
            f"<br>{service}: {text}{provider}"
        )
    return out


def map_figure(record: Any) -> Any:
    """An interactive map of a run (a plotly figure)."""
    import plotly.graph_objects as go

    summary, demand, selected = record.summary, record.demand, record.selected
    services = list(summary["services"])
    labels = summary["bands"]["labels"]
    unit = summary["bands"]["unit"]
    colours = dict(zip(labels, band_colours(len(labels)), strict=True))
    scatter = go.Scattergl if len(demand) > _LARGE else go.Scatter
    figure = go.Figure()
    always: list[bool] = []
    if record.boundaries is not None and len(record.boundaries):
        xs, ys = _lines(record.boundaries.geometry)
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name="municipal border",
                line={"color": "#555", "width": 1.5},
                hoverinfo="skip",
            )
        )
        always.append(True)
    if record.roads is not None and len(record.roads):
        xs, ys = _lines(record.roads.geometry)
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name="roads",
                line={"color": "#bbb", "width": 0.8},
                hoverinfo="skip",
            )
        )
        always.append(True)
    for label in labels:  # legend entries for the band colours
        figure.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=label,
                marker={"color": colours[label], "size": 10},
            )
        )
        always.append(True)
    menu: list[tuple[str, list[int]]] = []
    sizes = _sizes(demand["population"])
    for service in services:
        for state, title in (("after", "with the plan"), ("before", "today")):
            first = len(figure.data)
            band = demand.get(f"{service}_{state}_band")
            known = band is not None and band.notna().any()
            colour = [colours.get(b, "#bdbdbd") for b in band] if known else "#bdbdbd"
            figure.add_trace(
                scatter(
                    x=demand["x"],
                    y=demand["y"],
                    mode="markers",
                    name=f"people · {service} {title}" + ("" if known else " (unknown)"),
                    marker={
                        "color": colour,
                        "size": sizes,
                        "line": {"color": "#333", "width": 0.5},
                    },
                    text=_hover_demand(demand, service, state, unit),
                    hoverinfo="text",
                    showlegend=False,
                )
            )
            column = "services" if state == "after" else "existing_services"
            offers = (
                selected[selected[column].str.split(";").apply(lambda s, name=service: name in s)]
                if not selected.empty
                else selected
            )
            values = summary["services"][service]
            if state == "before" and values.get("register") is False and not values.get(
                "assumed_at"
            ):
                offers = offers.iloc[0:0]
            figure.add_trace(
                go.Scatter(
                    x=offers.get("x", []),
                    y=offers.get("y", []),
                    mode="markers",
                    name=f"offers {service} ({title})",
                    marker={
                        "symbol": "circle-open",
                        "size": 22,
                        "color": "#1f5fa8",
                        "line": {"width": 2.5},
                    },
                    hoverinfo="skip",
                )
            )
            menu.append((f"{service} — {title}", [first, first + 1]))
    points = len(figure.data)
    if not selected.empty:
        for status, symbol, colour, name in (
            ("existing", "square", "#424242", "existing point"),
            ("new", "star", "#d81b60", "new point"),
        ):
            chosen = (
                selected[selected["status"] == "new"]
                if status == "new"
                else selected[selected["status"] != "new"]
            )
            hover = [
                f"{row.site_id} {row.name}<br>{row.status}<br>services: "
                + row.services.replace(";", ", ")
                + (f"<br>added: {row.new_services.replace(';', ', ')}" if row.new_services else "")
                for row in chosen.itertuples(index=False)
            ]
            figure.add_trace(
                go.Scatter(
                    x=chosen["x"],
                    y=chosen["y"],
                    mode="markers",
                    name=name,
                    text=hover,
                    hoverinfo="text",
                    marker={
                        "symbol": symbol,
                        "size": 13 if status == "new" else 9,
                        "color": colour,
                        "line": {"color": "white", "width": 1},
                    },
                )
            )
    closures = (summary.get("closures") or {}).get("sites") or []
    if closures:
        figure.add_trace(
            go.Scatter(
                x=[c["x"] for c in closures],
                y=[c["y"] for c in closures],
                mode="markers",
                name="closed (what-if)",
                text=[f"{c['site_id']} {c['name']} closes" for c in closures],
                hoverinfo="text",
                marker={"symbol": "x", "size": 12, "color": "#000"},
            )
        )
    fixed = len(always)
    total = len(figure.data)
    buttons = []
    for title, shown in menu:
        visible = [k < fixed or k in shown or k >= points for k in range(total)]
        buttons.append({"label": title, "method": "restyle", "args": [{"visible": visible}]})
    for k in range(fixed, points):
        figure.data[k].visible = k in menu[0][1]
    figure.update_layout(
        title={
            "text": "People coloured by distance to the nearest provider; pick a service "
            "and today / with the plan",
            "x": 0.01,
            "y": 0.98,
            "yanchor": "top",
        },
        height=680,
        margin={"l": 10, "r": 10, "t": 100, "b": 10},
        paper_bgcolor="white",
        plot_bgcolor="#f7f9fb",
        legend={
            "orientation": "v",
            "x": 1.0,
            "xanchor": "right",
            "y": 1.0,
            "bgcolor": "rgba(255,255,255,0.8)",
        },
        updatemenus=[
            {
                "buttons": buttons,
                "direction": "down",
                "x": 0.0,
                "xanchor": "left",
                "y": 1.01,
                "yanchor": "bottom",
                "showactive": True,
            }
        ],
        font={"family": "system-ui, sans-serif", "size": 12},
    )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, scaleanchor="x", scaleratio=1)
    return figure
