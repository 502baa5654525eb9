"""p-median at 10,000×500 and 20,000×1,000: the committed code ("before") against the working
tree ("after"), side by side, every run a fresh process.

Usage::

    .venv/bin/python benchmarks/bench_pmedian_large.py                     # all five cases
    .venv/bin/python benchmarks/bench_pmedian_large.py --case 10000x500/uniform/0 --only after
    .venv/bin/python benchmarks/bench_pmedian_large.py --time-limit 120 --append
    .venv/bin/python benchmarks/bench_pmedian_large.py --before 879e0bb --threads 1 --repeat 3

Instances are the head-to-head ones (:func:`bench_spopt.make_arrays`: 100 km square, integer
weights 1–100, dense Euclidean costs in metres, p = 5 % of the sites rounded up). "before" is
``git archive REV optiserv`` (REV = ``--before``, default HEAD) unpacked into a temporary
folder (kept between runs so that its numba cache survives) and put first on ``PYTHONPATH``;
"after" is this checkout. The two alternate per case, ``--repeat`` times, and a second table
gives the medians. ``--threads`` is ``SolveOptions.threads`` for both (the solver's threads,
and in versions that have them the parallel kernels'). Each worker first solves a tiny
instance (numba compilation or cache loading, untimed), then times ``Instance.from_arrays``
+ ``PMedian(p).solve`` with HiGHS.

Printed per run: status, objective (and whether the plan's cost recomputed from the dense
cost matrix matches it; the script exits 1 when it does not), bound, gap, wall-clock and CPU
seconds (user + system of the worker and its children), the peak resident memory of the
timed part (VmHWM after a reset just before it; Linux), what closed or stopped the search,
and the 1-minute load average just before the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

CASES = (
    "10000x500/uniform/0",
    "10000x500/uniform/1",
    "10000x500/villages/0",
    "10000x500/villages/1",
    "20000x1000/uniform/0",
    "20000x1000/villages/0",
)
BEFORE_FOLDER = Path(tempfile.gettempdir()) / "optiserv-pmedian-before"


def _proc_status_kib(key: str) -> int:
    """A memory line of /proc/self/status (``VmRSS``, ``VmHWM``) in KiB; 0 if absent."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reset_peak() -> None:
    """Reset the process's VmHWM to its current resident size (Linux ≥ 4.0; else no-op)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def worker(case: str, time_limit: float, threads: int | None) -> dict[str, object]:
    """Solve one case in this process and return what the table needs."""
    from bench_spopt import make_arrays

    from optiserv.data import Instance
    from optiserv.formulations.p_median import PMedian
    from optiserv.solvers import SolveOptions

    size, layout, seed = case.split("/")
    rng = np.random.default_rng(1)
    tiny_demand, tiny_sites = rng.uniform(0, 10, (30, 2)), rng.uniform(0, 10, (8, 2))
    tiny_cost = np.sqrt(((tiny_demand[:, None, :] - tiny_sites[None, :, :]) ** 2).sum(axis=2))
    tiny = Instance.from_arrays(tiny_demand, tiny_sites, weights=np.ones(30), costs=tiny_cost)
    PMedian(p=3).solve(tiny, backend="highs")
    arrays = make_arrays(size, layout, int(seed))
    cost = np.ascontiguousarray(arrays["cost"])
    cost.flags.writeable = False
    p = math.ceil(0.05 * arrays["sites"].shape[0])
    _reset_peak()
    cpu0, wall0 = _cpu(), time.perf_counter()
    instance = Instance.from_arrays(
        arrays["demand"], arrays["sites"], weights=arrays["weights"], costs=cost
    )
    solution = PMedian(p=p).solve(
        instance, backend="highs", options=SolveOptions(time_limit=time_limit, threads=threads)
    )
    wall, cpu = time.perf_counter() - wall0, _cpu() - cpu0
    open_sites = np.asarray(solution.open_sites, dtype=np.int64)
    recomputed = float((arrays["weights"] * cost[:, open_sites].min(axis=1)).sum())
    details = solution.details
    closed_by = "bound" if solution.status.value == "optimal" else "none (time)"
    if "tree_nodes" in details:
        closed_by = f"tree {details['tree_nodes']}"
    elif solution.timings.get("solve", 0.0) > 0.0:
        closed_by = "mip"
    return {
        "case": case,
        "p": p,
        "status": solution.status.value,
        "objective": float(solution.objective),
        "recomputed": recomputed,
        "open": int(open_sites.size),
        "bound": float(solution.bound),
        "gap": float(solution.gap),
        "wall": wall,
        "cpu": cpu,
        "peak_mib": _proc_status_kib("VmHWM") / 1024.0,
        "closed_by": closed_by,
        "phases": {key: float(value) for key, value in solution.timings.items()},
        "message": solution.message,
    }


def _before_folder(revision: str) -> Path:
    """``git archive REV optiserv`` unpacked once (reading git only; no state is changed)."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", revision],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    folder = BEFORE_FOLDER / commit
    if not (folder / "optiserv" / "__init__.py").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, "optiserv"],
            capture_output=True, check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def _run(
    case: str, version: str, time_limit: float, before: Path, threads: int | None
) -> dict[str, object]:
    """One case in a fresh process, with the version's optiserv first on the import path."""
    source = before if version == "before" else ROOT
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(source), str(HERE), environment.get("PYTHONPATH", "")]
    )
    load = os.getloadavg()[0]
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", case,
               "--time-limit", str(time_limit)]
    if threads is not None:
        command += ["--threads", str(threads)]
    completed = subprocess.run(
        command, capture_output=True, text=True, env=environment, cwd=str(source),
        timeout=time_limit * 3 + 900,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        return {"case": case, "version": version, "status": "error", "load": load,
                "message": (completed.stderr.strip().splitlines() or ["?"])[-1]}
    result = json.loads(lines[-1])
    result.update(version=version, load=load)
    return result


def _number(value: object, digits: int = 0) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return f"{value:,.{digits}f}"


def _row(result: dict[str, object]) -> str:
    if result["status"] == "error":
        return (f"| {result['case']} | {result['version']} | error | – | – | – | – | – | – | – "
                f"| – | {result['load']:.2f} | {result['message']} |")
    matches = abs(result["recomputed"] - result["objective"]) <= 1e-6 * max(
        1.0, abs(result["objective"])
    ) and result["open"] == result["p"]
    return (
        f"| {result['case']} | {result['version']} | {result['status']} "
        f"| {_number(result['objective'])} | {'yes' if matches else 'NO'} "
        f"| {_number(result['bound'])} | {result['gap']:.3%} | {result['wall']:.1f} "
        f"| {result['cpu']:.1f} | {result['peak_mib']:.0f} | {result['closed_by']} "
        f"| {result['load']:.2f} | {result['message']} |"
    )


def _medians(results: dict[tuple[str, str], list[dict[str, object]]]) -> list[str]:
    """Per case and version: the median wall-clock, CPU and peak memory of its runs."""
    lines = ["| case | version | runs | median wall s | median cpu s | median peak MiB |",
             "|---|---|---:|---:|---:|---:|"]
    for (case, version), runs in results.items():
        done = [run for run in runs if run["status"] != "error"]
        if not done:
            continue
        median = {key: float(np.median([float(run[key]) for run in done]))  # type: ignore[arg-type]
                  for key in ("wall", "cpu", "peak_mib")}
        lines.append(f"| {case} | {version} | {len(done)} | {median['wall']:.2f} "
                     f"| {median['cpu']:.2f} | {median['peak_mib']:.0f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=CASES,
                        help="size/layout/seed (repeatable; default: all)")
    parser.add_argument("--only", choices=("before", "after"), help="run one version only")
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--append", action="store_true",
                        help="append the table to benchmarks/RESULTS.md")
    parser.add_argument("--before", default="HEAD", help="commit of 'before' (default HEAD)")
    parser.add_argument("--threads", type=int, default=None,
                        help="SolveOptions.threads for both versions (default: not set)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case and version")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.worker:
        print(json.dumps(worker(arguments.worker, arguments.time_limit, arguments.threads)),
              flush=True)
        return 0

    from bench_core import machine_info

    command = "python benchmarks/bench_pmedian_large.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    info = machine_info(command.strip())
    versions = ("before", "after") if arguments.only is None else (arguments.only,)
    before = _before_folder(arguments.before) if "before" in versions else ROOT
    header = (
        "| case | version | status | objective | recomputed | bound | gap | wall s | cpu s "
        "| peak MiB | closed by | load | message |\n"
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|---|---:|---|"
    )
    lines = [f"- {key}: {value}" for key, value in info.items()]
    threads = "not set" if arguments.threads is None else str(arguments.threads)
    lines += [f"- limit per run: {arguments.time_limit:g} s (the whole `solve` call)",
              f"- before: {before.name if 'before' in versions else '–'}; "
              f"SolveOptions.threads: {threads}; runs per case and version: {arguments.repeat}",
              "", header]
    print("\n".join(lines), flush=True)
    failed = False
    results: dict[tuple[str, str], list[dict[str, object]]] = {}
    for case in arguments.case or CASES:
        for _ in range(arguments.repeat):
            for version in versions:
                result = _run(case, version, arguments.time_limit, before, arguments.threads)
                row = _row(result)
                failed |= "| NO |" in row or result["status"] == "error"
                lines.append(row)
                print(row, flush=True)
                results.setdefault((case, version), []).append(result)
    lines += ["", *_medians(results)]
    print("\n".join(_medians(results)), flush=True)
    load_end = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines += ["", f"- load average (1, 5, 15 min) at end: {load_end}"]
    if arguments.append:
        with (HERE / "RESULTS.md").open("a", encoding="utf-8") as handle:
            handle.write("\n## p-median at 10k–20k points, " + info["date"] + "\n\n")
            handle.write("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
