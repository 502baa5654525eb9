"""Run a batch: expand the plan, skip what is done, execute the rest, keep the summary current.

:func:`run_batch` is the whole batch in one call; the command line (``optiserv batch``) only
adds argument parsing and a progress bar. Re-running a plan into the same output folder skips
every run already complete under the same id and re-does the others (failed, missing, or
interrupted), so a batch that was stopped loses nothing but the runs that were in flight.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from optiserv.batch.executor import Executor
from optiserv.batch.plan import MISSING_DATA, BatchPlan, RunSpec, expand_plan
from optiserv.batch.store import PENDING, ResultStore
from optiserv.batch.worker import RunTask, failure_row

__all__ = ["BatchProgress", "BatchResult", "run_batch", "write_batch_report"]

_SUMMARY_EVERY = 5.0
"""Seconds between rewrites of the summary table while runs finish."""


class BatchProgress(Protocol):
    """What :func:`run_batch` tells a progress display."""

    def begin(self, total: int, skipped: int, capacity: int, reports_starts: bool) -> None:
        """``total`` runs will be executed; ``skipped`` were complete already."""

    def started(self, run_id: str) -> None:
        """A worker started a run."""

    def finished(self, row: dict[str, Any], complete: bool) -> None:
        """A run finished, with a result (``complete``) or a failure."""

    def retried(self, run_id: str, reason: str) -> None:
        """A run is tried again."""


@dataclass
class BatchResult:
    """What a batch did.

    Attributes
    ----------
    folder
        The output folder.
    specs
        Every run of the plan.
    skipped
        Runs complete before this session (not run again).
    run
        Runs that got a result in this session.
    failed
        Runs without a result: raised, broken scenario, worker died too often.
    missing
        Runs without a result because their area has no inputs (``missing_data``).
    retried
        Attempts repeated because a worker died.
    interrupted
        True when the session was stopped (Ctrl-C) before every run was done.
    table
        The summary table.
    report
        The batch report, when written.
    """

    folder: Path
    specs: list[RunSpec]
    skipped: int = 0
    run: int = 0
    failed: int = 0
    missing: int = 0
    retried: int = 0
    interrupted: bool = False
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    report: Path | None = None

    @property
    def pending(self) -> int:
        """Runs of the plan with neither a result nor a failure."""
        return int((self.table["status"] == PENDING).sum()) if len(self.table) else 0

    @property
    def statuses(self) -> dict[str, int]:
        """Number of runs per status in the summary table."""
        return dict(Counter(self.table["status"])) if len(self.table) else {}

    def failures(self) -> list[dict[str, Any]]:
        """Rows of the runs without a result (failed or missing data)."""
        if not len(self.table):
            return []
        mask = self.table["status"].isin(["failed", MISSING_DATA])
        return list(self.table[mask].to_dict("records"))

    def counts(self) -> dict[str, Any]:
        """The counts, for ``batch.json`` and ``--json``."""
        return {
            "runs": len(self.specs),
            "skipped": self.skipped,
            "run": self.run,
            "failed": self.failed,
            "missing_data": self.missing,
            "retried": self.retried,
            "pending": self.pending,
            "interrupted": self.interrupted,
            "statuses": self.statuses,
        }


class _Quiet:
    def begin(self, total: int, skipped: int, capacity: int, reports_starts: bool) -> None:
        return None

    def started(self, run_id: str) -> None:
        return None

    def finished(self, row: dict[str, Any], complete: bool) -> None:
        return None

    def retried(self, run_id: str, reason: str) -> None:
        return None


def _record_problems(store: ResultStore, specs: Sequence[RunSpec]) -> None:
    for spec in specs:
        assert spec.problem is not None
        kind = "MissingData" if spec.problem_status == MISSING_DATA else "ScenarioError"
        row = failure_row(spec, spec.problem, kind, spec.problem_status)
        store.record_failure(row, {"stage": "planning", "scenario_file": spec.file})


def write_batch_report(batch: BatchPlan, table: pd.DataFrame, folder: Path) -> Path:
    """Write ``report.html`` of the batch from its summary table; returns its path."""
    from optiserv.batch.report import write_report

    return write_report(
        table, folder / "report.html", title=batch.name, description=batch.plan.description
    )


def run_batch(
    batch: BatchPlan,
    out: Path,
    executor: Executor,
    *,
    progress: BatchProgress | None = None,
    specs: list[RunSpec] | None = None,
) -> BatchResult:
    """Run every run of ``batch`` that is not complete in ``out``.

    Parameters
    ----------
    batch
        The plan.
    out
        The output folder (the result store).
    executor
        Where runs are executed (:mod:`optiserv.batch.executor`).
    progress
        Told about runs starting and finishing.
    specs
        The plan's runs, when already expanded (:func:`~optiserv.batch.plan.expand_plan`).

    Returns
    -------
    BatchResult
        Counts, the summary table and the report. A Ctrl-C stops the session, writes the
        summary (unfinished runs ``pending``) and returns with ``interrupted``.
    """
    progress = progress or _Quiet()
    store = ResultStore(out)
    store.check_folder()
    specs = expand_plan(batch, out) if specs is None else specs
    store.clean()
    complete = store.complete_ids()
    result = BatchResult(out, specs, skipped=sum(s.run_id in complete for s in specs))
    problems = [s for s in specs if s.run_id not in complete and s.problem is not None]
    _record_problems(store, problems)
    result.missing = sum(s.problem_status == MISSING_DATA for s in problems)
    result.failed = len(problems) - result.missing
    todo = [s for s in specs if s.run_id not in complete and s.problem is None]
    session = store.start_session(batch, executor.describe(), len(specs))
    tasks = [RunTask(s, str(store.runs), run_report=batch.plan.outputs.run_reports) for s in todo]
    progress.begin(len(tasks), result.skipped, executor.capacity, executor.reports_starts)
    written = time.monotonic()

    def retried(run_id: str, reason: str) -> None:
        result.retried += 1
        progress.retried(run_id, reason)

    try:
        for outcome in executor.run(tasks, on_start=progress.started, on_retry=retried):
            row = outcome["row"]
            if outcome["complete"]:
                store.clear_failure(row["run_id"])
            else:
                details = {key: outcome.get(key) for key in ("traceback", "attempt", "worker")}
                store.record_failure(row, {"stage": "running", **details})
                result.failed += 1
            progress.finished(row, bool(outcome["complete"]))
            if time.monotonic() - written > _SUMMARY_EVERY:
                store.write_summary(specs)
                written = time.monotonic()
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        complete = store.complete_ids()
        result.run = sum(s.run_id in complete for s in specs) - result.skipped
        result.table = store.write_summary(specs)
        store.finish_session(session, result.counts())
    if batch.plan.outputs.report and not result.interrupted:
        result.report = write_batch_report(batch, result.table, out)
    return result
