"""The result of the combined service point model: a :class:`~optiserv.solution.Solution` with
the per-service bundles.

:class:`BundleSolution` extends the project's Solution rather than stuffing arrays into
``details``: every field a report needs is typed and always present. The inherited fields mean

* ``objective``, ``bound``, ``gap``: in the model's objective (weighted covered people for
  coverage, net cost for cost; for lexicographic, the second stage; the first stage is in
  ``details["stage1"]``);
* ``open_sites``: every service point of the plan (existing that stay, kept, new);
* ``assignment``: the nearest service point of the plan within the largest threshold, or -1;
* ``covered_weight`` / ``total_weight``: Σ_s ρ_s (people covered within r_s) over
  Σ_s ρ_s (people), so ``covered_share`` is the weighted share of full coverage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from optiserv.data.services import BundlePlan
from optiserv.solution import Solution

__all__ = ["BundleSolution"]


def _readonly(array: NDArray, dtype: type) -> NDArray:
    out: NDArray = np.array(array, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class BundleSolution(Solution):
    """A Solution with service bundles.

    Attributes
    ----------
    services
        Service names, in catalogue order (the columns of ``offers``).
    offers
        (m, S) bool: site j offers service s in the plan; all False without a plan.
    new_points, kept_sites, closed_sites
        Candidate sites that become service points; at-risk sites whose keep-open subsidy is
        paid; at-risk sites that close.
    providers
        (n, S) the nearest site offering s within R_s (r_s without gradual coverage), or -1.
    service_coverage
        Per service: ``population``, ``covered`` (people within r_s of an offering site),
        ``share``, ``graded`` (people-equivalents with gradual coverage).
    costs
        ``one_off_gross``, ``one_off_grants``, ``one_off_net``, the same for ``annual_*``,
        and ``objective_cost`` (net one-off + planning years × net annual).
    method
        ``exact`` or ``heuristic``.
    """

    services: tuple[str, ...] = ()
    offers: NDArray[np.bool_] = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))
    new_points: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    kept_sites: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    closed_sites: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    providers: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    service_coverage: dict[str, dict[str, float]] = field(default_factory=dict)
    costs: dict[str, float] = field(default_factory=dict)
    method: str = "exact"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "offers", _readonly(self.offers, bool))
        for name in ("new_points", "kept_sites", "closed_sites", "providers"):
            object.__setattr__(self, name, _readonly(getattr(self, name), np.int64))

    @property
    def plan(self) -> BundlePlan | None:
        """The plan (None when the solve found none)."""
        if not self.status.has_solution:
            return None
        return BundlePlan(self.offers)

    def bundles(self, site_ids: NDArray | None = None) -> pd.DataFrame:
        """One row per service point of the plan: site, whether new, and a column per service."""
        frame = pd.DataFrame(self.offers[self.open_sites], columns=list(self.services))
        frame.insert(
            0,
            "site",
            list(self.open_site_ids)
            if site_ids is None
            else list(np.asarray(site_ids)[self.open_sites]),
        )
        frame.insert(1, "new", np.isin(self.open_sites, self.new_points))
        return frame

    def coverage_table(self) -> pd.DataFrame:
        """Per service: population, covered, share and graded coverage."""
        return pd.DataFrame.from_dict(self.service_coverage, orient="index")

    def to_dict(self) -> dict[str, Any]:
        """The Solution summary plus bundles, per-service coverage and costs."""
        out = super().to_dict()
        names = self.services
        out["bundles"] = {
            str(site): [names[s] for s in np.flatnonzero(self.offers[j])]
            for j, site in zip(self.open_sites.tolist(), self.open_site_ids, strict=True)
        }
        out["new_points"] = int(self.new_points.size)
        out["kept_sites"] = int(self.kept_sites.size)
        out["closed_sites"] = int(self.closed_sites.size)
        out["service_coverage"] = {
            s: {k: (None if not math.isfinite(v) else float(v)) for k, v in row.items()}
            for s, row in self.service_coverage.items()
        }
        out["costs"] = {
            k: (None if not math.isfinite(v) else float(v)) for k, v in self.costs.items()
        }
        out["method"] = self.method
        return out
