"""The p-median kernels on sorted rows (sort, candidate pairs, transpose, greedy and
interchange) and the chunked Lagrangian ascent, against plain reference computations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from optiserv.data import CostMatrix, Instance
from optiserv.formulations.p_median import prepare_p_median
from optiserv.geometry import travel_costs
from optiserv.heuristics._p_median_kernels import (
    candidate_pairs,
    dense_candidate_pairs,
    near_rows,
    sort_rows,
    stable_order,
    transpose,
)
from optiserv.heuristics.p_median import greedy_interchange, lagrangian_bound
from tests.conftest import random_instance


def _sparse_costs(seed: int, n: int = 15, m: int = 8) -> CostMatrix:
    """Integer costs with ties and about a quarter of the pairs absent (unreachable)."""
    rng = np.random.default_rng(seed)
    dense = rng.integers(1, 12, (n, m)).astype(float)
    dense[rng.random((n, m)) < 0.25] = np.inf
    dense[np.arange(n), rng.integers(0, m, n)] = 5.0
    rows, cols = np.nonzero(np.isfinite(dense))
    return CostMatrix.from_pairs(rows, cols, dense[rows, cols], dense.shape)


def _total_cost(costs: CostMatrix, weight: np.ndarray, open_sites: list[int]) -> float:
    nearest = costs.dense()[:, open_sites].min(axis=1)
    if not np.isfinite(nearest).all():
        return float("inf")  # some demand point reaches no open site
    return float((weight * nearest).sum())


@pytest.mark.parametrize("seed", range(4))
def test_sort_rows_orders_each_row_by_cost_then_site(seed: int) -> None:
    costs = _sparse_costs(seed)
    site, distance = sort_rows(costs.indptr, costs.indices, costs.data)
    for i in range(costs.shape[0]):
        row = slice(costs.indptr[i], costs.indptr[i + 1])
        expected = sorted(zip(costs.data[row].tolist(), costs.indices[row].tolist(), strict=True))
        assert list(zip(distance[row].tolist(), site[row].tolist(), strict=True)) == expected


@pytest.mark.parametrize("seed", range(4))
def test_transpose_matches_scipy(seed: int) -> None:
    costs = _sparse_costs(seed)
    values = np.arange(costs.nnz, dtype=float) + 0.5
    col_ptr, rows, out = transpose(costs.indptr, costs.indices, values, costs.shape[1])
    reference = sp.csr_matrix((values, costs.indices, costs.indptr), shape=costs.shape).tocsc()
    reference.sort_indices()
    assert np.array_equal(col_ptr, reference.indptr)
    assert np.array_equal(rows, reference.indices)
    assert np.array_equal(out, reference.data)


@pytest.mark.parametrize("seed", range(6))
def test_candidate_pairs_keep_exactly_the_pairs_within_the_thresholds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    costs = _sparse_costs(seed, n=20, m=9)
    site, distance = sort_rows(costs.indptr, costs.indices, costs.data)
    allowed = rng.random(9) < 0.8
    fixed = allowed & (rng.random(9) < 0.2)
    rank = int(allowed.sum()) - 3
    cap = np.where(rng.random(20) < 0.3, rng.integers(3, 10, 20).astype(float), np.inf)
    start, kept_site, kept_distance, threshold = candidate_pairs(
        costs.indptr, site, distance, allowed, fixed, rank, cap
    )
    for i in range(20):
        row = slice(costs.indptr[i], costs.indptr[i + 1])
        pairs = [(d, j) for d, j in zip(distance[row], site[row], strict=True) if allowed[j]]
        limit = cap[i]
        limit = min([limit] + [d for d, j in pairs if fixed[j]])
        if len(pairs) > rank:
            limit = min(limit, pairs[rank][0])
        expected = [(d, j) for d, j in pairs if d <= limit]
        row_kept = slice(start[i], start[i + 1])
        got = list(zip(kept_distance[row_kept], kept_site[row_kept], strict=True))
        assert got == expected
        assert threshold[i] == limit


@pytest.mark.parametrize("seed", range(8))
def test_dense_candidate_pairs_equal_sorting_the_csr_rows(seed: int) -> None:
    """The same pairs, order, row offsets and thresholds as sort_rows + candidate_pairs, with
    ties, +inf and -inf entries, forbidden and fixed sites, caps, and rows left empty."""
    rng = np.random.default_rng(seed)
    n, m = 30, 11
    dense = rng.integers(0, 9, (n, m)).astype(float)
    dense[rng.random((n, m)) < 0.25] = np.inf
    dense[rng.random((n, m)) < 0.05] = -np.inf
    dense[seed % n] = np.inf  # a row that reaches nothing
    rows, cols = np.nonzero(np.isfinite(dense))
    costs = CostMatrix.from_pairs(rows, cols, dense[rows, cols], dense.shape)
    site, distance = sort_rows(costs.indptr, costs.indices, costs.data)
    allowed = rng.random(m) < 0.8
    fixed = allowed & (rng.random(m) < 0.15)
    cap = np.where(rng.random(n) < 0.3, rng.integers(2, 9, n).astype(float), np.inf)
    for rank in (0, int(allowed.sum()) - 3, m + 5):  # the nearest, a usual rank, none
        expected = candidate_pairs(costs.indptr, site, distance, allowed, fixed, rank, cap)
        got = dense_candidate_pairs(dense, allowed, fixed, rank, cap)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b)


def test_p_median_reads_a_dense_matrix_in_place() -> None:
    """prepare_p_median on a dense-backed matrix makes no CSR copy of it, and keeps the
    same candidate pairs as on the CSR form of the same costs."""
    rng = np.random.default_rng(5)
    demand, sites = rng.random((40, 2)) * 10, rng.random((12, 2)) * 10
    dense = np.round(np.hypot(*(demand[:, None, :] - sites[None, :, :]).transpose(2, 0, 1)))
    dense[rng.random(dense.shape) < 0.1] = np.inf
    dense[:, 0] = dense[:, 1]  # ties
    status = np.zeros(12, dtype=int)
    status[[3, 7]] = [2, 1]  # site 3 forbidden, site 7 fixed
    rows, cols = np.nonzero(np.isfinite(dense))

    def instance(costs: CostMatrix) -> Instance:
        return Instance.from_arrays(demand, sites, site_status=status, costs=costs)

    kept_dense = instance(CostMatrix.from_dense(dense))
    kept_csr = instance(CostMatrix.from_pairs(rows, cols, dense[rows, cols], dense.shape))
    from_dense = prepare_p_median(kept_dense, 4)
    from_csr = prepare_p_median(kept_csr, 4)
    assert from_dense.costs.dense_backed
    for name in ("demand", "site", "distance", "start", "threshold", "unreachable"):
        np.testing.assert_array_equal(getattr(from_dense, name), getattr(from_csr, name))
    assert not np.isin(from_dense.site, [3]).any()


@pytest.mark.parametrize("seed", range(3))
def test_interchange_with_given_pair_costs_is_the_same_search(seed: int) -> None:
    instance = random_instance(seed + 40, n=30, m=10)
    data = prepare_p_median(instance, 3)
    weight = instance.weight()
    pairs = (data.start, data.site, data.distance)
    plain = greedy_interchange(data.costs, weight, 3, pairs=pairs)
    given = greedy_interchange(
        data.costs, weight, 3, pairs=pairs, pair_cost=weight[data.demand] * data.distance
    )
    assert np.array_equal(plain.open_sites, given.open_sites)
    assert plain.objective == given.objective


@pytest.mark.parametrize("seed", range(6))
def test_interchange_on_sorted_rows_ends_at_a_local_optimum(seed: int) -> None:
    costs = _sparse_costs(seed + 10, n=18, m=8)
    weight = np.random.default_rng(seed).integers(0, 9, 18).astype(float)
    fixed = np.zeros(8, dtype=bool)
    fixed[seed % 8] = seed % 2 == 1
    forbidden = np.zeros(8, dtype=bool)
    forbidden[(seed + 3) % 8] = True
    site, distance = sort_rows(costs.indptr, costs.indices, costs.data)
    p = 3
    plan = greedy_interchange(
        costs, weight, p, fixed=fixed, forbidden=forbidden,
        pairs=(costs.indptr, site, distance),
    )
    is_open = set(plan.open_sites.tolist())
    assert len(is_open) == p and set(np.flatnonzero(fixed).tolist()) <= is_open
    assert not is_open & set(np.flatnonzero(forbidden).tolist())
    assert plan.objective == pytest.approx(_total_cost(costs, weight, sorted(is_open)))
    if not plan.serves_all:
        return
    closed = set(np.flatnonzero(~forbidden).tolist()) - is_open
    for leave in is_open - set(np.flatnonzero(fixed).tolist()):
        for enter in closed:
            swapped = sorted((is_open - {leave}) | {enter})
            assert _total_cost(costs, weight, swapped) >= plan.objective - 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_interchange_on_reduced_pairs_prices_its_plan_exactly(seed: int) -> None:
    instance = random_instance(seed + 70, n=25, m=10, fixed=seed % 2)
    data = prepare_p_median(instance, 4)
    plan = greedy_interchange(
        data.costs, instance.weight(), 4, fixed=instance.sites.fixed,
        pairs=(data.start, data.site, data.distance),
    )
    assert plan.serves_all and plan.open_sites.size == 4
    exact = _total_cost(travel_costs(instance), instance.weight(), plan.open_sites.tolist())
    assert plan.objective == pytest.approx(exact)
    best = min(
        _total_cost(travel_costs(instance), instance.weight(), list(sites))
        for sites in itertools.combinations(range(10), 4)
        if set(np.flatnonzero(instance.sites.fixed)) <= set(sites)
    )
    assert plan.objective >= best - 1e-6


@pytest.mark.parametrize("seed", range(3))
def test_chunked_ascent_resumes_exactly(seed: int) -> None:
    instance = random_instance(seed + 80, n=40, m=12, integer_weights=False)
    data = prepare_p_median(instance, 3)
    cost = instance.weight()[data.demand] * data.distance
    none = np.zeros(12, dtype=bool)
    plan = greedy_interchange(data.costs, instance.weight(), 3)
    arguments = dict(fixed=none, forbidden=none, upper_bound=plan.objective, max_iterations=250)
    whole = lagrangian_bound(data.start, data.site, cost, 3, **arguments)
    chunked = lagrangian_bound(data.start, data.site, cost, 3, deadline=1e300, **arguments)
    assert chunked.bound == whole.bound
    assert chunked.iterations == whole.iterations
    assert np.array_equal(chunked.multipliers, whole.multipliers)
    late = lagrangian_bound(data.start, data.site, cost, 3, deadline=0.0, **arguments)
    assert late.iterations == 1  # the deadline had passed: one iteration, for a bound
    assert late.bound <= whole.bound


@pytest.mark.parametrize("seed", range(3))
def test_ascent_with_improving_plans_stays_a_valid_bound(seed: int) -> None:
    instance = random_instance(seed + 90, n=30, m=9, integer_weights=False)
    p = 3
    data = prepare_p_median(instance, p)
    weight = instance.weight()
    cost = weight[data.demand] * data.distance
    dense = travel_costs(instance)
    optimum = min(
        _total_cost(dense, weight, list(sites)) for sites in itertools.combinations(range(9), p)
    )
    offered: list[float] = []

    def improve(chosen: np.ndarray, value: np.ndarray) -> float:
        other = greedy_interchange(data.costs, weight, p, initial=np.flatnonzero(chosen))
        offered.append(other.objective)
        return other.objective

    none = np.zeros(9, dtype=bool)
    bound = lagrangian_bound(
        data.start, data.site, cost, p, fixed=none, forbidden=none,
        upper_bound=optimum * 1.5, improve=improve, improve_every=5,
    )
    assert offered  # the upper bound 1.5 × optimum leaves room for improvement
    assert bound.bound <= optimum + 1e-6 * optimum


@pytest.mark.parametrize("sorted_pairs", [False, True])
def test_interchange_under_a_deadline(sorted_pairs: bool) -> None:
    """A passed deadline keeps the greedy plan (no swap); a distant one gives the plan of the
    run without a deadline, the batches changing nothing."""
    instance = random_instance(20, n=80, m=20, integer_weights=False)
    data = prepare_p_median(instance, 5)
    pairs = (data.start, data.site, data.distance) if sorted_pairs else None
    weight = instance.weight()
    free = greedy_interchange(data.costs, weight, 5, pairs=pairs)
    greedy = greedy_interchange(data.costs, weight, 5, pairs=pairs, max_swaps=0)
    late = greedy_interchange(data.costs, weight, 5, pairs=pairs, deadline=0.0)
    distant = greedy_interchange(data.costs, weight, 5, pairs=pairs, deadline=1e300)
    assert free.swaps > 0  # the instance needs swaps, or this test shows nothing
    assert late.swaps == 0 and np.array_equal(late.open_sites, greedy.open_sites)
    assert distant.swaps == free.swaps
    assert np.array_equal(distant.open_sites, free.open_sites)


def test_parallel_kernels_give_the_same_answer_on_any_number_of_threads() -> None:
    """The ascent, the greedy and the interchange sum fixed row blocks in a fixed order, so
    the bound, the multipliers and the plan are bit for bit the same on 1 thread and on all."""
    import numba

    instance = random_instance(11, n=300, m=30, fixed=1)
    data = prepare_p_median(instance, 5)
    weight = instance.weight()
    cost = weight[data.demand] * data.distance
    fixed, forbidden = data.site_lower > 0, data.site_upper == 0

    def run() -> tuple[float, np.ndarray, np.ndarray, float]:
        plan = greedy_interchange(
            data.costs, weight, 5, fixed=instance.sites.fixed,
            pairs=(data.start, data.site, data.distance),
        )
        bound = lagrangian_bound(
            data.start, data.site, cost, 5, fixed=fixed, forbidden=forbidden,
            upper_bound=plan.objective, max_iterations=300,
        )
        return bound.bound, bound.multipliers, plan.open_sites, plan.objective

    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = run()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        every = run()
    finally:
        numba.set_num_threads(threads)
    assert single[0] == every[0] and single[3] == every[3]
    assert np.array_equal(single[1], every[1]) and np.array_equal(single[2], every[2])


def test_solve_options_threads_set_the_kernel_threads_for_the_solve_only() -> None:
    """``SolveOptions.threads`` caps the parallel kernels' threads during the solve, puts the
    previous setting back afterwards, and changes nothing in the answer."""
    import numba

    from optiserv._threads import kernel_threads
    from optiserv.formulations import PMedian
    from optiserv.solvers import SolveOptions

    before = numba.get_num_threads()
    with kernel_threads(1):
        assert numba.get_num_threads() == 1
    with kernel_threads(10_000):
        assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    with kernel_threads(None):
        assert numba.get_num_threads() == before
    assert numba.get_num_threads() == before
    instance = random_instance(12, n=200, m=25)
    one = PMedian(p=4).solve(instance, options=SolveOptions(threads=1))
    every = PMedian(p=4).solve(instance)
    assert numba.get_num_threads() == before
    assert np.array_equal(one.open_sites, every.open_sites) and one.objective == every.objective


def test_near_rows_are_the_first_pairs_of_each_row() -> None:
    data = prepare_p_median(random_instance(5, n=40, m=12), 3)
    for width in (1, 4, 40):
        near_start, near_site, near_cost = near_rows(
            data.start, data.site, data.distance, width
        )
        for i in range(40):
            first, last = data.start[i], min(data.start[i + 1], data.start[i] + width)
            row = slice(near_start[i], near_start[i + 1])
            assert np.array_equal(near_site[row], data.site[first:last])
            assert np.array_equal(near_cost[row], data.distance[first:last])


@pytest.mark.parametrize("width", [1, 3, 7])
def test_near_rows_give_the_same_search_bit_for_bit(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernels read a row's near pairs first and go on in the full row when they need
    more (the greedy's first steps, a far second open site, a high multiplier). The greedy,
    the interchange, the plain and the chunked ascent (with its interchanges) and the whole
    p-median solve give exactly the answer they give on the full rows alone."""
    from optiserv.formulations import PMedian
    from optiserv.heuristics import p_median as module

    instance = random_instance(17, n=300, m=30, fixed=1)
    data = prepare_p_median(instance, 5)
    weight = instance.weight()
    cost = weight[data.demand] * data.distance
    fixed, forbidden = data.site_lower > 0, data.site_upper == 0
    pairs = (data.start, data.site, data.distance)

    def run() -> tuple[object, ...]:
        plan = greedy_interchange(
            data.costs, weight, 5, fixed=instance.sites.fixed, pairs=pairs
        )
        plain = lagrangian_bound(
            data.start, data.site, cost, 5, fixed=fixed, forbidden=forbidden,
            upper_bound=plan.objective, max_iterations=300,
        )
        chunked = lagrangian_bound(
            data.start, data.site, cost, 5, fixed=fixed, forbidden=forbidden,
            upper_bound=plan.objective, max_iterations=300, deadline=1e18,
            improve=lambda chosen, value: greedy_interchange(
                data.costs, weight, 5, fixed=instance.sites.fixed, pairs=pairs,
                initial=np.flatnonzero(chosen)[np.argsort(value[chosen], kind="stable")],
            ).objective,
            improve_every=20,
        )
        solution = PMedian(p=5).solve(instance, backend="highs")
        return (
            tuple(plan.open_sites), plan.objective, plan.swaps,
            plain.bound, tuple(plain.multipliers), plain.iterations,
            chunked.bound, tuple(chunked.multipliers), tuple(chunked.site_value),
            solution.objective, solution.bound, solution.details.get("lagrangian_bound"),
        )

    full = run()
    calls = []
    original = module.near_rows

    def counted(*args: object) -> object:
        calls.append(args[-1])
        return original(*args)

    monkeypatch.setattr(module, "near_rows", counted)
    monkeypatch.setattr(module, "_NEAR_MIN_PAIRS", 0)
    monkeypatch.setattr(module, "_NEAR_SHARE", 0.0)
    monkeypatch.setattr(module, "_NEAR_MIN_WIDTH", width)
    near = run()
    assert calls and set(calls) == {width}  # the near rows were used
    assert near == full


@pytest.mark.parametrize("seed", range(4))
def test_stable_order_is_the_stable_argsort(seed: int) -> None:
    """The bucket sort of the dense candidate pairs gives exactly the merge sort's order:
    spread values, ties, all equal, one value, none, clustered values (the merge sort
    fallback), values far apart in magnitude."""
    rng = np.random.default_rng(seed)
    cases = [
        rng.uniform(0.0, 1e5, 951),
        rng.integers(0, 20, 300).astype(float),
        np.full(40, 7.5),
        np.array([3.0]),
        np.zeros(0),
        np.concatenate([rng.uniform(0.0, 1e-9, 200), [1e6]]),
        np.concatenate([rng.uniform(0.0, 1.0, 50), rng.uniform(1e12, 2e12, 50)]),
        np.sqrt(rng.integers(0, 10_000, 500).astype(float)),
    ]
    for values in cases:
        assert np.array_equal(stable_order(values), np.argsort(values, kind="stable"))
