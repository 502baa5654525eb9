"""The core benchmark: maximal covering on uniform instances, every phase timed on its own.

An instance is ``n`` demand points and ``m`` candidate sites uniform in a 100 km square, with
integer weights 1–100, generated from a fixed seed. Each (case, method, backend) is solved
``repeat`` times after one untimed warm-up run (numba compilation and cache loading), and the
median of every phase is reported: instance generation, coverage, model build, heuristic,
solve, total wall-clock, and CPU seconds of this process and its children (CBC runs as a
child process), which stays meaningful on a machine shared with other work.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from optiserv.data import Instance
from optiserv.formulations import MaximalCovering
from optiserv.solution import Solution
from optiserv.solvers import SolveOptions

__all__ = [
    "CASES",
    "Case",
    "Measurement",
    "Run",
    "machine_info",
    "make_instance",
    "markdown",
    "measure",
]

SQUARE_SIDE = 100_000.0
"""Side of the square holding demand points and sites, in metres."""

PHASES = ("generate", "coverage", "build", "heuristic", "solve", "total", "cpu")
"""Timed phases, in seconds; ``cpu`` is user + system time including child processes."""


@dataclass(frozen=True)
class Case:
    """A maximal covering benchmark case."""

    name: str
    n_demand: int
    n_sites: int
    p: int
    radius: float
    seed: int

    def describe(self) -> str:
        """E.g. ``10,000 × 500, p = 25, r = 10 km, seed 0``."""
        return (
            f"{self.n_demand:,} × {self.n_sites:,}, p = {self.p}, "
            f"r = {self.radius / 1000:g} km, seed {self.seed}"
        )


CASES = (
    Case("10k×500", 10_000, 500, 25, 10_000.0, seed=0),
    Case("2k×200", 2_000, 200, 10, 10_000.0, seed=0),
)


@dataclass(frozen=True)
class Run:
    """How one row of the table is solved: a method and a backend."""

    method: str
    backend: str

    @property
    def label(self) -> str:
        """E.g. ``exact / highs`` or ``heuristic``."""
        return "heuristic" if self.method == "heuristic" else f"{self.method} / {self.backend}"


@dataclass
class Measurement:
    """Medians over the repetitions of one (case, run), and the answer of the last one."""

    case: Case
    run: Run
    seconds: dict[str, float] = field(default_factory=dict)
    status: str = ""
    objective: float = float("nan")
    bound: float = float("nan")
    gap: float = float("nan")
    details: dict[str, object] = field(default_factory=dict)
    repeat: int = 0


def make_instance(case: Case) -> Instance:
    """Uniform demand and sites in the square, weights 1–100, from the case's seed."""
    rng = np.random.default_rng(case.seed)
    demand = rng.uniform(0.0, SQUARE_SIDE, size=(case.n_demand, 2))
    sites = rng.uniform(0.0, SQUARE_SIDE, size=(case.n_sites, 2))
    weights = rng.integers(1, 101, size=case.n_demand).astype(np.float64)
    return Instance.from_arrays(demand, sites, weights=weights, name=case.name)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _solve_once(case: Case, run: Run, options: SolveOptions) -> tuple[Solution, dict[str, float]]:
    started = time.perf_counter()
    instance = make_instance(case)
    generate = time.perf_counter() - started
    model = MaximalCovering(p=case.p, radius=case.radius, method=run.method)  # type: ignore[arg-type]
    cpu = _cpu_seconds()
    solution = model.solve(instance, backend=run.backend, options=options)
    seconds = {phase: float(solution.timings.get(phase, 0.0)) for phase in PHASES[1:-1]}
    seconds["generate"] = generate
    seconds["cpu"] = _cpu_seconds() - cpu
    return solution, seconds


def measure(case: Case, run: Run, *, repeat: int, options: SolveOptions) -> Measurement:
    """Solve ``repeat`` times after an untimed warm-up; medians per phase."""
    _solve_once(case, run, options)
    samples: list[dict[str, float]] = []
    solution = None
    for _ in range(repeat):
        solution, seconds = _solve_once(case, run, options)
        samples.append(seconds)
    assert solution is not None
    medians = {phase: statistics.median(s[phase] for s in samples) for phase in PHASES}
    return Measurement(
        case=case,
        run=run,
        seconds=medians,
        status=solution.status.value,
        objective=solution.objective,
        bound=solution.bound,
        gap=solution.gap,
        details=dict(solution.details),
        repeat=repeat,
    )


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _git_commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}{' (with uncommitted changes)' if dirty else ''}"


def machine_info(command: str) -> dict[str, str]:
    """Date, command, CPU, cores, memory, load, and the versions that matter."""
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "cpu": _cpu_model(),
        "cores": f"{cores} logical ({usable} usable by this process)",
        "memory": _memory_gib(),
        "load average (1, 5, 15 min) at start": load,
        "python": platform.python_version(),
        "versions": ", ".join(
            f"{name} {_package_version(name)}"
            for name in ("numpy", "scipy", "numba", "highspy", "pulp")
        ),
        "optiserv commit": _git_commit(),
    }


def _number(value: float, digits: int = 0) -> str:
    if not np.isfinite(value):
        return "–"
    return f"{value:,.{digits}f}"


def markdown(
    measurements: list[Measurement], info: dict[str, str], options: SolveOptions
) -> str:
    """The results as a markdown section: machine facts, then one table row per measurement."""
    lines = [f"## MCLP benchmark, {info['date']}", ""]
    for key, value in info.items():
        if key != "date":
            shown = f"`{value}`" if key == "command" else value
            lines.append(f"- {key}: {shown}")
    limit = "none" if not np.isfinite(options.time_limit) else f"{options.time_limit:g} s"
    lines.append(f"- solver time limit per solve: {limit}; relative gap {options.relative_gap:g}")
    lines.append("- cases (uniform in a 100 km square, integer weights 1–100):")
    for case in dict.fromkeys(m.case for m in measurements):
        lines.append(f"  - {case.name}: {case.describe()}")
    repeats = sorted({m.repeat for m in measurements})
    lines += [
        f"- seconds are medians of {', '.join(map(str, repeats))} run(s) after one untimed "
        "warm-up; cpu = user + system seconds of the process and its children",
        "",
        "| case | method / backend | status | objective | bound | gap | generate s "
        "| coverage s | build s | heuristic s | solve s | total s | cpu s | rows "
        "| closed by bound | nodes |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in measurements:
        s = m.seconds
        gap = "–" if not np.isfinite(m.gap) else f"{100 * m.gap:.3f} %"
        lines.append(
            f"| {m.case.name} | {m.run.label} | {m.status} | {_number(m.objective)} "
            f"| {_number(m.bound)} | {gap} | {s['generate']:.3f} | {s['coverage']:.3f} "
            f"| {s['build']:.3f} | {s['heuristic']:.3f} | {s['solve']:.3f} | {s['total']:.3f} "
            f"| {s['cpu']:.2f} | {m.details.get('model_rows', '')} "
            f"| {m.details.get('closed_by_bound', '')} "
            f"| {m.details.get('branch_and_bound_nodes', '–')} |"
        )
    lines.append("")
    return "\n".join(lines)
