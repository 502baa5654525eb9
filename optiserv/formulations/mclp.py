"""Maximal covering (MCLP): p sites that cover the most demand weight."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from optiserv.data import Instance
from optiserv.formulations._coverage_common import (
    CoverageData,
    prepare_coverage,
    served_by_coverage,
)
from optiserv.formulations.base import BuiltModel, Formulation, Served, site_bounds
from optiserv.lp import ModelBuilder

__all__ = ["MaximalCovering"]


class MaximalCovering(Formulation):
    r"""Maximal covering location problem (Church & ReVelle 1974).

    .. math::

        \max \sum_i w_i z_i \quad \text{s.t.} \quad
        z_i \le \sum_{j : d_{ij} \le r} y_j \;\; \forall i, \qquad
        \sum_j y_j = p, \qquad y_j \in \{0, 1\}, \; 0 \le z_i \le 1

    z_i may be continuous: for integral y the optimum has z_i = min(1, Σ_j a_ij y_j) ∈ {0, 1}.
    Fixed sites count toward p. Demand already covered by a fixed site is a constant in the
    objective; identical coverage rows are merged with their weights summed, and demand that no
    site can reach is dropped (exact reductions). The objective is the covered weight Σ w_i z_i
    over all demand points.

    Parameters
    ----------
    p
        Number of open sites, fixed sites included.
    radius
        Coverage threshold r. Covered ⇔ d_ij ≤ r.
    """

    name = "mclp"

    def __init__(self, *, p: int, radius: float) -> None:
        self.p = p
        self.radius = radius

    def _check(self, instance: Instance) -> None:
        self._check_p(instance, self.p)
        self._check_radius(self.radius)

    def _prepare(self, instance: Instance) -> CoverageData:
        return prepare_coverage(instance, self.radius, drop_fixed_covered=True)

    def _build(self, instance: Instance, prepared: CoverageData) -> BuiltModel:
        reduced = prepared.reduced
        k = reduced.n_rows
        lower, upper = site_bounds(instance)
        builder = ModelBuilder()
        y = builder.add_variables("y", instance.n_sites, lower=lower, upper=upper, integer=True)
        z = builder.add_variables("z", k, cost=reduced.weights, upper=1.0)
        # z_i - Σ_j a_ij y_j ≤ 0
        builder.add_matrix_rows([(z, sp.identity(k, format="csr")), (y, -reduced.matrix.astype(np.float64))],
                                upper=0.0)
        builder.add_matrix_rows([(y, np.ones((1, instance.n_sites)))], lower=self.p,
                                upper=self.p)
        offset = float(instance.weight()[prepared.fixed_covered].sum())
        return BuiltModel(builder.build("maximize", offset=offset), y, {"z": z})

    def _served(
        self, instance: Instance, prepared: CoverageData, open_sites: NDArray[np.int64]
    ) -> Served:
        assignment, covered, _ = served_by_coverage(instance, prepared, open_sites)
        details = {
            "radius": float(self.radius),
            "p": int(self.p),
            "unreachable_demand_weight": float(
                instance.weight()[prepared.reduced.unreachable].sum()
                - instance.weight()[prepared.reduced.unreachable][
                    prepared.fixed_covered[prepared.reduced.unreachable]
                ].sum()
            ),
            "reduced_rows": prepared.reduced.n_rows,
        }
        return Served(assignment, covered, details)
