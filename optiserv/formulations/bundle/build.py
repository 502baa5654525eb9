r"""The combined service point model as one linear program, built from arrays.

Symbols (glossary of ARCHITECTURE.md): i demand, j site, s service, k module (a service s that
site j can add), b a reduced demand row of one service.

Variables

* y_k ∈ {0, 1}: module k is offered (y_js in the glossary);
* o_j ∈ {0, 1}: site j is a service point in the plan: a *new* point for a candidate site,
  *kept open* for an at-risk existing site (fixed to 1 for existing sites that stay);
* z_b ∈ [0, 1]: row b is covered for its service within r_s (z_is in the glossary);
* x_p ∈ [0, 1]: gradual pair p = (row b, unit) serves b with fraction f_p (only with R_s);
* g_q ≥ 0: amount paid by grant q, at most its cap;
* c_j ∈ {0, 1}: existing site j gets at least one new module (only with ``max_changed_points``,
  one per existing site that has a module that may be switched on).

A *unit* u is y_k (u = k) or o_j (u = K + j); an at-risk site's existing services are
provided by o_j. Rows (with a_bu = 1 when u provides the service of b within r_s):

.. math::

    z_b \le \sum_u a_{bu} u                                   &\quad \text{coverage} \\
    z_b + \sum_{p \in b} x_p \le 1,\; x_p \le u_p             &\quad \text{gradual} \\
    y_k \le o_{j(k)}                                           &\quad \text{module needs point} \\
    o_j \le \sum_{k \in j} y_k                                 &\quad \text{no empty new point} \\
    \text{min}_r\, o_j \le \sum_{k \in j,\, s(k) \in R_r} y_k \le \text{max}_r\, o_j
                                                               &\quad \text{rules, new points} \\
    g_q \le \text{share}_q \sum \text{eligible cost}_q,\; g_q \le \text{cap}_q
                                                               &\quad \text{grants} \\
    \sum c^{(t)} (y, o) - \sum_{q \in t} g_q \le B_t,\; t \in \{\text{one-off}, \text{annual}\}
                                                               &\quad \text{budgets} \\
    \sum_{j \text{ new}} o_j \le P                             &\quad \text{new points} \\
    y_k \le c_{j(k)}\; (j \text{ existing}),\;
    \sum_{j \text{ new}} o_j + \sum_{j \text{ existing}} c_j \le P_c
                                                               &\quad \text{changed points} \\
    \sum_{b \in s} w_b z_b \ge \tau_s W_s - F_s                &\quad \text{service targets} \\
    \sum_{b \in s,\, g(b) = g} w_b z_b \ge \epsilon_s W_{gs} - F_{gs} &\quad \text{equity}

where w_b is the row's population, W the total and F the population that fixed providers
already cover. Objectives: *coverage* maximises Σ_s ρ_s (Σ_b w_b z_b + Σ_p w_b f_p x_p + F_s)
(ρ_s the service weight); *full coverage* drops the gradual term; *cost* minimises the net
one-off cost plus ``planning_years`` times the net annual cost. z and x may be continuous:
for integral (y, o) some optimum has them integral.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from optiserv.data.services import BundleInstance, BundlePlan
from optiserv.formulations.bundle.prepare import FIXED, PreparedBundle
from optiserv.lp import LinearProgram, ModelBuilder, VariableRange

__all__ = ["BuiltBundle", "Resolved", "build_program", "plan_from_units", "units_from_plan"]

ObjectiveKind = Literal["coverage", "full_coverage", "cost"]


@dataclass(frozen=True, eq=False)
class Resolved:
    """The model's parameters resolved against one bundle instance (all arrays).

    Attributes
    ----------
    module_lower, module_upper, site_lower, site_upper
        0/1 bounds of y_k and o_j (required, forbidden, FIXED/FORBIDDEN status).
    site_kind
        0 new candidate, 1 existing point that stays, 2 existing point at risk.
    rule_mask, rule_min, rule_max
        (R, S) services of each rule and its bounds on new points.
    target_share, group_share
        (S,) minimum covered share per service overall and per group; nan for none.
    budget
        Net one-off and annual budgets (inf for none).
    max_new
        Largest number of new points (inf for none).
    planning_years
        Years of annual cost counted by the cost objective.
    max_changed
        Largest number of changed sites: new points plus existing sites that get at least one
        new module (inf for none).
    """

    module_lower: NDArray[np.int8]
    module_upper: NDArray[np.int8]
    site_lower: NDArray[np.int8]
    site_upper: NDArray[np.int8]
    site_kind: NDArray[np.int8]
    rule_mask: NDArray[np.bool_]
    rule_min: NDArray[np.int64]
    rule_max: NDArray[np.int64]
    target_share: NDArray[np.float64]
    group_share: NDArray[np.float64]
    budget: NDArray[np.float64]
    max_new: float
    planning_years: float
    max_changed: float = float("inf")

    @property
    def unit_available(self) -> NDArray[np.bool_]:
        """(K + m,) bool: the unit may be switched on."""
        return np.concatenate([self.module_upper > 0, self.site_upper > 0])


@dataclass(frozen=True, eq=False)
class BuiltBundle:
    """A linear program and where everything lives in it.

    Attributes
    ----------
    program
        The LP/MIP.
    modules, sites, covered, partial, grants
        Column blocks of y, o, z, x and g.
    service_rows
        (S + 1,) offsets of each service's rows within ``covered``.
    full_weight
        (len(covered),) ρ_s w_b: Σ full_weight · z + ``full_offset`` is the weighted fully
        covered population.
    full_offset
        Σ_s ρ_s F_s.
    constraint_rows
        Named rows: ``budget_one_off``, ``budget_annual``, ``max_new_points``,
        ``max_changed_points``, ``target:<service>``, ``equity:<group>:<service>`` → global
        row index.
    changed, changed_sites
        Column block of c (empty without ``max_changed_points``) and the site of each c_j.
    """

    program: LinearProgram
    modules: VariableRange
    sites: VariableRange
    covered: VariableRange
    partial: VariableRange
    grants: VariableRange
    service_rows: NDArray[np.int64]
    full_weight: NDArray[np.float64]
    full_offset: float
    constraint_rows: dict[str, int] = field(default_factory=dict)
    changed: VariableRange = field(default_factory=lambda: VariableRange("changed", 0, 0))
    changed_sites: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def units(self, values: NDArray[np.float64]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """(module on, site open) of a solution vector."""
        return self.modules.take(values) > 0.5, self.sites.take(values) > 0.5


def period_costs(bundle: BundleInstance, kind: NDArray[np.int8]) -> tuple[NDArray, NDArray]:
    """(K, 2) module and (m, 2) site costs per period; at-risk sites: the subsidy (annual)."""
    module_cost = np.column_stack([bundle.module_one_off, bundle.module_annual])
    site_cost = np.column_stack([bundle.point_one_off, bundle.point_annual])
    site_cost[kind != 0] = 0.0
    site_cost[kind == 2, 1] = bundle.subsidy[kind == 2]
    return module_cost, site_cost


def grant_eligibility(
    bundle: BundleInstance, kind: NDArray[np.int8]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """(Q, K) and (Q, m) 0/1 eligibility of module and site costs, and each grant's period."""
    names = bundle.catalogue.names
    n_grants = len(bundle.grants)
    module = np.zeros((n_grants, bundle.n_modules))
    site = np.zeros((n_grants, bundle.instance.n_sites))
    period = np.zeros(n_grants, dtype=np.int64)
    for q, grant in enumerate(bundle.grants):
        period[q] = 0 if grant.period == "one_off" else 1
        if "modules" in grant.covers:
            allowed = np.ones(len(names), dtype=bool)
            if grant.services is not None:
                allowed = np.isin(np.array(names), np.array(grant.services))
            module[q] = allowed[bundle.module_service]
        if "points" in grant.covers:
            site[q, kind == 0] = 1.0
        if "subsidies" in grant.covers:
            site[q, kind == 2] = 1.0
    return module, site, period


def build_program(
    bundle: BundleInstance,
    prepared: PreparedBundle,
    resolved: Resolved,
    objective: ObjectiveKind,
    *,
    minimum_full_coverage: float | None = None,
) -> BuiltBundle:
    """The program for one objective; ``minimum_full_coverage`` adds the lexicographic row
    Σ ρ_s w_b z_b + F ≥ value."""
    n_modules, m = bundle.n_modules, bundle.instance.n_sites
    weights = np.array([service.weight for service in bundle.catalogue])
    blocks = prepared.blocks
    module_cost, site_cost = period_costs(bundle, resolved.site_kind)
    module_grant, site_grant, grant_period = grant_eligibility(bundle, resolved.site_kind)
    service_rows = np.zeros(len(blocks) + 1, dtype=np.int64)
    service_rows[1:] = np.cumsum([block.n_rows for block in blocks])
    population = np.concatenate([block.population for block in blocks])
    row_service = np.repeat(np.arange(len(blocks)), np.diff(service_rows))
    full_weight = weights[row_service] * population
    full_offset = float(sum(weights[b.service] * b.fixed_population.sum() for b in blocks))
    partial_row = np.concatenate(
        [block.partial_row + service_rows[s] for s, block in enumerate(blocks)]
    ).astype(np.int64)
    partial_unit = np.concatenate([block.partial_unit for block in blocks]).astype(np.int64)
    partial_fraction = np.concatenate([block.partial_fraction for block in blocks])

    # objective coefficients per block
    years = resolved.planning_years
    zero = 0.0
    if objective == "cost":
        module_objective = module_cost[:, 0] + years * module_cost[:, 1]
        site_objective = site_cost[:, 0] + years * site_cost[:, 1]
        grant_objective = -np.where(grant_period == 0, 1.0, years)
        covered_objective: NDArray[np.float64] | float = zero
        partial_objective: NDArray[np.float64] | float = zero
        sense, offset = "minimize", 0.0
    else:
        module_objective = site_objective = grant_objective = zero  # type: ignore[assignment]
        covered_objective = full_weight
        partial_objective = (
            full_weight[partial_row] * partial_fraction if objective == "coverage" else zero
        )
        sense, offset = "maximize", full_offset

    builder = ModelBuilder()
    y = builder.add_variables(
        "modules",
        n_modules,
        cost=module_objective,
        lower=resolved.module_lower,
        upper=resolved.module_upper,
        integer=True,
    )
    o = builder.add_variables(
        "sites",
        m,
        cost=site_objective,
        lower=resolved.site_lower,
        upper=resolved.site_upper,
        integer=True,
    )
    z = builder.add_variables("covered", int(service_rows[-1]), cost=covered_objective, upper=1.0)
    x = builder.add_variables("partial", partial_row.size, cost=partial_objective, upper=1.0)
    caps = np.array([grant.cap for grant in bundle.grants])
    g = builder.add_variables("grants", len(bundle.grants), cost=grant_objective, upper=caps)
    # c_j: existing sites with a module that may be switched on (only with max_changed_points)
    changed_sites = np.zeros(0, dtype=np.int64)
    if np.isfinite(resolved.max_changed):
        switchable = np.zeros(m, dtype=bool)
        switchable[bundle.module_site[resolved.module_upper > 0]] = True
        changed_sites = np.flatnonzero(switchable & (resolved.site_kind != 0)).astype(np.int64)
    c = builder.add_variables("changed", changed_sites.size, upper=1.0, integer=True)

    column_of_unit = np.concatenate([y.columns, o.columns])
    rows_named: dict[str, int] = {}

    # coverage: z_b - Σ_u a_bu u ≤ 0
    stacked = sp.vstack([block.rows for block in blocks], format="coo") if blocks else None
    if z.size:
        assert stacked is not None
        builder.add_rows(
            np.concatenate([np.arange(z.size), stacked.row]),
            np.concatenate([z.columns, column_of_unit[stacked.col]]),
            np.concatenate([np.ones(z.size), -np.ones(stacked.nnz)]),
            n_rows=z.size,
            upper=0.0,
        )
    # gradual: z_b + Σ x_p ≤ 1 for rows with pairs, and x_p ≤ u_p for variable providers
    if x.size:
        rows_with_pairs, local = np.unique(partial_row, return_inverse=True)
        builder.add_rows(
            np.concatenate([np.arange(rows_with_pairs.size), local.ravel()]),
            np.concatenate([z.start + rows_with_pairs, x.columns]),
            1.0,
            n_rows=rows_with_pairs.size,
            upper=1.0,
        )
        variable = np.flatnonzero(partial_unit != FIXED)
        builder.add_rows(
            np.concatenate([np.arange(variable.size), np.arange(variable.size)]),
            np.concatenate([x.start + variable, column_of_unit[partial_unit[variable]]]),
            np.concatenate([np.ones(variable.size), -np.ones(variable.size)]),
            n_rows=variable.size,
            upper=0.0,
        )
    # a module needs its site open: y_k - o_j ≤ 0 (not needed where o_j is fixed to 1)
    linked = np.flatnonzero(resolved.site_kind[bundle.module_site] != 1)
    builder.add_rows(
        np.concatenate([np.arange(linked.size), np.arange(linked.size)]),
        np.concatenate([y.start + linked, o.start + bundle.module_site[linked]]),
        np.concatenate([np.ones(linked.size), -np.ones(linked.size)]),
        n_rows=linked.size,
        upper=0.0,
    )
    # new points: o_j - Σ_k y_k ≤ 0, and the rules
    new_sites = np.flatnonzero((resolved.site_kind == 0) & (resolved.site_upper > 0))
    position = np.full(m, -1, dtype=np.int64)
    position[new_sites] = np.arange(new_sites.size)
    at_new = np.flatnonzero(position[bundle.module_site] >= 0)
    builder.add_rows(
        np.concatenate([np.arange(new_sites.size), position[bundle.module_site[at_new]]]),
        np.concatenate([o.start + new_sites, y.start + at_new]),
        np.concatenate([np.ones(new_sites.size), -np.ones(at_new.size)]),
        n_rows=new_sites.size,
        upper=0.0,
    )
    for r in range(resolved.rule_min.size):
        members = at_new[resolved.rule_mask[r, bundle.module_service[at_new]]]
        for bound, sign in ((resolved.rule_min[r], 1.0), (resolved.rule_max[r], -1.0)):
            if sign > 0 and bound <= 0:
                continue
            if sign < 0 and bound >= bundle.n_services:
                continue
            # sign·(Σ y − bound·o) ≥ 0
            builder.add_rows(
                np.concatenate([position[bundle.module_site[members]], np.arange(new_sites.size)]),
                np.concatenate([y.start + members, o.start + new_sites]),
                np.concatenate(
                    [np.full(members.size, sign), np.full(new_sites.size, -sign * bound)]
                ),
                n_rows=new_sites.size,
                lower=0.0,
            )
    # grants: g_q - share_q Σ eligible cost ≤ 0
    for q, grant in enumerate(bundle.grants):
        period = grant_period[q]
        module_part = np.flatnonzero(module_grant[q] * module_cost[:, period])
        site_part = np.flatnonzero(site_grant[q] * site_cost[:, period])
        builder.add_rows(
            np.zeros(1 + module_part.size + site_part.size, dtype=np.int64),
            np.concatenate([[g.start + q], y.start + module_part, o.start + site_part]),
            np.concatenate(
                [
                    [1.0],
                    -grant.share * module_cost[module_part, period],
                    -grant.share * site_cost[site_part, period],
                ]
            ),
            n_rows=1,
            upper=0.0,
        )
    # budgets, net of grants
    for period, name in enumerate(("budget_one_off", "budget_annual")):
        if not np.isfinite(resolved.budget[period]):
            continue
        module_part = np.flatnonzero(module_cost[:, period])
        site_part = np.flatnonzero(site_cost[:, period])
        grant_part = np.flatnonzero(grant_period == period)
        rows = builder.add_rows(
            np.zeros(module_part.size + site_part.size + grant_part.size, dtype=np.int64),
            np.concatenate([y.start + module_part, o.start + site_part, g.start + grant_part]),
            np.concatenate(
                [
                    module_cost[module_part, period],
                    site_cost[site_part, period],
                    -np.ones(grant_part.size),
                ]
            ),
            n_rows=1,
            upper=float(resolved.budget[period]),
        )
        rows_named[name] = int(rows[0])
    if np.isfinite(resolved.max_new):
        rows = builder.add_rows(
            np.zeros(new_sites.size, dtype=np.int64),
            o.start + new_sites,
            1.0,
            n_rows=1,
            upper=float(resolved.max_new),
        )
        rows_named["max_new_points"] = int(rows[0])
    if np.isfinite(resolved.max_changed):
        # y_k - c_j ≤ 0 for the modules of existing sites, then Σ_new o_j + Σ c_j ≤ P_c
        slot = np.full(m, -1, dtype=np.int64)
        slot[changed_sites] = np.arange(changed_sites.size)
        at_changed = np.flatnonzero((slot[bundle.module_site] >= 0) & (resolved.module_upper > 0))
        builder.add_rows(
            np.concatenate([np.arange(at_changed.size), np.arange(at_changed.size)]),
            np.concatenate([y.start + at_changed, c.start + slot[bundle.module_site[at_changed]]]),
            np.concatenate([np.ones(at_changed.size), -np.ones(at_changed.size)]),
            n_rows=at_changed.size,
            upper=0.0,
        )
        rows = builder.add_rows(
            np.zeros(new_sites.size + c.size, dtype=np.int64),
            np.concatenate([o.start + new_sites, c.columns]),
            1.0,
            n_rows=1,
            upper=float(resolved.max_changed),
        )
        rows_named["max_changed_points"] = int(rows[0])
    # service targets and equity (full coverage only)
    names = bundle.catalogue.names
    for s, block in enumerate(blocks):
        columns = z.start + service_rows[s] + np.arange(block.n_rows)
        share = resolved.target_share[s]
        if np.isfinite(share):
            need = share * block.total_population.sum() - block.fixed_population.sum()
            rows = builder.add_rows(
                np.zeros(block.n_rows, dtype=np.int64),
                columns,
                block.population,
                n_rows=1,
                lower=float(need),
            )
            rows_named[f"target:{names[s]}"] = int(rows[0])
        share = resolved.group_share[s]
        if np.isfinite(share):
            need = share * block.total_population - block.fixed_population
            rows = builder.add_rows(
                block.group, columns, block.population, n_rows=prepared.n_groups, lower=need
            )
            for group, row in zip(prepared.group_names, rows, strict=True):
                rows_named[f"equity:{group}:{names[s]}"] = int(row)
    if minimum_full_coverage is not None:
        rows = builder.add_rows(
            np.zeros(z.size, dtype=np.int64),
            z.columns,
            full_weight,
            n_rows=1,
            lower=float(minimum_full_coverage - full_offset),
        )
        rows_named["lexicographic"] = int(rows[0])
    program = builder.build(sense, offset=offset)  # type: ignore[arg-type]
    return BuiltBundle(
        program,
        y,
        o,
        z,
        x,
        g,
        service_rows,
        full_weight,
        full_offset,
        rows_named,
        changed=c,
        changed_sites=changed_sites,
    )


# ---------------------------------------------------------------------------------- plans
def plan_from_units(
    bundle: BundleInstance, module_on: NDArray[np.bool_], site_on: NDArray[np.bool_]
) -> BundlePlan:
    """The plan's offers: existing offers of sites that stay or are kept, plus modules on."""
    stays = ~bundle.at_risk | site_on
    offers = bundle.existing & stays[:, np.newaxis]
    on = np.flatnonzero(module_on)
    offers[bundle.module_site[on], bundle.module_service[on]] = True
    return BundlePlan(offers)


def units_from_plan(
    bundle: BundleInstance, plan: BundlePlan, site_kind: NDArray[np.int8]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(module on, site open) of a plan; existing sites that stay are open."""
    module_on = plan.offers[bundle.module_site, bundle.module_service].copy()
    site_on = plan.offers.any(axis=1) | (site_kind == 1)
    return module_on, site_on


def vector_from_units(
    bundle: BundleInstance,
    prepared: PreparedBundle,
    built: BuiltBundle,
    module_on: NDArray[np.bool_],
    site_on: NDArray[np.bool_],
    site_kind: NDArray[np.int8],
) -> NDArray[np.float64]:
    """A full solution vector for a plan: z, x and g at their best values for (y, o)."""
    values = np.zeros(built.program.n_cols)
    values[built.modules.start : built.modules.start + built.modules.size] = module_on
    values[built.sites.start : built.sites.start + built.sites.size] = site_on
    if built.changed.size:
        site_changed = np.zeros(site_on.size, dtype=bool)
        site_changed[bundle.module_site[module_on]] = True
        values[built.changed.start : built.changed.start + built.changed.size] = site_changed[
            built.changed_sites
        ]
    unit_on = np.concatenate([module_on, site_on]).astype(np.float64)
    covered = np.concatenate(
        [np.minimum(1.0, block.rows.astype(np.float64) @ unit_on) for block in prepared.blocks]
    )
    values[built.covered.start : built.covered.start + built.covered.size] = covered
    if built.partial.size:
        offset = 0
        partial = np.zeros(built.partial.size)
        for s, block in enumerate(prepared.blocks):
            size = block.partial_row.size
            rows = block.partial_row + built.service_rows[s]
            available = (block.partial_unit == FIXED) | (
                unit_on[np.maximum(block.partial_unit, 0)] > 0
            )
            score = np.where(available & (covered[rows] < 0.5), block.partial_fraction, -1.0)
            if size:
                order = np.lexsort((-score, rows))
                first = np.ones(size, dtype=bool)
                first[1:] = rows[order][1:] != rows[order][:-1]
                chosen = order[first & (score[order] > 0)]
                partial[offset + chosen] = 1.0
            offset += size
        values[built.partial.start : built.partial.start + built.partial.size] = partial
    if built.grants.size:
        module_cost, site_cost = period_costs(bundle, site_kind)
        module_grant, site_grant, period = grant_eligibility(bundle, site_kind)
        for q, grant in enumerate(bundle.grants):
            eligible = (module_grant[q] * module_cost[:, period[q]]) @ module_on + (
                site_grant[q] * site_cost[:, period[q]]
            ) @ site_on
            values[built.grants.start + q] = min(grant.share * eligible, grant.cap)
    return values
