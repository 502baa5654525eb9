"""One run of a batch, in whatever process runs it: solve, write, commit, report a row.

:func:`execute_run` is what every executor calls (in the batch's process, in a local worker
process, or on a Dask worker). It never raises for a failing run: the error comes back as the
row of a ``failed`` run, so the batch goes on. Only the death of its process can stop it, and
the executor then retries the run a bounded number of times.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optiserv import __version__
from optiserv.batch.plan import FAILED, RunSpec
from optiserv.batch.store import (
    RUN_RECORD,
    base_row,
    commit,
    is_complete,
    new_partial,
    now,
    stale_partials,
    write_record,
)

__all__ = [
    "SINGLE_THREAD_ENVIRONMENT",
    "RunTask",
    "execute_run",
    "failure_row",
    "prepare_worker_process",
    "result_row",
]

SINGLE_THREAD_ENVIRONMENT = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
"""Environment of worker processes, set before numba is imported: with one process per core,
numba's own threads would only compete with the other processes (and OpenMP threads spin)."""


_PROCESS_STATE = {"stdout_dropped": False}
"""What :func:`prepare_worker_process` has done in this process."""


@dataclass(frozen=True)
class RunTask:
    """What a worker needs for one run.

    Attributes
    ----------
    spec
        The run.
    runs
        The store's ``runs`` folder (on a file system every worker sees).
    run_report
        Also write the run's ``report.html``.
    attempt
        1 for the first attempt; more when a worker died during an earlier one.
    worker_process
        True in worker processes: one numba thread, C-level stdout (solver banners) dropped.
    """

    spec: RunSpec
    runs: str
    run_report: bool = False
    attempt: int = 1
    worker_process: bool = False


def prepare_worker_process() -> None:
    """Make this process a quiet single-threaded worker (called before every run).

    Before numba is imported, sets :data:`SINGLE_THREAD_ENVIRONMENT`. Once it is, keeps
    ``NUMBA_NUM_THREADS`` equal to the pool numba launched (numba refuses to compile when the
    two differ) and limits the calling thread to one numba thread. Once per process, sends
    file descriptor 1 to ``/dev/null``: nothing a worker prints belongs on the batch's stdout.
    """
    import sys

    if "numba" in sys.modules:
        import numba

        threads = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
        os.environ["NUMBA_NUM_THREADS"] = str(threads)
        numba.set_num_threads(1)
    else:
        os.environ.update(SINGLE_THREAD_ENVIRONMENT)
    if not _PROCESS_STATE["stdout_dropped"]:
        sys.stdout.flush()
        descriptor = os.open(os.devnull, os.O_WRONLY)
        os.dup2(descriptor, 1)
        os.close(descriptor)
        _PROCESS_STATE["stdout_dropped"] = True


def _worker() -> dict[str, Any]:
    threads: int | None = None
    try:
        import numba

        threads = int(numba.get_num_threads())
    except ImportError:  # pragma: no cover - numba is a dependency
        threads = None
    return {"host": socket.gethostname(), "pid": os.getpid(), "numba_threads": threads}


def _one_line(error: BaseException) -> str:
    from optiserv.exceptions import OptiservError

    text = " ".join(str(error).split())
    return text if isinstance(error, OptiservError) else f"{type(error).__name__}: {text}"


def _check_inputs(spec: RunSpec, loaded: Any) -> None:
    from optiserv.batch.plan import DATA_ROLES, FileDigests
    from optiserv.exceptions import DataError

    digests = FileDigests()
    data = loaded.scenario.data
    for role in DATA_ROLES:
        source = getattr(data, role)
        if source is None or role not in spec.inputs:
            continue
        if digests(Path(source.path)) != spec.inputs[role]:
            raise DataError(
                f"data.{role}: {source.path} changed since the batch was planned; plan again"
            )


def _count_spofs(closure: Any) -> int | None:
    if closure is None or "single_point_of_failure" not in closure:
        return None
    return int(closure["single_point_of_failure"].sum())


def _selection(summary: dict[str, Any]) -> str:
    """The plan as text: ``site:service+service`` per point, sorted."""
    items = sorted(
        f"{row['site_id']}:{'+'.join(sorted(row['services']))}" for row in summary["selected"]
    )
    return ";".join(items)


def result_row(spec: RunSpec, result: Any, seconds: dict[str, float]) -> dict[str, Any]:
    """The summary-table row of a solved run."""
    from optiserv.analysis import closure_impact

    summary = result.summary
    row = base_row(spec)
    row.update(
        status=summary["status"],
        objective=summary["objective"],
        bound=summary["bound"],
        gap=summary["gap"],
        error="",
        message=summary.get("message") or "",
        population_total=summary["population_total"],
    )
    for name, values in summary["services"].items():
        for state in ("before", "after"):
            row[f"population_{state}:{name}"] = values.get(f"population_{state}")
            row[f"share_{state}:{name}"] = values.get(f"share_{state}")
    cost = summary["cost"]
    row.update(
        currency=cost["currency"],
        cost_one_off=cost["one_off"],
        cost_annual=cost["annual"],
        grants_one_off=cost["grants"]["one_off"],
        grants_annual=cost["grants"]["annual"],
        net_one_off=cost["net"]["one_off"],
        net_annual=cost["net"]["annual"],
        new_points=len(summary["new_points"]),
        points=len(summary["selected"]),
        selection=_selection(summary),
        single_points_of_failure_before=_count_spofs(closure_impact(result.problem.bundle)),
        single_points_of_failure_after=_count_spofs(result.closure),
        time_limit=result.problem.options.time_limit
        if result.problem.options.time_limit != float("inf")
        else None,
        verified=(summary.get("verification") or {}).get("feasible"),
    )
    for phase, key in (
        ("reading data and travel costs", "time_read"),
        ("building the model", "time_build"),
        ("solving", "time_solve"),
        ("analysing", "time_analyse"),
    ):
        row[key] = round(float(result.timings.get(phase, 0.0)), 4)
    row.update({key: round(value, 4) for key, value in seconds.items()})
    return row


def failure_row(
    spec: RunSpec, message: str, error_type: str, status: str = FAILED, kind: str = "input"
) -> dict[str, Any]:
    """The summary-table row of a run without a result.

    ``kind`` is ``input`` (the scenario or its data is at fault: an
    :class:`~optiserv.exceptions.OptiservError`, or missing inputs), ``internal`` (any other
    exception: a bug), or ``worker`` (the worker process died).
    """
    return {
        **base_row(spec),
        "status": status,
        "error": message,
        "error_type": error_type,
        "error_kind": kind,
    }


def _existing(final: Path, attempt: int) -> dict[str, Any]:
    import json

    with (final / RUN_RECORD).open(encoding="utf-8") as handle:
        record = json.load(handle)
    return {"row": record["row"], "complete": True, "duplicate": True, "attempt": attempt}


def _solve(task: RunTask, partial: Path) -> dict[str, Any]:
    from optiserv.exceptions import SolverError
    from optiserv.scenario.loader import load_scenario
    from optiserv.scenario.outputs import write_run
    from optiserv.scenario.runner import run_scenario

    spec = task.spec
    started, cpu = time.perf_counter(), time.process_time()
    loaded = load_scenario(spec.file)
    if spec.overrides:
        loaded = loaded.with_values(spec.overrides)
    _check_inputs(spec, loaded)
    result = run_scenario(loaded)
    if result.summary["status"] == "error":
        raise SolverError(f"the solver failed: {result.summary.get('message') or 'no message'}")
    writing = time.perf_counter()
    write_run(result, partial, report=task.run_report)
    finished = time.perf_counter()
    seconds = {
        "time_write": finished - writing,
        "time_total": finished - started,
        "time_cpu": time.process_time() - cpu,
    }
    return result_row(spec, result, seconds)


def execute_run(task: RunTask) -> dict[str, Any]:
    """Run one task and commit its folder.

    Returns
    -------
    dict
        ``row`` (the summary-table row), ``complete`` (a committed result), ``duplicate``
        (another attempt had committed it first; ``row`` is that attempt's), ``attempt``,
        ``worker`` (host, pid, numba threads) and, for a failure, ``traceback``.
    """
    if task.worker_process:
        prepare_worker_process()
    spec = task.spec
    runs = Path(task.runs)
    final = runs / spec.run_id
    earlier = stale_partials(runs, spec.run_id)  # left by attempts whose process died
    attempt = max(task.attempt, len(earlier) + 1)
    if is_complete(final):
        return _existing(final, attempt)
    partial = new_partial(runs, spec.run_id)
    started = now()
    try:
        row = _solve(task, partial)
    except Exception as error:
        shutil.rmtree(partial, ignore_errors=True)
        from optiserv.exceptions import OptiservError

        kind = "input" if isinstance(error, OptiservError) else "internal"
        row = failure_row(spec, _one_line(error), type(error).__name__, kind=kind)
        row.update(attempts=attempt)
        return {
            "row": row,
            "complete": False,
            "duplicate": False,
            "attempt": attempt,
            "worker": _worker(),
            "traceback": traceback.format_exc(),
        }
    worker = _worker()
    row.update(attempts=attempt, worker=f"{worker['host']}:{worker['pid']}", finished=now())
    record = {
        "run_id": spec.run_id,
        "row": row,
        "identity": spec.identity,
        "scenario_file": spec.file,
        "overrides": spec.overrides,
        "inputs": spec.inputs,
        "attempt": attempt,
        "worker": worker,
        "started": started,
        "finished": row["finished"],
        "optiserv_version": __version__,
    }
    write_record(partial, record)
    if not commit(partial, final):
        return _existing(final, attempt)
    for folder in earlier:
        shutil.rmtree(folder, ignore_errors=True)
    return {"row": row, "complete": True, "duplicate": False, "attempt": attempt, "worker": worker}
