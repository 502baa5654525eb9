"""Coverage per service, with exact reductions, for the combined service point model.

For every service s the travel costs within R_s (r_s without gradual coverage) are split into

* *fixed* providers: existing sites offering s that are not at risk (always there);
* *units* that may provide s: module k (site j can host s) or, for an at-risk site j offering
  s today, "site j is kept open" (unit K + j);

and the demand rows are reduced exactly:

* a row fully covered by a fixed provider (d_ij ≤ r_s) is a constant and leaves the model;
* a row no unit can cover fully and with no partial (gradual) provider is a constant zero;
* rows with identical unit sets *and the same equity group* are merged, populations summed
  (the group is appended to the row's key, so per-group sums stay exact);
* rows with gradual providers (r_s < d_ij < R_s) are kept one by one, with their partial pairs
  and coverage fractions (R_s − d_ij) / (R_s − r_s).

When the travel costs come from coordinates (no user cost matrix), the pairs are *screened*
per service before they are formed: a KD-tree gives every demand point's nearest fixed
provider of s; points within r_s of one are covered whatever the plan (the first reduction
above), and only the others are paired, within R_s, with the sites that are a unit or a fixed
provider of s. Those are exactly the pairs the reductions above keep, so the reduced model is
the same, without ever holding every pair within the largest R_s (at national scale 12M pairs
instead of 127M). :func:`nearest_provider` then answers "nearest open site" queries by KD-tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from optiserv.coverage import nearest_open, reduce_coverage
from optiserv.data import CostMatrix
from optiserv.data.services import BundleInstance
from optiserv.geometry import nearest, travel_costs, within_radius

__all__ = [
    "FIXED",
    "NO_PROVIDER",
    "PreparedBundle",
    "ServiceBlock",
    "nearest_provider",
    "prepare_bundle",
]

FIXED = -1
"""Unit code of a fixed provider (an existing site, not at risk, offering the service)."""
NO_PROVIDER = -2
"""Unit code of a site that can never provide the service."""


@dataclass(frozen=True, eq=False)
class ServiceBlock:
    """The reduced coverage rows of one service.

    Attributes
    ----------
    service
        Service index s.
    rows
        (k, U) boolean CSR: row b is covered when any unit in it is on (d_ij ≤ r_s).
    population
        (k,) people in each row (the service's population group, summed over merged points).
    group
        (k,) equity group code of each row (0 when the instance has no groups).
    partial_row, partial_unit, partial_fraction
        Gradual pairs: row, unit (or :data:`FIXED`) and coverage fraction in (0, 1).
    fixed_population, total_population, unreachable_population
        (G,) per group: people fully covered by fixed providers, all people, and people no
        unit or fixed provider can cover within r_s.
    row_of_demand
        (n,) block row of each demand point; -1 fully covered by a fixed provider; -2 not
        coverable within r_s (and no gradual provider).
    """

    service: int
    rows: sp.csr_matrix
    population: NDArray[np.float64]
    group: NDArray[np.int64]
    partial_row: NDArray[np.int64]
    partial_unit: NDArray[np.int64]
    partial_fraction: NDArray[np.float64]
    fixed_population: NDArray[np.float64]
    total_population: NDArray[np.float64]
    unreachable_population: NDArray[np.float64]
    row_of_demand: NDArray[np.int64]

    @property
    def n_rows(self) -> int:
        """Rows after the reductions."""
        return int(self.rows.shape[0])


@dataclass(frozen=True, eq=False)
class PreparedBundle:
    """Everything the model builder and the heuristic need, for one availability of units.

    Attributes
    ----------
    costs
        d_ij for the pairs within the largest R_s when the instance has a user cost matrix;
        ``None`` when the costs come from coordinates and the pairs were screened per service
        (use :func:`nearest_provider` for nearest-site queries).
    cutoff
        The largest R_s: pairs further apart are never used.
    blocks
        One :class:`ServiceBlock` per service.
    unit_available
        (U,) bool: the unit can be switched on (U = K + m).
    group_codes, group_names
        (n,) code of every demand point's equity group and the labels (one group "all" when
        the instance has none).
    """

    costs: CostMatrix | None
    cutoff: float
    blocks: tuple[ServiceBlock, ...]
    unit_available: NDArray[np.bool_]
    group_codes: NDArray[np.int64]
    group_names: tuple[object, ...]

    @property
    def n_groups(self) -> int:
        """G, the number of equity groups."""
        return len(self.group_names)


def unit_of_site(
    bundle: BundleInstance, service: int, unit_available: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """(m,) for one service: the unit that can provide it at each site, FIXED or NO_PROVIDER."""
    m, n_modules = bundle.instance.n_sites, bundle.n_modules
    out = np.full(m, NO_PROVIDER, dtype=np.int64)
    offered = bundle.existing[:, service]
    out[offered & ~bundle.at_risk] = FIXED
    risky = np.flatnonzero(offered & bundle.at_risk)
    out[risky] = np.where(unit_available[n_modules + risky], n_modules + risky, NO_PROVIDER)
    modules = np.flatnonzero(bundle.module_service == service)
    modules = modules[unit_available[modules]]
    out[bundle.module_site[modules]] = modules
    return out


def prepare_bundle(bundle: BundleInstance, unit_available: NDArray[np.bool_]) -> PreparedBundle:
    """One reduced block per service: screened by KD-tree when the costs come from
    coordinates, else from the user's travel costs within the largest threshold."""
    outer = max(service.outer_threshold for service in bundle.catalogue)
    if bundle.groups is None:
        codes = np.zeros(bundle.instance.n_demand, dtype=np.int64)
        names: tuple[object, ...] = ("all",)
    else:
        labels, inverse = np.unique(np.asarray(bundle.groups), return_inverse=True)
        codes = inverse.astype(np.int64).ravel()
        names = tuple(labels.tolist())
    costs: CostMatrix | None = None
    if bundle.instance.costs is None:
        blocks = tuple(
            _reduce_block(bundle, s, *_screened_pairs(bundle, s, unit_available), codes, len(names))
            for s in range(bundle.n_services)
        )
    else:
        costs = travel_costs(bundle.instance, cutoff=outer)
        rows = costs.row_indices()
        blocks = tuple(
            _reduce_block(
                bundle,
                s,
                *_stored_pairs(bundle, s, (rows, costs.indices, costs.data), unit_available),
                codes,
                len(names),
            )
            for s in range(bundle.n_services)
        )
    return PreparedBundle(costs, outer, blocks, unit_available.copy(), codes, names)


def nearest_provider(
    bundle: BundleInstance, prepared: PreparedBundle, sites: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """For every demand point, the nearest of ``sites`` within the largest R_s and d_ij.

    Points with none of ``sites`` within that distance get -1 and ``inf``. From the stored
    costs when the instance has them (ties: lowest index), else by KD-tree on the coordinates
    (ties: any of the tied sites).
    """
    sites = np.asarray(sites, dtype=np.int64).ravel()
    if prepared.costs is not None:
        return nearest_open(prepared.costs, sites)
    n = bundle.instance.n_demand
    site = np.full(n, -1, dtype=np.int64)
    distance = np.full(n, np.inf)
    if sites.size == 0:
        return site, distance
    instance = bundle.instance
    found, found_distance = nearest(
        instance.demand.coordinates, instance.sites.coordinates[sites], 1, instance.metric
    )
    near = found_distance[:, 0] <= prepared.cutoff
    site[near] = sites[found[near, 0]]
    distance[near] = found_distance[near, 0]
    return site, distance


Pairs = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]
"""(demand row, unit or FIXED/NO_PROVIDER, d_ij) of the pairs within R_s of one service, and
the (n,) mask of demand points within r_s of a fixed provider."""


def _stored_pairs(
    bundle: BundleInstance,
    s: int,
    pairs: tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]],
    unit_available: NDArray[np.bool_],
) -> Pairs:
    """The pairs of service s from travel costs within the largest threshold."""
    service = bundle.catalogue.services[s]
    all_rows, all_sites, all_distances = pairs
    near = all_distances <= service.outer_threshold
    rows = all_rows[near]
    unit = unit_of_site(bundle, s, unit_available)[all_sites[near]]
    distance = all_distances[near]
    fixed_full = np.zeros(bundle.instance.n_demand, dtype=bool)
    fixed_full[rows[(distance <= service.threshold) & (unit == FIXED)]] = True
    return rows, unit, distance, fixed_full


def _screened_pairs(bundle: BundleInstance, s: int, unit_available: NDArray[np.bool_]) -> Pairs:
    """The pairs of service s that the reductions keep, screened before they are formed.

    A demand point within r_s of its nearest fixed provider (KD-tree) is covered whatever the
    plan; the other points are paired within R_s with the sites that are a unit or a fixed
    provider of s. Pairs of screened-out points are dropped by the reductions anyway, so
    :func:`_reduce_block` gives the same block as from every pair within the largest R_s.
    """
    service = bundle.catalogue.services[s]
    instance = bundle.instance
    demand, coordinates = instance.demand.coordinates, instance.sites.coordinates
    unit_site = unit_of_site(bundle, s, unit_available)
    fixed = np.flatnonzero(unit_site == FIXED)
    fixed_full = np.zeros(instance.n_demand, dtype=bool)
    if fixed.size:
        _, distance_to_fixed = nearest(demand, coordinates[fixed], 1, instance.metric)
        fixed_full = distance_to_fixed[:, 0] <= service.threshold
    open_points = np.flatnonzero(~fixed_full)
    providers = np.flatnonzero(unit_site != NO_PROVIDER)
    found = within_radius(
        demand[open_points], coordinates[providers], service.outer_threshold, instance.metric
    )
    rows = open_points[found.row_indices()]
    unit = unit_site[providers[found.indices]]
    return rows, unit, np.asarray(found.data, dtype=np.float64), fixed_full


def _reduce_block(
    bundle: BundleInstance,
    s: int,
    rows: NDArray[np.int64],
    unit: NDArray[np.int64],
    distance: NDArray[np.float64],
    fixed_full: NDArray[np.bool_],
    codes: NDArray[np.int64],
    n_groups: int,
) -> ServiceBlock:
    """The reduced rows of service s from its pairs within R_s (module docstring)."""
    service = bundle.catalogue.services[s]
    n = bundle.instance.n_demand
    n_units = bundle.n_modules + bundle.instance.n_sites
    population = bundle.populations[s]
    full = distance <= service.threshold
    active = ~fixed_full
    take_full = full & (unit >= 0) & active[rows]
    take_partial = ~full & (unit != NO_PROVIDER) & active[rows]
    if service.fade_to is not None:
        take_partial &= distance < service.outer_threshold
    else:
        take_partial[:] = False
    has_full = np.bincount(rows[take_full], minlength=n) > 0
    has_partial = np.bincount(rows[take_partial], minlength=n) > 0
    individual = np.flatnonzero(active & has_partial)
    mergeable = np.flatnonzero(active & has_full & ~has_partial)
    unreachable = active & ~has_full & ~has_partial

    full_matrix = sp.csr_matrix(
        (np.ones(int(take_full.sum()), dtype=bool), (rows[take_full], unit[take_full])),
        shape=(n, n_units),
    )
    # merge rows with equal unit sets within the same group: the group is an extra column
    keyed = sp.hstack(
        [
            full_matrix[mergeable],
            sp.csr_matrix(
                (
                    np.ones(mergeable.size, dtype=bool),
                    (np.arange(mergeable.size), codes[mergeable]),
                ),
                shape=(mergeable.size, n_groups),
            ),
        ],
        format="csr",
    )
    if mergeable.size:
        reduced = reduce_coverage(keyed, population[mergeable])
        n_merged, merged_of_member = reduced.n_rows, reduced.group
        merged_population = reduced.weights
        merged_rows = sp.csr_matrix(reduced.matrix[:, :n_units], dtype=bool)
    else:
        n_merged, merged_of_member = 0, np.zeros(0, dtype=np.int64)
        merged_population = np.zeros(0)
        merged_rows = sp.csr_matrix((0, n_units), dtype=bool)
    first_member = np.full(n_merged, -1, dtype=np.int64)
    first_member[merged_of_member[::-1]] = mergeable[::-1]
    merged_group = codes[first_member]

    block_rows = sp.vstack([merged_rows, full_matrix[individual]], format="csr")
    block_rows.sort_indices()
    block_population = np.concatenate([merged_population, population[individual]])
    block_group = np.concatenate([merged_group, codes[individual]])
    row_of_demand = np.full(n, -2, dtype=np.int64)
    row_of_demand[fixed_full] = -1
    row_of_demand[mergeable] = merged_of_member
    row_of_demand[individual] = n_merged + np.arange(individual.size)

    if individual.size:
        position = np.full(n, -1, dtype=np.int64)
        position[individual] = n_merged + np.arange(individual.size)
        partial_row = position[rows[take_partial]]
        partial_unit = unit[take_partial]
        partial_fraction = (service.outer_threshold - distance[take_partial]) / (
            service.outer_threshold - service.threshold
        )
    else:
        partial_row = partial_unit = np.zeros(0, dtype=np.int64)
        partial_fraction = np.zeros(0)

    def per_group(mask: NDArray[np.bool_]) -> NDArray[np.float64]:
        return np.bincount(codes[mask], weights=population[mask], minlength=n_groups).astype(
            np.float64
        )

    return ServiceBlock(
        service=s,
        rows=block_rows,
        population=block_population,
        group=block_group.astype(np.int64),
        partial_row=partial_row.astype(np.int64),
        partial_unit=partial_unit.astype(np.int64),
        partial_fraction=partial_fraction.astype(np.float64),
        fixed_population=per_group(fixed_full),
        total_population=np.bincount(codes, weights=population, minlength=n_groups).astype(
            np.float64
        ),
        unreachable_population=per_group(unreachable | (active & ~has_full)),
        row_of_demand=row_of_demand,
    )
