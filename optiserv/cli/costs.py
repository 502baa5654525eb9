"""``optiserv costs``: sparse demand-to-site travel costs for ``optiserv solve --costs``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optiserv.cli.app import DebugOption, app
from optiserv.cli.errors import EXIT_CODES_HELP, errors_reported

__all__ = ["costs"]


@app.command("costs", epilog=EXIT_CODES_HELP)
def costs(
    ctx: typer.Context,
    demand: Annotated[
        Path, typer.Option("--demand", help="Demand CSV: id,x,y[,weight...] (metres).")
    ],
    sites: Annotated[Path, typer.Option("--sites", help="Sites CSV: id,x,y[,...] (metres).")],
    cutoff: Annotated[
        float,
        typer.Option("--cutoff", help="Largest cost kept: metres for distance, seconds for time."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output CSV: demand_id,site_id,cost.")],
    network: Annotated[
        Path | None,
        typer.Option(
            "--network",
            help="Road network: OSM PBF, OSMnx GraphML, or an edge table (CSV, GeoPackage). "
            "Without it: straight line x detour factor (labelled as such).",
        ),
    ] = None,
    measure: Annotated[
        str, typer.Option("--measure", help="'time' (seconds of car travel) or 'distance' (m).")
    ] = "time",
    points_crs: Annotated[
        str, typer.Option("--crs", help="CRS of the point coordinates.")
    ] = "EPSG:3006",
    detour_factor: Annotated[
        float, typer.Option("--detour", help="Detour factor of the straight-line fallback.")
    ] = 1.3,
    debug: DebugOption = False,
) -> None:
    """Write sparse demand-to-site travel costs for 'optiserv solve --costs'.

    Demand points and sites are snapped to the nearest network node (the off-network leg is
    added at walking-to-car speed), then a multi-source Dijkstra with the cutoff runs from every
    site on the reversed road graph (one-way roads respected), so each cost is the trip from the
    demand point to the site. Pairs beyond the cutoff, or unreachable (islands, disconnected
    parts), are left out. One line per fact is printed on stderr: the cost source, points
    snapped far from the network, and unreachable points.
    """
    from optiserv.exceptions import ParameterError
    from optiserv.geometry.network import write_cost_table

    with errors_reported(ctx, debug):
        if measure not in ("time", "distance"):
            raise ParameterError(f"--measure must be 'time' or 'distance', got {measure!r}")
        report = write_cost_table(
            network,
            demand,
            sites,
            cutoff,
            measure,  # type: ignore[arg-type]
            out,
            points_crs=points_crs,
            detour_factor=detour_factor,
        )
        for line in report.lines():
            typer.echo(line, err=True)
