"""Candidate sites of one municipality: existing service points, localities and postal places.

Points are taken in a fixed order: existing service points (agents, then pharmacies, by
register id), localities (by SCB code), postal places (by id). A point closer than
``site_merge_distance`` to a site made earlier joins the nearest such site (ties to the
earlier one); otherwise it starts a new site at its own coordinates. A site therefore sits
on a real service point whenever there is one, and keeps the id of that first point.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optiserv.datasets.sweden.rules import PreparationRules

__all__ = ["SITE_COLUMNS", "build_sites"]

SITE_COLUMNS = ["id", "x", "y", "kind", "name", "members"]


def build_sites(
    existing: pd.DataFrame,
    localities: pd.DataFrame,
    places: pd.DataFrame,
    rules: PreparationRules,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Merge the candidate points into sites.

    Parameters
    ----------
    existing
        Existing service points (``id, source, name, x, y``), in output order.
    localities
        This municipality's localities (``code, name, x, y``).
    places
        This municipality's used postal places (``id, name, x, y``).
    rules
        ``site_merge_distance`` (metres) is used.

    Returns
    -------
    sites
        ``id, x, y, kind, name, members``: ``kind`` is the first point's kind (``agent``,
        ``pharmacy``, ``locality``, ``postal_place``); ``members`` lists the ids of every
        point merged into the site, ``;``-separated.
    site_of
        Point id → site id.
    """
    kinds = np.where(existing["source"].str.startswith("pts"), "agent", "pharmacy")
    ordered_localities = localities.sort_values("code", kind="stable")
    points = pd.concat(
        [
            pd.DataFrame({"id": existing["id"], "kind": kinds, "name": existing["name"],
                          "x": existing["x"], "y": existing["y"]}),
            pd.DataFrame({"id": "tatort-" + ordered_localities["code"], "kind": "locality",
                          "name": ordered_localities["name"], "x": ordered_localities["x"],
                          "y": ordered_localities["y"]}),
            pd.DataFrame({"id": places["id"], "kind": "postal_place", "name": places["name"],
                          "x": places["x"], "y": places["y"]}),
        ],
        ignore_index=True,
    )
    site_x: list[float] = []
    site_y: list[float] = []
    members: list[list[str]] = []
    first: list[int] = []
    site_of: dict[str, str] = {}
    for k, point in enumerate(points.itertuples(index=False)):
        if site_x:
            distance = np.hypot(np.asarray(site_x) - point.x, np.asarray(site_y) - point.y)
            nearest = int(np.argmin(distance))
            if distance[nearest] <= rules.site_merge_distance:
                members[nearest].append(point.id)
                site_of[point.id] = points["id"].iloc[first[nearest]]
                continue
        site_x.append(float(point.x))
        site_y.append(float(point.y))
        members.append([point.id])
        first.append(k)
        site_of[point.id] = point.id
    head = points.iloc[first]
    sites = pd.DataFrame({
        "id": head["id"].to_numpy(),
        "x": site_x,
        "y": site_y,
        "kind": head["kind"].to_numpy(),
        "name": head["name"].to_numpy(),
        "members": [";".join(m) for m in members],
    })
    return sites, site_of
