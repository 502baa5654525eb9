"""Marginal value of each part of a plan: what is lost if one module or one point goes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from optiserv.analysis._reach import sole_provider_loss
from optiserv.data.services import BundleInstance, BundlePlan

__all__ = ["marginal_values"]


def marginal_values(
    bundle: BundleInstance, plan: BundlePlan | Any, *, planning_years: float = 10.0
) -> pd.DataFrame:
    """For every module the plan adds and every new or kept point: the coverage lost if it
    alone is removed, its cost, and the cost per covered person.

    Parameters
    ----------
    bundle
        The instance.
    plan
        A :class:`BundlePlan` or a solution with a ``plan``.
    planning_years
        Years of annual cost in ``cost`` (as in the model's cost objective).

    Returns
    -------
    DataFrame
        One row per item: ``site``, ``item`` (``"module"`` or ``"point"``), ``service`` (the
        module's; all services of the point otherwise), ``people_lost`` (people no longer within
        r_s of the service(s)), ``weighted_lost`` (Σ ρ_s × people), ``one_off``, ``annual``
        (gross costs of the item, before grants), ``cost`` (one-off + planning years ×
        annual) and ``cost_per_person`` (cost / people lost; inf when nobody depends on it).
        Sorted by ``cost_per_person``, best value first.
    """
    if not isinstance(plan, BundlePlan):
        plan = plan.plan
    offers = np.asarray(plan.offers, dtype=bool)
    names = bundle.catalogue.names
    weights = np.array([service.weight for service in bundle.catalogue])
    m = bundle.instance.n_sites
    lost = np.zeros((m, len(names)))
    for s in range(len(names)):
        sites, people, _ = sole_provider_loss(bundle, offers, s)
        lost[sites, s] = people
    module_index = bundle.module_index
    ids = bundle.instance.sites.ids
    rows: list[dict[str, Any]] = []
    added = offers & ~bundle.existing
    for j, s in np.argwhere(added):
        k = module_index[j, s]
        rows.append(
            {
                "site": ids[j],
                "item": "module",
                "service": names[s],
                "people_lost": lost[j, s],
                "weighted_lost": weights[s] * lost[j, s],
                "one_off": float(bundle.module_one_off[k]),
                "annual": float(bundle.module_annual[k]),
            }
        )
    point = offers.any(axis=1)
    for j in np.flatnonzero(point & (~bundle.existing_point | bundle.at_risk)):
        modules = added[j]
        ks = module_index[j, modules]
        if bundle.at_risk[j]:
            one_off, annual = 0.0, float(bundle.subsidy[j])
        else:
            one_off, annual = float(bundle.point_one_off[j]), float(bundle.point_annual[j])
        rows.append(
            {
                "site": ids[j],
                "item": "point",
                "service": ", ".join(names[s] for s in np.flatnonzero(offers[j])),
                "people_lost": float(lost[j, offers[j]].sum()),
                "weighted_lost": float(lost[j] @ weights),
                "one_off": one_off + float(bundle.module_one_off[ks].sum()),
                "annual": annual + float(bundle.module_annual[ks].sum()),
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=["site", "item", "service", "people_lost", "weighted_lost", "one_off", "annual"],
    )
    frame["cost"] = frame["one_off"] + planning_years * frame["annual"]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_person = np.where(
            frame["people_lost"] > 0,
            frame["cost"] / frame["people_lost"].where(frame["people_lost"] > 0, 1.0),
            np.inf,
        )
    frame["cost_per_person"] = per_person
    return frame.sort_values("cost_per_person", kind="stable").reset_index(drop=True)
