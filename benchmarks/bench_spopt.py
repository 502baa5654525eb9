"""Head-to-head with spopt: the same instances and cost matrices, each run in a fresh process.

Usage::

    .venv/bin/python benchmarks/bench_spopt.py --quick            # 500×50 and 2k×200, all models
    .venv/bin/python benchmarks/bench_spopt.py                    # every size, layout and model
    .venv/bin/python benchmarks/bench_spopt.py --size 10000x500 --model mclp --model pmedian
    .venv/bin/python benchmarks/bench_spopt.py --layout villages --repeat 3 --time-limit 600
    .venv/bin/python benchmarks/bench_spopt.py --backend highs --backend cbc   # optiserv on both
    .venv/bin/python benchmarks/bench_spopt.py --quick --append   # also append to RESULTS.md
    .venv/bin/python benchmarks/bench_spopt.py --size 10000x500 --same-answer 50

``--same-answer F``: where spopt proves nothing, the end-to-end ratio only compares two time
limits. Then optiserv runs once more with 1/F of spopt's total time (less optiserv's build),
and a second table says whether that plan is at least as good as spopt's final one.

spopt lives in its own environment, ``benchmarks/.spopt-venv``, created on first use from
``benchmarks/spopt_requirements.txt`` with pip (nothing is added to optiserv's dependencies).
Every run is a fresh child process (optiserv: this file with ``--optiserv-worker``; spopt:
``benchmarks/_spopt_worker.py`` in that environment), so peak memory is per run. The tools
alternate: optiserv, spopt, optiserv, spopt, ... for every case. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _spopt_worker import model_memory_start, status_kib

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SPOPT_VENV = HERE / ".spopt-venv"
SPOPT_REQUIREMENTS = HERE / "spopt_requirements.txt"
SPOPT_WORKER = HERE / "_spopt_worker.py"
SPOPT_PYTHON = SPOPT_VENV / "bin" / "python"

SQUARE_SIDE = 100_000.0
"""Side of the square holding demand points and sites, in metres."""
RADIUS = 10_000.0
"""Coverage radius for MCLP and LSCP, in metres."""

SIZES = {
    "500x50": (500, 50),
    "2000x200": (2_000, 200),
    "10000x500": (10_000, 500),
    "20000x1000": (20_000, 1_000),
}
QUICK_SIZES = ("500x50", "2000x200")
LAYOUTS = ("uniform", "villages")
MODELS = ("mclp", "lscp", "pmedian", "pcenter")
MAXIMISE = {"mclp"}


# ---------------------------------------------------------------------------------- instances
@dataclass(frozen=True)
class Case:
    """One instance (size and layout) and one model."""

    size: str
    layout: str
    model: str
    seed: int

    @property
    def n_demand(self) -> int:
        return SIZES[self.size][0]

    @property
    def n_sites(self) -> int:
        return SIZES[self.size][1]

    @property
    def p(self) -> int:
        """5 % of the sites, rounded up."""
        return max(1, math.ceil(0.05 * self.n_sites))

    @property
    def label(self) -> str:
        n, m = self.n_demand, self.n_sites
        return f"{n // 1000}k×{m}" if n >= 1000 and n % 1000 == 0 else f"{n}×{m}"


def _villages(rng: np.random.Generator, n: int, centres, share, spread) -> np.ndarray:
    village = rng.choice(len(centres), size=n, p=share)
    points = centres[village] + rng.normal(size=(n, 2)) * spread[village, np.newaxis]
    return np.clip(points, 0.0, SQUARE_SIDE)


def make_arrays(size: str, layout: str, seed: int) -> dict[str, np.ndarray]:
    """Demand and site coordinates (metres), integer weights 1–100 and the dense cost matrix.

    ``uniform``: demand and sites uniform in the square. ``villages``: m/5 village centres
    uniform in the inner 90 km, village shares log-normal, each village a round normal cloud
    with its own spread (1–4 km); demand points and candidate sites are both drawn from the
    villages (sites stand where people live). Coordinates are continuous, so no distance
    equals the radius exactly (checked, and reported, by the caller).
    """
    n, m = SIZES[size]
    rng = np.random.default_rng(seed)
    if layout == "uniform":
        demand = rng.uniform(0.0, SQUARE_SIDE, size=(n, 2))
        sites = rng.uniform(0.0, SQUARE_SIDE, size=(m, 2))
    elif layout == "villages":
        k = max(5, m // 5)
        centres = rng.uniform(0.05 * SQUARE_SIDE, 0.95 * SQUARE_SIDE, size=(k, 2))
        share = rng.lognormal(0.0, 1.0, size=k)
        share /= share.sum()
        spread = rng.uniform(1_000.0, 4_000.0, size=k)
        demand = _villages(rng, n, centres, share, spread)
        sites = _villages(rng, m, centres, share, spread)
    else:
        raise ValueError(f"unknown layout {layout!r}")
    weights = rng.integers(1, 101, size=n).astype(np.float64)
    cost = np.sqrt(((demand[:, np.newaxis, :] - sites[np.newaxis, :, :]) ** 2).sum(axis=2))
    return {"demand": demand, "sites": sites, "weights": weights, "cost": cost}


def evaluate(
    model: str, cost: np.ndarray, weights: np.ndarray, open_sites: list[int], p: int
) -> tuple[float, str]:
    """The objective of a plan recomputed from the cost matrix, and what is wrong with it."""
    chosen = np.asarray(sorted(set(open_sites)), dtype=np.int64)
    if chosen.size == 0:
        return math.nan, "no open site"
    near = cost[:, chosen].min(axis=1)
    problem = ""
    if model != "lscp" and chosen.size != p:
        problem = f"{chosen.size} sites open, p = {p}"
    if model == "mclp":
        return float(weights[near <= RADIUS].sum()), problem
    if model == "lscp":
        uncovered = int((near > RADIUS).sum())
        return float(chosen.size), (f"{uncovered} demand points uncovered" if uncovered else "")
    if model == "pmedian":
        return float((weights * near).sum()), problem
    return float(near.max()), problem


# ---------------------------------------------------------------------------------- workers
def optiserv_worker(job_path: str) -> int:
    """One optiserv run in this (fresh) process; mirrors benchmarks/_spopt_worker.py."""
    started = time.perf_counter()
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    out: dict[str, object] = {"tool": "optiserv", "backend": job["backend"]}

    def cpu() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    try:
        import optiserv
        from optiserv.data import Instance
        from optiserv.formulations import MaximalCovering, PCenter, PMedian, SetCovering
        from optiserv.solvers import SolveOptions

        def model_for(p: int):
            return {
                "mclp": lambda: MaximalCovering(p=p, radius=job["radius"]),
                "lscp": lambda: SetCovering(radius=job["radius"]),
                "pmedian": lambda: PMedian(p=p),
                "pcenter": lambda: PCenter(p=p),
            }[job["model"]]()

        data = np.load(job["data"])
        demand, sites = data["demand"], data["sites"]
        cost, weights = np.ascontiguousarray(data["cost"]), data["weights"]
        # Read-only, the matrix is shared by the instance instead of copied (see
        # CostMatrix.from_dense); spopt's from_cost_matrix reads it without a copy too.
        # np.load returns a view of the buffer it read, so that buffer is sealed as well.
        cost.flags.writeable = False
        if isinstance(cost.base, np.ndarray):
            cost.base.flags.writeable = False
        # Warm-up on a tiny instance of the same model: numba kernels are loaded from the
        # cache (or compiled) here, in "startup", not in the timed solve.
        rng = np.random.default_rng(1)
        tiny_d, tiny_s = rng.uniform(0, 10, (20, 2)), rng.uniform(0, 10, (5, 2))
        tiny = Instance.from_arrays(
            tiny_d, tiny_s, weights=np.ones(20),
            costs=np.sqrt(((tiny_d[:, None, :] - tiny_s[None, :, :]) ** 2).sum(axis=2)),
        )
        model_for(2).solve(tiny, backend=job["backend"])  # radius is large for this instance
        out["startup"] = time.perf_counter() - started
        out["version"] = f"optiserv {optiserv.__version__}"

        options = SolveOptions(time_limit=job["time_limit"], threads=job["threads"])
        out.update(model_memory_start(job))
        cpu0 = cpu()
        t0 = time.perf_counter()
        instance = Instance.from_arrays(demand, sites, weights=weights, costs=cost)
        t1 = time.perf_counter()
        solution = model_for(job["p"]).solve(instance, backend=job["backend"], options=options)
        t2 = time.perf_counter()
        out["cpu"] = cpu() - cpu0
        out["model_hwm_kib"] = status_kib("VmHWM")
        phases = solution.timings
        build = (t1 - t0) + phases.get("coverage", 0.0) + phases.get("build", 0.0)
        out["build"], out["total"] = build, t2 - t0
        out["solve"] = (t2 - t0) - build
        out["phases"] = {k: float(v) for k, v in phases.items()}
        out["status"] = solution.status.value
        out["objective"] = float(solution.objective)
        out["bound"] = float(solution.bound)
        out["message"] = solution.message
        out["open_sites"] = [int(j) for j in solution.open_sites]
    except Exception:
        out["status"] = "error"
        out["traceback"] = traceback.format_exc()
        out["message"] = out["traceback"].strip().splitlines()[-1]
    # VmHWM, not ru_maxrss: Linux carries the parent's resident size into a child's ru_maxrss
    # through fork and exec, which would charge this file's parent to the worker. The peak
    # was reset before the build, so the whole run's peak is the larger of the two.
    out["hwm_kib"] = max(int(out.get("startup_hwm_kib", 0)), status_kib("VmHWM"))
    Path(job["result"]).write_text(json.dumps(out), encoding="utf-8")
    return 0


# ---------------------------------------------------------------------------------- spopt env
def _requirements_digest() -> str:
    return hashlib.sha256(SPOPT_REQUIREMENTS.read_bytes()).hexdigest()


def ensure_spopt_env() -> None:
    """Create benchmarks/.spopt-venv and pip-install the pinned spopt there, once."""
    stamp = SPOPT_VENV / ".requirements.sha256"
    digest = _requirements_digest()
    if SPOPT_PYTHON.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return
    print(f"… creating {SPOPT_VENV} from {SPOPT_REQUIREMENTS.name} (pip, once)", file=sys.stderr)
    base = getattr(sys, "_base_executable", sys.executable)
    if not SPOPT_PYTHON.exists():
        subprocess.run([base, "-m", "venv", str(SPOPT_VENV)], check=True)
    # The environment ignores itself (as Python 3.13's venv does), whatever .gitignore says.
    (SPOPT_VENV / ".gitignore").write_text("*\n")
    subprocess.run(
        [str(SPOPT_PYTHON), "-m", "pip", "install", "--quiet", "-r", str(SPOPT_REQUIREMENTS)],
        check=True,
    )
    subprocess.run([str(SPOPT_PYTHON), "-c", "import spopt.locate, pulp"], check=True)
    stamp.write_text(digest + "\n")


def spopt_version() -> str:
    done = subprocess.run(
        [str(SPOPT_PYTHON), "-c",
         "import importlib.metadata as m; print(m.version('spopt'), m.version('pulp'))"],
        capture_output=True, text=True, check=True,
    )
    spopt_v, pulp_v = done.stdout.split()
    return f"spopt {spopt_v}, PuLP {pulp_v} (CBC bundled with PuLP) in benchmarks/.spopt-venv"


# ---------------------------------------------------------------------------------- running
def _tree_rss_kib(pgid: int) -> int:
    """Resident memory of every process in the process group (the worker and its CBC)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # field 5 of stat: the process group
                continue
            with open(f"/proc/{entry.name}/status", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total


@dataclass
class RunResult:
    """What one worker reported, plus what the parent observed."""

    tool: str
    status: str
    seconds: dict[str, float] = field(default_factory=dict)
    objective: float = math.nan
    bound: float = math.nan
    evaluated: float = math.nan
    plan_problem: str = ""
    peak_kib: int = 0
    model_kib: int = 0  # peak during build + solve minus the resident size before the build
    message: str = ""
    version: str = ""
    limited: bool = False  # stopped by a limit: times and ratios are lower bounds


def run_worker(
    command: list[str], job: dict, workdir: Path, *, wall_limit: float, memory_kib: int
) -> tuple[dict, float, int, str]:
    """Run one worker in its own session; kill its group at the wall or memory limit.

    Returns the worker's result (empty when it had none), the wall seconds of the process,
    the sampled peak resident memory of its process group, and why it was killed (or "").
    """
    job_file = workdir / "job.json"
    result_file = Path(job["result"])
    result_file.unlink(missing_ok=True)
    job_file.write_text(json.dumps(job), encoding="utf-8")
    log = (workdir / "worker.log").open("w")
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, str(job_file)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    marker = Path(job["model_marker"])
    marker.unlink(missing_ok=True)
    killed, sampled_peak, model_peak = "", 0, 0
    while process.poll() is None:
        rss = _tree_rss_kib(process.pid)
        sampled_peak = max(sampled_peak, rss)
        if marker.exists():  # the worker is building or solving the model
            model_peak = max(model_peak, rss)
        elapsed = time.perf_counter() - started
        if rss > memory_kib:
            killed = f"killed at the memory limit ({memory_kib / 2**20:g} GiB)"
        elif elapsed > wall_limit:
            killed = f"killed at the wall-clock limit ({wall_limit:g} s)"
        if killed:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            break
        time.sleep(0.2)
    wall = time.perf_counter() - started
    log.close()
    # A killed spopt run may have left what it knew before the solve (its build time).
    out = json.loads(result_file.read_text()) if result_file.exists() else {}
    if not out and not killed:
        tail = (workdir / "worker.log").read_text(errors="replace")[-600:]
        killed = f"worker exited {process.returncode} without a result: {tail}"
    out["sampled_model_kib"] = model_peak
    return out, wall, sampled_peak, killed


def model_kib(out: dict) -> int:
    """The model's memory: its peak minus the resident size just before the build.

    The peak is the larger of the worker's own VmHWM since its reset at the build (exact;
    the whole run's peak when the reset was not possible) and the worker's and its
    children's summed resident memory, sampled every 0.2 s from the build on. 0 when the
    worker never reached the build.
    """
    base = int(out.get("model_base_kib", 0))
    if not base:
        return 0
    peak = max(int(out.get("model_hwm_kib", 0)), int(out.get("sampled_model_kib", 0)))
    return max(peak - base, 0)


def run_one(tool: str, backend: str, case: Case, data_path: Path, arrays: dict,
            workdir: Path, args: argparse.Namespace) -> RunResult:
    job = {
        "data": str(data_path), "model": case.model, "radius": RADIUS, "p": case.p,
        "time_limit": args.time_limit, "threads": args.threads, "backend": backend,
        "result": str(workdir / "result.json"), "model_marker": str(workdir / "model.marker"),
    }
    if tool == "optiserv":
        command = [sys.executable, str(Path(__file__).resolve()), "--optiserv-worker"]
    else:
        command = [str(SPOPT_PYTHON), str(SPOPT_WORKER)]
    out, wall, sampled, killed = run_worker(
        command, job, workdir, wall_limit=args.kill_after,
        memory_kib=int(args.memory_limit * 2**20),
    )
    label = tool if tool == "spopt" else f"optiserv/{backend}"
    if killed:
        seconds = {"process": wall, "total": wall - float(out.get("startup", 0.0))}
        if "build" in out:
            seconds["build"] = float(out["build"])
        return RunResult(
            label, "killed", seconds, peak_kib=sampled, model_kib=model_kib(out),
            message=killed, limited=True, version=str(out.get("version", "")),
        )
    seconds = {k: float(out[k]) for k in ("startup", "build", "solve", "total", "cpu") if k in out}
    seconds["process"] = wall
    result = RunResult(
        label, str(out.get("status", "error")), seconds,
        peak_kib=max(sampled, int(out.get("hwm_kib", 0))), model_kib=model_kib(out),
        message=str(out.get("message", "")), version=str(out.get("version", "")),
    )
    if out.get("objective") is not None:
        result.objective = float(out["objective"])
    if out.get("bound") is not None:
        result.bound = float(out["bound"])
    if out.get("open_sites") and result.status in ("optimal", "feasible"):
        result.evaluated, result.plan_problem = evaluate(
            case.model, arrays["cost"], arrays["weights"], out["open_sites"], case.p
        )
    result.limited = result.status in ("feasible", "no_solution")
    return result


def median_result(results: list[RunResult]) -> RunResult:
    """Medians of the timings and memory; answer and status of the last run."""
    last = results[-1]
    keys = set.intersection(*(set(r.seconds) for r in results))
    last.seconds = {k: statistics.median(r.seconds[k] for r in results) for k in keys}
    last.peak_kib = int(statistics.median(r.peak_kib for r in results))
    last.model_kib = int(statistics.median(r.model_kib for r in results))
    statuses = {r.status for r in results}
    if len(statuses) > 1:
        last.message = f"statuses differ across repeats: {sorted(statuses)}. {last.message}"
    return last


# ---------------------------------------------------------------------------------- checking
PROVEN = ("optimal", "infeasible")


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-6)


def check(model: str, rows: list[RunResult]) -> list[str]:
    """Flags for a case: mismatching optima or statuses, misreported objectives, bad plans."""
    flags: list[str] = []
    for r in rows:
        if r.plan_problem:
            flags.append(f"**BAD PLAN** {r.tool}: {r.plan_problem}")
        if r.status in ("optimal", "feasible") and math.isfinite(r.objective) \
                and math.isfinite(r.evaluated) and not _same(r.objective, r.evaluated):
            flags.append(
                f"**OBJECTIVE MISREPORTED** {r.tool}: reported {r.objective:,.6g}, "
                f"plan evaluates to {r.evaluated:,.6g}"
            )
    proven = [r for r in rows if r.status in PROVEN]
    for a in proven:
        for b in proven:
            if a.tool >= b.tool:
                continue
            if a.status != b.status:
                flags.append(f"**MISMATCH** {a.tool} {a.status} vs {b.tool} {b.status}")
            elif a.status == "optimal" and not _same(a.evaluated, b.evaluated):
                flags.append(
                    f"**MISMATCH** optimal objectives {a.tool} {a.evaluated:,.6g} vs "
                    f"{b.tool} {b.evaluated:,.6g}"
                )
    for a in (r for r in rows if r.status == "optimal"):
        for b in (r for r in rows if r.status == "feasible" and math.isfinite(r.evaluated)):
            better = b.evaluated > a.evaluated if model in MAXIMISE else b.evaluated < a.evaluated
            if better and not _same(a.evaluated, b.evaluated):
                flags.append(f"**MISMATCH** {b.tool}'s feasible plan beats {a.tool}'s optimum")
    return flags


# ---------------------------------------------------------------------------------- table
def _s(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.2f}"


def _mib(kib: int) -> str:
    return f"{kib / 1024:,.0f}" if kib else "–"


def _objective(model: str, value: float) -> str:
    if not math.isfinite(value):
        return "–"
    if model in ("pmedian", "pcenter"):
        return f"{value / 1000:,.3f} km" if model == "pcenter" else f"{value / 1000:,.1f}"
    return f"{value:,.0f}"


def _gap(r: RunResult) -> str:
    """The proven gap of a time-limited optiserv plan (spopt, through PuLP, reports no bound)."""
    if r.status != "feasible" or not (math.isfinite(r.bound) and math.isfinite(r.objective)):
        return ""
    return f" (gap {100 * abs(r.bound - r.objective) / max(abs(r.objective), 1e-9):.2f} %)"


def _ratio(spopt: RunResult, base: RunResult, key: str) -> str:
    a, b = spopt.seconds.get(key), base.seconds.get(key)
    if a is None or b is None or b <= 0:
        return "–"
    # A lower bound when spopt stopped at a limit and optiserv finished, or when spopt
    # stopped without a plan (killed, no solution) while optiserv returned one.
    spopt_planless = spopt.status in ("killed", "no_solution", "error")
    base_has_plan = base.status in ("optimal", "feasible", "infeasible")
    mark = "≥ " if spopt.limited and (not base.limited or (spopt_planless and base_has_plan)) \
        else ""
    return f"{mark}{a / b:,.1f}×"


def _memory_ratio(spopt: RunResult, base: RunResult, key: str = "peak_kib") -> str:
    a, b = getattr(spopt, key), getattr(base, key)
    if not a or not b:
        return "–"
    mark = "≥ " if spopt.status == "killed" else ""
    return f"{mark}{a / b:,.1f}×"


def markdown(info: dict[str, str], cases: list[tuple[Case, list[RunResult], list[str]]],
             args: argparse.Namespace, load_end: str, ties: dict[str, int]) -> str:
    lines = [f"## spopt head-to-head, {info['date']}", ""]
    for key, value in info.items():
        if key != "date":
            lines.append(f"- {key}: `{value}`" if key == "command" else f"- {key}: {value}")
    lines += [
        f"- load average (1, 5, 15 min) at end: {load_end}",
        f"- limits per run: solver time limit {args.time_limit:g} s (optiserv: the whole `solve`"
        f" call; spopt: CBC's `timeLimit`), {args.threads} solver thread(s), process killed "
        f"after {args.kill_after:g} s wall-clock or {args.memory_limit:g} GiB resident; "
        "optiserv's parallel kernels get the same thread count as its solver "
        "(`SolveOptions.threads`)",
        f"- instances: 100 km square, integer weights 1–100, radius {RADIUS / 1000:g} km "
        "(MCLP, LSCP), p = 5 % of the sites rounded up; both tools get the same dense "
        "Euclidean cost matrix in metres; distances exactly equal to the radius: "
        + ", ".join(f"{k} {v}" for k, v in ties.items()),
        f"- seconds and memory are medians of {args.repeat} run(s), each a fresh process; the "
        "tools alternate per case. startup = imports, loading the instance and one solve of "
        "a tiny instance (both tools, untimed otherwise); build = arrays to the model ready "
        "for the solver (optiserv: `Instance.from_arrays` + coverage and reductions + model "
        "build; spopt: `from_cost_matrix`); solve = the rest (optiserv: heuristic, bound and "
        "solver; spopt: `solve`, i.e. PuLP writing the model, CBC, reading back, spopt's "
        "result look-ups); total = build + solve; cpu = user + system seconds of the worker "
        "and its children (CBC) over build + solve",
        "- peak MiB = the larger of the worker's own peak (VmHWM) and the peak of the summed "
        "resident memory of the worker and its children (CBC), sampled every 0.2 s; "
        "model MiB = the same peak over build + solve only (VmHWM reset to the resident size "
        "just before the build, through /proc/self/clear_refs; children sampled from the "
        "build on) minus the worker's resident size just before the build (after imports, "
        "the loaded instance and the warm-up), measured the same way for both tools; ratios "
        "are spopt / optiserv (the first optiserv backend); `≥` marks a spopt run stopped "
        "by a limit while optiserv finished",
        "",
        "| case | layout | model | tool | status | objective | startup s | build s | solve s "
        "| total s | cpu s | peak MiB | model MiB | total ratio | cpu ratio | memory ratio "
        "| model memory ratio | check |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case, rows, flags in cases:
        base = rows[0]
        for r in rows:
            is_spopt = r.tool == "spopt"
            proven = sum(x.status in PROVEN for x in rows)
            verdict = "; ".join(flags) if flags else ("ok" if proven >= 2 else "not both proven")
            check_text = verdict if is_spopt else ""
            if r.status in ("killed", "error") and r.message:
                said = " ".join(r.message.split()).replace("|", "\\|")[:200]
                check_text = (check_text + " " if check_text else "") + said
            # A plan's objective only: PuLP leaves values behind after an infeasible or
            # unsolved run, and those mean nothing.
            has_plan = r.status in ("optimal", "feasible")
            objective = r.evaluated if math.isfinite(r.evaluated) else r.objective
            objective = objective if has_plan else math.nan
            lines.append(
                f"| {case.label} | {case.layout} | {case.model} | {r.tool} | {r.status} "
                f"| {_objective(case.model, objective)}{_gap(r)} "
                f"| {_s(r.seconds.get('startup'))} "
                f"| {_s(r.seconds.get('build'))} | {_s(r.seconds.get('solve'))} "
                f"| {_s(r.seconds.get('total'))}{' (killed)' if r.status == 'killed' else ''} "
                f"| {_s(r.seconds.get('cpu'))} | {_mib(r.peak_kib)} | {_mib(r.model_kib)} "
                f"| {_ratio(r, base, 'total') if is_spopt else ''} "
                f"| {_ratio(r, base, 'cpu') if is_spopt else ''} "
                f"| {_memory_ratio(r, base) if is_spopt else ''} "
                f"| {_memory_ratio(r, base, 'model_kib') if is_spopt else ''} | {check_text} |"
            )
    lines += ["", "Objective: covered weight (mclp), open sites (lscp), Σ w·d in km (pmedian), "
              "largest distance (pcenter), each recomputed from the plan's open sites and the "
              "cost matrix.", ""]
    return "\n".join(lines)


def _better_or_equal(model: str, a: float, b: float) -> bool:
    """Is objective ``a`` at least as good as ``b``?"""
    if _same(a, b):
        return True
    return a > b if model in MAXIMISE else a < b


def same_answer_markdown(
    factor: float, short: list[tuple[Case, RunResult, RunResult, float]]
) -> str:
    """The table of the ``--same-answer`` runs: optiserv with 1/F of spopt's time."""
    lines = [
        f"Same answer in 1/{factor:g} of the time: where spopt proved nothing, optiserv ran "
        f"again with a solve limit of spopt's total / {factor:g} less optiserv's own build "
        "time; both plans are evaluated from the cost matrix. \"time ratio\" is spopt's total "
        "over this run's measured total (build included).",
        "",
        "| case | layout | model | spopt status | spopt objective | spopt total s "
        "| optiserv limit s | optiserv status | optiserv objective | optiserv total s "
        "| time ratio | optiserv plan vs spopt's |",
        "|---|---|---|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for case, spopt, run, limit in short:
        has_plan = spopt.status in ("optimal", "feasible") and math.isfinite(spopt.evaluated)
        ours = run.evaluated if math.isfinite(run.evaluated) else math.nan
        if run.status not in ("optimal", "feasible") or not math.isfinite(ours):
            verdict = f"no plan ({run.status})"
        elif not has_plan:
            verdict = "spopt has no plan"
        elif _better_or_equal(case.model, ours, spopt.evaluated):
            verdict = "as good" if _same(ours, spopt.evaluated) else "better"
        else:
            verdict = "**worse**"
        spopt_total, run_total = spopt.seconds.get("total"), run.seconds.get("total")
        ratio = "–"
        if spopt_total and run_total:
            mark = "≥ " if spopt.limited and spopt.status != "feasible" else ""
            ratio = f"{mark}{spopt_total / run_total:,.1f}×"
        lines.append(
            f"| {case.label} | {case.layout} | {case.model} | {spopt.status} "
            f"| {_objective(case.model, spopt.evaluated if has_plan else math.nan)} "
            f"| {_s(spopt_total)} | {limit:.2f} | {run.status} "
            f"| {_objective(case.model, ours)}{_gap(run)} | {_s(run_total)} | {ratio} "
            f"| {verdict} |"
        )
    return "\n".join([*lines, ""])


def short_run(case: Case, rows: list[RunResult], factor: float, data_path: Path,
              arrays: dict, workdir: Path, args: argparse.Namespace
              ) -> tuple[Case, RunResult, RunResult, float] | None:
    """optiserv again with 1/``factor`` of spopt's total time, when spopt proved nothing and
    optiserv's own run took longer than that."""
    base, spopt = rows[0], rows[-1]
    spopt_total = spopt.seconds.get("total")
    if spopt.status in PROVEN or not spopt_total:
        return None
    target = spopt_total / factor
    if base.status in ("optimal", "feasible") and base.seconds.get("total", math.inf) <= target:
        return case, spopt, base, target  # the main run already fits in the time
    limit = target - base.seconds.get("build", 0.0)
    if limit <= 0.05:
        return None
    short = argparse.Namespace(**{**vars(args), "time_limit": limit})
    print(f"… {case.label} {case.layout} {case.model} optiserv with {limit:.2f} s "
          f"(spopt's {spopt_total:.1f} s / {factor:g}) (load {_load()})",
          file=sys.stderr, flush=True)
    return case, spopt, run_one("optiserv", rows[0].tool.split("/")[-1], case, data_path,
                                arrays, workdir, short), limit


# ---------------------------------------------------------------------------------- main
def _command() -> str:
    return " ".join(shlex.quote(a) for a in ["python", "benchmarks/bench_spopt.py", *sys.argv[1:]])


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", action="append", choices=list(SIZES),
                        help="demand × sites (repeatable; default: all four)")
    parser.add_argument("--layout", action="append", choices=LAYOUTS,
                        help="uniform or villages (repeatable; default: both)")
    parser.add_argument("--model", action="append", choices=MODELS,
                        help="model (repeatable; default: all four)")
    parser.add_argument("--backend", action="append", choices=["highs", "cbc"],
                        help="optiserv backend (repeatable; default highs); spopt always uses CBC")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool and case (default 1)")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="solver seconds per run (default 300; 60 with --quick)")
    parser.add_argument("--threads", type=int, default=1, help="solver threads (default 1)")
    parser.add_argument("--kill-after", type=float, default=None,
                        help="kill a run after this many wall seconds (default 3 × limit + 300:"
                        " spopt's PuLP model building is not bounded by the time limit)")
    parser.add_argument("--memory-limit", type=float, default=10.0,
                        help="kill a run whose processes hold more GiB (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="instance seed (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="the two small sizes only (500×50, 2k×200)")
    parser.add_argument("--append", action="store_true", help=f"append the table to {RESULTS}")
    parser.add_argument("--same-answer", type=float, metavar="F", default=None,
                        help="where spopt proves nothing, run optiserv again with 1/F of "
                        "spopt's total time and compare the plans")
    parser.add_argument("--optiserv-worker", metavar="JOB", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.optiserv_worker:
        return optiserv_worker(args.optiserv_worker)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.time_limit is None:
        args.time_limit = 60.0 if args.quick else 300.0
    if args.kill_after is None:
        args.kill_after = 3 * args.time_limit + 300
    sizes = args.size or (list(QUICK_SIZES) if args.quick else list(SIZES))
    if args.quick:
        sizes = [s for s in sizes if s in QUICK_SIZES] or list(QUICK_SIZES)
    layouts, models = args.layout or list(LAYOUTS), args.model or list(MODELS)
    backends = args.backend or ["highs"]

    ensure_spopt_env()
    sys.path.insert(0, str(HERE))
    from bench_core import machine_info

    info = machine_info(_command())
    info["spopt"] = spopt_version()
    reported: list[tuple[Case, list[RunResult], list[str]]] = []
    shorts: list[tuple[Case, RunResult, RunResult, float]] = []
    ties: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-spopt-") as tmp:
        workdir = Path(tmp)
        for size in sizes:
            for layout in layouts:
                arrays = make_arrays(size, layout, args.seed)
                data_path = workdir / f"{size}-{layout}.npz"
                np.savez(data_path, **arrays)
                label = Case(size, layout, "mclp", args.seed).label
                ties[f"{label} {layout}"] = int(np.count_nonzero(arrays["cost"] == RADIUS))
                for model in models:
                    case = Case(size, layout, model, args.seed)
                    runs: dict[str, list[RunResult]] = {}
                    for repeat in range(args.repeat):
                        for tool, backend in [*(("optiserv", b) for b in backends),
                                              ("spopt", "cbc")]:
                            print(f"… {case.label} {layout} {model} {tool}"
                                  f"{'/' + backend if tool == 'optiserv' else ''} "
                                  f"run {repeat + 1}/{args.repeat} (load {_load()})",
                                  file=sys.stderr, flush=True)
                            result = run_one(tool, backend, case, data_path, arrays, workdir,
                                             args)
                            print(f"  {result.status} total {_s(result.seconds.get('total'))} s "
                                  f"peak {_mib(result.peak_kib)} MiB, model "
                                  f"{_mib(result.model_kib)} MiB {result.message[:200]}",
                                  file=sys.stderr, flush=True)
                            runs.setdefault(result.tool, []).append(result)
                    rows = [median_result(r) for r in runs.values()]
                    reported.append((case, rows, check(model, rows)))
                    if args.same_answer:
                        found = short_run(case, rows, args.same_answer, data_path, arrays,
                                          workdir, args)
                        if found is not None:
                            shorts.append(found)
                data_path.unlink()
    table = markdown(info, reported, args, _load(), ties)
    if shorts:
        assert args.same_answer is not None
        table += "\n" + same_answer_markdown(args.same_answer, shorts)
    print(table)
    mismatches = sum(1 for _, _, flags in reported if flags)
    if mismatches:
        print(f"!!! {mismatches} case(s) flagged: see the check column", file=sys.stderr)
    if args.append:
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write("\n" + table)
        print(f"appended to {RESULTS}", file=sys.stderr)
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
