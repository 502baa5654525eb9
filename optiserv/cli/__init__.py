"""The ``optiserv`` command line: parse arguments, delegate, report.

Commands, one module each
-------------------------
``solve`` (:mod:`.solve`)
    One location model on CSV files, printed as a table or one JSON object.
``demo`` (:mod:`.demo`)
    ``solve`` on the small synthetic instance shipped with optiserv.
``costs`` (:mod:`.costs`)
    Road-network (or labelled straight-line) cost tables for ``solve --costs``.
``validate``, ``run``, ``compare``, ``sweep``, ``report`` (:mod:`.scenarios`)
    Scenario files (YAML): check, solve and write a run folder with a report, compare
    scenarios side by side, sweep a parameter grid, rebuild a report from a run folder.

Errors and exit codes live in :mod:`.errors`: 0 ok, 2 user error (one line, no traceback), 1
internal error (one line with a hint to report it). Everything except the result goes to
stderr, so ``--json`` output can be piped.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from optiserv.cli import batch, costs, demo, scenarios, solve, warmup  # noqa: F401  (registers the commands)
from optiserv.cli.app import app
from optiserv.cli.errors import DEBUG_VARIABLE, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
from optiserv.cli.output import REQUIRED_JSON_KEYS, solution_summary

__all__ = [
    "DEBUG_VARIABLE",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "REQUIRED_JSON_KEYS",
    "app",
    "main",
    "solution_summary",
]


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
