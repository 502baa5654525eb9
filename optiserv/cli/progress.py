"""Progress bars on stderr for the long phases of scenario commands (none with --quiet)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["phases"]


@contextlib.contextmanager
def phases(total: int, *, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A callback that starts the next phase (``advance("solving")``) on one progress bar."""
    if quiet:
        yield lambda name: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<32}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task: Any = progress.add_task("starting", total=total)
    started = [False]

    def advance(name: str) -> None:
        if started[0]:
            progress.advance(task)
        started[0] = True
        progress.update(task, description=name)

    with progress:
        yield advance
        progress.update(task, completed=total, description="done")
