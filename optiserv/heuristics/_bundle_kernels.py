"""Numba kernels of the combined service point heuristic. Only numpy and numba are imported.

Vocabulary (the arrays are described in :class:`optiserv.heuristics.bundle.BundleArrays`):

* a *unit* u is a decision that provides coverage: u < K is module k (site j offers service s),
  u = K + j is "site j is open" (it provides the existing services of an at-risk site j);
* a *row* b is a merged demand row of one service; ``row_count[b]`` is the number of active units
  covering it; row b is covered when ``count[b] > 0``;
* ``unit_value[0, u]`` = Σ weight of u's rows with count 0 (the gain of switching u on);
  ``unit_value[1, u]`` = Σ weight of u's rows with count 1 (the loss of switching it off).
  Both are kept exact on every change, so a move's gain is read, never recomputed;
* a *move* at site j switches on a subset of j's modules, opening j first when it is closed.
  Modules of one site serve different services, whose rows are disjoint, so a subset's gain is
  the sum of its modules' gains.

Costs have two periods, 0 = one-off and 1 = annual; grants pay ``min(share · eligible, cap)``.
Arrays are packed into a few 2-d tables (column layout below) because numba's compile time
grows with the number of array arguments of every jitted function, and functions called only
from other kernels are compiled without a CPython wrapper, which halves their compile time.
Entry points release the GIL (``nogil``) so that a solver thread can run beside them.
Fastmath is off.

Packed layouts
--------------
``row_float``: weight, population · ``row_int``: target, equity constraint (-1 none) ·
``module_int``: site, service, lower, upper · ``site_int``: kind (0 new, 1 existing, 2 at
risk), lower, upper · ``unit_cost``: one-off, annual per unit · ``rule_table``: S mask columns,
then min, max · ``grant_table``: share, cap, period · ``grant_unit``: 0/1 eligibility per unit ·
``limits``: budget one-off, budget annual, max new points, three cost scales, max changed
points, the cost scale of one changed point ·
``money`` (state): gross one-off, gross annual, covered weight, new points, changed points (new
points open plus existing sites with at least one module on), then eligible amount per grant.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numba import njit

__all__ = ["CHANGED_POINTS", "Problem", "State", "new_state"]

_INTERNAL: dict[str, Any] = {"cache": True, "no_cpython_wrapper": True}
"""Options of kernels called only from other kernels: no CPython wrapper is generated."""
_TOLERANCE = 1e-9
_MAX_SUBSET_MODULES = 16
_GROSS0, _GROSS1, _COVERED, _NEW_POINTS, _CHANGED, _ELIGIBLE = 0, 1, 2, 3, 4, 5
CHANGED_POINTS = _CHANGED
"""Index of the changed-points count in ``State.money``."""


class Problem(NamedTuple):
    """Static, packed arrays (layouts in the module docstring)."""

    row_ptr: np.ndarray
    row_unit: np.ndarray
    unit_ptr: np.ndarray
    unit_row: np.ndarray
    row_float: np.ndarray
    row_int: np.ndarray
    need: np.ndarray
    module_int: np.ndarray
    site_int: np.ndarray
    site_module_ptr: np.ndarray
    unit_cost: np.ndarray
    rule_table: np.ndarray
    grant_table: np.ndarray
    grant_unit: np.ndarray
    limits: np.ndarray


class State(NamedTuple):
    """Mutable state of a plan."""

    on: np.ndarray
    row_count: np.ndarray
    unit_value: np.ndarray
    amount: np.ndarray
    money: np.ndarray


def new_state(problem: Problem) -> State:
    """An empty plan (nothing on); every unit's gain is its total row weight."""
    n_units = problem.unit_ptr.shape[0] - 1
    unit_value = np.zeros((2, n_units), dtype=np.float64)
    unit_value[0] = _unit_weights(problem.unit_ptr, problem.unit_row, problem.row_float)
    return State(
        on=np.zeros(n_units, dtype=np.bool_),
        row_count=np.zeros(problem.row_float.shape[0], dtype=np.int32),
        unit_value=unit_value,
        amount=np.zeros(problem.need.shape[0], dtype=np.float64),
        money=np.zeros(_ELIGIBLE + problem.grant_table.shape[0], dtype=np.float64),
    )


@njit(cache=True, nogil=True)
def _unit_weights(unit_ptr: np.ndarray, unit_row: np.ndarray, row_float: np.ndarray) -> np.ndarray:
    n_units = unit_ptr.shape[0] - 1
    out = np.zeros(n_units, dtype=np.float64)
    for u in range(n_units):
        total = 0.0
        for t in range(unit_ptr[u], unit_ptr[u + 1]):
            total += row_float[unit_row[t], 0]
        out[u] = total
    return out


# ---------------------------------------------------------------------------------- small helpers
@njit(**_INTERNAL)
def _switch_unit(
    u: int,
    on: bool,
    unit_ptr: np.ndarray,
    unit_row: np.ndarray,
    row_ptr: np.ndarray,
    row_unit: np.ndarray,
    row_float: np.ndarray,
    row_int: np.ndarray,
    count: np.ndarray,
    unit_value: np.ndarray,
    amount: np.ndarray,
    money: np.ndarray,
) -> None:
    """Add (on) or remove one unit's coverage, keeping gains, losses and amounts exact."""
    for t in range(unit_ptr[u], unit_ptr[u + 1]):
        b = unit_row[t]
        old = count[b]
        new = old + 1 if on else old - 1
        count[b] = new
        weight = row_float[b, 0]
        if old == 0 or new == 0:
            sign = 1.0 if new > 0 else -1.0
            money[_COVERED] += sign * weight
            for e in range(2):
                if row_int[b, e] >= 0:
                    amount[row_int[b, e]] += sign * row_float[b, 1]
        if old <= 1 or new <= 1:
            for r in range(row_ptr[b], row_ptr[b + 1]):
                v = row_unit[r]
                if old <= 1:
                    unit_value[old, v] -= weight
                if new <= 1:
                    unit_value[new, v] += weight


@njit(**_INTERNAL)
def _net(money: np.ndarray, grant_table: np.ndarray, period: int) -> float:
    """Gross cost of a period minus what its grants pay."""
    total = money[period]
    for q in range(grant_table.shape[0]):
        if grant_table[q, 2] == period:
            total -= min(grant_table[q, 0] * money[_ELIGIBLE + q], grant_table[q, 1])
    return total


@njit(**_INTERNAL)
def _add_cost(
    u: int,
    sign: float,
    unit_cost: np.ndarray,
    grant_table: np.ndarray,
    grant_unit: np.ndarray,
    money: np.ndarray,
) -> None:
    """Add (sign 1) or remove (sign -1) unit u's costs and grant-eligible amounts."""
    money[_GROSS0] += sign * unit_cost[u, 0]
    money[_GROSS1] += sign * unit_cost[u, 1]
    for q in range(grant_table.shape[0]):
        period = int(grant_table[q, 2])
        money[_ELIGIBLE + q] += sign * grant_unit[q, u] * unit_cost[u, period]


@njit(**_INTERNAL)
def _rules_hold(
    j: int,
    on: np.ndarray,
    module_int: np.ndarray,
    site_module_ptr: np.ndarray,
    rule_table: np.ndarray,
    extra: np.ndarray,
    n_extra: int,
) -> bool:
    """Do new site j's active modules plus ``extra[:n_extra]`` satisfy every rule?"""
    n_services = rule_table.shape[1] - 2
    hosted = n_extra
    for k in range(site_module_ptr[j], site_module_ptr[j + 1]):
        if on[k]:
            hosted += 1
    if hosted == 0:
        return False
    for r in range(rule_table.shape[0]):
        count = 0
        for k in range(site_module_ptr[j], site_module_ptr[j + 1]):
            if on[k] and rule_table[r, module_int[k, 1]] == 1:
                count += 1
        for e in range(n_extra):
            if rule_table[r, module_int[extra[e], 1]] == 1:
                count += 1
        if count < rule_table[r, n_services] or count > rule_table[r, n_services + 1]:
            return False
    return True


@njit(cache=True, nogil=True)
def worst_deficit(need: np.ndarray, amount: np.ndarray) -> float:
    """Largest relative shortfall of a target or equity constraint (≤ 0 when all hold)."""
    worst = -1.0
    for c in range(need.shape[0]):
        if need[c] > 0:
            worst = max(worst, (need[c] - amount[c]) / need[c])
    return worst


@njit(**_INTERNAL)
def total_deficit(need: np.ndarray, amount: np.ndarray) -> float:
    """Σ of the relative shortfalls of the targets and equity constraints (0 when all hold)."""
    total = 0.0
    for c in range(need.shape[0]):
        if need[c] > 0:
            total += max(0.0, (need[c] - amount[c]) / need[c])
    return total


@njit(cache=True, nogil=True)
def objective_cost(money: np.ndarray, grant_table: np.ndarray, limits: np.ndarray) -> float:
    """The cost-scaled net cost; for the cost objective: net one-off + years · net annual."""
    return limits[3] * _net(money, grant_table, np.int64(0)) + limits[4] * _net(
        money, grant_table, np.int64(1)
    )


# ---------------------------------------------------------------------------------- state changes
@njit(**_INTERNAL)
def set_unit(problem: Problem, state: State, u: int, on: bool) -> None:
    """Switch unit u on or off; closing a site switches its modules off first."""
    if state.on[u] == on:
        return
    n_modules = problem.module_int.shape[0]
    first = last = 0
    if u >= n_modules and not on:
        first = problem.site_module_ptr[u - n_modules]
        last = problem.site_module_ptr[u - n_modules + 1]
    sign = 1.0 if on else -1.0
    for position in range(first, last + 1):
        v = position if position < last else u
        if position < last and not state.on[v]:
            continue
        state.on[v] = on
        _add_cost(v, sign, problem.unit_cost, problem.grant_table, problem.grant_unit, state.money)
        if v >= n_modules and problem.site_int[v - n_modules, 0] == 0:
            state.money[_NEW_POINTS] += sign
            state.money[_CHANGED] += sign
        elif v < n_modules and problem.site_int[problem.module_int[v, 0], 0] != 0:
            # an existing site changes with its first module on, back with its last one off
            j = problem.module_int[v, 0]
            others = False
            for k in range(problem.site_module_ptr[j], problem.site_module_ptr[j + 1]):
                if k != v and state.on[k]:
                    others = True
                    break
            if not others:
                state.money[_CHANGED] += sign
        _switch_unit(
            v,
            on,
            problem.unit_ptr,
            problem.unit_row,
            problem.row_ptr,
            problem.row_unit,
            problem.row_float,
            problem.row_int,
            state.row_count,
            state.unit_value,
            state.amount,
            state.money,
        )


# ---------------------------------------------------------------------------------- moves
@njit(**_INTERNAL)
def evaluate_site(
    problem: Problem,
    state: State,
    j: int,
    value: np.ndarray,
    cost_mode: int,
    allow_zero_gain: bool,
    chosen: np.ndarray,
) -> tuple[float, int]:
    """The best move at site j: (ratio, number of modules chosen); ratio -1 when none.

    ``value[u]`` is the benefit of unit u. ``cost_mode`` 0 divides by the share of the limits
    used (plus one new point over the allowed number), 1 by the cost objective. The chosen
    modules are written to ``chosen``.
    """
    n_modules = problem.module_int.shape[0]
    site = n_modules + j
    if problem.site_int[j, 2] == 0:
        return -1.0, 0
    opening = not state.on[site]
    new_site = problem.site_int[j, 0] == 0
    candidates = np.empty(_MAX_SUBSET_MODULES, dtype=np.int64)
    n_candidates = 0
    for k in range(problem.site_module_ptr[j], problem.site_module_ptr[j + 1]):
        if not state.on[k] and problem.module_int[k, 3] == 1 and n_candidates < 16:
            candidates[n_candidates] = k
            n_candidates += 1
    extended = False  # an existing site with a module on already counts as changed
    for k in range(problem.site_module_ptr[j], problem.site_module_ptr[j + 1]):
        if state.on[k]:
            extended = True
            break
    limits, grant_table = problem.limits, problem.grant_table
    money = state.money.copy()
    base0 = _net(state.money, grant_table, np.int64(0))
    base1 = _net(state.money, grant_table, np.int64(1))
    subset = np.empty(_MAX_SUBSET_MODULES, dtype=np.int64)
    best_ratio, best_size = -1.0, 0
    for mask in range(1 << n_candidates):
        size = 0
        gain = value[site] if opening else 0.0
        for e in range(n_candidates):
            if mask & (1 << e):
                subset[size] = candidates[e]
                gain += value[candidates[e]]
                size += 1
        if size == 0 and not (opening and not new_site):
            continue
        if gain <= _TOLERANCE and not allow_zero_gain:
            continue
        if new_site and not _rules_hold(
            j,
            state.on,
            problem.module_int,
            problem.site_module_ptr,
            problem.rule_table,
            subset,
            size,
        ):
            continue
        adds_point = opening and new_site
        if adds_point and state.money[_NEW_POINTS] + 1.0 > limits[2] + 0.5:
            continue
        adds_change = adds_point or (not new_site and size > 0 and not extended)
        if adds_change and state.money[_CHANGED] + 1.0 > limits[6] + 0.5:
            continue
        money[:] = state.money
        if opening:
            _add_cost(site, 1.0, problem.unit_cost, grant_table, problem.grant_unit, money)
        for e in range(size):
            _add_cost(subset[e], 1.0, problem.unit_cost, grant_table, problem.grant_unit, money)
        net0 = _net(money, grant_table, np.int64(0))
        net1 = _net(money, grant_table, np.int64(1))
        if net0 > limits[0] + _TOLERANCE * max(1.0, abs(limits[0])):
            continue
        if net1 > limits[1] + _TOLERANCE * max(1.0, abs(limits[1])):
            continue
        scalar = limits[3] * (net0 - base0) + limits[4] * (net1 - base1)
        if cost_mode == 0 and adds_point:
            scalar += limits[5]
        if cost_mode == 0 and adds_change:
            scalar += limits[7]
        scalar = max(scalar, 1e-12)
        ratio = gain / scalar if gain > _TOLERANCE else 1e-300 / scalar
        if ratio > best_ratio:
            best_ratio, best_size = ratio, size
            for e in range(size):
                chosen[e] = subset[e]
    return best_ratio, best_size


@njit(**_INTERNAL)
def apply_move(
    problem: Problem,
    state: State,
    j: int,
    chosen: np.ndarray,
    size: int,
    log: np.ndarray,
    log_size: np.ndarray,
) -> None:
    """Open site j if needed and switch on ``chosen[:size]``, logging each switch for undo."""
    site = problem.module_int.shape[0] + j
    if not state.on[site]:
        set_unit(problem, state, site, np.bool_(True))
        log[log_size[0]] = site
        log_size[0] += 1
    for e in range(size):
        set_unit(problem, state, chosen[e], np.bool_(True))
        log[log_size[0]] = chosen[e]
        log_size[0] += 1


@njit(**_INTERNAL)
def undo(problem: Problem, state: State, log: np.ndarray, log_size: np.ndarray) -> None:
    """Switch off, in reverse, every logged unit, and empty the log."""
    for t in range(log_size[0] - 1, -1, -1):
        set_unit(problem, state, log[t], np.bool_(False))
    log_size[0] = 0


@njit(**_INTERNAL)
def _site_progress(
    problem: Problem,
    state: State,
    j: int,
    value: np.ndarray,
    scratch: np.ndarray,
    touched: np.ndarray,
) -> None:
    """value[u] = Σ_c min(deficit_c, contribution_c) / need_c for the units of site j."""
    n_modules = problem.module_int.shape[0]
    first, last = problem.site_module_ptr[j], problem.site_module_ptr[j + 1]
    for position in range(first, last + 1):
        u = position if position < last else n_modules + j
        if state.on[u]:
            value[u] = 0.0
            continue
        n_touched = 0
        for t in range(problem.unit_ptr[u], problem.unit_ptr[u + 1]):
            b = problem.unit_row[t]
            if state.row_count[b] != 0:
                continue
            for e in range(2):
                c = problem.row_int[b, e]
                if c >= 0:
                    if scratch[c] == 0.0:
                        touched[n_touched] = c
                        n_touched += 1
                    scratch[c] += problem.row_float[b, 1]
        progress = 0.0
        for e in range(n_touched):
            c = touched[e]
            deficit = problem.need[c] - state.amount[c]
            if deficit > _TOLERANCE * max(1.0, problem.need[c]):
                progress += min(deficit, scratch[c]) / problem.need[c]
            scratch[c] = 0.0
        value[u] = progress


# ---------------------------------------------------------------------------------- greedy
@njit(cache=True, nogil=True)
def complete_forced(problem: Problem, state: State, log: np.ndarray, log_size: np.ndarray) -> bool:
    """Switch on every required unit, then complete new sites whose rules are unmet.

    Returns False when a required site cannot be completed within the limits.
    """
    n_modules = problem.module_int.shape[0]
    n_sites = problem.site_int.shape[0]
    for u in range(n_modules + n_sites):
        lower = problem.module_int[u, 2] if u < n_modules else problem.site_int[u - n_modules, 1]
        if lower == 1 and not state.on[u]:
            if u < n_modules:
                site = n_modules + problem.module_int[u, 0]
                if not state.on[site]:
                    set_unit(problem, state, site, np.bool_(True))
                    log[log_size[0]] = site
                    log_size[0] += 1
            set_unit(problem, state, u, np.bool_(True))
            log[log_size[0]] = u
            log_size[0] += 1
    chosen = np.empty(_MAX_SUBSET_MODULES, dtype=np.int64)
    for j in range(n_sites):
        if (
            problem.site_int[j, 0] == 0
            and state.on[n_modules + j]
            and not _rules_hold(
                j,
                state.on,
                problem.module_int,
                problem.site_module_ptr,
                problem.rule_table,
                chosen,
                np.int64(0),
            )
        ):
            ratio, size = evaluate_site(
                problem, state, j, state.unit_value[0], np.int64(0), np.bool_(True), chosen
            )
            if ratio < 0:
                return False
            apply_move(problem, state, j, chosen, size, log, log_size)
    return True


@njit(cache=True, nogil=True)
def greedy_coverage(
    problem: Problem,
    state: State,
    key: np.ndarray,
    log: np.ndarray,
    log_size: np.ndarray,
    max_moves: int,
) -> int:
    """Add the move of best coverage gain per share of the limits until none fits or helps.

    Lazy greedy: ``key[j]`` is an upper bound of site j's best ratio (``inf`` before its
    first evaluation, -1 when it has no move). A site's best ratio never rises after another
    site's move: gains only fall (a row covered stays covered), the net cost of a move only
    rises (grants are capped, so later euros get less grant) and the moves that fit the
    budgets and limits only shrink. So a re-evaluated site whose ratio still beats every other
    key is the best move, as in a full scan (up to ties). The moving site itself is
    re-evaluated after its move. ``key`` carries over between calls, so the greedy can run in
    batches of ``max_moves``. Returns the moves made.
    """
    chosen = np.empty(_MAX_SUBSET_MODULES, dtype=np.int64)
    gain = state.unit_value[0]
    moves = 0
    while moves < max_moves:
        j = int(np.argmax(key))
        if key[j] <= 0:
            break
        ratio, size = evaluate_site(problem, state, j, gain, np.int64(0), np.bool_(False), chosen)
        key[j] = -1.0
        if ratio <= 0:
            continue
        if ratio >= key.max() * (1.0 - 1e-12):
            apply_move(problem, state, j, chosen, size, log, log_size)
            moves += 1
            key[j], _ = evaluate_site(problem, state, j, gain, np.int64(0), np.bool_(False), chosen)
        else:
            key[j] = ratio
    return moves


DEFICIT_MET = 1
""":func:`greedy_deficit_moves` outcome: every target and equity constraint holds."""
DEFICIT_STUCK = 0
"""Outcome: no move makes progress within the budgets and limits."""
DEFICIT_BATCH_USED = -1
"""Outcome: the batch of moves ran out first; call again with the same keys to go on."""
_UNLIMITED = 2**62
"""A batch size no greedy reaches."""


@njit(cache=True, nogil=True)
def greedy_deficit(
    problem: Problem,
    state: State,
    cost_mode: int | np.integer,
    log: np.ndarray,
    log_size: np.ndarray,
) -> bool:
    """Lazy greedy on progress towards the short targets and equity constraints per cost,
    run to the end. Returns True when every constraint holds at the end."""
    key = deficit_keys(problem, state, cost_mode)
    _, outcome = greedy_deficit_moves(problem, state, cost_mode, key, log, log_size, _UNLIMITED)
    return outcome == DEFICIT_MET


@njit(cache=True, nogil=True)
def deficit_keys(problem: Problem, state: State, cost_mode: int | np.integer) -> np.ndarray:
    """The first keys of the deficit greedy: each site's best progress per cost (≤ 0: none)."""
    n_sites = problem.site_int.shape[0]
    n_units = problem.unit_ptr.shape[0] - 1
    n_constraints = problem.need.shape[0]
    key = np.full(n_sites, -1.0)
    if worst_deficit(problem.need, state.amount) <= _TOLERANCE:
        return key
    value = np.zeros(n_units, dtype=np.float64)
    scratch = np.zeros(max(n_constraints, 1), dtype=np.float64)
    touched = np.empty(max(n_constraints, 1), dtype=np.int64)
    chosen = np.empty(_MAX_SUBSET_MODULES, dtype=np.int64)
    for j in range(n_sites):
        _site_progress(problem, state, j, value, scratch, touched)
        key[j], _ = evaluate_site(problem, state, j, value, cost_mode, np.bool_(False), chosen)
    return key


@njit(cache=True, nogil=True)
def greedy_deficit_moves(
    problem: Problem,
    state: State,
    cost_mode: int | np.integer,
    key: np.ndarray,
    log: np.ndarray,
    log_size: np.ndarray,
    max_moves: int,
) -> tuple[int, int]:
    """At most ``max_moves`` moves of the lazy deficit greedy from the keys of
    :func:`deficit_keys` (updated in place, so the greedy can run in batches).

    A site's key is an upper bound of its best ratio (progress and budget room only shrink),
    so a re-evaluated site that still beats every other key is the true best. Returns the
    moves made and the outcome: :data:`DEFICIT_MET`, :data:`DEFICIT_STUCK` or
    :data:`DEFICIT_BATCH_USED`.
    """
    n_units = problem.unit_ptr.shape[0] - 1
    n_constraints = problem.need.shape[0]
    value = np.zeros(n_units, dtype=np.float64)
    scratch = np.zeros(max(n_constraints, 1), dtype=np.float64)
    touched = np.empty(max(n_constraints, 1), dtype=np.int64)
    chosen = np.empty(_MAX_SUBSET_MODULES, dtype=np.int64)
    moves = 0
    while worst_deficit(problem.need, state.amount) > _TOLERANCE:
        if moves >= max_moves:
            return moves, DEFICIT_BATCH_USED
        j = int(np.argmax(key))
        if key[j] <= 0:
            return moves, DEFICIT_STUCK
        _site_progress(problem, state, j, value, scratch, touched)
        ratio, size = evaluate_site(problem, state, j, value, cost_mode, np.bool_(False), chosen)
        key[j] = -1.0
        if ratio <= 0:
            continue
        if ratio >= key.max() * (1.0 - 1e-12):
            apply_move(problem, state, j, chosen, size, log, log_size)
            moves += 1
            _site_progress(problem, state, j, value, scratch, touched)
            key[j], _ = evaluate_site(problem, state, j, value, cost_mode, np.bool_(False), chosen)
        else:
            key[j] = ratio
    return moves, DEFICIT_MET


# ---------------------------------------------------------------------------------- local search
@njit(**_INTERNAL)
def _switch_group(
    problem: Problem, state: State, kind: int, index: int, removed: np.ndarray, size: int
) -> int:
    """kind 0/1 with size < 0: switch module / site ``index`` off, record what was on in
    ``removed`` and return how many; with size ≥ 0: switch ``removed[:size]`` back on."""
    n_modules = problem.module_int.shape[0]
    if size >= 0:
        for e in range(size - 1, -1, -1):
            set_unit(problem, state, removed[e], np.bool_(True))
        return size
    if kind == 0:
        set_unit(problem, state, index, np.bool_(False))
        removed[0] = index
        return 1
    count = 0
    removed[count] = n_modules + index
    count += 1
    for k in range(problem.site_module_ptr[index], problem.site_module_ptr[index + 1]):
        if state.on[k]:
            removed[count] = k
            count += 1
    set_unit(problem, state, n_modules + index, np.bool_(False))
    # switch back on in reverse order: site first, then its modules
    for e in range(count // 2):
        removed[e], removed[count - 1 - e] = removed[count - 1 - e], removed[e]
    return count


@njit(cache=True, nogil=True)
def removable_groups(
    problem: Problem, state: State
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Groups that may be switched off in one step: (kind, index, loss, saving).

    kind 0: module k alone (the rules of a new site still hold without it); kind 1: site j
    with all its modules (new or at-risk sites). ``loss`` is the coverage weight lost,
    ``saving`` the cost-scaled saving. Required units are never in a group.
    """
    n_modules = problem.module_int.shape[0]
    n_sites = problem.site_int.shape[0]
    kind = np.empty(n_modules + n_sites, dtype=np.int64)
    index = np.empty(n_modules + n_sites, dtype=np.int64)
    loss = np.empty(n_modules + n_sites, dtype=np.float64)
    saving = np.empty(n_modules + n_sites, dtype=np.float64)
    removed = np.empty(n_modules + 1, dtype=np.int64)
    base = objective_cost(state.money, problem.grant_table, problem.limits)
    size = 0
    for j in range(n_sites):
        if not state.on[n_modules + j]:
            continue
        locked = problem.site_int[j, 1] == 1
        for k in range(problem.site_module_ptr[j], problem.site_module_ptr[j + 1]):
            if not state.on[k]:
                continue
            if problem.module_int[k, 2] == 1:
                locked = True
                continue
            state.on[k] = False
            ok = problem.site_int[j, 0] != 0 or _rules_hold(
                j,
                state.on,
                problem.module_int,
                problem.site_module_ptr,
                problem.rule_table,
                removed,
                np.int64(0),
            )
            state.on[k] = True
            if ok:
                kind[size], index[size] = 0, k
                loss[size] = state.unit_value[1, k]
                set_unit(problem, state, k, np.bool_(False))
                saving[size] = base - objective_cost(
                    state.money, problem.grant_table, problem.limits
                )
                set_unit(problem, state, k, np.bool_(True))
                size += 1
        if problem.site_int[j, 0] != 1 and not locked:
            kind[size], index[size] = 1, j
            before = state.money[_COVERED]
            count = _switch_group(problem, state, np.int64(1), j, removed, np.int64(-1))
            saving[size] = base - objective_cost(state.money, problem.grant_table, problem.limits)
            loss[size] = before - state.money[_COVERED]
            _switch_group(problem, state, np.int64(1), j, removed, count)
            size += 1
    return kind[:size], index[:size], loss[:size], saving[:size]


@njit(cache=True, nogil=True)
def swap_pass(
    problem: Problem,
    state: State,
    order_kind: np.ndarray,
    order_index: np.ndarray,
    start: int,
    stop: int,
    mode: int,
) -> int:
    """Try groups ``start..stop`` of a ranked list: switch one off, refill greedily, keep the
    result when it is better and every constraint still holds, else undo.

    ``mode`` 0 (coverage objectives) refills by coverage per share of the limits and accepts
    more coverage; 1 (cost objective) refills by progress towards the constraints per cost and
    accepts a lower cost; 2 (repair) refills by progress per share of the limits and accepts a
    smaller total shortfall of the constraints. The removed group is tabu during the refill.
    Returns the position of the first accepted swap, or -1.
    """
    n_units = problem.unit_ptr.shape[0] - 1
    log = np.empty(2 * n_units + 2, dtype=np.int64)
    log_size = np.zeros(1, dtype=np.int64)
    removed = np.empty(n_units, dtype=np.int64)
    n_modules = problem.module_int.shape[0]
    for position in range(start, min(stop, order_kind.shape[0])):
        kind, index = order_kind[position], order_index[position]
        if not state.on[index if kind == 0 else n_modules + index]:
            continue
        before_cover = state.money[_COVERED]
        before_cost = objective_cost(state.money, problem.grant_table, problem.limits)
        before_deficit = total_deficit(problem.need, state.amount)
        count = _switch_group(problem, state, kind, index, removed, np.int64(-1))
        log_size[0] = 0
        # tabu: the refill may not take back what was just removed
        if kind == 0:
            problem.module_int[index, 3] = 0
        else:
            problem.site_int[index, 2] = 0
        if mode == 2:
            greedy_deficit(problem, state, np.int64(0), log, log_size)
            better = total_deficit(problem.need, state.amount) < before_deficit - 1e-9
        elif mode == 1:
            met = greedy_deficit(problem, state, np.int64(1), log, log_size)
            after = objective_cost(state.money, problem.grant_table, problem.limits)
            better = met and after < before_cost - 1e-9 * max(1.0, abs(before_cost))
        else:
            fresh = np.full(problem.site_int.shape[0], np.inf)
            greedy_coverage(problem, state, fresh, log, log_size, n_units)
            better = state.money[_COVERED] > before_cover + 1e-9 * max(1.0, before_cover)
            better = better and worst_deficit(problem.need, state.amount) <= _TOLERANCE
        if kind == 0:
            problem.module_int[index, 3] = 1
        else:
            problem.site_int[index, 2] = 1
        if better:
            return position
        undo(problem, state, log, log_size)
        _switch_group(problem, state, kind, index, removed, count)
    return -1


@njit(cache=True, nogil=True)
def drop_redundant(
    problem: Problem,
    state: State,
    order_kind: np.ndarray,
    order_index: np.ndarray,
    keep_coverage: bool,
) -> int:
    """Switch off groups in the given order while every constraint holds (and, with
    ``keep_coverage``, while no coverage is lost). Returns the number dropped."""
    n_units = problem.unit_ptr.shape[0] - 1
    n_modules = problem.module_int.shape[0]
    removed = np.empty(n_units, dtype=np.int64)
    dropped = 0
    for position in range(order_kind.shape[0]):
        kind, index = order_kind[position], order_index[position]
        if not state.on[index if kind == 0 else n_modules + index]:
            continue
        if kind == 0 and problem.site_int[problem.module_int[index, 0], 0] == 0:
            state.on[index] = False
            ok = _rules_hold(
                problem.module_int[index, 0],
                state.on,
                problem.module_int,
                problem.site_module_ptr,
                problem.rule_table,
                removed,
                np.int64(0),
            )
            state.on[index] = True
            if not ok:
                continue
        before = state.money[_COVERED]
        count = _switch_group(problem, state, kind, index, removed, np.int64(-1))
        lost = before - state.money[_COVERED]
        if worst_deficit(problem.need, state.amount) > _TOLERANCE or (
            keep_coverage and lost > 1e-9 * max(1.0, before)
        ):
            _switch_group(problem, state, kind, index, removed, count)
        else:
            dropped += 1
    return dropped
