"""Which open site serves each demand point: the nearest reachable one."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from optiserv.coverage import _kernels
from optiserv.data import CostMatrix
from optiserv.data._dense import nearest_column
from optiserv.exceptions import ParameterError

__all__ = ["nearest_open"]


def nearest_open(
    costs: CostMatrix, open_sites: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """For every demand point, the nearest open site among the stored pairs and its cost.

    Parameters
    ----------
    costs
        Travel costs d_ij; pairs not stored are unreachable.
    open_sites
        Indices j of the open sites (duplicates are harmless).

    Returns
    -------
    site, cost
        (n,) nearest open site per demand point (ties: lowest index) and d_ij in the unit of
        ``costs``; demand points with no stored open site get -1 and ``inf``.
    """
    open_sites = np.asarray(open_sites, dtype=np.int64).ravel()
    m = costs.shape[1]
    if open_sites.size and (open_sites.min() < 0 or open_sites.max() >= m):
        raise ParameterError(f"open sites must be indices in 0..{m - 1}")
    is_open = np.zeros(m, dtype=np.bool_)
    is_open[open_sites] = True
    dense = costs.dense_array
    if dense is not None:
        return nearest_column(dense, np.flatnonzero(is_open))
    return _kernels.nearest_open_rows(costs.indptr, costs.indices, costs.data, is_open)

