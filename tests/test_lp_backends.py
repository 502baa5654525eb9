"""Backends take LinearProgram arrays and report status honestly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from optiserv.exceptions import ParameterError
from optiserv.lp import LinearProgram, ModelBuilder
from optiserv.solvers import SolveOptions, Status, get_backend, relative_gap

BACKENDS = ["highs", "cbc"]


def _cover_program() -> LinearProgram:
    builder = ModelBuilder()
    y = builder.add_variables("y", 3, cost=[3, 2, 4], upper=1, integer=True)
    builder.add_matrix_rows([(y, np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]]))], lower=1)
    return builder.build("minimize")


def test_builder_stacks_blocks_once() -> None:
    builder = ModelBuilder()
    x = builder.add_variables("x", 2, cost=1.0)
    y = builder.add_variables("y", 3, cost=[1, 2, 3], upper=1, integer=True)
    rows = builder.add_matrix_rows([(x, sp.identity(2)), (y, -np.ones((2, 3)))], upper=0)
    more = builder.add_rows([0, 0], [0, 4], [1.0, 0.0], n_rows=1, lower=2)
    program = builder.build("maximize", offset=5)
    assert rows.tolist() == [0, 1] and more.tolist() == [2]
    assert program.n_cols == 5 and program.n_rows == 3
    assert program.nnz == 2 + 6 + 1  # the explicit zero was eliminated
    assert program.integrality.tolist() == [False, False, True, True, True]
    assert program.value(np.ones(5)) == 2 + 6 + 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_small_mip_is_optimal(backend: str) -> None:
    result = get_backend(backend).solve(_cover_program(), SolveOptions())
    assert result.status is Status.OPTIMAL
    assert result.objective == pytest.approx(5.0)
    assert result.bound == pytest.approx(5.0)
    assert result.values is not None
    assert np.round(result.values).tolist() == [1, 1, 0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_infeasible_is_reported(backend: str) -> None:
    builder = ModelBuilder()
    y = builder.add_variables("y", 2, upper=1, integer=True)
    builder.add_matrix_rows([(y, np.ones((1, 2)))], lower=3)
    result = get_backend(backend).solve(builder.build("minimize"), SolveOptions())
    assert result.status is Status.INFEASIBLE
    assert result.values is None


def test_unbounded_is_reported() -> None:
    builder = ModelBuilder()
    builder.add_variables("x", 1, cost=1.0)
    result = get_backend("highs").solve(builder.build("maximize"), SolveOptions())
    assert result.status is Status.UNBOUNDED


def test_lp_relaxation_and_violation() -> None:
    program = _cover_program()
    relaxed = program.relaxed()
    result = get_backend("highs").solve(relaxed, SolveOptions())
    assert result.status is Status.OPTIMAL
    assert result.objective == pytest.approx(4.5)  # all y = 1/2
    assert program.violation(np.array([0.5, 0.5, 0.5])) == pytest.approx(0.5)
    assert program.violation(np.array([1.0, 1.0, 0.0])) == 0.0


def test_warm_start_is_accepted() -> None:
    result = get_backend("highs").solve(_cover_program(), SolveOptions(), np.array([1.0, 1, 1]))
    assert result.status is Status.OPTIMAL and result.objective == pytest.approx(5.0)


def _market_split(seed: int = 1, rows: int = 4, cols: int = 32) -> LinearProgram:
    """A market-split MIP (Cornuéjols & Dawande): tiny, always feasible, and very hard to prove.

    min Σ (s⁺ + s⁻)  s.t.  Σ_k a_rk x_k + s⁺_r − s⁻_r = ⌊Σ_k a_rk / 2⌋,  x binary.
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 100, (rows, cols)).astype(float)
    builder = ModelBuilder()
    x = builder.add_variables("x", cols, upper=1, integer=True)
    plus = builder.add_variables("plus", rows, cost=1.0)
    minus = builder.add_variables("minus", rows, cost=1.0)
    rhs = np.floor(a.sum(axis=1) / 2)
    builder.add_matrix_rows(
        [(x, a), (plus, sp.identity(rows)), (minus, -sp.identity(rows))], lower=rhs, upper=rhs
    )
    return builder.build("minimize")


def test_time_limit_returns_incumbent_with_bound() -> None:
    """A time limit is a result: FEASIBLE with incumbent, bound and gap (or OPTIMAL if lucky)."""
    program = _market_split()
    result = get_backend("highs").solve(program, SolveOptions(time_limit=0.5))
    assert result.status in (Status.FEASIBLE, Status.OPTIMAL)
    assert result.values is not None
    assert program.violation(result.values) < 1e-6
    assert result.bound <= result.objective + 1e-9
    if result.status is Status.FEASIBLE:
        assert result.gap > 0


def test_watchdog_interrupts_a_solver_that_ignores_its_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If HiGHS overruns its own limit, optiserv interrupts it and keeps the incumbent."""
    import highspy

    original = highspy.Highs.setOptionValue

    def ignore_time_limit(self, name, value):  # type: ignore[no-untyped-def]
        if name == "time_limit":
            return None
        return original(self, name, value)

    monkeypatch.setattr(highspy.Highs, "setOptionValue", ignore_time_limit)
    monkeypatch.setattr("optiserv.solvers.highs._GRACE", 0.0)
    result = get_backend("highs").solve(_market_split(seed=2), SolveOptions(time_limit=0.5))
    if result.status is not Status.OPTIMAL:  # proven within the limit: nothing to interrupt
        assert result.status in (Status.FEASIBLE, Status.NO_SOLUTION)
        assert "optiserv's wall-clock limit" in result.message


@pytest.mark.parametrize("with_start", [True, False])
def test_a_solver_that_cannot_be_stopped_loses_no_plan(
    monkeypatch: pytest.MonkeyPatch, with_start: bool
) -> None:
    """If HiGHS ignores even the interrupt, the caller's start plan comes back as FEASIBLE."""
    from optiserv.solvers import highs

    def never_stops(h, time_limit):  # type: ignore[no-untyped-def]
        raise highs._StillRunningError("HiGHS did not stop")

    monkeypatch.setattr(highs.HighsBackend, "_run", staticmethod(never_stops))
    program = _cover_program()
    start = np.ones(program.n_cols)
    assert program.violation(start) < 1e-9
    result = get_backend("highs").solve(
        program, SolveOptions(time_limit=1), start if with_start else None
    )
    assert "HiGHS did not stop" in result.message
    assert math.isinf(result.bound)
    if with_start:
        assert result.status is Status.FEASIBLE
        np.testing.assert_array_equal(result.values, start)
        assert result.objective == pytest.approx(program.value(start))
    else:
        assert result.status is Status.NO_SOLUTION and result.values is None


def test_options_are_validated() -> None:
    with pytest.raises(ParameterError):
        SolveOptions(time_limit=0)
    with pytest.raises(ParameterError):
        SolveOptions(relative_gap=1.5)
    with pytest.raises(ParameterError, match="unknown backend"):
        get_backend("gurobi-but-misspelt")


def test_relative_gap() -> None:
    assert relative_gap(100.0, 90.0) == pytest.approx(0.1)
    assert relative_gap(0.0, 0.0) == 0.0
    assert math.isinf(relative_gap(1.0, math.inf))


def test_misreported_objective_with_a_start_is_solved_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HiGHS 1.16 can report an objective its plan does not have after a MIP start: re-solve."""
    from dataclasses import replace

    from optiserv.solvers.highs import HighsBackend

    original = HighsBackend._solve_once
    calls: list[bool] = []

    def misreport(self, program, options, initial):  # type: ignore[no-untyped-def]
        calls.append(initial is not None)
        result = original(self, program, options, initial)
        return replace(result, objective=result.objective - 1.0) if initial is not None else result

    monkeypatch.setattr(HighsBackend, "_solve_once", misreport)
    result = HighsBackend().solve(_cover_program(), SolveOptions(), np.array([1.0, 1, 1]))
    assert calls == [True, False]
    assert result.status is Status.OPTIMAL
    assert result.objective == pytest.approx(5.0)
    assert "re-solved without the start" in result.message


def test_highs_time_limit_counts_the_model_loading(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Loading a large model takes seconds of the limit: HiGHS gets only what is left."""
    import time

    from optiserv.solvers.highs import HighsBackend

    load, run = HighsBackend._load, HighsBackend._run
    limits: list[float] = []

    def slow_load(h, highspy, program):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        load(h, highspy, program)

    def seen(h, time_limit):  # type: ignore[no-untyped-def]
        limits.append(time_limit)
        limits.append(h.getOptionValue("time_limit")[1])
        return run(h, time_limit)

    monkeypatch.setattr(HighsBackend, "_load", staticmethod(slow_load))
    monkeypatch.setattr(HighsBackend, "_run", staticmethod(seen))
    builder = ModelBuilder()
    builder.add_variables("y", 3, cost=1.0, upper=1.0, integer=True)
    result = get_backend("highs").solve(builder.build("minimize"), SolveOptions(time_limit=20.0))
    assert result.objective == 0.0
    assert len(limits) == 2 and all(limit <= 20.0 - 0.3 for limit in limits)
