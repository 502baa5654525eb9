"""The ``optiserv`` command line: parse arguments, delegate, report.

Commands
--------
``optiserv solve MODEL --demand D.csv --sites S.csv [options]``
    Read the files (:func:`optiserv.data.io.read_instance_csv`), build the model
    (:func:`optiserv.formulations.registry.make_formulation`), solve it and print a table, or
    with ``--json`` exactly one JSON object on stdout.
``optiserv demo``
    The same for a maximal covering model on the small synthetic instance shipped in
    ``optiserv/datasets/demo``.
``optiserv --version``
    The installed version.

Exit status
-----------
0
    A result was printed. That includes INFEASIBLE, UNBOUNDED and NO_SOLUTION (time limit
    reached without a plan): these are answers about the model, not failures of the program,
    and ``status`` in the output says which (as with python-mip's statuses). A script can test
    ``status`` in the ``--json`` output.
1
    Internal error (a bug, or a solver that crashed, status ERROR): one line on stderr with a
    hint to report it; the traceback only with ``--debug`` or ``OPTISERV_DEBUG=1``.
2
    User error: a bad file, column, value or option (every :class:`OptiservError` and every
    usage error): one line on stderr naming what is wrong, and no traceback.

Everything except the result goes to stderr, so ``--json`` output can be piped. While the
model is read and solved, stdout (also at the file-descriptor level, where solver libraries
print banners and logs) is redirected: to stderr with ``--verbose``, else to the null device.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from optiserv import __version__
from optiserv.data import Metric
from optiserv.exceptions import InfeasibleError, OptiservError
from optiserv.formulations.registry import MODELS, ModelName

if TYPE_CHECKING:
    from optiserv.data import Instance
    from optiserv.solution import Solution

__all__ = ["app", "main"]

DEBUG_VARIABLE = "OPTISERV_DEBUG"
"""Environment variable: set to 1 to print full tracebacks, like ``--debug``."""

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2

REQUIRED_JSON_KEYS = (
    "status",
    "objective",
    "bound",
    "gap",
    "open_sites",
    "covered_weight",
    "total_weight",
)
"""Keys every ``--json`` object has (null when a value does not exist, e.g. no plan)."""

_DEBUG_META = "optiserv.debug"


def _usage_error_types() -> tuple[type[Exception], ...]:
    """Click's exceptions (usage errors and the like): typer's own copy of Click, or Click."""
    types: list[type[Exception]] = []
    if hasattr(typer, "TyperException"):  # typer that ships its own copy of Click
        types.append(typer.TyperException)
    with contextlib.suppress(ImportError):
        import click

        types.append(click.ClickException)
    return tuple(types)


_USAGE_ERRORS = _usage_error_types()
_DEMO_FILES = ("datasets", "demo")


# ---------------------------------------------------------------------------------------------
# Errors: one line on stderr, the right exit code
# ---------------------------------------------------------------------------------------------
def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _debug_wanted(flag: bool = False) -> bool:
    return flag or os.environ.get(DEBUG_VARIABLE, "").strip().lower() in {"1", "true", "yes"}


def _report(error: BaseException, *, debug: bool) -> int:
    """Print ``error`` as one line on stderr (and its traceback when debugging); the exit code."""
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, OptiservError):
        typer.echo(f"optiserv: error: {_one_line(str(error))}", err=True)
        return EXIT_USAGE
    detail = _one_line(f"{type(error).__name__}: {error}")
    hint = "" if debug else f"; rerun with --debug or {DEBUG_VARIABLE}=1 for the traceback"
    typer.echo(
        f"optiserv: internal error: {detail}. This is a bug in optiserv: please report it "
        f"with the command you ran{hint}",
        err=True,
    )
    return EXIT_INTERNAL


@contextlib.contextmanager
def _errors_reported(ctx: typer.Context, debug: bool) -> Iterator[None]:
    """Turn every exception of a command into one stderr line and an exit code."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:
        wanted = _debug_wanted(debug or bool(ctx.meta.get(_DEBUG_META)))
        raise typer.Exit(_report(error, debug=wanted)) from None


class _OptiservGroup(TyperGroup):
    """The command group, with usage errors on one line and no traceback escaping."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; exit (or return, when not standalone) with the exit code."""
        arguments = list(sys.argv[1:] if args is None else args)
        try:
            result = super().main(
                args=arguments,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
            code = result if isinstance(result, int) else EXIT_OK
        except _USAGE_ERRORS as error:  # usage errors and other click exceptions
            context = getattr(error, "ctx", None)
            hint = f" (see '{context.command_path} --help')" if context is not None else ""
            message = _one_line(error.format_message())  # type: ignore[attr-defined]
            typer.echo(f"optiserv: error: {message}{hint}", err=True)
            code = int(getattr(error, "exit_code", EXIT_USAGE))
        except typer.Abort:
            typer.echo("optiserv: aborted", err=True)
            code = EXIT_INTERNAL
        except Exception as error:  # raised outside a command body, e.g. while parsing
            code = _report(error, debug=_debug_wanted("--debug" in arguments))
        if standalone_mode:
            sys.exit(code)
        return code


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------
def _json_ready(value: Any) -> Any:
    """Plain JSON values: numpy to Python, tuples to lists, non-finite floats to null."""
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_ready(item) for item in value]
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars
        return _json_ready(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def solution_summary(solution: Solution) -> dict[str, Any]:
    """``Solution.to_dict()``, JSON-ready, with every key of :data:`REQUIRED_JSON_KEYS`."""
    summary = _json_ready(solution.to_dict())
    summary["status"] = str(summary.get("status", solution.status.value)).lower()
    for key in REQUIRED_JSON_KEYS:
        summary.setdefault(key, None)
    return summary


def _infeasible_summary(model: str, instance: Instance, message: str) -> dict[str, Any]:
    """The summary of a model found infeasible by an :class:`InfeasibleError`."""
    return {
        "model": model,
        "status": "infeasible",
        "objective": None,
        "bound": None,
        "gap": None,
        "open_sites": [],
        "n_open": 0,
        "covered_weight": 0.0,
        "total_weight": instance.total_weight,
        "covered_share": 0.0,
        "message": _one_line(message),
    }


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _print_table(summary: Mapping[str, Any], instance: Instance, model: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    spec = MODELS.get(model)
    meaning = f"  ({escape(spec.objective)})" if spec is not None else ""
    table = Table(title=f"{model} on {escape(instance.name)}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    status = summary["status"]
    style = {"optimal": "green", "feasible": "yellow"}.get(status, "red")
    table.add_row("status", f"[{style}]{status}[/{style}]")
    table.add_row("objective", f"{_number(summary['objective'])}{meaning}")
    table.add_row("bound", _number(summary["bound"]))
    gap = summary["gap"]
    table.add_row("gap", "-" if gap is None else f"{100 * gap:.4g} %")
    sites = summary["open_sites"]
    shown = ", ".join(str(site) for site in sites[:15]) + (", …" if len(sites) > 15 else "")
    table.add_row("open sites", escape(f"{len(sites)}: {shown}" if sites else "none"))
    covered, total = summary["covered_weight"], summary["total_weight"]
    share = f" ({100 * covered / total:.1f} %)" if covered is not None and total else ""
    table.add_row("covered weight", f"{_number(covered)}{share}")
    table.add_row("total weight", _number(total))
    table.add_row("instance", f"{instance.n_demand} demand points, {instance.n_sites} sites")
    backend = summary.get("backend") or "-"
    table.add_row("backend", escape(f"{backend} {summary.get('backend_version') or ''}".strip()))
    seconds = summary.get("timings", {}).get("total")
    if seconds is not None:
        table.add_row("time", f"{seconds:.2f} s")
    message = summary.get("message")
    if message and status != "optimal":
        table.add_row("message", escape(str(message)))
    Console(file=sys.stdout, soft_wrap=False).print(table)


def _flush_process_stdout() -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stdout.flush()
        if sys.__stdout__ is not None:
            sys.__stdout__.flush()


@contextlib.contextmanager
def _stdout_diverted(verbose: bool) -> Iterator[None]:
    """Keep stdout for the result: what Python or C libraries (solver banners and logs) print
    meanwhile goes to stderr when ``verbose``, and nowhere otherwise."""
    _flush_process_stdout()
    with contextlib.ExitStack() as stack:
        sink = sys.stderr if verbose else stack.enter_context(open(os.devnull, "w"))
        saved: int | None = None
        with contextlib.suppress(OSError, ValueError):
            target = sink.fileno()
            saved = os.dup(1)
            os.dup2(target, 1)
        try:
            with contextlib.redirect_stdout(sink):
                yield
        finally:
            if saved is not None:
                _flush_process_stdout()
                os.dup2(saved, 1)
                os.close(saved)


# ---------------------------------------------------------------------------------------------
# The work behind the commands
# ---------------------------------------------------------------------------------------------
def _solve_files(
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
    from optiserv.formulations.registry import make_formulation
    from optiserv.solvers import SolveOptions, Status

    def say(text: str) -> None:
        if verbose:
            typer.echo(f"optiserv: {text}", err=True)

    with _stdout_diverted(verbose):
        formulation = make_formulation(model, p=p, radius=radius)
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
            summary = _infeasible_summary(formulation.name, instance, str(error))
        else:
            summary = solution_summary(solution)
        say(f"status {summary['status']}")
    if as_json:
        typer.echo(json.dumps(summary, allow_nan=False))
    else:
        _print_table(summary, instance, model.strip().lower())
    if summary["status"] == Status.ERROR.value:
        reason = _one_line(str(summary.get("message") or "")) or "no reason given"
        typer.echo(f"optiserv: the solver failed: {reason}", err=True)
        return EXIT_INTERNAL
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------
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

_EXIT_CODES = (
    "Exit status: 0 result printed (also infeasible, unbounded or no_solution; check status), "
    "2 bad input or options (one line on stderr), 1 internal error or solver failure "
    f"(--debug or {DEBUG_VARIABLE}=1 shows the traceback)."
)

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

_INPUT, _MODEL, _SOLVER, _OUTPUT = "Input", "Model", "Solver", "Output"

app = typer.Typer(
    name="optiserv",
    cls=_OptiservGroup,
    help=(
        "optiserv: where rural service points should go, with exact facility-location models "
        "and proof of how good the answer is.\n\n"
        "Run 'optiserv demo' for a quick look, or 'optiserv solve --help' for the models and "
        "the file formats."
    ),
    epilog=_EXIT_CODES,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"optiserv {__version__}")
        raise typer.Exit(EXIT_OK)


DebugOption = Annotated[
    bool,
    typer.Option(
        "--debug",
        help=f"Show the full traceback of any error (also: {DEBUG_VARIABLE}=1).",
        rich_help_panel=_OUTPUT,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print exactly one JSON object on stdout instead of a table.",
        rich_help_panel=_OUTPUT,
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Print progress and the solver's log on stderr.",
        rich_help_panel=_OUTPUT,
    ),
]
BackendOption = Annotated[
    str,
    typer.Option(
        "--backend",
        help="Solver: highs (default) or cbc (through PuLP); also pulp:SOLVER for another "
        "solver PuLP knows.",
        rich_help_panel=_SOLVER,
    ),
]


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help=f"Show full tracebacks (also: {DEBUG_VARIABLE}=1)."),
    ] = False,
) -> None:
    ctx.meta[_DEBUG_META] = debug
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(EXIT_OK)


@app.command("solve", help=_SOLVE_HELP, epilog=_EXIT_CODES)
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
            rich_help_panel=_INPUT,
            show_default=False,
        ),
    ],
    sites: Annotated[
        Path,
        typer.Option(
            "--sites",
            "-s",
            help="Sites CSV: id,x,y (+ fixed, forbidden or status, capacity, cost).",
            rich_help_panel=_INPUT,
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
            rich_help_panel=_INPUT,
            show_default=False,
        ),
    ] = None,
    metric: Annotated[
        Metric,
        typer.Option(
            "--metric",
            help="euclidean: x, y in metres. haversine: x longitude, y latitude in degrees "
            "(distances in metres).",
            rich_help_panel=_INPUT,
        ),
    ] = "euclidean",
    radius: Annotated[
        float | None,
        typer.Option(
            "--radius",
            "-r",
            help="Coverage radius for lscp, mclp, backup, in the travel-cost unit (metres "
            "unless --costs measures something else).",
            rich_help_panel=_MODEL,
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
            rich_help_panel=_MODEL,
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
            rich_help_panel=_SOLVER,
            show_default=False,
        ),
    ] = None,
    gap: Annotated[
        float,
        typer.Option(
            "--gap",
            help="Stop at this relative gap |objective - bound| / |objective|, e.g. 0.01 for 1 %.",
            rich_help_panel=_SOLVER,
        ),
    ] = 0.0,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            help="Solver threads. Default: the solver's choice.",
            rich_help_panel=_SOLVER,
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option("--seed", help="Random seed for the solver.", rich_help_panel=_SOLVER),
    ] = 0,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
    debug: DebugOption = False,
) -> None:
    """``optiserv solve``: the help text is ``_SOLVE_HELP``, built from the model registry."""
    with _errors_reported(ctx, debug):
        code = _solve_files(
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


@app.command("demo", epilog=_EXIT_CODES)
def demo(
    ctx: typer.Context,
    p: Annotated[
        int, typer.Option("--p", "-p", help="Number of sites to open.", rich_help_panel=_MODEL)
    ] = 5,
    radius: Annotated[
        float,
        typer.Option("--radius", "-r", help="Coverage radius in metres.", rich_help_panel=_MODEL),
    ] = 3000.0,
    backend: BackendOption = "highs",
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
    debug: DebugOption = False,
) -> None:
    """Solve a maximal covering model (mclp) on a small synthetic demo instance.

    The instance ships with optiserv: 300 demand points in five villages and scattered farms
    of a made-up 30 x 30 km area, and 30 candidate sites, one of them an existing shop (fixed
    open). Coordinates are metres. It is a placeholder until real Swedish scenarios land;
    'optiserv demo --verbose' shows where the files are, to copy them as a template for
    'optiserv solve'.
    """
    with _errors_reported(ctx, debug):
        folder = resources.files("optiserv").joinpath(*_DEMO_FILES)
        with (
            resources.as_file(folder.joinpath("demand.csv")) as demand_file,
            resources.as_file(folder.joinpath("sites.csv")) as sites_file,
        ):
            code = _solve_files(
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


@app.command("costs", epilog=_EXIT_CODES)
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

    with _errors_reported(ctx, debug):
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


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of the ``optiserv`` console script; returns the exit status.

    Parameters
    ----------
    args
        Command-line arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 ok, 1 internal error, 2 user error. As a console script the process exits with it.
    """
    command = typer.main.get_command(app)
    code = command.main(args=args, prog_name="optiserv", standalone_mode=False)
    return int(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
