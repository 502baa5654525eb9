"""Preparation shared by the coverage models (LSCP, MCLP, backup).

Builds the coverage matrix at the radius, removes rows already covered by fixed sites when the
model allows it, and applies the exact reductions of :mod:`optiserv.coverage.reduce`.

:func:`coverage_rows` gives the same distinct rows either from that matrix or, for large
instances measured from coordinates, streamed through
:func:`optiserv.coverage.streaming.aggregated_coverage` without any per-point matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from optiserv.coverage import ReducedCoverage, coverage_from_costs, nearest_open, reduce_coverage
from optiserv.coverage.streaming import aggregated_coverage, nearest_open_within
from optiserv.data import CostMatrix, Instance
from optiserv.geometry import travel_costs

__all__ = [
    "STREAM_MIN_DEMAND",
    "CoverageData",
    "CoverageRows",
    "coverage_rows",
    "prepare_coverage",
    "served_by_coverage",
    "served_by_rows",
]

STREAM_MIN_DEMAND = 20_000
"""From this many demand points on, coverage measured from coordinates is streamed
(:func:`coverage_rows`): no per-point distance or coverage matrix is built."""


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


@dataclass(frozen=True, eq=False)
class CoverageRows:
    """The distinct coverage rows of a covering model, and the constants taken out of it.

    Attributes
    ----------
    radius
        Coverage threshold r.
    matrix
        (k × m) boolean CSR: the distinct non-empty coverage sets over sites that may open,
        without the rows a fixed site covers when those were taken out; in order of the first
        demand point that has each.
    weights
        (k,) summed default weights of the rows.
    fixed_weight
        Weight of the demand points a fixed site covers, when taken out (else 0).
    unreachable_weight
        Weight of the demand points no site that may open covers.
    data
        The per-point coverage when it was built as a matrix; ``None`` when streamed.
    """

    radius: float
    matrix: sp.csr_matrix
    weights: NDArray[np.float64]
    fixed_weight: float
    unreachable_weight: float
    data: CoverageData | None

    @property
    def n_rows(self) -> int:
        """Distinct rows."""
        return int(self.matrix.shape[0])

    @property
    def streamed(self) -> bool:
        """True when no per-point matrix was built."""
        return self.data is None


def coverage_rows(
    instance: Instance,
    radius: float,
    *,
    drop_fixed_covered: bool,
    stream: bool | None = None,
) -> CoverageRows:
    """Distinct coverage rows at ``radius``, built as a matrix or streamed.

    Both ways give the same rows in the same order with the same weights. Streaming needs
    coordinates (no user cost matrix); by default it is used from
    :data:`STREAM_MIN_DEMAND` demand points on.

    Parameters
    ----------
    instance
        The instance.
    radius
        Coverage threshold r in the instance's cost unit.
    drop_fixed_covered
        Take the demand a fixed site covers out of the rows, into ``fixed_weight``.
    stream
        Force (True) or forbid (False) streaming; ``None`` chooses by size.
    """
    if stream is None:
        stream = instance.n_demand >= STREAM_MIN_DEMAND
    weights = np.asarray(instance.weight(), dtype=np.float64)
    if not stream or instance.costs is not None:
        data = prepare_coverage(instance, radius, drop_fixed_covered=drop_fixed_covered)
        reduced = data.reduced
        unreachable = reduced.unreachable
        return CoverageRows(
            radius=float(radius),
            matrix=reduced.matrix,
            weights=np.asarray(reduced.weights, dtype=np.float64),
            fixed_weight=float(weights[data.fixed_covered].sum()) if drop_fixed_covered else 0.0,
            unreachable_weight=float(
                weights[unreachable][~data.fixed_covered[unreachable]].sum()
            ),
            data=data,
        )
    sites = instance.sites
    aggregated = aggregated_coverage(
        instance.demand.coordinates,
        weights,
        sites.coordinates,
        radius,
        metric=instance.metric,
        allowed=~sites.forbidden,
    )
    matrix, set_weights = aggregated.matrix, np.asarray(aggregated.weights, dtype=np.float64)
    fixed_weight = 0.0
    if drop_fixed_covered and sites.fixed.any():
        has_fixed = np.asarray(matrix.astype(np.int8) @ sites.fixed.astype(np.int8)).ravel() > 0
        fixed_weight = float(set_weights[has_fixed].sum())
        # filtering keeps the order of first appearance among the remaining points
        matrix, set_weights = matrix[~has_fixed], set_weights[~has_fixed]
        matrix.has_sorted_indices = True
    return CoverageRows(
        radius=float(radius),
        matrix=matrix,
        weights=set_weights,
        fixed_weight=fixed_weight,
        unreachable_weight=float(aggregated.unreachable_weight),
        data=None,
    )


def served_by_rows(
    instance: Instance, rows: CoverageRows, open_sites: NDArray[np.int64]
) -> tuple[NDArray[np.int64], float]:
    """Nearest covering open site per demand point (-1 if none), and the covered weight.

    From the per-point matrix when there is one; otherwise streamed again over the open sites
    (:func:`~optiserv.coverage.streaming.nearest_open_within`), with the same result.
    """
    if rows.data is not None:
        assignment, covered, _ = served_by_coverage(instance, rows.data, open_sites)
        return assignment, covered
    assignment, _ = nearest_open_within(
        instance.demand.coordinates,
        instance.sites.coordinates,
        open_sites,
        rows.radius,
        metric=instance.metric,
    )
    return assignment, float(instance.weight()[assignment >= 0].sum())
