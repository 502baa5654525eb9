"""Time to proven optimality of maximal covering on the head-to-head instances.

The instances are those of ``bench_spopt.py`` (its ``make_arrays``: uniform or villages layout,
integer weights 1–100, radius 10 km, p = 5 % of the sites, the dense cost matrix handed to
``Instance.from_arrays``). Each (size, layout, seed) is solved once by ``MaximalCovering``
with HiGHS after an untimed warm-up on a tiny instance (numba kernels loaded), and one row is
printed per run: status, objective (also recomputed from the cost matrix), bound, gap,
wall-clock and CPU seconds (user + system of this process, HiGHS threads included), the
branch-and-bound nodes, and the 1-minute load average at the start of the run. On a shared
machine compare CPU seconds.

    .venv/bin/python benchmarks/bench_mclp_proof.py                   # 8 runs, 120 s each
    .venv/bin/python benchmarks/bench_mclp_proof.py --size 10000x500 --layout villages --seed 0
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import sys
import time
from datetime import UTC, datetime

import numpy as np
from bench_spopt import LAYOUTS, RADIUS, SIZES, make_arrays

from optiserv.data import Instance
from optiserv.formulations import MaximalCovering
from optiserv.solvers import SolveOptions


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _warm_up() -> None:
    rng = np.random.default_rng(1)
    demand, sites = rng.uniform(0, 10, (40, 2)), rng.uniform(0, 10, (8, 2))
    instance = Instance.from_arrays(demand, sites, weights=rng.integers(1, 9, 40).astype(float))
    MaximalCovering(p=2, radius=3.0).solve(instance)


def run(size: str, layout: str, seed: int, time_limit: float, threads: int) -> str:
    """Solve one instance and return its markdown table row."""
    arrays = make_arrays(size, layout, seed)
    p = max(1, math.ceil(0.05 * SIZES[size][1]))
    instance = Instance.from_arrays(
        arrays["demand"], arrays["sites"], weights=arrays["weights"], costs=arrays["cost"]
    )
    load = os.getloadavg()[0]
    cpu, started = _cpu_seconds(), time.perf_counter()
    solution = MaximalCovering(p=p, radius=RADIUS).solve(
        instance, options=SolveOptions(time_limit=time_limit, threads=threads)
    )
    wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    nearest = arrays["cost"][:, solution.open_sites].min(axis=1)
    recomputed = float(arrays["weights"][nearest <= RADIUS].sum())
    nodes = solution.details.get("branch_and_bound_nodes", "–")
    return (
        f"| {size} | {layout} | {seed} | {p} | {solution.status.value} | "
        f"{solution.objective:,.0f} | {recomputed:,.0f} | {solution.bound:,.0f} | "
        f"{100 * solution.gap:.3f} % | {wall:.1f} | {cpu:.1f} | {nodes} | {load:.2f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", action="append", choices=("10000x500", "20000x1000"))
    parser.add_argument("--layout", action="append", choices=LAYOUTS)
    parser.add_argument("--seed", action="append", type=int)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = args.size or ["10000x500", "20000x1000"]
    layouts = args.layout or list(LAYOUTS)
    seeds = args.seed or [0, 1]
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, time limit {args.time_limit:g} s, {args.threads} thread(s)")
    print(f"`{shlex.join(['python', *sys.argv])}`\n")
    print("| size | layout | seed | p | status | objective | recomputed | bound | gap | "
          "wall s | cpu s | nodes | load |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    _warm_up()
    failed = False
    for size in sizes:
        for layout in layouts:
            for seed in seeds:
                row = run(size, layout, seed, args.time_limit, args.threads)
                print(row, flush=True)
                cells = [cell.strip() for cell in row.split("|")]
                failed |= cells[6] != cells[7]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
