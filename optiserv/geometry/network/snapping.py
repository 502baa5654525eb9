"""Snapping: each demand point and site joins the road network at its nearest node.

The off-network leg from the point to that node is part of the journey. It is added to the
network cost: as its straight length for the ``distance`` measure, and as length ÷
``off_network_speed`` for ``time``. Points whose leg is longer than ``tolerance`` are still
snapped, but reported, since they usually mean a point outside the network's area or a
missing road.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from optiserv.exceptions import DataError, ParameterError
from optiserv.geometry.network.graph import (
    Measure,
    RoadNetwork,
    great_circle_metres,
    unit_vectors,
)

__all__ = ["SnapOptions", "Snapped", "snap_points"]


@dataclass(frozen=True)
class SnapOptions:
    """How points join the network.

    Parameters
    ----------
    off_network_speed
        Speed in km/h on the leg between a point and its node (a driveway, a forest road
        missing from the map, the walk from the car). Used by the ``time`` measure.
    tolerance
        Legs longer than this many metres are reported as far snaps.
    largest_component_only
        Snap only to nodes of the largest weakly connected component, so that no point is
        stranded on a small fragment of road (a clipped driveway at the edge of an extract).
        Off by default: points on real islands should stay unreachable rather than be pulled
        across the water.
    """

    off_network_speed: float = 20.0
    tolerance: float = 500.0
    largest_component_only: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.off_network_speed) and self.off_network_speed > 0):
            raise ParameterError(
                f"off_network_speed must be a positive speed in km/h, got {self.off_network_speed}"
            )
        if math.isnan(self.tolerance) or self.tolerance < 0:
            raise ParameterError(f"snap tolerance must be ≥ 0 metres, got {self.tolerance}")

    def key(self) -> str:
        """A stable text of every option, for cache keys."""
        return f"{self.off_network_speed!r}:{self.tolerance!r}:{self.largest_component_only}"


@dataclass(frozen=True, eq=False)
class Snapped:
    """Where points joined the network.

    Attributes
    ----------
    node
        (k,) index of each point's network node.
    leg
        (k,) straight distance in metres from each point to its node.
    tolerance
        The tolerance in metres the points were checked against.
    """

    node: NDArray[np.int64]
    leg: NDArray[np.float64]
    tolerance: float

    def offsets(self, measure: Measure, off_network_speed: float) -> NDArray[np.float64]:
        """The leg as a cost: metres for ``distance``, seconds at ``off_network_speed`` km/h."""
        if measure == "distance":
            return self.leg
        return self.leg / (off_network_speed / 3.6)

    @property
    def far(self) -> NDArray[np.int64]:
        """Indices of the points snapped farther than the tolerance."""
        return np.flatnonzero(self.leg > self.tolerance).astype(np.int64)

    def summary(self) -> dict[str, Any]:
        """Counts and distances in metres, for reports."""
        far = self.far
        return {
            "points": int(self.leg.size),
            "median_leg_m": float(np.median(self.leg)) if self.leg.size else 0.0,
            "max_leg_m": float(self.leg.max()) if self.leg.size else 0.0,
            "tolerance_m": float(self.tolerance),
            "beyond_tolerance": int(far.size),
            "beyond_tolerance_examples": far[:10].tolist(),
        }


def snap_points(
    network: RoadNetwork, points: ArrayLike, options: SnapOptions | None = None
) -> Snapped:
    """Snap points to their nearest network node with a KD-tree.

    Parameters
    ----------
    network
        The road network; ``points`` must be in its coordinate system (see
        :meth:`RoadNetwork.to_crs`): metres for a projected network, lon/lat degrees for a
        geographic one.
    points
        (k, 2) coordinates.
    options
        Tolerance and component restriction.

    Returns
    -------
    Snapped
        Node index and leg length in metres (great-circle for lon/lat) per point.
    """
    options = options or SnapOptions()
    xy = np.ascontiguousarray(points, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise DataError(f"snapping: points must have shape (k, 2), got {xy.shape}")
    if not np.isfinite(xy).all():
        raise DataError("snapping: NaN or infinite point coordinates")
    if network.n_nodes == 0:
        raise DataError(f"snapping: the road network {network.source!r} has no nodes")
    if xy.shape[0] == 0:
        return Snapped(np.zeros(0, dtype=np.int64), np.zeros(0), options.tolerance)
    tree, nodes = network.node_tree(options.largest_component_only)
    query = unit_vectors(xy) if network.metric == "haversine" else xy
    _, entry = tree.query(query, k=1, workers=-1)
    node = nodes[np.asarray(entry, dtype=np.int64)]
    at = network.coordinates[node]
    if network.metric == "haversine":
        leg = great_circle_metres(xy, at)
    else:
        dx, dy = xy[:, 0] - at[:, 0], xy[:, 1] - at[:, 1]
        leg = np.sqrt(dx * dx + dy * dy)
    return Snapped(node, leg, options.tolerance)
