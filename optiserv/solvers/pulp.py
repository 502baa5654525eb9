"""PuLP backend: the same arrays, handed to CBC (shipped with PuLP) or any solver PuLP knows.

The model is built from the CSR matrix's nonzeros only. PuLP itself keeps one Python object per
variable and per row; that is PuLP's design, and the reason HiGHS is the default backend.
CBC through PuLP reports no dual bound, so a solve stopped by its time limit reports the
trivial bound (±inf) and an infinite gap rather than invent one.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
from numpy.typing import NDArray

from optiserv.exceptions import SolverError
from optiserv.lp import LinearProgram
from optiserv.solvers.base import Backend, SolveOptions, SolverResult, Status

__all__ = ["PulpBackend"]


class PulpBackend(Backend):
    """Solve through PuLP with the named solver (``PULP_CBC_CMD`` by default)."""

    def __init__(self, solver: str = "PULP_CBC_CMD") -> None:
        self.solver = solver
        self.name = "cbc" if solver == "PULP_CBC_CMD" else f"pulp:{solver}"

    def version(self) -> str:
        """PuLP's version and the solver name."""
        import pulp

        return f"pulp {pulp.__version__} / {self.solver}"

    def solve(
        self,
        program: LinearProgram,
        options: SolveOptions,
        initial: NDArray[np.float64] | None = None,
    ) -> SolverResult:
        """Build the PuLP problem from the arrays and solve it."""
        import pulp

        started = time.perf_counter()
        sense = pulp.LpMaximize if program.sense == "maximize" else pulp.LpMinimize
        problem = pulp.LpProblem("optiserv", sense)
        variables = [
            pulp.LpVariable(
                f"x{k}",
                lowBound=None if math.isinf(lo) else float(lo),
                upBound=None if math.isinf(up) else float(up),
                cat=pulp.LpInteger if integer else pulp.LpContinuous,
            )
            for k, (lo, up, integer) in enumerate(
                zip(program.col_lower, program.col_upper, program.integrality, strict=True)
            )
        ]
        nonzero = np.flatnonzero(program.objective)
        problem += pulp.LpAffineExpression(
            [(variables[k], float(program.objective[k])) for k in nonzero], constant=program.offset
        )
        matrix = program.constraints
        for row in range(program.n_rows):
            start, stop = matrix.indptr[row], matrix.indptr[row + 1]
            expression = pulp.LpAffineExpression(
                [
                    (variables[k], float(v))
                    for k, v in zip(
                        matrix.indices[start:stop], matrix.data[start:stop], strict=True
                    )
                ]
            )
            lower, upper = program.row_lower[row], program.row_upper[row]
            if lower == upper:
                problem += expression == float(lower), f"r{row}"
            else:
                if math.isfinite(lower):
                    problem += expression >= float(lower), f"r{row}l"
                if math.isfinite(upper):
                    problem += expression <= float(upper), f"r{row}u"
        if initial is not None:
            for variable, value in zip(variables, initial, strict=True):
                variable.setInitialValue(float(value))
        kwargs: dict[str, object] = {"msg": bool(options.log)}
        if math.isfinite(options.time_limit):
            # building PuLP's objects counts against the limit; CBC gets what is left
            left = options.time_limit - (time.perf_counter() - started)
            kwargs["timeLimit"] = max(1, math.floor(left))
        if program.is_mip:
            kwargs["gapRel"] = float(options.relative_gap)
        if options.threads is not None:
            kwargs["threads"] = int(options.threads)
        if initial is not None:
            kwargs["warmStart"] = True
        try:
            solver = pulp.getSolver(self.solver, **kwargs)
        except Exception as error:
            raise SolverError(f"PuLP cannot use solver {self.solver!r}: {error}") from error
        if not solver.available():
            raise SolverError(f"PuLP solver {self.solver!r} is not available on this machine")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            problem.solve(solver)
        seconds = time.perf_counter() - started
        return self._result(problem, variables, program, seconds)

    def _result(self, problem, variables, program: LinearProgram, seconds: float) -> SolverResult:  # type: ignore[no-untyped-def]
        import pulp

        minimize = program.sense == "minimize"
        worst = math.inf if minimize else -math.inf
        solution_status = problem.sol_status
        values = None
        if solution_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
            values = np.array([v.varValue if v.varValue is not None else 0.0 for v in variables])
        objective = program.value(values) if values is not None else worst
        if solution_status == pulp.LpSolutionOptimal:
            status, bound = Status.OPTIMAL, objective
        elif solution_status == pulp.LpSolutionIntegerFeasible:
            status, bound = Status.FEASIBLE, -worst
        elif solution_status == pulp.LpSolutionInfeasible:
            status, bound = Status.INFEASIBLE, -worst
        elif solution_status == pulp.LpSolutionUnbounded:
            status, bound = Status.UNBOUNDED, -worst
        elif solution_status == pulp.LpSolutionNoSolutionFound:
            status, bound = Status.NO_SOLUTION, -worst
        else:
            status, bound = Status.ERROR, -worst
        return SolverResult(
            status=status,
            values=values,
            objective=objective,
            bound=bound,
            backend=self.name,
            backend_version=self.version(),
            seconds=seconds,
            message=pulp.LpSolution.get(solution_status, str(solution_status)),
        )
