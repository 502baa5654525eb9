"""Numba kernels for distances. Only numpy and numba are imported here.

Fastmath is off: ``inf`` means unreachable and must survive every operation.

Points come in two layouts:

* planar: (k, 2) arrays of x, y in any length unit (metres in a metric CRS);
* spherical: (k, 3) arrays of longitude in radians, latitude in radians and cos(latitude),
  made once by :func:`spherical_coordinates` from lon/lat degrees.

Every kernel computes a distance through the same scalar function
(:func:`_euclidean` or :func:`_haversine`), so a distance computed by a dense kernel, a pair
kernel or the radius-limited CSR kernel is bit-for-bit the same number.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "csr_from_candidates",
    "euclidean_dense",
    "euclidean_pairs",
    "grid_cell_sites",
    "grid_radius_rows",
    "haversine_dense",
    "haversine_pairs",
    "sort_rows_by_distance",
    "spherical_coordinates",
]

_INSERTION_SORT_LIMIT = 32
"""Rows up to this length are sorted by insertion; longer rows use a merge sort."""



# ---------------------------------------------------------------------------- scalar distances
@njit(cache=True, inline="always")
def _euclidean(ax: float, ay: float, bx: float, by: float) -> float:
    """Straight-line distance in the unit of the coordinates."""
    dx = ax - bx
    dy = ay - by
    return np.sqrt(dx * dx + dy * dy)


@njit(cache=True, inline="always")
def _haversine(
    lon1: float, lat1: float, cos_lat1: float, lon2: float, lat2: float, cos_lat2: float,
    sphere_radius: float,
) -> float:
    """Great-circle distance (unit of ``sphere_radius``) between points given in radians."""
    half_dlat = np.sin(0.5 * (lat2 - lat1))
    half_dlon = np.sin(0.5 * (lon2 - lon1))
    h = half_dlat * half_dlat + cos_lat1 * cos_lat2 * half_dlon * half_dlon
    return 2.0 * sphere_radius * np.arcsin(np.sqrt(min(1.0, h)))


@njit(cache=True)
def spherical_coordinates(lonlat: np.ndarray) -> np.ndarray:
    """(k, 3) longitude and latitude in radians and cos(latitude), from (k, 2) degrees."""
    k = lonlat.shape[0]
    out = np.empty((k, 3), dtype=np.float64)
    to_radians = np.pi / 180.0
    for i in range(k):
        latitude = lonlat[i, 1] * to_radians
        out[i, 0] = lonlat[i, 0] * to_radians
        out[i, 1] = latitude
        out[i, 2] = np.cos(latitude)
    return out


# ---------------------------------------------------------------------------- dense and pairs
@njit(cache=True, parallel=True)
def euclidean_dense(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) distances between planar points ``a`` (n, 2) and ``b`` (m, 2)."""
    n, m = a.shape[0], b.shape[0]
    out = np.empty((n, m), dtype=np.float64)
    for i in prange(n):
        ax, ay = a[i, 0], a[i, 1]
        for j in range(m):
            out[i, j] = _euclidean(ax, ay, b[j, 0], b[j, 1])
    return out


@njit(cache=True)
def euclidean_pairs(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Distance between ``a[rows[k]]`` and ``b[cols[k]]`` for every k (planar points).

    Serial: a few flops per pair, so memory bound; only the haversine kernels pay for threads.
    """
    out = np.empty(rows.shape[0], dtype=np.float64)
    for k in range(rows.shape[0]):
        i, j = rows[k], cols[k]
        out[k] = _euclidean(a[i, 0], a[i, 1], b[j, 0], b[j, 1])
    return out


@njit(cache=True, parallel=True)
def haversine_dense(a: np.ndarray, b: np.ndarray, sphere_radius: float) -> np.ndarray:
    """(n, m) great-circle distances between spherical points ``a`` (n, 3) and ``b`` (m, 3)."""
    n, m = a.shape[0], b.shape[0]
    out = np.empty((n, m), dtype=np.float64)
    for i in prange(n):
        lon, lat, cos_lat = a[i, 0], a[i, 1], a[i, 2]
        for j in range(m):
            out[i, j] = _haversine(lon, lat, cos_lat, b[j, 0], b[j, 1], b[j, 2], sphere_radius)
    return out


@njit(cache=True, parallel=True)
def haversine_pairs(
    a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray, sphere_radius: float
) -> np.ndarray:
    """Great-circle distance between ``a[rows[k]]`` and ``b[cols[k]]`` (spherical points)."""
    out = np.empty(rows.shape[0], dtype=np.float64)
    for k in prange(rows.shape[0]):
        i, j = rows[k], cols[k]
        out[k] = _haversine(a[i, 0], a[i, 1], a[i, 2], b[j, 0], b[j, 1], b[j, 2], sphere_radius)
    return out


# ---------------------------------------------------------------------------- sparse rows
@njit(cache=True)
def _sort_segment_by_index(indices: np.ndarray, data: np.ndarray, start: int, stop: int) -> None:
    """Sort ``indices[start:stop]`` ascending in place, carrying ``data`` along."""
    length = stop - start
    if length <= _INSERTION_SORT_LIMIT:
        for k in range(start + 1, stop):
            index, value = indices[k], data[k]
            position = k - 1
            while position >= start and indices[position] > index:
                indices[position + 1] = indices[position]
                data[position + 1] = data[position]
                position -= 1
            indices[position + 1] = index
            data[position + 1] = value
        return
    order = np.argsort(indices[start:stop], kind="mergesort")
    sorted_indices = indices[start:stop][order]
    sorted_data = data[start:stop][order]
    indices[start:stop] = sorted_indices
    data[start:stop] = sorted_data


@njit(cache=True)
def csr_from_candidates(
    demand_index: np.ndarray,
    site_index: np.ndarray,
    demand: np.ndarray,
    sites: np.ndarray,
    radius: float,
    spherical: bool,
    sphere_radius: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR rows of the candidate pairs whose exact distance is at most ``radius``.

    Two passes over the candidates: the first computes every exact distance and counts the
    kept pairs per demand point, a prefix sum gives the row pointers, the second writes each
    kept pair into its row. Rows are then sorted by site index. The kernel is serial: it is
    bound by scattered memory writes, and on a shared machine threads made it slower.

    Parameters
    ----------
    demand_index, site_index
        Candidate pairs (demand point, site), in any order and without duplicates, e.g. from
        a KD-tree search with a slightly larger radius.
    demand, sites
        Planar (k, 2) or spherical (k, 3) points; see the module docstring.
    radius
        Keep pairs with distance ≤ ``radius`` (closed interval), in the distance unit.
    spherical
        True for great-circle distances on a sphere of radius ``sphere_radius``.
    sphere_radius
        Sphere radius in the distance unit (ignored for planar points).

    Returns
    -------
    indptr, indices, data
        CSR arrays with ``demand.shape[0]`` rows: int64 row pointers, int32 site indices sorted
        within each row, float64 distances.
    """
    n_candidates = demand_index.shape[0]
    n_rows = demand.shape[0]
    distance = np.empty(n_candidates, dtype=np.float64)
    # pass 1: exact distances, and the kept pairs counted per row
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for k in range(n_candidates):
        i, j = demand_index[k], site_index[k]
        if spherical:
            d = _haversine(
                demand[i, 0], demand[i, 1], demand[i, 2],
                sites[j, 0], sites[j, 1], sites[j, 2], sphere_radius,
            )
        else:
            d = _euclidean(demand[i, 0], demand[i, 1], sites[j, 0], sites[j, 1])
        distance[k] = d
        if d <= radius:
            indptr[i + 1] += 1
    # prefix sum: row pointers
    for i in range(n_rows):
        indptr[i + 1] += indptr[i]
    # pass 2: fill each row at its cursor
    nnz = indptr[n_rows]
    indices = np.empty(nnz, dtype=np.int32)
    data = np.empty(nnz, dtype=np.float64)
    cursor = indptr[:-1].copy()
    for k in range(n_candidates):
        if distance[k] <= radius:
            i = demand_index[k]
            position = cursor[i]
            indices[position] = site_index[k]
            data[position] = distance[k]
            cursor[i] = position + 1
    for i in range(n_rows):
        _sort_segment_by_index(indices, data, indptr[i], indptr[i + 1])
    return indptr, indices, data


@njit(cache=True)
def sort_rows_by_distance(indices: np.ndarray, distances: np.ndarray) -> None:
    """Sort every row of (n, k) ``indices`` and ``distances`` in place by (distance, index).

    Insertion sort: the rows come almost sorted from a KD-tree, so this is close to linear
    (and serial, as it is bound by memory rather than arithmetic).
    """
    n, k = indices.shape
    for i in range(n):
        for position in range(1, k):
            index, value = indices[i, position], distances[i, position]
            before = position - 1
            while before >= 0 and (
                distances[i, before] > value
                or (distances[i, before] == value and indices[i, before] > index)
            ):
                indices[i, before + 1] = indices[i, before]
                distances[i, before + 1] = distances[i, before]
                before -= 1
            indices[i, before + 1] = index
            distances[i, before + 1] = value




# ---------------------------------------------------------------------------- planar grid
@njit(cache=True)
def grid_cell_sites(
    sites: np.ndarray,
    subset: np.ndarray,
    origin_x: float,
    origin_y: float,
    cell: float,
    nx: int,
    ny: int,
    reach: float,
) -> tuple[np.ndarray, np.ndarray]:
    """For every cell of a grid, the sites within ``reach`` of the cell (a candidate list).

    Cell (cx, cy), numbered cy · nx + cx, is the square [origin_x + cx · cell, ... + cell) ×
    [origin_y + cy · cell, ... + cell). A site enters the list of every cell whose square is
    within ``reach`` of it (distance from the site to the nearest point of the square). Two
    passes, count then fill; sites are visited in the order of ``subset``, so when ``subset``
    is ascending every list is sorted by site index.

    Parameters
    ----------
    sites
        Planar (m, 2) points.
    subset
        Indices of the sites to place in the grid.
    origin_x, origin_y, cell, nx, ny
        The grid's lower-left corner, cell side (> 0) and number of cells along x and y.
    reach
        Distance from a square within which a site enters its list; the caller adds to the
        radius a margin larger than any rounding.

    Returns
    -------
    cell_start, cell_sites
        (nx · ny + 1) int64 offsets, and the int64 site indices of every cell's list.
    """
    cell_start = np.zeros(nx * ny + 1, dtype=np.int64)
    cell_sites = np.empty(0, dtype=np.int64)
    cursor = np.empty(0, dtype=np.int64)
    for fill in range(2):
        if fill == 1:
            for c in range(nx * ny):
                cell_start[c + 1] += cell_start[c]
            cursor = cell_start[:-1].copy()
            cell_sites = np.empty(cell_start[nx * ny], dtype=np.int64)
        for k in range(subset.shape[0]):
            j = subset[k]
            sx, sy = sites[j, 0], sites[j, 1]
            x0 = int(max(np.floor((sx - reach - origin_x) / cell), 0.0))
            x1 = int(min(np.floor((sx + reach - origin_x) / cell), nx - 1.0))
            y0 = int(max(np.floor((sy - reach - origin_y) / cell), 0.0))
            y1 = int(min(np.floor((sy + reach - origin_y) / cell), ny - 1.0))
            for cy in range(y0, y1 + 1):
                low_y = origin_y + cy * cell
                gap_y = max(low_y - sy, sy - (low_y + cell), 0.0)
                for cx in range(x0, x1 + 1):
                    low_x = origin_x + cx * cell
                    gap_x = max(low_x - sx, sx - (low_x + cell), 0.0)
                    if gap_x * gap_x + gap_y * gap_y <= reach * reach:
                        c = cy * nx + cx
                        if fill == 0:
                            cell_start[c + 1] += 1
                        else:
                            cell_sites[cursor[c]] = j
                            cursor[c] += 1
    return cell_start, cell_sites


@njit(cache=True)
def grid_radius_rows(
    demand: np.ndarray,
    sites: np.ndarray,
    cell_start: np.ndarray,
    cell_sites: np.ndarray,
    origin_x: float,
    origin_y: float,
    cell: float,
    nx: int,
    ny: int,
    radius: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR rows of the planar pairs with distance at most ``radius``, through a grid.

    Every demand point looks up its cell and scans that cell's candidate list (from
    :func:`grid_cell_sites`, sorted by site index), keeping the sites whose exact distance,
    computed by the same scalar function as every other kernel, is ≤ ``radius``. A point
    outside the grid, or with a non-finite coordinate, finds nothing: the grid must extend
    beyond the sites by more than the radius. Two passes, count then fill, like
    :func:`csr_from_candidates`; rows come out sorted because the lists are. Serial.

    Parameters
    ----------
    demand, sites
        Planar (n, 2) and (m, 2) points.
    cell_start, cell_sites
        Every cell's candidate list (see :func:`grid_cell_sites`).
    origin_x, origin_y, cell, nx, ny
        The grid's lower-left corner, cell side (> 0, or ``inf`` for one cell holding
        everything) and number of cells along x and y.
    radius
        Keep pairs with distance ≤ ``radius`` (closed interval).

    Returns
    -------
    indptr, indices, data
        CSR arrays with n rows: int64 row pointers, int32 site indices sorted within each
        row, float64 distances.
    """
    n = demand.shape[0]
    home = np.full(n, -1, dtype=np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        fx = (demand[i, 0] - origin_x) / cell
        fy = (demand[i, 1] - origin_y) / cell
        # written so that NaN fails the test
        if fx >= 0.0 and fx < nx and fy >= 0.0 and fy < ny:
            c = int(fy) * nx + int(fx)
            home[i] = c
            ax, ay = demand[i, 0], demand[i, 1]
            count = 0
            for k in range(cell_start[c], cell_start[c + 1]):
                j = cell_sites[k]
                if _euclidean(ax, ay, sites[j, 0], sites[j, 1]) <= radius:
                    count += 1
            indptr[i + 1] = count
    for i in range(n):
        indptr[i + 1] += indptr[i]
    indices = np.empty(indptr[n], dtype=np.int32)
    data = np.empty(indptr[n], dtype=np.float64)
    for i in range(n):
        c = home[i]
        if c < 0:
            continue
        ax, ay = demand[i, 0], demand[i, 1]
        position = indptr[i]
        for k in range(cell_start[c], cell_start[c + 1]):
            j = cell_sites[k]
            d = _euclidean(ax, ay, sites[j, 0], sites[j, 1])
            if d <= radius:
                indices[position] = j
                data[position] = d
                position += 1
    return indptr, indices, data
