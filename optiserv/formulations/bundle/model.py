"""ServiceBundle: where combined service points go and which services each one offers.

The public class validates its parameters against a :class:`BundleInstance` once
(:meth:`ServiceBundle.resolve`), prepares the coverage per service with exact reductions
(:func:`~optiserv.formulations.bundle.prepare.prepare_bundle`), then solves either exactly (one
MIP on HiGHS or CBC, or two for the lexicographic objective) or with the heuristic, whose plan
is paired with a proven bound so the gap is always reported: the Lagrangian bound of
:mod:`.bound` (refined by the LP relaxation only while the gap is above the requested one and
time is left).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from optiserv._timing import PhaseTimer
from optiserv.data import SiteStatus
from optiserv.data.services import BundleInstance, BundlePlan, BundleRule
from optiserv.exceptions import DataError, ParameterError, format_examples
from optiserv.formulations.bundle.arrays import heuristic_arrays
from optiserv.formulations.bundle.bound import PackedBound, bound_problem, proven_bound
from optiserv.formulations.bundle.build import (
    BuiltBundle,
    Resolved,
    build_program,
    grant_eligibility,
    period_costs,
    plan_from_units,
    units_from_plan,
    vector_from_units,
)
from optiserv.formulations.bundle.prepare import PreparedBundle, nearest_provider, prepare_bundle
from optiserv.formulations.bundle.solution import BundleSolution
from optiserv.heuristics.bundle import BundleArrays, run_bundle_heuristic
from optiserv.heuristics.bundle_bound import BoundResult
from optiserv.solvers import (
    Backend,
    HighsBackend,
    SolveOptions,
    SolverResult,
    Status,
    get_backend,
)
from optiserv.solvers.base import relative_gap

__all__ = ["BundleObjective", "ServiceBundle"]

BundleObjective = Literal["coverage", "cost", "lexicographic"]
_OBJECTIVES = ("coverage", "cost", "lexicographic")
_FEASIBILITY = 1e-6
_RESERVE = 0.1
"""Share of the time limit kept for building the solution after the bound."""
_LP_SECONDS = 1.0
"""The LP relaxation refines a Lagrangian bound only when at least this many seconds are left."""


class ServiceBundle:
    r"""The combined service point model (formulation in :mod:`.build`).

    Parameters
    ----------
    objective
        ``"coverage"``: maximise Σ_s ρ_s × people covered for s (gradual coverage counted
        with its fraction). ``"cost"``: the cheapest plan (net one-off cost + ``planning_years``
        × net annual cost) that meets every target and equity share. ``"lexicographic"``: first
        minimise the people beyond the thresholds r_s (weighted by ρ_s), then, with that fixed,
        ``then`` (``"cost"``: cheapest; ``"coverage"``: most graded coverage).
    then
        Second stage of the lexicographic objective.
    budget_one_off, budget_annual
        Net budgets (after grants) in currency; one-off and per year. ``inf`` for none.
    max_new_points
        Largest number of new service points (None for no limit).
    max_changed_points
        Largest number P_c of sites whose offer changes (None for no limit): a new point, or
        an existing site (at risk or not) that gets at least one new module. Keeping an
        at-risk site open, or closing it, does not count. One binary c_j per existing site
        with a module that may be added, y_k ≤ c_j for each of its modules k, and one row
        Σ_{j new} o_j + Σ_{j existing} c_j ≤ P_c; no variables or rows when None.
    min_services
        A new point hosts at least this many services.
    rules
        Further :class:`BundleRule` on new points, e.g. "at least one of these five".
    required_sites, forbidden_sites
        Site ids that must be / must not be service points in the plan (for an at-risk site:
        kept / closed). Existing sites that are not at risk always stay.
    required_modules, forbidden_modules
        (site id, service) modules that must / must not be added.
    targets
        Service → minimum share of its population within r_s of an offering site, a fraction
        in [0, 1] (0.997 for 99.7 %).
    min_group_share
        Minimum covered share per equity group (``BundleInstance.groups``), the same for all
        services (a float) or per service (a mapping).
    planning_years
        Years of annual cost in the cost objective (undiscounted).
    method
        ``"exact"`` (MIP) or ``"heuristic"`` (greedy + local search, with the Lagrangian
        bound; ``details["bound_source"]`` says which bound was reported).
    warm_start
        Give the MIP the heuristic's plan as a start.
    """

    name: ClassVar[str] = "service_bundle"

    def __init__(
        self,
        *,
        objective: BundleObjective = "coverage",
        then: Literal["cost", "coverage"] = "cost",
        budget_one_off: float = math.inf,
        budget_annual: float = math.inf,
        max_new_points: int | None = None,
        max_changed_points: int | None = None,
        min_services: int = 1,
        rules: Sequence[BundleRule] = (),
        required_sites: Iterable[object] = (),
        forbidden_sites: Iterable[object] = (),
        required_modules: Iterable[tuple[object, str]] = (),
        forbidden_modules: Iterable[tuple[object, str]] = (),
        targets: Mapping[str, float] | None = None,
        min_group_share: float | Mapping[str, float] | None = None,
        planning_years: float = 10.0,
        method: Literal["exact", "heuristic"] = "exact",
        warm_start: bool = True,
    ) -> None:
        self.objective = objective
        self.then = then
        self.budget_one_off = budget_one_off
        self.budget_annual = budget_annual
        self.max_new_points = max_new_points
        self.max_changed_points = max_changed_points
        self.min_services = min_services
        self.rules = tuple(rules)
        self.required_sites = tuple(required_sites)
        self.forbidden_sites = tuple(forbidden_sites)
        self.required_modules = tuple(tuple(pair) for pair in required_modules)
        self.forbidden_modules = tuple(tuple(pair) for pair in forbidden_modules)
        self.targets = dict(targets or {})
        self.min_group_share = (
            dict(min_group_share) if isinstance(min_group_share, Mapping) else min_group_share
        )
        self.planning_years = planning_years
        self.method = method
        self.warm_start = warm_start

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def get_params(self) -> dict[str, Any]:
        """The keyword parameters given to ``__init__``."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def with_params(self, **changes: Any) -> ServiceBundle:
        """A copy with some parameters changed."""
        unknown = set(changes) - set(self.get_params())
        if unknown:
            raise ParameterError(f"{self.name}: unknown parameters {sorted(unknown)}")
        return ServiceBundle(**{**self.get_params(), **changes})

    # ------------------------------------------------------------------ validation
    def resolve(self, bundle: BundleInstance) -> Resolved:
        """Check every parameter against ``bundle`` and turn it into arrays.

        Raises ParameterError for values out of range and DataError for unknown services,
        sites or modules, naming them.
        """
        name = self.name
        if self.objective not in _OBJECTIVES:
            raise ParameterError(
                f"{name}: objective must be one of {_OBJECTIVES}, got {self.objective!r}"
            )
        if self.then not in ("cost", "coverage"):
            raise ParameterError(f"{name}: then must be 'cost' or 'coverage', got {self.then!r}")
        if self.method not in ("exact", "heuristic"):
            raise ParameterError(
                f"{name}: method must be 'exact' or 'heuristic', got {self.method!r}"
            )
        budget = np.array(
            [
                _budget(self.budget_one_off, "budget_one_off"),
                _budget(self.budget_annual, "budget_annual"),
            ]
        )
        max_new = _count_limit(self.max_new_points, "max_new_points")
        max_changed = _count_limit(self.max_changed_points, "max_changed_points")
        years = float(self.planning_years)
        if not (math.isfinite(years) and years >= 0):
            raise ParameterError(f"{name}: planning_years must be ≥ 0, got {self.planning_years!r}")
        catalogue = bundle.catalogue
        n_services = len(catalogue)
        if not float(self.min_services).is_integer() or not 0 <= self.min_services <= n_services:
            raise ParameterError(
                f"{name}: min_services must be an integer in 0..{n_services}, "
                f"got {self.min_services!r}"
            )
        rules = list(self.rules)
        if self.min_services > 0:
            rules.append(BundleRule(catalogue.names, at_least=int(self.min_services)))
        rule_mask = np.zeros((len(rules), n_services), dtype=bool)
        rule_min = np.zeros(len(rules), dtype=np.int64)
        rule_max = np.zeros(len(rules), dtype=np.int64)
        for r, rule in enumerate(rules):
            if not isinstance(rule, BundleRule):
                raise ParameterError(f"{name}: rules must be BundleRule objects, got {rule!r}")
            for service in rule.services:
                rule_mask[r, catalogue.index(service, context=f"{name} rule")] = True
            rule_min[r] = rule.at_least
            rule_max[r] = n_services if rule.at_most is None else rule.at_most
        target_share = _shares(self.targets, catalogue.names, "targets", name)
        group_share = np.full(n_services, np.nan)
        if self.min_group_share is not None:
            if bundle.groups is None:
                raise ParameterError(
                    f"{name}: min_group_share needs group labels; build the "
                    "BundleInstance with groups=..."
                )
            if isinstance(self.min_group_share, Mapping):
                group_share = _shares(
                    self.min_group_share, catalogue.names, "min_group_share", name
                )
            else:
                group_share[:] = _share(self.min_group_share, f"{name}: min_group_share")
        resolved = self._bounds(
            bundle, rule_mask, rule_min, rule_max, target_share, group_share, budget, max_new, years
        )
        return replace(resolved, max_changed=max_changed)

    def _bounds(
        self,
        bundle: BundleInstance,
        rule_mask: NDArray[np.bool_],
        rule_min: NDArray[np.int64],
        rule_max: NDArray[np.int64],
        target_share: NDArray[np.float64],
        group_share: NDArray[np.float64],
        budget: NDArray[np.float64],
        max_new: float,
        years: float,
    ) -> Resolved:
        name = self.name
        instance = bundle.instance
        ids = instance.sites.ids
        kind = np.where(bundle.existing_point, np.where(bundle.at_risk, 2, 1), 0).astype(np.int8)
        status_forbidden = instance.sites.status == SiteStatus.FORBIDDEN
        hosts = np.bincount(bundle.module_site, minlength=instance.n_sites) > 0
        site_upper = np.where(kind == 0, hosts & ~status_forbidden, True).astype(np.int8)
        site_lower = (kind == 1).astype(np.int8)
        required = [
            bundle.site_index(s, context=f"{name} required_sites") for s in self.required_sites
        ]
        forbidden = [
            bundle.site_index(s, context=f"{name} forbidden_sites") for s in self.forbidden_sites
        ]
        both = sorted(set(required) & set(forbidden))
        if both:
            raise ParameterError(
                f"{name}: sites both required and forbidden: ids "
                f"{format_examples(ids[both].tolist())}"
            )
        for j in forbidden:
            if kind[j] == 1:
                raise ParameterError(
                    f"{name}: site {ids[j]!r} is an existing point that is not at risk, so it "
                    "cannot be forbidden (mark it at risk to let the plan close it)"
                )
            site_upper[j] = 0
        for j in required:
            if site_upper[j] == 0:
                why = "has status FORBIDDEN" if status_forbidden[j] else "cannot host any module"
                raise ParameterError(f"{name}: required site {ids[j]!r} {why}")
            site_lower[j] = 1
        module_upper = site_upper[bundle.module_site].copy()
        module_lower = np.zeros(bundle.n_modules, dtype=np.int8)
        for site_id, service in self.forbidden_modules:
            k = bundle.module_of(site_id, str(service), context=f"{name} forbidden_modules")
            module_upper[k] = 0
        for site_id, service in self.required_modules:
            k = bundle.module_of(site_id, str(service), context=f"{name} required_modules")
            if module_upper[k] == 0:
                raise ParameterError(
                    f"{name}: module {service!r} at site {site_id!r} is both required and "
                    "forbidden (directly or through its site)"
                )
            module_lower[k] = 1
            site_lower[bundle.module_site[k]] = 1
        return Resolved(
            module_lower=module_lower,
            module_upper=module_upper.astype(np.int8),
            site_lower=site_lower,
            site_upper=site_upper,
            site_kind=kind,
            rule_mask=rule_mask,
            rule_min=rule_min,
            rule_max=rule_max,
            target_share=target_share,
            group_share=group_share,
            budget=budget,
            max_new=max_new,
            planning_years=years,
        )

    def prepare(self, bundle: BundleInstance) -> PreparedBundle:
        """Coverage per service with exact reductions; reusable across solves with the same
        required/forbidden sites and modules (e.g. a budget sweep)."""
        return prepare_bundle(bundle, self.resolve(bundle).unit_available)

    # ------------------------------------------------------------------ solve
    def solve(
        self,
        bundle: BundleInstance,
        *,
        backend: str | Backend = "highs",
        options: SolveOptions | None = None,
        initial: BundlePlan | None = None,
        prepared: PreparedBundle | None = None,
    ) -> BundleSolution:
        """Solve on ``bundle``.

        Parameters
        ----------
        bundle
            The instance with services.
        backend
            ``"highs"`` (default), ``"cbc"`` or any :class:`Backend`; for the heuristic, the
            backend that solves the LP relaxation for the bound.
        options
            Time limit (seconds, for the whole solve), gap, threads, seed, log.
        initial
            A plan to start from (a MIP start when it is feasible).
        prepared
            The result of :meth:`prepare` for the same instance and parameters, to skip it.
        """
        options = options or SolveOptions()
        started = time.perf_counter()
        timer = PhaseTimer()
        solver = get_backend(backend)
        resolved = self.resolve(bundle)
        with timer("coverage"):
            if prepared is None or not np.array_equal(
                prepared.unit_available, resolved.unit_available
            ):
                prepared = prepare_bundle(bundle, resolved.unit_available)
        reason = _proven_infeasible(bundle, prepared, resolved)
        if reason:
            return self._no_plan(bundle, Status.INFEASIBLE, reason, timer, solver, {})
        context = _Context(bundle, prepared, resolved, solver, options, timer, started)
        if self.method == "heuristic":
            return self._solve_heuristic(context)
        return self._solve_exact(context, initial)

    # ------------------------------------------------------------------ exact
    def _solve_exact(self, context: _Context, initial: BundlePlan | None) -> BundleSolution:
        bundle, prepared, resolved = context.bundle, context.prepared, context.resolved
        first: ObjectiveName = (
            "full_coverage"
            if self.objective == "lexicographic"
            else ("cost" if self.objective == "cost" else "coverage")
        )
        with context.timer("build"):
            built = build_program(bundle, prepared, resolved, first)
        with context.timer("heuristic"):
            arrays = (
                heuristic_arrays(bundle, prepared, resolved, _heuristic_objective(self))
                if self.warm_start or initial is not None
                else None
            )
            start = self._start(context, built, initial, arrays)
        with context.timer("solve"):
            result = self._solve_beside_bound(context, built, start, arrays, first)
        if self.objective != "lexicographic" or not result.status.has_solution:
            return self._finish(context, built, result, "exact", {})
        stage1 = _stage_summary(result)
        assert result.values is not None
        value = float(result.objective)
        tolerance = _FEASIBILITY * max(1.0, abs(value))
        second: ObjectiveName = "cost" if self.then == "cost" else "coverage"
        with context.timer("build"):
            built2 = build_program(
                bundle, prepared, resolved, second, minimum_full_coverage=value - tolerance
            )
        module_on, site_on = built.units(result.values)
        start2 = vector_from_units(bundle, prepared, built2, module_on, site_on, resolved.site_kind)
        with context.timer("solve"):
            result2 = _ceiling_bounded(
                context.solver.solve(built2.program, context.remaining(_RESERVE / 2), start2),
                built2,
                context.options.relative_gap,
            )
        details = {"stage1": stage1}
        if result2.status.has_solution and result.status is not Status.OPTIMAL:
            result2 = replace(
                result2,
                status=Status.FEASIBLE,
                message=f"{result2.message}; the first stage is not proven optimal "
                f"(gap {stage1['gap']:.3g})",
            )
        return self._finish(context, built2, result2, "exact", details)

    def _solve_beside_bound(
        self,
        context: _Context,
        built: BuiltBundle,
        start: NDArray[np.float64] | None,
        arrays: BundleArrays | None,
        first: ObjectiveName,
    ) -> SolverResult:
        """The solver's result with the tightest proven bound: its own, the Lagrangian bound
        searched in a second thread while the solver runs (steered by the start plan's value,
        stopped when the solver returns), and the reachable ceiling. A plan one of them proves
        within the requested gap is OPTIMAL.
        """
        options = context.remaining(_RESERVE / 2)
        gap = context.options.relative_gap
        packed = None
        if start is not None and arrays is not None and self.objective != "lexicographic":
            bundle, prepared, resolved = context.bundle, context.prepared, context.resolved
            packed = bound_problem(bundle, prepared, resolved, arrays, first)
        if packed is None:
            return _ceiling_bounded(context.solver.solve(built.program, options, start), built, gap)
        finished = threading.Event()
        with ThreadPoolExecutor(max_workers=1) as pool:
            search = pool.submit(
                proven_bound,
                packed,
                built.program.value(start),
                time_limit=options.time_limit,
                tolerance=gap,
                stop=finished.is_set,
            )
            try:
                result = context.solver.solve(built.program, options, start)
            finally:
                finished.set()
            bound, _ = search.result()
        if result.status is Status.FEASIBLE and result.values is not None:
            maximize = built.program.sense == "maximize"
            tighter = bound < result.bound if maximize else bound > result.bound
            if tighter:
                floor = max(bound, result.objective) if maximize else min(bound, result.objective)
                result = replace(result, bound=floor)
                if result.gap <= gap:
                    result = replace(
                        result,
                        status=Status.OPTIMAL,
                        message=f"{result.message}; proven by the Lagrangian bound",
                    )
                else:
                    result = replace(
                        result, message=f"{result.message}; bound from the Lagrangian relaxation"
                    )
        return _ceiling_bounded(result, built, gap)

    def _start(
        self,
        context: _Context,
        built: BuiltBundle,
        initial: BundlePlan | None,
        arrays: BundleArrays | None,
    ) -> NDArray[np.float64] | None:
        bundle, prepared, resolved = context.bundle, context.prepared, context.resolved
        candidates: list[tuple[NDArray[np.bool_], NDArray[np.bool_]]] = []
        if initial is not None:
            if initial.offers.shape != bundle.existing.shape:
                raise DataError(f"initial plan: offers must have shape {bundle.existing.shape}")
            candidates.append(units_from_plan(bundle, initial, resolved.site_kind))
        if self.warm_start and arrays is not None:
            # Greedy and one drop pass, without a clock: the start, and so the optimal plan
            # HiGHS picks among equally good ones, must not depend on the machine's speed or
            # on numba compiling in this process (reproducible batches).
            found = run_bundle_heuristic(arrays, local_search=False)
            if found.feasible:
                candidates.append((found.module_on, found.site_on))
        best, best_value = None, -math.inf
        sign = 1.0 if built.program.sense == "maximize" else -1.0
        for module_on, site_on in candidates:
            vector = vector_from_units(
                bundle, prepared, built, module_on, site_on, resolved.site_kind
            )
            if built.program.violation(vector) <= _FEASIBILITY:
                value = sign * built.program.value(vector)
                if value > best_value:
                    best, best_value = vector, value
        return best

    # ------------------------------------------------------------------ heuristic
    def _solve_heuristic(self, context: _Context) -> BundleSolution:
        bundle, prepared, resolved = context.bundle, context.prepared, context.resolved
        objective = _heuristic_objective(self)
        first: ObjectiveName = (
            "full_coverage"
            if self.objective == "lexicographic"
            else ("cost" if self.objective == "cost" else "coverage")
        )
        with context.timer("build"):
            built = build_program(bundle, prepared, resolved, first)
            arrays = heuristic_arrays(bundle, prepared, resolved, objective)
            packed = bound_problem(bundle, prepared, resolved, arrays, first)
        if packed is None:
            return self._solve_heuristic_with_lp(context, built, arrays)
        # The Lagrangian bound runs in a second thread (its kernels release the GIL) from the
        # moment the greedy has a plan, steered by the best plan's value so far.
        started = time.perf_counter()
        limit = context.options.time_limit
        reserve = _RESERVE * limit if math.isfinite(limit) else 0.0
        best_value = [math.nan]
        ceiling = reachable_ceiling(built)
        searches: list[Future[tuple[float, BoundResult]]] = []

        def start_bound(module_on: NDArray[np.bool_], site_on: NDArray[np.bool_]) -> None:
            greedy = vector_from_units(
                bundle, prepared, built, module_on, site_on, resolved.site_kind
            )
            best_value[0] = built.program.value(greedy)
            if relative_gap(best_value[0], ceiling) <= context.options.relative_gap:
                return  # the reachable ceiling already proves the plan: no search needed
            searches.append(
                pool.submit(
                    proven_bound,
                    packed,
                    lambda: best_value[0],
                    time_limit=max(0.0, context.left() - reserve),
                    tolerance=context.options.relative_gap,
                )
            )

        def proven_enough() -> bool:
            # the swaps may stop once a bound proves the plan within the requested gap
            if relative_gap(best_value[0], ceiling) <= context.options.relative_gap:
                return True
            if not searches or not searches[0].done() or searches[0].exception() is not None:
                return False
            bound = searches[0].result()[0]
            return relative_gap(best_value[0], bound) <= context.options.relative_gap

        with ThreadPoolExecutor(max_workers=1) as pool:
            found = run_bundle_heuristic(
                arrays,
                time_limit=max(0.0, context.left() - reserve),
                on_greedy=start_bound,
                stop=proven_enough,
            )
            context.timer.seconds["heuristic"] = time.perf_counter() - started
            vector = vector_from_units(
                bundle, prepared, built, found.module_on, found.site_on, resolved.site_kind
            )
            value = built.program.value(vector)
            if found.feasible:
                best_value[0] = value  # the local search only improves on the greedy
            searched = searches[0].result() if searches else None
        if not found.feasible:
            return self._no_plan(
                bundle,
                Status.NO_SOLUTION,
                f"heuristic found no feasible plan: {found.message}",
                context.timer,
                context.solver,
                {},
            )
        with context.timer("solve"):
            bound, details = _heuristic_bound(context, built, packed, value, searched)
        details = {"heuristic": found.message, **details}
        if self.objective == "lexicographic":
            details["stage1"] = {
                "status": _heuristic_status(value, bound, context.options),
                "objective": value,
                "bound": bound,
                "gap": relative_gap(value, bound),
                "bound_source": details["bound_source"],
            }
            second: ObjectiveName = "cost" if self.then == "cost" else "coverage"
            minimum = value - _FEASIBILITY * max(1.0, value)
            # Plans with full coverage ≥ the heuristic's include every plan of the true first
            # stage (whose optimum is at least as high), so a bound over them bounds stage two.
            with context.timer("build"):
                built = build_program(
                    bundle, prepared, resolved, second, minimum_full_coverage=minimum
                )
                packed2 = bound_problem(
                    bundle, prepared, resolved, arrays, second, minimum_full_coverage=minimum
                )
            assert packed2 is not None  # the same sites and modules as the first stage
            vector = vector_from_units(
                bundle, prepared, built, found.module_on, found.site_on, resolved.site_kind
            )
            value = built.program.value(vector)
            with context.timer("solve"):
                bound, stage2 = _heuristic_bound(context, built, packed2, value)
            details.update(stage2)
            details["bound_source"] = (
                f"{stage2['bound_source']} of the second stage over plans at least as good "
                "in the first"
            )
        result = SolverResult(
            status=_heuristic_status(value, bound, context.options),
            values=vector,
            objective=value,
            bound=bound,
            backend=f"heuristic+{context.solver.name}",
            backend_version=context.solver.version(),
            seconds=time.perf_counter() - context.started,
            message=f"heuristic plan; bound from {details['bound_source']}",
        )
        return self._finish(context, built, result, "heuristic", details)

    def _solve_heuristic_with_lp(
        self, context: _Context, built: BuiltBundle, arrays: BundleArrays
    ) -> BundleSolution:
        """The heuristic path when the Lagrangian bound does not apply: the LP relaxation
        (the bound) runs in HiGHS's own thread beside the heuristic."""
        bundle, prepared, resolved = context.bundle, context.prepared, context.resolved
        # The LP relaxation (the bound) runs in HiGHS's own thread while the heuristic runs
        # here: on two cores each gets the whole time limit.
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(
                _relaxation_backend(context.solver).solve,
                built.program.relaxed(),
                context.remaining(),
            )
            left = context.left()
            found = run_bundle_heuristic(
                arrays, time_limit=0.8 * left if math.isfinite(left) else math.inf
            )
            context.timer.seconds["heuristic"] = time.perf_counter() - started
            relaxation = pending.result()
        context.timer.seconds["solve"] = relaxation.seconds
        if relaxation.status is Status.INFEASIBLE:
            return self._no_plan(
                bundle,
                Status.INFEASIBLE,
                "the LP relaxation is infeasible, so no plan satisfies the constraints" + _hint(),
                context.timer,
                relaxation,
                {},
            )
        if not found.feasible:
            return self._no_plan(
                bundle,
                Status.NO_SOLUTION,
                f"heuristic found no feasible plan: {found.message}",
                context.timer,
                relaxation,
                {},
            )
        vector = vector_from_units(
            bundle, prepared, built, found.module_on, found.site_on, resolved.site_kind
        )
        bound, source = _with_ceiling(
            _relaxation_bound(built, relaxation, prepared, bundle),
            "LP relaxation" if relaxation.status is Status.OPTIMAL else "trivial",
            built,
        )
        value = built.program.value(vector)
        details: dict[str, Any] = {"heuristic": found.message, "bound_source": source}
        if self.objective == "lexicographic":
            details["stage1"] = {
                "status": _heuristic_status(value, bound, context.options),
                "objective": value,
                "bound": bound,
                "gap": relative_gap(value, bound),
            }
            second: ObjectiveName = "cost" if self.then == "cost" else "coverage"
            built = build_program(
                bundle,
                prepared,
                resolved,
                second,
                minimum_full_coverage=value - _FEASIBILITY * max(1.0, value),
            )
            vector = vector_from_units(
                bundle, prepared, built, found.module_on, found.site_on, resolved.site_kind
            )
            value = built.program.value(vector)
            # Plans with full coverage ≥ the heuristic's include every plan of the true first
            # stage (whose optimum is at least as high), so this relaxation bounds stage two.
            with context.timer("solve"):
                relaxation = _relaxation_backend(context.solver).solve(
                    built.program.relaxed(), context.remaining()
                )
            bound, source = _with_ceiling(
                _relaxation_bound(built, relaxation, prepared, bundle),
                "LP relaxation" if relaxation.status is Status.OPTIMAL else "trivial",
                built,
            )
            details["bound_source"] = (
                f"{source} of the second stage over plans at least as good in the first"
            )
        result = SolverResult(
            status=_heuristic_status(value, bound, context.options),
            values=vector,
            objective=value,
            bound=bound,
            backend=f"heuristic+{relaxation.backend}",
            backend_version=relaxation.backend_version,
            seconds=time.perf_counter() - context.started,
            message=f"heuristic plan; bound from {details['bound_source']}",
        )
        return self._finish(context, built, result, "heuristic", details)

    # ------------------------------------------------------------------ results
    def _finish(
        self,
        context: _Context,
        built: BuiltBundle,
        result: SolverResult,
        method: str,
        details: dict[str, Any],
    ) -> BundleSolution:
        bundle, prepared, resolved = context.bundle, context.prepared, context.resolved
        if result.values is None or not result.status.has_solution:
            message = result.message
            if result.status is Status.INFEASIBLE:
                message = (
                    f"infeasible: the solver proved that no plan meets the constraints{_hint()}"
                )
            return self._no_plan(bundle, result.status, message, context.timer, result, details)
        module_on, site_on = built.units(result.values)
        plan = plan_from_units(bundle, module_on, site_on)
        summary = plan_summary(bundle, prepared, plan)
        costs = unit_costs(bundle, resolved, module_on, site_on)
        details = {
            **details,
            "binding": _binding(built, result.values),
            "reduced_rows": {bundle.catalogue.names[b.service]: b.n_rows for b in prepared.blocks},
            "skipped_extra_population": dict(bundle.skipped_extra),
        }
        kind = resolved.site_kind
        open_sites = plan.open_sites
        weights = np.array([s.weight for s in bundle.catalogue])
        return BundleSolution(
            model=self.name,
            status=result.status,
            objective=float(result.objective),
            bound=float(result.bound),
            gap=float(result.gap),
            open_sites=open_sites,
            open_site_ids=tuple(bundle.instance.sites.ids[open_sites].tolist()),
            assignment=nearest_provider(bundle, prepared, open_sites)[0],
            covered_weight=float(weights @ summary["covered"]),
            total_weight=float(weights @ summary["population"]),
            timings=context.timer.total(),
            backend=result.backend,
            backend_version=result.backend_version,
            message=result.message,
            details=details,
            services=bundle.catalogue.names,
            offers=plan.offers,
            new_points=np.flatnonzero(site_on & (kind == 0)),
            kept_sites=np.flatnonzero(site_on & (kind == 2)),
            closed_sites=np.flatnonzero(~site_on & (kind == 2)),
            providers=summary["providers"],
            service_coverage={
                name: {
                    "population": float(summary["population"][s]),
                    "covered": float(summary["covered"][s]),
                    "share": float(summary["covered"][s] / summary["population"][s])
                    if summary["population"][s] > 0
                    else 1.0,
                    "graded": float(summary["graded"][s]),
                }
                for s, name in enumerate(bundle.catalogue.names)
            },
            costs=costs,
            method=method,
        )

    def _no_plan(
        self,
        bundle: BundleInstance,
        status: Status,
        message: str,
        timer: PhaseTimer,
        solver: Backend | SolverResult,
        details: dict[str, Any],
    ) -> BundleSolution:
        if isinstance(solver, SolverResult):
            backend, version = solver.backend, solver.backend_version
        else:
            backend, version = solver.name, solver.version()
        weights = np.array([s.weight for s in bundle.catalogue])
        return BundleSolution(
            model=self.name,
            status=status,
            objective=math.nan,
            bound=math.nan,
            gap=math.inf,
            open_sites=np.zeros(0, dtype=np.int64),
            open_site_ids=(),
            assignment=np.full(bundle.instance.n_demand, -1, dtype=np.int64),
            covered_weight=0.0,
            total_weight=float(weights @ bundle.populations.sum(axis=1)),
            timings=timer.total(),
            backend=backend,
            backend_version=version,
            message=message,
            details=details,
            services=bundle.catalogue.names,
            offers=np.zeros(bundle.existing.shape, dtype=bool),
            providers=np.full((bundle.instance.n_demand, bundle.n_services), -1, dtype=np.int64),
            method=self.method,
        )


ObjectiveName = Literal["coverage", "full_coverage", "cost"]


_PRIMAL_SIMPLEX = {"simplex_strategy": 4}
"""On the bundle LP relaxations (many coverage rows, few budget rows) HiGHS's primal simplex
was measured about twice as fast as its default dual simplex."""


def _relaxation_backend(solver: Backend) -> Backend:
    """The backend for LP relaxations: primal simplex when the solver is HiGHS."""
    if isinstance(solver, HighsBackend):
        return HighsBackend(options={**_PRIMAL_SIMPLEX, **solver.options})
    return solver


class _Context:
    """What one solve carries between its phases."""

    def __init__(
        self,
        bundle: BundleInstance,
        prepared: PreparedBundle,
        resolved: Resolved,
        solver: Backend,
        options: SolveOptions,
        timer: PhaseTimer,
        started: float,
    ) -> None:
        self.bundle, self.prepared, self.resolved = bundle, prepared, resolved
        self.solver, self.options, self.timer, self.started = solver, options, timer, started

    def left(self) -> float:
        """Seconds left of the time limit (inf without one)."""
        return self.options.time_limit - (time.perf_counter() - self.started)

    def remaining(self, keep: float = 0.0) -> SolveOptions:
        """The options with the time limit reduced to what is left less ``keep`` times the
        limit (kept for building the solution), at least one second."""
        limit = self.options.time_limit
        if not math.isfinite(limit):
            return self.options
        return replace(self.options, time_limit=max(1.0, self.left() - keep * limit))


# ---------------------------------------------------------------------------------- helpers
def _budget(value: float, what: str) -> float:
    number = float(value)
    if math.isnan(number) or number < 0:
        raise ParameterError(f"service_bundle: {what} must be ≥ 0 (inf for none), got {value!r}")
    return number


def _count_limit(value: object, what: str) -> float:
    """A limit on a number of sites: a non-negative integer, or None for none (inf)."""
    if value is None:
        return math.inf
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not number.is_integer() or number < 0:
        raise ParameterError(
            f"service_bundle: {what} must be a non-negative integer (None for no limit), "
            f"got {value!r}"
        )
    return number


def _share(value: float, what: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        hint = f" (use {number / 100:g} for {number:g} %)" if 1.0 < number <= 100.0 else ""
        raise ParameterError(
            f"{what} is {value!r}: shares are fractions in [0, 1]{hint}; a "
            "target above 100 % can never be met"
        )
    return number


def _shares(
    values: Mapping[str, float], names: tuple[str, ...], what: str, model: str
) -> NDArray[np.float64]:
    out = np.full(len(names), np.nan)
    for service, value in values.items():
        if service not in names:
            raise DataError(
                f"{model} {what}: service {service!r} is not in the catalogue ({', '.join(names)})"
            )
        out[names.index(service)] = _share(value, f"{model} {what} for {service!r}")
    return out


def _heuristic_objective(model: ServiceBundle) -> Literal["coverage", "cost", "lexicographic"]:
    if model.objective == "lexicographic" and model.then == "coverage":
        return "coverage"
    return model.objective


def _heuristic_status(value: float, bound: float, options: SolveOptions) -> Status:
    gap = relative_gap(value, bound)
    return Status.OPTIMAL if gap <= max(options.relative_gap, 1e-9) else Status.FEASIBLE


def _coverage_ceiling(bundle: BundleInstance) -> float:
    weights = np.array([s.weight for s in bundle.catalogue])
    return float(weights @ bundle.populations.sum(axis=1))


def reachable_ceiling(built: BuiltBundle) -> float:
    """A proven upper bound of a coverage program: Σ_s ρ_s (F_s + Σ_b w_b).

    Every reduced row b is covered at most once (z_b + Σ_p x_p ≤ 1, fractions f_p ≤ 1), so no
    plan scores more than the people within reach of a fixed provider or of a unit that can
    offer the service. ``inf`` for a cost program (minimised; no ceiling applies).
    """
    if built.program.sense != "maximize":
        return math.inf
    return float(built.full_offset + built.full_weight.sum())


def _with_ceiling(bound: float, source: str, built: BuiltBundle) -> tuple[float, str]:
    """The tighter of ``bound`` and the reachable ceiling, and its source."""
    ceiling = reachable_ceiling(built)
    if ceiling < bound:
        return ceiling, "reachable ceiling"
    return bound, source


def _heuristic_bound(
    context: _Context,
    built: BuiltBundle,
    packed: PackedBound,
    value: float,
    searched: tuple[float, BoundResult] | None = None,
) -> tuple[float, dict[str, Any]]:
    """A proven bound for a plan worth ``value``, and where it came from.

    The Lagrangian bound (:mod:`.bound`; ``searched`` when it already ran beside the
    heuristic) runs until the gap is at most the requested one or the time is up (keeping a
    reserve for the solution). The reachable ceiling (:func:`reachable_ceiling`) caps it; when
    the ceiling alone proves the plan, the search is skipped. When the gap is still larger and
    time is left, the LP relaxation runs in the remaining time less half the reserve; the
    tightest bound is kept.
    The optimum lies between the plan's value and any valid bound, so the bound is never
    reported on the wrong side of the plan.
    """
    options = context.options
    minimize = built.program.sense == "minimize"
    limit = options.time_limit
    seconds = context.left() - _RESERVE * limit if math.isfinite(limit) else math.inf
    ceiling = reachable_ceiling(built)
    if searched is None and relative_gap(value, ceiling) <= options.relative_gap:
        seconds = 0.0  # the ceiling already proves the plan; the search stops at once
    if searched is None:
        searched = proven_bound(
            packed, value, time_limit=max(seconds, 0.0), tolerance=options.relative_gap
        )
    lagrangian, record = searched
    details: dict[str, Any] = {
        "lagrangian": {
            "bound": lagrangian,
            "iterations": record.iterations,
            "seconds": record.seconds,
        }
    }
    source = "Lagrangian relaxation"
    bound = lagrangian
    if not math.isfinite(bound):
        bound, source = (0.0 if minimize else math.inf), "trivial"
    bound, source = _with_ceiling(bound, source, built)
    details["reachable_ceiling"] = ceiling
    # the LP gets the time left but half the reserve, which is kept for building the solution
    lp_seconds = context.left() - (0.5 * _RESERVE * limit if math.isfinite(limit) else 0.0)
    if relative_gap(value, bound) > options.relative_gap and lp_seconds >= _LP_SECONDS:
        relaxation = _relaxation_backend(context.solver).solve(
            built.program.relaxed(), replace(options, time_limit=lp_seconds)
        )
        if relaxation.status is Status.OPTIMAL:
            lp = float(relaxation.objective)
            details["lp_bound"] = lp
            if (lp > bound) if minimize else (lp < bound):
                bound, source = lp, "LP relaxation"
    details["bound_source"] = source
    return (min(bound, value) if minimize else max(bound, value)), details


def _ceiling_bounded(result: SolverResult, built: BuiltBundle, gap: float) -> SolverResult:
    """The solver's result with its bound lowered to the reachable ceiling when that is
    tighter (a coverage program; the ceiling is a proven bound, see :func:`reachable_ceiling`);
    a time-limited plan that the ceiling proves within the requested ``gap`` is OPTIMAL."""
    ceiling = reachable_ceiling(built)
    if not result.status.has_solution or not ceiling < result.bound:
        return result
    bounded = replace(result, bound=ceiling)
    if bounded.status is Status.FEASIBLE and bounded.gap <= gap:
        bounded = replace(
            bounded,
            status=Status.OPTIMAL,
            message=f"{result.message}; proven by the reachable ceiling",
        )
    return bounded


def _relaxation_bound(
    built: BuiltBundle,
    relaxation: SolverResult,
    prepared: PreparedBundle,
    bundle: BundleInstance,
) -> float:
    """The LP relaxation's optimum is a valid bound; without it, a trivial one."""
    if relaxation.status is Status.OPTIMAL:
        return float(relaxation.objective)
    if built.program.sense == "minimize":
        return 0.0  # grants pay at most 100 % of a cost, so no plan costs less than nothing
    return _coverage_ceiling(bundle)


def _stage_summary(result: SolverResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "objective": float(result.objective),
        "bound": float(result.bound),
        "gap": float(result.gap),
    }


def _hint() -> str:
    return "; optiserv.analysis.diagnose tells which constraints conflict and what would help"


def _binding(built: BuiltBundle, values: NDArray[np.float64]) -> list[str]:
    """Named constraints that hold with equality (within 1e-6, relative)."""
    program = built.program
    out = []
    for label, row in built.constraint_rows.items():
        start, stop = program.constraints.indptr[row], program.constraints.indptr[row + 1]
        activity = float(
            program.constraints.data[start:stop] @ values[program.constraints.indices[start:stop]]
        )
        for bound in (program.row_lower[row], program.row_upper[row]):
            if math.isfinite(bound) and abs(activity - bound) <= 1e-6 * max(1.0, abs(bound)):
                out.append(label)
                break
    return out


def _proven_infeasible(bundle: BundleInstance, prepared: PreparedBundle, resolved: Resolved) -> str:
    """A reason when a constraint cannot hold even with every allowed module on; else ''."""
    names = bundle.catalogue.names
    reasons = []
    for s, block in enumerate(prepared.blocks):
        total = block.total_population
        reachable = total - block.unreachable_population
        share = resolved.target_share[s]
        if np.isfinite(share) and reachable.sum() < share * total.sum() - 1e-9 * max(
            1.0, total.sum()
        ):
            reasons.append(
                f"target for {names[s]!r}: at most {reachable.sum() / total.sum():.4%} of its "
                f"population is within r_s = {bundle.catalogue.services[s].threshold:g} of a "
                f"site that offers or can offer it, below the target {share:.4%}"
            )
        share = resolved.group_share[s]
        if np.isfinite(share):
            short = np.flatnonzero(reachable < share * total - 1e-9 * np.maximum(total, 1.0))
            if short.size:
                groups = [prepared.group_names[g] for g in short]
                reasons.append(
                    f"equity share {share:.2%} for {names[s]!r} cannot be reached in groups "
                    f"{format_examples(groups)}"
                )
    required_new = int(((resolved.site_lower == 1) & (resolved.site_kind == 0)).sum())
    if required_new > resolved.max_new:
        reasons.append(
            f"{required_new} new points are required but max_new_points is {resolved.max_new:g}"
        )
    if math.isfinite(resolved.max_changed):
        module_site = np.asarray(bundle.module_site)
        changed = (resolved.site_lower == 1) & (resolved.site_kind == 0)
        changed[module_site[resolved.module_lower == 1]] = True
        if int(changed.sum()) > resolved.max_changed:
            reasons.append(
                f"{int(changed.sum())} sites must change (required new points and existing "
                f"sites with required modules) but max_changed_points is "
                f"{resolved.max_changed:g}"
            )
    if not reasons:
        return ""
    return "infeasible: " + "; ".join(reasons) + _hint()


def unit_costs(
    bundle: BundleInstance,
    resolved: Resolved,
    module_on: NDArray[np.bool_],
    site_on: NDArray[np.bool_],
) -> dict[str, float]:
    """Gross, grant and net cost per period of a plan, and the cost objective."""
    module_cost, site_cost = period_costs(bundle, resolved.site_kind)
    module_grant, site_grant, period = grant_eligibility(bundle, resolved.site_kind)
    out: dict[str, float] = {}
    for t, label in enumerate(("one_off", "annual")):
        gross = float(module_cost[:, t] @ module_on + site_cost[:, t] @ site_on)
        paid = 0.0
        for q, grant in enumerate(bundle.grants):
            if period[q] == t:
                eligible = float(
                    (module_grant[q] * module_cost[:, t]) @ module_on
                    + (site_grant[q] * site_cost[:, t]) @ site_on
                )
                paid += min(grant.share * eligible, grant.cap)
        out[f"{label}_gross"] = gross
        out[f"{label}_grants"] = paid
        out[f"{label}_net"] = gross - paid
    out["objective_cost"] = out["one_off_net"] + resolved.planning_years * out["annual_net"]
    return out


def plan_summary(
    bundle: BundleInstance, prepared: PreparedBundle, plan: BundlePlan
) -> dict[str, NDArray]:
    """Per service: population, covered within r_s, graded coverage; nearest providers."""
    n, n_services = bundle.instance.n_demand, bundle.n_services
    population = bundle.populations.sum(axis=1)
    covered = np.zeros(n_services)
    graded = np.zeros(n_services)
    providers = np.full((n, n_services), -1, dtype=np.int64)
    for s, service in enumerate(bundle.catalogue):
        outer = service.outer_threshold
        sites = np.flatnonzero(plan.offers[:, s])
        nearest, distance = nearest_provider(bundle, prepared, sites)
        reached = distance <= outer
        providers[:, s] = np.where(reached, nearest, -1)
        full = distance <= service.threshold
        fraction = np.where(full, 1.0, 0.0)
        if service.fade_to is not None:
            ramp = (outer - distance[reached]) / (outer - service.threshold)
            fraction[reached] = np.where(full[reached], 1.0, np.clip(ramp, 0.0, 1.0))
        covered[s] = float(bundle.populations[s][full].sum())
        graded[s] = float(bundle.populations[s] @ fraction)
    return {"population": population, "covered": covered, "graded": graded, "providers": providers}
