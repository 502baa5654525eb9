"""Pure functions for coverage shares and distance bands, overall and per group.

Distances are travel costs to the nearest provider of a service (``inf`` when none is
reachable), in any unit; thresholds and band edges are in the same unit. A demand point is
covered when its distance is ≤ the threshold (the closed interval used everywhere in
optiserv). Band k holds the distances in (edge[k-1], edge[k]], the first [0, edge[0]] and the
last (edge[-1], ∞], unreachable included, as in the Swedish service analyses (0–5, 5–10,
10–20, > 20 km).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DEFAULT_BANDS_KM",
    "band_index",
    "band_labels",
    "coverage_by_label",
    "population_by_band",
    "service_coverage",
]

DEFAULT_BANDS_KM = (5.0, 10.0, 20.0)
"""Upper edges of the default distance bands: 0–5, 5–10, 10–20, > 20 km."""


def _edge(value: float) -> str:
    return f"{value:g}"


def band_labels(edges: Sequence[float], unit: str = "km") -> list[str]:
    """``["0–5 km", "5–10 km", "10–20 km", ">20 km"]`` for edges (5, 10, 20)."""
    bounds = [0.0, *edges]
    labels = [f"{_edge(a)}–{_edge(b)} {unit}" for a, b in itertools.pairwise(bounds)]
    return [*labels, f">{_edge(edges[-1])} {unit}"]


def band_index(distance: ArrayLike, edges: Sequence[float]) -> NDArray[np.int64]:
    """The band of each distance: 0 for [0, edge[0]], …, ``len(edges)`` beyond the last edge."""
    values = np.asarray(distance, dtype=np.float64)
    return np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left").astype(
        np.int64
    )


def population_by_band(
    distance: ArrayLike, population: ArrayLike, edges: Sequence[float]
) -> NDArray[np.float64]:
    """People per band (``len(edges) + 1`` values that add up to the population)."""
    bands = band_index(distance, edges)
    return np.bincount(
        bands, weights=np.asarray(population, dtype=np.float64), minlength=len(edges) + 1
    ).astype(np.float64)


def _share(part: float, total: float) -> float | None:
    return part / total if total > 0 else None


def service_coverage(
    population: ArrayLike,
    threshold: float,
    edges: Sequence[float],
    labels: Sequence[str],
    before: ArrayLike | None,
    after: ArrayLike | None,
) -> dict[str, Any]:
    """Coverage of one service before and after a plan.

    Parameters
    ----------
    population
        (n,) people per demand point, in the population group counted.
    threshold
        Coverage threshold r_s.
    edges, labels
        Band edges and their labels (:func:`band_labels`).
    before, after
        (n,) distances to the nearest provider before and after the plan; ``None`` when
        unknown (no register of today's providers; no plan).

    Returns
    -------
    dict
        ``population``, ``population_before``, ``population_after`` (people within the
        threshold), ``share_before``, ``share_after``, ``gain`` (after − before), and
        ``bands_before``, ``bands_after`` (label → people); unknown values are ``None``.
    """
    people = np.asarray(population, dtype=np.float64)
    total = float(people.sum())
    out: dict[str, Any] = {"population": total}
    for state, distance in (("before", before), ("after", after)):
        if distance is None:
            out[f"population_{state}"] = None
            out[f"share_{state}"] = None
            out[f"bands_{state}"] = None
            continue
        values = np.asarray(distance, dtype=np.float64)
        covered = float(people[values <= threshold].sum())
        out[f"population_{state}"] = covered
        out[f"share_{state}"] = _share(covered, total)
        counts = population_by_band(values, people, edges)
        out[f"bands_{state}"] = {label: float(v) for label, v in zip(labels, counts, strict=True)}
    known = out["population_before"] is not None and out["population_after"] is not None
    out["gain"] = out["population_after"] - out["population_before"] if known else None
    return out


def coverage_by_label(
    labels: ArrayLike,
    population: ArrayLike,
    threshold: float,
    edges: Sequence[float],
    band_names: Sequence[str],
    before: ArrayLike | None,
    after: ArrayLike | None,
) -> dict[str, dict[str, Any]]:
    """:func:`service_coverage` for each group of demand points (municipality, …).

    ``labels`` is the (n,) group label of each demand point; groups are returned in sorted
    order of their labels.
    """
    names = np.asarray(labels).astype(str)
    people = np.asarray(population, dtype=np.float64)
    out = {}
    for label in sorted(set(names.tolist())):
        mask = names == label
        out[label] = service_coverage(
            people[mask],
            threshold,
            edges,
            band_names,
            None if before is None else np.asarray(before)[mask],
            None if after is None else np.asarray(after)[mask],
        )
    return out
