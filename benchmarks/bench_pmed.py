"""Solve OR-Library p-median instances exactly and compare with the published optima.

Usage::

    .venv/bin/python benchmarks/bench_pmed.py                 # pmed1..pmed40
    .venv/bin/python benchmarks/bench_pmed.py 1-20            # a range
    .venv/bin/python benchmarks/bench_pmed.py 6 16 pmed17     # a subset
    .venv/bin/python benchmarks/bench_pmed.py 1-5 --repeat 3 --formulation assignment

Prints the machine's facts (load average included: the machine may be shared), then one
markdown row per instance: median wall-clock seconds over the repeats, the process CPU seconds
and the seconds per phase of the median run, objective, published optimum, status, gap, the
candidate pairs left after the root reductions, and what closed the gap: ``bound`` (the root
Lagrangian bound met the heuristic plan), ``tree N`` (the Lagrangian branch and bound, N nodes)
or ``mip`` (the MIP, with ``--search mip``).
The numba kernels are compiled (or loaded from cache) on a tiny instance before timing. The
shared data folder is ``../shared`` beside the checkout, or ``/work/shared``.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import machine_info

from optiserv.data import Instance
from optiserv.datasets.orlib_pmed import read_pmed, read_pmed_optima
from optiserv.formulations.p_median import PMedian
from optiserv.solution import Solution
from optiserv.solvers import SolveOptions


def _shared_folder() -> Path:
    for candidate in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")):
        if (candidate / "benchmarks" / "orlib_pmed").is_dir():
            return candidate / "benchmarks" / "orlib_pmed"
    sys.exit("bench_pmed: the shared folder with benchmarks/orlib_pmed was not found")


def _instance_numbers(arguments: list[str]) -> list[int]:
    if not arguments:
        return list(range(1, 41))
    numbers: list[int] = []
    for argument in arguments:
        text = argument.removeprefix("pmed")
        if "-" in text:
            first, last = (int(v) for v in text.split("-", 1))
            numbers.extend(range(first, last + 1))
        else:
            numbers.append(int(text))
    return numbers


def _warm_up(formulation: str) -> None:
    """Compile (or load) the numba kernels so that the first instance is not charged for it."""
    rng = np.random.default_rng(0)
    instance = Instance.from_arrays(rng.random((30, 2)), rng.random((10, 2)))
    PMedian(p=3, formulation=formulation).solve(instance)  # type: ignore[arg-type]


def main() -> None:
    """Parse the command line, solve each instance ``repeat`` times, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", nargs="*", help="numbers or ranges, e.g. 1-20 6 pmed7")
    parser.add_argument("--formulation", default="auto", choices=("auto", "radius", "assignment"))
    parser.add_argument("--search", default="auto", choices=("auto", "tree", "mip"))
    parser.add_argument("--backend", default="highs")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per solve")
    parser.add_argument("--repeat", type=int, default=1, help="solves per instance (median)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    folder = _shared_folder()
    optima = read_pmed_optima(folder / "pmedopt.txt")
    options = SolveOptions(time_limit=args.time_limit, threads=args.threads)
    command = " ".join(shlex.quote(part) for part in ["python", *sys.argv])
    for key, value in machine_info(command).items():
        print(f"- {key}: {value}")
    print()
    _warm_up(args.formulation)
    print(
        "| instance | n | p | seconds | cpu s | read | coverage | heuristic | tree | build | solve "
        "| objective | optimum | match | status | gap | pairs | closed by |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    total = 0.0
    matched = 0
    numbers = _instance_numbers(args.instances)
    for number in numbers:
        path = folder / f"pmed{number}.txt"
        started = time.perf_counter()
        problem = read_pmed(path)
        read_seconds = time.perf_counter() - started
        model = PMedian(
            p=problem.p, formulation=args.formulation, search=args.search  # type: ignore[arg-type]
        )
        runs: list[tuple[Solution, float]] = []
        for _ in range(max(1, args.repeat)):
            cpu_started = time.process_time()
            answer = model.solve(problem.instance, backend=args.backend, options=options)
            runs.append((answer, time.process_time() - cpu_started))
        runs.sort(key=lambda run: run[0].timings["total"])
        solution, cpu_seconds = runs[len(runs) // 2]
        seconds = statistics.median(run[0].timings["total"] for run in runs)
        total += seconds + read_seconds
        optimum = optima.get(problem.name)
        match = optimum is not None and abs(solution.objective - optimum) < 0.5
        proven = match and solution.is_optimal
        matched += int(proven)
        t = solution.timings
        closed_by = "bound"
        if "solve" in t:
            closed_by = "mip"
        elif "tree_nodes" in solution.details:
            closed_by = f"tree {solution.details['tree_nodes']}"
        print(
            f"| {problem.name} | {problem.instance.n_demand} | {problem.p} | {seconds:.2f} "
            f"| {cpu_seconds:.2f} | {read_seconds:.2f} | {t.get('coverage', 0):.2f} "
            f"| {t.get('heuristic', 0):.2f} "
            f"| {t.get('tree', 0):.2f} | {t.get('build', 0):.2f} | {t.get('solve', 0):.2f} "
            f"| {solution.objective:.0f} "
            f"| {optimum} | {'yes' if match else 'NO'} | {solution.status.value} "
            f"| {solution.gap:.2e} | {solution.details.get('candidate_pairs', '')} "
            f"| {closed_by} |",
            flush=True,
        )
    print(
        f"\n{matched} of {len(numbers)} instances proven at their published optimum; "
        f"total {total:.1f} s (reading + median solve)."
    )


if __name__ == "__main__":
    main()
