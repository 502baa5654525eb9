"""N-1 closure impact: who loses access to which service if one service point closes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from optiserv.analysis._reach import sole_provider_loss
from optiserv.data.services import BundleInstance, BundlePlan

__all__ = ["closure_impact"]


def closure_impact(
    bundle: BundleInstance, plan: BundlePlan | None = None, *, only_existing: bool = True
) -> pd.DataFrame:
    """For every service point, the people who lose access within r_s to each service if it
    alone closes (N-1), everything else as in ``plan``.

    Parameters
    ----------
    bundle
        The instance.
    plan
        The situation to test; by default today's (every existing offer, at-risk sites open).
    only_existing
        Report existing points only (default), or every point of the plan.

    Returns
    -------
    DataFrame
        One row per site: ``site``, ``existing``, ``at_risk``, ``services`` (offered),
        ``lost:<service>`` (people, in the service's population group), ``points:<service>``
        (demand points), ``lost_weighted`` (Σ_s ρ_s × people), and
        ``single_point_of_failure``: the site is the last one within the threshold of some
        service for someone. Sorted by ``lost_weighted``, largest first.
    """
    offers = bundle.existing.copy() if plan is None else np.asarray(plan.offers, dtype=bool)
    names = bundle.catalogue.names
    open_sites = np.flatnonzero(offers.any(axis=1))
    if only_existing:
        open_sites = open_sites[bundle.existing_point[open_sites]]
    lost = np.zeros((bundle.instance.n_sites, len(names)))
    points = np.zeros((bundle.instance.n_sites, len(names)), dtype=np.int64)
    for s in range(len(names)):
        sites, people, count = sole_provider_loss(bundle, offers, s)
        lost[sites, s] = people
        points[sites, s] = count
    weights = np.array([service.weight for service in bundle.catalogue])
    frame = pd.DataFrame(
        {
            "site": bundle.instance.sites.ids[open_sites],
            "existing": bundle.existing_point[open_sites],
            "at_risk": bundle.at_risk[open_sites],
            "services": [
                ", ".join(names[s] for s in np.flatnonzero(offers[j])) for j in open_sites
            ],
        }
    )
    for s, name in enumerate(names):
        frame[f"lost:{name}"] = lost[open_sites, s]
        frame[f"points:{name}"] = points[open_sites, s]
    frame["lost_weighted"] = lost[open_sites] @ weights
    frame["single_point_of_failure"] = points[open_sites].sum(axis=1) > 0
    return frame.sort_values("lost_weighted", ascending=False, kind="stable").reset_index(drop=True)
