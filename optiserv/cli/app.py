"""The typer application, its root options and the options commands share."""

from __future__ import annotations

from typing import Annotated

import typer

from optiserv import __version__
from optiserv.cli.errors import (
    DEBUG_META,
    DEBUG_VARIABLE,
    EXIT_CODES_HELP,
    EXIT_OK,
    OptiservGroup,
)

__all__ = [
    "BackendOption",
    "DebugOption",
    "JsonOption",
    "QuietOption",
    "VerboseOption",
    "app",
]

PANEL_INPUT, PANEL_MODEL, PANEL_SOLVER, PANEL_OUTPUT = "Input", "Model", "Solver", "Output"

app = typer.Typer(
    name="optiserv",
    cls=OptiservGroup,
    help=(
        "optiserv: where rural service points should go, with exact facility-location models "
        "and proof of how good the answer is.\n\n"
        "Scenarios (YAML): 'optiserv validate', 'run', 'compare', 'sweep', 'report'. "
        "Single models on CSV files: 'optiserv solve --help'. A quick look: 'optiserv demo'."
    ),
    epilog=EXIT_CODES_HELP,
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
        rich_help_panel=PANEL_OUTPUT,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print exactly one JSON object on stdout instead of a table.",
        rich_help_panel=PANEL_OUTPUT,
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Print progress and the solver's log on stderr.",
        rich_help_panel=PANEL_OUTPUT,
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress bars and no table: only errors on stderr (for scripts).",
        rich_help_panel=PANEL_OUTPUT,
    ),
]
BackendOption = Annotated[
    str,
    typer.Option(
        "--backend",
        help="Solver: highs (default) or cbc (through PuLP); also pulp:SOLVER for another "
        "solver PuLP knows.",
        rich_help_panel=PANEL_SOLVER,
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
    ctx.meta[DEBUG_META] = debug
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(EXIT_OK)
