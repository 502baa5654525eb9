"""Numba kernels over sparse coverage and cost rows. Only numpy and numba are imported here.

Rows are CSR segments: row i is ``indices[indptr[i]:indptr[i + 1]]`` (sorted, unique).

The kernels are serial. They are bound by memory traffic rather than arithmetic, and on the
shared two-core machines optiserv runs on, threads made them slower, not faster.

Row hashes use only integer arithmetic that cannot overflow a signed 64-bit integer (32-bit
values times constants below 2**30), so the compiled kernels and their pure-Python run under
``NUMBA_DISABLE_JIT=1`` give the same numbers. A hash only decides where to look: rows are
merged only after their columns compare equal, so collisions never merge different rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "group_equal_rows",
    "nearest_open_rows",
    "row_keys",
    "sum_by_group",
    "threshold_rows",
]

_LOW_32 = 0xFFFFFFFF
_INITIAL_TABLE_SIZE = 1024


@njit(cache=True)
def nearest_open_rows(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, is_open: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the open column with the smallest cost (ties: lowest index), and that cost.

    Parameters
    ----------
    indptr, indices, data
        CSR cost rows d_ij (any cost unit).
    is_open
        (m,) mask of open sites.

    Returns
    -------
    site, cost
        (n,) nearest open site per row and its cost; rows with no open column get -1 and inf.
    """
    n = indptr.shape[0] - 1
    site = np.full(n, -1, dtype=np.int64)
    cost = np.full(n, np.inf, dtype=np.float64)
    for i in range(n):
        best = np.inf
        best_j = -1
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if is_open[j] and (data[k] < best or (data[k] == best and j < best_j)):
                best = data[k]
                best_j = j
        site[i] = best_j
        cost[i] = best
    return site, cost


@njit(cache=True)
def threshold_rows(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """The entries with ``data ≤ threshold``: count per row, prefix-sum, fill.

    Returns
    -------
    indptr, indices
        CSR pattern (int64 row pointers, int32 columns) of the kept entries, in their order.
    """
    n = indptr.shape[0] - 1
    kept_indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        count = 0
        for k in range(indptr[i], indptr[i + 1]):
            if data[k] <= threshold:
                count += 1
        kept_indptr[i + 1] = kept_indptr[i] + count
    kept = np.empty(kept_indptr[n], dtype=np.int32)
    position = 0
    for k in range(indptr[n]):
        if data[k] <= threshold:
            kept[position] = indices[k]
            position += 1
    return kept_indptr, kept


@njit(cache=True, inline="always")
def _mix_a(x: int) -> int:
    """A 32-bit avalanche mix of ``x`` in [0, 2**32)."""
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _LOW_32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _LOW_32
    return (x >> 16) ^ x


@njit(cache=True, inline="always")
def _mix_b(x: int) -> int:
    """A second, independent 32-bit mix of ``x`` in [0, 2**32)."""
    x = (((x >> 15) ^ x) * 0x119DE1F3) & _LOW_32
    x = (((x >> 13) ^ x) * 0x2C1B3C6D) & _LOW_32
    return (x >> 16) ^ x


@njit(cache=True)
def row_keys(indptr: np.ndarray, indices: np.ndarray, n_columns: int) -> np.ndarray:
    """A 63-bit non-negative hash of every row's set of columns.

    Every column gets two mixed 32-bit codes once; a row's key combines the sums of its
    columns' codes (modulo 2**32) and its length. The sums need no per-entry mixing, so the
    pass over the entries is a table lookup and an add.

    Parameters
    ----------
    indptr, indices
        CSR rows; the columns of a row must be unique (their order does not matter).
    n_columns
        Number of columns m; every index must be below it.

    Returns
    -------
    ndarray
        (n,) int64 keys in [0, 2**63).
    """
    code_a, code_b = column_codes(n_columns)
    n = indptr.shape[0] - 1
    keys = np.empty(n, dtype=np.int64)
    for i in range(n):
        keys[i] = row_key(indices, indptr[i], indptr[i + 1], code_a, code_b)
    return keys


@njit(cache=True)
def column_codes(n_columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent mixed 32-bit codes per column, summed into a row's key."""
    code_a = np.empty(n_columns, dtype=np.int64)
    code_b = np.empty(n_columns, dtype=np.int64)
    for column in range(n_columns):
        code_a[column] = _mix_a(column & _LOW_32)
        code_b[column] = _mix_b((column + 0x5BD1E995) & _LOW_32)
    return code_a, code_b


@njit(cache=True)
def row_key(
    indices: np.ndarray, start: int, stop: int, code_a: np.ndarray, code_b: np.ndarray
) -> int:
    """The key of the row ``indices[start:stop]`` (see :func:`row_keys`)."""
    sum_a = 0
    sum_b = 0
    for k in range(start, stop):
        column = indices[k]
        sum_a = (sum_a + code_a[column]) & _LOW_32
        sum_b = (sum_b + code_b[column]) & _LOW_32
    length = (stop - start) & _LOW_32
    first = _mix_a(sum_a ^ length)
    second = _mix_b((sum_b + length * 0x27D4EB2) & _LOW_32)
    return ((first >> 1) << 32) | second


@njit(cache=True)
def probe(
    table: np.ndarray,
    key: int,
    stored_key: np.ndarray,
    stored_indptr: np.ndarray,
    stored_indices: np.ndarray,
    indices: np.ndarray,
    start: int,
    stop: int,
) -> tuple[int, int]:
    """Look the row ``indices[start:stop]`` (hash ``key``) up in an open-addressing table.

    Returns (stored row, its slot) when a stored row has the same columns, else (-1, the free
    slot where it belongs). Keys only narrow the search: equality is checked column by column.
    """
    size = table.shape[0]
    length = stop - start
    slot = key & (size - 1)
    while True:
        found = table[slot]
        if found < 0:
            return -1, slot
        if stored_key[found] == key and stored_indptr[found + 1] - stored_indptr[found] == length:
            offset = stored_indptr[found] - start
            equal = True
            for k in range(start, stop):
                if indices[k] != stored_indices[offset + k]:
                    equal = False
                    break
            if equal:
                return found, slot
        slot = (slot + 1) & (size - 1)


@njit(cache=True)
def rehashed(stored_key: np.ndarray, count: int, size: int) -> np.ndarray:
    """A table of ``size`` slots (a power of two) holding the first ``count`` stored rows."""
    table = np.full(size, -1, dtype=np.int64)
    for existing in range(count):
        slot = stored_key[existing] & (size - 1)
        while table[slot] >= 0:
            slot = (slot + 1) & (size - 1)
        table[slot] = existing
    return table


@njit(cache=True)
def _grown(array: np.ndarray, needed: int) -> np.ndarray:
    """``array`` itself if it holds ``needed`` items, else a copy at least twice as long."""
    if needed <= array.shape[0]:
        return array
    larger = np.empty(max(needed, 2 * array.shape[0]), dtype=array.dtype)
    larger[: array.shape[0]] = array
    return larger


@njit(cache=True)
def group_equal_rows(
    indptr: np.ndarray, indices: np.ndarray, keys: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Number the distinct non-empty rows in order of first appearance.

    An open-addressing hash table (linear probing, load at most one half) maps a row's key to
    the groups seen so far. A row joins a group only if its columns equal the group's columns,
    so the grouping is exact whatever the keys. The columns of every group are kept in a
    compact store, so comparisons stay in cache, and the table and store grow with the number
    of groups, not of rows.

    Parameters
    ----------
    indptr, indices
        CSR rows with sorted, unique columns.
    keys
        (n,) non-negative row hashes from :func:`row_keys`.

    Returns
    -------
    group, representative, group_indptr, group_indices
        (n,) group of every row (-1 for empty rows); (k,) the first row of every group; and
        the CSR pattern of the k distinct rows (int64 pointers, int32 columns).
    """
    n = indptr.shape[0] - 1
    group = np.full(n, -1, dtype=np.int64)
    representative = np.empty(64, dtype=np.int64)
    group_key = np.empty(64, dtype=np.int64)
    group_indptr = np.zeros(65, dtype=np.int64)
    group_indices = np.empty(256, dtype=np.int32)
    size = _INITIAL_TABLE_SIZE
    table = np.full(size, -1, dtype=np.int64)
    n_groups = 0
    for i in range(n):
        start, stop = indptr[i], indptr[i + 1]
        if stop == start:
            continue
        length = stop - start
        key = keys[i]
        found, slot = probe(
            table, key, group_key, group_indptr, group_indices, indices, start, stop
        )
        if found >= 0:
            group[i] = found
            continue
        # a new group: record it, store its columns, and enter it in the table
        representative = _grown(representative, n_groups + 1)
        group_key = _grown(group_key, n_groups + 1)
        group_indptr = _grown(group_indptr, n_groups + 2)
        end = group_indptr[n_groups] + length
        group_indices = _grown(group_indices, end)
        group_indices[group_indptr[n_groups] : end] = indices[start:stop]
        group_indptr[n_groups + 1] = end
        representative[n_groups] = i
        group_key[n_groups] = key
        table[slot] = n_groups
        group[i] = n_groups
        n_groups += 1
        if 2 * n_groups > size:
            # keep the load at most one half: double the table and reinsert every group
            size *= 2
            table = rehashed(group_key, n_groups, size)
    nnz = group_indptr[n_groups]
    return (
        group,
        representative[:n_groups].copy(),
        group_indptr[: n_groups + 1].copy(),
        group_indices[:nnz].copy(),
    )


@njit(cache=True)
def sum_by_group(group: np.ndarray, weights: np.ndarray, n_groups: int) -> np.ndarray:
    """(k, g) sums of the (n, g) ``weights`` over rows of each group; rows with -1 are skipped.

    Rows are added in their original order, so the sums do not depend on the grouping method.
    """
    n, columns = weights.shape
    summed = np.zeros((n_groups, columns), dtype=np.float64)
    for i in range(n):
        g = group[i]
        if g >= 0:
            for c in range(columns):
                summed[g, c] += weights[i, c]
    return summed
