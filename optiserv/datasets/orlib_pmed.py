"""Reader for the OR-Library p-median instances pmed1–pmed40 (Beasley 1985).

File format (whitespace separated integers)::

    n m p        number of vertices, number of edges, number of medians
    i j c        m lines: an undirected edge between vertices i and j (1-based), cost c

Every vertex is both a demand point with unit weight and a candidate site. The travel cost
d_ij is the length of the shortest path between i and j in the graph. When the same pair of
vertices is listed more than once (in either order), the **last** line wins: that is the
convention under which the published optima (``pmedopt.txt``) are reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from optiserv.data import CostMatrix, Instance
from optiserv.exceptions import DataError

__all__ = ["PmedProblem", "read_pmed", "read_pmed_optima"]


@dataclass(frozen=True, eq=False)
class PmedProblem:
    """One OR-Library p-median problem.

    Attributes
    ----------
    instance
        Demand points and sites are the graph's vertices, ids 1..n, unit weights, zero
        coordinates; ``instance.costs`` holds the all-pairs shortest-path lengths (unit
        ``"unit"``; pairs in different components are unreachable).
    p
        Number of medians to open.
    name
        The file name without its suffix, e.g. ``"pmed1"``.
    """

    instance: Instance
    p: int
    name: str


def _integers(text: str, path: Path, line_number: int, count: int) -> list[int]:
    fields = text.split()
    if len(fields) != count:
        raise DataError(
            f"{path}, line {line_number}: expected {count} integers, got {len(fields)} fields "
            f"({text.strip()!r})"
        )
    try:
        return [int(field) for field in fields]
    except ValueError:
        raise DataError(
            f"{path}, line {line_number}: expected integers, got {text.strip()!r}"
        ) from None


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines of ``path`` with their 1-based line numbers."""
    try:
        text = path.read_text()
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error.strerror})") from None
    return [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _edges(
    lines: list[tuple[int, str]], path: Path, n_vertices: int, n_edges: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """The edge lines as 0-based (tail, head, cost) arrays, validated."""
    if len(lines) < n_edges:
        last = lines[-1][0] if lines else 1
        raise DataError(
            f"{path}, line {last}: the header announces {n_edges} edges, the file has "
            f"{len(lines)} edge lines"
        )
    if len(lines) > n_edges:
        raise DataError(
            f"{path}, line {lines[n_edges][0]}: more lines than the {n_edges} edges the "
            f"header announces"
        )
    table = np.array(
        [_integers(text, path, number, 3) for number, text in lines], dtype=np.int64
    ).reshape(-1, 3)
    numbers = np.array([number for number, _ in lines], dtype=np.int64)
    outside = (table[:, :2] < 1).any(axis=1) | (table[:, :2] > n_vertices).any(axis=1)
    if outside.any():
        k = int(np.argmax(outside))
        raise DataError(
            f"{path}, line {numbers[k]}: vertex outside 1..{n_vertices} in edge "
            f"({table[k, 0]}, {table[k, 1]})"
        )
    negative = table[:, 2] < 0
    if negative.any():
        k = int(np.argmax(negative))
        raise DataError(f"{path}, line {numbers[k]}: negative edge cost {table[k, 2]}")
    return table[:, 0] - 1, table[:, 1] - 1, table[:, 2].astype(np.float64)


def _last_occurrence(
    tail: NDArray[np.int64], head: NDArray[np.int64], n_vertices: int
) -> NDArray[np.int64]:
    """Indices of the edges to keep: the last line of every unordered vertex pair."""
    low, high = np.minimum(tail, head), np.maximum(tail, head)
    key = low * n_vertices + high
    # np.unique returns the first occurrence; on the reversed array that is the last one
    _, first_in_reversed = np.unique(key[::-1], return_index=True)
    return np.sort(key.size - 1 - first_in_reversed)


def shortest_path_costs(
    tail: NDArray[np.int64], head: NDArray[np.int64], cost: NDArray[np.float64], n_vertices: int
) -> NDArray[np.float64]:
    """All-pairs shortest-path lengths of an undirected graph (``inf`` between components).

    Parameters
    ----------
    tail, head
        0-based end vertices of each edge, one edge per unordered pair (already deduplicated).
    cost
        Non-negative edge lengths, in the cost unit.
    n_vertices
        Number of vertices.
    """
    keep = tail != head  # a loop never shortens a path
    graph = sp.csr_matrix(
        (cost[keep], (tail[keep], head[keep])), shape=(n_vertices, n_vertices)
    )
    # explicit zeros stay in the matrix: scipy's csgraph treats them as zero-length edges
    return np.asarray(dijkstra(graph, directed=False), dtype=np.float64)


def read_pmed(path: str | Path) -> PmedProblem:
    """Read an OR-Library pmed file into an instance with shortest-path costs, and its p.

    Parameters
    ----------
    path
        A ``pmedK.txt`` file.

    Returns
    -------
    PmedProblem
        The instance (vertices 1..n as demand points and sites, unit weights, d_ij the
        shortest-path length), the number of medians p and the instance name.

    Raises
    ------
    DataError
        When the file cannot be read or is malformed; the message names the file and line.
    """
    path = Path(path)
    lines = _read_lines(path)
    if not lines:
        raise DataError(f"{path}, line 1: empty file, expected the header 'n m p'")
    header_number, header = lines[0]
    n_vertices, n_edges, p = _integers(header, path, header_number, 3)
    if n_vertices < 1 or n_edges < 0 or p < 1 or p > n_vertices:
        raise DataError(
            f"{path}, line {header_number}: header needs n ≥ 1, m ≥ 0 and 1 ≤ p ≤ n, "
            f"got n={n_vertices}, m={n_edges}, p={p}"
        )
    tail, head, cost = _edges(lines[1:], path, n_vertices, n_edges)
    keep = _last_occurrence(tail, head, n_vertices)
    distance = shortest_path_costs(tail[keep], head[keep], cost[keep], n_vertices)
    ids = np.arange(1, n_vertices + 1, dtype=np.int64)
    zeros = np.zeros((n_vertices, 2))
    name = path.stem
    instance = Instance.from_arrays(
        zeros,
        zeros,
        weights=np.ones(n_vertices),
        demand_ids=ids,
        site_ids=ids,
        costs=CostMatrix.from_dense(distance, unit="unit"),
        name=name,
    )
    return PmedProblem(instance, int(p), name)


def read_pmed_optima(path: str | Path) -> dict[str, int]:
    """Read ``pmedopt.txt``: instance name → published optimal total distance.

    The first line is a header (``Data file   Optimal solution value``) and is skipped when it
    is not of the form ``name value``.

    Raises
    ------
    DataError
        When a line is not ``name integer``; the message names the file and line.
    """
    path = Path(path)
    optima: dict[str, int] = {}
    for position, (number, text) in enumerate(_read_lines(path)):
        fields = text.split()
        if len(fields) == 2 and fields[1].lstrip("-").isdigit():
            optima[fields[0]] = int(fields[1])
        elif position > 0:
            raise DataError(
                f"{path}, line {number}: expected 'name optimal_value', got {text.strip()!r}"
            )
    return optima
