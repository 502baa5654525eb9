"""Reader for Beasley's OR-Library warehouse location files (cap41–cap134, capa, capb, capc).

The file is a stream of whitespace-separated tokens; line breaks carry no meaning (the cost rows
wrap across lines)::

    m n                          m warehouses (sites), n customers (demand points)
    s_i f_i        (m times)     capacity (or the literal word ``capacity``) and opening cost
    d_j c_1j … c_mj (n times)    demand of customer j, then the cost of serving ALL of it from
                                 each warehouse i

Mapping into an :class:`~optiserv.data.Instance` (note that OR-Library's i and j are swapped
with respect to optiserv's glossary, where i is demand and j a site):

* demand points = customers, ids 1..n in file order, weight w = d_j (the default weight column
  is named ``"demand"``);
* sites = warehouses, ids 1..m in file order, opening cost f, capacity s (in demand units);
* travel cost = a :class:`~optiserv.data.CostMatrix` (unit ``"unit"``) of the cost per unit of
  demand, c_ij / d_j, so that w·d·x reproduces c_ij·x_ij exactly (up to rounding);
* coordinates are all zero: the files have none, and every pair's cost comes from the matrix.

A customer with zero demand has no per-unit cost. It is kept (so ids and counts match the file)
with weight 0, and its row stores the file's c_ij unchanged: whatever serves it, it adds
w·d·x = 0 to the objective and uses no capacity. OR-Library's costs are proportional to demand,
so such a customer's c_ij are 0 in every published file; if a file gives one positive costs,
those cannot be expressed per unit, the instance's objective leaves them out, and the reader
warns.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from optiserv.data import CostMatrix, Instance
from optiserv.exceptions import DataError, format_examples

__all__ = ["CapOptima", "cap_instance_path", "read_cap", "read_cap_optima", "read_optima"]

_CAPACITY_WORD = "capacity"


def read_cap(path: str | Path, capacity: float | None = None) -> Instance:
    """Read an OR-Library ``cap*`` file into an :class:`~optiserv.data.Instance`.

    Parameters
    ----------
    path
        The instance file, e.g. ``instances/cap41.txt`` or
        ``capabc_capacity_variants/capa8000.txt``.
    capacity
        Capacity of every warehouse, in demand units, replacing the file's values. Needed to use
        capa, capb and capc as capacitated instances (their files hold the literal word
        ``capacity``; capopt gives optima for 8000–14000 (capa), 5000–8000 (capb) and
        5000–7250 (capc)). ``None`` keeps the file's numbers and reads the literal word as
        unlimited capacity (``inf``), which is the uncapacitated problem of ``uncapopt``.

    Returns
    -------
    Instance
        Named after the file's stem, with weight column ``"demand"`` and per-unit costs.

    Raises
    ------
    DataError
        If the file is truncated, has tokens left over, or holds a value that is not a
        non-negative number.
    """
    path = Path(path)
    if capacity is not None and not (capacity >= 0 and not math.isnan(capacity)):
        raise DataError(f"{path.name}: capacity must be a non-negative number, got {capacity!r}")
    try:
        tokens = path.read_text().split()
    except OSError as error:
        raise DataError(f"{path}: cannot read the file: {error}") from error
    if len(tokens) < 2:
        raise DataError(f"{path.name}: expected the header 'm n', found {len(tokens)} token(s)")
    n_sites = _count(tokens[0], path, "number of warehouses m")
    n_demand = _count(tokens[1], path, "number of customers n")
    expected = 2 + 2 * n_sites + n_demand * (1 + n_sites)
    if len(tokens) != expected:
        raise DataError(
            f"{path.name}: header says m = {n_sites} warehouses and n = {n_demand} customers, "
            f"which needs {expected} tokens; the file has {len(tokens)}"
        )
    site_block = tokens[2 : 2 + 2 * n_sites]
    file_capacity = _numbers(
        [math.inf if t.lower() == _CAPACITY_WORD else t for t in site_block[0::2]],
        path,
        "warehouse capacity",
    )
    opening_cost = _numbers(site_block[1::2], path, "warehouse opening cost")
    customer_block = _numbers(tokens[2 + 2 * n_sites :], path, "customer demand or cost")
    customer_block = customer_block.reshape(n_demand, 1 + n_sites)
    demand = customer_block[:, 0]
    total_cost = customer_block[:, 1:]
    site_capacity = file_capacity if capacity is None else np.full(n_sites, float(capacity))
    demand_ids = np.arange(1, n_demand + 1)
    return Instance.from_arrays(
        np.zeros((n_demand, 2)),
        np.zeros((n_sites, 2)),
        weights={"demand": demand},
        demand_ids=demand_ids,
        site_ids=np.arange(1, n_sites + 1),
        capacity=site_capacity,
        opening_cost=opening_cost,
        costs=CostMatrix.from_dense(_unit_costs(total_cost, demand, demand_ids, path), "unit"),
        name=path.stem,
    )


def _unit_costs(
    total_cost: NDArray[np.float64],
    demand: NDArray[np.float64],
    demand_ids: NDArray[np.int64],
    path: Path,
) -> NDArray[np.float64]:
    """c_ij / d_j per unit of demand; zero-demand rows keep c_ij (see the module docstring)."""
    positive = demand > 0
    unit = total_cost.copy()
    unit[positive] /= demand[positive, np.newaxis]
    lost = ~positive & (total_cost > 0).any(axis=1)
    if lost.any():
        warnings.warn(
            f"{path.name}: customers {format_examples(demand_ids[lost].tolist())} have zero "
            "demand but positive costs; per unit of demand these costs vanish, so the "
            "instance's objective differs from the file's by the cost of serving them",
            UserWarning,
            stacklevel=3,
        )
    return unit


def _count(token: str, path: Path, what: str) -> int:
    try:
        value = int(token)
    except ValueError:
        raise DataError(f"{path.name}: {what} must be an integer, got {token!r}") from None
    if value < 1:
        raise DataError(f"{path.name}: {what} must be positive, got {value}")
    return value


def _numbers(tokens: Sequence[str | float], path: Path, what: str) -> NDArray[np.float64]:
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        bad = [t for t in tokens if not _is_number(t)]
        raise DataError(
            f"{path.name}: {what} must be numbers, got {format_examples(bad)}"
        ) from None
    bad_values = np.isnan(values) | (values < 0)
    if bad_values.any():
        raise DataError(
            f"{path.name}: {what} must be non-negative, got "
            f"{format_examples(values[bad_values].tolist())}"
        )
    return values


def _is_number(token: str | float) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------- published optima
_OPTIMUM_LINE = re.compile(r"^\s*(\S+?)(?:\.txt)?\s+([-+0-9.eE]+)\s*$")


def read_optima(path: str | Path) -> dict[str, float]:
    """Published optimal values, one ``name value`` pair per line (``capopt.txt`` style).

    Names lose a trailing ``.txt`` (``uncapopt.txt`` writes ``cap71.txt``), so keys are file
    stems such as ``"cap71"`` or ``"capa8000"``. Blank lines are skipped.
    """
    path = Path(path)
    optima: dict[str, float] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        match = _OPTIMUM_LINE.match(line)
        if match is None:
            raise DataError(f"{path.name}, line {number}: expected 'name value', got {line!r}")
        name, value = match.group(1), float(match.group(2))
        if name in optima:
            raise DataError(f"{path.name}, line {number}: {name!r} is listed twice")
        optima[name] = value
    return optima


@dataclass(frozen=True)
class CapOptima:
    """The published optima of the OR-Library ``cap`` set, keyed by instance name.

    Attributes
    ----------
    capacitated
        Splittable-demand CFLP optima: cap41–cap134 (``capopt.txt``) and the capa/b/c capacity
        variants such as ``"capa8000"`` (``capopt_capabc.txt``), in the files' cost unit.
    uncapacitated
        UFLP optima (``uncapopt.txt``): cap71–74, cap101–104, cap131–134, capa, capb, capc.
    """

    capacitated: dict[str, float]
    uncapacitated: dict[str, float]


def read_cap_optima(folder: str | Path) -> CapOptima:
    """Read ``capopt.txt``, ``capopt_capabc.txt`` (if present) and ``uncapopt.txt``."""
    folder = Path(folder)
    capacitated = read_optima(folder / "capopt.txt")
    variants = folder / "capopt_capabc.txt"
    if variants.exists():
        capacitated.update(read_optima(variants))
    return CapOptima(capacitated, read_optima(folder / "uncapopt.txt"))


def cap_instance_path(folder: str | Path, name: str) -> Path:
    """The file of instance ``name`` in the shared folder's layout.

    ``cap41``, ``capa`` … live in ``instances/``; the capacity variants such as ``capa8000`` in
    ``capabc_capacity_variants/``.
    """
    folder = Path(folder)
    for sub in ("instances", "capabc_capacity_variants"):
        candidate = folder / sub / f"{name}.txt"
        if candidate.exists():
            return candidate
    raise DataError(f"no OR-Library cap instance {name!r} under {folder}")
