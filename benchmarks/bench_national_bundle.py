"""Benchmark of the combined service point model at national scale (issue 7, part 4).

Instance: all of Sweden in 250 m cells. The population grid is
:func:`optiserv.datasets.sweden.grid.spread_population` on the shared SCB / GeoNames data
(method and what is synthetic: that module's docstring); the 201 municipalities without an
SCB total get an estimated share of SCB's national total for 31 December 2020, 10,379,295
(``--national-total``; the figure quoted in ``scb_kommun_population/README.md``, whose
county sums match SCB). Candidate sites (``--sites``, 20,000):
:func:`optiserv.datasets.sweden.grid_sites.grid_sites` (register points merged by cell, then
localities, then populated cells drawn ∝ √population). Services: the five defaults of
:meth:`ServiceCatalogue.default` (10, 15, 10, 20, 25 km).

Synthetic, as in ``bench_bundle.py`` and scaled by 21 counties: people aged 70+
(binomial, 16 % of each cell); cash offered today at 30 % of the grocery sites (no open
register); 5 % of the existing grocery sites at risk (keep-open subsidy 50–150 kSEK a year);
module costs (one-off, annual) from 20/5 kSEK (parcels) to 250/30 kSEK (fuel), ×0.7–1.3 per
site; every existing site can add each missing service, a candidate each service with
probability 0.8; a new point costs 150–400 kSEK one-off and 20–60 kSEK a year; a state grant
pays 50 % of one-off costs up to 63 MSEK, a regional grant 30 % of annual costs up to
10.5 MSEK a year; budgets 126 MSEK one-off and 31.5 MSEK a year, at most 525 new points, a new
point hosts at least 2 services; equity groups are the municipalities. Objective: people
covered, summed over services.

Every measured step runs in a fresh child process (``--worker``) whose peak resident memory
(VmHWM from /proc/self/status, read by the child at its end) is the step's own:

* ``coverage``: the grid, the sites, the instance; then, per distinct threshold, the public
  :func:`optiserv.coverage.coverage_matrix` (sites within r_s of each cell); then the
  model's own preparation, ``ServiceBundle.prepare`` (per service, cells within r_s of a
  fixed provider screened out by KD-tree, the others paired with the unit sites, then one
  exactly reduced block per service; "pairs" are the (row, unit) pairs it keeps);
* ``screened``: the same screen written out here (:func:`screened_coverage`), as an
  independent check of the rows and of the reachable ceiling, a proven bound;
* ``heuristic``: prepare, then ``method="heuristic"`` (greedy + local search beside the
  Lagrangian bound, capped by the reachable ceiling) with ``--time-limit`` (120 s) for the
  ``solve`` call;
* ``exact``: prepare, then the HiGHS MIP (warm-started by the heuristic) with the same limit.

The preparation is timed apart from the solve (its target is 20 s, the solve's 120 s).

Run ``python benchmarks/bench_national_bundle.py`` (all four, ``--repeats`` times, median)
or ``--steps coverage`` for one step; ``--sites 2000`` for a smaller look.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from optiserv.coverage import coverage_matrix
from optiserv.data import Instance
from optiserv.data.services import BundleInstance, Grant, Module, ServiceCatalogue
from optiserv.datasets.sweden.grid import GridRules, PopulationGrid, spread_population_from_raw
from optiserv.datasets.sweden.grid_sites import grid_sites_from_raw
from optiserv.datasets.sweden.raw import read_raw_data
from optiserv.datasets.sweden.rules import SERVICES
from optiserv.formulations.bundle import ServiceBundle
from optiserv.geometry import nearest, within_radius
from optiserv.solvers import SolveOptions
from optiserv.solvers.base import relative_gap

SHARED_DATA = Path("/work/shared/data")
STEPS = ["coverage", "screened", "heuristic", "exact"]
NATIONAL_TOTAL_2020 = 10_379_295
COUNTIES = 21
MODULE_COSTS = {  # service: (one-off, annual) in SEK, as in bench_bundle.py
    "groceries": (150_000.0, 40_000.0),
    "fuel": (250_000.0, 30_000.0),
    "parcels": (20_000.0, 5_000.0),
    "pharmacy": (40_000.0, 10_000.0),
    "cash": (60_000.0, 25_000.0),
}


def peak_memory_mib() -> float:
    """This process's peak resident memory (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def national_bundle(args: argparse.Namespace) -> tuple[BundleInstance, PopulationGrid, dict]:
    """The national instance (module docstring) and the seconds of each generation step."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    raw = read_raw_data(SHARED_DATA)
    seconds["read_s"] = time.perf_counter() - started
    started, cpu_before = time.perf_counter(), time.process_time()
    rules = GridRules(cell_size=args.cell_size, national_total=args.national_total or None,
                      seed=args.seed)
    grid = spread_population_from_raw(raw, rules)
    seconds["cells_s"] = time.perf_counter() - started
    seconds["cells_cpu_s"] = time.process_time() - cpu_before
    started = time.perf_counter()
    sites = grid_sites_from_raw(raw, grid, n_sites=args.sites, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    m = sites.n_sites
    people = grid.population.astype(float)
    instance = Instance.from_arrays(
        np.column_stack([grid.x, grid.y]),
        np.column_stack([sites.x, sites.y]),
        weights={"total": people,
                 "aged_70": rng.binomial(grid.population, 0.16).astype(float)},
        opening_cost=rng.uniform(150_000, 400_000, m).round(-3),
        crs="EPSG:3006",
        name=f"sweden{args.cell_size:g}m",
    )
    catalogue = ServiceCatalogue.default()
    offers_today = sites.offers.copy()
    grocery = offers_today[:, SERVICES.index("groceries")]
    offers_today[:, SERVICES.index("cash")] = grocery & (rng.random(m) < 0.3)
    existing = np.flatnonzero(offers_today.any(axis=1))
    offers: dict[object, list[str]] = {
        int(j): [SERVICES[s] for s in np.flatnonzero(offers_today[j])] for j in existing
    }
    is_existing = np.zeros(m, dtype=bool)
    is_existing[existing] = True
    grocery_sites = np.flatnonzero(grocery)
    risky = rng.choice(grocery_sites, int(0.05 * grocery_sites.size), replace=False)
    at_risk: dict[object, float] = {
        int(j): float(rng.uniform(50_000, 150_000)) for j in np.sort(risky)
    }
    factor = rng.uniform(0.7, 1.3, (m, len(SERVICES)))
    allowed = (is_existing[:, None] | (rng.random((m, len(SERVICES))) < 0.8)) & ~offers_today
    modules = [
        Module(int(j), SERVICES[s], round(MODULE_COSTS[SERVICES[s]][0] * factor[j, s], -3),
               round(MODULE_COSTS[SERVICES[s]][1] * factor[j, s], -3))
        for j, s in zip(*np.nonzero(allowed), strict=True)
    ]
    annual_point = rng.uniform(20_000, 60_000, m)
    point_costs: dict[object, tuple[float, float]] = {
        int(j): (float(instance.sites.cost[j]), float(annual_point[j]))
        for j in np.flatnonzero(~is_existing)
    }
    grants = [
        Grant("state", 0.5, cap=3_000_000.0 * COUNTIES, period="one_off"),
        Grant("region", 0.3, cap=500_000.0 * COUNTIES, period="annual",
              covers=("modules", "points", "subsidies")),
    ]
    bundle = BundleInstance.build(
        instance, catalogue, offers=offers, modules=modules, point_costs=point_costs,
        at_risk=at_risk, grants=grants, groups=grid.municipality.astype(str),
    )
    seconds["instance_s"] = time.perf_counter() - started
    return bundle, grid, seconds


def model(args: argparse.Namespace) -> ServiceBundle:
    """The combined service point model of the benchmark (budgets scaled by 21 counties)."""
    return ServiceBundle(
        objective="coverage",
        budget_one_off=6_000_000.0 * COUNTIES,
        budget_annual=1_500_000.0 * COUNTIES,
        max_new_points=25 * COUNTIES,
        min_services=2,
    )


def screened_coverage(bundle: BundleInstance) -> dict[str, float]:
    """Per service, the coverage the model needs once fixed-covered cells are screened out.

    For service s: the nearest *fixed* provider (offers s today, not at risk) of every cell;
    cells within r_s of one are covered whatever the plan and need no pairs. The others get
    the pairs (cell, unit site) with d ≤ r_s, where a unit site can provide s (a module or an
    at-risk site offering s). Exactly the rows and units that ``prepare`` keeps for s without
    gradual coverage, found without the pairs within the largest threshold.

    Also the *reachable ceiling* Σ_s ρ_s · (people of s within r_s of a fixed provider or of
    a unit site): no plan covers more, so it is a proven bound of the coverage objective
    (without gradual coverage, as here).
    """
    out: dict[str, float] = {}
    ceiling = 0.0
    demand = bundle.instance.demand.coordinates
    sites = bundle.instance.sites.coordinates
    for s, service in enumerate(bundle.catalogue):
        started, cpu_before = time.perf_counter(), time.process_time()
        fixed = np.flatnonzero(bundle.existing[:, s] & ~bundle.at_risk)
        _, distance = nearest(demand, sites[fixed], 1)
        open_cells = np.flatnonzero(distance[:, 0] > service.threshold)
        units = np.zeros(bundle.instance.n_sites, dtype=bool)
        units[bundle.module_site[bundle.module_service == s]] = True
        units |= bundle.existing[:, s] & bundle.at_risk
        pairs = within_radius(demand[open_cells], sites[units], service.threshold)
        reachable = np.ones(bundle.instance.n_demand, dtype=bool)
        reachable[open_cells] = np.diff(pairs.indptr) > 0
        ceiling += service.weight * float(bundle.populations[s][reachable].sum())
        out[f"screened_{service.name}_s"] = time.perf_counter() - started
        out[f"screened_cpu_{service.name}_s"] = time.process_time() - cpu_before
        out[f"screened_pairs_{service.name}"] = int(pairs.indices.size)
        out[f"screened_cells_{service.name}"] = int(open_cells.size)
    out["reachable_ceiling"] = ceiling
    return out


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One step in this process; returns the measured facts."""
    cpu = time.process_time()
    bundle, grid, out = national_bundle(args)
    out.update(cells=grid.n_cells, people=grid.total, sites=bundle.instance.n_sites,
               existing=int(bundle.existing_point.sum()), at_risk=int(bundle.at_risk.sum()),
               modules=bundle.n_modules, estimated=len(grid.estimated),
               without_total=len(grid.without_total))
    service_bundle = model(args)
    if args.worker == "screened":
        nearest(bundle.instance.demand.coordinates[:10], bundle.instance.sites.coordinates, 1)
        within_radius(bundle.instance.demand.coordinates[:10], bundle.instance.sites.coordinates,
                      1000.0)  # numba kernels loaded before timing
        out.update(screened_coverage(bundle))
        out["cpu_s"] = time.process_time() - cpu
        out["peak_mib"] = peak_memory_mib()
        return out
    if args.worker == "coverage":
        for radius in sorted({service.threshold for service in bundle.catalogue}):
            started, cpu_before = time.perf_counter(), time.process_time()
            matrix = coverage_matrix(bundle.instance, radius)
            out[f"coverage_{radius / 1000:g}km_s"] = time.perf_counter() - started
            out[f"cpu_{radius / 1000:g}km_s"] = time.process_time() - cpu_before
            out[f"pairs_{radius / 1000:g}km"] = int(matrix.nnz)
            del matrix
    cpu_before = time.process_time()
    started = time.perf_counter()
    prepared = service_bundle.prepare(bundle)
    out["prepare_s"] = time.perf_counter() - started
    out["prepare_cpu_s"] = time.process_time() - cpu_before
    out["pairs_prepare"] = sum(int(b.rows.nnz) + int(b.partial_row.size) for b in prepared.blocks)
    out["reachable_ceiling"] = sum(
        bundle.catalogue.services[b.service].weight
        * float((b.total_population - b.unreachable_population).sum())
        for b in prepared.blocks
    )
    out["reduced_rows"] = {bundle.catalogue.services[b.service].name: b.n_rows
                           for b in prepared.blocks}
    if args.worker in ("heuristic", "exact"):
        limit = args.time_limit
        method = "heuristic" if args.worker == "heuristic" else "exact"
        cpu_before = time.process_time()
        solution = service_bundle.with_params(method=method).solve(
            bundle, prepared=prepared,
            options=SolveOptions(time_limit=limit, relative_gap=args.gap))
        out.update(
            solve_limit_s=limit,
            requested_gap=args.gap,
            solve_s=solution.timings.get("total", float("nan")),
            solve_cpu_s=time.process_time() - cpu_before,
            timings={k: round(v, 2) for k, v in solution.timings.items()},
            status=solution.status.value,
            objective=solution.objective,
            bound=solution.bound,
            gap=solution.gap,
            bound_source=str(solution.details.get("bound_source", "MIP")),
            new_points=int(solution.new_points.size),
            heuristic_message=str(solution.details.get("heuristic", "")),
            lagrangian=solution.details.get("lagrangian"),
        )
        best_bound = min(solution.bound, out["reachable_ceiling"])
        out["best_bound"] = best_bound
        out["gap_to_best_bound"] = relative_gap(solution.objective, best_bound)
    out["cpu_s"] = time.process_time() - cpu
    out["peak_mib"] = peak_memory_mib()
    return out


def run_child(step: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one step in a fresh process; its last stdout line is the JSON result."""
    command = [sys.executable, __file__, "--worker", step, "--sites", str(args.sites),
               "--cell-size", str(args.cell_size), "--seed", str(args.seed),
               "--time-limit", str(args.time_limit), "--gap", str(args.gap),
               "--national-total", str(args.national_total)]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True,
                          timeout=args.time_limit * 3 + 900, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"step {step} failed with exit code {done.returncode}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(step=step, load_start=load, load_end=os.getloadavg()[0],
                  wall_s=time.perf_counter() - started)
    return result


def median(rows: list[dict[str, Any]], key: str) -> float:
    values = [float(r[key]) for r in rows if key in r and r[key] is not None]
    return statistics.median(values) if values else float("nan")


def table(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> str:
    """Markdown summary of medians."""
    first = next(iter(results.values()))[0]
    every = [row for rows in results.values() for row in rows]
    lines = [
        f"National instance: {first['cells']:,} cells of {args.cell_size:g} m, "
        f"{first['people']:,} people, {first['sites']:,} sites ({first['existing']:,} existing, "
        f"{first['at_risk']} at risk), {first['modules']:,} modules, 5 services; "
        f"{first['estimated']} municipalities with an estimated remainder. Cell generation "
        f"(median of all {len(every)} child processes): {median(every, 'cells_s'):.1f} s wall, "
        f"{median(every, 'cells_cpu_s'):.1f} s cpu. "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Command: "
        f"`{' '.join(['python', *sys.argv])}`.",
        "",
        "| step | runs | load 1 min (start–end) | wall s | cpu s | peak MiB | result |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for step, rows in results.items():
        load = (f"{min(r['load_start'] for r in rows):.1f}–"
                f"{max(r['load_end'] for r in rows):.1f}")
        generation = (f"read {median(rows, 'read_s'):.1f} s, cells {median(rows, 'cells_s'):.1f}"
                      f" s, sites + instance {median(rows, 'instance_s'):.1f} s")
        prepare = (f"prepare {median(rows, 'prepare_s'):.1f} s (cpu "
                   f"{median(rows, 'prepare_cpu_s'):.1f}), {median(rows, 'pairs_prepare'):,.0f}"
                   f" pairs kept; rows after reduction {rows[0].get('reduced_rows')}")
        if step == "screened":
            names = [key[9:-2] for key in sorted(rows[0])
                     if key.startswith("screened_") and key.endswith("_s")
                     and not key.startswith("screened_cpu_")]
            per = ", ".join(f"{name}: {median(rows, f'screened_{name}_s'):.1f} s (cpu "
                            f"{median(rows, f'screened_cpu_{name}_s'):.1f}), "
                            f"{median(rows, f'screened_cells_{name}'):,.0f} cells, "
                            f"{median(rows, f'screened_pairs_{name}'):,.0f} pairs"
                            for name in names)
            total = sum(median(rows, f"screened_{name}_s") for name in names)
            total_cpu = sum(median(rows, f"screened_cpu_{name}_s") for name in names)
            lines.append(f"| {step} | {len(rows)} | {load} | {median(rows, 'wall_s'):.1f} | "
                         f"{median(rows, 'cpu_s'):.1f} | {median(rows, 'peak_mib'):,.0f} | "
                         f"{generation}; reachable ceiling "
                         f"{median(rows, 'reachable_ceiling'):,.0f}; "
                         f"screened coverage {total:.1f} s (cpu {total_cpu:.1f}):"
                         f" {per} |")
            continue
        if step == "coverage":
            per = ", ".join(f"{key[9:-2]}: {median(rows, key):.1f} s (cpu "
                            f"{median(rows, 'cpu_' + key[9:-2] + '_s'):.1f}), "
                            f"{median(rows, 'pairs_' + key[9:-2]):,.0f} pairs"
                            for key in sorted(rows[0]) if key.startswith("coverage_"))
            result = f"{generation}; coverage_matrix per threshold {per}; {prepare}"
        else:
            statuses = ", ".join(sorted({str(r["status"]) for r in rows}))
            result = (f"{prepare}; solve limit {median(rows, 'solve_limit_s'):.0f} s, gap "
                      f"{median(rows, 'requested_gap'):.2%} requested, solve "
                      f"{median(rows, 'solve_s'):.1f} s (cpu {median(rows, 'solve_cpu_s'):.1f})"
                      f" {rows[0]['timings']}; status {statuses}; objective "
                      f"{median(rows, 'objective'):,.0f}, bound {median(rows, 'bound'):,.0f} "
                      f"({rows[0]['bound_source']}), gap {median(rows, 'gap'):.3%}; "
                      f"reachable ceiling {median(rows, 'reachable_ceiling'):,.0f}, gap to the "
                      f"tighter bound {median(rows, 'gap_to_best_bound'):.3%}; "
                      f"{median(rows, 'new_points'):.0f} new points; heuristic: "
                      f"{rows[0]['heuristic_message'] or '-'}; Lagrangian: "
                      f"{rows[0]['lagrangian']}")
        lines.append(f"| {step} | {len(rows)} | {load} | {median(rows, 'wall_s'):.1f} | "
                     f"{median(rows, 'cpu_s'):.1f} | {median(rows, 'peak_mib'):,.0f} | {result} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=20_000)
    parser.add_argument("--cell-size", type=float, default=250.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=120.0,
                        help="seconds for the solve call (after prepare, timed apart)")
    parser.add_argument("--gap", type=float, default=0.01,
                        help="relative gap at which the solve may stop (the target's 1 %%)")
    parser.add_argument("--national-total", type=int, default=NATIONAL_TOTAL_2020,
                        help="0 leaves the remainder of municipalities without a total out")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--steps", nargs="+", default=STEPS,
                        choices=STEPS)
    parser.add_argument("--worker", choices=STEPS,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args), default=float))
        return
    results: dict[str, list[dict[str, Any]]] = {}
    for repeat in range(args.repeats):
        for step in args.steps:
            row = run_child(step, args)
            print(f"repeat {repeat} {step}: {json.dumps(row, default=float)}", flush=True)
            results.setdefault(step, []).append(row)
    print()
    print(table(results, args))


if __name__ == "__main__":
    main()
