"""Distances the obvious way, with numpy broadcasting over all n × m pairs.

Slow and memory-hungry on purpose: these are what the numba kernels and the KD-tree radius
search in :mod:`optiserv.geometry` are checked against.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "EARTH_RADIUS",
    "dense_distances",
    "euclidean_dense",
    "haversine_dense",
    "nearest_reference",
    "within_radius_reference",
]

EARTH_RADIUS = 6_371_008.8
"""Mean Earth radius in metres, the same sphere optiserv uses."""


def euclidean_dense(a: NDArray, b: NDArray) -> NDArray[np.float64]:
    """(n, m) straight-line distances, sqrt(dx² + dy²), in the coordinates' unit."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    dx = a[:, np.newaxis, 0] - b[np.newaxis, :, 0]
    dy = a[:, np.newaxis, 1] - b[np.newaxis, :, 1]
    return np.sqrt(dx * dx + dy * dy)


def haversine_dense(a: NDArray, b: NDArray) -> NDArray[np.float64]:
    """(n, m) great-circle distances in metres between lon/lat points in degrees."""
    lon1 = np.radians(np.asarray(a, dtype=np.float64)[:, 0])[:, np.newaxis]
    lat1 = np.radians(np.asarray(a, dtype=np.float64)[:, 1])[:, np.newaxis]
    lon2 = np.radians(np.asarray(b, dtype=np.float64)[:, 0])[np.newaxis, :]
    lat2 = np.radians(np.asarray(b, dtype=np.float64)[:, 1])[np.newaxis, :]
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def dense_distances(a: NDArray, b: NDArray, metric: str) -> NDArray[np.float64]:
    """(n, m) distances for ``euclidean`` or ``haversine``."""
    return haversine_dense(a, b) if metric == "haversine" else euclidean_dense(a, b)


def within_radius_reference(
    distances: NDArray[np.float64], radius: float
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """CSR (indptr, indices, data) of the pairs with distance ≤ radius, from a dense matrix.

    ``np.nonzero`` walks the matrix row by row, so columns come out sorted within each row.
    """
    keep = distances <= radius
    rows, columns = np.nonzero(keep)
    indptr = np.zeros(distances.shape[0] + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(keep.sum(axis=1))
    return indptr, columns.astype(np.int64), distances[rows, columns]


def nearest_reference(
    distances: NDArray[np.float64], k: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The k nearest columns of every row, sorted by (distance, column), from a dense matrix."""
    k = min(k, distances.shape[1])
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return order.astype(np.int64), np.take_along_axis(distances, order, axis=1)
