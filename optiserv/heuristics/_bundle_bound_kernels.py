r"""Numba kernels of the Lagrangian bound of the combined service point model.

Only numpy and numba are imported. The problem (maximisation form; the cost objective is
maximised as its negative) and the relaxation are described in
:mod:`optiserv.heuristics.bundle_bound`; the packed arrays are the fields of
:class:`~optiserv.heuristics.bundle_bound.BoundProblem`.

Multiplier layout
-----------------
``lam[b]`` ≥ 0 prices the coverage row z_b ≤ Σ_u a_bu u; ``mu[p]`` ≥ 0 prices the gradual
link x_p ≤ u_p (0 for pairs with a fixed provider); ``theta`` holds the few coupling rows:
``theta[0:2]`` the one-off and annual budgets, ``theta[2]`` the new points limit,
``theta[3]`` the changed points limit, then one per grant (g_q ≤ share_q · eligible_q), then
one per side row on z (targets, equity shares, the lexicographic row).

Fastmath is off; every kernel only reads its inputs and writes its output arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["COUPLING", "coupling_value", "new_site_options", "row_gradients", "unit_prices"]

COUPLING = 4
"""Coupling multipliers before the grants: budget one-off, budget annual, new, changed."""
_BUDGET0, _BUDGET1, _NEW, _CHANGED = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def new_site_options(
    site_int: np.ndarray,
    site_module_ptr: np.ndarray,
    module_int: np.ndarray,
    rule_table: np.ndarray,
    max_modules: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Every module subset a new point may open with: (option_ptr (m + 1), option_mask).

    A subset (bit i = module ``site_module_ptr[j] + i``) qualifies when it is not empty, holds
    every required module, no forbidden one, and the number of its services in each rule lies
    within the rule's bounds. Sites that are not new, cannot open or have more than
    ``max_modules`` modules get no list (the caller relaxes the rules there).
    """
    n_sites = site_int.shape[0]
    n_services = rule_table.shape[1] - 2
    counts = np.zeros(n_sites, dtype=np.int64)
    for stage in range(2):
        if stage == 1:
            ptr = np.zeros(n_sites + 1, dtype=np.int64)
            for j in range(n_sites):
                ptr[j + 1] = ptr[j] + counts[j]
            masks = np.zeros(ptr[n_sites], dtype=np.int64)
        for j in range(n_sites):
            start, stop = site_module_ptr[j], site_module_ptr[j + 1]
            size = stop - start
            if site_int[j, 0] != 0 or site_int[j, 2] == 0 or size > max_modules:
                continue
            found = 0
            for mask in range(1, 1 << size):
                ok = True
                for i in range(size):
                    on = (mask >> i) & 1
                    if (on == 0 and module_int[start + i, 2] == 1) or (
                        on == 1 and module_int[start + i, 3] == 0
                    ):
                        ok = False
                        break
                if not ok:
                    continue
                for r in range(rule_table.shape[0]):
                    count = 0
                    for i in range(size):
                        service = module_int[start + i, 1]
                        if (mask >> i) & 1 and service < n_services and rule_table[r, service]:
                            count += 1
                    if count < rule_table[r, n_services] or count > rule_table[r, n_services + 1]:
                        ok = False
                        break
                if ok:
                    if stage == 1:
                        masks[ptr[j] + found] = mask
                    found += 1
            counts[j] = found
    return ptr, masks


@njit(cache=True, nogil=True)
def unit_prices(problem: tuple, lam: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """π_u = Σ_b a_bu λ_b + Σ_{p: u_p = u} μ_p, the price the moved rows put on each unit."""
    unit_ptr, unit_row, pair_unit = problem[2], problem[3], problem[6]
    n_units = unit_ptr.size - 1
    price = np.zeros(n_units)
    for u in range(n_units):
        total = 0.0
        for e in range(unit_ptr[u], unit_ptr[u + 1]):
            total += lam[unit_row[e]]
        price[u] = total
    for p in range(pair_unit.size):
        if pair_unit[p] >= 0:
            price[pair_unit[p]] += mu[p]
    return price


@njit(cache=True, nogil=True)
def coupling_value(
    problem: tuple,  # BoundProblem
    price: np.ndarray,
    lam: np.ndarray,
    mu: np.ndarray,
    theta: np.ndarray,
    unit_on: np.ndarray,
    row_z: np.ndarray,
    pair_x: np.ndarray,
    gradient_theta: np.ndarray,
) -> float:
    """L(lam, mu, theta) given the unit prices π of (lam, mu), and its maximiser.

    Fills ``unit_on``, ``row_z``, ``pair_x`` (the maximiser) and the subgradient of the
    coupling multipliers (the slack of each coupling row at the maximiser). Returns -inf when a
    site must open but has no admissible subset of modules.
    """
    (
        _row_ptr,
        _row_unit,
        unit_ptr,
        _unit_row,
        row_objective,
        pair_ptr,
        _pair_unit,
        pair_objective,
        side_ptr,
        side_row,
        side_coef,
        side_need,
        unit_float,
        grant_table,
        grant_unit,
        site_int,
        module_int,
        site_module_ptr,
        option_ptr,
        option_mask,
        limits,
    ) = problem
    n_rows = row_objective.size
    n_units = unit_ptr.size - 1
    n_sites = site_int.shape[0]
    n_modules = n_units - n_sites
    n_grants = grant_table.shape[0]
    n_sides = side_need.size
    side0 = COUPLING + n_grants
    gradient_theta[:] = 0.0
    # a limit that is absent (inf) has no row, so its multiplier counts as 0 whatever is given
    theta = theta.copy()
    for index in range(COUPLING):
        if not np.isfinite(limits[index]):
            theta[index] = 0.0

    # z coefficients: objective − λ_b + Σ_t ν_t v_tb
    z_coef = row_objective - lam
    for t in range(n_sides):
        nu = theta[side0 + t]
        if nu != 0.0:
            for e in range(side_ptr[t], side_ptr[t + 1]):
                z_coef[side_row[e]] += nu * side_coef[e]
    # rows: max(0, z coefficient, best pair coefficient) under z_b + Σ x_p ≤ 1
    value = 0.0
    row_z[:] = 0.0
    pair_x[:] = 0.0
    for b in range(n_rows):
        best = 0.0
        choice = -2  # -2 nothing, -1 z, else the pair
        if z_coef[b] >= 0.0:  # ties go to z_b = 1, whose subgradient lets λ_b rise
            best = z_coef[b]
            choice = -1
        for p in range(pair_ptr[b], pair_ptr[b + 1]):
            gain = pair_objective[p] - mu[p]
            if gain > best:
                best = gain
                choice = p
        value += best
        if choice == -1:
            row_z[b] = 1.0
        elif choice >= 0:
            pair_x[choice] = 1.0
    # unit profits: prices, objective, budgets and grants
    profit = price + unit_float[:, 2] - theta[_BUDGET0] * unit_float[:, 0]
    profit -= theta[_BUDGET1] * unit_float[:, 1]
    for q in range(n_grants):
        gamma = theta[COUPLING + q]
        period = int(grant_table[q, 2])
        if gamma != 0.0:
            share = grant_table[q, 0]
            for u in range(n_units):
                if grant_unit[q, u] != 0.0:
                    profit[u] += gamma * share * grant_unit[q, u] * unit_float[u, period]
        # g_q ∈ [0, cap_q] with coefficient e_q + β_t − γ_q
        coefficient = grant_table[q, 3] + theta[period] - gamma
        if coefficient > 0.0:
            value += coefficient * grant_table[q, 1]
            gradient_theta[COUPLING + q] -= grant_table[q, 1]
            gradient_theta[period] += grant_table[q, 1]
    # sites: the best admissible choice of each, given the unit profits
    unit_on[:] = 0.0
    new_open = 0.0
    changed = 0.0
    for j in range(n_sites):
        kind, lower, upper = site_int[j, 0], site_int[j, 1], site_int[j, 2]
        changeable, listed = site_int[j, 3], site_int[j, 4]
        start, stop = site_module_ptr[j], site_module_ptr[j + 1]
        best_open = -np.inf
        best_mask = -1
        if upper > 0 and kind == 0 and listed == 1:
            for o in range(option_ptr[j], option_ptr[j + 1]):
                mask = option_mask[o]
                total = 0.0
                for i in range(stop - start):
                    if (mask >> i) & 1:
                        total += profit[start + i]
                if total > best_open:
                    best_open = total
                    best_mask = mask
        elif upper > 0:
            # no rules (existing site) or rules relaxed (too many modules to list)
            penalty = theta[_CHANGED] if (kind != 0 and changeable == 1) else 0.0
            best_open, best_mask = _free_subset(profit, module_int, start, stop, kind == 0, penalty)
        if best_mask >= 0:
            best_open += profit[n_modules + j]
            if kind == 0:
                best_open -= theta[_NEW] + theta[_CHANGED]
        if lower == 0 and (best_mask < 0 or best_open <= 0.0):
            continue  # closed: contributes 0
        if best_mask < 0:
            return -np.inf
        value += best_open
        unit_on[n_modules + j] = 1.0
        for i in range(stop - start):
            if (best_mask >> i) & 1:
                unit_on[start + i] = 1.0
        if kind == 0:
            new_open += 1.0
            changed += 1.0
        elif changeable == 1 and best_mask > 0:
            changed += 1.0
    # constants of the coupling rows, and their subgradients (slack at the maximiser)
    gross0 = 0.0
    gross1 = 0.0
    for u in range(n_units):
        if unit_on[u] > 0.0:
            gross0 += unit_float[u, 0]
            gross1 += unit_float[u, 1]
    for q in range(n_grants):
        eligible = 0.0
        period = int(grant_table[q, 2])
        for u in range(n_units):
            if unit_on[u] > 0.0 and grant_unit[q, u] != 0.0:
                eligible += grant_unit[q, u] * unit_float[u, period]
        gradient_theta[COUPLING + q] += grant_table[q, 0] * eligible
    for period in range(2):
        if np.isfinite(limits[period]):
            value += theta[period] * limits[period]
            gradient_theta[period] += limits[period] - (gross0 if period == 0 else gross1)
        else:
            gradient_theta[period] = 0.0
    for index, count in ((_NEW, new_open), (_CHANGED, changed)):
        if np.isfinite(limits[index]):
            value += theta[index] * limits[index]
            gradient_theta[index] = limits[index] - count
        else:
            gradient_theta[index] = 0.0
    for t in range(n_sides):
        value -= theta[side0 + t] * side_need[t]
        amount = 0.0
        for e in range(side_ptr[t], side_ptr[t + 1]):
            amount += side_coef[e] * row_z[side_row[e]]
        gradient_theta[side0 + t] = amount - side_need[t]
    return value


@njit(cache=True, nogil=True)
def row_gradients(
    problem: tuple,
    unit_on: np.ndarray,
    row_z: np.ndarray,
    pair_x: np.ndarray,
    gradient_rows: np.ndarray,
    gradient_pairs: np.ndarray,
) -> None:
    """Subgradient of λ and μ at a maximiser: Σ_u a_bu u − z_b and u_p − x_p.

    Only the units that are on are visited (by column), few of all units in a plan.
    """
    unit_ptr, unit_row, pair_unit = problem[2], problem[3], problem[6]
    for b in range(row_z.size):
        gradient_rows[b] = -row_z[b]
    for u in range(unit_ptr.size - 1):
        if unit_on[u] > 0.0:
            for e in range(unit_ptr[u], unit_ptr[u + 1]):
                gradient_rows[unit_row[e]] += unit_on[u]
    for p in range(pair_unit.size):
        gradient_pairs[p] = unit_on[pair_unit[p]] - pair_x[p] if pair_unit[p] >= 0 else 0.0


@njit(cache=True, nogil=True)
def _free_subset(
    profit: np.ndarray,
    module_int: np.ndarray,
    start: int,
    stop: int,
    nonempty: bool,
    penalty: float,
) -> tuple[float, int]:
    """The best subset of modules start..stop within their bounds (bit i = module start + i).

    Required modules are on, positive ones too; ``nonempty`` adds the best free module when
    nothing else is on; ``penalty`` is paid once when the subset is not empty (a changed
    site), so an optional subset worth less than it is dropped. (-inf, -1) when no subset
    qualifies.
    """
    total = 0.0
    mask = 0
    forced = False
    best_free = -1
    for i in range(stop - start):
        k = start + i
        if module_int[k, 2] == 1:
            total += profit[k]
            mask |= 1 << i
            forced = True
        elif module_int[k, 3] == 1:
            if profit[k] > 0.0:
                total += profit[k]
                mask |= 1 << i
            if best_free < 0 or profit[k] > profit[start + best_free]:
                best_free = i
    if mask == 0:
        if not nonempty:
            return 0.0, 0
        if best_free < 0:
            return -np.inf, -1
        return profit[start + best_free] - penalty, 1 << best_free
    if not forced and not nonempty and total - penalty < 0.0:
        return 0.0, 0
    return total - penalty, mask


@njit(cache=True, nogil=True)
def projected_step(
    multipliers: np.ndarray,
    ceiling: np.ndarray,
    gradient: np.ndarray,
    value: float,
    target: float,
    factor: float,
    norm: float,
) -> None:
    """One projected subgradient step in place: m ← clip(m − t g, 0, ceiling).

    Polyak's length t = factor · (value − target) / norm (``norm`` from :func:`step_norm`).
    """
    step = factor * max(value - target, 1e-9 * max(1.0, abs(value))) / norm
    for i in range(multipliers.size):
        moved = multipliers[i] - step * gradient[i]
        multipliers[i] = min(max(moved, 0.0), ceiling[i])


@njit(cache=True, nogil=True)
def step_norm(multipliers: np.ndarray, ceiling: np.ndarray, gradient: np.ndarray) -> float:
    """Σ g_i² over the components a step can move (not pushed out of [0, ceiling])."""
    total = 0.0
    for i in range(multipliers.size):
        g = gradient[i]
        if (multipliers[i] <= 0.0 and g > 0.0) or (multipliers[i] >= ceiling[i] and g < 0.0):
            continue
        total += g * g
    return total
