"""``optiserv solve``: one location model on demand points and sites read from CSV files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from optiserv.cli.app import (
    PANEL_INPUT,
    PANEL_MODEL,
    PANEL_SOLVER,
    BackendOption,
    DebugOption,
    JsonOption,
    VerboseOption,
    app,
)
from optiserv.cli.errors import EXIT_CODES_HELP, EXIT_INTERNAL, EXIT_OK, errors_reported, one_line
from optiserv.cli.output import (
    infeasible_summary,
    print_solution_table,
    solution_summary,
    stdout_diverted,
)
from optiserv.data import Metric
from optiserv.exceptions import InfeasibleError
from optiserv.formulations.registry import MODELS, ModelName

__all__ = ["solve", "solve_files"]


def solve_files(
    model: str,
    demand: Path,
    sites: Path,
    costs: Path | None,
    *,
    metric: Metric,
    radius: float | None,
    p: int | None,
    backend: str,
    time_limit: float | None,
    gap: float,
    threads: int | None,
    seed: int,
    as_json: bool,
    verbose: bool,
    name: str | None = None,
) -> int:
    """Read, build, solve, print. Returns the exit code."""
    from optiserv.data.io import read_instance_csv
    from optiserv.formulations import registry
    from optiserv.solvers import SolveOptions, Status

    def say(text: str) -> None:
        if verbose:
            typer.echo(f"optiserv: {text}", err=True)

    with stdout_diverted(verbose):
        formulation = registry.make_formulation(model, p=p, radius=radius)
        options = SolveOptions(
            time_limit=math.inf if time_limit is None else time_limit,
            relative_gap=gap,
            threads=threads,
            seed=seed,
            log=verbose,
        )
        say(f"reading {demand} and {sites}" + (f" with costs {costs}" if costs else ""))
        instance = read_instance_csv(demand, sites, costs, metric=metric, name=name)
        say(
            f"{instance.n_demand} demand points, {instance.n_sites} sites "
            f"({'costs file' if costs else metric}); solving {formulation!r} with {backend}"
        )
        try:
            solution = formulation.solve(instance, backend=backend, options=options)
        except InfeasibleError as error:  # an answer about the model, reported like one
            summary = infeasible_summary(formulation.name, instance, str(error))
        else:
            summary = solution_summary(solution)
        say(f"status {summary['status']}")
    if as_json:
        typer.echo(json.dumps(summary, allow_nan=False))
    else:
        print_solution_table(summary, instance, model.strip().lower())
    if summary["status"] == Status.ERROR.value:
        reason = one_line(str(summary.get("message") or "")) or "no reason given"
        typer.echo(f"optiserv: the solver failed: {reason}", err=True)
        return EXIT_INTERNAL
    return EXIT_OK


_MODEL_LINES = "\n".join(
    f"  {spec.name:8} {spec.summary}\n  {'':8} objective: {spec.objective}"
    for spec in MODELS.values()
)

_FORMATS = """\
[bold]Files[/bold] (CSV with a header line; comma, semicolon or tab separated; UTF-8):

  --demand   id,x,y,weight  one row per demand point i. weight = w_i (people, households),
             non-negative. Extra population groups: columns weight_<group>. Other columns
             are ignored.
  --sites    id,x,y  one row per site j, optionally: fixed (0/1, an existing site that stays
             open), forbidden (0/1), or instead status (candidate, fixed, forbidden);
             capacity (demand-weight units, empty = unlimited); cost (opening cost, empty = 0).
  --costs    demand_id,site_id,cost  travel costs d_ij that replace the distances computed
             from coordinates. Pairs not listed are unreachable.

[bold]Units[/bold]: with --metric euclidean, x and y are metres in a projected CRS (e.g.
SWEREF99 TM, EPSG:3006) and distances are straight-line metres. With --metric haversine, x
is longitude and y latitude in degrees and distances are great-circle metres. With --costs,
d_ij is whatever the file measures (metres or seconds) and --radius is in that unit."""

_SOLVE_HELP = f"""\
Solve one location model on demand points and candidate sites read from CSV files.

[bold]Models[/bold] (p counts fixed existing sites; covered means d_ij <= radius):

{_MODEL_LINES}

{_FORMATS}

[bold]Output[/bold]: a table, or with --json exactly one JSON object on stdout with status
(optimal, feasible, infeasible, unbounded, no_solution, error), objective, bound, gap,
open_sites (ids as in the file), covered_weight, total_weight and more. Logs go to stderr.
A time-limited run returns its best plan as status feasible, with a bound and gap.

Example: optiserv solve mclp --demand demand.csv --sites sites.csv --p 5 --radius 3000
"""


@app.command("solve", help=_SOLVE_HELP, epilog=EXIT_CODES_HELP)
def solve(
    ctx: typer.Context,
    model: Annotated[
        ModelName,
        typer.Argument(help="The model: " + ", ".join(MODELS) + ". See above.", show_default=False),
    ],
    demand: Annotated[
        Path,
        typer.Option(
            "--demand",
            "-d",
            help="Demand CSV: id,x,y,weight (+ weight_<group> columns).",
            rich_help_panel=PANEL_INPUT,
            show_default=False,
        ),
    ],
    sites: Annotated[
        Path,
        typer.Option(
            "--sites",
            "-s",
            help="Sites CSV: id,x,y (+ fixed, forbidden or status, capacity, cost).",
            rich_help_panel=PANEL_INPUT,
            show_default=False,
        ),
    ],
    costs: Annotated[
        Path | None,
        typer.Option(
            "--costs",
            "-c",
            help="Optional travel costs CSV: demand_id,site_id,cost. Replaces computed distances;"
            " unlisted pairs are unreachable.",
            rich_help_panel=PANEL_INPUT,
            show_default=False,
        ),
    ] = None,
    metric: Annotated[
        Metric,
        typer.Option(
            "--metric",
            help="euclidean: x, y in metres. haversine: x longitude, y latitude in degrees "
            "(distances in metres).",
            rich_help_panel=PANEL_INPUT,
        ),
    ] = "euclidean",
    radius: Annotated[
        float | None,
        typer.Option(
            "--radius",
            "-r",
            help="Coverage radius for lscp, mclp, backup, in the travel-cost unit (metres "
            "unless --costs measures something else).",
            rich_help_panel=PANEL_MODEL,
            show_default=False,
        ),
    ] = None,
    p: Annotated[
        int | None,
        typer.Option(
            "--p",
            "-p",
            help="Number of sites to open (fixed existing sites included), for mclp, backup, "
            "pmedian, pcenter.",
            rich_help_panel=PANEL_MODEL,
            show_default=False,
        ),
    ] = None,
    backend: BackendOption = "highs",
    time_limit: Annotated[
        float | None,
        typer.Option(
            "--time-limit",
            help="Wall-clock limit in seconds; the best plan found is returned with its bound "
            "and gap (status feasible). Default: none.",
            rich_help_panel=PANEL_SOLVER,
            show_default=False,
        ),
    ] = None,
    gap: Annotated[
        float,
        typer.Option(
            "--gap",
            help="Stop at this relative gap |objective - bound| / |objective|, e.g. 0.01 for 1 %.",
            rich_help_panel=PANEL_SOLVER,
        ),
    ] = 0.0,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            help=(
                "Threads of the solver and of optiserv's parallel kernels. Default: the "
                "solver's choice, and every core for the kernels."
            ),
            rich_help_panel=PANEL_SOLVER,
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option("--seed", help="Random seed for the solver.", rich_help_panel=PANEL_SOLVER),
    ] = 0,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
    debug: DebugOption = False,
) -> None:
    """``optiserv solve``: the help text is ``_SOLVE_HELP``, built from the model registry."""
    with errors_reported(ctx, debug):
        code = solve_files(
            model,
            demand,
            sites,
            costs,
            metric=metric,
            radius=radius,
            p=p,
            backend=backend,
            time_limit=time_limit,
            gap=gap,
            threads=threads,
            seed=seed,
            as_json=as_json,
            verbose=verbose,
        )
    if code != EXIT_OK:
        raise typer.Exit(code)
