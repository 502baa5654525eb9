"""Coverage: demand i is covered by site j ⇔ d_ij ≤ r (a closed interval, everywhere in optiserv).

The coverage matrix is a boolean CSR matrix a (n × m) with a_ij = 1 ⇔ d_ij ≤ r. It is built
from the sparse travel cost, never from all n × m pairs when a radius is given.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from optiserv.coverage import _kernels
from optiserv.data import CostMatrix, Instance
from optiserv.exceptions import ParameterError
from optiserv.geometry import travel_costs

__all__ = ["coverage_from_costs", "coverage_matrix"]


def _check_radius(radius: float) -> float:
    radius = float(radius)
    if math.isnan(radius) or radius < 0:
        raise ParameterError(f"coverage radius must be a non-negative number, got {radius}")
    return radius


def coverage_from_costs(costs: CostMatrix, radius: float) -> sp.csr_matrix:
    """Boolean CSR coverage a_ij = 1 ⇔ d_ij ≤ ``radius``, over the stored (reachable) pairs.

    Parameters
    ----------
    costs
        Travel costs d_ij; pairs not stored are unreachable and never covered.
    radius
        Coverage threshold r in the unit of ``costs`` (metres, seconds, ...).

    Returns
    -------
    scipy.sparse.csr_matrix
        (n × m) boolean matrix with sorted column indices and no explicit zeros.
    """
    radius = _check_radius(radius)
    indptr, indices = _kernels.threshold_rows(costs.indptr, costs.indices, costs.data, radius)
    matrix = sp.csr_matrix(
        (np.ones(indices.size, dtype=bool), indices, indptr), shape=costs.shape
    )
    matrix.has_sorted_indices = True
    return matrix


def coverage_matrix(instance: Instance, radius: float) -> sp.csr_matrix:
    """The coverage matrix of an instance at ``radius``.

    Parameters
    ----------
    instance
        Demand points, sites and how to measure travel cost between them.
    radius
        Coverage threshold r in the instance's cost unit (metres for computed distances).

    Returns
    -------
    scipy.sparse.csr_matrix
        (n × m) boolean a_ij = 1 ⇔ d_ij ≤ r, built without forming all n × m pairs.
    """
    radius = _check_radius(radius)
    return coverage_from_costs(travel_costs(instance, cutoff=radius), radius)
