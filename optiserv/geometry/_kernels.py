"""Numba kernels for distances. Only numpy and numba are imported here.

Fastmath is off: ``inf`` means unreachable and must survive every operation.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["euclidean_dense", "euclidean_pairs", "haversine_dense", "haversine_pairs"]


@njit(cache=True, parallel=True)
def euclidean_dense(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n, m = a.shape[0], b.shape[0]
    out = np.empty((n, m), dtype=np.float64)
    for i in prange(n):
        ax, ay = a[i, 0], a[i, 1]
        for j in range(m):
            dx = ax - b[j, 0]
            dy = ay - b[j, 1]
            out[i, j] = np.sqrt(dx * dx + dy * dy)
    return out


@njit(cache=True, parallel=True)
def euclidean_pairs(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    out = np.empty(rows.shape[0], dtype=np.float64)
    for k in prange(rows.shape[0]):
        dx = a[rows[k], 0] - b[cols[k], 0]
        dy = a[rows[k], 1] - b[cols[k], 1]
        out[k] = np.sqrt(dx * dx + dy * dy)
    return out


@njit(cache=True, inline="always")
def _haversine(lon1: float, lat1: float, lon2: float, lat2: float, radius: float) -> float:
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2 - lon1)
    h = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return 2.0 * radius * np.arcsin(np.sqrt(min(1.0, h)))


@njit(cache=True, parallel=True)
def haversine_dense(a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    n, m = a.shape[0], b.shape[0]
    out = np.empty((n, m), dtype=np.float64)
    for i in prange(n):
        for j in range(m):
            out[i, j] = _haversine(a[i, 0], a[i, 1], b[j, 0], b[j, 1], radius)
    return out


@njit(cache=True, parallel=True)
def haversine_pairs(
    a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray, radius: float
) -> np.ndarray:
    out = np.empty(rows.shape[0], dtype=np.float64)
    for k in prange(rows.shape[0]):
        out[k] = _haversine(a[rows[k], 0], a[rows[k], 1], b[cols[k], 0], b[cols[k], 1], radius)
    return out
