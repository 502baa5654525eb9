"""Executors: the same plan gives the same results in this process, in local worker processes
and on a Dask cluster; a worker killed in the middle of a run costs a bounded retry, not a lost
or duplicated result, and the results still match the undisturbed run; a per-run time limit
gives a result with its gap."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from optiserv.batch import (
    BatchResult,
    DaskExecutor,
    InProcess,
    LocalProcesses,
    expand_plan,
    load_plan,
    run_batch,
)
from optiserv.batch.worker import SINGLE_THREAD_ENVIRONMENT
from tests.test_batch_helpers import (
    compared,
    complete_folders,
    examples_plan,
    kill_a_worker,
    partial_folders,
    slow_scenario,
    write,
)

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The examples plan and its summary, run in this process."""
    folder = tmp_path_factory.mktemp("examples")
    plan = examples_plan(folder)
    return plan, run_batch(load_plan(plan), folder / "in-process", InProcess()).table


def _worker_threads(out: Path) -> set[int]:
    records = [json.loads((f / "run.json").read_text()) for f in complete_folders(out / "runs")]
    return {record["worker"]["numba_threads"] for record in records}


def test_local_processes_give_the_same_summary(
    examples: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    plan, expected = examples
    assert set(expected["status"]) == {"optimal"}
    result = run_batch(load_plan(plan), tmp_path, LocalProcesses(2))
    pd.testing.assert_frame_equal(compared(result.table), compared(expected))
    assert _worker_threads(tmp_path) == {1}


def test_a_dask_local_cluster_gives_the_same_summary(
    examples: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    plan, expected = examples
    result = run_batch(load_plan(plan), tmp_path, DaskExecutor(local_workers=2))
    pd.testing.assert_frame_equal(compared(result.table), compared(expected))
    assert _worker_threads(tmp_path) == {1}


def _run_in_thread(plan: Path, out: Path, executor: Any) -> tuple[threading.Thread, dict]:
    box: dict[str, BatchResult] = {}

    def target() -> None:
        box["result"] = run_batch(load_plan(plan), out, executor)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def _check_after_kill(
    out: Path, box: dict, killed: tuple[int, Path, bool] | None, expected: pd.DataFrame
) -> None:
    result = box["result"]
    assert not result.failures()
    folders = complete_folders(out / "runs")
    assert sorted(f.name for f in folders) == sorted(expected["run_id"])  # exactly one each
    assert not partial_folders(out / "runs")
    pd.testing.assert_frame_equal(compared(result.table), compared(expected))
    assert killed is not None
    pid, folder, cut_short = killed
    run_id = folder.name.split("-")[0]
    attempts = result.table.set_index("run_id")["attempts"]
    assert attempts.max() <= 3
    if cut_short:  # (else the kill landed just after the run had committed)
        assert attempts[run_id] >= 2  # the interrupted run was done again, elsewhere
        assert all(not str(w).endswith(f":{pid}") for w in result.table["worker"])


def test_killed_local_worker_costs_one_retry(
    examples: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    plan, expected = examples
    thread, box = _run_in_thread(plan, tmp_path, LocalProcesses(2, retries=2))
    killed = kill_a_worker(tmp_path / "runs", thread.is_alive)
    thread.join()
    _check_after_kill(tmp_path, box, killed, expected)
    assert killed is not None and box["result"].retried >= int(killed[2])


@pytest.fixture
def cluster() -> Any:
    """A 2-worker Dask LocalCluster on 127.0.0.1, started and stopped here."""
    import dask

    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 2}),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # HTTP endpoints on loopback, any free port
            env=dict(SINGLE_THREAD_ENVIRONMENT),
            silence_logs=logging.CRITICAL,
        ) as running,
    ):
        yield running


def test_killed_dask_worker_is_replaced_and_its_run_done_once(
    examples: tuple[Path, pd.DataFrame], cluster: Any, tmp_path: Path
) -> None:
    plan, expected = examples
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    thread, box = _run_in_thread(plan, tmp_path, DaskExecutor(cluster.scheduler_address))
    killed = kill_a_worker(tmp_path / "runs", thread.is_alive)
    thread.join()
    _check_after_kill(tmp_path, box, killed, expected)


def test_time_limit_gives_a_result_with_its_gap(tmp_path: Path) -> None:
    scenario = slow_scenario(tmp_path / "hard", time_limit=0.05, size=(2500, 300))
    plan = write(
        tmp_path / "plan.yaml",
        f"version: 1\nscenarios: [{scenario}]\ngrid: {{budgets.annual: [300000]}}\n",
    )
    result = run_batch(load_plan(plan), tmp_path / "out", InProcess())
    row = result.table.iloc[0]
    assert row["status"] in ("feasible", "optimal") and row["time_limit"] == 0.05
    assert row["objective"] <= row["bound"] + 1e-6
    if row["status"] == "feasible":
        assert row["gap"] > 0 and row["verified"]
    assert [s.run_id for s in expand_plan(load_plan(plan), tmp_path / "out")] == [row["run_id"]]
