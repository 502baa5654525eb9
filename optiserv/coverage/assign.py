"""Which open site serves each demand point: the nearest reachable one."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from optiserv.coverage import _kernels
from optiserv.data import CostMatrix

__all__ = ["nearest_open"]


def nearest_open(
    costs: CostMatrix, open_sites: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """For every demand point, the nearest open site among the stored pairs and its cost.

    Demand points with no stored open site get -1 and ``inf``.
    """
    is_open = np.zeros(costs.shape[1], dtype=np.bool_)
    is_open[np.asarray(open_sites, dtype=np.int64)] = True
    return _kernels.nearest_open_rows(costs.indptr, costs.indices, costs.data, is_open)
