"""Time the coverage pipeline kernels: radius search, coverage matrix, exact reduction.

Demand points and sites are uniform in a square; every case is run ``--repeat`` times after a
small warm-up (so numba compilation or cache loading is not timed) and the median of each phase
is printed as a markdown table. Not part of the test suite.

Usage::

    .venv/bin/python benchmarks/bench_kernels.py
    .venv/bin/python benchmarks/bench_kernels.py --case 600000x20000:1000 --repeat 3
    .venv/bin/python benchmarks/bench_kernels.py --reduce-rows 10000000
    .venv/bin/python benchmarks/bench_kernels.py --metric haversine
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import scipy.sparse as sp

from optiserv.coverage import coverage_from_costs, reduce_coverage
from optiserv.data import Metric
from optiserv.geometry import EARTH_RADIUS, within_radius

SQUARE_SIDE = 100_000.0
"""Side of the square holding demand points and sites, in metres."""

DEFAULT_CASES = ("10000x500:10000", "1000000x500:5600")

T = TypeVar("T")


@dataclass(frozen=True)
class Case:
    """A benchmark size: demand points, sites and coverage radius in metres."""

    n_demand: int
    n_sites: int
    radius: float

    @classmethod
    def parse(cls, text: str) -> Case:
        """Read ``NxM:R``, e.g. ``1000000x500:5600``."""
        sizes, radius = text.split(":")
        n_demand, n_sites = sizes.lower().split("x")
        return cls(int(n_demand), int(n_sites), float(radius))


def _points(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.uniform(0.0, SQUARE_SIDE, size=(count, 2))


def _as_lonlat(points: np.ndarray) -> np.ndarray:
    """Metres in the square → lon/lat degrees of a square of about the same size at 62° N."""
    degree = EARTH_RADIUS * np.pi / 180.0
    latitude = 62.0 + points[:, 1] / degree
    longitude = 15.0 + points[:, 0] / (degree * np.cos(np.radians(62.0)))
    return np.column_stack((longitude, latitude))


def _time(function: Callable[..., T], *arguments: object) -> tuple[T, float, float]:
    """The result, wall-clock seconds and CPU seconds (all threads of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*arguments)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run_case(case: Case, repeat: int, seed: int, metric: Metric) -> dict[str, float]:
    """Median seconds of each phase over ``repeat`` runs, plus sizes."""
    rng = np.random.default_rng(seed)
    demand, sites = _points(rng, case.n_demand), _points(rng, case.n_sites)
    if metric == "haversine":
        demand, sites = _as_lonlat(demand), _as_lonlat(sites)
    weights = rng.uniform(1.0, 10.0, size=case.n_demand)
    phases: dict[str, list[float]] = {
        "within_radius": [], "coverage": [], "reduce": [], "total": [], "cpu": []
    }
    for _ in range(repeat):
        costs, seconds, cpu = _time(within_radius, demand, sites, case.radius, metric)
        phases["within_radius"].append(seconds)
        total, total_cpu = seconds, cpu
        cover, seconds, cpu = _time(coverage_from_costs, costs, case.radius)
        phases["coverage"].append(seconds)
        total, total_cpu = total + seconds, total_cpu + cpu
        reduced, seconds, cpu = _time(reduce_coverage, cover, weights)
        phases["reduce"].append(seconds)
        phases["total"].append(total + seconds)
        phases["cpu"].append(total_cpu + cpu)
    result = {name: statistics.median(values) for name, values in phases.items()}
    result["nnz"] = float(costs.nnz)
    result["rows"] = float(reduced.n_rows)
    return result


def run_reduce(rows: int, repeat: int, seed: int) -> dict[str, float]:
    """Median seconds of :func:`reduce_coverage` alone on ``rows`` rows.

    The matrix is the coverage of 1,000,000 uniform points (500 sites, radius 5.6 km) repeated
    and shuffled, so most rows have duplicates, as rows of a fine population grid do.
    """
    rng = np.random.default_rng(seed)
    base = 1_000_000
    costs = within_radius(_points(rng, base), _points(rng, 500), 5_600.0)
    cover = coverage_from_costs(costs, 5_600.0)
    tiled = sp.vstack([cover] * -(-rows // base), format="csr")[rng.permutation(rows)]
    weights = rng.uniform(1.0, 10.0, size=(rows, 2))
    seconds, cpu_seconds = [], []
    for _ in range(repeat):
        # a fresh matrix each time, so that scipy's cached format flags are not reused
        fresh = sp.csr_matrix((tiled.data, tiled.indices, tiled.indptr), shape=tiled.shape)
        reduced, elapsed, cpu = _time(reduce_coverage, fresh, weights)
        seconds.append(elapsed)
        cpu_seconds.append(cpu)
    return {
        "reduce": statistics.median(seconds),
        "cpu": statistics.median(cpu_seconds),
        "nnz": float(tiled.nnz),
        "rows": float(reduced.n_rows),
    }


def _warm_up() -> None:
    rng = np.random.default_rng(0)
    within_radius(_as_lonlat(_points(rng, 500)), _as_lonlat(_points(rng, 50)), 5e3, "haversine")
    costs = within_radius(_points(rng, 2_000), _points(rng, 50), 10_000.0)
    reduce_coverage(coverage_from_costs(costs, 10_000.0), np.ones(2_000))
    reduce_coverage(coverage_from_costs(costs, 10_000.0), np.ones((2_000, 2)))


def main() -> None:
    """Parse arguments, run the cases and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", help="NxM:R (demand x sites : radius m)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--metric", choices=["euclidean", "haversine"], default="euclidean")
    parser.add_argument("--reduce-rows", type=int, default=0,
                        help="also time reduce_coverage alone on this many rows")
    arguments = parser.parse_args()
    _warm_up()
    print(f"median of {arguments.repeat} runs; points uniform in a "
          f"{SQUARE_SIDE / 1000:.0f} km square; {arguments.metric} distances\n")
    print("| demand × sites | radius (m) | nonzeros | rows after reduce | within_radius (s) "
          "| coverage (s) | reduce (s) | total (s) | CPU (s) | ns per nonzero |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for text in arguments.case or DEFAULT_CASES:
        case = Case.parse(text)
        result = run_case(case, arguments.repeat, arguments.seed, arguments.metric)
        print(f"| {case.n_demand:,} × {case.n_sites:,} | {case.radius:,.0f} "
              f"| {result['nnz']:,.0f} | {result['rows']:,.0f} "
              f"| {result['within_radius']:.3f} | {result['coverage']:.3f} "
              f"| {result['reduce']:.3f} | {result['total']:.3f} | {result['cpu']:.3f} "
              f"| {1e9 * result['total'] / max(result['nnz'], 1.0):.0f} |", flush=True)
    if arguments.reduce_rows:
        result = run_reduce(arguments.reduce_rows, arguments.repeat, arguments.seed)
        print(f"\nreduce_coverage alone, {arguments.reduce_rows:,} rows with 2 weight columns, "
              f"{result['nnz']:,.0f} nonzeros → {result['rows']:,.0f} rows: "
              f"{result['reduce']:.3f} s wall, {result['cpu']:.3f} s CPU "
              f"({1e9 * result['reduce'] / max(result['nnz'], 1.0):.0f} ns per nonzero)")


if __name__ == "__main__":
    main()
