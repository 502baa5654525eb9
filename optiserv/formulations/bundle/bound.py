"""The Lagrangian bound of the combined service point model, from a prepared bundle.

:func:`bound_problem` packs the same rows, units, costs, grants, limits, rules, targets and
equity shares as :func:`~optiserv.formulations.bundle.build.build_program` into a
:class:`~optiserv.heuristics.bundle_bound.BoundProblem` (the relaxation and its proof are in
:mod:`optiserv.heuristics.bundle_bound`), in maximisation form; :func:`proven_bound` runs the
subgradient search and returns the bound in the program's own sense and units.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from optiserv.data.services import BundleInstance
from optiserv.formulations.bundle.build import (
    ObjectiveKind,
    Resolved,
    grant_eligibility,
    period_costs,
)
from optiserv.formulations.bundle.prepare import FIXED, PreparedBundle
from optiserv.heuristics.bundle import BundleArrays
from optiserv.heuristics.bundle_bound import (
    BoundProblem,
    BoundResult,
    lagrangian_bound,
    site_options,
)

__all__ = ["PackedBound", "bound_problem", "proven_bound"]

_MASK_BITS = 62
"""Module subsets are int64 bit masks: a site may have at most this many modules."""


@dataclass(frozen=True, eq=False)
class PackedBound:
    """A relaxation ready for the search, and how to read its value.

    Attributes
    ----------
    problem
        The packed relaxation (maximisation form).
    sign, offset
        The program's objective is ``sign · value + offset`` for a maximisation-form value.
    """

    problem: BoundProblem
    sign: float
    offset: float

    def to_program(self, value: float) -> float:
        """A maximisation-form value in the program's sense and units."""
        return self.sign * value + self.offset

    def from_program(self, value: float) -> float:
        """A program objective in maximisation form."""
        return self.sign * (value - self.offset)


def bound_problem(
    bundle: BundleInstance,
    prepared: PreparedBundle,
    resolved: Resolved,
    arrays: BundleArrays,
    objective: ObjectiveKind,
    *,
    minimum_full_coverage: float | None = None,
) -> PackedBound | None:
    """The relaxation of the program ``build_program`` builds with the same arguments.

    ``arrays`` is :func:`~optiserv.formulations.bundle.arrays.heuristic_arrays` of the same
    instance (its rows, units and constraint rows are shared). None when a site has more
    modules than a bit mask holds (then only the LP bound applies).
    """
    sizes = np.diff(arrays.site_module_ptr)
    if sizes.size and int(sizes.max()) > _MASK_BITS:
        return None
    weights = np.array([service.weight for service in bundle.catalogue])
    blocks = prepared.blocks
    n_rows = arrays.row_ptr.size - 1
    module_cost, site_cost = period_costs(bundle, resolved.site_kind)
    unit_cost = np.concatenate([module_cost, site_cost])
    module_grant, site_grant, grant_period = grant_eligibility(bundle, resolved.site_kind)
    years = resolved.planning_years
    full_offset = float(sum(weights[b.service] * b.fixed_population.sum() for b in blocks))
    grant_objective = np.zeros(len(bundle.grants))
    unit_objective = np.zeros(unit_cost.shape[0])
    if objective == "cost":
        row_objective = np.zeros(n_rows)
        unit_objective = -(unit_cost[:, 0] + years * unit_cost[:, 1])
        grant_objective = np.where(grant_period == 0, 1.0, years)
        sign, offset = -1.0, 0.0
    else:
        row_objective = arrays.row_weight.astype(np.float64)
        sign, offset = 1.0, full_offset
    pair_row, pair_unit, pair_objective = _pairs(prepared, arrays, objective)
    side_ptr, side_row, side_coef, side_need = _side_rows(
        arrays, arrays.row_weight, full_offset, minimum_full_coverage
    )
    kind = resolved.site_kind.astype(np.int64)
    changeable = np.zeros(kind.size, dtype=np.int64)
    if math.isfinite(resolved.max_changed):
        with_module = np.zeros(kind.size, dtype=bool)
        with_module[bundle.module_site[resolved.module_upper > 0]] = True
        changeable[with_module & (kind != 0)] = 1
    module_int = (
        np.column_stack(
            [arrays.module_site, arrays.module_service, arrays.module_lower, arrays.module_upper]
        )
        .astype(np.int64)
        .reshape(-1, 4)
    )
    n_services = resolved.rule_mask.shape[1]
    rule_table = np.zeros((resolved.rule_min.size, n_services + 2), dtype=np.int64)
    rule_table[:, :n_services] = resolved.rule_mask
    rule_table[:, n_services] = resolved.rule_min
    rule_table[:, n_services + 1] = resolved.rule_max
    site_int = (
        np.column_stack(
            [kind, resolved.site_lower, resolved.site_upper, changeable, np.zeros_like(kind)]
        )
        .astype(np.int64)
        .reshape(-1, 5)
    )
    option_ptr, option_mask, listed = site_options(
        site_int, arrays.site_module_ptr, module_int, rule_table
    )
    site_int[:, 4] = listed
    grant_table = (
        np.column_stack(
            [
                [grant.share for grant in bundle.grants],
                [grant.cap for grant in bundle.grants],
                grant_period.astype(np.float64),
                grant_objective,
            ]
        )
        .astype(np.float64)
        .reshape(-1, 4)
    )
    problem = BoundProblem(
        row_ptr=arrays.row_ptr,
        row_unit=arrays.row_unit,
        unit_ptr=arrays.unit_ptr,
        unit_row=arrays.unit_row,
        row_objective=np.ascontiguousarray(row_objective, dtype=np.float64),
        pair_ptr=np.searchsorted(pair_row, np.arange(n_rows + 1)).astype(np.int64),
        pair_unit=pair_unit,
        pair_objective=pair_objective,
        side_ptr=side_ptr,
        side_row=side_row,
        side_coef=side_coef,
        side_need=side_need,
        unit_float=np.ascontiguousarray(np.column_stack([unit_cost, unit_objective])),
        grant_table=grant_table,
        grant_unit=np.ascontiguousarray(np.concatenate([module_grant, site_grant], axis=1)),
        site_int=site_int,
        module_int=module_int,
        site_module_ptr=arrays.site_module_ptr,
        option_ptr=option_ptr,
        option_mask=option_mask,
        limits=np.array(
            [resolved.budget[0], resolved.budget[1], resolved.max_new, resolved.max_changed],
            dtype=np.float64,
        ),
    )
    return PackedBound(problem, sign, offset)


def proven_bound(
    packed: PackedBound,
    plan_value: float | Callable[[], float],
    *,
    time_limit: float,
    tolerance: float,
    stop: Callable[[], bool] | None = None,
) -> tuple[float, BoundResult]:
    """The bound in the program's sense and units, and the search's record.

    ``plan_value`` (a feasible plan's objective in the program's units, or a function that
    returns the best one so far) steers the step length and the stopping test only; the bound
    holds whatever it is. A relative 1e-9 is added for the rounding of the sums.
    """
    if callable(plan_value):
        read = plan_value

        def target() -> float:
            return packed.from_program(read())

        goal: float | Callable[[], float] = target
    else:
        goal = packed.from_program(plan_value)
    # gaps are relative to the program's objective: sign · L + offset = sign · (L + sign · offset)
    result = lagrangian_bound(
        packed.problem,
        target=goal,
        time_limit=time_limit,
        tolerance=tolerance,
        reference=packed.sign * packed.offset,
        stop=stop,
    )
    value = result.bound
    if math.isfinite(value):
        value += 1e-9 * max(1.0, abs(value))
    return packed.to_program(value), result


def _pairs(
    prepared: PreparedBundle, arrays: BundleArrays, objective: ObjectiveKind
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Gradual pairs sorted by row: (row, unit or -1 for a fixed provider, objective weight).

    Only the coverage objective counts gradual coverage; elsewhere x_p has no objective weight
    and leaves the relaxation (x_p = 0 is always as good).
    """
    empty = np.zeros(0, dtype=np.int64)
    if objective != "coverage":
        return empty, empty, np.zeros(0)
    offsets = np.concatenate([[0], np.cumsum([block.n_rows for block in prepared.blocks])])
    row = np.concatenate(
        [block.partial_row + offsets[s] for s, block in enumerate(prepared.blocks)]
    ).astype(np.int64)
    unit = np.concatenate([block.partial_unit for block in prepared.blocks]).astype(np.int64)
    fraction = np.concatenate([block.partial_fraction for block in prepared.blocks])
    order = np.argsort(row, kind="stable")
    row, unit, fraction = row[order], unit[order], fraction[order]
    unit = np.where(unit == FIXED, -1, unit)
    return row, unit, np.ascontiguousarray(arrays.row_weight[row] * fraction)


def _side_rows(
    arrays: BundleArrays,
    full_weight: NDArray[np.float64],
    full_offset: float,
    minimum_full_coverage: float | None,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Rows Σ_b v_tb z_b ≥ n_t as CSR: targets and equity shares (population), then the
    lexicographic row (weighted full coverage). Rows already met (n_t ≤ 0) are left out."""
    rows: list[NDArray[np.int64]] = []
    coefs: list[NDArray[np.float64]] = []
    needs: list[float] = []
    member = np.concatenate([arrays.row_target, arrays.row_equity])
    everyone = np.concatenate([np.arange(arrays.row_target.size)] * 2)
    order = np.argsort(member, kind="stable")
    member, everyone = member[order], everyone[order]
    bounds = np.searchsorted(member, np.arange(arrays.need.size + 1))
    for t, need in enumerate(arrays.need):
        if need > 0:
            chosen = everyone[bounds[t] : bounds[t + 1]]
            rows.append(chosen)
            coefs.append(arrays.row_population[chosen])
            needs.append(float(need))
    if minimum_full_coverage is not None and minimum_full_coverage - full_offset > 0:
        rows.append(np.arange(full_weight.size, dtype=np.int64))
        coefs.append(np.asarray(full_weight, dtype=np.float64))
        needs.append(float(minimum_full_coverage - full_offset))
    pointer = np.concatenate([[0], np.cumsum([r.size for r in rows])]).astype(np.int64)
    return (
        pointer,
        np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, dtype=np.int64),
        np.concatenate(coefs).astype(np.float64) if coefs else np.zeros(0),
        np.array(needs, dtype=np.float64),
    )
