"""Coverage: demand i is covered by site j ⇔ d_ij ≤ r (a closed interval, everywhere in optiserv).

The coverage matrix is a boolean CSR matrix a (n × m) with a_ij = 1 ⇔ d_ij ≤ r. It is built
from the sparse travel cost, never from all n × m pairs when a radius is given.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from optiserv.data import CostMatrix, Instance
from optiserv.geometry import travel_costs

__all__ = ["coverage_from_costs", "coverage_matrix"]


def coverage_from_costs(costs: CostMatrix, radius: float) -> sp.csr_matrix:
    """Boolean CSR a_ij = 1 ⇔ d_ij ≤ radius, for the stored (reachable) pairs."""
    within = costs.within(radius)
    matrix = sp.csr_matrix(
        (np.ones(within.nnz, dtype=bool), within.indices, within.indptr), shape=within.shape
    )
    matrix.has_sorted_indices = True
    return matrix


def coverage_matrix(instance: Instance, radius: float) -> sp.csr_matrix:
    """The coverage matrix of an instance at ``radius`` (metres, or the cost unit)."""
    return coverage_from_costs(travel_costs(instance, cutoff=radius), radius)
