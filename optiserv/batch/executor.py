"""Where the runs of a batch are executed: in this process, in local worker processes, or on
a Dask distributed cluster.

Every executor takes :class:`~optiserv.batch.worker.RunTask` objects and yields the outcome of
each (a dict from :func:`~optiserv.batch.worker.execute_run`) as it finishes, in any order.
Each run is independent and deterministic, so the results do not depend on the executor or the
number of workers: a run that reaches optimality has the same objective and the same plan
everywhere.

* :class:`InProcess`: one run after the other in this process; for debugging (pdb works).
* :class:`LocalProcesses` (the default): one worker process per core. A worker that dies
  (killed, out of memory) is replaced, and only the run it was doing is tried again, at most
  ``retries`` more times.
* :class:`DaskExecutor`: a Dask distributed cluster, given by its scheduler's address or
  started here as a ``LocalCluster`` on 127.0.0.1. The scheduler re-runs the tasks of a worker
  that dies (``distributed.scheduler.allowed-failures``, set to ``retries`` for a cluster
  started here); a task that kills workers more often fails as ``KilledWorker`` and is recorded
  as failed. Workers must see the output folder and the inputs at the same paths (one machine,
  or a shared file system), and have the same optiserv installed.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from optiserv.batch.worker import (
    SINGLE_THREAD_ENVIRONMENT,
    RunTask,
    execute_run,
    failure_row,
    prepare_worker_process,
)

__all__ = [
    "DaskExecutor",
    "Executor",
    "InProcess",
    "LocalProcesses",
    "OnRetry",
    "OnStart",
]

OnStart = Callable[[str], None]
"""Called with a run id when a worker starts it."""
OnRetry = Callable[[str, str], None]
"""Called with a run id and the reason when it is tried again."""


def _ignore_start(run_id: str) -> None:
    return None


def _ignore_retry(run_id: str, reason: str) -> None:
    return None


class Executor(Protocol):
    """What the batch needs of an executor."""

    name: str

    @property
    def capacity(self) -> int:
        """How many runs can be in flight at once."""
        ...

    @property
    def reports_starts(self) -> bool:
        """True when ``on_start`` is called as each run starts."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the executor is, for ``batch.json``."""
        ...

    def run(
        self,
        tasks: Sequence[RunTask],
        *,
        on_start: OnStart = _ignore_start,
        on_retry: OnRetry = _ignore_retry,
    ) -> Iterator[dict[str, Any]]:
        """Execute ``tasks``; yield each outcome as it finishes."""
        ...


def _died(task: RunTask, attempts: int | None, detail: str) -> dict[str, Any]:
    """The outcome of a run whose worker died once too often (``attempts`` when known)."""
    times = "as often as the cluster allows" if attempts is None else f"{attempts} times"
    message = f"the worker process died {times} while running this run ({detail}); not tried again"
    row = failure_row(task.spec, message, "WorkerDied", kind="worker")
    row["attempts"] = attempts
    return {"row": row, "complete": False, "duplicate": False, "attempt": attempts}


# ------------------------------------------------------------------------------ in process
class InProcess:
    """Run the tasks one after the other in this process."""

    name = "in-process"
    capacity = 1
    reports_starts = True

    def describe(self) -> dict[str, Any]:
        """``{"name": "in-process", "workers": 1}``."""
        return {"name": self.name, "workers": 1}

    def run(
        self,
        tasks: Sequence[RunTask],
        *,
        on_start: OnStart = _ignore_start,
        on_retry: OnRetry = _ignore_retry,
    ) -> Iterator[dict[str, Any]]:
        """Execute each task here, in order."""
        for task in tasks:
            on_start(task.spec.run_id)
            yield execute_run(task)


# ------------------------------------------------------------------------ local processes
def _log_stderr(runs: str) -> None:
    """Send this worker's stderr (solver banners, warnings, a crash's last words) to
    ``logs/worker-<host>-<pid>.log`` beside the ``runs`` folder."""
    import socket
    import sys
    from pathlib import Path

    folder = Path(runs).parent / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"worker-{socket.gethostname()}-{os.getpid()}.log"
    sys.stderr.flush()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(descriptor, 2)
    os.close(descriptor)


def _serve(connection: Connection) -> None:
    """Main loop of a local worker process: receive a task, send back its outcome."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the batch process decides what to stop
    prepare_worker_process()
    logging_to: str | None = None
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        if logging_to != task.runs:
            _log_stderr(task.runs)
            logging_to = task.runs
        connection.send(execute_run(task))


@dataclass
class _Slot:
    process: Any
    connection: Connection
    task: RunTask | None = None


class LocalProcesses:
    """Worker processes on this machine (started with ``spawn``), one run at a time each.

    Parameters
    ----------
    workers
        Number of worker processes (default: the number of cores).
    retries
        Extra attempts of a run whose worker process dies.
    """

    name = "processes"
    reports_starts = True

    def __init__(self, workers: int | None = None, *, retries: int = 2) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.retries = retries
        self.context = multiprocessing.get_context("spawn")

    @property
    def capacity(self) -> int:
        """The number of worker processes."""
        return self.workers

    def describe(self) -> dict[str, Any]:
        """Name, workers and retries."""
        return {"name": self.name, "workers": self.workers, "retries": self.retries}

    def _start(self) -> _Slot:
        ours, theirs = self.context.Pipe(duplex=True)
        process = self.context.Process(
            target=_serve, args=(theirs,), daemon=True, name="optiserv-batch-worker"
        )
        process.start()
        theirs.close()
        return _Slot(process, ours)

    @staticmethod
    def _stop(slots: list[_Slot]) -> None:
        for slot in slots:
            with contextlib.suppress(OSError, ValueError):
                if slot.task is None and slot.process.is_alive():
                    slot.connection.send(None)
        for slot in slots:
            if slot.task is not None:
                slot.process.terminate()
        for slot in slots:
            slot.process.join(timeout=10)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=5)
            slot.connection.close()

    def run(
        self,
        tasks: Sequence[RunTask],
        *,
        on_start: OnStart = _ignore_start,
        on_retry: OnRetry = _ignore_retry,
    ) -> Iterator[dict[str, Any]]:
        """Execute the tasks in the worker processes; replace a worker that dies and try its
        run again (at most ``retries`` more times)."""
        queue = deque(replace(task, worker_process=True) for task in tasks)
        slots = [self._start() for _ in range(min(self.workers, len(queue)))]
        try:
            while queue or any(slot.task is not None for slot in slots):
                for slot in slots:
                    if slot.task is None and queue:
                        slot.task = queue.popleft()
                        slot.connection.send(slot.task)
                        on_start(slot.task.spec.run_id)
                waiting: list[Any] = [slot.connection for slot in slots if slot.task is not None]
                ready = set(wait(waiting + [slot.process.sentinel for slot in slots]))
                finished: list[dict[str, Any]] = []
                alive: list[_Slot] = []
                for slot in slots:
                    outcome = self._receive(slot) if slot.connection in ready else None
                    if outcome is not None:
                        finished.append(outcome)
                    elif slot.process.sentinel in ready or not slot.process.is_alive():
                        finished += self._buried(slot, queue, on_retry)
                        if queue:
                            alive.append(self._start())
                        continue
                    alive.append(slot)
                slots = alive
                yield from finished
        finally:
            self._stop(slots)

    @staticmethod
    def _receive(slot: _Slot) -> dict[str, Any] | None:
        """The outcome a worker sent, or None when its pipe is closed (it died)."""
        if slot.task is None:
            return None
        try:
            outcome: dict[str, Any] = slot.connection.recv()
        except (EOFError, OSError):
            slot.process.join(timeout=5)
            return None
        slot.task = None
        return outcome

    def _buried(self, slot: _Slot, queue: deque[RunTask], on_retry: OnRetry) -> list[dict]:
        """A worker died: queue its run again, or fail it after ``retries`` more attempts."""
        slot.process.join(timeout=5)
        slot.connection.close()
        task, slot.task = slot.task, None
        if task is None:
            return []
        detail = f"exit code {slot.process.exitcode}; its stderr is in logs/ of the output folder"
        if task.attempt > self.retries:
            return [_died(task, task.attempt, detail)]
        on_retry(task.spec.run_id, f"worker died ({detail})")
        queue.appendleft(replace(task, attempt=task.attempt + 1))
        return []


# ------------------------------------------------------------------------------------ dask
class DaskExecutor:
    """A Dask distributed cluster: an existing scheduler, or a ``LocalCluster`` started here.

    Parameters
    ----------
    address
        The scheduler of an existing cluster, ``tcp://HOST:PORT``.
    local_workers
        Without ``address``: start a ``LocalCluster`` of this many single-threaded worker
        processes, listening on 127.0.0.1 only (its HTTP endpoints on a free loopback port),
        and stop it at the end.
    retries
        For a cluster started here: how many times a task may lose its worker before it is
        failed (``distributed.scheduler.allowed-failures``). An existing cluster keeps its
        own setting.
    """

    name = "dask"
    reports_starts = False

    def __init__(
        self, address: str | None = None, *, local_workers: int | None = None, retries: int = 2
    ) -> None:
        if (address is None) == (local_workers is None):
            raise ValueError("give either a scheduler address or a number of local workers")
        self.address = address
        self.local_workers = local_workers
        self.retries = retries
        self._threads = local_workers or 1

    @property
    def capacity(self) -> int:
        """Worker threads of the cluster (known once connected)."""
        return self._threads

    def describe(self) -> dict[str, Any]:
        """Name, scheduler or local workers, and retries."""
        where = (
            {"scheduler": self.address} if self.address else {"local_workers": self.local_workers}
        )
        return {"name": self.name, **where, "retries": self.retries}

    @contextlib.contextmanager
    def client(self) -> Iterator[Any]:
        """A connected ``distributed.Client`` (and its ``LocalCluster``, closed afterwards)."""
        import dask
        from distributed import Client, LocalCluster

        if self.address is not None:
            with Client(self.address, timeout="30s") as client:
                yield client
            return
        settings = {"distributed.scheduler.allowed-failures": self.retries}
        with (
            dask.config.set(settings),
            LocalCluster(
                n_workers=self.local_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",  # HTTP endpoints on loopback, any free port
                env=dict(SINGLE_THREAD_ENVIRONMENT),
                # A worker whose heartbeat races the scheduler's shutdown logs a traceback at
                # ERROR; failures that matter come back as run results, so only CRITICAL shows.
                silence_logs=logging.CRITICAL,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client

    def run(
        self,
        tasks: Sequence[RunTask],
        *,
        on_start: OnStart = _ignore_start,
        on_retry: OnRetry = _ignore_retry,
    ) -> Iterator[dict[str, Any]]:
        """Submit every task (one Dask task per run) and yield outcomes as they complete."""
        if not tasks:
            return
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        with self.client() as client:
            self._threads = max(1, sum(client.nthreads().values()))
            token = os.urandom(4).hex()
            futures = {}
            for task in tasks:
                task = replace(task, worker_process=True)
                key = f"optiserv-run-{task.spec.run_id}-{token}"
                futures[client.submit(execute_run, task, key=key, pure=False)] = task
            try:
                for future in as_completed(futures):
                    task = futures[future]
                    try:
                        yield future.result()
                    except KilledWorker as error:
                        attempts = self.retries + 1 if self.address is None else None
                        yield _died(task, attempts, f"Dask: {error}")
                    future.release()
            finally:
                for future in futures:
                    future.cancel()
