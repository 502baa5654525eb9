"""Benchmark: sparse network travel costs, 100,000 demand points × 5,000 sites, cutoff 30 km.

The road network is a synthetic rural grid of about one million road links (two million
directed arcs; see ``tests/reference/networks.py::rural_grid_network``). Three ways to get
the same sparse cost matrix are timed in one run:

* ``optiserv numba``: :func:`optiserv.geometry.network.network_costs` (the default engine),
  all sites, end to end (snapping, searches, assembly of the CostMatrix, report);
* ``optiserv scipy``: the same function with ``engine="scipy"`` (``scipy.sparse.csgraph``
  Dijkstra with ``indices`` and ``limit``), on a subset of sites, extrapolated;
* ``networkx``: the obvious alternative, ``networkx.single_source_dijkstra_path_length`` with a
  cutoff from each site on the reversed graph, then a Python lookup of the demand points at
  each reached node, on a subset of sites, extrapolated. It gets the snapping for free (the
  same snapped nodes and legs), and its graph construction is timed separately.

Extrapolated rows are labelled: time per site × number of sites. Each subset is also checked
to give exactly the same costs as optiserv's numba engine.

Each method runs in a fresh process (spawned one after the other, never at the same time) so
that its peak memory is its own: the peak resident set size (``VmHWM``) during the step minus
the resident size before it. CPU seconds count every thread; on a shared machine they are
steadier than wall-clock seconds.

Run::

    .venv/bin/python benchmarks/bench_network.py            # full size, a few minutes
    .venv/bin/python benchmarks/bench_network.py --quick    # small, for a smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optiserv.data import CostMatrix
from optiserv.geometry.network import (
    NetworkCosts,
    RoadNetwork,
    SnapOptions,
    network_costs,
    snap_points,
)
from tests.reference.networks import networkx_graph, rural_grid_network


# ---------------------------------------------------------------------- measuring
def _status_kib(name: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> None:
    """Return freed heap memory to the system, then restart the peak (VmHWM) from here."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


@dataclass
class Measurement:
    """Wall-clock and CPU seconds (all threads) of one step, and its peak memory growth."""

    wall: float
    cpu: float
    memory_mib: float | None

    def scaled(self, factor: float) -> Measurement:
        """Times multiplied by ``factor`` (extrapolation); memory unchanged."""
        return Measurement(self.wall * factor, self.cpu * factor, self.memory_mib)


def measured(step: Callable[[], Any]) -> tuple[Any, Measurement]:
    """Run ``step`` and measure it; memory is peak resident MiB above the start."""
    gc.collect()
    _reset_peak()
    before = _status_kib("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    result = step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = _status_kib("VmHWM")
    growth = None if before is None or peak is None else max(peak - before, 0) / 1024
    return result, Measurement(wall, cpu, growth)


def median_of(runs: list[Measurement]) -> Measurement:
    """Median wall, CPU and memory over runs."""
    memories = [r.memory_mib for r in runs if r.memory_mib is not None]
    return Measurement(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        statistics.median(memories) if memories else None,
    )


@dataclass
class Outcome:
    """What one method's process reports back."""

    runs: list[Measurement]
    sites: int
    pairs: int
    agrees: bool | None = None
    phases: dict[str, float] = field(default_factory=dict)
    setup: Measurement | None = None
    network: tuple[int, int] = (0, 0)


# ---------------------------------------------------------------------- the inputs
@dataclass
class Inputs:
    network: RoadNetwork
    demand: np.ndarray
    sites: np.ndarray
    build: Measurement


def make_inputs(args: argparse.Namespace) -> Inputs:
    network, build = measured(lambda: rural_grid_network(args.side, args.spacing, seed=0))
    rng = np.random.default_rng(1)
    low, high = network.coordinates.min(axis=0), network.coordinates.max(axis=0)
    demand = low + rng.random((args.demand, 2)) * (high - low)
    sites = low + rng.random((args.sites, 2)) * (high - low)
    return Inputs(network, demand, sites, build)


def optiserv_costs(
    inputs: Inputs, args: argparse.Namespace, engine: str, sites: int
) -> NetworkCosts:
    return network_costs(
        inputs.network,
        inputs.demand,
        inputs.sites[:sites],
        cutoff=args.cutoff,
        measure="distance",
        snapping=SnapOptions(),
        engine=engine,  # type: ignore[arg-type]
        workers=args.workers,
    )


def same_costs(a: CostMatrix, b: CostMatrix) -> bool:
    return all(
        np.array_equal(x, y)
        for x, y in ((a.indptr, b.indptr), (a.indices, b.indices), (a.data, b.data))
    )


# ---------------------------------------------------------------------- the methods
def run_numba(args: argparse.Namespace) -> Outcome:
    inputs = make_inputs(args)
    # Compile (or load) the kernels on a tiny network, untimed, so that the first timed run
    # still pays for the network's one-off work (reversed graph, KD-tree, components).
    tiny = rural_grid_network(5, args.spacing, seed=0)
    network_costs(tiny, tiny.coordinates, tiny.coordinates[:2], cutoff=args.cutoff)
    runs, phases, result = [], [], None
    for _ in range(args.repeats):
        result = None
        result, measurement = measured(lambda: optiserv_costs(inputs, args, "numba", args.sites))
        runs.append(measurement)
        phases.append(result.report.seconds)
    assert result is not None
    median_phases = {k: statistics.median(p[k] for p in phases) for k in phases[0]}
    return Outcome(
        runs,
        args.sites,
        result.costs.nnz,
        phases=median_phases,
        setup=inputs.build,
        network=(inputs.network.n_nodes, inputs.network.n_arcs),
    )


def run_scipy(args: argparse.Namespace) -> Outcome:
    inputs = make_inputs(args)
    sites = min(args.scipy_sites, args.sites)
    tiny = rural_grid_network(5, args.spacing, seed=0)
    network_costs(tiny, tiny.coordinates, tiny.coordinates[:2], cutoff=args.cutoff, engine="scipy")
    runs, result = [], None
    for _ in range(args.repeats):
        result = None
        result, measurement = measured(lambda: optiserv_costs(inputs, args, "scipy", sites))
        runs.append(measurement)
    assert result is not None
    reference = optiserv_costs(inputs, args, "numba", sites).costs
    return Outcome(runs, sites, result.costs.nnz, agrees=same_costs(result.costs, reference))


def run_networkx(args: argparse.Namespace) -> Outcome:
    import networkx as nx

    inputs = make_inputs(args)
    sites = min(args.networkx_sites, args.sites)
    cutoff = args.cutoff
    demand_snap = snap_points(inputs.network, inputs.demand, SnapOptions())
    site_snap = snap_points(inputs.network, inputs.sites[:sites], SnapOptions())
    at_node: dict[int, list[int]] = {}
    for i, node in enumerate(demand_snap.node.tolist()):
        at_node.setdefault(node, []).append(i)
    demand_leg = demand_snap.leg.tolist()

    def search(graph: nx.DiGraph) -> dict[tuple[int, int], float]:
        found: dict[tuple[int, int], float] = {}
        for j in range(sites):
            leg = float(site_snap.leg[j])
            reached = nx.single_source_dijkstra_path_length(
                graph, int(site_snap.node[j]), cutoff=(cutoff - leg) * (1 + 1e-9), weight="weight"
            )
            for node, cost in reached.items():
                for i in at_node.get(node, ()):
                    total = cost + demand_leg[i] + leg
                    if total <= cutoff:
                        found[(i, j)] = total
        return found

    graph, building = measured(
        lambda: networkx_graph(inputs.network, "distance").reverse(copy=True)
    )
    found, searching = measured(partial(search, graph))
    graph.clear()
    reference = optiserv_costs(inputs, args, "numba", sites).costs
    mine = dict(
        zip(
            zip(reference.row_indices().tolist(), reference.indices.tolist(), strict=True),
            reference.data.tolist(),
            strict=True,
        )
    )
    return Outcome([searching], sites, len(found), agrees=mine == found, setup=building)


METHODS = {"numba": run_numba, "scipy": run_scipy, "networkx": run_networkx}


def _child(method: str, args: argparse.Namespace, queue: Any) -> None:
    queue.put(METHODS[method](args))


def in_fresh_process(method: str, args: argparse.Namespace) -> Outcome:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(method, args, queue))
    process.start()
    outcome = queue.get()
    process.join()
    return outcome


# ---------------------------------------------------------------------- the report
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=745, help="grid junctions per side")
    parser.add_argument("--spacing", type=float, default=500.0, help="junction spacing, m")
    parser.add_argument("--demand", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=5_000)
    parser.add_argument("--cutoff", type=float, default=30_000.0, help="metres")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scipy-sites", type=int, default=250)
    parser.add_argument("--networkx-sites", type=int, default=100)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="a small run for a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.side, args.demand, args.sites = 150, 5_000, 200
        args.repeats, args.scipy_sites, args.networkx_sites = 1, 50, 10

    outcomes = {method: in_fresh_process(method, args) for method in METHODS}
    numba, scipy, networkx = (outcomes[m] for m in METHODS)
    m = args.sites
    numba_all = median_of(numba.runs)
    scipy_measured = median_of(scipy.runs)
    scipy_all = scipy_measured.scaled(m / scipy.sites)
    networkx_measured = networkx.runs[0]
    networkx_all = networkx_measured.scaled(m / networkx.sites)
    assert numba.setup is not None and networkx.setup is not None

    def mib(value: float | None) -> str:
        return "n/a" if value is None else f"{value:,.0f}"

    def speedup(total: Measurement) -> str:
        return f"{networkx_all.wall / total.wall:,.0f}× / {networkx_all.cpu / total.cpu:,.0f}×"

    side = args.side
    nodes, arcs = numba.network
    print(f"## Network costs: {args.demand:,} demand × {m:,} sites, cutoff {args.cutoff:,.0f} m")
    print()
    print(
        f"Network: synthetic rural grid {side}×{side} junctions {args.spacing:g} m apart "
        f"({nodes:,} nodes, {arcs:,} arcs ≈ {arcs // 2:,} road links), built in "
        f"{numba.setup.wall:.1f} s. Result: {numba.pairs:,} pairs within the cutoff "
        f"({numba.pairs / m:,.0f} per site)."
    )
    print(
        f"Machine: {platform.machine()}, {len(os.sched_getaffinity(0))} CPUs available, shared "
        f"with other work (load average {os.getloadavg()[0]:.1f} at the end), so wall times are "
        f"noisy; CPU seconds count all threads. Python {platform.python_version()}, "
        f"workers={args.workers or 'all'}; optiserv rows are medians of {args.repeats} runs."
    )
    print()
    print(
        "| method | sites computed | wall s (measured) | wall s, all sites | CPU s, all sites "
        "| peak memory MiB | speed-up vs networkx (wall / CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| optiserv numba, end to end | {m:,} | {numba_all.wall:.2f} | {numba_all.wall:.2f} | "
        f"{numba_all.cpu:.2f} | {mib(numba_all.memory_mib)} | {speedup(numba_all)} |"
    )
    print(
        f"| optiserv scipy csgraph, end to end | {scipy.sites:,} | {scipy_measured.wall:.2f} | "
        f"{scipy_all.wall:.1f} (extrapolated) | {scipy_all.cpu:.1f} (extrapolated) | "
        f"{mib(scipy_all.memory_mib)} | {speedup(scipy_all)} |"
    )
    print(
        f"| networkx Dijkstra from each site, searches only | {networkx.sites:,} | "
        f"{networkx_measured.wall:.2f} | {networkx_all.wall:,.0f} (extrapolated) | "
        f"{networkx_all.cpu:,.0f} (extrapolated) | {mib(networkx_measured.memory_mib)} | 1× |"
    )
    building = networkx.setup
    print(
        f"| networkx graph construction, once | – | {building.wall:.1f} | {building.wall:.1f} | "
        f"{building.cpu:.1f} | {mib(building.memory_mib)} | – |"
    )
    print()
    phase_text = ", ".join(f"{k} {v:.2f} s" for k, v in numba.phases.items())
    print(f"optiserv numba phases (median wall): {phase_text}.")
    print(
        "Every optiserv numba run (wall s; the first one also builds the network's reversed "
        f"graph, KD-tree and components, kept for later runs): "
        f"{', '.join(f'{r.wall:.2f}' for r in numba.runs)}. "
        f"Same costs as the numba engine: scipy on its {scipy.sites} sites {scipy.agrees}, "
        f"networkx on its {networkx.sites} sites {networkx.agrees}."
    )


if __name__ == "__main__":
    main()
