"""Cold start: ``optiserv solve mclp`` on a tiny case as a fresh process, numba cache empty vs warm.

The last two rows time ``optiserv warmup`` into a fresh cache (the install step) and the first
solve after it.

Usage::

    .venv/bin/python benchmarks/bench_cold_start.py              # median of 3 each
    .venv/bin/python benchmarks/bench_cold_start.py --repeat 5
    .venv/bin/python benchmarks/bench_cold_start.py --append     # also append to RESULTS.md

Each repetition makes a fresh, empty numba cache folder (``NUMBA_CACHE_DIR``), runs the command
once with it empty (every kernel the run needs is compiled and written to the cache: "cold"),
then once more with the same folder ("warm": the kernels are loaded from the cache). The tiny
case (30 demand points, 6 sites, p = 2, radius 3 km, written as CSV files to a temporary
folder) makes the solve itself negligible, so the times are start-up: interpreter, imports,
CSV reading, kernel compilation or loading. Python's own bytecode cache and the operating
system's file cache are warm in both runs; only numba's cache differs. For reference, the
table also times a bare interpreter (``python -c pass``) and ``import optiserv.cli``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"


def _write_case(folder: Path) -> tuple[Path, Path]:
    rng = random.Random(0)
    demand = [(rng.uniform(0, 10_000), rng.uniform(0, 10_000)) for _ in range(30)]
    sites = [(rng.uniform(0, 10_000), rng.uniform(0, 10_000)) for _ in range(6)]
    weights = [rng.randint(1, 100) for _ in range(30)]
    demand_csv, sites_csv = folder / "demand.csv", folder / "sites.csv"
    rows = enumerate(zip(demand, weights, strict=True))
    demand_csv.write_text(
        "id,x,y,weight\n" + "".join(f"d{i},{x:.1f},{y:.1f},{w}\n" for i, ((x, y), w) in rows),
        encoding="utf-8",
    )
    sites_csv.write_text(
        "id,x,y\n" + "".join(f"s{j},{x:.1f},{y:.1f}\n" for j, (x, y) in enumerate(sites)),
        encoding="utf-8",
    )
    return demand_csv, sites_csv


def _run(command: list[str], env: dict[str, str]) -> dict[str, float | str]:
    """Run a fresh process; wall seconds, CPU seconds and peak resident memory from wait4."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdout is not None
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    if process.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} exited {process.returncode}")
    out: dict[str, float | str] = {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,
        "solve": float("nan"),
        "status": "",
    }
    if stdout.strip().startswith(b"{"):
        answer = json.loads(stdout)
        out["solve"] = float(answer["timings"]["total"])
        out["status"] = f"{answer['status']}, objective {answer['objective']:g}"
    return out


def _cache_files(folder: Path) -> int:
    return sum(1 for path in folder.rglob("*") if path.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="cold/warm pairs (default 3)")
    parser.add_argument("--append", action="store_true", help=f"append the table to {RESULTS}")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    # This process stays small (no numpy, no optiserv) until the runs are done: Linux carries
    # a forked child's resident size through exec into its ru_maxrss, so a big parent would
    # inflate every child's peak memory. The bare interpreter row shows what is left of that.
    load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    cli = Path(sys.executable).with_name("optiserv")
    fallback = [sys.executable, "-c", "from optiserv.cli import main; main()"]
    base = [str(cli)] if cli.exists() else fallback
    samples: dict[str, list[dict[str, float | str]]] = {}
    cache_files: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        folder = Path(tmp)
        demand_csv, sites_csv = _write_case(folder)
        solve = [*base, "solve", "mclp", "--demand", str(demand_csv), "--sites", str(sites_csv),
                 "--p", "2", "--radius", "3000", "--json"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
        for repeat in range(args.repeat):
            cache = folder / f"numba-cache-{repeat}"
            cache.mkdir()
            run_env = {**env, "NUMBA_CACHE_DIR": str(cache)}
            print(f"… repetition {repeat + 1}/{args.repeat}", file=sys.stderr, flush=True)
            samples.setdefault("python -c pass", []).append(
                _run([sys.executable, "-c", "pass"], run_env))
            samples.setdefault("import optiserv.cli", []).append(
                _run([sys.executable, "-c", "import optiserv.cli"], run_env))
            samples.setdefault("solve mclp, numba cache empty (cold)", []).append(
                _run(solve, run_env))
            cache_files.append(_cache_files(cache))
            samples.setdefault("solve mclp, numba cache warm", []).append(_run(solve, run_env))
            # what an install does: `optiserv warmup` into a fresh cache, then the first solve
            primed = folder / f"numba-cache-warmup-{repeat}"
            primed.mkdir()
            primed_env = {**env, "NUMBA_CACHE_DIR": str(primed)}
            samples.setdefault("optiserv warmup, numba cache empty (the install step)", []).append(
                _run([*base, "warmup", "--quiet"], primed_env))
            samples.setdefault("solve mclp, first run after optiserv warmup", []).append(
                _run(solve, primed_env))

    load_end = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    sys.path.insert(0, str(HERE))
    from bench_core import machine_info

    command_line = shlex.join(["python", "benchmarks/bench_cold_start.py", *sys.argv[1:]])
    info = machine_info(command_line)
    info["load average (1, 5, 15 min) at start"] = load_start
    lines = [f"## Cold start, {info['date']}", ""]
    for key, value in info.items():
        if key != "date":
            lines.append(f"- {key}: `{value}`" if key == "command" else f"- {key}: {value}")
    lines += [
        f"- load average (1, 5, 15 min) at end: {load_end}",
        f"- `{shlex.join(['optiserv', *solve[len(base):]])}` on 30 demand points, 6 sites "
        "(CSV files in a temporary folder); each repetition a fresh empty `NUMBA_CACHE_DIR`, "
        "first run cold, second run warm with the cache the first one wrote; then a second "
        "fresh cache filled by `optiserv warmup` (what `make` runs after installing) and the "
        "first solve after it "
        f"({', '.join(map(str, cache_files))} files in it); Python's bytecode cache and the "
        "OS file cache are warm throughout",
        f"- medians of {args.repeat} fresh processes each; wall = process start to exit; cpu = "
        "its user + system seconds; in solve = the `timings.total` the command reports (the "
        "model's `solve` call, kernel compilation or loading included)",
        "",
        "| what | wall s | cpu s | in solve s | peak MiB (ru_maxrss) | answer |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, runs in samples.items():
        def median(key: str, runs: list = runs) -> float:
            return statistics.median(float(r[key]) for r in runs)

        solve_s = median("solve")
        lines.append(
            f"| {label} | {median('wall'):.2f} | {median('cpu'):.2f} "
            f"| {'–' if solve_s != solve_s else f'{solve_s:.2f}'} | {median('peak_mib'):.0f} "
            f"| {runs[-1]['status']} |"
        )
    lines.append("")
    table = "\n".join(lines)
    print(table)
    if args.append:
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write("\n" + table)
        print(f"appended to {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
