"""The result store of a batch: one folder per run, written atomically, and a summary table.

Layout of an output folder::

    batch.json              the plan (text and SHA-256), optiserv version, and one entry per
                            session (started, finished, executor, workers, counts)
    summary.csv             one row per run of the plan (columns: :data:`FIRST_COLUMNS`, then
    summary.parquet         coverage per service before and after, costs, timings, ...)
    report.html             the areas side by side, per county (:mod:`optiserv.batch.report`)
    scenarios/              the scenario files written for each area
    inputs/                 inputs prepared on the fly (default cache)
    runs/<run id>/          a complete run: summary.json, selected_sites.csv/.gpkg,
                            demand.gpkg, boundaries.gpkg, closure_impact.csv, and run.json
    runs/.partial/<run id>-<host>-<pid>-<token>/
                            a run being written; never counted
    failed/<run id>.json    the last failure of a run that has no result yet
    logs/                   stderr of local worker processes (solver banners, crashes)

A run is written into its own folder under ``runs/.partial/``; ``run.json`` is written last,
and the folder is then renamed to ``runs/<run id>``. The rename is the commit: a run folder
exists under its id only with every file in place, and an interrupted run leaves only its
folder under ``runs/.partial/``, which a later session removes once its process is gone. If
two attempts of the same run finish (a worker thought dead was not), the first rename wins
and the second attempt is discarded: every run has exactly one result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import secrets
import shutil
import socket
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from optiserv import __version__
from optiserv.batch.plan import BatchPlan, RunSpec
from optiserv.exceptions import DataError
from optiserv.reports.files import atomic_write, write_text
from optiserv.reports.record import json_ready

__all__ = [
    "FIRST_COLUMNS",
    "PENDING",
    "RUN_RECORD",
    "ResultStore",
    "base_row",
    "commit",
    "is_complete",
    "new_partial",
    "now",
    "stale_partials",
]

RUN_RECORD = "run.json"
"""Written last into a run folder: the run's row, its identity and where it ran."""

PENDING = "pending"
"""Status of a run of the plan that has neither a result nor a failure yet."""

FIRST_COLUMNS: tuple[str, ...] = (
    "run_id",
    "scenario",
    "area",
    "area_name",
    "county",
    "county_name",
    "parameters",
    "status",
    "objective",
    "bound",
    "gap",
    "error",
)
"""The first columns of the summary table, in order."""

_OURS = frozenset(
    {
        "batch.json",
        "summary.csv",
        "summary.parquet",
        "report.html",
        "runs",
        "failed",
        "scenarios",
        "inputs",
        "logs",
    }
)
"""What a batch writes at the top of its output folder (temporary files aside)."""

_PARTIAL = ".partial"
"""Sub-folder of ``runs`` holding the runs being written."""


def now() -> str:
    """The time in UTC, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json_text(value: Any) -> str:
    return json.dumps(json_ready(value), indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def base_row(spec: RunSpec) -> dict[str, Any]:
    """The labels of a run's row: id, scenario, area, county and the grid point."""
    row: dict[str, Any] = {
        "run_id": spec.run_id,
        "scenario": spec.scenario,
        "area": spec.area,
        "area_name": spec.area_name,
        "county": spec.county,
        "county_name": spec.county_name,
        "parameters": json.dumps(json_ready(spec.parameters), ensure_ascii=False),
    }
    for key, value in spec.parameters.items():
        row[f"param:{key}"] = value
    return row


# ------------------------------------------------------------------------------- run folders
def is_complete(folder: Path) -> bool:
    """True when ``folder`` is a committed run (its ``run.json`` is in place)."""
    return (folder / RUN_RECORD).is_file()


def new_partial(runs: Path, run_id: str) -> Path:
    """A new, empty folder ``runs/.partial/<run id>-<host>-<pid>-<token>`` for an attempt of
    ``run_id`` by this process."""
    (runs / _PARTIAL).mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().replace("-", "_") or "host"
    folder = runs / _PARTIAL / f"{run_id}-{host}-{os.getpid()}-{secrets.token_hex(4)}"
    folder.mkdir()
    return folder


def _owner(folder: Path) -> tuple[str, str, int] | None:
    """(run id, host, pid) of a folder in ``runs/.partial``."""
    parts = folder.name.split("-")
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])


def _alive(pid: int) -> bool:
    """True when process ``pid`` of this host runs (a zombie, killed but not yet reaped by
    its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        status = Path(f"/proc/{pid}/stat").read_text()
        return status.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    return True


def stale_partials(runs: Path, run_id: str | None = None) -> list[Path]:
    """Folders in ``runs/.partial`` (of ``run_id``, or of every run) left by processes of
    this host that no longer exist: attempts that were killed."""
    host = socket.gethostname().replace("-", "_") or "host"
    out: list[Path] = []
    if not (runs / _PARTIAL).is_dir():
        return out
    pattern = "*" if run_id is None else f"{run_id}-*"
    for folder in (runs / _PARTIAL).glob(pattern):
        owner = _owner(folder)
        if owner is None or (run_id is not None and owner[0] != run_id):
            continue
        if owner[1] == host and owner[2] != os.getpid() and not _alive(owner[2]):
            out.append(folder)
    return sorted(out)


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def commit(partial: Path, final: Path) -> bool:
    """Rename a finished ``partial`` folder to ``final``.

    Returns
    -------
    bool
        True when this attempt's folder is now the run; False when another attempt of the
        same run was committed first (``partial`` is then removed).
    """
    for _ in range(3):
        try:
            os.rename(partial, final)
        except OSError:
            if is_complete(final):
                shutil.rmtree(partial, ignore_errors=True)
                return False
            if not final.exists():
                raise
            # an incomplete folder under the final name (not written by a commit): set aside
            aside = final.with_name(f".stale-{final.name}-{secrets.token_hex(4)}")
            with contextlib.suppress(OSError):
                os.rename(final, aside)
                shutil.rmtree(aside, ignore_errors=True)
            continue
        _sync_folder(final.parent)
        return True
    raise OSError(f"cannot commit run folder {partial} to {final}")


def write_record(partial: Path, record: dict[str, Any]) -> None:
    """Write ``run.json`` into ``partial`` (last file of a run), flushed to disk."""

    def write(target: Path) -> None:
        with target.open("w", encoding="utf-8") as handle:
            handle.write(_json_text(record))
            handle.flush()
            os.fsync(handle.fileno())

    atomic_write(partial / RUN_RECORD, write)


# ------------------------------------------------------------------------------------- store
class ResultStore:
    """The output folder of a batch.

    Parameters
    ----------
    folder
        The output folder (created when missing).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.runs = self.folder / "runs"
        self.failed = self.folder / "failed"

    def check_folder(self) -> None:
        """Refuse an output folder that holds anything a batch does not write (a typo in
        ``--out`` must not mix a batch into another folder)."""
        if not self.folder.exists():
            return
        if not self.folder.is_dir():
            raise DataError(f"output folder {self.folder} is a file")
        strangers = sorted(
            p.name
            for p in self.folder.iterdir()
            if p.name not in _OURS and not p.name.startswith(".")
        )
        if strangers:
            listed = ", ".join(strangers[:5]) + (" ..." if len(strangers) > 5 else "")
            raise DataError(
                f"output folder {self.folder} holds files a batch does not write ({listed}); "
                "choose an empty folder or the folder of an earlier run of this batch"
            )

    def run_folder(self, run_id: str) -> Path:
        """``runs/<run id>``."""
        return self.runs / run_id

    def complete_ids(self) -> set[str]:
        """Ids of every committed run in the store."""
        if not self.runs.is_dir():
            return set()
        return {
            folder.name
            for folder in self.runs.iterdir()
            if not folder.name.startswith(".") and is_complete(folder)
        }

    def record(self, run_id: str) -> dict[str, Any]:
        """``run.json`` of a committed run."""
        with (self.run_folder(run_id) / RUN_RECORD).open(encoding="utf-8") as handle:
            return dict(json.load(handle))

    def clean(self) -> list[Path]:
        """Remove the folders of killed attempts from ``runs/.partial``; returns them."""
        removed = stale_partials(self.runs)
        for folder in removed:
            shutil.rmtree(folder, ignore_errors=True)
        return removed

    def record_failure(self, row: dict[str, Any], details: dict[str, Any]) -> None:
        """Keep the failure of a run that has no result (replaces an earlier one)."""
        self.failed.mkdir(parents=True, exist_ok=True)
        write_text(self.failed / f"{row['run_id']}.json", _json_text({"row": row, **details}))

    def clear_failure(self, run_id: str) -> None:
        """Forget the failure of a run that now has a result."""
        (self.failed / f"{run_id}.json").unlink(missing_ok=True)

    def failure(self, run_id: str) -> dict[str, Any] | None:
        """The recorded failure of a run, or None."""
        path = self.failed / f"{run_id}.json"
        if not path.is_file():
            return None
        with path.open(encoding="utf-8") as handle:
            return dict(json.load(handle))

    def rows(self, specs: Sequence[RunSpec]) -> list[dict[str, Any]]:
        """One row per run of the plan: its result, its failure, or ``pending``."""
        complete = self.complete_ids()
        rows = []
        for spec in specs:
            if spec.run_id in complete:
                rows.append({**base_row(spec), **self.record(spec.run_id)["row"]})
                continue
            failure = self.failure(spec.run_id)
            if failure is not None:
                rows.append({**base_row(spec), **failure["row"]})
            else:
                rows.append({**base_row(spec), "status": PENDING, "error": ""})
        return rows

    def write_summary(self, specs: Sequence[RunSpec]) -> Any:
        """Write ``summary.csv`` and ``summary.parquet`` (atomically); returns the table."""
        from optiserv.batch.table import summary_frame

        frame = summary_frame(self.rows(specs))
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.folder / "summary.csv", lambda target: frame.to_csv(target, index=False))
        atomic_write(
            self.folder / "summary.parquet",
            lambda target: frame.to_parquet(target, index=False, engine="pyarrow"),
        )
        return frame

    # --------------------------------------------------------------------------- provenance
    def _batch(self) -> dict[str, Any]:
        path = self.folder / "batch.json"
        if not path.is_file():
            return {}
        with path.open(encoding="utf-8") as handle:
            return dict(json.load(handle))

    def start_session(self, batch: BatchPlan, executor: dict[str, Any], runs: int) -> int:
        """Record the plan and a new session in ``batch.json``; returns the session number."""
        self.folder.mkdir(parents=True, exist_ok=True)
        document = self._batch()
        document["plan"] = {
            "name": batch.name,
            "file": str(batch.file.resolve()),
            "sha256": hashlib.sha256(batch.text.encode("utf-8")).hexdigest(),
            "text": batch.text,
        }
        document["optiserv_version"] = __version__
        sessions = list(document.get("sessions", []))
        sessions.append(
            {
                "started": now(),
                "host": socket.gethostname(),
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "executor": executor,
                "runs_in_plan": runs,
            }
        )
        document["sessions"] = sessions
        write_text(self.folder / "batch.json", _json_text(document))
        return len(sessions)

    def finish_session(self, number: int, counts: dict[str, Any]) -> None:
        """Add the end time and counts to session ``number`` of ``batch.json``."""
        document = self._batch()
        sessions = document.get("sessions", [])
        if 0 < number <= len(sessions):
            sessions[number - 1].update(finished=now(), **counts)
        write_text(self.folder / "batch.json", _json_text(document))

    def sessions(self) -> Iterable[dict[str, Any]]:
        """The sessions recorded in ``batch.json``."""
        return list(self._batch().get("sessions", []))
