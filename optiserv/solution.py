"""The frozen result of every model: status, objective, bound, gap, plan and timings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optiserv.solvers import Status

__all__ = ["Solution"]


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True, eq=False)
class Solution:
    """A plan and how good it provably is.

    Attributes
    ----------
    model
        The formulation's name (``"mclp"``, ``"pmedian"``, ...).
    status
        OPTIMAL, FEASIBLE (with bound and gap), INFEASIBLE, UNBOUNDED, NO_SOLUTION or ERROR.
    objective
        The plan's objective value in the model's own sense (see each model's docstring).
    bound
        A proven bound on the best possible objective (≥ objective when maximising).
    gap
        |objective − bound| / max(|objective|, 1e-9).
    open_sites
        Indices of the open sites (fixed existing sites included), sorted.
    open_site_ids
        The same sites by the user's ids.
    assignment
        For every demand point, the index of the site serving it (nearest open site, or the
        allocation for capacitated models; the largest share when split), or -1.
    covered_weight, total_weight
        Demand weight served or covered by the plan, and Σ w_i.
    timings
        Seconds per phase: ``coverage``, ``build``, ``heuristic``, ``solve``, ``total``.
    backend, backend_version
        The solver that produced the plan.
    message
        What the solver said, or why there is no plan.
    details
        Model-specific extras (e.g. ``backup_weight``, ``radius``, ``unreachable_demand``).
    """

    model: str
    status: Status
    objective: float
    bound: float
    gap: float
    open_sites: NDArray[np.int64]
    open_site_ids: tuple[object, ...]
    assignment: NDArray[np.int64]
    covered_weight: float
    total_weight: float
    timings: dict[str, float] = field(default_factory=dict)
    backend: str = ""
    backend_version: str = ""
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("open_sites", "assignment"):
            array = np.array(getattr(self, name), dtype=np.int64, copy=True)
            array.flags.writeable = False
            object.__setattr__(self, name, array)

    @property
    def covered_share(self) -> float:
        """covered_weight / total_weight (0 when there is no demand weight)."""
        return self.covered_weight / self.total_weight if self.total_weight > 0 else 0.0

    @property
    def is_optimal(self) -> bool:
        """True when proven optimal."""
        return self.status is Status.OPTIMAL

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (ids as the user gave them; non-finite numbers as null)."""
        return {
            "model": self.model,
            "status": self.status.value,
            "objective": _plain(float(self.objective)),
            "bound": _plain(float(self.bound)),
            "gap": _plain(float(self.gap)),
            "open_sites": [_plain(v) for v in self.open_site_ids],
            "n_open": int(self.open_sites.size),
            "covered_weight": _plain(float(self.covered_weight)),
            "total_weight": _plain(float(self.total_weight)),
            "covered_share": _plain(float(self.covered_share)),
            "timings": {k: round(float(v), 6) for k, v in self.timings.items()},
            "backend": self.backend,
            "backend_version": self.backend_version,
            "message": self.message,
            "details": {k: _plain(v) for k, v in self.details.items()},
        }
