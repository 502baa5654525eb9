"""What the commands print: JSON-ready summaries, tables, and stdout kept for the result."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from optiserv.cli.errors import one_line
from optiserv.formulations.registry import MODELS
from optiserv.reports.record import json_ready

if TYPE_CHECKING:
    from optiserv.data import Instance
    from optiserv.solution import Solution

__all__ = [
    "REQUIRED_JSON_KEYS",
    "infeasible_summary",
    "print_solution_table",
    "solution_summary",
    "stdout_diverted",
]

REQUIRED_JSON_KEYS = (
    "status",
    "objective",
    "bound",
    "gap",
    "open_sites",
    "covered_weight",
    "total_weight",
)
"""Keys every ``optiserv solve --json`` object has (null when a value does not exist)."""


def solution_summary(solution: Solution) -> dict[str, Any]:
    """``Solution.to_dict()``, JSON-ready, with every key of :data:`REQUIRED_JSON_KEYS`."""
    summary = json_ready(solution.to_dict())
    summary["status"] = str(summary.get("status", solution.status.value)).lower()
    for key in REQUIRED_JSON_KEYS:
        summary.setdefault(key, None)
    return summary


def infeasible_summary(model: str, instance: Instance, message: str) -> dict[str, Any]:
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
        "message": one_line(message),
    }


def number_text(value: Any) -> str:
    """A number for a table: ``-`` for missing, thousands separators, six significant digits."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def print_solution_table(summary: Mapping[str, Any], instance: Instance, model: str) -> None:
    """Print the result of ``optiserv solve`` as a rich table on stdout."""
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
    table.add_row("objective", f"{number_text(summary['objective'])}{meaning}")
    table.add_row("bound", number_text(summary["bound"]))
    gap = summary["gap"]
    table.add_row("gap", "-" if gap is None else f"{100 * gap:.4g} %")
    sites = summary["open_sites"]
    shown = ", ".join(str(site) for site in sites[:15]) + (", …" if len(sites) > 15 else "")
    table.add_row("open sites", escape(f"{len(sites)}: {shown}" if sites else "none"))
    covered, total = summary["covered_weight"], summary["total_weight"]
    share = f" ({100 * covered / total:.1f} %)" if covered is not None and total else ""
    table.add_row("covered weight", f"{number_text(covered)}{share}")
    table.add_row("total weight", number_text(total))
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
def stdout_diverted(verbose: bool) -> Iterator[None]:
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
