"""From a prepared bundle to the heuristic's :class:`~optiserv.heuristics.bundle.BundleArrays`."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from optiserv.data.services import BundleInstance
from optiserv.formulations.bundle.build import Resolved, grant_eligibility, period_costs
from optiserv.formulations.bundle.prepare import PreparedBundle
from optiserv.heuristics.bundle import BundleArrays, HeuristicObjective

__all__ = ["heuristic_arrays"]


def heuristic_arrays(
    bundle: BundleInstance,
    prepared: PreparedBundle,
    resolved: Resolved,
    objective: HeuristicObjective,
) -> BundleArrays:
    """The same rows, units, costs and constraints as the program, as flat arrays."""
    blocks = prepared.blocks
    names = bundle.catalogue.names
    weights = np.array([service.weight for service in bundle.catalogue])
    n_units = bundle.n_modules + bundle.instance.n_sites
    if blocks:
        rows = sp.vstack([block.rows for block in blocks], format="csr")
    else:  # pragma: no cover - a catalogue has at least one service
        rows = sp.csr_matrix((0, n_units), dtype=bool)
    rows.sort_indices()
    columns = rows.tocsc()
    columns.sort_indices()
    population = np.concatenate([block.population for block in blocks])
    row_service = np.concatenate(
        [np.full(block.n_rows, s, dtype=np.int64) for s, block in enumerate(blocks)]
    )
    row_target = np.full(population.size, -1, dtype=np.int64)
    row_equity = np.full(population.size, -1, dtype=np.int64)
    need: list[float] = []
    constraint_names: list[str] = []
    offsets = np.concatenate([[0], np.cumsum([block.n_rows for block in blocks])])
    for s, block in enumerate(blocks):
        share = resolved.target_share[s]
        if np.isfinite(share):
            row_target[offsets[s] : offsets[s + 1]] = len(need)
            need.append(float(share * block.total_population.sum() - block.fixed_population.sum()))
            constraint_names.append(f"the target for {names[s]!r}")
    for s, block in enumerate(blocks):
        share = resolved.group_share[s]
        if np.isfinite(share):
            row_equity[offsets[s] : offsets[s + 1]] = len(need) + block.group
            for g, label in enumerate(prepared.group_names):
                need.append(float(share * block.total_population[g] - block.fixed_population[g]))
                constraint_names.append(f"the equity share of group {label!r} for {names[s]!r}")
    module_cost, site_cost = period_costs(bundle, resolved.site_kind)
    module_grant, site_grant, grant_period = grant_eligibility(bundle, resolved.site_kind)
    site_module_ptr = np.searchsorted(
        bundle.module_site, np.arange(bundle.instance.n_sites + 1)
    ).astype(np.int64)
    return BundleArrays(
        row_ptr=rows.indptr.astype(np.int64),
        row_unit=rows.indices.astype(np.int64),
        unit_ptr=columns.indptr.astype(np.int64),
        unit_row=columns.indices.astype(np.int64),
        row_weight=np.ascontiguousarray(weights[row_service] * population),
        row_population=np.ascontiguousarray(population, dtype=np.float64),
        row_target=row_target,
        row_equity=row_equity,
        need=np.array(need, dtype=np.float64),
        constraint_names=tuple(constraint_names),
        module_site=np.ascontiguousarray(bundle.module_site, dtype=np.int64),
        module_service=np.ascontiguousarray(bundle.module_service, dtype=np.int64),
        module_cost=np.ascontiguousarray(module_cost),
        module_lower=resolved.module_lower.astype(np.int8),
        module_upper=resolved.module_upper.astype(np.int8),
        site_kind=resolved.site_kind.astype(np.int8),
        site_cost=np.ascontiguousarray(site_cost),
        site_lower=resolved.site_lower.astype(np.int8),
        site_upper=resolved.site_upper.astype(np.int8),
        site_module_ptr=site_module_ptr,
        rule_mask=np.ascontiguousarray(resolved.rule_mask, dtype=np.bool_),
        rule_min=resolved.rule_min.astype(np.int64),
        rule_max=resolved.rule_max.astype(np.int64),
        grant_share=np.array([grant.share for grant in bundle.grants], dtype=np.float64),
        grant_cap=np.array([grant.cap for grant in bundle.grants], dtype=np.float64),
        grant_period=grant_period,
        grant_module=np.ascontiguousarray(module_grant),
        grant_site=np.ascontiguousarray(site_grant),
        budget=resolved.budget.astype(np.float64),
        max_new=float(resolved.max_new),
        max_changed=float(resolved.max_changed),
        planning_years=float(resolved.planning_years),
        objective=objective,
    )
