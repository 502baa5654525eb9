r"""Exact maximal covering by branch and bound on the sites, one small linear program a node.

A node of the depth-first search fixes some sites open (O) and some closed; the others are
free (F), and k = p − |O| of them must open. Its bound is the linear relaxation of the node,
solved in the dual form with one row per free site (rows a_ij, weights w_i as in
:class:`~optiserv.heuristics.CoveringProblem`):

.. math::

    \min_{λ, t, s} \; \sum_i (w_i − λ_i) + \sum_{j \in O} c_j + k\,t + \sum_{j \in F} s_j
    \quad \text{s.t.} \quad s_j + t \ge c_j \;(j \in F), \quad
    c_j = \sum_i a_{ij} λ_i, \quad 0 \le λ_i \le w_i, \; s \ge 0.

It has one row per site instead of one per demand row, so HiGHS re-solves it in a fraction of
the time of the compact program, warm from the previous node's basis. The bound used is not
the solver's number but the Lagrangian value L(λ) recomputed from its λ (clipped to
[0, w_i]): the rows an open site covers count w_i, the others w_i − λ_i, plus the k largest
prices c_j over the free sites. That is an upper bound for any such λ, so whatever the
solver's tolerances every pruning is exact.

At each node: prune when L(λ) shows no plan beats the incumbent (for integer weights, when
L(λ) < incumbent + 1); try the relaxation's plans (the k best-priced free sites, and the k
free sites with the largest y_j, improved by swaps at the root or when it improves) as an
incumbent, and every 50 nodes a few rounds of iterated interchange from the incumbent;
close (open) every free site whose Lagrangian bound when opened (closed),
L − c_(k) + c_j (L − c_j + c_(k+1)), rules it out; then branch on the free site with the
largest fractional y_j (the dual value of its row), the open child first.
"""

from __future__ import annotations

import math
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from optiserv.heuristics import CoveringProblem, CoveringResult, interchange_covering
from optiserv.solvers.highs import _import_highspy, _new_highs

__all__ = ["BranchOutcome", "NodeRelaxation", "base_state", "branch_and_bound"]

_FREE, _OPEN, _CLOSED = 0, 1, 2
_FRACTIONAL = 1e-6
"""y_j within this of 0 or 1 counts as integral when choosing the branching site."""

_SEARCH_EVERY = 50
_SEARCH_ROUNDS = 25
"""Every ``_SEARCH_EVERY`` nodes, ``_SEARCH_ROUNDS`` rounds of iterated interchange from the
incumbent: where the relaxation cannot prune (e.g. when it covers every row), only a better
plan closes the gap, and a plan covering every row is proven optimal at once."""


@dataclass(frozen=True, eq=False)
class BranchOutcome:
    """The result of the search.

    Attributes
    ----------
    result
        The best plan and a proven bound (its objective when ``proven``).
    proven
        True when every node was pruned: no plan beats the result beyond the tolerance.
    nodes
        Nodes whose relaxation was solved.
    """

    result: CoveringResult
    proven: bool
    nodes: int


@dataclass
class _Node:
    state: NDArray[np.int8]
    bound: float
    multipliers: NDArray[np.float64]


class NodeRelaxation:
    """The node relaxation in its site-row dual form, in one HiGHS instance.

    Solved at :func:`base_state` it is the linear relaxation of the whole problem, whose
    multipliers the caller may use before the search; handed to :func:`branch_and_bound`,
    the root is then re-solved warm from that basis.
    """

    def __init__(self, problem: CoveringProblem, threads: int | None) -> None:
        highspy = _import_highspy()
        self.problem = problem
        n, m = problem.n_rows, problem.n_sites
        self.n, self.m = n, m
        self.rows = sp.csr_matrix(
            (np.ones(problem.row_indices.size), problem.row_indices, problem.row_indptr),
            shape=(n, m),
        )
        self.columns = self.rows.T.tocsr()
        self.infinity = highspy.kHighsInf
        h = _new_highs(highspy)
        if threads is not None:
            h.setOptionValue("threads", int(threads))
        # HiGHS sizes its task scheduler once per calling thread, so a run asking for another
        # thread count than an earlier run of the same thread fails: every solve of this
        # relaxation runs on a thread of its own (as HighsBackend's solves do).
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="optiserv-node-lp")
        weakref.finalize(self, self._runner.shutdown, wait=False)
        columns = n + 1 + m  # λ, t, s
        h.addVars(
            columns,
            np.r_[np.zeros(n), -self.infinity, np.zeros(m)],
            np.r_[problem.weights, self.infinity, np.full(m, self.infinity)],
        )
        block = sp.hstack(
            [-self.columns, sp.csr_matrix(np.ones((m, 1))), sp.identity(m, format="csr")]
        ).tocsr()
        h.addRows(
            m,
            np.zeros(m),
            np.full(m, self.infinity),
            block.nnz,
            block.indptr[:-1].astype(np.int32),
            block.indices.astype(np.int32),
            block.data,
        )
        self.highs = h
        self.ok = highspy.HighsModelStatus.kOptimal
        self.all_columns = np.arange(columns, dtype=np.int32)
        self.slack_columns = (n + 1 + np.arange(m)).astype(np.int32)
        self.all_rows = np.arange(m, dtype=np.int32)

    def solve(
        self, state: NDArray[np.int8], seconds: float = math.inf
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """The node's optimal λ and y (row duals), or None when HiGHS does not prove them
        (within ``seconds``, when finite)."""
        is_open, free = state == _OPEN, state == _FREE
        k = self.problem.p - int(is_open.sum())
        open_count = self.rows @ is_open.astype(np.float64)
        h = self.highs
        h.changeColsCost(
            self.all_columns.size,
            self.all_columns,
            np.r_[open_count - 1.0, float(k), np.ones(self.m)],
        )
        h.changeColsBounds(
            self.m, self.slack_columns, np.zeros(self.m), np.where(free, self.infinity, 0.0)
        )
        lower = np.where(free, 0.0, -self.infinity)
        h.changeRowsBounds(self.m, self.all_rows, lower, np.full(self.m, self.infinity))
        h.setOptionValue("time_limit", float(seconds) if math.isfinite(seconds) else self.infinity)
        self._runner.submit(h.run).result()
        if h.getModelStatus() != self.ok:
            return None
        solution = h.getSolution()
        multipliers = np.asarray(solution.col_value, dtype=np.float64)[: self.n]
        return np.clip(multipliers, 0.0, self.problem.weights), np.asarray(solution.row_dual)

    def lagrangian(
        self, state: NDArray[np.int8], multipliers: NDArray[np.float64]
    ) -> tuple[float, NDArray[np.float64], NDArray[np.int64], int]:
        """L(λ) at the node, the prices c_j, the free sites by decreasing price, and k."""
        is_open, free = state == _OPEN, state == _FREE
        k = self.problem.p - int(is_open.sum())
        covered = (self.rows @ is_open.astype(np.float64)) > 0
        reachable = (self.rows @ free.astype(np.float64)) > 0
        active = reachable & ~covered
        lam = np.where(active, multipliers, 0.0)
        prices = self.columns @ lam
        candidates = np.flatnonzero(free)
        order = candidates[np.argsort(-prices[candidates], kind="stable")]
        weights = self.problem.weights
        bound = float(
            weights[covered].sum() + (weights - lam)[active].sum() + prices[order[:k]].sum()
        )
        return bound, prices, order, k


def base_state(problem: CoveringProblem) -> NDArray[np.int8]:
    """The node of the whole problem: fixed sites open, forbidden ones closed, others free."""
    state = np.zeros(problem.n_sites, dtype=np.int8)
    state[problem.role == 1] = _OPEN
    state[problem.role == 2] = _CLOSED
    return state


def branch_and_bound(
    problem: CoveringProblem,
    incumbent: CoveringResult,
    *,
    close: NDArray[np.bool_] | None = None,
    must_open: NDArray[np.bool_] | None = None,
    relative_gap: float = 0.0,
    seconds: float = math.inf,
    threads: int | None = None,
    relaxation: NodeRelaxation | None = None,
) -> BranchOutcome:
    """Search every plan better than ``incumbent`` and return the best, or stop at the limit.

    Parameters
    ----------
    problem
        The instance.
    incumbent
        A feasible plan and its proven bound.
    close, must_open
        Sites every plan better than ``incumbent`` closes (opens), e.g. from a Lagrangian
        bound; the search starts with them fixed.
    relative_gap
        Prune nodes whose bound is within this share of the incumbent (0: prove optimality).
    seconds
        Wall-clock budget; checked between nodes. When it runs out, the result carries the
        largest bound of the nodes left, a proven bound.
    threads
        HiGHS threads.
    relaxation
        The node relaxation of ``problem`` already solved (e.g. at :func:`base_state`), to
        start the root warm from its basis; a new one when None.
    """
    started = time.perf_counter()
    if relaxation is None:
        relaxation = NodeRelaxation(problem, threads)
    elif relaxation.problem is not problem:
        raise ValueError("the relaxation belongs to another problem")
    plan = problem.plan(incumbent.sites)
    value = problem.value(plan)
    root = base_state(problem)
    if close is not None:
        root[close & (root == _FREE)] = _CLOSED
    if must_open is not None:
        root[must_open & (root == _FREE)] = _OPEN
    scale = max(1.0, float(problem.weights.sum()))
    weights = problem.weights
    start = weights / np.maximum(np.diff(problem.row_indptr), 1)
    stack = [_Node(root, incumbent.bound, start)]
    nodes = 0
    kick = max(3, (2 * (problem.p - int((problem.role == 1).sum()))) // 3)
    while stack:
        if time.perf_counter() - started > seconds:
            break
        node = stack.pop()
        margin = _margin(problem, value, relative_gap, scale)
        if node.bound - value < margin:
            continue
        state = node.state
        is_open, free = state == _OPEN, state == _FREE
        k = problem.p - int(is_open.sum())
        n_free = int(free.sum())
        if k < 0 or n_free < k:
            continue
        if k == 0 or n_free == k:
            leaf = is_open | free if k > 0 else is_open
            leaf_value = problem.value(leaf)
            if leaf_value > value:
                plan, value = leaf, leaf_value
            continue
        nodes += 1
        if nodes % _SEARCH_EVERY == 0:
            searched = interchange_covering(
                problem, np.flatnonzero(plan), rounds=_SEARCH_ROUNDS, kick=kick, seed=nodes
            )
            if searched.objective > value:
                plan, value = problem.plan(searched.sites), searched.objective
                if node.bound - value < _margin(problem, value, relative_gap, scale):
                    continue
        # the node's LP gets the time left: its λ is not needed for a valid bound (the
        # parent's serves), so the search does not run a whole LP past its budget
        left = seconds - (time.perf_counter() - started)
        solved = relaxation.solve(state, max(left, 1e-3))
        multipliers, y = solved if solved is not None else (node.multipliers, None)
        bound, prices, order, k = relaxation.lagrangian(state, multipliers)
        bound = min(bound, node.bound)
        relaxed = is_open.copy()
        relaxed[order[:k]] = True
        relaxed_value = problem.value(relaxed)
        if relaxed_value > value:
            plan, value = relaxed, relaxed_value
        if y is not None:
            rounded = _rounded_plan(is_open, free, y, k)
            rounded_value = problem.value(rounded)
            improved = rounded_value > value
            if improved:
                plan, value = rounded, rounded_value
            if nodes == 1 or improved:
                # the root's (or an improving) relaxation plan, improved by swaps
                descended = interchange_covering(problem, np.flatnonzero(rounded))
                if descended.objective > value:
                    plan, value = problem.plan(descended.sites), descended.objective
        margin = _margin(problem, value, relative_gap, scale)
        if bound - value < margin:
            continue
        state = _fix_by_bound(state, bound, prices, order, k, value + margin)
        branch = _branching_site(state, y, order, k)
        if branch < 0:
            stack.append(_Node(state, bound, multipliers))
            continue
        for child in (_CLOSED, _OPEN):  # the open child is searched first
            child_state = state.copy()
            child_state[branch] = child
            stack.append(_Node(child_state, bound, multipliers))
    value = problem.value(plan)
    proven = not stack
    bound = value if proven else max(min(max(n.bound for n in stack), incumbent.bound), value)
    result = CoveringResult(
        np.flatnonzero(plan).astype(np.int64),
        value,
        max(problem.rounded(bound), value),
        f"{incumbent.method}+branch and bound",
    )
    return BranchOutcome(result, proven, nodes)


def _margin(problem: CoveringProblem, incumbent: float, relative_gap: float, scale: float) -> float:
    """How far above the incumbent a node's bound must be for the node to be searched.

    With integer weights every plan's value is an integer, so a bound less than one above
    the incumbent (less a rounding allowance) rules out every better plan.
    """
    tolerance = 1e-7 * scale
    margin = 1.0 - tolerance if problem.integral and tolerance < 0.5 else 1e-9 * scale
    return max(margin, relative_gap * abs(incumbent))


def _rounded_plan(
    is_open: NDArray[np.bool_], free: NDArray[np.bool_], y: NDArray[np.float64], k: int
) -> NDArray[np.bool_]:
    """The open sites and the k free sites with the largest y_j (ties: lowest index)."""
    candidates = np.flatnonzero(free)
    chosen = candidates[np.argsort(-y[candidates], kind="stable")[:k]]
    plan = is_open.copy()
    plan[chosen] = True
    return plan


def _fix_by_bound(
    state: NDArray[np.int8],
    bound: float,
    prices: NDArray[np.float64],
    order: NDArray[np.int64],
    k: int,
    threshold: float,
) -> NDArray[np.int8]:
    """Close (open) the free sites whose bound when opened (closed) is below ``threshold``."""
    if order.size <= k:
        return state
    kth, following = prices[order[k - 1]], prices[order[k]]
    state = state.copy()
    inside, outside = order[:k], order[k:]
    state[inside[bound - prices[inside] + following < threshold]] = _OPEN
    state[outside[bound - kth + prices[outside] < threshold]] = _CLOSED
    return state


def _branching_site(
    state: NDArray[np.int8], y: NDArray[np.float64] | None, order: NDArray[np.int64], k: int
) -> int:
    """The free site with the largest fractional y_j; when there is none (or no y: the
    solver failed), the k-th best-priced free site; -1 when no site is free."""
    free = state == _FREE
    if y is not None:
        fractional = free & (y > _FRACTIONAL) & (y < 1.0 - _FRACTIONAL)
        if fractional.any():
            candidates = np.flatnonzero(fractional)
            return int(candidates[np.argmax(y[candidates])])
    remaining = order[free[order]]
    if remaining.size == 0:
        return -1
    return int(remaining[min(k, remaining.size) - 1])
