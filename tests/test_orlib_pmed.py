"""OR-Library p-median reader: shortest paths, last-line-wins duplicates, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optiserv.datasets.orlib_pmed import read_pmed, read_pmed_optima
from optiserv.exceptions import DataError


def pmed_folder() -> Path | None:
    """The shared OR-Library pmed folder (../shared beside the checkout, or /work/shared)."""
    for shared in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")):
        folder = shared / "benchmarks" / "orlib_pmed"
        if (folder / "pmedopt.txt").is_file():
            return folder
    return None


def write(tmp_path: Path, text: str, name: str = "tiny.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def floyd_warshall(n: int, edges: list[tuple[int, int, float]]) -> np.ndarray:
    """A slow, obvious all-pairs shortest path: the reference for the reader."""
    distance = np.full((n, n), np.inf)
    np.fill_diagonal(distance, 0.0)
    for i, j, c in edges:
        distance[i - 1, j - 1] = distance[j - 1, i - 1] = c
    for k in range(n):
        for i in range(n):
            for j in range(n):
                distance[i, j] = min(distance[i, j], distance[i, k] + distance[k, j])
    return distance


def test_reads_a_small_graph_with_shortest_paths(tmp_path: Path) -> None:
    edges = [(1, 2, 4), (2, 3, 1), (3, 4, 2), (1, 4, 10), (4, 5, 3)]
    text = " 5 5 2 \n" + "".join(f" {i} {j} {c} \n" for i, j, c in edges)
    problem = read_pmed(write(tmp_path, text, "pmed99.txt"))
    instance = problem.instance
    assert problem.p == 2 and problem.name == "pmed99"
    assert instance.n_demand == instance.n_sites == 5
    assert instance.demand.ids.tolist() == instance.sites.ids.tolist() == [1, 2, 3, 4, 5]
    assert np.all(instance.weight() == 1.0)
    assert instance.costs is not None and instance.costs.unit == "unit"
    np.testing.assert_array_equal(instance.costs.dense(), floyd_warshall(5, edges))


def test_duplicate_pairs_last_line_wins_in_either_order(tmp_path: Path) -> None:
    # (1, 2) is given as 1, then 7 (reversed), then 5: the last line, 5, wins (not the minimum)
    text = "3 4 1\n1 2 1\n2 1 7\n2 3 2\n1 2 5\n"
    problem = read_pmed(write(tmp_path, text))
    assert problem.instance.costs is not None
    dense = problem.instance.costs.dense()
    assert dense[0, 1] == dense[1, 0] == 5.0
    assert dense[0, 2] == 7.0


def test_disconnected_vertices_are_unreachable(tmp_path: Path) -> None:
    problem = read_pmed(write(tmp_path, "4 2 1\n1 2 3\n3 4 0\n"))
    costs = problem.instance.costs
    assert costs is not None
    dense = costs.dense()
    assert np.isinf(dense[0, 2]) and np.isinf(dense[3, 1])
    assert dense[2, 3] == 0.0  # a zero-length edge is an edge
    assert costs.nnz == 8


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "empty file"),
        ("3 2\n1 2 3\n", 1, "expected 3 integers"),
        ("3 x 1\n", 1, "expected integers"),
        ("3 2 1\n1 2 3\n", 2, "announces 2 edges"),
        ("3 1 1\n1 2 3\n2 3 1\n", 3, "more lines"),
        ("3 2 1\n1 2 3\n2 4 1\n", 3, "outside 1..3"),
        ("3 2 1\n1 2 3\n0 2 1\n", 3, "outside 1..3"),
        ("3 2 1\n1 2 -3\n2 3 1\n", 2, "negative edge cost"),
        ("3 2 1\n1 2 3.5\n2 3 1\n", 2, "expected integers"),
        ("3 2 1\n1 2 3 4\n2 3 1\n", 2, "expected 3 integers"),
        ("3 2 4\n1 2 3\n2 3 1\n", 1, "1 ≤ p ≤ n"),
    ],
)
def test_malformed_files_name_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=words) as error:
        read_pmed(path)
    assert str(path) in str(error.value)
    assert f"line {line}" in str(error.value)


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        read_pmed(tmp_path / "absent.txt")


def test_optima_file(tmp_path: Path) -> None:
    path = write(tmp_path, "Data file   Optimal solution value\npmed1 5819\n\npmed2 4093\n")
    assert read_pmed_optima(path) == {"pmed1": 5819, "pmed2": 4093}
    bad = write(tmp_path, "Data file   Optimal solution value\npmed1 5819\npmed2\n", "bad.txt")
    with pytest.raises(DataError, match="line 3"):
        read_pmed_optima(bad)


def test_shared_pmed_files() -> None:
    folder = pmed_folder()
    if folder is None:
        pytest.skip("shared OR-Library pmed files (../shared/benchmarks/orlib_pmed) not present")
    optima = read_pmed_optima(folder / "pmedopt.txt")
    assert len(optima) == 40
    assert [optima[f"pmed{k}"] for k in range(1, 6)] == [5819, 4093, 4250, 3034, 1355]
    problem = read_pmed(folder / "pmed1.txt")
    assert (problem.instance.n_demand, problem.p) == (100, 5)
    assert problem.instance.costs is not None
    dense = problem.instance.costs.dense()
    assert np.isfinite(dense).all()
    np.testing.assert_array_equal(dense, dense.T)
    assert np.all(np.diag(dense) == 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("number", [6, 16, 17, 18, 22, 25, 26, 31])
def test_pmed_proven_optimal_by_tree_or_mip(number: int) -> None:
    """Instances closed by the Lagrangian tree (small p) and by the MIP (large p)."""
    from optiserv.formulations.p_median import PMedian
    from optiserv.solvers import Status

    folder = pmed_folder()
    if folder is None:
        pytest.skip("shared OR-Library pmed files (../shared/benchmarks/orlib_pmed) not present")
    optimum = read_pmed_optima(folder / "pmedopt.txt")[f"pmed{number}"]
    problem = read_pmed(folder / f"pmed{number}.txt")
    solution = PMedian(p=problem.p).solve(problem.instance)
    assert solution.status is Status.OPTIMAL
    assert solution.objective == pytest.approx(optimum, abs=1e-6)
    assert solution.bound == pytest.approx(optimum, abs=1e-6)
    costs = problem.instance.costs
    assert costs is not None
    dense = costs.dense()[:, solution.open_sites]
    assert dense.min(axis=1).sum() == pytest.approx(optimum, abs=1e-6)
