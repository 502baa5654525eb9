"""One hierarchy of errors for everything a user can get wrong.

Every error names what was wrong: the file or field, and the offending ids or values, so that
the command line can print it on one line and exit with status 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "DataError",
    "InfeasibleError",
    "OptiservError",
    "ParameterError",
    "SolverError",
    "format_examples",
]


def format_examples(values: Iterable[object], limit: int = 5) -> str:
    """Render the first ``limit`` offending values, with a count of the rest."""
    items: Sequence[object] = list(values)
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in items[:limit])
    more = len(items) - limit
    return f"{shown} (and {more} more)" if more > 0 else shown


class OptiservError(Exception):
    """Base class of every error optiserv raises on purpose."""


class DataError(OptiservError, ValueError):
    """Input data is malformed: NaN coordinates, duplicate ids, unknown ids, CRS mismatch."""


class ParameterError(OptiservError, ValueError):
    """A model or solver parameter is out of range (p larger than the number of sites, ...)."""


class InfeasibleError(OptiservError):
    """A model has no feasible plan, with the reason and what would make it feasible."""


class SolverError(OptiservError):
    """A solver backend is missing or failed for a reason outside the user's input."""
