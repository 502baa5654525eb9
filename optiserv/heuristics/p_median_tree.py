r"""Lagrangian branch and bound for the p-median problem (Beasley 1985, 1993).

Each node of the tree is the p-median problem with some sites fixed open and some closed. Its
lower bound is the Lagrangian dual of the assignment rows Σ_j x_ij = 1, maximised by
subgradient ascent from the parent's multipliers (see
:mod:`optiserv.heuristics._p_median_kernels`). The tree searches only for plans that
cost at most the **limit**

* U − 1 when every weighted cost w_i d_ij is an integer (plans then cost integers, and only a
  strictly better plan than the incumbent U is of interest), or
* U − τ otherwise, τ = max(1e-6, 1e-9 |U|, relative gap · |U|),

so a node whose bound exceeds the limit is pruned, and when the tree is exhausted the
incumbent is optimal (within τ). At every node the bound also fixes, as in
:func:`optiserv.formulations.p_median.reduce_by_bound`: a free site j outside the subproblem's
plan S is closed when L + ρ_j − ρ_last exceeds the limit, a free site in S is fixed open when
L − ρ_j + ρ_next does, and a pair (i, j) is dropped when L + max(0, c_ij − λ_i) + [j ∉ S]
(ρ_j − ρ_last) does (no plan within the limit serves i from j). Removing a pair never
changes the cost of a plan within the limit, since each demand point's nearest open site
survives. The demand points' thresholds F_i (cheapest fixed site) and C_i (the
(m' − p + 1)-th cheapest allowed site) are re-applied in every node.

Branching is on the free site j ∈ S whose closing the bound penalises most (largest
ρ_next − ρ_j): the child with j closed is searched first (depth first), then the child with
j open. The plan S of every node is priced exactly; a cheaper one becomes the incumbent after
a fast interchange from it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from optiserv.coverage import nearest_open
from optiserv.data import CostMatrix
from optiserv.heuristics._p_median_kernels import (
    choose_sites,
    filter_pairs,
    resume_ascent,
    site_values,
)
from optiserv.heuristics.p_median import greedy_interchange, sorted_rows

__all__ = ["TreeResult", "lagrangian_branch_and_bound"]

_LARGE_NODE_CHUNK = 10
"""Subgradient iterations between two looks at the clock in a node above ``_SHARED_PAIRS``
pairs (one iteration there reads tens of megabytes)."""

_SHARED_PAIRS = 1 << 22
"""Up to this many candidate pairs (64 MiB of sites and costs) an open child shares its
parent's reduced pairs; above, it starts again from the root's. Depth-first, each waiting
child would otherwise keep its own level's arrays: at 20,000 × 1,000 (19M pairs, almost none
removed by the bound) the tree reached 3.5–3.9 GB in 7 nodes."""


@dataclass(frozen=True, eq=False)
class TreeResult:
    """The outcome of the Lagrangian branch and bound.

    Attributes
    ----------
    open_sites
        Sorted indices of the best plan's open sites (the incumbent given, or a better one).
    objective
        Its cost Σ_i w_i min_{j open} d_ij (weight × cost units).
    bound
        A proven lower bound on the optimum; equals ``objective`` (or lies within τ of it)
        when ``complete``.
    complete
        True when the whole tree was searched: the plan is optimal within τ.
    nodes
        Node bounds computed (a node is bounded again, up to ``rounds`` times, while its
        bound fixes sites).
    iterations
        Subgradient iterations over all nodes.
    """

    open_sites: NDArray[np.int64]
    objective: float
    bound: float
    complete: bool
    nodes: int
    iterations: int


@dataclass(eq=False)
class _Node:
    """A node: site bounds, candidate pairs, starting multipliers and the parent's bound."""

    fixed: NDArray[np.bool_]
    allowed: NDArray[np.bool_]
    start: NDArray[np.int64]
    site: NDArray[np.int64]
    cost: NDArray[np.float64]
    multiplier: NDArray[np.float64]
    parent_bound: float


@dataclass(frozen=True)
class _Settings:
    """Subgradient settings of a node (one product setting, the same for every instance).

    Compared on the hardest OR-Library tree (pmed36) by CPU seconds of the whole tree:
    iterations/patience 120/8 took 31 s, 120/8 with 8 rounds 35 s, 80/6 with initial scale
    0.5 39 s, 300/6 with minimum scale 0.02 58 s.
    """

    max_iterations: int = 120
    patience: int = 8
    initial_scale: float = 1.0
    min_scale: float = 0.005
    rounds: int = 4  # bound → fix → bound, while fixing changes sites


class _Search:
    """The state of one depth-first search: incumbent, limit, counters and the clock."""

    def __init__(
        self,
        costs: CostMatrix,
        weight: NDArray[np.float64],
        p: int,
        incumbent: NDArray[np.int64],
        incumbent_cost: float,
        integral: bool,
        relative_gap: float,
        deadline: float,
        settings: _Settings,
        root_fixed: NDArray[np.bool_],
        root_allowed: NDArray[np.bool_],
        root_pairs: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]],
    ) -> None:
        self.costs = costs
        self.weight = weight
        self.root_pairs = root_pairs
        self.p = p
        self.integral = integral
        self.relative_gap = relative_gap
        self.deadline = deadline
        self.settings = settings
        self.root_fixed = root_fixed
        self.root_allowed = root_allowed
        self.best_sites = np.sort(incumbent).astype(np.int64)
        self.best_cost = float(incumbent_cost)
        self.pruned_bound = math.inf  # smallest bound of a pruned node (non-integral costs)
        self.nodes = 0
        self.iterations = 0
        self.unfinished: _Node | None = None
        """A node the clock stopped before it was finished (it is still open)."""

    @property
    def limit(self) -> float:
        """The largest cost of a plan the search still looks for (see the module docstring)."""
        upper = self.best_cost
        tau = max(1e-6, 1e-9 * abs(upper), self.relative_gap * abs(upper))
        if self.integral:
            return max(upper - 1.0 + 1e-6, upper - tau)
        return upper - tau

    def offer(self, is_open: NDArray[np.bool_]) -> None:
        """Price a plan exactly; if cheaper than the incumbent, improve it by interchange.

        Pricing reads only the open sites' costs (:func:`~optiserv.coverage.nearest_open`), and
        the interchange searches the root's candidate pairs: neither ever makes all n·m
        pairs of a dense cost matrix (20,000 × 1,000: 3.9 GB at peak when it did).
        """
        sites = np.flatnonzero(is_open)
        nearest, distance = nearest_open(self.costs, sites.astype(np.int64))
        if (nearest < 0).any():
            return
        cost = float(np.sum(self.weight * distance))
        if not cost < self.best_cost:
            return
        start, site, pair_cost = self.root_pairs
        better = greedy_interchange(
            self.costs, self.weight, self.p, fixed=self.root_fixed,
            forbidden=~self.root_allowed, initial=sites,
            pairs=(start, site, pair_cost), pair_cost=pair_cost,  # costs given: pairs[2] unread
            deadline=self.deadline,
        )
        if better.serves_all and better.objective < cost:
            sites, cost = better.open_sites, better.objective
        self.best_sites, self.best_cost = np.sort(sites).astype(np.int64), float(cost)

    def prune(self, bound: float) -> None:
        """Record a pruned node's bound (it proves nothing below the limit exists there)."""
        self.pruned_bound = min(self.pruned_bound, bound)

    def bound_node(self, node: _Node) -> tuple[float, NDArray[np.float64], NDArray[np.bool_]]:
        """Maximise L(λ) at a node; returns L, the site values ρ and the subproblem's plan S."""
        free = node.allowed & ~node.fixed
        n_free = self.p - int(node.fixed.sum())
        settings = self.settings
        rows = sorted_rows(node.start, node.site, node.cost, node.fixed.size, self.p)
        # a large node looks at the clock every few iterations (the ascent resumes exactly)
        chunk = settings.max_iterations if node.site.size <= _SHARED_PAIRS else _LARGE_NODE_CHUNK
        multiplier, current = node.multiplier.copy(), node.multiplier
        bound, iterations, scale, since = -math.inf, 0, settings.initial_scale, 0
        while iterations < settings.max_iterations:
            bound, ran, scale, since, stopped = resume_ascent(
                rows, node.fixed, free, n_free, current, multiplier, bound,
                self.best_cost, self.limit, min(chunk, settings.max_iterations - iterations),
                settings.patience, scale, since, settings.min_scale,
            )
            iterations += ran
            if stopped or time.perf_counter() > self.deadline:
                break
        self.iterations += int(iterations)
        node.multiplier = multiplier
        value = site_values(rows, multiplier, node.fixed.size)
        chosen = np.zeros(node.fixed.size, dtype=np.bool_)
        choose_sites(value, node.fixed, free, n_free, chosen)
        return float(bound), value, chosen

    def restrict(self, node: _Node, fixed: NDArray[np.bool_], allowed: NDArray[np.bool_],
                 multiplier: NDArray[np.float64] | None = None,
                 penalty: NDArray[np.float64] | None = None, slack: float = math.inf) -> bool:
        """Apply site bounds (and a reduced-cost slack) to the node's pairs; False if empty."""
        rank = int(allowed.sum()) - self.p
        if rank < 0 or int(fixed.sum()) > self.p:
            return False
        start, site, cost, empty = filter_pairs(
            node.start, node.site, node.cost, fixed, allowed, rank,
            node.multiplier if multiplier is None else multiplier,
            np.zeros(fixed.size) if penalty is None else penalty, slack,
        )
        if empty:
            return False
        node.fixed, node.allowed = fixed, allowed
        node.start, node.site, node.cost = start, site, cost
        return True


def _decided(search: _Search, node: _Node) -> bool:
    """When the site bounds leave one plan, price it; True if the node is finished."""
    n_fixed = int(node.fixed.sum())
    n_allowed = int(node.allowed.sum())
    if n_fixed == search.p:
        search.offer(node.fixed.copy())
        return True
    if n_allowed == search.p:
        search.offer(node.allowed.copy())
        return True
    return False


def _branch_site(
    value: NDArray[np.float64], chosen: NDArray[np.bool_], free: NDArray[np.bool_]
) -> int:
    """The free site of the subproblem's plan whose closing raises the bound most.

    Compared on pmed36 + pmed39 (CPU seconds of both trees): this rule 39 s; the site of the
    plan whose closing raises the bound least 41 s; the site outside the plan whose opening
    raises it least 43 s.
    """
    candidates = np.flatnonzero(chosen & free)
    if candidates.size == 0:  # cannot happen: some free site is open in the subproblem
        candidates = np.flatnonzero(free)
    following = float(value[~chosen & free].min()) if (~chosen & free).any() else math.inf
    return int(candidates[np.argmax(following - value[candidates])])


def _process(search: _Search, node: _Node) -> tuple[_Node, _Node] | None:
    """Bound, fix and reduce one node; return its two children, or None when it is done."""
    settings = search.settings
    if not search.restrict(node, node.fixed, node.allowed):
        search.prune(search.limit)
        return None
    if time.perf_counter() > search.deadline:
        search.unfinished = node
        return None
    for _ in range(settings.rounds):
        if _decided(search, node):
            return None
        search.nodes += 1
        bound, value, chosen = search.bound_node(node)
        if time.perf_counter() > search.deadline and bound <= search.limit:
            # out of time mid-node: it stays open with the bound it has (valid for its
            # subtree), without the pricing, filtering and branching that would overrun
            node.parent_bound = max(node.parent_bound, bound)
            search.unfinished = node
            return None
        search.offer(chosen)
        limit = search.limit
        if bound > limit:
            search.prune(bound)
            return None
        free = node.allowed & ~node.fixed
        last = float(value[chosen & free].max()) if (chosen & free).any() else -math.inf
        following = float(value[~chosen & free].min()) if (~chosen & free).any() else math.inf
        slack = limit - bound
        with np.errstate(invalid="ignore"):
            close = free & ~chosen & (value - last > slack)
            force_open = free & chosen & (following - value > slack)
            penalty = np.where(chosen, 0.0, value - last)
        fixed = node.fixed | force_open
        allowed = node.allowed & ~close
        changed = bool(close.any() or force_open.any())
        if not search.restrict(node, fixed, allowed, node.multiplier, penalty, slack):
            search.prune(limit)
            return None
        node.parent_bound = bound
        if not changed:
            break
    if _decided(search, node):
        return None
    branch = _branch_site(value, chosen, node.allowed & ~node.fixed)
    closed_child = _Node(
        node.fixed, node.allowed.copy(), node.start, node.site, node.cost,
        node.multiplier.copy(), node.parent_bound,
    )
    closed_child.allowed[branch] = False
    # the open child waits on the stack while the closed one's subtree is searched: beyond
    # _SHARED_PAIRS it holds the root's pairs (a valid superset, reduced again when it is
    # bounded) instead of this node's, so the stack does not keep a copy per level
    pairs = (
        (node.start, node.site, node.cost) if node.site.size <= _SHARED_PAIRS
        else search.root_pairs
    )
    open_child = _Node(
        node.fixed.copy(), node.allowed, *pairs, node.multiplier.copy(), node.parent_bound,
    )
    open_child.fixed[branch] = True
    return closed_child, open_child


def lagrangian_branch_and_bound(
    costs: CostMatrix,
    weights: ArrayLike,
    p: int,
    *,
    start: ArrayLike,
    site: ArrayLike,
    cost: ArrayLike,
    fixed: ArrayLike,
    allowed: ArrayLike,
    multipliers: ArrayLike,
    incumbent: ArrayLike,
    incumbent_cost: float,
    integral: bool,
    relative_gap: float = 0.0,
    time_limit: float = math.inf,
) -> TreeResult:
    """Search the tree of site decisions for a plan cheaper than the incumbent.

    Parameters
    ----------
    costs
        d_ij for every reachable pair with an allowed site (prices plans exactly).
    weights
        w_i per demand point.
    p
        Number of open sites, fixed sites included.
    start, site, cost
        The candidate pairs in CSR layout by demand point, with c_ij = w_i d_ij ascending
        within each demand point; every plan within the limit must serve each demand point
        from one of its pairs (e.g. the pairs left by the exact reductions).
    fixed, allowed
        Boolean masks over the sites: fixed open, and allowed to open (fixed included).
    multipliers
        λ_i to start the root's subgradient ascent from.
    incumbent, incumbent_cost
        The open sites of a plan that serves every demand point, and its cost.
    integral
        True when every w_i d_ij is an integer (the limit is then U − 1).
    relative_gap
        Stop proving once the incumbent is within this relative gap of the optimum.
    time_limit
        Wall-clock seconds; the search stops with ``complete=False`` when they run out.
    """
    deadline = time.perf_counter() + float(time_limit)
    fixed_mask = np.asarray(fixed, dtype=np.bool_).copy()
    allowed_mask = np.asarray(allowed, dtype=np.bool_).copy()
    root_pairs = (
        np.ascontiguousarray(start, dtype=np.int64), np.ascontiguousarray(site, dtype=np.int64),
        np.ascontiguousarray(cost, dtype=np.float64),
    )
    search = _Search(
        costs, np.asarray(weights, dtype=np.float64), int(p),
        np.asarray(incumbent, dtype=np.int64), float(incumbent_cost), bool(integral),
        float(relative_gap), deadline, _Settings(), fixed_mask, allowed_mask, root_pairs,
    )
    root = _Node(
        fixed_mask, allowed_mask, *root_pairs, np.array(multipliers, dtype=np.float64),
        -math.inf,
    )
    stack = [root]
    while stack:
        if time.perf_counter() > deadline:
            break
        children = _process(search, stack.pop())
        if search.unfinished is not None:
            stack.append(search.unfinished)
            break
        if children is not None:
            closed_child, open_child = children
            stack.append(open_child)
            stack.append(closed_child)
    complete = not stack
    bound = min([search.pruned_bound, *(node.parent_bound for node in stack)])
    if search.integral and math.isfinite(bound):
        bound = math.ceil(bound - 1e-6)  # plans cost integers
    bound = min(search.best_cost, bound)
    return TreeResult(
        search.best_sites, search.best_cost, float(bound), complete, search.nodes,
        search.iterations,
    )
