"""Benchmark of the combined service point model on a synthetic county.

The county is 250 km × 200 km (metres, a projected CRS), sparse like a northern Swedish
county: demand points clustered around 150 localities plus a 45 % rural scatter (50,000
points by default), 2,000 candidate sites (60 % near localities, 40 % in the countryside)
and ~300 existing service points offering today's mix of the five default services, 30 of
them at risk of closing. Costs are in SEK: a new point 150–400 k one-off and
20–60 k a year; modules from 20 k (parcels) to 250 k (fuel) one-off; a state grant pays 50 %
of one-off costs up to 3 MSEK, and a regional grant 30 % of annual costs up to 0.5 MSEK a year.

For each repeat (a new random county) it times, separately:

* coverage preparation (travel costs within the largest threshold and exact reductions);
* the exact path: HiGHS MIP until proven optimal or the time limit (default 60 s), with the
  heuristic's warm start;
* the heuristic path: greedy + swap/drop local search, with the Lagrangian bound
  (:mod:`optiserv.heuristics.bundle_bound`) in a second thread from the greedy's plan on,
  until the gap is at most ``--gap`` or the time is up; the LP relaxation refines the bound
  only when the gap is still larger and time is left.
  The table names the bound's source, the CPU seconds of the solve and the load average.

and prints a markdown table of medians. Run: ``python benchmarks/bench_bundle.py`` (full
scale) or ``--demand 5000 --sites 400 --existing 60`` for a quick look. The machine may be
shared: the timings are wall-clock and noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from optiserv.data import Instance
from optiserv.data.services import BundleInstance, Grant, Module, ServiceCatalogue
from optiserv.formulations.bundle import ServiceBundle
from optiserv.solvers import SolveOptions

WIDTH, HEIGHT = 250_000.0, 200_000.0
MODULE_COSTS = {  # service: (one-off, annual) in SEK
    "groceries": (150_000.0, 40_000.0),
    "fuel": (250_000.0, 30_000.0),
    "parcels": (20_000.0, 5_000.0),
    "pharmacy": (40_000.0, 10_000.0),
    "cash": (60_000.0, 25_000.0),
}


def county(seed: int, n_demand: int, n_candidates: int, n_existing: int) -> BundleInstance:
    """A synthetic county (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_towns = 150
    towns = rng.random((n_towns, 2)) * [WIDTH, HEIGHT]
    size = rng.pareto(1.2, n_towns) + 1.0
    clustered = int(n_demand * 0.55)
    town_of = rng.choice(n_towns, clustered, p=size / size.sum())
    spread = 800.0 + 600.0 * np.log1p(size[town_of])
    demand = np.vstack(
        [
            towns[town_of] + rng.normal(0, 1, (clustered, 2)) * spread[:, None],
            rng.random((n_demand - clustered, 2)) * [WIDTH, HEIGHT],
        ]
    )
    demand = np.clip(demand, 0, [WIDTH, HEIGHT])
    people = rng.gamma(0.6, 12.0, n_demand).round() + 1.0
    elderly = rng.binomial(people.astype(np.int64), 0.22).astype(float)
    n_sites = n_candidates + n_existing
    site_town = rng.choice(n_towns, n_sites, p=np.sqrt(size) / np.sqrt(size).sum())
    sites = towns[site_town] + rng.normal(0, 2500.0, (n_sites, 2))
    rural = n_existing + np.flatnonzero(rng.random(n_candidates) < 0.4)
    sites[rural] = rng.random((rural.size, 2)) * [WIDTH, HEIGHT]
    sites = np.clip(sites, 0, [WIDTH, HEIGHT])
    instance = Instance.from_arrays(
        demand,
        sites,
        weights={"total": people, "aged_70": elderly},
        opening_cost=rng.uniform(150_000, 400_000, n_sites).round(-3),
        crs="EPSG:3006",
        name=f"county{seed}",
    )
    catalogue = ServiceCatalogue.default()
    names = catalogue.names
    existing = np.arange(n_existing)
    offer_chance = {"groceries": 0.85, "fuel": 0.35, "parcels": 0.6, "pharmacy": 0.3, "cash": 0.25}
    offers = {}
    for j in existing:
        chosen = [s for s in names if rng.random() < offer_chance[s]]
        offers[int(j)] = chosen or ["groceries"]
    modules = []
    for j in range(n_sites):
        for s in names:
            if j < n_existing and s in offers[j]:
                continue
            if j < n_existing or rng.random() < 0.8:
                one_off, annual = MODULE_COSTS[s]
                factor = rng.uniform(0.7, 1.3)
                modules.append(
                    Module(j, s, round(one_off * factor, -3), round(annual * factor, -3))
                )
    at_risk = {
        int(j): float(rng.uniform(50_000, 150_000))
        for j in rng.choice(existing, min(30, n_existing), replace=False)
    }
    point_costs = {
        j: (float(instance.sites.cost[j]), float(rng.uniform(20_000, 60_000)))
        for j in range(n_existing, n_sites)
    }
    grants = [
        Grant("state", 0.5, cap=3_000_000.0, period="one_off"),
        Grant(
            "region", 0.3, cap=500_000.0, period="annual", covers=("modules", "points", "subsidies")
        ),
    ]
    municipality = (demand[:, 0] // (WIDTH / 4)).astype(int) * 3 + (
        demand[:, 1] // (HEIGHT / 3)
    ).astype(int).clip(0, 2)
    return BundleInstance.build(
        instance,
        catalogue,
        offers=offers,
        modules=modules,
        point_costs=point_costs,
        at_risk=at_risk,
        grants=grants,
        groups=municipality,
    )


def run(args: argparse.Namespace) -> list[dict[str, float]]:
    rows = []
    model = ServiceBundle(
        objective="coverage",
        budget_one_off=args.budget_one_off,
        budget_annual=args.budget_annual,
        max_new_points=args.max_new_points,
        min_services=2,
    )
    # untimed: numba compilation or cache loading, on a small county
    small = county(10_000 + args.seed, 2_000, 200, 30)
    model.with_params(method="heuristic").solve(small, options=SolveOptions(time_limit=60))
    for repeat in range(args.repeats):
        started = time.perf_counter()
        bundle = county(args.seed + repeat, args.demand, args.sites, args.existing)
        generated = time.perf_counter() - started
        started = time.perf_counter()
        prepared = model.prepare(bundle)
        prepare_seconds = time.perf_counter() - started
        rows_after = sum(block.n_rows for block in prepared.blocks)
        load = os.getloadavg()[0]
        cpu_started = time.process_time()
        heuristic = model.with_params(method="heuristic").solve(
            bundle,
            prepared=prepared,
            options=SolveOptions(time_limit=args.heuristic_limit, relative_gap=args.gap),
        )
        heuristic_cpu = time.process_time() - cpu_started
        exact = model.solve(
            bundle, prepared=prepared, options=SolveOptions(time_limit=args.time_limit)
        )
        best_bound = min(heuristic.bound, exact.bound)
        best = max(heuristic.objective, exact.objective)
        rows.append(
            {
                "repeat": repeat,
                "generate_s": generated,
                "prepare_s": prepare_seconds,
                "reduced_rows": rows_after,
                "exact_status": exact.status.value,
                "exact_s": exact.timings.get("total", float("nan")),
                "exact_solve_s": exact.timings.get("solve", float("nan")),
                "exact_gap": exact.gap,
                "heuristic_s": heuristic.timings.get("heuristic", float("nan")),
                "bound_s": float(
                    heuristic.details.get("lagrangian", {}).get("seconds", float("nan"))
                )
                + heuristic.timings.get("solve", 0.0),
                "heuristic_total_s": heuristic.timings.get("total", float("nan")),
                "heuristic_cpu_s": heuristic_cpu,
                "load": load,
                "lagrangian_iterations": float(
                    heuristic.details.get("lagrangian", {}).get("iterations", 0)
                ),
                "heuristic_gap": heuristic.gap,
                "bound_source": str(heuristic.details.get("bound_source", "")),
                "heuristic_vs_best_bound": (best_bound - heuristic.objective) / best_bound,
                "exact_vs_best_bound": (best_bound - exact.objective) / best_bound,
                "heuristic_vs_best_plan": (best - heuristic.objective) / best,
            }
        )
        print(
            f"repeat {repeat}: "
            + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()
            ),
            flush=True,
        )
    return rows


def table(rows: list[dict[str, float]], args: argparse.Namespace) -> str:
    def median(key: str) -> float:
        return statistics.median(float(row[key]) for row in rows)

    statuses = ", ".join(sorted({str(row["exact_status"]) for row in rows}))
    sources = ", ".join(sorted({str(row["bound_source"]) for row in rows}))
    lines = [
        f"Combined service points: {args.demand:,} demand points, {args.sites:,} candidates, "
        f"{args.existing} existing sites, 5 services; medians of {len(rows)} counties.",
        "",
        "| path | seconds | gap to its own bound | gap to best bound | notes |",
        "|---|---:|---:|---:|---|",
        f"| coverage + reductions | {median('prepare_s'):.1f} | | | "
        f"{median('reduced_rows'):,.0f} rows after reduction |",
        f"| exact (HiGHS, {args.time_limit:g} s limit) | {median('exact_s'):.1f} | "
        f"{median('exact_gap'):.3%} | {median('exact_vs_best_bound'):.3%} | status: {statuses}; "
        f"MIP {median('exact_solve_s'):.1f} s |",
        f"| heuristic + bound (requested gap {args.gap:g}) | {median('heuristic_total_s'):.1f} | "
        f"{median('heuristic_gap'):.3%} | {median('heuristic_vs_best_bound'):.3%} | greedy + "
        f"local search {median('heuristic_s'):.1f} s, bound beside it {median('bound_s'):.1f} s "
        f"({median('lagrangian_iterations'):.0f} Lagrangian iterations; bound: {sources}); "
        f"CPU {median('heuristic_cpu_s'):.1f} s at load {median('load'):.1f}; "
        f"{median('heuristic_vs_best_plan'):.3%} below the best plan |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demand", type=int, default=50_000)
    parser.add_argument("--sites", type=int, default=2_000)
    parser.add_argument("--existing", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--heuristic-limit", type=float, default=10.0)
    parser.add_argument(
        "--gap", type=float, default=0.01, help="relative gap the heuristic path may stop at"
    )
    parser.add_argument("--seed", type=int, default=0, help="first county's seed")
    parser.add_argument("--budget-one-off", type=float, default=6_000_000.0)
    parser.add_argument("--budget-annual", type=float, default=1_500_000.0)
    parser.add_argument("--max-new-points", type=int, default=25)
    args = parser.parse_args()
    rows = run(args)
    print()
    print(table(rows, args))


if __name__ == "__main__":
    main()
