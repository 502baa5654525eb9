"""Preparation shared by the coverage models (LSCP, MCLP, backup).

Builds the coverage matrix at the radius, removes rows already covered by fixed sites when the
model allows it, and applies the exact reductions of :mod:`optiserv.coverage.reduce`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from optiserv.coverage import ReducedCoverage, coverage_from_costs, nearest_open, reduce_coverage
from optiserv.data import CostMatrix, Instance
from optiserv.geometry import travel_costs

__all__ = ["CoverageData", "prepare_coverage", "served_by_coverage"]


@dataclass(frozen=True, eq=False)
class CoverageData:
    """Coverage at one radius, restricted to sites that may open, and reduced.

    Attributes
    ----------
    costs
        d_ij for pairs with d_ij ≤ radius (all sites).
    cover
        Boolean (n × m) a_ij = 1 ⇔ d_ij ≤ radius and site j is not forbidden.
    reduced
        ``cover`` with identical rows merged and empty rows dropped.
    fixed_covered
        Mask of demand points already covered by a fixed site.
    """

    radius: float
    costs: CostMatrix
    cover: sp.csr_matrix
    reduced: ReducedCoverage
    fixed_covered: NDArray[np.bool_]


def prepare_coverage(
    instance: Instance, radius: float, *, drop_fixed_covered: bool
) -> CoverageData:
    """Coverage at ``radius``; optionally drop rows a fixed site already covers before reducing."""
    costs = travel_costs(instance, cutoff=radius)
    cover = coverage_from_costs(costs, radius)
    allowed = (~instance.sites.forbidden).astype(np.int8)
    cover = sp.csr_matrix(cover.multiply(allowed[np.newaxis, :]), dtype=bool)
    cover.eliminate_zeros()
    fixed = instance.sites.fixed.astype(np.int8)
    fixed_covered = np.asarray(cover.astype(np.int8) @ fixed).ravel() > 0
    weights = instance.weight()
    if drop_fixed_covered and fixed_covered.any():
        # zero out rows already covered: they become "unreachable" for the reduction, and are
        # accounted for separately through ``fixed_covered``.
        keep = (~fixed_covered).astype(np.int8)
        active = sp.csr_matrix(cover.multiply(keep[:, np.newaxis]), dtype=bool)
        active.eliminate_zeros()
    else:
        active = cover
    reduced = reduce_coverage(active, weights)
    return CoverageData(radius, costs, cover, reduced, fixed_covered)


def served_by_coverage(
    instance: Instance, data: CoverageData, open_sites: NDArray[np.int64]
) -> tuple[NDArray[np.int64], float, NDArray[np.int64]]:
    """Nearest covering open site per demand point (-1 if none), covered weight, cover counts."""
    assignment, _ = nearest_open(data.costs, open_sites)
    is_open = np.zeros(instance.n_sites, dtype=np.int64)
    is_open[open_sites] = 1
    counts = np.asarray(data.cover.astype(np.int64) @ is_open).ravel()
    covered = assignment >= 0
    return assignment, float(instance.weight()[covered].sum()), counts
