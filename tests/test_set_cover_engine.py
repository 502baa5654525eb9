"""The set-covering engine: exhaustive enumeration, each reduction alone, the bound, the
decision mode, the exact finish, and the kernels without numba."""

from __future__ import annotations

import itertools
import math
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from optiserv.heuristics import _set_cover_kernels as kernels
from optiserv.heuristics.set_cover import (
    SetCoverProblem,
    lagrangian_set_cover_bound,
    reduce_set_cover,
    solve_set_cover,
)
from optiserv.solvers import SolveOptions, Status, get_backend
from tests._pure_python import pure_python_report


def enumerate_optimum(
    matrix: np.ndarray, costs: np.ndarray, fixed: np.ndarray, forbidden: np.ndarray
) -> float:
    """The cheapest cover by trying every subset of the free sites (inf if none covers)."""
    free = [j for j in range(matrix.shape[1]) if not fixed[j] and not forbidden[j]]
    best = math.inf
    for size in range(len(free) + 1):
        for chosen in itertools.combinations(free, size):
            is_open = fixed.copy()
            is_open[list(chosen)] = True
            if matrix[:, is_open].any(axis=1).all():
                best = min(best, float(costs[is_open].sum()))
    return best


def assert_solves_to(
    matrix: np.ndarray, costs: np.ndarray, fixed: np.ndarray, forbidden: np.ndarray, best: float
) -> None:
    """The engine proves ``best`` (INFEASIBLE when inf) with a plan that keeps the fixed
    sites, opens no forbidden one, covers every row and costs what it says."""
    problem = SetCoverProblem.of(matrix, costs, fixed=fixed, forbidden=forbidden)
    result = solve_set_cover(problem, backend=get_backend("highs"))
    if math.isinf(best):
        assert result.status is Status.INFEASIBLE
        return
    assert result.status is Status.OPTIMAL, result.message
    assert result.objective == pytest.approx(best)
    assert result.bound == pytest.approx(best)
    assert problem.covers(result.open_sites)
    assert fixed[result.open_sites].sum() == fixed.sum()
    assert not forbidden[result.open_sites].any()
    assert result.objective == pytest.approx(costs[result.open_sites].sum())


def random_problem(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random rows over 2–9 sites; unit, integer or fractional costs (some zero); fixed or
    forbidden sites."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(3, 16)), int(rng.integers(2, 10))
    matrix = rng.random((n, m)) < rng.uniform(0.15, 0.5)
    kind = seed % 3
    costs = (np.ones(m), rng.integers(1, 6, m).astype(float), rng.uniform(0.5, 3.0, m))[kind]
    if seed % 5 == 4:  # a free site costs nothing
        costs[rng.integers(0, m)] = 0.0
    fixed = np.zeros(m, dtype=bool)
    forbidden = np.zeros(m, dtype=bool)
    if seed % 4 == 1:
        fixed[rng.integers(0, m)] = True
    if seed % 4 == 2:
        forbidden[rng.integers(0, m)] = True
    return matrix, costs, fixed, forbidden


def sparse_problem(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """14 rows over 8 sites, each row of 2 or 3 sites (the reductions rarely finish these);
    costs, fixed and forbidden sites as in :func:`random_problem`."""
    rng = np.random.default_rng(seed)
    n, m = 14, 8
    matrix = np.zeros((n, m), dtype=bool)
    for row in matrix:
        row[rng.choice(m, int(rng.integers(2, 4)), replace=False)] = True
    _, costs, fixed, forbidden = random_problem(seed)
    return matrix, np.resize(costs, m), np.resize(fixed, m), np.resize(forbidden, m)


def vertex_cover_of_complete_graph(k: int) -> SetCoverProblem:
    """Rows = the edges of K_k, sites = its vertices: optimum k − 1, LP bound k / 2, and no
    reduction applies, so the exact finish must prove it."""
    edges = list(itertools.combinations(range(k), 2))
    matrix = np.zeros((len(edges), k), dtype=bool)
    for row, (a, b) in enumerate(edges):
        matrix[row, [a, b]] = True
    return SetCoverProblem.of(matrix)


@pytest.mark.parametrize("seed", range(80))
def test_optimum_equals_enumeration(seed: int) -> None:
    matrix, costs, fixed, forbidden = random_problem(seed)
    best = enumerate_optimum(matrix, costs, fixed, forbidden)
    assert_solves_to(matrix, costs, fixed, forbidden, best)


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("backend", [None, "highs"])
def test_heuristic_alone_gives_a_cover_and_a_valid_bound(seed: int, backend: str | None) -> None:
    """Without a backend, or with one but ``exact=False`` (LP multipliers, no MIP), also in
    decision mode."""
    matrix, costs, fixed, forbidden = random_problem(seed)
    best = enumerate_optimum(matrix, costs, fixed, forbidden)
    if math.isinf(best):
        return
    problem = SetCoverProblem.of(matrix, costs, fixed=fixed, forbidden=forbidden)
    solver = None if backend is None else get_backend(backend)
    for stop_at in (None, best - 1.0, best):
        result = solve_set_cover(problem, backend=solver, stop_at=stop_at, exact=False)
        assert "solver_status" not in result.details
        assert result.status in (Status.OPTIMAL, Status.FEASIBLE)
        assert problem.covers(result.open_sites)
        assert result.bound <= best + 1e-9 <= result.objective + 2e-9
        if result.status is Status.OPTIMAL:
            assert result.objective == pytest.approx(best)


@pytest.mark.parametrize("which", ["rows", "sites", "essential"])
@pytest.mark.parametrize("seed", range(40))
def test_each_reduction_alone_keeps_the_optimum(seed: int, which: str) -> None:
    matrix, costs, fixed, forbidden = random_problem(seed)
    best = enumerate_optimum(matrix, costs, fixed, forbidden)
    if math.isinf(best):
        return
    problem = SetCoverProblem.of(matrix, costs, fixed=fixed, forbidden=forbidden)
    flags = {"rows": which == "rows", "sites": which == "sites", "essential": which == "essential"}
    reduction = reduce_set_cover(problem, **flags)
    assert reduction.feasible
    core = matrix[reduction.rows][:, reduction.sites]
    none = np.zeros(reduction.n_sites, dtype=bool)
    reduced_best = enumerate_optimum(core, costs[reduction.sites], none, none)
    assert reduced_best + costs[reduction.opened].sum() == pytest.approx(best)
    # the rows left are the ones no opened site covers
    opened_cover = matrix[:, reduction.opened].any(axis=1)
    assert not opened_cover[reduction.rows].any()


def test_row_and_site_dominance_on_a_small_case() -> None:
    # row 1 ⊇ row 0, so row 1 goes; site 2 covers a subset of site 1's rows at equal cost
    matrix = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=bool)
    reduction = reduce_set_cover(SetCoverProblem.of(matrix), sites=False, essential=False)
    assert reduction.rows.tolist() == [0, 2]
    reduction = reduce_set_cover(SetCoverProblem.of(matrix), rows=False, essential=False)
    assert reduction.sites.tolist() == [1]
    full = reduce_set_cover(SetCoverProblem.of(matrix))
    assert full.opened.tolist() == [1] and full.n_rows == 0


def test_identical_sites_keep_exactly_one() -> None:
    matrix = np.array([[1, 1, 1], [1, 1, 1]], dtype=bool)
    reduction = reduce_set_cover(SetCoverProblem.of(matrix), rows=False, essential=False)
    assert reduction.sites.tolist() == [0]


@pytest.mark.parametrize("seed", range(30))
def test_lagrangian_bound_never_exceeds_the_optimum(seed: int) -> None:
    matrix, costs, _, _ = random_problem(seed)
    none = np.zeros(matrix.shape[1], dtype=bool)
    best = enumerate_optimum(matrix, costs, none, none)
    if math.isinf(best):
        return
    reduction = reduce_set_cover(SetCoverProblem.of(matrix, costs), rows=False, sites=False,
                                 essential=False)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        u = rng.uniform(0.0, 2.0, reduction.n_rows) * rng.integers(0, 2, reduction.n_rows)
        assert lagrangian_set_cover_bound(reduction, u) <= best + 1e-9


@pytest.mark.parametrize("seed", range(30))
def test_decision_mode_answers_correctly(seed: int) -> None:
    matrix, costs, fixed, forbidden = random_problem(seed)
    best = enumerate_optimum(matrix, costs, fixed, forbidden)
    if math.isinf(best):
        return
    problem = SetCoverProblem.of(matrix, costs, fixed=fixed, forbidden=forbidden)
    for stop_at in (best - 1.0, best - 1e-3, best, best + 0.5):
        result = solve_set_cover(problem, backend=get_backend("highs"), stop_at=stop_at)
        if best <= stop_at:
            assert result.objective <= stop_at + 1e-9
            assert problem.covers(result.open_sites)
        else:
            assert result.bound > stop_at


@pytest.mark.parametrize("k", [5, 6, 7])
def test_exact_finish_proves_what_the_bound_cannot(k: int) -> None:
    problem = vertex_cover_of_complete_graph(k)
    alone = solve_set_cover(problem, backend=None)
    assert alone.status is Status.FEASIBLE
    assert alone.bound <= math.ceil(k / 2)
    for backend in ("highs", "cbc"):
        result = solve_set_cover(problem, backend=get_backend(backend))
        assert result.status is Status.OPTIMAL
        assert result.objective == k - 1 == result.bound
        assert "solver_status" in result.details or "rows_for_the_solver" in result.details


def test_time_limit_keeps_a_plan_and_a_valid_bound() -> None:
    problem = vertex_cover_of_complete_graph(9)
    result = solve_set_cover(
        problem, backend=get_backend("highs"), options=SolveOptions(time_limit=1e-6)
    )
    assert result.status in (Status.FEASIBLE, Status.OPTIMAL)
    assert problem.covers(result.open_sites)
    assert result.bound <= 8 <= result.objective


def test_empty_and_uncoverable_rows() -> None:
    empty_row = SetCoverProblem.of(np.array([[1, 0], [0, 0]], dtype=bool))
    assert solve_set_cover(empty_row, backend=None).status is Status.INFEASIBLE
    forbidden = SetCoverProblem.of(
        np.array([[1, 0], [0, 1]], dtype=bool), forbidden=np.array([False, True])
    )
    assert solve_set_cover(forbidden, backend=None).status is Status.INFEASIBLE
    nothing = SetCoverProblem.of(sp.csr_matrix((0, 3), dtype=bool))
    result = solve_set_cover(nothing, backend=None)
    assert result.status is Status.OPTIMAL and result.objective == 0.0


def test_swap_search_replaces_two_sites_by_one() -> None:
    # sites 0 and 1 each cover half; site 2 covers everything
    matrix = sp.csc_matrix(np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1]], dtype=bool))
    csr = matrix.tocsr()
    is_open = np.array([True, True, False])
    costs = np.ones(3)
    order = np.array([0, 1, 2], dtype=np.int64)
    saving = kernels.swap_search(
        csr.indptr.astype(np.int64), csr.indices.astype(np.int64),
        matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64), costs, order, is_open,
    )
    assert saving == 1.0
    assert is_open.tolist() == [False, False, True]


_PURE_PYTHON_CHECK = textwrap.dedent(
    """
    import itertools, json
    import numpy as np
    from optiserv.heuristics import _set_cover_kernels as kernels
    from optiserv.heuristics.set_cover import SetCoverProblem, reduce_set_cover, solve_set_cover
    from optiserv.solvers import get_backend

    assert not hasattr(kernels.subgradient_block, "py_func"), "numba is still compiling"
    report = {}
    results = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        matrix = rng.random((12, 7)) < 0.35
        matrix[np.arange(12), rng.integers(0, 7, 12)] = True
        costs = rng.integers(1, 5, 7).astype(float)
        problem = SetCoverProblem.of(matrix, costs)
        best = min(
            costs[list(s)].sum()
            for k in range(8) for s in itertools.combinations(range(7), k)
            if k and matrix[:, list(s)].any(axis=1).all()
        )
        result = solve_set_cover(problem, backend=get_backend("highs"))
        reduction = reduce_set_cover(problem)
        results.append([float(result.objective), reduction.rows.tolist(),
                        reduction.sites.tolist(), reduction.opened.tolist()])
        report[f"seed{seed}"] = bool(abs(result.objective - best) < 1e-9)
    print(json.dumps({"report": report, "results": results}))
    """
)


def test_kernels_run_as_pure_python() -> None:
    """Every kernel runs with ``NUMBA_DISABLE_JIT=1``, finds the optimum, and the reductions
    agree with the compiled ones."""
    result = pure_python_report(_PURE_PYTHON_CHECK)
    assert result["report"] == dict.fromkeys(result["report"], True), result["report"]
    for seed, (objective, rows, sites, opened) in enumerate(result["results"]):
        rng = np.random.default_rng(seed)
        matrix = rng.random((12, 7)) < 0.35
        matrix[np.arange(12), rng.integers(0, 7, 12)] = True
        costs = rng.integers(1, 5, 7).astype(float)
        problem = SetCoverProblem.of(matrix, costs)
        reduction = reduce_set_cover(problem)
        assert [reduction.rows.tolist(), reduction.sites.tolist(), reduction.opened.tolist()] \
            == [rows, sites, opened]
        assert solve_set_cover(problem, backend=get_backend("highs")).objective == objective


@pytest.mark.parametrize("backend", ["highs", "cbc"])
def test_decision_mode_needs_the_solver_on_a_vertex_cover(backend: str) -> None:
    # K_6: optimum 5, Lagrangian bound ≤ 3, so "a cover within 4?" needs the solver's "no"
    problem = vertex_cover_of_complete_graph(6)
    answer = solve_set_cover(problem, backend=get_backend(backend), stop_at=4.0)
    assert answer.bound > 4.0
    assert "solver_status" in answer.details
    answer = solve_set_cover(problem, backend=get_backend(backend), stop_at=5.0)
    assert answer.objective <= 5.0 and problem.covers(answer.open_sites)


@pytest.mark.parametrize("seed", range(6))
def test_set_covering_agrees_with_the_compact_mip(seed: int) -> None:
    """SetCovering (engine) against the plain MIP of its own ``_build`` solved by HiGHS, on
    instances too large to enumerate; costs, fixed and forbidden sites vary with the seed."""
    from optiserv.formulations.lscp import SetCovering
    from tests.conftest import random_instance

    instance = random_instance(seed, n=300, m=40, fixed=seed % 2, forbidden=seed % 3,
                               with_costs=seed >= 3)
    model = SetCovering(radius=3_000.0)
    solution = model.solve(instance)
    prepared = model._prepare(instance)
    if model._early_exit(instance, prepared) is not None:
        assert solution.status is Status.INFEASIBLE
        return
    compact = get_backend("highs").solve(model._build(instance, prepared).program, SolveOptions())
    assert solution.status is Status.OPTIMAL
    assert solution.objective == pytest.approx(compact.objective)
    assert solution.covered_weight == pytest.approx(instance.total_weight)
    assert "rows_after_reduction" in solution.details


@pytest.mark.parametrize("seed", range(6))
def test_lp_multipliers_reach_the_linear_relaxation(seed: int) -> None:
    """Step 3a: L(u) of the dual LP's u is the LP relaxation's value (scipy's linprog on the
    core, an independent solver), never below the subgradient's bound."""
    from scipy.optimize import linprog

    from optiserv.heuristics.set_cover import _lagrangian_search, _lp_multipliers

    rng = np.random.default_rng(seed)
    n, m = 120, 40
    matrix = rng.random((n, m)) < 0.08
    matrix[np.arange(n), rng.integers(0, m, n)] = True  # every row coverable
    costs = rng.uniform(1.0, 3.0, m)
    core = reduce_set_cover(SetCoverProblem.of(matrix, costs))
    search = _lagrangian_search(core, False, math.inf, 0.0, math.inf, 0.0)
    subgradient = search.bound
    details = _lp_multipliers(search, get_backend("highs"), SolveOptions(), 60.0, 0.0)
    dense = np.zeros((core.n_rows, core.n_sites))
    dense[np.repeat(np.arange(core.n_rows), np.diff(core.row_start)), core.row_sites] = 1.0
    reference = linprog(core.costs, A_ub=-dense, b_ub=-np.ones(core.n_rows), bounds=(0, 1))
    assert reference.status == 0 and details["lp_status"] == "optimal"
    assert search.bound == pytest.approx(reference.fun, rel=1e-7)
    assert search.bound >= subgradient - 1e-9
    assert lagrangian_set_cover_bound(core, search.bound_u) == pytest.approx(search.bound)


def test_first_solution_keeps_a_valid_plan_and_bound() -> None:
    """HiGHS stopped at its first solution: a feasible plan, FEASIBLE unless proven, and a
    bound the optimum (k − 1 for a vertex cover of K_k) respects."""
    from optiserv.lp import ModelBuilder

    k = 9
    problem = vertex_cover_of_complete_graph(k)
    builder = ModelBuilder()
    y = builder.add_variables("y", k, cost=1.0, upper=1.0, integer=True)
    builder.add_matrix_rows([(y, problem.matrix.astype(float))], lower=1.0)
    program = builder.build("minimize")
    result = get_backend("highs").solve(program, SolveOptions(first_solution=True))
    assert result.status in (Status.FEASIBLE, Status.OPTIMAL)
    assert result.values is not None and problem.covers(np.flatnonzero(result.values > 0.5))
    assert result.bound <= k - 1 <= result.objective


def _blocks(*parts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], seed: int = 0):
    """The block-diagonal problem of ``parts`` with its rows and sites shuffled."""
    matrix = sp.block_diag([part[0] for part in parts], format="csr").toarray().astype(bool)
    costs, fixed, forbidden = (np.concatenate([part[k] for part in parts]) for k in (1, 2, 3))
    rng = np.random.default_rng(seed)
    rows, sites = rng.permutation(matrix.shape[0]), rng.permutation(matrix.shape[1])
    return matrix[rows][:, sites], costs[sites], fixed[sites], forbidden[sites]


@pytest.mark.parametrize("backend", ["highs", "cbc"])
def test_independent_parts_are_solved_apart_and_added_up(backend: str) -> None:
    """Vertex covers of K5, K6 and K7 side by side, shuffled: no reduction applies, three
    parts, each proven by the exact finish; the optimum is 4 + 5 + 6."""
    parts = []
    for k in (5, 6, 7):
        matrix = vertex_cover_of_complete_graph(k).matrix.toarray()
        zeros = np.zeros(k, dtype=bool)
        parts.append((matrix, np.ones(k), zeros, zeros))
    matrix, costs, fixed, forbidden = _blocks(*parts)
    problem = SetCoverProblem.of(matrix, costs, fixed=fixed, forbidden=forbidden)
    result = solve_set_cover(problem, backend=get_backend(backend))
    assert result.status is Status.OPTIMAL, result.message
    assert result.objective == result.bound == 15
    assert problem.covers(result.open_sites)
    assert result.details["components"] == 3
    assert result.details["components_proven"] == 3
    assert result.details["largest_component_sites"] == 7
    short = solve_set_cover(problem, backend=get_backend(backend),
                            options=SolveOptions(time_limit=1e-6))
    assert problem.covers(short.open_sites)
    assert short.bound <= 15 <= short.objective


@pytest.mark.parametrize("seed", range(40))
def test_the_sum_of_the_parts_is_the_optimum(seed: int) -> None:
    """Two random problems side by side (any costs, fixed and forbidden sites), shuffled: the
    optimum is the sum of their enumerated optima, whether or not the reductions leave two
    parts (they do in 19 of these 40)."""
    first, second = sparse_problem(seed), sparse_problem(seed + 1000)
    best = enumerate_optimum(*first) + enumerate_optimum(*second)
    assert_solves_to(*_blocks(first, second, seed=seed), best)


def naive_reduction(matrix: np.ndarray, costs: np.ndarray) -> tuple[set, set, set]:
    """The reductions by definition, every pair compared in every pass (same pass order and
    tie rules as :func:`reduce_set_cover`): (alive rows, alive sites, opened sites)."""
    n, m = matrix.shape
    rows, sites, opened = set(range(n)), set(range(m)), set()
    for j in range(m):
        if costs[j] <= 0:
            sites.discard(j)
            opened.add(j)
    rows -= {i for i in rows if any(matrix[i, j] for j in opened)}
    while True:
        changed = 0
        singles = {next(iter(s)) for i in rows if len(s := {j for j in sites if matrix[i, j]}) == 1}
        for j in singles:
            sites.discard(j)
            opened.add(j)
        rows -= {i for i in rows if any(matrix[i, j] for j in singles)}
        changed += len(singles)
        row_set = {i: frozenset(j for j in sites if matrix[i, j]) for i in rows}
        dropped = {i for i in rows for k in rows if k != i and row_set[k] <= row_set[i]
                   and (row_set[k] < row_set[i] or k < i)}
        rows -= dropped
        changed += len(dropped)
        site_set = {j: frozenset(i for i in rows if matrix[i, j]) for j in sites}

        def key(j: int, site_set: dict = site_set) -> tuple:
            return (costs[j], -len(site_set[j]), j)

        removed = {j for j in sites if not site_set[j] or any(
            k != j and site_set[j] <= site_set[k] and key(k) < key(j) for k in sites)}
        sites -= removed
        changed += len(removed)
        if changed == 0:
            return rows, sites, opened


@pytest.mark.parametrize("seed", range(60))
def test_reductions_equal_their_definition(seed: int) -> None:
    """The kernels compare only pairs whose sets changed since their last check, by lookups;
    the outcome must be that of comparing every pair in every pass."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(10, 60)), int(rng.integers(4, 20))
    matrix = rng.random((n, m)) < rng.uniform(0.1, 0.35)
    matrix[np.arange(n), rng.integers(0, m, n)] = True
    costs = (np.ones(m), rng.integers(1, 4, m).astype(float), rng.uniform(0.5, 3.0, m))[seed % 3]
    if seed % 5 == 4:
        costs[rng.integers(0, m)] = 0.0
    reduction = reduce_set_cover(SetCoverProblem.of(matrix, costs))
    rows, sites, opened = naive_reduction(matrix, costs)
    assert set(reduction.rows.tolist()) == rows
    assert set(reduction.sites.tolist()) == sites
    assert set(reduction.opened.tolist()) == opened


def test_no_solver_run_once_building_the_core_used_the_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """When the clock runs out while the exact finish builds its program, the backend is not
    started: the answer is the plan with its Lagrangian bound."""
    import time as real_time
    from types import SimpleNamespace

    from optiserv.heuristics import set_cover
    from optiserv.lp import ModelBuilder

    shift = [0.0]
    clock = SimpleNamespace(perf_counter=lambda: real_time.perf_counter() + shift[0])
    build = ModelBuilder.build
    solver_runs: list[int] = []
    highs = get_backend("highs")

    def slow_build(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        program = build(self, *args, **kwargs)
        if kwargs.get("offset") is not None:  # the exact finish's MIP (the dual LP has none)
            shift[0] = 1e6
        return program

    def counted(program, options, start=None):  # type: ignore[no-untyped-def]
        solver_runs.append(1)
        return type(highs).solve(highs, program, options, start)

    monkeypatch.setattr(set_cover, "time", clock)
    monkeypatch.setattr(ModelBuilder, "build", slow_build)
    monkeypatch.setattr(highs, "solve", counted)
    problem = vertex_cover_of_complete_graph(7)
    result = solve_set_cover(problem, backend=highs, options=SolveOptions(time_limit=60.0))
    assert shift[0] == 1e6  # the exact finish was reached
    assert result.status is Status.FEASIBLE
    assert problem.covers(result.open_sites)
    assert result.bound <= 6 <= result.objective
    assert len(solver_runs) <= 1  # the dual LP only, never the MIP


def test_no_exact_finish_with_less_time_left_than_the_linear_relaxation_took(
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """The MIP's root is the relaxation step 3a solved: with less time left than that took,
    the engine stops with the Lagrangian plan and bound instead of overrunning."""
    from optiserv.heuristics import set_cover

    solved = set_cover._lp_multipliers

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        return {**solved(*args, **kwargs), "lp_seconds": 1e9}

    monkeypatch.setattr(set_cover, "_lp_multipliers", slow)
    problem = vertex_cover_of_complete_graph(7)
    result = solve_set_cover(problem, backend=get_backend("highs"),
                             options=SolveOptions(time_limit=600.0))
    assert result.status is Status.FEASIBLE
    assert "too little time left" in result.message
    assert "solver_status" not in result.details
    assert problem.covers(result.open_sites) and result.bound <= 6 <= result.objective
