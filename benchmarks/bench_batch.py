"""The national batch: every municipality of Sweden, on three executors, timed.

Usage::

    .venv/bin/python benchmarks/bench_batch.py                  # all of Sweden, 2 workers
    .venv/bin/python benchmarks/bench_batch.py --workers 4      # local processes and Dask
    .venv/bin/python benchmarks/bench_batch.py --county 20      # one county, for a quick look
    .venv/bin/python benchmarks/bench_batch.py --limit 20       # the first 20 runs only

The plan is ``scenarios/batch/sweden.yaml``: the "Service i samverkan" settings in every
municipality, with demand from SCB localities and GeoNames postal places (shipped inputs for the
eleven project municipalities, the others prepared on the fly). The shared SCB population table
has municipal totals for only part of the country; the municipalities without one are not
guessed: their runs are ``missing_data`` and listed.

Measured, on this machine: planning (expanding the plan and preparing the inputs once, into a
cache the executors share), then the same runs in this process, in local worker processes and
on a Dask ``LocalCluster`` (127.0.0.1), each into its own output folder (``--repeat N``: N
times, in alternating order, the median kept). Reported: wall time per executor and its ratio
to in-process; wall and CPU seconds inside the runs, and the CPU share the workers got (CPU
seconds ÷ wall × workers: well below 1 when the machine is shared); the executor's overhead per
run, (wall × workers − time inside runs) / runs, which includes starting the workers; the Dask
scheduler's own overhead per task, from a round of no-op tasks on a running cluster; and
whether every executor gave the same objectives and plans (it must). Prints the machine's facts
and markdown tables.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import machine_info

from optiserv.batch import (
    DaskExecutor,
    InProcess,
    LocalProcesses,
    RunSpec,
    expand_plan,
    load_plan,
    run_batch,
)
from optiserv.batch.plan import slug
from optiserv.batch.schema import AreaSelection, PlanOutputs
from optiserv.batch.table import COMPARED_COLUMNS

PLAN = Path(__file__).resolve().parents[1] / "scenarios" / "batch" / "sweden.yaml"
NOOP_TASKS = 400
"""No-op tasks submitted to measure the Dask scheduler's round trip per task."""


def _noop(value: int) -> int:
    return value


def _scheduler_overhead(workers: int) -> float:
    """Seconds per no-op task through a running Dask LocalCluster (submit to result)."""
    executor = DaskExecutor(local_workers=workers)
    with executor.client() as client:
        client.gather([client.submit(_noop, k, pure=False) for k in range(workers * 4)])
        started = time.perf_counter()
        futures = [client.submit(_noop, k, pure=False) for k in range(NOOP_TASKS)]
        client.gather(futures)
        return (time.perf_counter() - started) / NOOP_TASKS


def _timed(name: str, executor: Any, batch: Any, specs: list[RunSpec], out: Path) -> dict:
    print(f"running {len(specs)} runs: {name} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = run_batch(batch, out, executor, specs=specs)
    wall = time.perf_counter() - started
    table = result.table
    solved = table[~table["status"].isin(["failed", "missing_data", "pending"])]
    return {
        "name": name,
        "workers": executor.capacity,
        "wall": wall,
        "runs": result.run,
        "failed": result.failed,
        "inside": float(solved["time_total"].sum()),
        "cpu": float(solved["time_cpu"].sum()),
        "table": table,
    }


def _median(results: list[dict]) -> dict:
    """The repeat with the median wall time."""
    ordered = sorted(results, key=lambda r: r["wall"])
    return ordered[(len(ordered) - 1) // 2]


def _same(results: list[dict]) -> str:
    columns = list(COMPARED_COLUMNS)
    first = results[0]["table"][columns].sort_values("run_id").reset_index(drop=True)
    for other in results[1:]:
        table = other["table"][columns].sort_values("run_id").reset_index(drop=True)
        if not first.equals(table):
            return f"NO: {other['name']} differs from {results[0]['name']}"
    return "yes: every objective, bound, gap, status and plan is identical"


def _plan(args: argparse.Namespace, root: Path) -> tuple[Any, list[RunSpec], list[RunSpec], float]:
    batch = load_plan(PLAN)
    areas = batch.plan.areas or AreaSelection(all=True)
    if args.county:
        areas = areas.model_copy(update={"all": False, "county": args.county})
    areas = areas.model_copy(update={"cache": str(root / "inputs")})
    plan = batch.plan.model_copy(
        update={"areas": areas, "outputs": PlanOutputs(report=False, run_reports=False)}
    )
    batch = replace(batch, plan=plan)
    started = time.perf_counter()
    specs = expand_plan(batch, root / "plan")
    planning = time.perf_counter() - started
    runnable = [s for s in specs if s.problem is None]
    missing = [s for s in specs if s.problem is not None]
    if args.limit:
        runnable = runnable[: args.limit]
    return batch, runnable, missing, planning


def _table(
    results: list[dict], planning: float, areas: int, missing: list[RunSpec], overhead: float
) -> str:
    base = results[0]["wall"]
    lines = [
        "| executor | workers | runs | wall s (median) | in-process ÷ this | "
        "inside runs s | CPU in runs s | CPU share | overhead per run s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        runs, workers, wall = max(1, result["runs"]), result["workers"], result["wall"]
        lines.append(
            f"| {result['name']} | {workers} | {result['runs']} | {wall:.1f} | "
            f"{base / wall:.2f} | {result['inside']:.1f} | {result['cpu']:.1f} | "
            f"{result['cpu'] / (wall * workers):.2f} | "
            f"{(wall * workers - result['inside']) / runs:.3f} |"
        )
    lines += [
        "",
        "| measure | value |",
        "|---|---:|",
        f"| municipalities in the plan | {areas} |",
        f"| with inputs (runs) | {results[0]['runs'] + results[0]['failed']} |",
        f"| flagged: no inputs (missing_data) | {len(missing)} |",
        f"| planning: expand the plan, prepare inputs on the fly (s) | {planning:.1f} |",
        f"| Dask scheduler round trip per no-op task (ms) | {1000 * overhead:.2f} |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="local processes and Dask workers")
    parser.add_argument("--county", help="one county (code or name) instead of all of Sweden")
    parser.add_argument("--limit", type=int, default=0, help="only the first N runs with inputs")
    parser.add_argument("--repeat", type=int, default=1, help="repeats, in alternating order")
    parser.add_argument("--out", type=Path, help="keep the output folders here")
    args = parser.parse_args(argv)
    command = " ".join(
        shlex.quote(p) for p in ["python", "benchmarks/bench_batch.py", *sys.argv[1:]]
    )
    info = machine_info(command)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as temporary:
        root = args.out or Path(temporary)
        batch, specs, missing, planning = _plan(args, root)
        areas = len({s.area for s in specs} | {s.area for s in missing})
        # load the numba caches in this process before timing (workers pay their own start)
        run_batch(batch, root / "warm-up", InProcess(), specs=specs[:1])
        executors = {
            "in-process": lambda: InProcess(),
            "local processes": lambda: LocalProcesses(args.workers, retries=batch.plan.retries),
            "Dask LocalCluster": lambda: DaskExecutor(
                local_workers=args.workers, retries=batch.plan.retries
            ),
        }
        names = list(executors)
        measured: dict[str, list[dict]] = {name: [] for name in names}
        for repeat in range(args.repeat):  # alternate the order: the load may drift
            for name in names if repeat % 2 == 0 else names[::-1]:
                out = root / f"{slug(name)}-{repeat + 1}"
                measured[name].append(_timed(name, executors[name](), batch, specs, out))
        results = [_median(measured[name]) for name in names]
        overhead = _scheduler_overhead(args.workers)
    print("\n".join(f"- {key}: {value}" for key, value in info.items()))
    print()
    print(_table(results, planning, areas, missing, overhead))
    print()
    print(f"Same results on every executor: {_same(results)}.")
    reasons: dict[str, list[str]] = {}
    for spec in missing:
        reason = (
            "no SCB municipal total"
            if "no municipal total" in (spec.problem or "")
            else (spec.problem or "")
        )
        reasons.setdefault(reason, []).append(f"{spec.area} {spec.area_name}")
    for reason, names in reasons.items():
        print(f"\nFlagged, not guessed ({len(names)}): {reason}: {', '.join(sorted(names))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
