"""Backup coverage: p sites that cover the most demand weight, and back up the most of it."""

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

__all__ = ["BackupCovering"]


class BackupCovering(Formulation):
    r"""Maximal covering with backup (after Hogan & ReVelle 1986, BACOP).

    A demand point is *covered* when at least one open site lies within r, and *backed up* when
    at least two do. A point that can reach only one allowed site can never be backed up and
    gets no backup variable.

    .. math::

        \max \sum_i w_i z_i + \sum_{i : |N_i| \ge 2} w_i b_i \quad \text{s.t.}

        z_i \le \sum_{j \in N_i} y_j, \qquad
        z_i + b_i \le \sum_{j \in N_i} y_j, \qquad b_i \le z_i,

        \sum_j y_j = p, \qquad y_j \in \{0, 1\}, \; 0 \le z_i, b_i \le 1

    with N_i = {j : d_ij ≤ r, j not forbidden}. For integral y the optimum has
    z_i = min(1, Σ y) and b_i = min(1, Σ y − z_i), so z and b may be continuous. The objective
    is covered weight plus backed-up weight. Fixed sites count toward p. Identical coverage rows
    are merged with their weights summed, and unreachable demand is dropped (exact reductions).

    Parameters
    ----------
    p
        Number of open sites, fixed sites included.
    radius
        Coverage threshold r. Covered ⇔ d_ij ≤ r.
    """

    name = "backup"

    def __init__(self, *, p: int, radius: float) -> None:
        self.p = p
        self.radius = radius

    def _check(self, instance: Instance) -> None:
        self._check_p(instance, self.p)
        self._check_radius(self.radius)

    def _prepare(self, instance: Instance) -> CoverageData:
        return prepare_coverage(instance, self.radius, drop_fixed_covered=False)

    def _build(self, instance: Instance, prepared: CoverageData) -> BuiltModel:
        reduced = prepared.reduced
        k = reduced.n_rows
        cover = reduced.matrix.astype(np.float64)
        can_back_up = np.flatnonzero(np.diff(reduced.matrix.indptr) >= 2)
        lower, upper = site_bounds(instance)
        builder = ModelBuilder()
        y = builder.add_variables("y", instance.n_sites, lower=lower, upper=upper, integer=True)
        z = builder.add_variables("z", k, cost=reduced.weights, upper=1.0)
        b = builder.add_variables(
            "b", can_back_up.size, cost=reduced.weights[can_back_up], upper=1.0
        )
        identity = sp.identity(k, format="csr")
        pick = identity[can_back_up]
        # z_i - Σ_j a_ij y_j ≤ 0
        builder.add_matrix_rows([(z, identity), (y, -cover)], upper=0.0)
        # z_i + b_i - Σ_j a_ij y_j ≤ 0   (rows that can be backed up)
        builder.add_matrix_rows(
            [(z, pick), (b, sp.identity(can_back_up.size, format="csr")), (y, -cover[can_back_up])],
            upper=0.0,
        )
        # b_i - z_i ≤ 0
        builder.add_matrix_rows(
            [(b, sp.identity(can_back_up.size, format="csr")), (z, -pick)], upper=0.0
        )
        builder.add_matrix_rows([(y, np.ones((1, instance.n_sites)))], lower=self.p, upper=self.p)
        return BuiltModel(builder.build("maximize"), y, {"z": z, "b": b})

    def _served(
        self, instance: Instance, prepared: CoverageData, open_sites: NDArray[np.int64]
    ) -> Served:
        assignment, covered, counts = served_by_coverage(instance, prepared, open_sites)
        backed_up = float(instance.weight()[counts >= 2].sum())
        details = {"radius": float(self.radius), "p": int(self.p), "backup_weight": backed_up}
        return Served(assignment, covered, details)
