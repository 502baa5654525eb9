"""Distance and coverage kernels against their physical limit and against numpy and scipy.

For every kernel and size, optiserv's kernel, a plain-numpy baseline and (for the distance
kernels) a scipy baseline run in the same process, one after the other, ``--repeat`` times
each (median reported). Every row reports:

- time per stored nonzero: wall seconds / nonzeros of the kernel's output (n·m for
  ``pairwise``, n·k for ``nearest``, the pairs with d_ij ≤ r for ``within_radius``, the input
  entries for the coverage threshold and ``reduce_coverage``);
- compulsory bytes: every input array read once plus every output array written once, at the
  width optiserv stores them (float64 coordinates and distances, int32 site indices, int64
  row pointers, bool coverage entries). The same count is used for every implementation of a
  kernel, so the bandwidth columns compare like with like; intermediate arrays (candidate
  pairs, dense blocks) are not counted, which is what makes the count a lower bound;
- bandwidth = compulsory bytes / wall seconds, and its share of the machine's copy bandwidth
  measured at the start of the run (``numpy.copyto`` of a large float64 array, bytes read +
  bytes written per second, best of the repeats, STREAM's "copy"): a kernel at 100 % would be
  memory-bound at the speed of a plain copy;
- speed-ups: baseline wall seconds / optiserv wall seconds, in the same run.

numba kernels use every core (``parallel=True``); numpy's copy and the baselines use one, so
CPU seconds are reported beside wall seconds. Not part of the test suite.

Usage::

    .venv/bin/python benchmarks/bench_kernel_limits.py
    .venv/bin/python benchmarks/bench_kernel_limits.py --quick          # small sizes only
    .venv/bin/python benchmarks/bench_kernel_limits.py --repeat 5 --append
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from optiserv.coverage import coverage_from_costs, reduce_coverage
from optiserv.data import CostMatrix
from optiserv.geometry import nearest, pairwise, within_radius

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SQUARE_SIDE = 100_000.0
"""Side of the square holding demand points and sites, in metres."""
DENSE_BLOCK = 4_000_000
"""Distances per dense block in the numpy baselines (bounds their memory)."""

FLOAT, INT32, INT64, BOOL = 8, 4, 8, 1
"""Bytes per stored entry."""


@dataclass(frozen=True)
class Row:
    """One implementation of one kernel on one size."""

    kernel: str
    size: str
    implementation: str
    nonzeros: int
    compulsory_bytes: int
    wall: float
    cpu: float
    note: str = ""


def _timed(function: Callable[[], Any], repeat: int) -> tuple[Any, float, float]:
    """The last result and the median wall and CPU (all threads of this process) seconds."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return result, statistics.median(walls), statistics.median(cpus)


def copy_bandwidth(megabytes: int, repeat: int) -> tuple[float, float]:
    """Best and median copy bandwidth in bytes per second: 2 × array bytes / seconds.

    The arrays are written once before timing so that page faults are not measured.
    """
    count = megabytes * 2**20 // FLOAT
    source = np.random.default_rng(0).random(count)
    target = np.empty_like(source)
    np.copyto(target, source)
    rates = []
    for _ in range(max(repeat, 5)):
        started = time.perf_counter()
        np.copyto(target, source)
        rates.append(2 * source.nbytes / (time.perf_counter() - started))
    return max(rates), statistics.median(rates)


# ---------------------------------------------------------------------------------- baselines
def _block_rows(m: int) -> int:
    """Rows per dense block of the numpy baselines."""
    return max(1, DENSE_BLOCK // max(m, 1))


def _dense_block(demand: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """d_ij = sqrt((x_i − x_j)² + (y_i − y_j)²) by numpy broadcasting."""
    dx = demand[:, 0, np.newaxis] - sites[np.newaxis, :, 0]
    dy = demand[:, 1, np.newaxis] - sites[np.newaxis, :, 1]
    return np.sqrt(dx * dx + dy * dy)


def numpy_pairwise(demand: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """The dense matrix by broadcasting, in one piece (as a numpy user would write it)."""
    return _dense_block(demand, sites)


def numpy_within_radius(demand: np.ndarray, sites: np.ndarray, radius: float) -> sp.csr_matrix:
    """CSR of d_ij ≤ r from dense blocks of rows: distances, mask, ``nonzero``."""
    n, m = demand.shape[0], sites.shape[0]
    counts, indices, data = [], [], []
    step = _block_rows(m)
    for start in range(0, n, step):
        block = _dense_block(demand[start:start + step], sites)
        mask = block <= radius
        counts.append(mask.sum(axis=1))
        rows, columns = np.nonzero(mask)
        indices.append(columns.astype(np.int32))
        data.append(block[rows, columns])
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.int64)
    return sp.csr_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=(n, m))


def scipy_sparse_distance(demand: np.ndarray, sites: np.ndarray, radius: float) -> sp.csr_matrix:
    """``cKDTree.sparse_distance_matrix`` between a demand tree and a site tree, as CSR."""
    pairs = cKDTree(demand).sparse_distance_matrix(cKDTree(sites), radius, output_type="coo_matrix")
    return pairs.tocsr()


def scipy_ball_point(demand: np.ndarray, sites: np.ndarray, radius: float) -> sp.csr_matrix:
    """``cKDTree.query_ball_point`` lists (indices only), then exact distances, as CSR."""
    found = cKDTree(sites).query_ball_point(demand, radius, return_sorted=True)
    counts = np.fromiter((len(x) for x in found), dtype=np.int64, count=len(found))
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = np.fromiter((j for x in found for j in x), dtype=np.int32, count=int(indptr[-1]))
    rows = np.repeat(np.arange(demand.shape[0]), counts)
    delta = demand[rows] - sites[indices]
    data = np.sqrt((delta * delta).sum(axis=1))
    return sp.csr_matrix((data, indices, indptr), shape=(demand.shape[0], sites.shape[0]))


def numpy_nearest(demand: np.ndarray, sites: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k nearest by dense blocks, ``argpartition`` and a sort of the k kept per row."""
    n, m = demand.shape[0], sites.shape[0]
    index = np.empty((n, k), dtype=np.int64)
    distance = np.empty((n, k))
    step = _block_rows(m)
    for start in range(0, n, step):
        block = _dense_block(demand[start:start + step], sites)
        part = np.argpartition(block, k - 1, axis=1)[:, :k]
        kept = np.take_along_axis(block, part, axis=1)
        order = np.argsort(kept, axis=1, kind="stable")
        index[start:start + step] = np.take_along_axis(part, order, axis=1)
        distance[start:start + step] = np.take_along_axis(kept, order, axis=1)
    return index, distance


def scipy_nearest(demand: np.ndarray, sites: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``cKDTree.query`` (one worker), tree build included."""
    distance, index = cKDTree(sites).query(demand, k=k)
    return index, distance


def numpy_threshold(costs: CostMatrix, radius: float) -> sp.csr_matrix:
    """Boolean CSR of the stored entries with d_ij ≤ r: a mask, then the row counts."""
    keep = costs.data <= radius
    rows = np.repeat(np.arange(costs.shape[0]), np.diff(costs.indptr))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=costs.shape[0]))])
    indices = costs.indices[keep]
    return sp.csr_matrix((np.ones(indices.size, dtype=bool), indices, indptr), shape=costs.shape)


def numpy_reduce(cover: sp.csr_matrix, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group of every row and the summed weights of the distinct non-empty rows.

    Dense bits packed 8 columns to a byte, rows compared as opaque byte strings by
    ``np.unique``; W_g = Σ_{i in g} w_i by ``np.bincount``; the empty row's group is dropped.
    """
    bits = np.ascontiguousarray(np.packbits(cover.toarray(), axis=1))
    keys = bits.view(np.dtype((np.void, bits.shape[1]))).ravel()
    distinct, group = np.unique(keys, return_inverse=True)
    group = group.ravel()
    summed = np.bincount(group, weights=weights, minlength=distinct.size)
    non_empty = np.unique(group[np.diff(cover.indptr) > 0])
    return group, summed[non_empty]


# ---------------------------------------------------------------------------------- cases
def _points(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.uniform(0.0, SQUARE_SIDE, size=(count, 2))


def _same_csr(a: sp.csr_matrix, b: sp.csr_matrix) -> str:
    """'' when the two CSR matrices hold the same pairs and distances, else what differs."""
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    a.sort_indices()
    b.sort_indices()
    if a.nnz != b.nnz:
        return f"nonzeros {b.nnz:,} ≠ {a.nnz:,}"
    if not (np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)):
        return "different pairs"
    if not np.allclose(a.data, b.data, rtol=1e-12, atol=1e-6):
        return "different distances"
    return ""


def distance_rows(n: int, m: int, radius: float, k: int, repeat: int, seed: int) -> list[Row]:
    """pairwise, within_radius and nearest on n uniform demand points and m sites."""
    rng = np.random.default_rng(seed)
    demand, sites = _points(rng, n), _points(rng, m)
    size = f"{n:,} × {m:,}"
    inputs = FLOAT * 2 * (n + m)
    rows: list[Row] = []

    dense_bytes = inputs + FLOAT * n * m
    if n * m <= 40_000_000:
        reference, wall, cpu = _timed(lambda: pairwise(demand, sites), repeat)
        rows.append(Row("pairwise", size, "optiserv", n * m, dense_bytes, wall, cpu))
        for name, function in (("numpy broadcast", numpy_pairwise),
                               ("scipy cdist", lambda a, b: cdist(a, b))):
            result, wall, cpu = _timed(lambda f=function: f(demand, sites), repeat)
            same = np.allclose(result, reference, rtol=1e-12, atol=1e-6)
            rows.append(Row("pairwise", size, name, n * m, dense_bytes, wall, cpu,
                            "" if same else "DIFFERENT"))
        del reference, result

    label = f"{size}, r = {radius / 1000:g} km"
    costs, wall, cpu = _timed(lambda: within_radius(demand, sites, radius), repeat)
    nnz = int(costs.data.size)
    sparse_bytes = inputs + (INT32 + FLOAT) * nnz + INT64 * (n + 1)
    rows.append(Row("within_radius", label, "optiserv", nnz, sparse_bytes, wall, cpu))
    reference = sp.csr_matrix((costs.data, costs.indices, costs.indptr), shape=costs.shape)
    for name, function in (
        ("numpy dense blocks", numpy_within_radius),
        ("scipy sparse_distance_matrix", scipy_sparse_distance),
        ("scipy query_ball_point", scipy_ball_point),
    ):
        result, wall, cpu = _timed(lambda f=function: f(demand, sites, radius), repeat)
        rows.append(Row("within_radius", label, name, nnz, sparse_bytes, wall, cpu,
                        _same_csr(reference, result)))

    nearest_bytes = inputs + (INT64 + FLOAT) * n * k
    label = f"{size}, k = {k}"
    (_, distance), wall, cpu = _timed(lambda: nearest(demand, sites, k), repeat)
    rows.append(Row("nearest", label, "optiserv", n * k, nearest_bytes, wall, cpu))
    for name, function in (("numpy dense blocks", numpy_nearest),
                           ("scipy cKDTree.query", scipy_nearest)):
        (_, found), wall, cpu = _timed(lambda f=function: f(demand, sites, k), repeat)
        same = np.allclose(found, distance, rtol=1e-12, atol=1e-6)
        rows.append(Row("nearest", label, name, n * k, nearest_bytes, wall, cpu,
                        "" if same else "DIFFERENT"))
    return rows


def coverage_rows(n: int, m: int, radius: float, repeat: int, seed: int) -> list[Row]:
    """The coverage threshold and ``reduce_coverage`` on the radius search's output."""
    rng = np.random.default_rng(seed)
    demand, sites = _points(rng, n), _points(rng, m)
    weights = rng.uniform(1.0, 10.0, size=n)
    costs = within_radius(demand, sites, radius)
    nnz = int(costs.data.size)
    label = f"{n:,} × {m:,}, r = {radius / 1000:g} km"
    rows: list[Row] = []

    threshold_bytes = INT64 * (n + 1) * 2 + (INT32 + FLOAT) * nnz + (INT32 + BOOL) * nnz
    cover, wall, cpu = _timed(lambda: coverage_from_costs(costs, radius), repeat)
    rows.append(Row("coverage threshold", label, "optiserv", nnz, threshold_bytes, wall, cpu))
    result, wall, cpu = _timed(lambda: numpy_threshold(costs, radius), repeat)
    same = (result != cover).nnz == 0
    rows.append(Row("coverage threshold", label, "numpy mask", nnz, threshold_bytes, wall, cpu,
                    "" if same else "DIFFERENT"))

    reduced, wall, cpu = _timed(lambda: reduce_coverage(cover, weights), repeat)
    k = reduced.n_rows
    reduce_bytes = (INT64 * (n + 1) + INT32 * nnz + FLOAT * n  # read: pattern, weights
                    + INT64 * n + INT64 * (k + 1) + (INT32 + BOOL) * reduced.matrix.nnz
                    + FLOAT * k + INT64 * reduced.unreachable.size)  # written
    note = f"{k:,} rows after"
    rows.append(Row("reduce_coverage", label, "optiserv", nnz, reduce_bytes, wall, cpu, note))
    if n * m <= 2_000_000_000:
        (_, summed), wall, cpu = _timed(lambda: numpy_reduce(cover, weights), repeat)
        same = summed.size == k and np.isclose(summed.sum(), reduced.weights.sum())
        rows.append(Row("reduce_coverage", label, "numpy packbits + unique", nnz, reduce_bytes,
                        wall, cpu, note if same else f"DIFFERENT: {summed.size:,} rows"))
    return rows


# ---------------------------------------------------------------------------------- table
def _speedup(ours: Row, baselines: list[Row]) -> str:
    """Fastest baseline's wall / ours, and the same for CPU seconds (each its own fastest)."""
    if not baselines:
        return ""
    wall = min(r.wall for r in baselines) / ours.wall
    cpu = min(r.cpu for r in baselines) / max(ours.cpu, 1e-9)
    return f"{wall:,.1f}× / {cpu:,.1f}×"


def markdown(info: dict[str, str], rows: list[Row], copy_best: float, copy_median: float,
             copy_megabytes: int, load_end: str, repeat: int) -> str:
    """A RESULTS.md section: machine facts, the copy reference, one row per implementation."""
    lines = [f"## Distance and coverage kernels against the copy bandwidth, {info['date']}", ""]
    for key, value in info.items():
        if key != "date":
            lines.append(f"- {key}: `{value}`" if key == "command" else f"- {key}: {value}")
    lines += [
        f"- load average (1, 5, 15 min) at end: {load_end}",
        f"- reference limit: `numpy.copyto` of a {copy_megabytes:,} MiB float64 array, one "
        f"thread: best {copy_best / 1e9:.2f} GB/s, median {copy_median / 1e9:.2f} GB/s "
        "(bytes read + bytes written per second)",
        f"- medians of {repeat} runs of each implementation, in this process, one after the "
        "other; points uniform in a 100 km square; optiserv's numba kernels use every core, "
        "numpy and scipy one (cKDTree with its default single worker)",
        "- compulsory bytes: inputs read once + outputs written once at optiserv's storage "
        "widths (same count for every implementation of a kernel); GB/s = compulsory bytes "
        "/ wall s; % copy = that / best copy bandwidth (and the same per CPU second: "
        "compulsory bytes / cpu s, comparable with the one-thread copy on a loaded machine); "
        "×numpy, ×scipy = the fastest baseline's seconds / optiserv's, wall and cpu",
        "",
        "| kernel | size | implementation | nonzeros | MB touched | wall s | cpu s "
        "| ns / nonzero | GB/s | % copy (wall / cpu) | ×numpy (wall / cpu) "
        "| ×scipy (wall / cpu) | note |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.kernel, row.size), []).append(row)
    for group in groups.values():
        ours = next(r for r in group if r.implementation == "optiserv")
        numpy_rows = [r for r in group if r.implementation.startswith("numpy")]
        scipy_rows = [r for r in group if r.implementation.startswith("scipy")]
        for row in group:
            rate, cpu_rate = row.compulsory_bytes / row.wall, row.compulsory_bytes / row.cpu
            versus_numpy = _speedup(ours, numpy_rows) if row is ours else ""
            versus_scipy = _speedup(ours, scipy_rows) if row is ours else ""
            lines.append(
                f"| {row.kernel} | {row.size} | {row.implementation} | {row.nonzeros:,} "
                f"| {row.compulsory_bytes / 1e6:,.1f} | {row.wall:.4f} | {row.cpu:.4f} "
                f"| {1e9 * row.wall / max(row.nonzeros, 1):,.1f} | {rate / 1e9:.3f} "
                f"| {100 * rate / copy_best:.1f} / {100 * cpu_rate / copy_best:.1f} "
                f"| {versus_numpy} | {versus_scipy} | {row.note} |"
            )
    lines.append("")
    return "\n".join(lines)


def _warm_up() -> None:
    rng = np.random.default_rng(0)
    demand, sites = _points(rng, 2_000), _points(rng, 50)
    pairwise(demand, sites)
    nearest(demand, sites, 3)
    costs = within_radius(demand, sites, 10_000.0)
    reduce_coverage(coverage_from_costs(costs, 10_000.0), np.ones(2_000))


def main() -> int:
    """Parse arguments, measure, print (and optionally append) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per implementation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the 10k × 500 size only")
    parser.add_argument("--copy-mib", type=int, default=512,
                        help="array size of the copy-bandwidth reference (MiB)")
    parser.add_argument("--append", action="store_true", help=f"append the table to {RESULTS}")
    arguments = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_core import machine_info

    command = " ".join(shlex.quote(a) for a in
                       ["python", "benchmarks/bench_kernel_limits.py", *sys.argv[1:]])
    info = machine_info(command)
    _warm_up()
    copy_best, copy_median = copy_bandwidth(arguments.copy_mib, arguments.repeat)
    print(f"copy bandwidth: best {copy_best / 1e9:.2f} GB/s", file=sys.stderr, flush=True)
    rows: list[Row] = []
    distance_sizes = [(10_000, 500, 10_000.0, 5)]
    coverage_sizes = [(10_000, 500, 10_000.0)]
    if not arguments.quick:
        distance_sizes += [(20_000, 1_000, 10_000.0, 5), (200_000, 500, 5_600.0, 5)]
        coverage_sizes += [(1_000_000, 500, 5_600.0)]
    for n, m, radius, k in distance_sizes:
        print(f"… distances {n:,} × {m:,}", file=sys.stderr, flush=True)
        rows += distance_rows(n, m, radius, k, arguments.repeat, arguments.seed)
    for n, m, radius in coverage_sizes:
        print(f"… coverage {n:,} × {m:,}", file=sys.stderr, flush=True)
        rows += coverage_rows(n, m, radius, arguments.repeat, arguments.seed)
    load_end = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    table = markdown(info, rows, copy_best, copy_median, arguments.copy_mib, load_end,
                     arguments.repeat)
    print(table)
    if arguments.append:
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write("\n" + table)
        print(f"appended to {RESULTS}", file=sys.stderr)
    different = sum("DIFFERENT" in r.note or "≠" in r.note for r in rows)
    return 1 if different else 0


if __name__ == "__main__":
    raise SystemExit(main())
