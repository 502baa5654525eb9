"""Public contract kit: check any formulation the same way.

* :func:`brute_force_optimum` enumerates every admissible set of open sites on a small instance
  and evaluates each with the independent evaluator.
* :func:`assert_solution_feasible` recomputes a Solution's objective and feasibility from the
  instance alone and compares.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from optiserv.data import Instance
from optiserv.evaluate import Evaluation, evaluate
from optiserv.solution import Solution

__all__ = ["MAXIMISING_MODELS", "assert_solution_feasible", "brute_force_optimum"]

MAXIMISING_MODELS = frozenset({"mclp", "backup"})
"""Models whose objective is maximised; every other model minimises."""

_SUBSET_LIMIT = 1 << 16


def _admissible_sets(instance: Instance, p: int | None) -> itertools.chain[tuple[int, ...]]:
    fixed = tuple(np.flatnonzero(instance.sites.fixed).tolist())
    free = np.flatnonzero(instance.sites.candidate).tolist()
    if p is None:
        sizes = range(0, len(free) + 1)
    else:
        sizes = range(p - len(fixed), p - len(fixed) + 1) if p >= len(fixed) else range(0)
    return itertools.chain.from_iterable(
        (fixed + extra for extra in itertools.combinations(free, size)) for size in sizes
    )


def brute_force_optimum(instance: Instance, model: Any) -> tuple[float, tuple[int, ...] | None]:
    """The best objective over every admissible set of open sites, and one set that reaches it.

    Returns ``(nan, None)`` when no set is feasible. Only for small instances: raises
    ``ValueError`` beyond 65,536 sets.
    """
    p = model.get_params().get("p")
    free = int(instance.sites.candidate.sum())
    if (p is None and 2**free > _SUBSET_LIMIT) or (
        p is not None
        and math.comb(free, max(p - int(instance.sites.fixed.sum()), 0)) > _SUBSET_LIMIT
    ):
        raise ValueError("brute force is only for small instances")
    maximise = model.name in MAXIMISING_MODELS
    best_value, best_set = math.nan, None
    for sites in _admissible_sets(instance, p):
        result = evaluate(instance, np.asarray(sites, dtype=np.int64), model)
        if not result.feasible:
            continue
        better = (
            best_set is None
            or (maximise and result.objective > best_value + 1e-9)
            or (not maximise and result.objective < best_value - 1e-9)
        )
        if better:
            best_value, best_set = result.objective, sites
    return best_value, best_set


def assert_solution_feasible(
    solution: Solution, instance: Instance, model: Any, *, tolerance: float = 1e-6
) -> Evaluation:
    """Recompute ``solution`` with the evaluator; assert feasibility and the same objective.

    Also checks the bound is on the right side of the objective and that an OPTIMAL status has
    a gap within the solver's tolerance.
    """
    assignment = solution.assignment if model.get_params().get("single_sourcing") else None
    result = evaluate(instance, solution.open_sites, model, assignment=assignment)
    assert result.feasible, f"{model!r}: infeasible plan: {result.violations}"
    scale = max(1.0, abs(result.objective))
    assert abs(result.objective - solution.objective) <= tolerance * scale, (
        f"{model!r}: solver objective {solution.objective} != evaluator {result.objective}"
    )
    maximise = model.name in MAXIMISING_MODELS
    if math.isfinite(solution.bound):
        if maximise:
            assert solution.bound >= solution.objective - tolerance * scale
        else:
            assert solution.bound <= solution.objective + tolerance * scale
    return result
