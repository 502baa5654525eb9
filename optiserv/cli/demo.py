"""``optiserv demo``: the maximal covering model on the small synthetic demo instance."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

import typer

from optiserv.cli.app import (
    PANEL_MODEL,
    BackendOption,
    DebugOption,
    JsonOption,
    VerboseOption,
    app,
)
from optiserv.cli.errors import EXIT_CODES_HELP, EXIT_OK, errors_reported
from optiserv.cli.solve import solve_files

__all__ = ["demo"]

_DEMO_FILES = ("datasets", "demo")


@app.command("demo", epilog=EXIT_CODES_HELP)
def demo(
    ctx: typer.Context,
    p: Annotated[
        int, typer.Option("--p", "-p", help="Number of sites to open.", rich_help_panel=PANEL_MODEL)
    ] = 5,
    radius: Annotated[
        float,
        typer.Option(
            "--radius", "-r", help="Coverage radius in metres.", rich_help_panel=PANEL_MODEL
        ),
    ] = 3000.0,
    backend: BackendOption = "highs",
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
    debug: DebugOption = False,
) -> None:
    """Solve a maximal covering model (mclp) on a small synthetic demo instance.

    The instance ships with optiserv: 300 demand points in five villages and scattered farms
    of a made-up 30 x 30 km area, and 30 candidate sites, one of them an existing shop (fixed
    open). Coordinates are metres. 'optiserv demo --verbose' shows where the files are, to copy
    them as a template for 'optiserv solve'. For whole scenarios with services, budgets and a
    report, see 'optiserv run --help'.
    """
    with errors_reported(ctx, debug):
        folder = resources.files("optiserv").joinpath(*_DEMO_FILES)
        with (
            resources.as_file(folder.joinpath("demand.csv")) as demand_file,
            resources.as_file(folder.joinpath("sites.csv")) as sites_file,
        ):
            code = solve_files(
                "mclp",
                demand_file,
                sites_file,
                None,
                metric="euclidean",
                radius=radius,
                p=p,
                backend=backend,
                time_limit=None,
                gap=0.0,
                threads=None,
                seed=0,
                as_json=as_json,
                verbose=verbose,
                name="demo",
            )
    if code != EXIT_OK:
        raise typer.Exit(code)
