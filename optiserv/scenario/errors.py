"""Scenario errors that name the file, the line and the key path, and what was expected.

A :class:`ScenarioError` holds one or more :class:`Issue`; its message is one line, so the
command line can print it as is (``optiserv: error: base.yaml:12: services.fuel.threshold_km:
expected a number greater than 0, got -5``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from optiserv.exceptions import DataError

__all__ = ["Issue", "KeyPath", "ScenarioError", "format_path"]

KeyPath = tuple[str | int, ...]
"""A key path into a scenario document: mapping keys and list positions."""

_SHOWN = 3


def format_path(path: KeyPath) -> str:
    """``services.fuel.threshold_km``, ``grants[0].share``; ``(top level)`` for the root."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = str(part)
            plain = key.replace("_", "").replace("-", "").isalnum()
            text += (f".{key}" if text else key) if plain else f"[{key!r}]"
    return text or "(top level)"


@dataclass(frozen=True)
class Issue:
    """One mistake in a scenario file.

    Attributes
    ----------
    file
        The scenario file (the one that set the key, when files extend each other).
    line
        Line number, counted from 1; 0 when unknown.
    path
        Key path of the offending key or value.
    message
        What is wrong and what was expected.
    """

    file: Path
    line: int
    path: KeyPath
    message: str

    def __str__(self) -> str:
        where = f"{self.file.name}:{self.line}" if self.line else f"{self.file.name}"
        return f"{where}: {format_path(self.path)}: {self.message}"


class ScenarioError(DataError):
    """A scenario file is malformed: every issue names its file, line and key path."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        shown = "; ".join(str(issue) for issue in self.issues[:_SHOWN])
        more = len(self.issues) - _SHOWN
        super().__init__(shown + (f" (and {more} more)" if more > 0 else ""))
