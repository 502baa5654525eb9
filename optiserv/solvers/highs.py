"""HiGHS backend: the program's arrays go straight to highspy, no model file in between.

The wall-clock limit is a promise: HiGHS gets the limit as an option, and a watchdog on the
calling thread cancels the solve through HiGHS's interrupt callback if it overruns. The
incumbent and the dual bound at that moment are returned as a FEASIBLE result.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optiserv.exceptions import SolverError
from optiserv.lp import LinearProgram
from optiserv.solvers.base import Backend, SolveOptions, SolverResult, Status

__all__ = ["HighsBackend"]

# Seconds the watchdog grants HiGHS past its own limit before interrupting it, and after the
# interrupt before giving up waiting.
_GRACE = 1.0
_CANCEL_WAIT = 30.0


def _import_highspy():  # type: ignore[no-untyped-def]
    try:
        import highspy
    except ImportError as error:  # pragma: no cover - highspy is a hard dependency
        raise SolverError("the HiGHS backend needs the 'highspy' package") from error
    return highspy


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send C-level stdout to stderr: HiGHS prints its banner on construction, which would
    corrupt machine-readable output such as ``optiserv solve --json``."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        _flush_c_stdio()
        os.dup2(saved, 1)
        os.close(saved)


def _flush_c_stdio() -> None:
    """Flush the C library's stdio buffers (HiGHS writes through them)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)


def _new_highs(highspy):  # type: ignore[no-untyped-def]
    with _stdout_to_stderr():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    return h


class _StillRunningError(Exception):
    """HiGHS ignored its interrupt: its thread is still running."""


class HighsBackend(Backend):
    """Solve with HiGHS through highspy.

    Parameters
    ----------
    options
        Extra HiGHS options by their HiGHS names (e.g. ``{"simplex_strategy": 4}`` for primal
        simplex), applied after optiserv's own; for tuning a model family, not per solve.
    """

    name = "highs"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: dict[str, Any] = dict(options or {})

    def version(self) -> str:
        """HiGHS version, e.g. ``"1.16.0"``."""
        from importlib.metadata import version

        return version("highspy")

    def solve(
        self,
        program: LinearProgram,
        options: SolveOptions,
        initial: NDArray[np.float64] | None = None,
    ) -> SolverResult:
        """Pass the arrays to HiGHS, solve within the time limit, map the status honestly.

        The reported objective is checked against the returned plan. HiGHS 1.16 was seen to map
        a MIP start wrongly through presolve and report an objective its plan does not have;
        when that happens the solve is repeated without the start, in the time that is left.
        """
        started = time.perf_counter()
        result = self._solve_once(program, options, initial)
        if initial is None or result.values is None or self._consistent(program, result):
            return result
        left = options.time_limit - (time.perf_counter() - started)
        if left <= 0:
            return replace(
                result,
                status=Status.FEASIBLE,
                objective=program.value(result.values),
                bound=-math.inf if program.sense == "minimize" else math.inf,
                message="HiGHS reported an objective its plan does not have; no time to re-solve",
            )
        retry = self._solve_once(program, replace(options, time_limit=left), None)
        return replace(
            retry,
            seconds=time.perf_counter() - started,
            message=f"{retry.message} (re-solved without the start: HiGHS misreported it)",
        )

    @staticmethod
    @staticmethod
    def _consistent(program: LinearProgram, result: SolverResult) -> bool:
        """True when the reported objective is the objective of the returned plan."""
        assert result.values is not None
        recomputed = program.value(result.values)
        return abs(recomputed - result.objective) <= 1e-6 * max(1.0, abs(recomputed))

    def _solve_once(
        self,
        program: LinearProgram,
        options: SolveOptions,
        initial: NDArray[np.float64] | None,
    ) -> SolverResult:
        highspy = _import_highspy()
        started = time.perf_counter()
        h = _new_highs(highspy)
        h.setOptionValue("output_flag", bool(options.log))
        h.setOptionValue("log_to_console", bool(options.log))
        h.setOptionValue("random_seed", int(options.seed))
        h.setOptionValue("mip_rel_gap", float(options.relative_gap))
        if options.threads is not None:
            h.setOptionValue("threads", int(options.threads))
        if options.first_solution and program.is_mip:
            h.setOptionValue("mip_max_improving_sols", 1)
        for option, value in self.options.items():
            if h.setOptionValue(option, value) != highspy.HighsStatus.kOk:
                raise SolverError(f"HiGHS rejected option {option}={value!r}")
        self._load(h, highspy, program)
        if initial is not None and program.is_mip:
            h.setSolution(
                program.n_cols,
                np.arange(program.n_cols, dtype=np.int32),
                np.asarray(initial, dtype=np.float64),
            )
        # the limit is for the whole call: loading a large model takes seconds of it
        left = max(options.time_limit - (time.perf_counter() - started), 1e-3)
        if math.isfinite(left):
            h.setOptionValue("time_limit", left)
        try:
            interrupted = self._run(h, left)
        except _StillRunningError as error:
            return self._abandoned(program, initial, time.perf_counter() - started, str(error))
        return self._result(h, highspy, program, time.perf_counter() - started, interrupted)

    def _abandoned(
        self,
        program: LinearProgram,
        initial: NDArray[np.float64] | None,
        seconds: float,
        reason: str,
    ) -> SolverResult:
        """The result when HiGHS could not be stopped: what was computed before is kept.

        A MIP start is a feasible plan the caller found, so it is returned as FEASIBLE with no
        bound from HiGHS (the caller may hold one); without a start there is no plan.
        """
        unknown = math.inf if program.sense == "maximize" else -math.inf
        has_start = initial is not None and program.is_mip
        values = np.asarray(initial, dtype=np.float64) if has_start else None
        return SolverResult(
            status=Status.FEASIBLE if has_start else Status.NO_SOLUTION,
            values=values,
            objective=program.value(values) if values is not None else -unknown,
            bound=unknown,
            backend=self.name,
            backend_version=self.version(),
            seconds=seconds,
            message=f"{reason}; " + ("the start plan is returned" if has_start else "no plan"),
        )

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _load(h, highspy, program: LinearProgram) -> None:  # type: ignore[no-untyped-def]
        inf = highspy.kHighsInf
        n = program.n_cols
        h.addVars(n, np.clip(program.col_lower, -inf, inf), np.clip(program.col_upper, -inf, inf))
        columns = np.arange(n, dtype=np.int32)
        h.changeColsCost(n, columns, program.objective.astype(np.float64))
        if program.is_mip:
            integrality = np.where(
                program.integrality,
                highspy.HighsVarType.kInteger,
                highspy.HighsVarType.kContinuous,
            )
            h.changeColsIntegrality(n, columns, integrality)
        matrix = program.constraints
        if program.n_rows:
            h.addRows(
                program.n_rows,
                np.clip(program.row_lower, -inf, inf),
                np.clip(program.row_upper, -inf, inf),
                matrix.nnz,
                matrix.indptr[:-1].astype(np.int32),
                matrix.indices.astype(np.int32),
                matrix.data.astype(np.float64),
            )
        sense = (
            highspy.ObjSense.kMaximize
            if program.sense == "maximize"
            else highspy.ObjSense.kMinimize
        )
        h.changeObjectiveSense(sense)
        h.changeObjectiveOffset(float(program.offset))

    @staticmethod
    def _run(h, time_limit: float) -> bool:  # type: ignore[no-untyped-def]
        """Solve on HiGHS's worker thread; interrupt it if it overruns. True if interrupted."""
        h.HandleUserInterrupt = True
        thread = h.startSolve()
        wait = time_limit + _GRACE if math.isfinite(time_limit) else None
        thread.join(wait)
        if not thread.is_alive():
            return False
        h.cancelSolve()
        thread.join(_CANCEL_WAIT)
        if thread.is_alive():  # pragma: no cover - HiGHS ignored its interrupt callback
            raise _StillRunningError(
                f"HiGHS did not stop within {_CANCEL_WAIT:.0f} s of its {time_limit:g} s "
                "time limit; its thread is still running"
            )
        return True

    def _result(self, h, highspy, program: LinearProgram, seconds: float, interrupted: bool):  # type: ignore[no-untyped-def]
        model_status = h.getModelStatus()
        info = h.getInfo()
        ms = highspy.HighsModelStatus
        has_primal = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
        values = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_primal else None
        minimize = program.sense == "minimize"
        worst = math.inf if minimize else -math.inf
        objective = float(info.objective_function_value) if has_primal else worst
        if program.is_mip:
            bound = float(info.mip_dual_bound)
            nodes = int(info.mip_node_count)
        else:
            bound = objective if model_status == ms.kOptimal else -worst
            nodes = 0
        message = h.modelStatusToString(model_status)
        if model_status == ms.kOptimal:
            status = Status.OPTIMAL
            if not math.isfinite(bound):
                bound = objective
        elif model_status == ms.kInfeasible:
            status = Status.INFEASIBLE
        elif model_status in (ms.kUnbounded, ms.kUnboundedOrInfeasible):
            status = Status.UNBOUNDED
        elif model_status in (
            ms.kTimeLimit,
            ms.kInterrupt,
            ms.kHighsInterrupt,
            ms.kIterationLimit,
            ms.kSolutionLimit,
            ms.kObjectiveBound,
            ms.kObjectiveTarget,
            ms.kUnknown,
            ms.kMemoryLimit,
        ):
            status = Status.FEASIBLE if has_primal else Status.NO_SOLUTION
            if interrupted:
                message = f"{message} (stopped by optiserv's wall-clock limit)"
        elif model_status == ms.kModelEmpty:
            status = Status.OPTIMAL
            values = np.zeros(program.n_cols)
            objective = bound = float(program.offset)
        else:
            status = Status.ERROR
        if status in (Status.FEASIBLE, Status.NO_SOLUTION) and not math.isfinite(bound):
            bound = -worst
        return SolverResult(
            status=status,
            values=values,
            objective=objective,
            bound=bound,
            backend=self.name,
            backend_version=self.version(),
            seconds=seconds,
            message=message,
            nodes=nodes,
        )
