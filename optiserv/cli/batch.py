"""``optiserv batch``: run a batch plan (many scenarios, areas, a grid) on an executor.

Parses the options, picks the executor and delegates to :func:`optiserv.batch.run_batch`; a
progress bar (runs done, failed, running, time left) goes to stderr, the counts to stdout.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from optiserv.cli.app import DebugOption, JsonOption, QuietOption, app
from optiserv.cli.errors import EXIT_CODES_HELP, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, errors_reported

__all__ = ["EXIT_INTERRUPTED", "batch"]

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C: the finished runs are kept; run the same command to go on."""

_LISTED = 10
"""Reasons for runs without a result printed at the end (the rest are in summary.csv)."""

_HELP = """\
Run a batch plan: every scenario of the plan, for every area and grid point, into one output
folder with a summary table and a report.

The plan (YAML, version: 1) lists scenarios, optionally the areas to run them over
(municipalities, a county, or all of Sweden; inputs come from scenarios/data, or are prepared
from the shared raw data into a cache, or the run is recorded as missing_data), a parameter
grid, a per-run time limit and retries. See scenarios/batch/README.md.

Each run gets a stable id (the resolved scenario, the checksums of its inputs, the optiserv
version) and its own folder OUT/runs/<id>, committed atomically. OUT/summary.csv and
OUT/summary.parquet have one row per run; OUT/report.html shows the areas of each county side by
side. Running the same plan again skips the runs already complete and re-does the others.

Executors: local worker processes (default, one per core); --in-process for debugging;
--dask-local N starts a Dask cluster of N workers on 127.0.0.1; --scheduler tcp://HOST:PORT
uses an existing Dask cluster (its workers must see OUT and the inputs at the same paths).

Exit status: 0 every run has a result; 2 some runs failed on their input (broken scenario,
missing data); 1 some runs failed otherwise (a bug, workers that kept dying); 130 interrupted
(Ctrl-C or SIGTERM: finished runs are kept).
"""


class _RichProgress:
    """A rich progress bar on stderr: runs done, failed, running, skipped, time left."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed · {task.fields[running]} running"),
            TextColumn("· {task.fields[skipped]} skipped"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task: Any = None
        self.done = self.failed = self.started_count = 0
        self.total = self.capacity = 0
        self.reports_starts = True

    def __enter__(self) -> _RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _update(self) -> None:
        if self.reports_starts:
            running = self.started_count - self.done
        else:
            running = min(self.capacity, self.total - self.done)
        self.progress.update(
            self.task, completed=self.done, failed=self.failed, running=max(0, running)
        )

    def begin(self, total: int, skipped: int, capacity: int, reports_starts: bool) -> None:
        self.total, self.capacity, self.reports_starts = total, capacity, reports_starts
        self.task = self.progress.add_task(
            "batch", total=total, failed=0, running=0, skipped=skipped
        )
        self._update()

    def started(self, run_id: str) -> None:
        self.started_count += 1
        self._update()

    def finished(self, row: dict[str, Any], complete: bool) -> None:
        self.done += 1
        self.failed += 0 if complete else 1
        self._update()

    def retried(self, run_id: str, reason: str) -> None:
        self.started_count -= 1  # started again when a worker takes it
        self.progress.console.print(f"run {run_id}: {reason}; trying again")
        self._update()


def _executor(
    in_process: bool,
    workers: int | None,
    scheduler: str | None,
    dask_local: int | None,
    retries: int,
) -> Any:
    from optiserv.batch import DaskExecutor, InProcess, LocalProcesses
    from optiserv.exceptions import ParameterError

    chosen = [
        name
        for name, given in (
            ("--in-process", in_process),
            ("--workers", workers is not None),
            ("--scheduler", scheduler is not None),
            ("--dask-local", dask_local is not None),
        )
        if given
    ]
    if len(chosen) > 1:
        raise ParameterError(f"choose one executor: {' and '.join(chosen)} were both given")
    if in_process:
        return InProcess()
    if scheduler is not None:
        if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise ParameterError(f"--scheduler: expected tcp://HOST:PORT, got {scheduler!r}")
        return DaskExecutor(scheduler, retries=retries)
    if dask_local is not None:
        if dask_local < 1:
            raise ParameterError(f"--dask-local: expected at least 1 worker, got {dask_local}")
        return DaskExecutor(local_workers=dask_local, retries=retries)
    if workers is not None and workers < 1:
        raise ParameterError(f"--workers: expected at least 1, got {workers}")
    return LocalProcesses(workers, retries=retries)


@contextmanager
def _sigterm_stops_cleanly() -> Iterator[None]:
    """SIGTERM (``kill PID``, a job scheduler ending the job) stops the batch as Ctrl-C does:
    the summary is written, finished runs are kept and the exit status is 130. It also stops
    a batch started as a script's background job, where the shell makes SIGINT ignored."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _title(row: dict[str, Any]) -> str:
    parts = [str(row["scenario"])]
    if row.get("area"):
        parts.append(f"{row['area']} {row['area_name']}")
    if row.get("parameters") not in (None, "", "{}"):
        parts.append(str(row["parameters"]))
    return " · ".join(parts)


def _exit_code(result: Any) -> tuple[int, str]:
    if result.interrupted:
        return EXIT_INTERRUPTED, (
            f"interrupted: {result.pending} runs left; run the same command again to finish "
            "them (complete runs are kept)"
        )
    failures = result.failures()
    if not failures:
        return EXIT_OK, ""
    first = failures[0]
    message = (
        f"{len(failures)} of {len(result.specs)} runs have no result "
        f"(see {result.folder / 'summary.csv'}); first: {_title(first)}: {first['error']}"
    )
    internal = any(str(row.get("error_kind")) in ("internal", "worker") for row in failures)
    return (EXIT_INTERNAL if internal else EXIT_USAGE), message


def _print_result(result: Any, as_json: bool) -> None:
    folder = result.folder
    files = {
        "summary_csv": str(folder / "summary.csv"),
        "summary_parquet": str(folder / "summary.parquet"),
        "report": None if result.report is None else str(result.report),
    }
    failures = [
        {"run_id": r["run_id"], "run": _title(r), "status": r["status"], "error": r["error"]}
        for r in result.failures()
    ]
    if as_json:
        document = {"out": str(folder), **result.counts(), **files, "failures": failures}
        typer.echo(json.dumps(document, ensure_ascii=False))
        return
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(result.statuses.items()))
    typer.echo(
        f"{len(result.specs)} runs: {result.skipped} skipped (already complete), {result.run} "
        f"run, {result.failed} failed, {result.missing} missing data; {result.retried} "
        "attempts repeated after a worker died"
    )
    typer.echo(f"statuses: {statuses}")
    typer.echo(f"summary: {files['summary_csv']} (and .parquet)")
    if result.report is not None:
        typer.echo(f"report: {result.report}")
    grouped: dict[tuple[str, str], int] = {}
    for failure in failures:
        key = (failure["status"], failure["error"])
        grouped[key] = grouped.get(key, 0) + 1
    for shown, ((status, error), count) in enumerate(grouped.items()):
        if shown == _LISTED:
            typer.echo(f"  ... and {len(grouped) - _LISTED} more reasons: see summary.csv")
            break
        runs = "1 run" if count == 1 else f"{count} runs"
        typer.echo(f"  {status} ({runs}): {error}")


def _print_plan(specs: list[Any], complete: set[str]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{len(specs)} runs")
    for column in ("run id", "scenario", "area", "values", "state"):
        table.add_column(column, no_wrap=column == "run id")
    problems: dict[str, None] = {}
    for spec in specs:
        state = "complete" if spec.run_id in complete else "to run"
        if spec.problem and spec.run_id not in complete:
            state = spec.problem_status
            problems[spec.problem] = None
        values = ", ".join(f"{k}={v}" for k, v in spec.parameters.items())
        area = f"{spec.area} {spec.area_name}".strip()
        table.add_row(*(escape(t) for t in (spec.run_id, spec.scenario, area, values, state)))
    console = Console(soft_wrap=True)
    console.print(table)
    for problem in problems:
        console.print(escape(f"no run: {problem}"))


@app.command("batch", help=_HELP, epilog=EXIT_CODES_HELP)
def batch(
    ctx: typer.Context,
    plan: Annotated[
        Path, typer.Argument(help="Batch plan (YAML).", metavar="PLAN", show_default=False)
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output folder (default: the plan's outputs.folder).", show_default=False
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-j",
            help="Local worker processes (default: every core).",
            show_default=False,
        ),
    ] = None,
    in_process: Annotated[
        bool, typer.Option("--in-process", help="Run in this process, one run at a time.")
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", help="An existing Dask scheduler, tcp://HOST:PORT.", show_default=False
        ),
    ] = None,
    dask_local: Annotated[
        int | None,
        typer.Option(
            "--dask-local",
            help="Start a Dask LocalCluster of N workers on 127.0.0.1.",
            metavar="N",
            show_default=False,
        ),
    ] = None,
    retries: Annotated[
        int | None,
        typer.Option(
            "--retries",
            help="Extra attempts of a run whose worker dies (default: the plan's retries, 2).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the runs and their state; run nothing.")
    ] = False,
    report_only: Annotated[
        bool,
        typer.Option(
            "--report-only",
            help="Rewrite the summary table and report from the finished runs; run nothing.",
        ),
    ] = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """``optiserv batch``: the help text is ``_HELP``."""
    from optiserv.batch import ResultStore, expand_plan, load_plan, run_batch
    from optiserv.batch.runner import write_batch_report
    from optiserv.cli.output import stdout_diverted

    with errors_reported(ctx, debug):
        loaded = load_plan(plan)
        folder = (out or loaded.output_folder()).resolve()
        executor = _executor(
            in_process,
            workers,
            scheduler,
            dask_local,
            loaded.plan.retries if retries is None else retries,
        )
        store = ResultStore(folder)
        store.check_folder()
        with stdout_diverted(False):
            specs = expand_plan(loaded, folder)
        if dry_run:
            _print_plan(specs, store.complete_ids())
            return
        if report_only:
            table = store.write_summary(specs)
            path = write_batch_report(loaded, table, folder)
            if not quiet:
                typer.echo(f"summary: {folder / 'summary.csv'}\nreport: {path}")
            return
        show = not (quiet or as_json)
        with stdout_diverted(False), _sigterm_stops_cleanly():
            if show:
                with _RichProgress() as progress:
                    result = run_batch(loaded, folder, executor, progress=progress, specs=specs)
            else:
                result = run_batch(loaded, folder, executor, specs=specs)
    if not quiet:
        _print_result(result, as_json)
    code, message = _exit_code(result)
    if message:
        prefix = "optiserv: " if code == EXIT_INTERRUPTED else "optiserv: error: "
        typer.echo(prefix + " ".join(message.split()), err=True)
    if code != EXIT_OK:
        raise typer.Exit(code)
