"""``optiserv warmup``: compile the numba kernels once and keep them in numba's cache.

optiserv's kernels are compiled by numba on first use and cached on disk (``cache=True``), so
the first run after an install pays for the compilation (tens of CPU seconds) and every later
run loads the machine code in milliseconds. ``make demo`` and ``make test`` run this command
right after installing, so no user-facing run pays that first-use cost.

numba compiles per argument type, so the warm-up runs the real code paths on tiny instances:
each model from coordinates and from a cost matrix, coverage streamed from coordinates, the
road-network searches and the combined service point model (heuristic, bound and exact). A
path it misses is still compiled on first use; it is never wrong, only slower once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from optiserv.cli.app import app
from optiserv.cli.errors import EXIT_CODES_HELP, EXIT_OK

__all__ = ["WARMUP_STEPS", "warm_up", "warmup"]

_SIDE = 10_000.0
"""Side of the tiny square instances, in metres."""


def _tiny(seed: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0.0, _SIDE, (n, 2))
    sites = rng.uniform(0.0, _SIDE, (m, 2))
    return demand, sites, rng.integers(1, 50, n).astype(np.float64)


def _models() -> None:
    from optiserv.data import Instance
    from optiserv.formulations.registry import MODELS, available_models, make_formulation
    from optiserv.solvers import SolveOptions

    demand, sites, weights = _tiny(0, 60, 12)
    dense = np.sqrt(((demand[:, None, :] - sites[None, :, :]) ** 2).sum(axis=2))
    rng = np.random.default_rng(1)
    extras = {
        "opening_cost": rng.integers(5, 20, 12) * 1000.0,
        "capacity": np.full(12, weights.sum() / 4),
    }
    options = SolveOptions(time_limit=60.0)
    parameters = {"p": 3, "radius": 3_000.0}
    for costs in (None, dense):
        instance = Instance.from_arrays(demand, sites, weights=weights, costs=costs, **extras)
        for name in available_models():
            given = {
                key: value for key, value in parameters.items() if key in MODELS[name].parameters
            }
            make_formulation(name, **given).solve(instance, options=options)


def _streamed_coverage() -> None:
    from optiserv.data import Instance
    from optiserv.formulations._coverage_common import STREAM_MIN_DEMAND
    from optiserv.formulations.registry import make_formulation

    demand, sites, weights = _tiny(2, STREAM_MIN_DEMAND, 12)
    instance = Instance.from_arrays(demand, sites, weights=weights)
    make_formulation("mclp", p=3, radius=2_000.0).solve(instance)


def _road_network() -> None:
    from optiserv.geometry.network import network_costs, network_from_segments

    # a 6 × 6 grid of roads 1 km apart, one-way rows and two-way columns
    side = 6
    coordinates = np.array([(x * 1000.0, y * 1000.0) for y in range(side) for x in range(side)])
    first, last, direction = [], [], []
    for y in range(side):
        for x in range(side):
            node = y * side + x
            if x + 1 < side:
                first.append(node), last.append(node + 1), direction.append(1)
            if y + 1 < side:
                first.append(node), last.append(node + side), direction.append(0)
    count = len(first)
    network = network_from_segments(
        coordinates,
        np.asarray(first, dtype=np.int64),
        np.asarray(last, dtype=np.int64),
        np.full(count, 1000.0),
        np.full(count, 50.0),
        np.asarray(direction, dtype=np.int8),
    )
    demand, sites, _ = _tiny(3, 40, 6)
    points, places = demand / 2.0, sites / 2.0
    # a finite cutoff runs the bucket-queue search, an infinite one the heap
    for cutoff in (600.0, np.inf):
        for workers in (1, 2):
            network_costs(network, points, places, cutoff=cutoff, workers=workers)


def _combined_service_points() -> None:
    from optiserv.data import BundleInstance, Grant, Instance, Service, ServiceCatalogue
    from optiserv.formulations.bundle import ServiceBundle
    from optiserv.solvers import SolveOptions

    demand, sites, weights = _tiny(4, 120, 16)
    rng = np.random.default_rng(5)
    instance = Instance.from_arrays(
        demand, sites, weights=weights, opening_cost=rng.integers(5, 20, 16) * 1000.0
    )
    catalogue = ServiceCatalogue(
        (
            Service("groceries", 3000.0, module_one_off=20_000, module_annual=2000),
            Service("cash", 5000.0, weight=2.0, module_one_off=10_000, module_annual=1000),
        )
    )
    bundle = BundleInstance.build(
        instance,
        catalogue,
        offers={j: ["groceries"] for j in range(4)},
        modules={j: ["groceries", "cash"] for j in range(4, 16)} | {j: ["cash"] for j in range(4)},
        at_risk={0: 5000.0},
        grants=[Grant("state", 0.5, cap=60_000.0)],
        groups=rng.integers(0, 3, 120),
    )
    options = SolveOptions(time_limit=60.0)
    for method in ("heuristic", "exact"):
        ServiceBundle(objective="coverage", method=method, budget_one_off=60_000.0).solve(
            bundle, options=options
        )
        ServiceBundle(objective="cost", method=method, targets={"groceries": 0.6}).solve(
            bundle, options=options
        )


WARMUP_STEPS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("location models, from coordinates and from a cost matrix", _models),
    ("coverage streamed from coordinates", _streamed_coverage),
    ("road-network searches", _road_network),
    ("combined service points: heuristic, bound, exact", _combined_service_points),
)
"""The warm-up's steps: what each compiles, and the function that runs it."""


def warm_up(report: Callable[[str, float], None] | None = None) -> float:
    """Run every warm-up step; ``report(step, seconds)`` after each. Returns the total seconds."""
    started = time.perf_counter()
    for label, step in WARMUP_STEPS:
        step_started = time.perf_counter()
        step()
        if report is not None:
            report(label, time.perf_counter() - step_started)
    return time.perf_counter() - started


@app.command("warmup", epilog=EXIT_CODES_HELP)
def warmup(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Compile and cache the numba kernels, so that later runs start fast.

    Run once after installing (make does it for you). Safe to run again: with a warm cache
    it only loads the kernels (a few seconds).
    """

    console = Console(soft_wrap=True)

    def report(label: str, seconds: float) -> None:
        if not quiet:
            console.print(f"  {label}: {seconds:.1f} s")

    if not quiet:
        console.print("Compiling and caching optiserv's numba kernels ...")
    total = warm_up(report)
    if not quiet:
        console.print(f"Done in {total:.1f} s.")
    raise typer.Exit(EXIT_OK)
