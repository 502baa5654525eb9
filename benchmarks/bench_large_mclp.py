"""Very large maximal covering: millions of demand points solved to proven optimality.

The instance follows the setting of Cordeau, Furini and Ljubić (2019, "Benders decomposition
for very large scale partial set covering and maximal covering location problems", EJOR):
demand points uniform in a square (100 km by default), a few hundred candidate sites, and a
radius at which a point is within reach of a handful of sites on average. Weights are
integers 1–100.

Generation is chunked and seeded: chunk c of ``GENERATION_CHUNK`` points draws from its own
``SeedSequence(seed, spawn_key=(1, c))`` and the sites from ``spawn_key=(0,)``, so every size
is a prefix of every larger one and no generator ever holds more than one chunk of draws.

Every size runs in its own child process (so peak memory is that size's own) and solves with
``MaximalCovering(p, radius)`` on HiGHS, which streams the coverage for large instances (no
per-point matrix; identical coverage sets aggregated on the fly). The table reports, per size:

* ``generate s``: drawing the points; ``instance s``: ``Instance.from_arrays`` (validation);
* ``coverage s``: streamed coverage with isomorphic aggregation, fixed-site and dominance
  reductions; ``heuristic s``: greedy, interchange, Lagrangian bound and fixings, warm start;
  ``build s``: the linear program; ``solve s``: HiGHS; ``assign s``: the nearest open site of
  every point, streamed again (the rest of ``total s``);
* ``cpu s``: CPU seconds of the child over the solve (all threads), less sensitive than
  wall-clock to other work on a shared machine; ``load``: the 1-minute load average before
  and after;
* ``peak MB``: the child's peak resident memory (``resource.getrusage``);
* the answer: status, objective, bound, gap, distinct coverage sets (``sets``), rows left in
  the model, sites closed by the Lagrangian bound, and ``check``: whether the covered weight
  recomputed point by point from the plan equals the objective.

Usage::

    .venv/bin/python benchmarks/bench_large_mclp.py                   # 100k, 1M, 5M
    .venv/bin/python benchmarks/bench_large_mclp.py --with-20m        # and 20M
    .venv/bin/python benchmarks/bench_large_mclp.py --size 1000000 --p 10 --sites 500
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

SQUARE_SIDE = 100_000.0
"""Side of the square holding demand points and sites, in metres."""

GENERATION_CHUNK = 1_000_000
"""Demand points drawn per seeded chunk."""

DEFAULT_SIZES = (100_000, 1_000_000, 5_000_000)
LARGEST = 20_000_000


def radius_for(n_sites: int, expected_reach: float, side: float = SQUARE_SIDE) -> float:
    """The radius at which a point away from the border has ``expected_reach`` sites in reach.

    Sites are uniform with density m / side², so π r² m / side² = expected_reach.
    """
    return side * math.sqrt(expected_reach / (math.pi * n_sites))


def generate(
    n_demand: int, n_sites: int, seed: int, side: float = SQUARE_SIDE
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Demand coordinates, site coordinates and integer weights 1–100, drawn chunk by chunk."""
    sites = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,))).uniform(
        0.0, side, size=(n_sites, 2)
    )
    demand = np.empty((n_demand, 2))
    weights = np.empty(n_demand)
    for chunk, start in enumerate(range(0, n_demand, GENERATION_CHUNK)):
        stop = min(start + GENERATION_CHUNK, n_demand)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, chunk)))
        # draw the full chunk so that every size is a prefix of every larger one
        points = rng.uniform(0.0, side, size=(GENERATION_CHUNK, 2))
        values = rng.integers(1, 101, size=GENERATION_CHUNK)
        demand[start:stop] = points[: stop - start]
        weights[start:stop] = values[: stop - start]
    return demand, sites, weights


def _peak_mb() -> float:
    """Peak resident memory of this process in MB (ru_maxrss is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(
    n_demand: int, n_sites: int, p: int, expected_reach: float, seed: int, time_limit: float
) -> dict[str, Any]:
    """Generate, build the instance and solve one size in this process; the measurements."""
    from optiserv.data import Instance
    from optiserv.formulations import MaximalCovering
    from optiserv.solvers import SolveOptions

    load_before = os.getloadavg()[0]
    radius = radius_for(n_sites, expected_reach)
    started = time.perf_counter()
    demand, sites, weights = generate(n_demand, n_sites, seed)
    generated = time.perf_counter()
    instance = Instance.from_arrays(demand, sites, weights=weights, name=f"uniform-{n_demand}")
    del demand, weights
    built = time.perf_counter()
    model = MaximalCovering(p=p, radius=radius)
    cpu = time.process_time()
    solution = model.solve(instance, options=SolveOptions(time_limit=time_limit, seed=seed))
    cpu = time.process_time() - cpu
    timings = solution.timings
    phases = ("coverage", "heuristic", "build", "solve")
    details = solution.details
    return {
        "n_demand": n_demand,
        "n_sites": n_sites,
        "p": p,
        "radius": radius,
        "seed": seed,
        "generate": generated - started,
        "instance": built - generated,
        **{phase: timings.get(phase, 0.0) for phase in phases},
        "assign": timings["total"] - sum(timings.get(phase, 0.0) for phase in phases),
        "total": timings["total"],
        "cpu": cpu,
        "load": (load_before, os.getloadavg()[0]),
        "peak_mb": _peak_mb(),
        "status": solution.status.value,
        "objective": solution.objective,
        "bound": solution.bound,
        "gap": solution.gap,
        "sets": details.get("reduced_rows"),
        "model_rows": details.get("model_rows"),
        "closed_by_bound": details.get("closed_by_bound"),
        "streamed": details.get("coverage_streamed"),
        "check": bool(
            abs(solution.covered_weight - solution.objective) <= 1e-9 * solution.objective
        ),
        "total_weight": solution.total_weight,
    }


def _child(size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run one size in a fresh interpreter so that its peak memory is its own."""
    command = [
        sys.executable, __file__, "--child", str(size), "--sites", str(args.sites),
        "--p", str(args.p), "--reach", str(args.reach), "--seed", str(args.seed),
        "--time-limit", str(args.time_limit),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"size {size} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _number(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def markdown(rows: list[dict[str, Any]], command: str) -> str:
    """The measurements as a markdown table with the machine's facts."""
    first = rows[0]
    lines = [
        f"### Large MCLP — {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"`{command}` · {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, HiGHS {version('highspy')}, numba {version('numba')} · "
        f"{first['n_sites']} sites, p = {first['p']}, r = {first['radius'] / 1000:.3f} km "
        f"(square {SQUARE_SIDE / 1000:g} km), seed {first['seed']}",
        "",
        "| demand points | generate s | instance s | coverage s | heuristic s | build s "
        "| solve s | assign s | total s | cpu s | load | peak MB | status | objective | bound "
        "| gap | sets | model rows | closed by bound | check |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|---:|---:|"
        "---:|---:|---|",
    ]
    for row in rows:
        load = f"{row['load'][0]:.1f}→{row['load'][1]:.1f}"
        lines.append(
            f"| {row['n_demand']:,} | {_number(row['generate'])} | {_number(row['instance'])} "
            f"| {_number(row['coverage'])} | {_number(row['heuristic'])} "
            f"| {_number(row['build'], 3)} | {_number(row['solve'])} | {_number(row['assign'])} "
            f"| {_number(row['total'])} | {_number(row['cpu'])} | {load} "
            f"| {row['peak_mb']:,.0f} | {row['status']} | {row['objective']:,.0f} "
            f"| {row['bound']:,.0f} | {row['gap']:.2e} | {row['sets']:,} | {row['model_rows']:,} "
            f"| {row['closed_by_bound']} | {'ok' if row['check'] else 'MISMATCH'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments; run every size in a child process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=int, action="append",
        help="demand points (repeatable; default 100k, 1M, 5M)",
    )
    parser.add_argument(
        "--with-20m", action="store_true", help="also run 20 million demand points"
    )
    parser.add_argument("--sites", type=int, default=300, help="candidate sites (default 300)")
    parser.add_argument("--p", type=int, default=20, help="sites to open (default 20)")
    parser.add_argument(
        "--reach", type=float, default=5.0,
        help="expected number of sites within the radius of a point (default 5)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--time-limit", type=float, default=300.0, help="seconds per solve (default 300)"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        row = run_one(args.child, args.sites, args.p, args.reach, args.seed, args.time_limit)
        print(json.dumps(row))
        return 0
    sizes = list(args.size or DEFAULT_SIZES)
    if args.with_20m and LARGEST not in sizes:
        sizes.append(LARGEST)
    rows = []
    for size in sizes:
        print(f"… {size:,} demand points", file=sys.stderr, flush=True)
        rows.append(_child(size, args))
    command = " ".join(["python", "benchmarks/bench_large_mclp.py", *(argv or sys.argv[1:])])
    print(markdown(rows, command))
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
