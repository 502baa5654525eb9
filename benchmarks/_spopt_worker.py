"""One spopt run, in a fresh process of the separate spopt environment (benchmarks/.spopt-venv).

Started by ``benchmarks/bench_spopt.py`` as::

    benchmarks/.spopt-venv/bin/python benchmarks/_spopt_worker.py JOB.json

``JOB.json`` names the instance (an ``.npz`` with the dense cost matrix in metres and the
weights), the model (mclp, lscp, pmedian, pcenter), radius, p, the CBC time limit and threads,
and the file to write the result to (JSON). This file imports nothing from optiserv: it runs
beside it, not with it.

Phases, each timed on its own:

- ``startup``: importing spopt and PuLP, loading the instance, and one untimed solve of the same
  model on a tiny instance (the optiserv worker does the same, so both are warm);
- ``build``: ``<Model>.from_cost_matrix(...)`` — the PuLP model from the dense matrix;
- ``solve``: ``model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=..., threads=...))`` with
  spopt's default ``results=True`` (it also fills its client/facility look-ups, as a user's
  call would). PuLP writes the model to a file and runs CBC as a child process.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def status_kib(key: str) -> int:
    """A memory line of /proc/self/status in KiB: ``VmHWM`` (peak resident memory) or
    ``VmRSS`` (resident now).

    Not ``ru_maxrss``: Linux carries a forked child's resident size at ``exec`` into the
    new program's ``ru_maxrss``, so a worker started from a big parent would inherit it.
    """
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def model_memory_start(job: dict) -> dict[str, object]:
    """Mark the start of the model's memory, just before the build (after imports, the
    loaded instance and the warm-up). Both workers call this; the optiserv worker imports it
    from here, as this file needs nothing beyond the standard library.

    The resident size now (the base) and the peak so far are recorded, the peak (VmHWM) is
    reset to the resident size (``5`` to /proc/self/clear_refs, Linux ≥ 4.0), and the job's
    marker file tells the parent to sample the worker's and CBC's resident memory for the
    model's peak from now on."""
    out: dict[str, object] = {
        "startup_hwm_kib": status_kib("VmHWM"),
        "model_base_kib": status_kib("VmRSS"),
    }
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        out["peak_reset"] = True
    except OSError:  # without the reset, VmHWM after the solve is the whole run's peak
        out["peak_reset"] = False
    with open(job["model_marker"], "w", encoding="ascii"):
        pass  # the parent samples the children (CBC) from now on
    return out


def _status(problem) -> str:
    """Map PuLP's status and solution status to optiserv's vocabulary.

    PuLP reports ``status == 1`` ("Optimal") also when CBC stopped at its time limit with an
    integer solution; ``sol_status`` tells the two apart (1 optimal, 2 integer feasible).
    """
    import pulp

    if problem.sol_status == pulp.LpSolutionOptimal:
        return "optimal"
    if problem.sol_status == pulp.LpSolutionIntegerFeasible:
        return "feasible"
    if problem.status == pulp.LpStatusInfeasible or problem.sol_status == pulp.LpSolutionInfeasible:
        return "infeasible"
    if problem.status == pulp.LpStatusUnbounded or problem.sol_status == pulp.LpSolutionUnbounded:
        return "unbounded"
    return "no_solution"


def _build(model: str, spopt_locate, cost, weights, radius: float, p: int):
    if model == "mclp":
        return spopt_locate.MCLP.from_cost_matrix(
            cost, weights, service_radius=radius, p_facilities=p
        )
    if model == "lscp":
        return spopt_locate.LSCP.from_cost_matrix(cost, service_radius=radius)
    if model == "pmedian":
        return spopt_locate.PMedian.from_cost_matrix(cost, weights, p_facilities=p)
    if model == "pcenter":
        return spopt_locate.PCenter.from_cost_matrix(cost, p_facilities=p)
    raise ValueError(f"unknown model {model!r}")


def _warm_up(model: str, spopt_locate, pulp, np) -> None:
    rng = np.random.default_rng(1)
    demand, sites = rng.uniform(0, 10, (20, 2)), rng.uniform(0, 10, (5, 2))
    cost = np.sqrt(((demand[:, None, :] - sites[None, :, :]) ** 2).sum(axis=2))
    built = _build(model, spopt_locate, cost, np.ones(20), 100.0, 2)
    with contextlib.suppress(RuntimeError):  # spopt raises unless PuLP reports "Optimal"
        built.solve(pulp.PULP_CBC_CMD(msg=False))


def main() -> int:
    started = time.perf_counter()
    with open(sys.argv[1], encoding="utf-8") as handle:
        job = json.load(handle)
    out: dict[str, object] = {"tool": "spopt"}
    try:
        import numpy as np
        import pulp
        import spopt
        import spopt.locate as spopt_locate

        data = np.load(job["data"])
        cost = np.ascontiguousarray(data["cost"])
        weights = np.ascontiguousarray(data["weights"])
        _warm_up(job["model"], spopt_locate, pulp, np)
        out["startup"] = time.perf_counter() - started
        out["version"] = f"spopt {spopt.__version__}, PuLP {pulp.__version__}"

        out.update(model_memory_start(job))
        cpu0 = _cpu()
        t0 = time.perf_counter()
        built = _build(job["model"], spopt_locate, cost, weights, job["radius"], job["p"])
        t1 = time.perf_counter()
        # What is known so far, for the parent should it have to kill this run in the solve.
        with open(job["result"], "w", encoding="utf-8") as handle:
            json.dump({**out, "build": t1 - t0, "status": "solving"}, handle)
        solver = pulp.PULP_CBC_CMD(
            msg=False, timeLimit=job["time_limit"], threads=job["threads"]
        )
        message = ""
        try:
            built.solve(solver)
        except RuntimeError as error:  # spopt's check_status: anything but PuLP status 1
            message = str(error)
        t2 = time.perf_counter()
        out["cpu"] = _cpu() - cpu0
        out["model_hwm_kib"] = status_kib("VmHWM")
        out["build"], out["solve"], out["total"] = t1 - t0, t2 - t1, t2 - t0
        problem = built.problem
        out["status"] = _status(problem)
        out["message"] = message
        objective = pulp.value(problem.objective)
        out["objective"] = None if objective is None else float(objective)
        out["open_sites"] = [
            j for j, var in enumerate(built.fac_vars)
            if var.value() is not None and var.value() > 0.5
        ]
    except Exception:
        out["status"] = "error"
        out["traceback"] = traceback.format_exc()
        out["message"] = out["traceback"].strip().splitlines()[-1]
    # the peak was reset before the build: the whole run's peak is the larger of the two
    out["hwm_kib"] = max(int(out.get("startup_hwm_kib", 0)), status_kib("VmHWM"))
    with open(job["result"], "w", encoding="utf-8") as handle:
        json.dump(out, handle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
