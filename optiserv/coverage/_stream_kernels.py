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

from optiserv.coverage._kernels import _grown, _mix_a, _mix_b

__all__ = ["aggregate_rows", "column_codes", "empty_table"]

_LOW_32 = 0xFFFFFFFF


@njit(cache=True)
def column_codes(n_columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent mixed 32-bit codes per column, summed into a set's hash."""
    code_a = np.empty(n_columns, dtype=np.int64)
    code_b = np.empty(n_columns, dtype=np.int64)
    for column in range(n_columns):
        code_a[column] = _mix_a(column & _LOW_32)
        code_b[column] = _mix_b((column + 0x5BD1E995) & _LOW_32)
    return code_a, code_b


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
        sum_a = 0
        sum_b = 0
        for k in range(start, stop):
            column = indices[k]
            sum_a = (sum_a + code_a[column]) & _LOW_32
            sum_b = (sum_b + code_b[column]) & _LOW_32
        first = _mix_a(sum_a ^ (length & _LOW_32))
        second = _mix_b((sum_b + (length & _LOW_32) * 0x27D4EB2) & _LOW_32)
        key = ((first >> 1) << 32) | second
        slot = key & (size - 1)
        while True:
            found = table[slot]
            if found < 0:
                break
            if set_key[found] == key and set_indptr[found + 1] - set_indptr[found] == length:
                offset = set_indptr[found] - start
                equal = True
                for k in range(start, stop):
                    if indices[k] != set_indices[offset + k]:
                        equal = False
                        break
                if equal:
                    break
            slot = (slot + 1) & (size - 1)
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
                table = np.full(size, -1, dtype=np.int64)
                for existing in range(n_sets):
                    slot = set_key[existing] & (size - 1)
                    while table[slot] >= 0:
                        slot = (slot + 1) & (size - 1)
                    table[slot] = existing
        set_points[found] += 1
        for c in range(n_columns):
            set_weight[found, c] += weights[i, c]
        if record:
            group[i] = found
    counters[0] = n_sets
    return table, set_key, set_indptr, set_indices, set_weight, set_points
