"""An interrupted batch loses nothing: Ctrl-C (SIGINT) or SIGTERM stops it cleanly with the
finished runs kept; SIGKILL of the whole process group leaves at most unfinished folders in
``runs/.partial``, which are never counted; running the plan again finishes only the missing
runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from optiserv.batch import InProcess, expand_plan, load_plan, run_batch
from optiserv.batch.store import stale_partials
from tests.test_batch_helpers import (
    PATIENCE,
    complete_folders,
    partial_folders,
    slow_plan,
    wait_for,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and groups")


def _command(plan: Path, out: Path) -> list[str]:
    script = Path(sys.executable).parent / "optiserv"
    head = (
        [str(script)]
        if script.is_file()
        else [sys.executable, "-c", "import sys; from optiserv.cli import main; sys.exit(main())"]
    )
    return [*head, "batch", str(plan), "--out", str(out), "--workers", "2", "--json"]


def _start(plan: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _command(plan, out),
        start_new_session=True,  # its own process group: the signal reaches the workers too
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A parent that ignores SIGINT (a shell's background job, as in a CI script) passes
        # that on, and Python then installs no KeyboardInterrupt handler: the batch would
        # not see the signal. A user's terminal starts it with the default disposition.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(plan: Path, out: Path, signal_number: int) -> tuple[int, str, str, int]:
    """Start the batch, wait for its first finished run, signal the process group."""
    process = _start(plan, out)
    alive = lambda: process.poll() is None  # noqa: E731
    done = wait_for(lambda: complete_folders(out / "runs"), alive)
    assert done, "the batch ended before any run finished"
    os.killpg(process.pid, signal_number)
    try:
        stdout, stderr = process.communicate(timeout=PATIENCE)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, stdout, stderr, len(done)  # type: ignore[arg-type]


def _finish(plan: Path, out: Path, before: set[str]) -> pd.DataFrame:
    """Run the plan again (in this process) and check only the missing runs were run."""
    specs = expand_plan(load_plan(plan), out)
    result = run_batch(load_plan(plan), out, InProcess(), specs=specs)
    assert result.skipped == len(before) and result.run == len(specs) - len(before)
    assert not result.failures() and not partial_folders(out / "runs")
    assert sorted(f.name for f in complete_folders(out / "runs")) == sorted(s.run_id for s in specs)
    for folder in complete_folders(out / "runs"):  # committed before the interruption: untouched
        if folder.name in before:
            record = json.loads((folder / "run.json").read_text())
            assert record["row"]["worker"] != f"{os.uname().nodename}:{os.getpid()}"
    return result.table


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 12 runs on 2 workers: after the first finishes, enough are left that the signal always
    # lands while the batch is still running (with 6, the batch once finished first in CI)
    budgets = (150000, 160000, 170000, 180000, 190000, 200000)
    return slow_plan(tmp_path_factory.mktemp("interrupt"), budgets=budgets)


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_sigint_or_sigterm_stops_cleanly_and_the_rerun_finishes_the_rest(
    plan: Path, tmp_path: Path, signal_number: int
) -> None:
    code, stdout, stderr, done = _interrupt(plan, tmp_path, signal_number)
    # one CI run (of many) saw exit 0 for SIGINT; say how far the batch was when signalled
    assert code == 130, f"exit {code}, {done} runs complete at the signal; stderr: {stderr}"
    document = json.loads(stdout)
    assert document["interrupted"] and document["pending"] > 0
    assert "run the same command again" in stderr
    summary = pd.read_csv(tmp_path / "summary.csv")
    complete = {f.name for f in complete_folders(tmp_path / "runs")}
    assert set(summary.loc[summary["status"] == "optimal", "run_id"]) == complete
    assert (summary["status"] == "pending").sum() == len(summary) - len(complete)
    _finish(plan, tmp_path, complete)


def test_sigkill_of_the_process_group_loses_only_the_runs_in_flight(
    plan: Path, tmp_path: Path
) -> None:
    code, _, _, _ = _interrupt(plan, tmp_path, signal.SIGKILL)
    assert code == -signal.SIGKILL
    complete = {f.name for f in complete_folders(tmp_path / "runs")}
    for folder in partial_folders(tmp_path / "runs"):  # half-written: never counted
        assert folder.name.split("-")[0] not in complete
    # The killed workers may still be exiting (a large process takes a moment to unmap its
    # memory); the rerun rightly keeps the folders of live processes, so wait until they are
    # gone, as they would be long before a user ran the command again.
    runs = tmp_path / "runs"
    wait_for(lambda: set(partial_folders(runs)) <= set(stale_partials(runs)), lambda: True)
    table = _finish(plan, tmp_path, complete)
    assert set(table["status"]) == {"optimal"}
