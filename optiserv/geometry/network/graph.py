"""The road graph: a compact directed graph in CSR layout with a length and a time per arc.

Readers turn files into road *segments* (two nodes, a length, a speed and a direction of
travel); :func:`network_from_segments` turns segments into directed *arcs* and the arcs into a
:class:`RoadNetwork`. Arc ``k`` of node ``v`` is ``heads[indptr[v] + k]``: the graph is stored
the way ``scipy.sparse.csgraph`` and the numba kernels read it, without a Python object per
node or edge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from optiserv.data import Metric
from optiserv.exceptions import DataError
from optiserv.geometry.distance import EARTH_RADIUS
from optiserv.geometry.network._kernels import stable_group
from optiserv.geometry.network.ordering import locality_order
from optiserv.geometry.network.roads import BACKWARD, BOTH, FORWARD

__all__ = ["Measure", "RoadNetwork", "great_circle_metres", "network_from_segments"]

Measure = Literal["distance", "time"]
"""``distance``: metres along the roads; ``time``: seconds of car travel."""

UNITS: Mapping[str, str] = {"distance": "metre", "time": "second"}
"""The :class:`~optiserv.data.CostMatrix` unit of each measure."""


def great_circle_metres(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Great-circle (haversine) distance in metres between lon/lat degree rows of a and b."""
    lon_a, lat_a, lon_b, lat_b = np.radians((a[:, 0], a[:, 1], b[:, 0], b[:, 1]))
    half_dlat = np.sin(0.5 * (lat_b - lat_a))
    half_dlon = np.sin(0.5 * (lon_b - lon_a))
    h = half_dlat * half_dlat + np.cos(lat_a) * np.cos(lat_b) * half_dlon * half_dlon
    return 2.0 * EARTH_RADIUS * np.arcsin(np.sqrt(np.minimum(1.0, h)))


def unit_vectors(lonlat: NDArray[np.float64]) -> NDArray[np.float64]:
    """(k, 3) points on the unit sphere for lon/lat degrees, where a KD-tree finds nearest."""
    lon, lat = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    return np.column_stack((np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)))


def _frozen(values: ArrayLike, dtype: type) -> NDArray:
    out = np.array(values, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A directed road graph in CSR layout.

    Parameters
    ----------
    coordinates
        (n_nodes, 2) node positions: x, y in metres of ``crs`` when ``metric`` is
        ``"euclidean"``; lon, lat in degrees when it is ``"haversine"``.
    indptr
        (n_nodes + 1,) CSR row pointer: the arcs leaving node v are ``indptr[v]:indptr[v+1]``.
    heads
        (n_arcs,) the node each arc leads to, sorted within each node's range.
    length
        (n_arcs,) arc length in metres along the road.
    time
        (n_arcs,) car travel time along the arc in seconds.
    metric
        How node coordinates are compared when snapping points to the network.
    crs
        Coordinate reference system of ``coordinates`` (``"EPSG:4326"`` for lon/lat).
    node_ids
        The node identifiers of the source data (OSM node ids, GraphML ids), or ``None``.
    source
        Where the network came from, for reports (``"OpenStreetMap PBF test.osm.pbf"``).
    fingerprint
        A digest of the network's content and the options it was built with; cost caches are
        keyed by it.
    details
        Counts from reading: segments, one-way segments, segments per road class, ...

    Notes
    -----
    Parallel arcs between the same two nodes are merged when the network is built: the merged
    arc keeps the smallest length and, independently, the smallest time, so shortest paths by
    either measure are unchanged. Self-loops are dropped; zero-length arcs are kept.
    """

    coordinates: NDArray[np.float64]
    indptr: NDArray[np.int64]
    heads: NDArray[np.int32]
    length: NDArray[np.float64]
    time: NDArray[np.float64]
    metric: Metric = "euclidean"
    crs: str | None = None
    node_ids: NDArray | None = None
    source: str = "road network"
    fingerprint: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, dtype in (
            ("coordinates", np.float64),
            ("indptr", np.int64),
            ("heads", np.int32),
            ("length", np.float64),
            ("time", np.float64),
        ):
            object.__setattr__(self, name, _frozen(getattr(self, name), dtype))
        if self.node_ids is not None:
            object.__setattr__(self, "node_ids", _frozen(self.node_ids, self.node_ids.dtype))
        n = self.coordinates.shape[0]
        if self.coordinates.ndim != 2 or self.coordinates.shape[1] != 2:
            raise DataError(
                f"road network: coordinates must be (n, 2), got {self.coordinates.shape}"
            )
        if (
            self.indptr.shape != (n + 1,)
            or self.indptr[0] != 0
            or self.indptr[-1] != self.heads.size
        ):
            raise DataError("road network: indptr must have n_nodes + 1 entries from 0 to n_arcs")
        if self.length.shape != self.heads.shape or self.time.shape != self.heads.shape:
            raise DataError("road network: length and time must have one entry per arc")
        if self.heads.size and (self.heads.min() < 0 or self.heads.max() >= n):
            raise DataError("road network: an arc leads to a node that does not exist")
        for name in ("length", "time"):
            values = getattr(self, name)
            if not (np.isfinite(values).all() and (values >= 0).all()):
                raise DataError(f"road network: arc {name} must be finite and non-negative")
        if self.metric not in ("euclidean", "haversine"):
            raise DataError(
                f"road network: metric must be euclidean or haversine, got {self.metric}"
            )
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", self._content_digest())

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arcs(
        cls,
        coordinates: ArrayLike,
        tails: ArrayLike,
        heads: ArrayLike,
        length: ArrayLike,
        time: ArrayLike,
        **attributes: Any,
    ) -> RoadNetwork:
        """Build from a list of directed arcs (tail → head) with length in metres and time in s.

        Parallel arcs are merged (minimum length and minimum time), self-loops dropped.
        ``attributes`` are the remaining fields (``metric``, ``crs``, ``source``, ...).
        """
        xy = np.asarray(coordinates, dtype=np.float64)
        tails = np.asarray(tails, dtype=np.int64)
        heads = np.asarray(heads, dtype=np.int64)
        length = np.asarray(length, dtype=np.float64)
        time = np.asarray(time, dtype=np.float64)
        n = xy.shape[0] if xy.ndim == 2 else 0
        if not (tails.shape == heads.shape == length.shape == time.shape) or tails.ndim != 1:
            raise DataError("road network: tails, heads, length and time must be equally long")
        if tails.size and (min(tails.min(), heads.min()) < 0 or max(tails.max(), heads.max()) >= n):
            raise DataError(f"road network: arc end outside the {n} nodes")
        keep = tails != heads
        tails, heads, length, time = tails[keep], heads[keep], length[keep], time[keep]
        order = np.lexsort((heads, tails))
        tails, heads, length, time = tails[order], heads[order], length[order], time[order]
        first = np.ones(tails.size, dtype=bool)
        first[1:] = (tails[1:] != tails[:-1]) | (heads[1:] != heads[:-1])
        starts = np.flatnonzero(first)
        if starts.size < tails.size:
            length = np.minimum.reduceat(length, starts) if starts.size else length[:0]
            time = np.minimum.reduceat(time, starts) if starts.size else time[:0]
            tails, heads = tails[starts], heads[starts]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(tails, minlength=n), out=indptr[1:])
        return cls(xy, indptr, heads, length, time, **attributes)

    # ------------------------------------------------------------------ views
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.coordinates.shape[0])

    @property
    def n_arcs(self) -> int:
        """Number of directed arcs (a two-way road segment counts twice)."""
        return int(self.heads.size)

    def tails(self) -> NDArray[np.int64]:
        """The node each arc leaves from (the COO row array)."""
        return np.repeat(np.arange(self.n_nodes, dtype=np.int64), np.diff(self.indptr))

    def weights(self, measure: Measure) -> NDArray[np.float64]:
        """Arc lengths in metres (``"distance"``) or travel times in seconds (``"time"``)."""
        if measure == "distance":
            return self.length
        if measure == "time":
            return self.time
        raise DataError(f"measure must be 'distance' or 'time', got {measure!r}")

    def to_scipy(self, measure: Measure) -> sp.csr_matrix:
        """The graph as a scipy CSR matrix for ``scipy.sparse.csgraph``.

        Zero-length arcs are explicit zeros, which csgraph treats as arcs; do not do arithmetic
        on the matrix, which would drop them.
        """
        return sp.csr_matrix(
            (self.weights(measure), self.heads, self.indptr),
            shape=(self.n_nodes, self.n_nodes),
            copy=False,
        )

    def reversed(self) -> RoadNetwork:
        """The same roads with every arc turned around (v → u for each u → v).

        A shortest-path search from node t on the reversed network gives, for every node v,
        the cost of travelling v → t on this network. Computed once and kept.
        """
        cached = self.__dict__.get("_reversed")
        if cached is not None:
            return cached
        tails = self.tails()
        # arcs are sorted by (tail, head); grouping them stably by head sorts by (head, tail)
        indptr, order = stable_group(self.heads.astype(np.int64), self.n_nodes)
        reversed_network = RoadNetwork(
            self.coordinates,
            indptr,
            tails[order],
            self.length[order],
            self.time[order],
            metric=self.metric,
            crs=self.crs,
            node_ids=self.node_ids,
            source=f"{self.source} (reversed)",
            fingerprint=hashlib.sha256(f"reversed:{self.fingerprint}".encode()).hexdigest(),
            details=self.details,
        )
        object.__setattr__(self, "_reversed", reversed_network)
        return reversed_network

    def in_locality_order(self) -> tuple[RoadNetwork, NDArray[np.int64]]:
        """The same network with its nodes renumbered along a Hilbert curve, for fast searches.

        Returns the renumbered network and ``new_index`` (n_nodes,): old node v is node
        ``new_index[v]`` of the renumbered one. Arcs, lengths and times are unchanged, so
        every shortest-path cost is too; only the memory layout differs (see
        :mod:`.ordering`). Computed once and kept.
        """
        cached = self.__dict__.get("_locality")
        if cached is not None:
            return cached
        order = locality_order(self.coordinates)
        new_index = np.empty(self.n_nodes, dtype=np.int64)
        new_index[order] = np.arange(self.n_nodes, dtype=np.int64)
        new_index.flags.writeable = False
        renumbered = RoadNetwork.from_arcs(
            self.coordinates[order],
            new_index[self.tails()],
            new_index[self.heads],
            self.length,
            self.time,
            metric=self.metric,
            crs=self.crs,
            node_ids=None if self.node_ids is None else self.node_ids[order],
            source=self.source,
            fingerprint=hashlib.sha256(f"hilbert:{self.fingerprint}".encode()).hexdigest(),
            details=self.details,
        )
        cached = (renumbered, new_index)
        object.__setattr__(self, "_locality", cached)
        return cached

    def components(self) -> tuple[int, NDArray[np.int32]]:
        """Weakly connected components: (count, label per node).

        Nodes in different weak components can never reach each other, in either direction.
        Computed once and kept.
        """
        cached = self.__dict__.get("_components")
        if cached is None:
            count, labels = connected_components(
                self.to_scipy("distance"), directed=True, connection="weak"
            )
            labels = labels.astype(np.int32)
            labels.flags.writeable = False
            cached = (int(count), labels)
            object.__setattr__(self, "_components", cached)
        return cached

    def largest_component(self) -> NDArray[np.bool_]:
        """Mask of the nodes in the largest weakly connected component."""
        _, labels = self.components()
        if labels.size == 0:
            return np.zeros(0, dtype=bool)
        return labels == np.argmax(np.bincount(labels))

    def node_tree(self, largest_component_only: bool = False) -> tuple[cKDTree, NDArray[np.int64]]:
        """A KD-tree over the nodes (or the largest component's) and the node index of each entry.

        Planar coordinates for ``euclidean``, unit vectors for ``haversine``. Built once per
        network and kept, so repeated snapping (what-if variants) does not rebuild it.
        """
        name = "_tree_main" if largest_component_only else "_tree_all"
        cached = self.__dict__.get(name)
        if cached is None:
            if largest_component_only:
                nodes = np.flatnonzero(self.largest_component()).astype(np.int64)
            else:
                nodes = np.arange(self.n_nodes, dtype=np.int64)
            points = self.coordinates[nodes]
            if self.metric == "haversine":
                points = unit_vectors(points)
            cached = (cKDTree(points), nodes)
            object.__setattr__(self, name, cached)
        return cached

    def to_crs(self, crs: str) -> RoadNetwork:
        """The same network with node coordinates projected to ``crs``; arcs are unchanged.

        A geographic target (lon/lat) gives ``metric="haversine"``, a projected one
        ``"euclidean"`` in that CRS's metres.
        """
        from pyproj import CRS, Transformer

        if self.crs is None:
            raise DataError("road network: its CRS is unknown, so it cannot be projected")
        target = CRS.from_user_input(crs)
        if CRS.from_user_input(self.crs) == target:
            return self
        transformer = Transformer.from_crs(self.crs, target, always_xy=True)
        x, y = transformer.transform(self.coordinates[:, 0], self.coordinates[:, 1])
        unit = target.axis_info[0].unit_name if target.axis_info else "metre"
        if not target.is_geographic and unit not in ("metre", "meter"):
            raise DataError(f"road network: CRS {crs} is not in metres (its unit is {unit})")
        return RoadNetwork(
            np.column_stack((x, y)),
            self.indptr,
            self.heads,
            self.length,
            self.time,
            metric="haversine" if target.is_geographic else "euclidean",
            crs=str(crs),
            node_ids=self.node_ids,
            source=self.source,
            fingerprint=hashlib.sha256(f"{crs}:{self.fingerprint}".encode()).hexdigest(),
            details=self.details,
        )

    def _content_digest(self) -> str:
        digest = hashlib.sha256()
        for array in (self.coordinates, self.indptr, self.heads, self.length, self.time):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(f"{self.metric}:{self.crs}".encode())
        return digest.hexdigest()


def network_from_segments(
    coordinates: NDArray[np.float64],
    first: NDArray[np.int64],
    last: NDArray[np.int64],
    length: NDArray[np.float64],
    speed: NDArray[np.float64],
    direction: NDArray[np.int8],
    **attributes: Any,
) -> RoadNetwork:
    """Turn road segments into arcs and build the network.

    Parameters
    ----------
    coordinates
        (n_nodes, 2) node positions.
    first, last
        Node index at each end of every segment, in the order the road is drawn.
    length
        Segment length in metres.
    speed
        Car speed on the segment in km/h (positive).
    direction
        :data:`~optiserv.geometry.network.roads.BOTH`, ``FORWARD`` (first → last only) or
        ``BACKWARD`` (last → first only) per segment.
    attributes
        Remaining :class:`RoadNetwork` fields (``metric``, ``crs``, ``source``, ...).
    """
    if (speed <= 0).any() or not np.isfinite(speed).all():
        raise DataError("road network: every segment needs a positive, finite speed")
    seconds = length / (speed / 3.6)
    forward = direction != BACKWARD
    backward = direction != FORWARD
    unknown = ~np.isin(direction, (BOTH, FORWARD, BACKWARD))
    if unknown.any():
        raise DataError("road network: segment direction must be 0 (both), 1 or -1")
    tails = np.concatenate((first[forward], last[backward]))
    heads = np.concatenate((last[forward], first[backward]))
    return RoadNetwork.from_arcs(
        coordinates,
        tails,
        heads,
        np.concatenate((length[forward], length[backward])),
        np.concatenate((seconds[forward], seconds[backward])),
        **attributes,
    )
