"""Numba kernels that aggregate coverage rows chunk by chunk. Only numpy and numba are imported.

A running hash table of distinct coverage sets lives in plain arrays that the caller keeps
between chunks (numba functions hold no state): every call adds one chunk of CSR rows and
returns the arrays, grown when needed. The table is an open-addressing table (linear probing,
load at most one half) keyed on the same kind of 63-bit set hash as
:func:`optiserv.coverage._kernels.row_keys`; a row joins a set only after its columns compare
equal to the set's, so hash collisions cost time, never exactness.

Sets are numbered in order of first appearance and weights are added in row order, so feeding
the rows of a matrix in any chunking gives exactly what
:func:`optiserv.coverage._kernels.group_equal_rows` and ``sum_by_group`` give for the whole
matrix at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from optiserv.coverage._kernels import _grown, column_codes, probe, rehashed, row_key

__all__ = ["aggregate_rows", "column_codes", "empty_table"]



def empty_table(
    n_groups: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The arrays of an empty running table for weights with ``n_groups`` columns.

    Returns
    -------
    table, set_key, set_indptr, set_indices, set_weight, set_points
        Hash slots (-1 free), each set's key, the sets' CSR pattern, their summed weights
        (k, g) and their numbers of rows. Only the first k entries (k sets) are meaningful.
    """
    return (
        np.full(1024, -1, dtype=np.int64),
        np.empty(64, dtype=np.int64),
        np.zeros(65, dtype=np.int64),
        np.empty(256, dtype=np.int32),
        np.zeros((64, n_groups), dtype=np.float64),
        np.zeros(64, dtype=np.int64),
    )


@njit(cache=True)
def _grown_rows(array: np.ndarray, needed: int) -> np.ndarray:
    """``array`` (k, g) itself if it has ``needed`` rows, else a zero-padded copy twice as long."""
    if needed <= array.shape[0]:
        return array
    larger = np.zeros((max(needed, 2 * array.shape[0]), array.shape[1]), dtype=array.dtype)
    larger[: array.shape[0]] = array
    return larger


@njit(cache=True)
def aggregate_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    code_a: np.ndarray,
    code_b: np.ndarray,
    table: np.ndarray,
    set_key: np.ndarray,
    set_indptr: np.ndarray,
    set_indices: np.ndarray,
    set_weight: np.ndarray,
    set_points: np.ndarray,
    counters: np.ndarray,
    empty_weight: np.ndarray,
    group: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Add one chunk of rows to the running table of distinct sets.

    Parameters
    ----------
    indptr, indices
        CSR rows of the chunk, columns sorted and unique within each row.
    weights
        (rows, g) weights of the chunk's rows.
    code_a, code_b
        Per-column codes from :func:`column_codes`.
    table, set_key, set_indptr, set_indices, set_weight, set_points
        The running table (see :func:`empty_table`), as returned by the previous call.
    counters
        int64 [sets so far, empty rows so far]; updated in place.
    empty_weight
        (g,) summed weights of the empty rows so far; updated in place.
    group
        (rows,) receives the set of every row (-1 when empty); pass a length-0 array to skip.

    Returns
    -------
    table, set_key, set_indptr, set_indices, set_weight, set_points
        The running table after the chunk (some arrays may be new, larger copies).
    """
    n = indptr.shape[0] - 1
    n_columns = weights.shape[1]
    record = group.shape[0] > 0
    n_sets = counters[0]
    size = table.shape[0]
    for i in range(n):
        start, stop = indptr[i], indptr[i + 1]
        length = stop - start
        if length == 0:
            counters[1] += 1
            for c in range(n_columns):
                empty_weight[c] += weights[i, c]
            if record:
                group[i] = -1
            continue
        key = row_key(indices, start, stop, code_a, code_b)
        found, slot = probe(table, key, set_key, set_indptr, set_indices, indices, start, stop)
        if found < 0:
            # a new set: store its columns and key, and enter it in the table
            found = n_sets
            set_key = _grown(set_key, n_sets + 1)
            set_points = _grown(set_points, n_sets + 1)
            set_weight = _grown_rows(set_weight, n_sets + 1)
            set_indptr = _grown(set_indptr, n_sets + 2)
            end = set_indptr[n_sets] + length
            set_indices = _grown(set_indices, end)
            set_indices[set_indptr[n_sets] : end] = indices[start:stop]
            set_indptr[n_sets + 1] = end
            set_key[n_sets] = key
            set_points[n_sets] = 0
            for c in range(n_columns):
                set_weight[n_sets, c] = 0.0
            table[slot] = n_sets
            n_sets += 1
            if 2 * n_sets > size:
                # keep the load at most one half: double the table and reinsert every set
                size *= 2
                table = rehashed(set_key, n_sets, size)
        set_points[found] += 1
        for c in range(n_columns):
            set_weight[found, c] += weights[i, c]
        if record:
            group[i] = found
    counters[0] = n_sets
    return table, set_key, set_indptr, set_indices, set_weight, set_points
