"""Helpers of the batch tests (no tests here): plans, a slower synthetic scenario, polling.

The slower scenario (1,500 demand points, 200 candidate sites, two services) takes about a
second per run, so that a test can catch a run in flight; every run still reaches optimality
well within its time limit, so results can be compared exactly.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from optiserv.batch.table import COMPARED_COLUMNS

REPOSITORY = Path(__file__).resolve().parents[1]
EXAMPLES = REPOSITORY / "scenarios" / "examples"
PATIENCE = 300.0
"""Seconds a test waits for something that must happen (a run in flight) before failing."""


def shared_data() -> Path | None:
    """The shared raw Swedish data, or None."""
    for candidate in (REPOSITORY.parent / "shared" / "data", Path("/work/shared/data")):
        if (candidate / "sweden").is_dir():
            return candidate
    return None


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (folders created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def examples_plan(folder: Path, budgets: Sequence[int] = (20000, 40000, 80000)) -> Path:
    """A plan of the example scenario and its closure variant over a budget grid."""
    values = ", ".join(str(b) for b in budgets)
    return write(
        folder / "examples-plan.yaml",
        f"""version: 1
name: examples
scenarios:
  - {EXAMPLES / "base.yaml"}
  - {EXAMPLES / "closure.yaml"}
grid:
  budgets.annual: [{values}]
""",
    )


def slow_scenario(
    folder: Path, time_limit: float = 120.0, size: tuple[int, int] = (1500, 200)
) -> Path:
    """The slower synthetic scenario (``size``: demand points, sites), written into ``folder``."""
    generator = np.random.default_rng(11)
    (n, m), side = size, 70000.0 * (size[0] / 2500) ** 0.5
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "id": [f"d{i}" for i in range(n)],
            "x": 500000 + generator.uniform(0, side, n),
            "y": 6500000 + generator.uniform(0, side, n),
            "weight": generator.integers(1, 200, n),
        }
    ).to_csv(folder / "demand.csv", index=False)
    pd.DataFrame(
        {
            "id": [f"s{j}" for j in range(m)],
            "x": 500000 + generator.uniform(0, side, m),
            "y": 6500000 + generator.uniform(0, side, m),
        }
    ).to_csv(folder / "sites.csv", index=False)
    write(folder / "existing.csv", "site_id,services\ns0,groceries\ns1,parcels\n")
    return write(
        folder / "slow.yaml",
        f"""version: 1
name: slow
data:
  crs: EPSG:3006
  demand: {{path: demand.csv, columns: {{id: id, x: x, y: y, population: weight}}}}
  sites: {{path: sites.csv, columns: {{id: id, x: x, y: y}}}}
  existing: {{path: existing.csv, columns: {{site: site_id, services: services}}}}
services:
  groceries: {{threshold_km: 6}}
  parcels: {{threshold_km: 8}}
costs: {{module: {{one_off: 0, annual: 10000}}}}
budgets: {{annual: 200000}}
model: {{objective: coverage}}
solver: {{time_limit: {time_limit}}}
outputs: {{closure_impact: false}}
""",
    )


def slow_plan(folder: Path, budgets: Sequence[int] = (150000, 200000)) -> Path:
    """A plan of the slower scenario: budgets × two grocery thresholds."""
    scenario = slow_scenario(folder / "slow")
    values = ", ".join(str(b) for b in budgets)
    return write(
        folder / "slow-plan.yaml",
        f"""version: 1
name: slow
scenarios: [{scenario}]
grid:
  budgets.annual: [{values}]
  services.groceries.threshold_km: [6, 7]
outputs: {{report: false}}
""",
    )


def compared(table: pd.DataFrame) -> pd.DataFrame:
    """The columns that must agree between executors, in run-id order."""
    return table[list(COMPARED_COLUMNS)].sort_values("run_id").reset_index(drop=True)


def wait_for(condition: Callable[[], object], alive: Callable[[], bool]) -> object:
    """Poll ``condition`` until it is truthy (returned) or ``alive()`` turns False (None)."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if not alive():
            return None
        time.sleep(0.02)
    raise AssertionError("gave up waiting")


def partial_folders(runs: Path) -> list[Path]:
    """The folders of runs being written, in ``runs/.partial``."""
    return sorted((runs / ".partial").glob("*")) if (runs / ".partial").is_dir() else []


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def kill_a_worker(runs: Path, alive: Callable[[], bool]) -> tuple[int, Path, bool] | None:
    """Wait for a run in flight and kill its worker process (SIGKILL).

    Returns
    -------
    tuple or None
        The pid, the run's folder in ``runs/.partial``, and whether the run was cut short
        (its folder was still there once the process was gone: it had not committed); None
        when the batch ended before a run was seen in flight.
    """
    found = wait_for(lambda: partial_folders(runs), alive)
    if not found:
        return None
    folder = found[0]  # type: ignore[index]
    pid = int(folder.name.split("-")[-2])
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _gone(pid), lambda: True)
    return pid, folder, folder.exists()


def complete_folders(runs: Path) -> list[Path]:
    """Committed run folders in ``runs``."""
    if not runs.is_dir():
        return []
    return sorted(f for f in runs.iterdir() if (f / "run.json").is_file())
