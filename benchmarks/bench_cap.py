"""OR-Library ``cap`` benchmark: UFLP and CFLP against the published optima.

Runs, by default,

* CFLP (splittable demand) on the 37 instances cap41–cap134 (``capopt.txt``);
* UFLP on cap71–74, cap101–104, cap131–134 and capa, capb, capc (``uncapopt.txt``);

and, with ``--capacity-variants``, CFLP on the 12 capa/b/c capacity variants
(``capopt_capabc.txt``). Each instance is solved ``--repeats`` times; the table shows the
median wall-clock and process CPU seconds (CPU is less sensitive to other load on a shared
machine; HiGHS threads add to it), the median preparation (reductions and heuristics) and
solver seconds, the objective, the published optimum and the difference.

Usage::

    .venv/bin/python benchmarks/bench_cap.py [--time-limit 120] [--repeats 3] [--only capc]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from optiserv.datasets.orlib_cap import cap_instance_path, read_cap, read_cap_optima
from optiserv.formulations.facility import (
    CapacitatedFacilityLocation,
    UncapacitatedFacilityLocation,
)
from optiserv.solution import Solution
from optiserv.solvers import SolveOptions


def _default_folder() -> Path:
    here = Path(__file__).resolve()
    for root in (here.parents[2] / "shared", Path("/work/shared")):
        folder = root / "benchmarks" / "orlib_cap"
        if folder.is_dir():
            return folder
    return here.parents[2] / "shared" / "benchmarks" / "orlib_cap"


@dataclass
class Row:
    """One instance's results over the repeats."""

    name: str
    model: str
    sites: int
    demand: int
    published: float
    solutions: list[Solution]
    wall: list[float]
    cpu: list[float]

    @property
    def last(self) -> Solution:
        """The last repeat's solution."""
        return self.solutions[-1]

    def phase(self, name: str) -> float:
        """Median seconds of one phase (``coverage`` = preparation, ``solve``) over repeats."""
        return statistics.median(s.timings.get(name, 0.0) for s in self.solutions)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(
    folder: Path,
    *,
    time_limit: float,
    repeats: int,
    backend: str,
    capacity_variants: bool,
    only: list[str] | None,
) -> list[Row]:
    """Solve every selected instance ``repeats`` times and collect the results."""
    optima = read_cap_optima(folder)
    plan: list[tuple[str, str, float]] = []
    for name, value in optima.capacitated.items():
        is_variant = name[:4] in ("capa", "capb", "capc")
        if not is_variant or capacity_variants:
            plan.append(("cflp", name, value))
    plan += [("uflp", name, value) for name, value in optima.uncapacitated.items()]
    if only:
        plan = [entry for entry in plan if entry[1] in only]
    options = SolveOptions(time_limit=time_limit)
    _warm_up(folder, backend)
    rows = []
    for model_name, name, published in plan:
        instance = read_cap(cap_instance_path(folder, name))
        model = (
            CapacitatedFacilityLocation()
            if model_name == "cflp"
            else UncapacitatedFacilityLocation()
        )
        row = Row(name, model_name, instance.n_sites, instance.n_demand, published, [], [], [])
        for _ in range(repeats):
            cpu, wall = _cpu_seconds(), time.perf_counter()
            solution = model.solve(instance, backend=backend, options=options)
            row.wall.append(time.perf_counter() - wall)
            row.cpu.append(_cpu_seconds() - cpu)
            row.solutions.append(solution)
        rows.append(row)
        print(_line(row), file=sys.stderr, flush=True)
    return rows


def _warm_up(folder: Path, backend: str) -> None:
    """One untimed solve of each model, so that imports and compiled kernels are loaded."""
    instance = read_cap(cap_instance_path(folder, "cap71"))
    UncapacitatedFacilityLocation().solve(instance, backend=backend)
    CapacitatedFacilityLocation().solve(instance, backend=backend)


def _line(row: Row) -> str:
    solution = row.last
    difference = solution.objective - row.published
    return (
        f"| {row.name} | {row.model} | {row.sites}×{row.demand} | {solution.status.value} | "
        f"{solution.objective:,.3f} | {row.published:,.3f} | {difference:+.3f} | "
        f"{solution.gap:.1e} | {statistics.median(row.wall):.2f} | "
        f"{statistics.median(row.cpu):.2f} | {row.phase('coverage'):.2f} | "
        f"{row.phase('solve'):.2f} |"
    )


def table(rows: list[Row]) -> str:
    """The results as a markdown table, with a summary line per model."""
    header = (
        "| instance | model | m×n | status | objective | published | objective − published "
        "| gap | wall s | cpu s | prepare s | solve s |\n"
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [header] + [_line(row) for row in rows]
    for model in ("cflp", "uflp"):
        chosen = [row for row in rows if row.model == model]
        if not chosen:
            continue
        matched = sum(
            row.last.is_optimal and abs(row.last.objective - row.published) <= 1e-3
            for row in chosen
        )
        walls = {row.name: statistics.median(row.wall) for row in chosen}
        slowest = max(walls, key=walls.__getitem__)
        lines.append(
            f"\n{model}: {matched} of {len(chosen)} proven optimal and within 0.001 of the "
            f"published optimum; total median wall {sum(walls.values()):.1f} s, "
            f"slowest {slowest} ({walls[slowest]:.1f} s)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the markdown table on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=_default_folder())
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per solve")
    parser.add_argument("--repeats", type=int, default=1, help="solves per instance (median)")
    parser.add_argument("--backend", default="highs")
    parser.add_argument(
        "--capacity-variants",
        action="store_true",
        help="also run CFLP on capa8000 … capc7250 (100×1000, hard)",
    )
    parser.add_argument("--only", nargs="*", help="instance names to run (default: all)")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"no OR-Library cap folder at {args.folder}")
    rows = run(
        args.folder,
        time_limit=args.time_limit,
        repeats=args.repeats,
        backend=args.backend,
        capacity_variants=args.capacity_variants,
        only=args.only,
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
