"""Exit codes and error reporting: every failure is one line on stderr and an exit code.

Exit status
-----------
0
    A result was printed or written. That includes INFEASIBLE, UNBOUNDED and NO_SOLUTION (time
    limit reached without a plan): these are answers about the model, not failures of the
    program, and ``status`` in the output says which.
1
    Internal error (a bug, or a solver that crashed, status ERROR): one line on stderr with a
    hint to report it; the traceback only with ``--debug`` or ``OPTISERV_DEBUG=1``.
2
    User error: a bad file, column, value, scenario key or option (every
    :class:`~optiserv.exceptions.OptiservError` and every usage error): one line on stderr naming
    what is wrong, and no traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from optiserv.exceptions import OptiservError

__all__ = [
    "DEBUG_META",
    "DEBUG_VARIABLE",
    "EXIT_CODES_HELP",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "OptiservGroup",
    "errors_reported",
    "one_line",
    "report_error",
]

DEBUG_VARIABLE = "OPTISERV_DEBUG"
"""Environment variable: set to 1 to print full tracebacks, like ``--debug``."""

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2

DEBUG_META = "optiserv.debug"
"""Key in the click context's ``meta`` holding the root ``--debug`` flag."""

EXIT_CODES_HELP = (
    "Exit status: 0 result printed (also infeasible, unbounded or no_solution; check status), "
    "2 bad input or options (one line on stderr), 1 internal error or solver failure "
    f"(--debug or {DEBUG_VARIABLE}=1 shows the traceback)."
)


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


def one_line(text: str) -> str:
    """``text`` with every run of white space (newlines included) made one space."""
    return " ".join(str(text).split())


def debug_wanted(flag: bool = False) -> bool:
    """True when ``--debug`` was given or ``OPTISERV_DEBUG`` is set to a true value."""
    return flag or os.environ.get(DEBUG_VARIABLE, "").strip().lower() in {"1", "true", "yes"}


def report_error(error: BaseException, *, debug: bool) -> int:
    """Print ``error`` as one line on stderr (and its traceback when debugging); the exit code."""
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, OptiservError):
        typer.echo(f"optiserv: error: {one_line(str(error))}", err=True)
        return EXIT_USAGE
    detail = one_line(f"{type(error).__name__}: {error}")
    hint = "" if debug else f"; rerun with --debug or {DEBUG_VARIABLE}=1 for the traceback"
    typer.echo(
        f"optiserv: internal error: {detail}. This is a bug in optiserv: please report it "
        f"with the command you ran{hint}",
        err=True,
    )
    return EXIT_INTERNAL


@contextlib.contextmanager
def errors_reported(ctx: typer.Context, debug: bool) -> Iterator[None]:
    """Turn every exception of a command into one stderr line and an exit code."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:
        wanted = debug_wanted(debug or bool(ctx.meta.get(DEBUG_META)))
        raise typer.Exit(report_error(error, debug=wanted)) from None


class OptiservGroup(TyperGroup):
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
            message = one_line(error.format_message())  # type: ignore[attr-defined]
            typer.echo(f"optiserv: error: {message}{hint}", err=True)
            code = int(getattr(error, "exit_code", EXIT_USAGE))
        except typer.Abort:
            typer.echo("optiserv: aborted", err=True)
            code = EXIT_INTERNAL
        except Exception as error:  # raised outside a command body, e.g. while parsing
            code = report_error(error, debug=debug_wanted("--debug" in arguments))
        if standalone_mode:
            sys.exit(code)
        return code
