"""The immutable instance: demand points, sites, and how to measure the cost between them.

Validation happens once, here, at the boundary. Everything downstream trusts these arrays.
Every array is a read-only copy, so an instance cannot change after it has been checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from optiserv.data.costs import CostMatrix
from optiserv.exceptions import DataError, format_examples

__all__ = ["Demand", "Instance", "Metric", "SiteStatus", "Sites"]

Metric = Literal["euclidean", "haversine"]
"""``euclidean``: metric coordinates in metres; ``haversine``: lon/lat degrees, metres."""


class SiteStatus(IntEnum):
    """What a model may decide about a site."""

    CANDIDATE = 0
    """The model chooses whether to open it."""
    FIXED = 1
    """An existing site that stays open; it counts as open in every plan."""
    FORBIDDEN = 2
    """The model may not open it."""


def _readonly(values: ArrayLike, dtype: type | np.dtype) -> NDArray:
    out = np.array(values, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


def _check_ids(ids: NDArray, what: str) -> None:
    if ids.ndim != 1:
        raise DataError(f"{what}: ids must be one-dimensional, got shape {ids.shape}")
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise DataError(f"{what}: duplicate ids {format_examples(unique[counts > 1].tolist())}")


def _check_coordinates(coordinates: NDArray, ids: NDArray, what: str, metric: Metric) -> None:
    if coordinates.ndim != 2 or coordinates.shape[1] != 2 or coordinates.shape[0] != ids.size:
        raise DataError(
            f"{what}: coordinates must have shape ({ids.size}, 2), got {coordinates.shape}"
        )
    bad = ~np.isfinite(coordinates).all(axis=1)
    if bad.any():
        raise DataError(
            f"{what}: NaN or infinite coordinates at ids {format_examples(ids[bad].tolist())}"
        )
    if metric == "haversine":
        lon, lat = coordinates[:, 0], coordinates[:, 1]
        out = (np.abs(lat) > 90) | (np.abs(lon) > 180)
        if out.any():
            raise DataError(
                f"{what}: lon/lat outside [-180, 180] x [-90, 90] at ids "
                f"{format_examples(ids[out].tolist())}"
            )


@dataclass(frozen=True, eq=False)
class Demand:
    """Demand points i ∈ I with one or more weight columns (population groups).

    Parameters
    ----------
    ids
        Unique identifiers, as given by the user (strings or integers).
    coordinates
        (n, 2) array: x, y in metres for ``euclidean``; lon, lat in degrees for ``haversine``.
    weights
        Population group name → (n,) non-negative weights, e.g. ``{"total": ..., "aged_70": ...}``.
        The first column is the default weight w_i.
    """

    ids: NDArray
    coordinates: NDArray[np.float64]
    weights: Mapping[str, NDArray[np.float64]]

    @property
    def size(self) -> int:
        """Number of demand points."""
        return int(self.ids.size)

    @property
    def weight_names(self) -> list[str]:
        """The population groups, default first."""
        return list(self.weights)


@dataclass(frozen=True, eq=False)
class Sites:
    """Sites j ∈ J: existing service locations and candidates.

    Parameters
    ----------
    ids
        Unique identifiers, as given by the user.
    coordinates
        (m, 2) array in the same system as the demand points.
    status
        :class:`SiteStatus` per site (candidate, fixed open, forbidden).
    capacity
        Capacity per site in demand-weight units; ``inf`` when uncapacitated.
    cost
        One-off opening cost f_j per site (0 when not given).
    """

    ids: NDArray
    coordinates: NDArray[np.float64]
    status: NDArray[np.int8]
    capacity: NDArray[np.float64]
    cost: NDArray[np.float64]

    @property
    def size(self) -> int:
        """Number of sites."""
        return int(self.ids.size)

    @property
    def fixed(self) -> NDArray[np.bool_]:
        """Mask of sites that are open in every plan."""
        return self.status == SiteStatus.FIXED

    @property
    def forbidden(self) -> NDArray[np.bool_]:
        """Mask of sites no plan may open."""
        return self.status == SiteStatus.FORBIDDEN

    @property
    def candidate(self) -> NDArray[np.bool_]:
        """Mask of sites the model chooses about."""
        return self.status == SiteStatus.CANDIDATE


@dataclass(frozen=True, eq=False)
class Instance:
    """A validated, immutable facility-location instance.

    Build it with :meth:`from_arrays` (or :mod:`optiserv.data.io` for frames and files), which
    checks everything once. The constructor itself trusts its arguments.

    Attributes
    ----------
    demand, sites
        The demand points I and sites J.
    metric
        How d_ij is computed from coordinates when ``costs`` is not given.
    crs
        The coordinate reference system of the coordinates (e.g. ``"EPSG:3006"``), if known.
    costs
        User-supplied travel costs d_ij; when given they replace computed distances, and
        pairs absent from it are unreachable.
    """

    demand: Demand
    sites: Sites
    metric: Metric = "euclidean"
    crs: str | None = None
    costs: CostMatrix | None = None
    name: str = "instance"
    _meta: Mapping[str, object] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        demand_coordinates: ArrayLike,
        site_coordinates: ArrayLike,
        *,
        weights: ArrayLike | Mapping[str, ArrayLike] | None = None,
        demand_ids: ArrayLike | None = None,
        site_ids: ArrayLike | None = None,
        site_status: ArrayLike | None = None,
        capacity: ArrayLike | None = None,
        opening_cost: ArrayLike | None = None,
        costs: CostMatrix | ArrayLike | None = None,
        metric: Metric = "euclidean",
        crs: str | None = None,
        name: str = "instance",
    ) -> Instance:
        """Validate plain arrays and build an instance.

        ``weights`` is one array (named ``"weight"``) or a mapping of population groups.
        ``costs`` is a :class:`CostMatrix` or a dense (n, m) array with ``inf`` for unreachable.
        """
        if metric not in ("euclidean", "haversine"):
            raise DataError(f"metric must be 'euclidean' or 'haversine', got {metric!r}")
        demand_xy = _readonly(demand_coordinates, np.float64)
        site_xy = _readonly(site_coordinates, np.float64)
        n = demand_xy.shape[0] if demand_xy.ndim == 2 else -1
        m = site_xy.shape[0] if site_xy.ndim == 2 else -1
        d_ids = _natural_ids(np.arange(max(n, 0)) if demand_ids is None else demand_ids)
        s_ids = _natural_ids(np.arange(max(m, 0)) if site_ids is None else site_ids)
        _check_ids(d_ids, "demand")
        _check_ids(s_ids, "sites")
        _check_coordinates(demand_xy, d_ids, "demand", metric)
        _check_coordinates(site_xy, s_ids, "sites", metric)
        if m == 0:
            raise DataError("sites: no candidate sites given")
        weight_map = _weights(weights, n, d_ids)
        status = _site_array(site_status, m, SiteStatus.CANDIDATE, "status", np.int8, s_ids)
        valid_status = np.isin(status, [int(s) for s in SiteStatus])
        if not valid_status.all():
            raise DataError(
                f"sites: status must be 0 (candidate), 1 (fixed) or 2 (forbidden) at ids "
                f"{format_examples(s_ids[~valid_status].tolist())}"
            )
        if not (status != SiteStatus.FORBIDDEN).any():
            raise DataError("sites: every site is forbidden, so no site can be opened")
        cap = _site_array(capacity, m, np.inf, "capacity", np.float64, s_ids)
        fixed_cost = _site_array(opening_cost, m, 0.0, "cost", np.float64, s_ids)
        cost_matrix = _cost_matrix(costs, (n, m))
        return cls(
            demand=Demand(d_ids, demand_xy, weight_map),
            sites=Sites(s_ids, site_xy, status, cap, fixed_cost),
            metric=metric,
            crs=crs,
            costs=cost_matrix,
            name=name,
        )

    # ------------------------------------------------------------------ views
    @property
    def n_demand(self) -> int:
        """|I|."""
        return self.demand.size

    @property
    def n_sites(self) -> int:
        """|J|."""
        return self.sites.size

    def weight(self, group: str | None = None) -> NDArray[np.float64]:
        """w_i for a population group (the default group when ``None``)."""
        if group is None:
            return next(iter(self.demand.weights.values()))
        try:
            return self.demand.weights[group]
        except KeyError:
            raise DataError(
                f"demand: no weight column {group!r}; have {self.demand.weight_names}"
            ) from None

    @property
    def total_weight(self) -> float:
        """Σ w_i over the default weight."""
        return float(self.weight().sum())

    def replace(self, **changes: object) -> Instance:
        """A copy with some fields changed (used for derived instances such as reductions)."""
        from dataclasses import replace

        return replace(self, **changes)  # type: ignore[arg-type]


def _natural_ids(ids: ArrayLike) -> NDArray:
    """Keep integer ids as integers and everything else as strings, so output matches input.

    The result is a read-only copy.
    """
    flat = np.asarray(ids)
    if flat.dtype.kind in "iu":
        return _readonly(flat, np.int64)
    if flat.dtype.kind == "O" and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in flat.ravel()
    ):
        return _readonly(flat, np.int64)
    return _readonly(flat.astype(str), object)


def _weights(
    weights: ArrayLike | Mapping[str, ArrayLike] | None, n: int, ids: NDArray
) -> dict[str, NDArray[np.float64]]:
    if weights is None:
        mapping: dict[str, ArrayLike] = {"weight": np.ones(max(n, 0))}
    elif isinstance(weights, Mapping):
        mapping = dict(weights)
        if not mapping:
            raise DataError("demand: at least one weight column is needed")
    else:
        mapping = {"weight": weights}
    out: dict[str, NDArray[np.float64]] = {}
    for name, values in mapping.items():
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (n,):
            raise DataError(f"demand: weight {name!r} has shape {array.shape}, expected ({n},)")
        bad = ~np.isfinite(array)
        if bad.any():
            raise DataError(
                f"demand: weight {name!r} is NaN or infinite at ids "
                f"{format_examples(ids[bad].tolist())}"
            )
        negative = array < 0
        if negative.any():
            raise DataError(
                f"demand: negative weight {name!r} at ids {format_examples(ids[negative].tolist())}"
            )
        out[str(name)] = _readonly(array, np.float64)
    return out


def _site_array(
    values: ArrayLike | None, m: int, default: float, field_name: str, dtype: type, ids: NDArray
) -> NDArray:
    if values is None:
        return _readonly(np.full(m, default), dtype)
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (m,):
        raise DataError(f"sites: {field_name} has shape {array.shape}, expected ({m},)")
    bad = np.isnan(array) | (array < 0)
    if bad.any():
        raise DataError(
            f"sites: {field_name} is NaN or negative at ids {format_examples(ids[bad].tolist())}"
        )
    return _readonly(array, dtype)


def _cost_matrix(costs: CostMatrix | ArrayLike | None, shape: tuple[int, int]) -> CostMatrix | None:
    if costs is None:
        return None
    matrix = costs if isinstance(costs, CostMatrix) else CostMatrix.from_dense(np.asarray(costs))
    if matrix.shape != shape:
        raise DataError(f"costs: shape {matrix.shape} does not match (demand, sites) = {shape}")
    return matrix
