"""Budget frontier: coverage per service as a budget sweeps from zero to full coverage."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd

from optiserv.data.services import BundleInstance, BundlePlan
from optiserv.exceptions import ParameterError
from optiserv.formulations.bundle import ServiceBundle
from optiserv.solvers import Backend, SolveOptions

__all__ = ["budget_frontier", "full_coverage_budget"]


def full_coverage_budget(
    bundle: BundleInstance,
    model: ServiceBundle,
    *,
    budget: Literal["one_off", "annual"] = "one_off",
    backend: str | Backend = "highs",
    options: SolveOptions | None = None,
) -> tuple[float, BundlePlan | None]:
    """The net budget of the cheapest plan that reaches the most coverage possible within r_s
    (the swept budget unlimited, every other rule kept), and that plan."""
    key = f"budget_{budget}"
    cheapest = model.with_params(objective="lexicographic", then="cost", **{key: math.inf}).solve(
        bundle, backend=backend, options=options
    )
    if not cheapest.status.has_solution:
        return math.nan, None
    return float(cheapest.costs[f"{budget}_net"]), cheapest.plan


def budget_frontier(
    bundle: BundleInstance,
    model: ServiceBundle,
    *,
    budget: Literal["one_off", "annual"] = "one_off",
    budgets: np.ndarray | list[float] | None = None,
    steps: int = 8,
    backend: str | Backend = "highs",
    options: SolveOptions | None = None,
) -> pd.DataFrame:
    """Solve the coverage objective at a sweep of budgets, each warm-started from the last.

    Parameters
    ----------
    bundle
        The instance.
    model
        The model whose other rules (targets, rules, max new points, …) apply at every step;
        its objective is replaced by ``"coverage"``.
    budget
        Which budget to sweep (net of grants): ``"one_off"`` or ``"annual"``.
    budgets
        The budgets to solve at; by default ``steps`` values evenly from 0 to
        :func:`full_coverage_budget`.
    steps
        Number of budgets when ``budgets`` is not given.
    backend, options
        As for :meth:`ServiceBundle.solve`; the time limit applies to each step.

    Returns
    -------
    DataFrame
        One row per budget: ``budget``, ``status``, ``objective``, ``bound``, ``gap`` (each
        point exact or with its gap), ``one_off_net``, ``annual_net``, ``new_points``, and per
        service ``share:<service>`` (covered share within r_s).
    """
    if budget not in ("one_off", "annual"):
        raise ParameterError(
            f"budget_frontier: budget must be 'one_off' or 'annual', got {budget!r}"
        )
    if budgets is None:
        top, _ = full_coverage_budget(
            bundle, model, budget=budget, backend=backend, options=options
        )
        if not math.isfinite(top):
            top = 0.0
        budgets = np.linspace(0.0, top, max(int(steps), 2))
    values = np.sort(np.asarray(budgets, dtype=np.float64))
    if values.size and values[0] < 0:
        raise ParameterError("budget_frontier: budgets must be non-negative")
    coverage = model.with_params(objective="coverage")
    prepared = coverage.prepare(bundle)
    key = f"budget_{budget}"
    previous: BundlePlan | None = None
    rows = []
    for value in values:
        step = coverage.with_params(**{key: float(value)})
        solution = step.solve(
            bundle, backend=backend, options=options, initial=previous, prepared=prepared
        )
        row: dict[str, object] = {
            "budget": float(value),
            "status": solution.status.value,
            "objective": solution.objective,
            "bound": solution.bound,
            "gap": solution.gap,
            "one_off_net": solution.costs.get("one_off_net", math.nan),
            "annual_net": solution.costs.get("annual_net", math.nan),
            "new_points": int(solution.new_points.size),
        }
        for name, stats in solution.service_coverage.items():
            row[f"share:{name}"] = stats["share"]
        rows.append(row)
        if solution.plan is not None:
            previous = solution.plan  # feasible at every larger budget
    return pd.DataFrame(rows)
