"""LSCP and p-center before and after the set-covering engine, side by side in one run.

Usage::

    .venv/bin/python benchmarks/bench_set_cover.py                      # every case, 120 s each
    .venv/bin/python benchmarks/bench_set_cover.py --size 10000x500 --seed 0 --time-limit 60
    .venv/bin/python benchmarks/bench_set_cover.py --model pcenter --layout villages --append
    .venv/bin/python benchmarks/bench_set_cover.py --layout sweden --model lscp --before REV

Instances are :func:`bench_spopt.make_arrays` (100 km square, radius 10 km, p = 5 % of the
sites, integer weights). "before" is the committed package (``git archive REV optiserv``, REV =
``--before``, default HEAD, unpacked into a temporary directory), "after" a copy of the working
tree's package taken at the start; each run is a fresh process with that tree first on
``PYTHONPATH``, the two alternate for every case, and numba kernels are warmed up on a tiny
instance before the clock starts. Objectives are recomputed from the cost matrix
(:func:`bench_spopt.evaluate`). ``--append`` adds the table after this file's earlier sections
of benchmarks/RESULTS.md ("Set covering and p-center, <date>"), or at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
SECTION = "## Set covering and p-center"
MODELS = ("lscp", "pcenter")
VARIANTS = ("before", "after")
P_SHARE = 0.05


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# ---------------------------------------------------------------------------------- worker
def worker(job_path: str) -> int:
    """One run in this fresh process, with the chosen optiserv first on PYTHONPATH."""
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    out: dict[str, object] = {}
    try:
        import optiserv
        from optiserv.data import Instance
        from optiserv.formulations import PCenter, SetCovering
        from optiserv.solvers import SolveOptions

        out["optiserv"] = str(Path(optiserv.__file__).resolve().parent)

        def model(p: int) -> object:
            if job["model"] == "lscp":
                return SetCovering(radius=job["radius"])
            return PCenter(p=p)

        rng = np.random.default_rng(1)
        tiny_d, tiny_s = rng.uniform(0, 10, (30, 2)), rng.uniform(0, 10, (8, 2))
        tiny = Instance.from_arrays(
            tiny_d, tiny_s,
            costs=np.sqrt(((tiny_d[:, None, :] - tiny_s[None, :, :]) ** 2).sum(axis=2)),
        )
        for radius_or_p in (2, 3):  # warm numba (cache or compile) before the clock starts
            model(radius_or_p).solve(tiny)  # type: ignore[attr-defined]
        data = np.load(job["data"])
        costs = np.ascontiguousarray(data["cost"]) if "cost" in data else None
        instance = Instance.from_arrays(
            data["demand"], data["sites"], weights=data["weights"], costs=costs,
            crs=None if costs is not None else "EPSG:3006",
        )
        before = os.times()
        started = time.perf_counter()
        solution = model(job["p"]).solve(  # type: ignore[attr-defined]
            instance, options=SolveOptions(time_limit=job["time_limit"])
        )
        out["wall"] = time.perf_counter() - started
        after = os.times()
        out["cpu"] = (after.user + after.system) - (before.user + before.system)
        out["status"] = solution.status.value
        out["objective"] = float(solution.objective)
        out["bound"] = float(solution.bound)
        out["open_sites"] = [int(j) for j in solution.open_sites]
        out["message"] = solution.message
        keep = ("rows_after_reduction", "sites_after_reduction", "lagrangian_bound",
                "heuristic_objective", "solver_status", "tests_decided_by")
        out["details"] = {k: solution.details[k] for k in keep if k in solution.details}
    except Exception:
        out["status"] = "error"
        out["message"] = traceback.format_exc().strip().splitlines()[-1]
    Path(job["result"]).write_text(json.dumps(out), encoding="utf-8")
    return 0


# ---------------------------------------------------------------------------------- parent
def _committed_tree(directory: Path, revision: str) -> Path:
    """``git archive <revision> optiserv`` unpacked into ``directory`` (read-only on the
    repo)."""
    archive = directory / "head.tar"
    with archive.open("wb") as handle:
        subprocess.run(["git", "archive", revision, "optiserv"], cwd=ROOT, stdout=handle,
                       check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(directory / "before", filter="data")
    return directory / "before"


def _run(job: dict[str, object], tree: Path, directory: Path, timeout: float) -> dict:
    job_path = directory / "job.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    try:
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(job_path)],
            env=environment, cwd=directory, timeout=timeout, check=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return json.loads(Path(str(job["result"])).read_text(encoding="utf-8"))
    except (subprocess.TimeoutExpired, FileNotFoundError, json.JSONDecodeError) as error:
        return {"status": "killed", "message": type(error).__name__}


def _cell(run: dict, model: str, arrays: dict, p: int) -> dict:
    from bench_spopt import RADIUS, evaluate

    if "open_sites" not in run:
        return {**run, "value": math.nan, "problem": run.get("message", "")}
    if "cost" in arrays:
        value, problem = evaluate(model, arrays["cost"], arrays["weights"], run["open_sites"], p)
        return {**run, "value": value, "problem": problem}
    # national LSCP: no dense matrix (277,000 × 20,000); the nearest open site by KD-tree
    from scipy.spatial import cKDTree

    chosen = np.unique(np.asarray(run["open_sites"], dtype=np.int64))
    distance, _ = cKDTree(arrays["sites"][chosen]).query(arrays["demand"], k=1)
    uncovered = int((distance > RADIUS).sum())
    return {**run, "value": float(chosen.size),
            "problem": f"{uncovered} demand points uncovered" if uncovered else ""}


def national_arrays(n_sites: int, radius: float) -> dict[str, np.ndarray]:
    """The national grid of :mod:`bench_national_bundle` (250 m cells spread from SCB
    localities and postal places, ``n_sites`` candidate sites), keeping the cells with a
    site within ``radius`` so that the LSCP is feasible; people per cell as weights."""
    from bench_national_bundle import SHARED_DATA
    from scipy.spatial import cKDTree

    from optiserv.datasets.sweden.grid import GridRules, spread_population_from_raw
    from optiserv.datasets.sweden.grid_sites import grid_sites_from_raw
    from optiserv.datasets.sweden.raw import read_raw_data

    raw = read_raw_data(SHARED_DATA)
    grid = spread_population_from_raw(raw, GridRules(cell_size=250.0, seed=0))
    sites = grid_sites_from_raw(raw, grid, n_sites=n_sites, seed=0)
    demand = np.column_stack([grid.x, grid.y])
    site_xy = np.column_stack([sites.x, sites.y])
    distance, _ = cKDTree(site_xy).query(demand, k=1)
    keep = distance <= radius
    return {"demand": demand[keep], "sites": site_xy,
            "weights": grid.population[keep].astype(np.float64)}


def _format(model: str, value: float) -> str:
    if not math.isfinite(value):
        return "–"
    return f"{value / 1000:,.3f} km" if model == "pcenter" else f"{value:g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", action="append", choices=("10000x500", "20000x1000",
                                                             "2000x200", "500x50"))
    parser.add_argument("--layout", action="append", choices=("uniform", "villages", "sweden"),
                        help="sweden: the national 250 m grid with 20,000 sites (LSCP only; "
                        "--size and --seed do not apply)")
    parser.add_argument("--seed", action="append", type=int)
    parser.add_argument("--model", action="append", choices=MODELS)
    parser.add_argument("--variant", action="append", choices=VARIANTS)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--append", action="store_true")
    parser.add_argument("--before", default="HEAD",
                        help="the git revision whose package is 'before' (default HEAD)")
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    sys.path.insert(0, str(HERE))
    from bench_core import machine_info
    from bench_spopt import RADIUS, make_arrays

    command = "benchmarks/bench_set_cover.py " + shlex.join(
        argv if argv is not None else sys.argv[1:])
    info = machine_info(command)
    sizes = args.size or ["10000x500", "20000x1000"]
    layouts = args.layout or ["uniform", "villages"]
    seeds = args.seed or [0, 1]
    models = args.model or list(MODELS)
    variants = args.variant or list(VARIANTS)
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-set-cover-") as temporary:
        directory = Path(temporary)
        after = directory / "after"
        shutil.copytree(ROOT / "optiserv", after / "optiserv",
                        ignore=shutil.ignore_patterns("__pycache__"))
        trees = {"before": _committed_tree(directory, args.before), "after": after}
        cases = [(size, layout, seed) for size in sizes for layout in layouts
                 for seed in seeds if layout != "sweden"]
        if "sweden" in layouts:
            cases.append(("national", "sweden", 0))
        for size, layout, seed in cases:
            if layout == "sweden":
                arrays = national_arrays(20_000, RADIUS)
                size = f"{arrays['demand'].shape[0] // 1000}k×{arrays['sites'].shape[0]}"
            else:
                arrays = make_arrays(size, layout, seed)
            data = directory / "data.npz"
            np.savez(data, **arrays)
            p = max(1, round(P_SHARE * arrays["sites"].shape[0]))
            for model in models:
                if layout == "sweden" and model != "lscp":
                    continue
                cells = {}
                for variant in variants:
                    job = {"data": str(data), "model": model, "radius": RADIUS, "p": p,
                           "time_limit": args.time_limit,
                           "result": str(directory / "result.json")}
                    Path(str(job["result"])).unlink(missing_ok=True)
                    load = _load()
                    run = _run(job, trees[variant], directory, args.time_limit * 3 + 300)
                    cells[variant] = _cell(run, model, arrays, p)
                    cells[variant]["load"] = load
                    shown = {k: v for k, v in cells[variant].items() if k != "open_sites"}
                    print(f"{size} {layout} s{seed} {model} {variant}: "
                          f"{json.dumps(shown)}", file=sys.stderr, flush=True)
                rows.append(_row(size, layout, seed, model, cells, variants))
    table = _markdown(info, args, rows, variants)
    print(table)
    if args.append:
        _append(table)
    return 0


def _row(size: str, layout: str, seed: int, model: str, cells: dict, variants: list[str]) -> str:
    parts = [size, layout, str(seed), model]
    for variant in variants:
        run = cells[variant]
        bound = run.get("bound", math.nan)
        parts += [
            run.get("status", "?") + (f" ({run['problem']})" if run.get("problem") else ""),
            _format(model, run.get("value", math.nan)),
            _format(model, bound if isinstance(bound, float) else math.nan),
            f"{run['wall']:.1f}" if "wall" in run else "–",
            f"{run['cpu']:.1f}" if "cpu" in run else "–",
            run["load"].split(",")[0],
        ]
    if len(variants) == 2 and all("cpu" in cells[v] for v in variants):
        parts.append(f"{cells['before']['cpu'] / max(cells['after']['cpu'], 1e-3):,.1f}×")
    elif len(variants) == 2:
        parts.append("–")
    return "| " + " | ".join(parts) + " |"


def _markdown(info: dict[str, str], args: argparse.Namespace, rows: list[str],
              variants: list[str]) -> str:
    lines = [f"{SECTION}, {info['date']}", ""]
    for key, value in info.items():
        if key != "date":
            lines.append(f"- {key}: `{value}`" if key == "command" else f"- {key}: {value}")
    lines += [
        f"- load average (1, 5, 15 min) at end: {_load()}",
        f"- time limit per run: {args.time_limit:g} s (SolveOptions.time_limit, whole solve); "
        f"each run a fresh process; before = `git archive {args.before} optiserv` (commit "
        f"{_revision(args.before)}), after = a copy of the working tree's package",
        "- objective recomputed from the cost matrix: open sites (lscp), largest distance "
        "(pcenter); bound as reported; wall and CPU seconds of `solve` only; load = 1-min load "
        "average when the run started",
        "",
    ]
    header = ["size", "layout", "seed", "model"]
    for variant in variants:
        header += [f"{variant} status", f"{variant} objective", f"{variant} bound",
                   f"{variant} wall s", f"{variant} CPU s", f"{variant} load"]
    if len(variants) == 2:
        header.append("CPU ratio before/after")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += rows
    return "\n".join(lines) + "\n"


def _revision(revision: str) -> str:
    done = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or revision


def _append(table: str) -> None:
    """Add the table after this benchmark's last section of RESULTS.md (or at the end),
    keeping the earlier ones."""
    text = RESULTS.read_text(encoding="utf-8")
    start = text.rfind(SECTION)
    if start >= 0:
        following = text.find("\n## ", start + len(SECTION))
        end = len(text) if following < 0 else following + 1
        text = text[:end].rstrip("\n") + "\n\n" + table.rstrip("\n") + "\n\n" + text[end:]
    else:
        text = text.rstrip("\n") + "\n\n" + table
    RESULTS.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
