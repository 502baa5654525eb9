"""Per-service reach computed with the evaluator's plain distances (not the model's)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from optiserv.data.services import BundleInstance
from optiserv.evaluate_bundle import distance_to_sites

__all__ = ["nearest_distance", "possible_providers", "sole_provider_loss"]

_BLOCK = 256


def nearest_distance(bundle: BundleInstance, sites: NDArray[np.int64]) -> NDArray[np.float64]:
    """(n,) distance from every demand point to the nearest of ``sites`` (inf if none)."""
    out = np.full(bundle.instance.n_demand, np.inf)
    for start in range(0, sites.size, _BLOCK):
        out = np.minimum(out, distance_to_sites(bundle, sites[start : start + _BLOCK]).min(axis=1))
    return out


def possible_providers(
    bundle: BundleInstance, service: int, site_allowed: NDArray[np.bool_] | None = None
) -> NDArray[np.int64]:
    """Sites that offer ``service`` today or could host it (optionally only allowed sites)."""
    can = bundle.existing[:, service].copy()
    can[bundle.module_site[bundle.module_service == service]] = True
    can &= bundle.instance.sites.status != 2
    if site_allowed is not None:
        can &= site_allowed
    return np.flatnonzero(can).astype(np.int64)


def sole_provider_loss(
    bundle: BundleInstance, offers: NDArray[np.bool_], service: int
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """For every site offering ``service``: the people (its population group) for whom it is
    the only offering site within r_s, and how many demand points that is.

    Returns (sites, people, demand points).
    """
    sites = np.flatnonzero(offers[:, service]).astype(np.int64)
    threshold = bundle.catalogue.services[service].threshold
    population = bundle.populations[service]
    n = bundle.instance.n_demand
    count = np.zeros(n, dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    for start in range(0, sites.size, _BLOCK):
        block = sites[start : start + _BLOCK]
        within = distance_to_sites(bundle, block) <= threshold
        count += within.sum(axis=1)
        hit = within.any(axis=1)
        last[hit] = block[within[hit].argmax(axis=1)]
    sole = count == 1
    people = np.zeros(bundle.instance.n_sites)
    points = np.zeros(bundle.instance.n_sites, dtype=np.int64)
    np.add.at(people, last[sole], population[sole])
    np.add.at(points, last[sole], 1)
    return sites, people[sites], points[sites]
